package engine

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/cohortdb/cohort/engine/column"
	"github.com/cohortdb/cohort/engine/expr"
	"github.com/cohortdb/cohort/engine/identity"
	"github.com/cohortdb/cohort/engine/table"
)

// persons evaluates a behavioural predicate into a bitmap of canonical
// person ids: one vectorized scan of events (pruned by chunk time ranges
// through the ts predicate), counting or aggregating per person into
// per-worker dense arrays, then one pass comparing with N.
func (s *Snapshot) persons(ctx context.Context, d Did, now time.Time) (column.Bitmap, error) {
	ev := s.Events
	// rest is the predicate without the event name: the postings path
	// already selected the event's rows and need not test the name again.
	rest := expr.And{}
	if d.Since != nil {
		rest = append(rest, expr.Cmp{Col: ColTS, Op: expr.Ge, Val: d.Since})
	}
	if d.Until != nil {
		rest = append(rest, expr.Cmp{Col: ColTS, Op: expr.Lt, Val: d.Until})
	}
	if d.Where != nil {
		rest = append(rest, d.Where)
	}
	conj := rest
	if d.Event != "" {
		conj = append(expr.And{expr.Cmp{Col: ColName, Op: expr.Eq, Val: expr.Lit(column.String(d.Event))}}, rest...)
	}
	prog, err := expr.Compile(conj, ev.Schema, now)
	if err != nil {
		return nil, fmt.Errorf("cannot compile behavioural predicate on %q: %w", d.Event, err)
	}
	restProg, err := expr.Compile(rest, ev.Schema, now)
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
	sel := newEventSelector(ev, d.Event, prog, restProg)
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
			out, err = countDid[uint8](ctx, ev.Chunks, sel, scratch, personCol, graph, n, d)
		} else {
			out, err = countDid[uint32](ctx, ev.Chunks, sel, scratch, personCol, graph, n, d)
		}
		if err != nil {
			return nil, err
		}
	default:
		evSel := sel
		sums := make([][]float64, workers)
		seen := make([]column.Bitmap, workers)
		err = parallelChunks(ctx, ev.Chunks, func(w int, c *column.Chunk) error {
			bp := bitmapPool.Get().(*column.Bitmap)
			sel := bp.Resize(c.Rows)
			defer func() { *bp = sel; bitmapPool.Put(bp) }()
			evSel.eval(c, sel, scratch[w])
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

// eventSelector selects a chunk's events for a behavioural predicate. When
// the predicate names an event, sealed chunks start from the name column's
// postings (the rows of that event) and test only those rows, instead of
// scanning every event name of the chunk.
type eventSelector struct {
	prog    *expr.Program // the whole predicate
	rest    *expr.Program // the predicate without the event name
	nameIdx int
	code    uint32
	indexed bool
}

// eventPostings switches the postings path on; benchmarks turn it off to
// compare with the plain scan.
var eventPostings = true

func newEventSelector(ev *table.Snapshot, event string, prog, rest *expr.Program) eventSelector {
	s := eventSelector{prog: prog, rest: rest}
	if event == "" || !eventPostings {
		return s
	}
	if d, ok := ev.Schema.Lookup(ColName); ok && d.Dict != nil {
		if code, ok := d.Dict.Code(event); ok {
			s.nameIdx, s.code, s.indexed = d.Index, code, true
		}
	}
	return s
}

func (s eventSelector) eval(c *column.Chunk, sel column.Bitmap, scratch *expr.Scratch) {
	if s.indexed {
		if p := c.Col(s.nameIdx).Postings(); p != nil {
			if rows := p.Rows(s.code); len(rows) < c.Rows/4 {
				clear(sel)
				for _, r := range rows {
					sel[r>>6] |= 1 << (r & 63)
				}
				s.rest.EvalWithin(c, sel, scratch)
				return
			}
		}
	}
	s.prog.Eval(c, sel, scratch)
}

type counter interface{ uint8 | uint32 }

// bucketBits sets the person range of one counting bucket: 64Ki persons, so
// a bucket's counters (64 KiB of uint8) stay in L1/L2 while it is counted.
const bucketBits = 16

// countDid counts the selected events per canonical person without random
// access into a person-sized array: the scan appends each matching event's
// canonical person to a per-worker bucket by person range (sequential
// writes), then each bucket is counted in a small cache-resident array and
// compared with N. Work is O(matching events) after the scan, not
// O(persons), and needs no merge of per-worker arrays.
func countDid[C counter](ctx context.Context, chunks []*column.Chunk, evSel eventSelector, scratch []*expr.Scratch,
	personCol *column.ColumnDef, graph *identity.View, n int, d Did) (column.Bitmap, error) {
	nb := n>>bucketBits + 1
	buckets := make([][][]uint32, len(scratch)) // worker → bucket → persons
	err := parallelChunks(ctx, chunks, func(w int, c *column.Chunk) error {
		bp := bitmapPool.Get().(*column.Bitmap)
		sel := bp.Resize(c.Rows)
		defer func() { *bp = sel; bitmapPool.Put(bp) }()
		evSel.eval(c, sel, scratch[w])
		if !sel.Any() {
			return nil
		}
		if buckets[w] == nil {
			buckets[w] = make([][]uint32, nb)
		}
		collectPersons(c.Col(personCol.Index), sel, graph, buckets[w])
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("cannot evaluate did %q: %w", d.Event, err)
	}
	out := column.NewBitmap(n)
	zero := compareFloat(0, d.Op, d.N)
	if zero {
		// Persons without a matching event qualify too; buckets below
		// clear those whose count fails.
		for p := 1; p < n; p++ {
			if graph.Canonical(uint32(p)) == uint32(p) {
				out.Set(p)
			}
		}
	}
	// Buckets cover disjoint word ranges of out, so workers need no locks.
	bucketIdx := make([]*column.Chunk, nb) // parallelChunks hands out items; only the index matters
	for i := range bucketIdx {
		bucketIdx[i] = &column.Chunk{Slot: i}
	}
	counts := make([][]C, len(scratch))
	err = parallelChunks(ctx, bucketIdx, func(w int, bc *column.Chunk) error {
		b := bc.Slot
		if counts[w] == nil {
			counts[w] = make([]C, 1<<bucketBits)
		}
		cnt := counts[w]
		for _, wb := range buckets {
			if wb == nil {
				continue
			}
			for _, q := range wb[b] {
				i := q & (1<<bucketBits - 1)
				if c := cnt[i]; c != ^C(0) {
					cnt[i] = c + 1
				}
			}
		}
		for _, wb := range buckets {
			if wb == nil {
				continue
			}
			for _, q := range wb[b] {
				i := q & (1<<bucketBits - 1)
				c := cnt[i]
				if c == 0 {
					continue // already decided
				}
				cnt[i] = 0
				if compareFloat(float64(c), d.Op, d.N) {
					out.Set(int(q))
				} else if zero {
					out.Clear(int(q))
				}
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("cannot evaluate did %q: %w", d.Event, err)
	}
	return out, nil
}

// collectPersons appends the canonical person of every selected event to
// the bucket of its person range.
func collectPersons(pv *column.Vec, sel column.Bitmap, g *identity.View, buckets [][]uint32) {
	if pv == nil {
		return
	}
	if pv.Pos == nil && pv.Valid == nil {
		switch pv.Width {
		case 8:
			collectDense(pv.U8, pv.Base, pv.Scale, sel, g, buckets)
		case 16:
			collectDense(pv.U16, pv.Base, pv.Scale, sel, g, buckets)
		case 32:
			collectDense(pv.U32, pv.Base, pv.Scale, sel, g, buckets)
		default:
			collectDense(pv.U64, pv.Base, pv.Scale, sel, g, buckets)
		}
		return
	}
	for r := sel.Next(0); r >= 0; r = sel.Next(r + 1) {
		if p, ok := pv.Int(r); ok {
			q := g.Canonical(uint32(p))
			buckets[q>>bucketBits] = append(buckets[q>>bucketBits], q)
		}
	}
}

func collectDense[T uint8 | uint16 | uint32 | uint64](vals []T, base, scale int64, sel column.Bitmap, g *identity.View, buckets [][]uint32) {
	for wi, w := range sel {
		b := wi << 6
		for w != 0 {
			q := g.Canonical(uint32(base + scale*int64(vals[b+bitsTrailing(w)])))
			buckets[q>>bucketBits] = append(buckets[q>>bucketBits], q)
			w &= w - 1
		}
	}
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
