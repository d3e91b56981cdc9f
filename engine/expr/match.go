package expr

import (
	"math"

	"github.com/cohortdb/cohort/engine/column"
)

// rowProg is a program's tree flattened for Match: its leaves in evaluation
// order, each with the step to take when the leaf fails and when it holds.
// AND and OR short-circuit by these jumps, so Match is one loop over leaves
// with no recursion and no per-node dispatch of the tree.
type rowProg struct {
	entry int32 // first step, or doneFalse / doneTrue for a constant program
	steps []rowStep
}

type rowStep struct {
	leaf node     // a copy of the leaf (its slices shared with the tree)
	next [2]int32 // next step when the leaf fails / holds, or done*
}

// Jump targets that end the walk. A zero rowProg (entry 0, no steps) ends
// at once as false.
const (
	doneFalse int32 = -1
	doneTrue  int32 = -2
)

// flatten builds root's rowProg.
func flatten(root *node) rowProg {
	var steps []rowStep
	entry := flattenNode(&steps, root, doneTrue, doneFalse)
	// flattenNode emits the last leaf first; reverse so the steps run
	// forward through memory.
	last := int32(len(steps) - 1)
	remap := func(i int32) int32 {
		if i < 0 {
			return i
		}
		return last - i
	}
	for i, j := 0, len(steps)-1; i < j; i, j = i+1, j-1 {
		steps[i], steps[j] = steps[j], steps[i]
	}
	for i := range steps {
		steps[i].next = [2]int32{remap(steps[i].next[0]), remap(steps[i].next[1])}
	}
	return rowProg{entry: remap(entry), steps: steps}
}

// flattenNode appends the steps of n, which continue at t when n holds and
// at f when it does not, and returns n's first step (t or f when n is
// constant). Kids are emitted last to first so each one's continuation is
// already known.
func flattenNode(steps *[]rowStep, n *node, t, f int32) int32 {
	switch n.kind {
	case kTrue:
		return t
	case kFalse:
		return f
	case kAnd:
		next := t
		for i := len(n.kids) - 1; i >= 0; i-- {
			next = flattenNode(steps, &n.kids[i], next, f)
		}
		return next
	case kOr:
		next := f
		for i := len(n.kids) - 1; i >= 0; i-- {
			next = flattenNode(steps, &n.kids[i], t, next)
		}
		return next
	}
	*steps = append(*steps, rowStep{leaf: *n, next: [2]int32{f, t}})
	return int32(len(*steps) - 1)
}

// Match reports whether row of chunk c is selected by the program: exactly
// the bit Eval would set for that row, with the same NULL, three-valued and
// NaN semantics. Like Eval it clears deleted rows (c.Del), and a row outside
// [0, c.Rows) is never selected.
//
// Match is the single-row path for re-evaluating one person as it changes:
// it walks the program's leaves once with short-circuit jumps, reads the
// row's value straight from each vector's typed buffer (a binary search of
// Pos for a sparse vector), needs no Scratch and does not allocate. It
// skips Eval's chunk-stats pruning, which never changes a row's verdict.
// Match is safe for concurrent use.
func (p *Program) Match(c *column.Chunk, row int) bool {
	if uint(row) >= uint(c.Rows) {
		return false
	}
	if w := row >> 6; w < len(c.Del) && c.Del[w]>>(uint(row)&63)&1 != 0 {
		return false
	}
	steps := p.rows.steps
	i := p.rows.entry
	for uint(i) < uint(len(steps)) {
		st := &steps[i]
		i = st.next[b2u(matchLeaf(&st.leaf, c.Col(st.leaf.col), row))]
	}
	return i == doneTrue
}

// matchLeaf tests one leaf on row of v. The row is NULL when v is nil or
// empty, when row is past the rows v covers (a shorter tail view), missing
// from a sparse vector's Pos or clear in its Valid bitmap: Eval's view of a
// vector (min(v.N, rows) rows; NonNil == 0 is all NULL). Every leaf but
// kNull rejects a NULL row whatever neg says.
func matchLeaf(n *node, v *column.Vec, row int) bool {
	s := -1 // value index of row
	if v != nil && row < v.N && v.NonNil != 0 {
		switch {
		case v.Pos != nil:
			s = sparseSlot(v.Pos, row)
		case v.Valid == nil || v.Valid[row>>6]>>(uint(row)&63)&1 != 0:
			s = row
		}
	}
	if n.kind == kNull {
		return (s < 0) != n.neg
	}
	if s < 0 {
		return false
	}
	var hit bool
	switch n.kind {
	case kRange:
		// Decoding is exact modulo 2^64 (see uRange), so the decoded value
		// compares like the kernels' stored-value range.
		x := v.Base + v.Scale*int64(v.U(s))
		hit = n.lo <= x && x <= n.hi
	case kFloat:
		f := v.F64[s]
		hit = n.flo <= f && f <= n.fhi // false for NaN
	case kCodes:
		hit = codeBit(n.tab, v.U(s)) != 0 // codes are stored as they are
	case kBool:
		b := v.Bits[s>>6] >> (uint(s) & 63) & 1
		hit = (b&n.allowT|^b&n.allowF)&1 != 0
	case kList:
		hit = listHas(v.U32[v.Off[s]:v.Off[s+1]], n.code) != 0
	case kBitmap:
		hit = bitAt(n.bits, v.Base+v.Scale*int64(v.U(s))) != 0
	default:
		panic("BUG: expr: unknown leaf kind")
	}
	return hit != n.neg
}

// sparseSlot returns the index of row in the ascending positions pos, or
// -1. The search is branch-free (SETcc and a mask, no data-dependent jump),
// so it does not mispredict whatever row is asked for.
func sparseSlot(pos []uint16, row int) int {
	n := len(pos)
	if n == 0 || row > math.MaxUint16 {
		return -1
	}
	x := uint16(row)
	base := 0
	for n > 1 {
		half := n >> 1
		base += -int(b2u(pos[base+half] <= x)) & half
		n -= half
	}
	if pos[base] == x {
		return base
	}
	return -1
}
