package engine

import (
	"context"
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/cohortdb/cohort/engine/column"
	"github.com/cohortdb/cohort/engine/expr"
	"github.com/cohortdb/cohort/engine/identity"
)

// TestOrderedFloatSums: with OrderedFloatSums, SUM/AVG of a float column
// equal, bit for bit, a sequential loop over the rows in table order
// (Snapshot.Select), per group, with NULLs and a WHERE; and the data is
// adversarial (1e16, 1, -1e16, ...) so that another order gives another
// sum, i.e. the test fails if the order is not the table's.
func TestOrderedFloatSums(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(4)) // several workers even on small machines
	w := NewWorkspace("t", identity.DefaultRules())
	rng := rand.New(rand.NewPCG(1, 2))
	pattern := []float64{1e16, 1, -1e16, 0.1, 1, -0.7, 1e-3}
	groups := []string{"a", "b", "c"}
	var ops []Op
	for i := range 3*column.ChunkRows + 123 {
		// wide: a key too sparse for the dense group table (the map path).
		traits := []Field{f("n", column.Int(int64(rng.IntN(100)))), f("wide", column.Int(int64(rng.IntN(3))*1e12))}
		if rng.IntN(8) != 0 {
			traits = append(traits, f("g", column.String(groups[rng.IntN(len(groups))])))
		}
		if rng.IntN(6) != 0 { // else NULL
			x := pattern[i%len(pattern)]
			if rng.IntN(4) == 0 {
				x = rng.Float64()*200 - 100
			}
			traits = append(traits, f("x", column.Float(x)))
		}
		ops = append(ops, identify(time.Duration(i), []identity.ID{uid(itoa(i))}, traits...))
	}
	mustApply(t, w, ops...)
	s := w.Snapshot()
	if n := len(s.Profiles.Chunks); n < 4 {
		t.Fatalf("%d chunks, want at least 4", n)
	}
	type seq struct {
		sum, rev float64
		n        int64
		vals     []float64
	}
	for _, tc := range []struct {
		name    string
		where   Where
		groupBy []string
	}{
		{"all", Where{}, nil},
		{"group", Where{}, []string{"g"}},
		{"where", Where{expr.Cmp{Col: "n", Op: expr.Gt, Val: expr.Lit(column.Int(30))}}, []string{"g"}},
		{"wide", Where{}, []string{"wide"}},
		{"none", Where{expr.Cmp{Col: "n", Op: expr.Gt, Val: expr.Lit(column.Int(1000))}}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			// The oracle: rows in table order, summed one by one from 0.
			rows, err := s.Select(ctx, Query{Table: Profiles, Where: tc.where}, []string{"g", "x", "wide"})
			if err != nil {
				t.Fatal(err)
			}
			want := map[string]*seq{}
			for rows.Next() {
				v := rows.Values()
				k := ""
				switch {
				case tc.name == "wide":
					k = v[2].String()
				case tc.groupBy != nil:
					k = v[0].String()
				}
				e := want[k]
				if e == nil {
					e = &seq{}
					want[k] = e
				}
				if !v[1].Null() {
					e.sum += v[1].F
					e.n++
					e.vals = append(e.vals, v[1].F)
				}
			}
			if err := rows.Err(); err != nil {
				t.Fatal(err)
			}
			// Other orders: reverse, two halves summed apart then added (as
			// two workers would), ascending values.
			orderMatters := false
			for _, e := range want {
				for i := len(e.vals) - 1; i >= 0; i-- {
					e.rev += e.vals[i]
				}
				var lo, hi float64
				for i, x := range e.vals {
					if i < len(e.vals)/2 {
						lo += x
					} else {
						hi += x
					}
				}
				var sorted float64
				for _, x := range slices.Sorted(slices.Values(e.vals)) {
					sorted += x
				}
				orderMatters = orderMatters || e.rev != e.sum || lo+hi != e.sum || sorted != e.sum
			}
			if tc.name != "none" && !orderMatters {
				t.Fatal("the data is not adversarial: other orders give the same sums")
			}
			for run := range 3 { // deterministic, whatever chunks the workers take
				gs, err := s.Aggregate(ctx, AggQuery{Query: Query{Table: Profiles, Where: tc.where}, GroupBy: tc.groupBy, OrderedFloatSums: true,
					Aggs: []Agg{{Func: AggSum, Col: "x"}, {Func: AggAvg, Col: "x"}, {Func: AggCount, Col: "x"}, {Func: AggSum, Col: "n"}}})
				if err != nil {
					t.Fatal(err)
				}
				if len(gs) != max(len(want), 1) {
					t.Fatalf("run %d: %d groups, want %d", run, len(gs), len(want))
				}
				for _, g := range gs {
					k := ""
					if tc.groupBy != nil {
						k = g.Key[0].String()
					}
					e := want[k]
					if e == nil || e.n == 0 {
						if !g.Aggs[0].Null() || !g.Aggs[1].Null() {
							t.Errorf("run %d group %s: SUM, AVG = %v, %v over no values, want NULL", run, k, g.Aggs[0], g.Aggs[1])
						}
						continue
					}
					if got := g.Aggs[0].F; math.Float64bits(got) != math.Float64bits(e.sum) {
						t.Errorf("run %d group %s: SUM = %v, sequential %v (reverse %v)", run, k, got, e.sum, e.rev)
					}
					if got, w := g.Aggs[1].F, e.sum/float64(e.n); math.Float64bits(got) != math.Float64bits(w) {
						t.Errorf("run %d group %s: AVG = %v, sequential %v", run, k, got, w)
					}
					if g.Aggs[2].I != e.n {
						t.Errorf("run %d group %s: COUNT = %d, want %d", run, k, g.Aggs[2].I, e.n)
					}
				}
			}
		})
	}
}

// BenchmarkOrderedFloatSums: SUM/AVG(ltv) GROUP BY country over 1M
// profiles, ordered (as sqlfront asks) and parallel.
func BenchmarkOrderedFloatSums(b *testing.B) {
	ops := benchOps(b, 1_000_000, 0)
	w := NewWorkspace("bench", identity.DefaultRules())
	for i := 0; i < len(ops); i += 8192 {
		if _, err := w.Apply(context.Background(), ops[i:min(i+8192, len(ops))]); err != nil {
			b.Fatal(err)
		}
	}
	s := w.Snapshot()
	for _, ordered := range []bool{true, false} {
		name := "parallel"
		if ordered {
			name = "ordered"
		}
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			q := AggQuery{Query: Query{Table: Profiles}, GroupBy: []string{"country"}, OrderedFloatSums: ordered,
				Aggs: []Agg{{Func: AggSum, Col: "ltv"}, {Func: AggAvg, Col: "ltv"}}}
			for b.Loop() {
				if _, err := s.Aggregate(context.Background(), q); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
