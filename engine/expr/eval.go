package expr

import (
	"math"

	"github.com/cohortdb/cohort/engine/column"
)

// mode says how a node's matches m combine into the output bitmap.
type mode uint8

const (
	mSet    mode = iota // out = m
	mAnd                // out &= m, computing m densely
	mOr                 // out |= m
	mRefine             // out &= m, testing only the rows set in out
)

// refineDiv: an AND switches to refine mode once fewer than rows/refineDiv
// rows survive.
const refineDiv = 16

// Scratch holds the reusable buffers of one Eval caller. The zero value is
// ready; a Scratch must not be shared by concurrent Evals.
type Scratch struct {
	bufs []column.Bitmap
	ones column.Bitmap
}

// get returns buffer i with nw words, contents undefined.
func (s *Scratch) get(i, nw int) column.Bitmap {
	for len(s.bufs) <= i {
		s.bufs = append(s.bufs, nil)
	}
	b := s.bufs[i]
	if cap(b) < nw {
		b = make(column.Bitmap, max(nw, column.Words(column.ChunkRows)))
		s.bufs[i] = b
	}
	return b[:nw]
}

// allOnes returns at least nw words of ones (the validity of a vector with
// no Valid bitmap).
func (s *Scratch) allOnes(nw int) column.Bitmap {
	if len(s.ones) < nw {
		s.ones = make(column.Bitmap, max(nw, column.Words(column.ChunkRows)))
		for i := range s.ones {
			s.ones[i] = ^uint64(0)
		}
	}
	return s.ones
}

// Eval writes into out the rows of c that satisfy the program and are not
// deleted. out must have at least column.Words(c.Rows) words; words past that
// are left alone. Eval does not allocate once scratch has warmed up.
func (p *Program) Eval(c *column.Chunk, out column.Bitmap, scratch *Scratch) {
	rows := c.Rows
	nw := column.Words(rows)
	if len(out) < nw {
		panic("BUG: expr: output bitmap shorter than the chunk")
	}
	out = out[:nw]
	if rows == 0 {
		return
	}
	if c.Del != nil && c.Dead > 0 && c.Dead*2 > rows {
		// Mostly deleted: start from the live rows so AND can refine early.
		out.SetAll(rows)
		out.AndNot(c.Del)
		p.eval(&p.root, c, out, mAnd, scratch, 0)
		return
	}
	p.eval(&p.root, c, out, mSet, scratch, 0)
	if c.Del != nil {
		out.AndNot(c.Del)
	}
}

// eval combines node n's matches into out according to md, using scratch
// buffers from index d on.
func (p *Program) eval(n *node, c *column.Chunk, out column.Bitmap, md mode, s *Scratch, d int) {
	switch n.kind {
	case kFalse:
		if md != mOr {
			clear(out)
		}
	case kTrue:
		if md == mSet || md == mOr {
			out.SetAll(c.Rows)
		}
	case kAnd:
		p.evalAnd(n, c, out, md, s, d)
	case kOr:
		p.evalOr(n, c, out, md, s, d)
	default:
		evalLeaf(n, c, out, md, s, d)
	}
}

func (p *Program) evalAnd(n *node, c *column.Chunk, out column.Bitmap, md mode, s *Scratch, d int) {
	if md == mOr {
		tmp := s.get(d, len(out))
		p.evalAnd(n, c, tmp, mSet, s, d+1)
		out.Or(tmp)
		return
	}
	// A conjunct that the chunk's stats rule out empties the chunk.
	for i := range n.kids {
		k := &n.kids[i]
		if k.leaf() && k.kind != kNull && leafTri(k, c.Col(k.col)) == triNone {
			clear(out)
			return
		}
	}
	rows := c.Rows
	i := 0
	if md == mSet {
		p.eval(&n.kids[0], c, out, mSet, s, d)
		i = 1
	}
	for ; i < len(n.kids); i++ {
		cnt := out.Count()
		if cnt == 0 {
			return
		}
		m := mAnd
		if cnt < rows/refineDiv {
			m = mRefine
		}
		p.eval(&n.kids[i], c, out, m, s, d)
	}
}

func (p *Program) evalOr(n *node, c *column.Chunk, out column.Bitmap, md mode, s *Scratch, d int) {
	switch md {
	case mSet:
		p.eval(&n.kids[0], c, out, mSet, s, d)
		for i := 1; i < len(n.kids); i++ {
			p.eval(&n.kids[i], c, out, mOr, s, d)
		}
	case mOr:
		for i := range n.kids {
			p.eval(&n.kids[i], c, out, mOr, s, d)
		}
	default:
		// out & (a | b) = (out & a) | (out & b): each kid refines a copy of
		// the selection, so a sparse selection stays cheap.
		acc := s.get(d, len(out))
		clear(acc)
		sel := s.get(d+1, len(out))
		m := md
		if md == mAnd && out.Count() < c.Rows/refineDiv {
			m = mRefine
		}
		for i := range n.kids {
			copy(sel, out)
			p.eval(&n.kids[i], c, sel, m, s, d+2)
			acc.Or(sel)
		}
		copy(out, acc)
	}
}

type tri uint8

const (
	triSome tri = iota // must look at the rows
	triNone            // no row of the chunk matches
	triAll             // every non-null row matches
)

// leafTri classifies a null-rejecting leaf on vector v from v's stats,
// after applying neg.
func leafTri(n *node, v *column.Vec) tri {
	if v == nil || v.NonNil == 0 {
		return triNone
	}
	t := triSome
	switch n.kind {
	case kRange:
		switch {
		case n.hi < v.MinI || n.lo > v.MaxI:
			t = triNone
		case n.lo <= v.MinI && v.MaxI <= n.hi:
			t = triAll
		}
	case kFloat:
		mn, mx := v.MinF, v.MaxF
		if mn != mn || mx != mx {
			break // a NaN in the chunk poisons the stats
		}
		switch {
		case n.fhi < mn || n.flo > mx:
			t = triNone
		case n.flo <= mn && mx <= n.fhi && !(math.IsInf(mn, -1) && math.IsInf(mx, 1)):
			// ±Inf stats are the tail's "unknown" and may hide NaNs.
			t = triAll
		}
	case kBitmap:
		if v.MaxI < 0 || v.MinI >= int64(len(n.bits))*64 {
			t = triNone
		}
	}
	if n.neg && t != triSome {
		t ^= triNone ^ triAll
	}
	return t
}

// evalLeaf combines leaf n's matches over chunk c into out.
func evalLeaf(n *node, c *column.Chunk, out column.Bitmap, md mode, s *Scratch, d int) {
	rows := c.Rows
	v := c.Col(n.col)
	if n.kind == kNull {
		evalNull(n.neg, v, rows, out, md, s, d)
		return
	}
	switch leafTri(n, v) {
	case triNone:
		if md != mOr {
			clear(out)
		}
		return
	case triAll:
		evalNull(true, v, rows, out, md, s, d)
		return
	}
	nv := min(v.N, rows)
	var flip uint64
	if n.neg {
		flip = ^uint64(0)
	}
	if v.Sparse() {
		pos := v.Pos
		for len(pos) > 0 && int(pos[len(pos)-1]) >= nv {
			pos = pos[:len(pos)-1]
		}
		tmp := s.get(d, len(out))
		clear(tmp)
		sparseLeaf(n, v, pos, flip&1, tmp)
		combine(out, tmp, md)
		return
	}
	valid := v.Valid
	if valid == nil {
		valid = s.allOnes(column.Words(nv))
	}
	if md == mRefine {
		out.Trim(nv)
	}
	denseLeaf(n, v, nv, flip, valid, out, md)
	if md != mOr {
		clear(out[column.Words(nv):])
	}
}

// combine merges m into out by mode (refine is and).
func combine(out, m column.Bitmap, md mode) {
	switch md {
	case mSet:
		copy(out, m)
	case mOr:
		out.Or(m)
	default:
		out.And(m)
	}
}

// evalNull combines IS NULL (notNull=false) or IS NOT NULL into out.
func evalNull(notNull bool, v *column.Vec, rows int, out column.Bitmap, md mode, s *Scratch, d int) {
	m := s.get(d, len(out))
	clear(m)
	if v != nil && v.NonNil > 0 {
		nv := min(v.N, rows)
		switch {
		case v.Sparse():
			for _, p := range v.Pos {
				if int(p) < nv {
					m[p>>6] |= 1 << (p & 63)
				}
			}
		case v.Valid != nil:
			copy(m, v.Valid[:column.Words(nv)])
			m.Trim(nv)
		default:
			m.SetAll(nv)
		}
	}
	if !notNull {
		m.Not(rows)
	}
	combine(out, m, md)
}

// denseLeaf dispatches a dense vector to its typed kernel.
func denseLeaf(n *node, v *column.Vec, nv int, flip uint64, valid, out column.Bitmap, md mode) {
	switch n.kind {
	case kRange:
		ulo, uhi, ok := uRange(v, n.lo, n.hi)
		if !ok { // between the stats and the scale: no stored value fits
			if md == mRefine {
				md = mAnd
			}
			constDense(0, flip, valid, out, nv, md)
			return
		}
		if v.Sorted {
			switch v.Width {
			case 8:
				rangeSorted(v.U8, uint8(ulo), uint8(uhi), flip, valid, out, nv, md)
			case 16:
				rangeSorted(v.U16, uint16(ulo), uint16(uhi), flip, valid, out, nv, md)
			case 32:
				rangeSorted(v.U32, uint32(ulo), uint32(uhi), flip, valid, out, nv, md)
			default:
				rangeSorted(v.U64, ulo, uhi, flip, valid, out, nv, md)
			}
			return
		}
		switch v.Width {
		case 8:
			rangeDense(v.U8, uint8(ulo), uint8(uhi-ulo), flip, valid, out, nv, md)
		case 16:
			rangeDense(v.U16, uint16(ulo), uint16(uhi-ulo), flip, valid, out, nv, md)
		case 32:
			rangeDense(v.U32, uint32(ulo), uint32(uhi-ulo), flip, valid, out, nv, md)
		default:
			rangeDense(v.U64, ulo, uhi-ulo, flip, valid, out, nv, md)
		}
	case kFloat:
		floatDense(v.F64, n.flo, n.fhi, flip, valid, out, nv, md)
	case kCodes:
		switch v.Width {
		case 8:
			codes8Dense(v.U8, (*[4]uint64)(n.tab), flip, valid, out, nv, md)
		case 16:
			codesDense(v.U16, n.tab, flip, valid, out, nv, md)
		case 32:
			codesDense(v.U32, n.tab, flip, valid, out, nv, md)
		default:
			codesDense(v.U64, n.tab, flip, valid, out, nv, md)
		}
	case kBool:
		boolDense(v.Bits, n.allowF, n.allowT, flip, valid, out, nv, md)
	case kList:
		listDense(v.Off, v.U32, n.code, flip, valid, out, nv, md)
	case kBitmap:
		switch v.Width {
		case 8:
			bitmapDense(v.U8, v.Base, v.Scale, n.bits, flip, valid, out, nv, md)
		case 16:
			bitmapDense(v.U16, v.Base, v.Scale, n.bits, flip, valid, out, nv, md)
		case 32:
			bitmapDense(v.U32, v.Base, v.Scale, n.bits, flip, valid, out, nv, md)
		default:
			bitmapDense(v.U64, v.Base, v.Scale, n.bits, flip, valid, out, nv, md)
		}
	default:
		panic("BUG: expr: unknown leaf kind")
	}
}

// sparseLeaf sets in tmp the positions of pos whose value matches (xor neg).
func sparseLeaf(n *node, v *column.Vec, pos []uint16, neg uint64, tmp column.Bitmap) {
	switch n.kind {
	case kRange:
		ulo, uhi, ok := uRange(v, n.lo, n.hi)
		if !ok { // no stored value fits: only negation can match
			for _, p := range pos {
				tmp[p>>6] |= neg << (p & 63)
			}
			return
		}
		switch v.Width {
		case 8:
			rangeSparse(v.U8, pos, uint8(ulo), uint8(uhi-ulo), neg, tmp)
		case 16:
			rangeSparse(v.U16, pos, uint16(ulo), uint16(uhi-ulo), neg, tmp)
		case 32:
			rangeSparse(v.U32, pos, uint32(ulo), uint32(uhi-ulo), neg, tmp)
		default:
			rangeSparse(v.U64, pos, ulo, uhi-ulo, neg, tmp)
		}
	case kFloat:
		f := v.F64[:len(pos)]
		for i, p := range pos {
			x := f[i]
			hit := b2u(n.flo <= x) & b2u(x <= n.fhi)
			tmp[p>>6] |= (hit ^ neg) << (p & 63)
		}
	case kCodes:
		switch v.Width {
		case 8:
			codesSparse(v.U8, pos, n.tab, neg, tmp)
		case 16:
			codesSparse(v.U16, pos, n.tab, neg, tmp)
		case 32:
			codesSparse(v.U32, pos, n.tab, neg, tmp)
		default:
			codesSparse(v.U64, pos, n.tab, neg, tmp)
		}
	case kBool:
		for i, p := range pos {
			b := v.Bits[i>>6] >> (uint(i) & 63) & 1
			hit := (b & n.allowT) | (^b & n.allowF & 1)
			tmp[p>>6] |= (hit ^ neg) << (p & 63)
		}
	case kList:
		for i, p := range pos {
			hit := uint64(0)
			for _, c := range v.U32[v.Off[i]:v.Off[i+1]] {
				if c == n.code {
					hit = 1
					break
				}
			}
			tmp[p>>6] |= (hit ^ neg) << (p & 63)
		}
	case kBitmap:
		for i, p := range pos {
			hit := bitAt(n.bits, v.Base+v.Scale*int64(v.U(i)))
			tmp[p>>6] |= (hit ^ neg) << (p & 63)
		}
	default:
		panic("BUG: expr: unknown leaf kind")
	}
}

// uRange translates the decoded range [lo, hi] into stored values u of v
// (v = Base + Scale*u), clamped to v's stats and width; ok is false when no
// stored value can be in range.
func uRange(v *column.Vec, lo, hi int64) (ulo, uhi uint64, ok bool) {
	lo = max(lo, v.MinI, v.Base)
	hi = min(hi, v.MaxI)
	if lo > hi {
		return 0, 0, false
	}
	// Scale is a gcd of uint64 differences: a chunk holding both MinInt64
	// and values ≥ 0 can have Scale ≥ 2^63, negative as int64. Decoding is
	// exact modulo 2^64, so treat it as unsigned.
	scale := uint64(v.Scale)
	if scale == 0 {
		panic("BUG: expr: vector scale is zero")
	}
	dlo := uint64(lo) - uint64(v.Base)
	dhi := uint64(hi) - uint64(v.Base)
	ulo = dlo / scale
	if dlo%scale != 0 {
		ulo++
	}
	uhi = dhi / scale
	maxU := uint64(math.MaxUint64)
	if v.Width < 64 {
		maxU = 1<<v.Width - 1
	}
	uhi = min(uhi, maxU)
	if ulo > uhi {
		return 0, 0, false
	}
	return ulo, uhi, true
}

func bitAt(bits column.Bitmap, x int64) uint64 {
	if uint64(x) >= uint64(len(bits))*64 {
		return 0
	}
	return bits[x>>6] >> (uint64(x) & 63) & 1
}

// NewScratch returns an empty Scratch; buffers are allocated on first use
// and reused afterwards.
func NewScratch() *Scratch { return &Scratch{} }

// EvalWithin narrows out, which holds candidate rows of c chosen by the
// caller (e.g. from an index), to those that satisfy the program and are
// not deleted. Candidates are tested only where they are set once they are
// sparse, so an index that yields few rows saves the dense scan.
func (p *Program) EvalWithin(c *column.Chunk, out column.Bitmap, scratch *Scratch) {
	nw := column.Words(c.Rows)
	if len(out) < nw {
		panic("BUG: expr: output bitmap shorter than the chunk")
	}
	out = out[:nw]
	if c.Rows == 0 {
		return
	}
	if c.Del != nil {
		out.AndNot(c.Del)
	}
	md := mAnd
	if out.Count() < c.Rows/refineDiv {
		md = mRefine
	}
	p.eval(&p.root, c, out, md, scratch, 0)
}
