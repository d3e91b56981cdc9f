package column

import (
	"math"
	"math/bits"
	"unsafe"
)

// Bulk sealing: build a sealed Vec straight from typed slices, without a
// Builder and without per-row Append calls (snapshot restore decodes whole
// Parquet pages into such slices). Every Seal* function returns exactly the
// Vec that Builder.Seal would return for the same rows appended one by one:
// same sparse/dense choice, frame of reference, width, statistics and Arrow
// arrays; nil when every row is NULL.
//
// In all of them n is the number of rows (at most ChunkRows), the value
// slices are indexed by row (len ≥ n; what a NULL row holds is ignored) and
// valid is the validity bitmap of the rows (nil: every row is valid; bits
// past n are ignored). The inputs are not retained.

// validCount returns the non-NULL rows among the first n.
func validCount(valid Bitmap, n int) int {
	if valid == nil {
		return n
	}
	full := n >> 6
	c := 0
	for _, w := range valid[:full] {
		c += bits.OnesCount64(w)
	}
	if r := uint(n) & 63; r != 0 {
		c += bits.OnesCount64(valid[full] & (1<<r - 1))
	}
	return c
}

// bulkLayout decides the layout SealVec would choose and fills out's
// validity (dense with NULLs) or positions (sparse). It returns the number
// of stored values and whether the vector is sparse.
func bulkLayout(out *Vec, valid Bitmap, n, nn int) (count int, sparse bool) {
	sparse = nn*sparseRatio < n && n <= ChunkRows
	out.NonNil = nn
	switch {
	case sparse:
		out.Pos = make([]uint16, 0, nn)
		for r := 0; r < n; r++ {
			if valid.Get(r) {
				out.Pos = append(out.Pos, uint16(r))
			}
		}
		return nn, true
	case nn != n:
		out.Valid = NewBitmap(n)
		copy(out.Valid, valid)
		if r := uint(n) & 63; r != 0 {
			out.Valid[len(out.Valid)-1] &= 1<<r - 1
		}
	}
	return n, false
}

type intLike interface{ ~int64 | ~uint32 }

// SealInts seals int or timestamp values (t is TypeInt or TypeTimestamp).
func SealInts(t Type, vals []int64, valid Bitmap, n int) *Vec {
	if t != TypeInt && t != TypeTimestamp {
		panic("BUG: column: SealInts of " + t.String())
	}
	return sealIntLike(t, vals, valid, n)
}

// SealCodes seals string dictionary codes.
func SealCodes(codes []uint32, valid Bitmap, n int) *Vec {
	return sealIntLike(TypeString, codes, valid, n)
}

func sealIntLike[T intLike](t Type, vals []T, valid Bitmap, n int) *Vec {
	nn := validCount(valid, n)
	if nn == 0 {
		return nil
	}
	vals = vals[:n]
	out := &Vec{Type: t, N: n, Scale: 1}
	count, sparse := bulkLayout(out, valid, n, nn)
	all := nn == n
	var mn, mx int64 = math.MaxInt64, math.MinInt64
	if all {
		for _, v := range vals {
			x := int64(v)
			mn, mx = min(mn, x), max(mx, x)
		}
	} else {
		for r, v := range vals {
			if valid.Get(r) {
				x := int64(v)
				mn, mx = min(mn, x), max(mx, x)
			}
		}
	}
	var g uint64
	if t != TypeString {
		for r, v := range vals {
			if !all && !valid.Get(r) {
				continue
			}
			if d := uint64(int64(v)) - uint64(mn); d != 0 && (g == 0 || d%g != 0) {
				if g = gcd(g, d); g == 1 {
					break
				}
			}
		}
	}
	if g == 0 {
		g = 1
	}
	if t == TypeString {
		mn = 0 // codes stay codes (as SealVec)
	}
	out.Base, out.Scale, out.MinI, out.MaxI = mn, int64(g), mn, mx
	out.Width = widthFor((uint64(mx) - uint64(mn)) / g)
	switch out.Width {
	case 8:
		out.U8 = make([]uint8, count)
		encodeFOR(out.U8, vals, valid, all, sparse, out.Pos, mn, g)
	case 16:
		out.U16 = make([]uint16, count)
		encodeFOR(out.U16, vals, valid, all, sparse, out.Pos, mn, g)
	case 32:
		out.U32 = make([]uint32, count)
		encodeFOR(out.U32, vals, valid, all, sparse, out.Pos, mn, g)
	default:
		out.U64 = make([]uint64, count)
		encodeFOR(out.U64, vals, valid, all, sparse, out.Pos, mn, g)
	}
	out.Sorted = out.sortedU()
	out.Arrays = out.arrowArrays()
	return out
}

// encodeFOR writes (v - mn) / g of the stored rows into dst; NULL rows of a
// dense vector stay 0.
func encodeFOR[D ~uint8 | ~uint16 | ~uint32 | ~uint64, T intLike](dst []D, vals []T, valid Bitmap, all, sparse bool, pos []uint16, mn int64, g uint64) {
	umn := uint64(mn)
	switch {
	case sparse:
		for i, r := range pos {
			dst[i] = D((uint64(int64(vals[r])) - umn) / g)
		}
	case all && g == 1:
		for r, v := range vals {
			dst[r] = D(uint64(int64(v)) - umn)
		}
	case all:
		for r, v := range vals {
			dst[r] = D((uint64(int64(v)) - umn) / g)
		}
	default:
		for r, v := range vals {
			if valid.Get(r) {
				dst[r] = D((uint64(int64(v)) - umn) / g)
			}
		}
	}
}

// SealFloats seals float values.
func SealFloats(vals []float64, valid Bitmap, n int) *Vec {
	nn := validCount(valid, n)
	if nn == 0 {
		return nil
	}
	vals = vals[:n]
	out := &Vec{Type: TypeFloat, N: n, Scale: 1}
	count, sparse := bulkLayout(out, valid, n, nn)
	out.MinF, out.MaxF = math.Inf(1), math.Inf(-1)
	out.F64 = make([]float64, count)
	switch {
	case sparse:
		for i, r := range out.Pos {
			f := vals[r]
			out.F64[i] = f
			out.MinF, out.MaxF = min(out.MinF, f), max(out.MaxF, f)
		}
	case nn == n:
		copy(out.F64, vals)
		for _, f := range vals {
			out.MinF, out.MaxF = min(out.MinF, f), max(out.MaxF, f)
		}
	default:
		for r, f := range vals {
			if valid.Get(r) {
				out.F64[r] = f
				out.MinF, out.MaxF = min(out.MinF, f), max(out.MaxF, f)
			}
		}
	}
	out.Arrays = out.arrowArrays()
	return out
}

// SealBools seals bool values given as a bitmap (bit r is row r's value).
func SealBools(vals Bitmap, valid Bitmap, n int) *Vec {
	nn := validCount(valid, n)
	if nn == 0 {
		return nil
	}
	out := &Vec{Type: TypeBool, N: n, Scale: 1}
	count, sparse := bulkLayout(out, valid, n, nn)
	out.Bits = NewBitmap(count)
	switch {
	case sparse:
		for i, r := range out.Pos {
			if vals.Get(int(r)) {
				out.Bits.Set(i)
			}
		}
	default:
		copy(out.Bits, vals)
		for i := range out.Bits {
			if out.Valid != nil {
				out.Bits[i] &= out.Valid[i]
			}
		}
		if r := uint(n) & 63; r != 0 {
			out.Bits[len(out.Bits)-1] &= 1<<r - 1
		}
	}
	out.Arrays = out.arrowArrays()
	return out
}

// SealLists seals string lists: row r holds codes[off[r]:off[r+1]] (len(off)
// ≥ n+1; NULL rows' ranges are ignored).
func SealLists(off []int32, codes []uint32, valid Bitmap, n int) *Vec {
	nn := validCount(valid, n)
	if nn == 0 {
		return nil
	}
	out := &Vec{Type: TypeStringList, N: n, Scale: 1, Width: 32}
	count, sparse := bulkLayout(out, valid, n, nn)
	out.Off = make([]int32, count+1)
	row := func(i int) (int, bool) {
		if sparse {
			return int(out.Pos[i]), true
		}
		return i, valid == nil || valid.Get(i)
	}
	total := 0
	for i := 0; i < count; i++ {
		if r, ok := row(i); ok {
			total += int(off[r+1] - off[r])
		}
	}
	if total > 0 {
		out.U32 = make([]uint32, 0, total)
	}
	for i := 0; i < count; i++ {
		if r, ok := row(i); ok {
			out.U32 = append(out.U32, codes[off[r]:off[r+1]]...)
		}
		out.Off[i+1] = int32(len(out.U32))
	}
	out.Arrays = out.arrowArrays()
	return out
}

// Reserve makes room for n more entries, so that interning them does not
// rehash the index on the way (bulk restore knows how many distinct
// strings a Parquet dictionary page holds). Writer only; safe with
// concurrent readers.
func (d *Dictionary) Reserve(n int) {
	if n <= 0 {
		return
	}
	want := len(d.offsets) + n
	size := len(d.slots)
	for want*4 >= size*3 {
		size *= 2
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if cap(d.offsets)-len(d.offsets) < n {
		d.offsets = append(make([]uint64, 0, len(d.offsets)+n), d.offsets...)
	}
	if size != len(d.slots) {
		d.resize(size)
	}
}

// InternAll interns the n strings data[offs[i]:offs[i+1]] in order, as n
// calls of Intern would, and appends their codes to dst. It probes the
// index once per string and takes the lock once for the whole batch
// (lookups by readers wait for it). Writer only.
func (d *Dictionary) InternAll(dst []uint32, data []byte, offs []uint32, n int) []uint32 {
	if n <= 0 {
		return dst
	}
	d.Reserve(n)
	d.mu.Lock()
	defer d.mu.Unlock()
	if need := int(offs[n] - offs[0]); cap(d.data)-len(d.data) < need {
		d.data = append(make([]byte, 0, len(d.data)+need), d.data...)
	}
	for i := 0; i < n; i++ {
		b := data[offs[i]:offs[i+1]]
		dst = append(dst, d.internLocked(unsafe.String(unsafe.SliceData(b), len(b))))
	}
	return dst
}
