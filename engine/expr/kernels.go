package expr

import (
	"math/bits"
	"slices"
	"sort"

	"github.com/cohortdb/cohort/engine/column"
)

// The kernels below read one typed slice of one chunk and build one bitmap
// word per 64 rows without branches on the data: bit j of word w is
// b2u(test(row 64w+j)). Each dense kernel takes the validity words (all ones
// when the vector has no Valid bitmap) and flip (all ones for a negated
// leaf): the stored word is (m ^ flip) & valid, so NULL rows never match.
// Refine variants visit only the rows already set in out and clear those
// that fail, which is what an AND does once its selection is sparse.

type unsigned interface {
	~uint8 | ~uint16 | ~uint32 | ~uint64
}

// b2u compiles to SETcc + MOVZX.
func b2u(b bool) uint64 {
	if b {
		return 1
	}
	return 0
}

func store(out column.Bitmap, w int, m uint64, md mode) {
	switch md {
	case mSet:
		out[w] = m
	case mOr:
		out[w] |= m
	default:
		out[w] &= m
	}
}

func lowBits(r int) uint64 { return uint64(1)<<uint(r) - 1 }

// constDense stores words whose data test is the constant hit (0 or 1).
func constDense(hit, flip uint64, valid, out column.Bitmap, n int, md mode) {
	m := -hit ^ flip
	nw := column.Words(n)
	for w := 0; w < nw; w++ {
		x := m & valid[w]
		if w == nw-1 && n&63 != 0 {
			x &= lowBits(n & 63)
		}
		store(out, w, x, md)
	}
}

func rangeDense[T unsigned](vals []T, lo, span T, flip uint64, valid, out column.Bitmap, n int, md mode) {
	vals = vals[:n]
	if md == mRefine {
		nw := column.Words(n)
		for w := 0; w < nw; w++ {
			x := out[w] & valid[w]
			keep := x
			for x != 0 {
				t := bits.TrailingZeros64(x)
				x &= x - 1
				hit := b2u(vals[w<<6+t]-lo <= span) ^ flip&1
				keep &^= (hit ^ 1) << uint(t)
			}
			out[w] = keep
		}
		return
	}
	full := n >> 6
	for w := 0; w < full; w++ {
		blk := (*[64]T)(vals[w<<6:])
		var m uint64
		for j := 0; j < 64; j += 4 {
			m |= b2u(blk[j]-lo <= span)<<uint(j) | b2u(blk[j+1]-lo <= span)<<uint(j+1) |
				b2u(blk[j+2]-lo <= span)<<uint(j+2) | b2u(blk[j+3]-lo <= span)<<uint(j+3)
		}
		store(out, w, (m^flip)&valid[w], md)
	}
	if r := n & 63; r != 0 {
		var m uint64
		for j, x := range vals[full<<6:] {
			m |= b2u(x-lo <= span) << uint(j)
		}
		store(out, full, (m^flip)&valid[full]&lowBits(r), md)
	}
}

// rangeSorted is rangeDense over non-decreasing vals (Vec.Sorted: a chunk
// clustered by this column, or a monotonic one): the hits [lo, hi] are one
// run of rows, found by binary search, so the cost is per word, not per row.
func rangeSorted[T unsigned](vals []T, lo, hi T, flip uint64, valid, out column.Bitmap, n int, md mode) {
	vals = vals[:n]
	a, _ := slices.BinarySearch(vals, lo)
	b := a + sort.Search(n-a, func(i int) bool { return vals[a+i] > hi })
	if md == mRefine {
		md = mAnd // testing every word costs no more than testing its rows
	}
	nw := column.Words(n)
	for w := 0; w < nw; w++ {
		m := (runMask(w, a, b) ^ flip) & valid[w]
		if w == nw-1 && n&63 != 0 {
			m &= lowBits(n & 63)
		}
		store(out, w, m, md)
	}
}

// runMask returns the bits of word w that rows [a, b) cover.
func runMask(w, a, b int) uint64 {
	s, e := max(a, w<<6), min(b, w<<6+64)
	if s >= e {
		return 0
	}
	return lowBits(e-s) << uint(s-w<<6)
}

func rangeSparse[T unsigned](vals []T, pos []uint16, lo, span T, neg uint64, tmp column.Bitmap) {
	vals = vals[:len(pos)]
	for i, p := range pos {
		hit := b2u(vals[i]-lo <= span) ^ neg
		tmp[p>>6] |= hit << (p & 63)
	}
}

func floatDense(vals []float64, lo, hi float64, flip uint64, valid, out column.Bitmap, n int, md mode) {
	vals = vals[:n]
	if md == mRefine {
		nw := column.Words(n)
		for w := 0; w < nw; w++ {
			x := out[w] & valid[w]
			keep := x
			for x != 0 {
				t := bits.TrailingZeros64(x)
				x &= x - 1
				f := vals[w<<6+t]
				hit := b2u(lo <= f)&b2u(f <= hi) ^ flip&1
				keep &^= (hit ^ 1) << uint(t)
			}
			out[w] = keep
		}
		return
	}
	full := n >> 6
	for w := 0; w < full; w++ {
		blk := (*[64]float64)(vals[w<<6:])
		var m uint64
		for j := 0; j < 64; j += 2 {
			a, b := blk[j], blk[j+1]
			m |= (b2u(lo <= a)&b2u(a <= hi))<<uint(j) | (b2u(lo <= b)&b2u(b <= hi))<<uint(j+1)
		}
		store(out, w, (m^flip)&valid[w], md)
	}
	if r := n & 63; r != 0 {
		var m uint64
		for j, f := range vals[full<<6:] {
			m |= (b2u(lo <= f) & b2u(f <= hi)) << uint(j)
		}
		store(out, full, (m^flip)&valid[full]&lowBits(r), md)
	}
}

// codes8Dense looks uint8 codes up in a table of at least 256 bits: the
// index is provably in range, so the loop has no bounds checks.
func codes8Dense(vals []uint8, tab *[4]uint64, flip uint64, valid, out column.Bitmap, n int, md mode) {
	vals = vals[:n]
	if md == mRefine {
		nw := column.Words(n)
		for w := 0; w < nw; w++ {
			x := out[w] & valid[w]
			keep := x
			for x != 0 {
				t := bits.TrailingZeros64(x)
				x &= x - 1
				c := vals[w<<6+t]
				hit := tab[c>>6]>>(c&63)&1 ^ flip&1
				keep &^= (hit ^ 1) << uint(t)
			}
			out[w] = keep
		}
		return
	}
	full := n >> 6
	for w := 0; w < full; w++ {
		blk := (*[64]uint8)(vals[w<<6:])
		var m uint64
		for j := 0; j < 64; j++ {
			c := blk[j]
			m |= (tab[c>>6] >> (c & 63) & 1) << uint(j)
		}
		store(out, w, (m^flip)&valid[w], md)
	}
	if r := n & 63; r != 0 {
		var m uint64
		for j, c := range vals[full<<6:] {
			m |= (tab[c>>6] >> (c & 63) & 1) << uint(j)
		}
		store(out, full, (m^flip)&valid[full]&lowBits(r), md)
	}
}

// codeBit returns bit c of tab, 0 past its end (a code newer than the
// program's dictionary snapshot).
func codeBit(tab []uint64, c uint64) uint64 {
	if c>>6 < uint64(len(tab)) {
		return tab[c>>6] >> (c & 63) & 1
	}
	return 0
}

func codesDense[T unsigned](vals []T, tab []uint64, flip uint64, valid, out column.Bitmap, n int, md mode) {
	vals = vals[:n]
	if md == mRefine {
		nw := column.Words(n)
		for w := 0; w < nw; w++ {
			x := out[w] & valid[w]
			keep := x
			for x != 0 {
				t := bits.TrailingZeros64(x)
				x &= x - 1
				hit := codeBit(tab, uint64(vals[w<<6+t])) ^ flip&1
				keep &^= (hit ^ 1) << uint(t)
			}
			out[w] = keep
		}
		return
	}
	full := n >> 6
	for w := 0; w < full; w++ {
		blk := (*[64]T)(vals[w<<6:])
		var m uint64
		for j := 0; j < 64; j++ {
			m |= codeBit(tab, uint64(blk[j])) << uint(j)
		}
		store(out, w, (m^flip)&valid[w], md)
	}
	if r := n & 63; r != 0 {
		var m uint64
		for j, c := range vals[full<<6:] {
			m |= codeBit(tab, uint64(c)) << uint(j)
		}
		store(out, full, (m^flip)&valid[full]&lowBits(r), md)
	}
}

func codesSparse[T unsigned](vals []T, pos []uint16, tab []uint64, neg uint64, tmp column.Bitmap) {
	vals = vals[:len(pos)]
	for i, p := range pos {
		hit := codeBit(tab, uint64(vals[i])) ^ neg
		tmp[p>>6] |= hit << (p & 63)
	}
}

// boolDense works a word at a time: values are already a bitmap.
func boolDense(vals column.Bitmap, allowF, allowT, flip uint64, valid, out column.Bitmap, n int, md mode) {
	if md == mRefine {
		md = mAnd
	}
	nw := column.Words(n)
	vals = vals[:nw]
	for w := 0; w < nw; w++ {
		b := vals[w]
		m := (b&allowT | ^b&allowF) ^ flip
		m &= valid[w]
		if w == nw-1 && n&63 != 0 {
			m &= lowBits(n & 63)
		}
		store(out, w, m, md)
	}
}

func listHas(codes []uint32, code uint32) uint64 {
	for _, c := range codes {
		if c == code {
			return 1
		}
	}
	return 0
}

func listDense(off []int32, codes []uint32, code uint32, flip uint64, valid, out column.Bitmap, n int, md mode) {
	off = off[:n+1]
	nw := column.Words(n)
	if md == mRefine {
		for w := 0; w < nw; w++ {
			x := out[w] & valid[w]
			keep := x
			for x != 0 {
				t := bits.TrailingZeros64(x)
				x &= x - 1
				r := w<<6 + t
				hit := listHas(codes[off[r]:off[r+1]], code) ^ flip&1
				keep &^= (hit ^ 1) << uint(t)
			}
			out[w] = keep
		}
		return
	}
	for w := 0; w < nw; w++ {
		end := min(w<<6+64, n)
		var m uint64
		for r := w << 6; r < end; r++ {
			m |= listHas(codes[off[r]:off[r+1]], code) << uint(r&63)
		}
		m = (m ^ flip) & valid[w]
		if end-w<<6 < 64 {
			m &= lowBits(end - w<<6)
		}
		store(out, w, m, md)
	}
}

func bitmapDense[T unsigned](vals []T, base, scale int64, set column.Bitmap, flip uint64, valid, out column.Bitmap, n int, md mode) {
	vals = vals[:n]
	nw := column.Words(n)
	if md == mRefine {
		for w := 0; w < nw; w++ {
			x := out[w] & valid[w]
			keep := x
			for x != 0 {
				t := bits.TrailingZeros64(x)
				x &= x - 1
				hit := bitAt(set, base+scale*int64(vals[w<<6+t])) ^ flip&1
				keep &^= (hit ^ 1) << uint(t)
			}
			out[w] = keep
		}
		return
	}
	for w := 0; w < nw; w++ {
		blk := vals[w<<6 : min(w<<6+64, n)]
		var m uint64
		for j, u := range blk {
			m |= bitAt(set, base+scale*int64(u)) << uint(j)
		}
		m = (m ^ flip) & valid[w]
		if len(blk) < 64 {
			m &= lowBits(len(blk))
		}
		store(out, w, m, md)
	}
}
