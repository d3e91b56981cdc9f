package engine

import (
	"context"
	"fmt"
	"math"
	"slices"

	"github.com/cohortdb/cohort/engine/column"
)

// AggFunc is an aggregate function.
type AggFunc uint8

const (
	AggCount         AggFunc = iota + 1 // COUNT(*) when Col is "", else COUNT(col)
	AggCountDistinct                    // COUNT(DISTINCT col)
	AggSum
	AggMin
	AggMax
	AggAvg
)

// Agg is one aggregate of an aggregation query.
type Agg struct {
	Func AggFunc
	Col  string
}

// AggQuery aggregates the rows matching Query, grouped by up to four
// integer-like (int, timestamp, string) or bool columns.
type AggQuery struct {
	Query
	GroupBy []string
	Aggs    []Agg
	// OrderedFloatSums sums the values of SUM/AVG of float columns one by
	// one in table order, as a sequential SQL engine does, instead of in
	// parallel: deterministic, bit for bit (aggregate_ordered.go).
	OrderedFloatSums bool
}

// Group is one output row: the group's key values then one value per Agg.
// SUM of ints is int; AVG is float; MIN/MAX keep the column's type; COUNT is
// int; aggregates over no values are NULL (COUNT: 0).
type Group struct {
	Key  []column.Value
	Aggs []column.Value
}

const maxGroupCols = 4

type groupKey struct {
	v    [maxGroupCols]int64
	null uint8
}

type accum struct {
	count int64 // rows in group
	n     []int64
	sumI  []int64
	sumF  []float64
	minI  []int64
	maxI  []int64
	minF  []float64
	maxF  []float64
	dist  []map[uint64]struct{}
}

type aggWorker struct {
	groups map[groupKey]*accum
	rows   []int32
}

// Aggregate runs an aggregation query. Groups come sorted by key.
func (s *Snapshot) Aggregate(ctx context.Context, q AggQuery) ([]Group, error) {
	if len(q.GroupBy) > maxGroupCols {
		return nil, fmt.Errorf("cannot aggregate %s: at most %d GROUP BY columns, got %d", q.Table, maxGroupCols, len(q.GroupBy))
	}
	f, err := s.compileQuery(ctx, q.Query)
	if err != nil {
		return nil, err
	}
	sch := f.tbl.Schema
	keys := make([]*column.ColumnDef, len(q.GroupBy))
	for i, name := range q.GroupBy {
		d, ok := sch.Lookup(name)
		if !ok {
			return nil, fmt.Errorf("cannot group %s by %q: %w", q.Table, name, ErrNoColumn)
		}
		if d.Type == column.TypeFloat || d.Type == column.TypeStringList {
			return nil, fmt.Errorf("cannot group %s by %q: %s columns are not groupable here", q.Table, name, d.Type)
		}
		keys[i] = d
	}
	args := make([]*column.ColumnDef, len(q.Aggs))
	for i, a := range q.Aggs {
		if a.Col == "" {
			if a.Func != AggCount {
				return nil, fmt.Errorf("cannot aggregate %s: aggregate %d needs a column", q.Table, i)
			}
			continue
		}
		d, ok := sch.Lookup(a.Col)
		if !ok {
			return nil, fmt.Errorf("cannot aggregate %s.%s: %w", q.Table, a.Col, ErrNoColumn)
		}
		if (a.Func == AggSum || a.Func == AggAvg) && d.Type != column.TypeInt && d.Type != column.TypeFloat {
			return nil, fmt.Errorf("cannot sum %s.%s: %s is not numeric", q.Table, a.Col, d.Type)
		}
		if d.Type == column.TypeStringList && a.Func != AggCount {
			return nil, fmt.Errorf("cannot aggregate %s.%s: string lists only count", q.Table, a.Col)
		}
		args[i] = d
	}
	if len(keys) == 1 && keys[0].Type == column.TypeString && len(q.Aggs) == 1 && q.Aggs[0].Func == AggCount && q.Aggs[0].Col == "" {
		return s.countByString(ctx, f, keys[0])
	}
	// MIN/MAX of strings compare strings, not dictionary codes: the views
	// decode them (captured once, shared read-only by the workers).
	views := make([]column.DictView, len(args))
	for i, d := range args {
		if d != nil && d.Type == column.TypeString {
			views[i] = d.Dict.View()
		}
	}
	ord := newOrderedSums(q, args, f.tbl.Chunks)
	workers := make([]aggWorker, Workers())
	for i := range workers {
		workers[i].groups = make(map[groupKey]*accum)
	}
	newAcc := func() *accum {
		a := &accum{n: make([]int64, len(args)), sumI: make([]int64, len(args)), sumF: make([]float64, len(args)),
			minI: make([]int64, len(args)), maxI: make([]int64, len(args)), minF: make([]float64, len(args)), maxF: make([]float64, len(args))}
		for i := range args {
			a.minI[i], a.maxI[i] = math.MaxInt64, math.MinInt64
			a.minF[i], a.maxF[i] = math.Inf(1), math.Inf(-1)
			if q.Aggs[i].Func == AggCountDistinct {
				if a.dist == nil {
					a.dist = make([]map[uint64]struct{}, len(args))
				}
				a.dist[i] = make(map[uint64]struct{})
			}
		}
		return a
	}
	err = parallelChunks(ctx, f.tbl.Chunks, func(w int, c *column.Chunk) error {
		bp := bitmapPool.Get().(*column.Bitmap)
		sel := bp.Resize(c.Rows)
		defer func() { *bp = sel; bitmapPool.Put(bp) }()
		f.eval(w, c, sel)
		if ord != nil {
			ord.keep(c, sel)
		}
		ws := &workers[w]
		ws.rows = sel.AppendIndexes(ws.rows[:0], 0)
		if len(ws.rows) == 0 {
			return nil
		}
		kv := make([]*column.Vec, len(keys))
		for i, d := range keys {
			kv[i] = c.Col(d.Index)
		}
		av := make([]*column.Vec, len(args))
		for i, d := range args {
			if d != nil {
				av[i] = c.Col(d.Index)
			}
		}
		var last groupKey
		var acc *accum
		for _, r := range ws.rows {
			row := int(r)
			var k groupKey
			for i, v := range kv {
				x, ok := rawKey(v, row)
				if ok {
					k.v[i] = x
				} else {
					k.null |= 1 << i
				}
			}
			if acc == nil || k != last {
				acc = ws.groups[k]
				if acc == nil {
					acc = newAcc()
					ws.groups[k] = acc
				}
				last = k
			}
			acc.count++
			for i, v := range av {
				if args[i] == nil {
					continue
				}
				if args[i].Type == column.TypeString {
					accumulateString(acc, i, v, row, views[i])
					continue
				}
				accumulate(acc, i, args[i].Type, v, row)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("cannot aggregate %s: %w", q.Table, err)
	}
	// Merge the workers' groups.
	total := workers[0].groups
	for _, ws := range workers[1:] {
		for k, a := range ws.groups {
			if t, ok := total[k]; ok {
				mergeAcc(t, a, views)
			} else {
				total[k] = a
			}
		}
	}
	if ord != nil {
		if err := ord.sum(ctx, f.tbl.Chunks, keys, args, total); err != nil {
			return nil, fmt.Errorf("cannot aggregate %s: %w", q.Table, err)
		}
	}
	if len(keys) == 0 && len(total) == 0 {
		total[groupKey{}] = newAcc() // aggregates over no rows still give one row
	}
	out := make([]Group, 0, len(total))
	for k, a := range total {
		g := Group{Key: make([]column.Value, len(keys)), Aggs: make([]column.Value, len(args))}
		for i, d := range keys {
			if k.null&(1<<i) == 0 {
				g.Key[i] = keyValue(d, k.v[i])
			}
		}
		for i, ag := range q.Aggs {
			g.Aggs[i] = finish(ag.Func, args[i], a, i)
		}
		out = append(out, g)
	}
	slices.SortFunc(out, func(a, b Group) int { return compareKeys(a.Key, b.Key) })
	return out, nil
}

func rawKey(v *column.Vec, row int) (int64, bool) {
	if v != nil && v.Type == column.TypeBool {
		b, ok := v.Bool(row)
		if b {
			return 1, ok
		}
		return 0, ok
	}
	return v.Int(row)
}

func keyValue(d *column.ColumnDef, x int64) column.Value {
	switch d.Type {
	case column.TypeString:
		return column.String(d.Dict.View().Get(uint32(x)))
	case column.TypeBool:
		return column.Bool(x != 0)
	case column.TypeTimestamp:
		return column.Micros(x)
	}
	return column.Int(x)
}

func accumulate(a *accum, i int, t column.Type, v *column.Vec, row int) {
	switch t {
	case column.TypeFloat:
		x, ok := v.Float(row)
		if !ok {
			return
		}
		a.n[i]++
		a.sumF[i] += x
		a.minF[i], a.maxF[i] = min(a.minF[i], x), max(a.maxF[i], x)
		if a.dist != nil && a.dist[i] != nil {
			a.dist[i][math.Float64bits(x+0)] = struct{}{} // +0 folds -0 into 0
		}
	case column.TypeBool:
		b, ok := v.Bool(row)
		if !ok {
			return
		}
		x := int64(0)
		if b {
			x = 1
		}
		a.n[i]++
		a.minI[i], a.maxI[i] = min(a.minI[i], x), max(a.maxI[i], x)
		if a.dist != nil && a.dist[i] != nil {
			a.dist[i][uint64(x)] = struct{}{}
		}
	case column.TypeStringList:
		if !v.IsNull(row) {
			a.n[i]++
		}
	default:
		x, ok := v.Int(row)
		if !ok {
			return
		}
		a.n[i]++
		a.sumI[i] += x
		a.sumF[i] += float64(x)
		a.minI[i], a.maxI[i] = min(a.minI[i], x), max(a.maxI[i], x)
		if a.dist != nil && a.dist[i] != nil {
			a.dist[i][uint64(x)] = struct{}{}
		}
	}
}

// accumulateString is accumulate for a string column: minI/maxI hold the
// codes of the smallest and largest strings seen (compared as strings).
func accumulateString(a *accum, i int, v *column.Vec, row int, view column.DictView) {
	x, ok := v.Int(row)
	if !ok {
		return
	}
	a.n[i]++
	if a.dist != nil && a.dist[i] != nil {
		a.dist[i][uint64(x)] = struct{}{}
	}
	if a.minI[i] == math.MaxInt64 || view.Get(uint32(x)) < view.Get(uint32(a.minI[i])) {
		a.minI[i] = x
	}
	if a.maxI[i] == math.MinInt64 || view.Get(uint32(x)) > view.Get(uint32(a.maxI[i])) {
		a.maxI[i] = x
	}
}

func mergeAcc(t, a *accum, views []column.DictView) {
	t.count += a.count
	for i := range t.n {
		t.n[i] += a.n[i]
		t.sumI[i] += a.sumI[i]
		t.sumF[i] += a.sumF[i]
		if views[i].Len() > 0 {
			if a.n[i] > 0 && (t.n[i] == a.n[i] || views[i].Get(uint32(a.minI[i])) < views[i].Get(uint32(t.minI[i]))) {
				t.minI[i] = a.minI[i]
			}
			if a.n[i] > 0 && (t.n[i] == a.n[i] || views[i].Get(uint32(a.maxI[i])) > views[i].Get(uint32(t.maxI[i]))) {
				t.maxI[i] = a.maxI[i]
			}
		} else {
			t.minI[i], t.maxI[i] = min(t.minI[i], a.minI[i]), max(t.maxI[i], a.maxI[i])
		}
		t.minF[i], t.maxF[i] = min(t.minF[i], a.minF[i]), max(t.maxF[i], a.maxF[i])
		if t.dist != nil && t.dist[i] != nil {
			for k := range a.dist[i] {
				t.dist[i][k] = struct{}{}
			}
		}
	}
}

func finish(fn AggFunc, d *column.ColumnDef, a *accum, i int) column.Value {
	if d == nil {
		return column.Int(a.count)
	}
	switch fn {
	case AggCount:
		return column.Int(a.n[i])
	case AggCountDistinct:
		return column.Int(int64(len(a.dist[i])))
	}
	if a.n[i] == 0 {
		return column.Value{}
	}
	switch fn {
	case AggSum:
		if d.Type == column.TypeFloat {
			return column.Float(a.sumF[i])
		}
		return column.Int(a.sumI[i])
	case AggAvg:
		return column.Float(a.sumF[i] / float64(a.n[i]))
	case AggMin, AggMax:
		if d.Type == column.TypeFloat {
			if fn == AggMin {
				return column.Float(a.minF[i])
			}
			return column.Float(a.maxF[i])
		}
		x := a.minI[i]
		if fn == AggMax {
			x = a.maxI[i]
		}
		return keyValue(d, x)
	}
	return column.Value{}
}

// compareKeys orders NULL first, then by value.
func compareKeys(a, b []column.Value) int {
	for i := range a {
		if c := compareValues(a[i], b[i]); c != 0 {
			return c
		}
	}
	return 0
}

func compareValues(a, b column.Value) int {
	switch {
	case a.Null() && b.Null():
		return 0
	case a.Null():
		return -1
	case b.Null():
		return 1
	}
	switch a.Type {
	case column.TypeString:
		switch {
		case a.S < b.S:
			return -1
		case a.S > b.S:
			return 1
		}
		return 0
	case column.TypeBool:
		switch {
		case a.B == b.B:
			return 0
		case !a.B:
			return -1
		}
		return 1
	case column.TypeFloat:
		switch {
		case a.F < b.F:
			return -1
		case a.F > b.F:
			return 1
		}
		return 0
	}
	switch {
	case a.I < b.I:
		return -1
	case a.I > b.I:
		return 1
	}
	return 0
}
