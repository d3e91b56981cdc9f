package segment_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/cohortdb/cohort/bench/gen"
	"github.com/cohortdb/cohort/bench/load"
	"github.com/cohortdb/cohort/engine"
	"github.com/cohortdb/cohort/engine/column"
	"github.com/cohortdb/cohort/engine/expr"
	"github.com/cohortdb/cohort/engine/identity"
	"github.com/cohortdb/cohort/engine/segment"
)

// benchSegments returns n segment definitions in the shapes marketers
// write: profile predicates, behaviour counts and sums in relative windows,
// negated behaviour, and combinations of them.
func benchSegments(n int) []engine.Cond {
	countries := []string{"US", "DE", "ES", "FR", "GB", "IN", "BR", "JP"}
	events := []string{"purchase", "add_to_cart", "app_open", "page_view", "email_click"}
	out := make([]engine.Cond, n)
	for i := range out {
		c := expr.Cmp{Col: "country", Op: expr.Eq, Val: expr.Lit(column.String(countries[i%len(countries)]))}
		ev := events[i%len(events)]
		days := time.Duration(7+i%30) * 24 * time.Hour
		switch i % 4 {
		case 0:
			out[i] = engine.Where{Expr: expr.And{c, expr.Cmp{Col: "age", Op: expr.Ge, Val: expr.Lit(column.Int(int64(18 + i%40)))}}}
		case 1:
			out[i] = engine.AllOf{engine.Where{Expr: c}, engine.Did{Event: ev, Since: expr.Ago(days), Op: expr.Ge, N: float64(1 + i%3)}}
		case 2:
			out[i] = engine.AllOf{
				engine.Where{Expr: expr.Cmp{Col: "plan", Op: expr.Eq, Val: expr.Lit(column.String("pro"))}},
				engine.Did{Event: "purchase", Since: expr.Ago(days), Agg: engine.AggSum, Prop: "amount", Op: expr.Gt, N: 100},
				engine.Negate{Cond: engine.Did{Event: "app_open", Since: expr.Ago(7 * 24 * time.Hour), Op: expr.Ge, N: 1}},
			}
		default:
			out[i] = engine.AnyOf{engine.Where{Expr: expr.Cmp{Col: "is_vip", Op: expr.Eq, Val: expr.Lit(column.Bool(true))}}, engine.Did{Event: ev, Op: expr.Ge, N: 5}}
		}
	}
	return out
}

// BenchmarkReevaluate measures real-time re-evaluation of 100 segments:
// ns per changed person (profile change or event) for batches of 1 and of
// 1000 changes, on 100k profiles and 1M events. Only Flush (the
// re-evaluation) is timed, not the engine's apply.
func BenchmarkReevaluate(b *testing.B) {
	ctx := context.Background()
	opts := gen.DefaultOptions()
	opts.Profiles, opts.Events = 100_000, 1_000_000
	ds, err := gen.Generate(ctx, opts)
	if err != nil {
		b.Fatal(err)
	}
	ws := engine.NewWorkspace("bench", identity.DefaultRules())
	if err := load.Workspace(ctx, ws, ds, nil); err != nil {
		b.Fatal(err)
	}
	now := opts.Now
	m := segment.New(ws, segment.Options{Now: func() time.Time { return now }, Tick: time.Hour, SampleEvery: -1,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go m.Run(cctx)
	for i, c := range benchSegments(100) {
		if _, err := m.Define(ctx, segment.Definition{Name: fmt.Sprintf("s%d", i), Cond: c}); err != nil {
			b.Fatal(err)
		}
	}
	r := rand.New(rand.NewPCG(1, 2))
	plans := []string{"free", "basic", "pro", "enterprise"}
	var er gen.EventRow
	for _, batch := range []int{1, 1000} {
		b.Run(fmt.Sprintf("batch=%d", batch), func(b *testing.B) {
			ops := make([]engine.Op, batch)
			at := now.UnixMicro()
			var changes int
			b.ResetTimer()
			for range b.N {
				b.StopTimer()
				for j := range ops {
					pid := 1 + r.Int64N(int64(opts.Profiles))
					id := []identity.ID{{Type: "user_id", Value: fmt.Sprint("u", pid)}}
					at++
					if j%2 == 0 {
						ops[j] = engine.Op{Kind: engine.OpIdentify, IDs: id, At: at, Traits: []engine.Field{{Name: "plan", Value: column.String(plans[r.IntN(len(plans))])}}}
					} else {
						ds.Events.Row(r.IntN(opts.Events), &er)
						op := load.EventOp(&er)
						op.IDs, op.At = id, at
						ops[j] = op
					}
				}
				if _, err := ws.Apply(ctx, ops); err != nil {
					b.Fatal(err)
				}
				changes += batch
				b.StartTimer()
				if err := m.Flush(ctx); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(changes), "ns/change")
		})
	}
}
