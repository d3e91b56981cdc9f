package engine

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/cohortdb/cohort/engine/column"
	"github.com/cohortdb/cohort/engine/expr"
	"github.com/cohortdb/cohort/engine/identity"
)

// persons evaluates a behavioural predicate into a bitmap of canonical
// person ids: one vectorized scan of events (pruned by chunk time ranges
// through the ts predicate), counting or aggregating per person into
// per-worker dense arrays, then one pass comparing with N.
func (s *Snapshot) persons(ctx context.Context, d Did, now time.Time) (column.Bitmap, error) {
	ev := s.Events
	conj := expr.And{}
	if d.Event != "" {
		conj = append(conj, expr.Cmp{Col: ColName, Op: expr.Eq, Val: expr.Lit(column.String(d.Event))})
	}
	if d.Since != nil {
		conj = append(conj, expr.Cmp{Col: ColTS, Op: expr.Ge, Val: d.Since})
	}
	if d.Until != nil {
		conj = append(conj, expr.Cmp{Col: ColTS, Op: expr.Lt, Val: d.Until})
	}
	if d.Where != nil {
		conj = append(conj, d.Where)
	}
	prog, err := expr.Compile(conj, ev.Schema, now)
	if err != nil {
		return nil, fmt.Errorf("cannot compile behavioural predicate on %q: %w", d.Event, err)
	}
	personCol, _ := ev.Schema.Lookup(ColPersonID)
	n := s.Graph.Persons() + 1
	agg := d.Agg
	if agg == 0 {
		agg = AggCount
	}
	var prop *column.ColumnDef
	if agg != AggCount {
		var ok bool
		if prop, ok = ev.Schema.Lookup(d.Prop); !ok {
			// A property nobody has sent yet: every aggregate is NULL.
			return column.NewBitmap(n), nil
		}
		if prop.Type != column.TypeInt && prop.Type != column.TypeFloat {
			return nil, fmt.Errorf("cannot aggregate events.%s: %s is not numeric", d.Prop, prop.Type)
		}
	}
	workers := Workers()
	scratch := make([]*expr.Scratch, workers)
	for i := range scratch {
		scratch[i] = expr.NewScratch()
	}
	graph := s.Graph
	var out column.Bitmap
	switch agg {
	case AggCount:
		if d.N < 255 {
			out, err = countDid[uint8](ctx, ev.Chunks, prog, scratch, personCol, graph, n, d)
		} else {
			out, err = countDid[uint32](ctx, ev.Chunks, prog, scratch, personCol, graph, n, d)
		}
		if err != nil {
			return nil, err
		}
	default:
		sums := make([][]float64, workers)
		seen := make([]column.Bitmap, workers)
		err = parallelChunks(ctx, ev.Chunks, func(w int, c *column.Chunk) error {
			bp := bitmapPool.Get().(*column.Bitmap)
			sel := bp.Resize(c.Rows)
			defer func() { *bp = sel; bitmapPool.Put(bp) }()
			prog.Eval(c, sel, scratch[w])
			if !sel.Any() {
				return nil
			}
			if sums[w] == nil {
				sums[w] = make([]float64, n)
				seen[w] = column.NewBitmap(n)
			}
			pv, vv := c.Col(personCol.Index), c.Col(prop.Index)
			for r := sel.Next(0); r >= 0; r = sel.Next(r + 1) {
				p, ok := pv.Int(r)
				if !ok {
					continue
				}
				var x float64
				if prop.Type == column.TypeFloat {
					if x, ok = vv.Float(r); !ok {
						continue
					}
				} else {
					var i int64
					if i, ok = vv.Int(r); !ok {
						continue
					}
					x = float64(i)
				}
				q := int(graph.Canonical(uint32(p)))
				sums[w][q] = combine(agg, sums[w][q], x, seen[w].Get(q))
				seen[w].Set(q)
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("cannot evaluate did %q: %w", d.Event, err)
		}
		out = column.NewBitmap(n)
		for p := 1; p < n; p++ {
			var acc float64
			any := false
			for w := range sums {
				if sums[w] != nil && seen[w].Get(p) {
					acc = combine(agg, acc, sums[w][p], any)
					any = true
				}
			}
			if any && compareFloat(acc, d.Op, d.N) {
				out.Set(p)
			}
		}
	}
	return out, nil
}

func combine(agg AggFunc, acc, x float64, have bool) float64 {
	if !have {
		return x
	}
	switch agg {
	case AggMin:
		return math.Min(acc, x)
	case AggMax:
		return math.Max(acc, x)
	}
	return acc + x
}

type counter interface{ uint8 | uint32 }

// countDid counts the selected events per canonical person. Each worker has
// a dense saturating counter array plus the list of persons it touched, so
// merging and testing cost O(persons with events), not O(all persons), and
// uint8 counters (for N < 255) keep the array small enough for the cache.
func countDid[C counter](ctx context.Context, chunks []*column.Chunk, prog *expr.Program, scratch []*expr.Scratch,
	personCol *column.ColumnDef, graph *identity.View, n int, d Did) (column.Bitmap, error) {
	type state struct {
		counts  []C
		touched []uint32
	}
	ws := make([]state, len(scratch))
	err := parallelChunks(ctx, chunks, func(w int, c *column.Chunk) error {
		bp := bitmapPool.Get().(*column.Bitmap)
		sel := bp.Resize(c.Rows)
		defer func() { *bp = sel; bitmapPool.Put(bp) }()
		prog.Eval(c, sel, scratch[w])
		if !sel.Any() {
			return nil
		}
		st := &ws[w]
		if st.counts == nil {
			st.counts = make([]C, n)
		}
		st.touched = countPersons(c.Col(personCol.Index), sel, graph, st.counts, st.touched)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("cannot evaluate did %q: %w", d.Event, err)
	}
	// Fold every worker into the first one that counted anything.
	var acc *state
	for i := range ws {
		st := &ws[i]
		if st.counts == nil {
			continue
		}
		if acc == nil {
			acc = st
			continue
		}
		for _, p := range st.touched {
			a := acc.counts[p]
			if a == 0 {
				acc.touched = append(acc.touched, p)
			}
			sum := a + st.counts[p]
			if sum < a { // saturate
				sum = ^C(0)
			}
			acc.counts[p] = sum
		}
	}
	out := column.NewBitmap(n)
	if compareFloat(0, d.Op, d.N) {
		// Persons without a matching event qualify too.
		for p := 1; p < n; p++ {
			if graph.Canonical(uint32(p)) == uint32(p) {
				out.Set(p)
			}
		}
	}
	if acc == nil {
		return out, nil
	}
	for _, p := range acc.touched {
		if compareFloat(float64(acc.counts[p]), d.Op, d.N) {
			out.Set(int(p))
		} else {
			out.Clear(int(p))
		}
	}
	return out, nil
}

// countPersons adds one per selected event to its canonical person's
// saturating counter and appends persons seen for the first time to touched.
func countPersons[C counter](pv *column.Vec, sel column.Bitmap, g *identity.View, counts []C, touched []uint32) []uint32 {
	if pv == nil {
		return touched
	}
	if pv.Pos == nil && pv.Valid == nil {
		switch pv.Width {
		case 8:
			return countDense(pv.U8, pv.Base, pv.Scale, sel, g, counts, touched)
		case 16:
			return countDense(pv.U16, pv.Base, pv.Scale, sel, g, counts, touched)
		case 32:
			return countDense(pv.U32, pv.Base, pv.Scale, sel, g, counts, touched)
		default:
			return countDense(pv.U64, pv.Base, pv.Scale, sel, g, counts, touched)
		}
	}
	for r := sel.Next(0); r >= 0; r = sel.Next(r + 1) {
		if p, ok := pv.Int(r); ok {
			touched = bump(counts, g.Canonical(uint32(p)), touched)
		}
	}
	return touched
}

func bump[C counter](counts []C, q uint32, touched []uint32) []uint32 {
	c := counts[q]
	if c == 0 {
		touched = append(touched, q)
	}
	if c != ^C(0) {
		counts[q] = c + 1
	}
	return touched
}

func countDense[T uint8 | uint16 | uint32 | uint64, C counter](vals []T, base, scale int64, sel column.Bitmap, g *identity.View, counts []C, touched []uint32) []uint32 {
	for wi, w := range sel {
		b := wi << 6
		for w != 0 {
			p := base + scale*int64(vals[b+bitsTrailing(w)])
			touched = bump(counts, g.Canonical(uint32(p)), touched)
			w &= w - 1
		}
	}
	return touched
}

func compareFloat(x float64, op expr.Op, n float64) bool {
	switch op {
	case expr.Eq:
		return x == n
	case expr.Ne:
		return x != n
	case expr.Lt:
		return x < n
	case expr.Le:
		return x <= n
	case expr.Gt:
		return x > n
	}
	return x >= n
}
