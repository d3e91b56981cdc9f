package engine

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/cohortdb/cohort/bench/gen"
	"github.com/cohortdb/cohort/engine/column"
	"github.com/cohortdb/cohort/engine/expr"
	"github.com/cohortdb/cohort/engine/identity"
)

var (
	benchWSOnce sync.Once
	benchWS     *Workspace
)

// benchWorkspace loads 1M profiles and 10M events once per test binary.
func benchWorkspace(b *testing.B) *Workspace {
	benchWSOnce.Do(func() {
		ops := benchOps(b, 1_000_000, 10_000_000)
		w := NewWorkspace("bench", identity.DefaultRules())
		for i := 0; i < len(ops); i += 8192 {
			if _, err := w.Apply(context.Background(), ops[i:min(i+8192, len(ops))]); err != nil {
				b.Fatal(err)
			}
		}
		benchWS = w
	})
	return benchWS
}

// BenchmarkQuery times the engine side of bench/compare's query set at
// 1M profiles / 10M events (the bench command runs it at 10M / 100M next to
// a plain-Go reference and DuckDB).
func BenchmarkQuery(b *testing.B) {
	w := benchWorkspace(b)
	s := w.Snapshot()
	now := gen.DefaultNow
	q1 := Where{expr.And{
		expr.Cmp{Col: "country", Op: expr.Eq, Val: expr.Lit(column.String("ES"))},
		expr.Between{Col: "age", Lo: expr.Lit(column.Int(20)), Hi: expr.Lit(column.Int(30))},
		expr.Cmp{Col: "ltv", Op: expr.Gt, Val: expr.Lit(column.Float(100))},
		expr.Cmp{Col: ColLastSeen, Op: expr.Gt, Val: expr.Ago(7 * 24 * time.Hour)},
	}}
	q4 := Did{Event: "purchase", Since: expr.Ago(30 * 24 * time.Hour), Op: expr.Ge, N: 3}
	ctx := context.Background()
	b.Run("Q1-count", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := s.Count(ctx, Query{Table: Profiles, Where: q1, Now: now}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("events-group-by-name", func(b *testing.B) {
		b.ReportAllocs()
		q := AggQuery{Query: Query{Table: Events, Now: now}, GroupBy: []string{ColName}, Aggs: []Agg{{Func: AggCount}}}
		for b.Loop() {
			if _, err := s.Aggregate(ctx, q); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("Q3-group-by-country", func(b *testing.B) {
		b.ReportAllocs()
		q := AggQuery{Query: Query{Table: Profiles, Now: now, Where: Where{expr.Cmp{Col: "plan", Op: expr.Eq, Val: expr.Lit(column.String("pro"))}}},
			GroupBy: []string{"country"}, Aggs: []Agg{{Func: AggCount}}}
		for b.Loop() {
			if _, err := s.Aggregate(ctx, q); err != nil {
				b.Fatal(err)
			}
		}
	})
	for _, postings := range []bool{true, false} {
		name := "Q4-did-purchase-3x-30d/postings"
		if !postings {
			name = "Q4-did-purchase-3x-30d/scan"
		}
		b.Run(name, func(b *testing.B) {
			eventPostings = postings
			defer func() { eventPostings = true }()
			b.ReportAllocs()
			for b.Loop() {
				if _, err := s.Count(ctx, Query{Table: Profiles, Where: q4, Now: now}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	b.Run("aggregate-sum-avg-by-plan", func(b *testing.B) {
		b.ReportAllocs()
		q := AggQuery{Query: Query{Table: Profiles, Now: now}, GroupBy: []string{"plan"},
			Aggs: []Agg{{Func: AggSum, Col: "ltv"}, {Func: AggAvg, Col: "age"}, {Func: AggCountDistinct, Col: "city"}}}
		for b.Loop() {
			if _, err := s.Aggregate(ctx, q); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("select-limit-10", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			rows, err := s.Select(ctx, Query{Table: Profiles, Where: q1, Now: now}, []string{ColPersonID, "email"})
			if err != nil {
				b.Fatal(err)
			}
			for n := 0; n < 10 && rows.Next(); n++ {
				_ = rows.Values()
			}
			rows.Close()
		}
	})
}
