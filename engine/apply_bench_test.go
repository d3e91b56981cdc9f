package engine

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cohortdb/cohort/bench/gen"
	"github.com/cohortdb/cohort/engine/column"
	"github.com/cohortdb/cohort/engine/expr"
	"github.com/cohortdb/cohort/engine/identity"
)

// benchOps builds identify ops for profiles and track ops for events of a
// generated data set, the way bench/load does (kept here to avoid an import
// cycle with bench/load's tests).
func benchOps(b testing.TB, profiles, events int) []Op {
	b.Helper()
	ds, err := gen.Generate(context.Background(), gen.Options{Profiles: profiles, Events: events, Seed: 1})
	if err != nil {
		b.Fatal(err)
	}
	ops := make([]Op, 0, profiles+events)
	var pr gen.ProfileRow
	for i := 0; i < profiles; i++ {
		ds.Profiles.Row(i, &pr)
		ops = append(ops, Op{Kind: OpIdentify, IDs: []identity.ID{{Type: "user_id", Value: pr.UserID}}, At: pr.CreatedAt, Traits: []Field{
			{"email", column.String(pr.Email)}, {"country", column.String(pr.Country)}, {"city", column.String(pr.City)},
			{"plan", column.String(pr.Plan)}, {"age", column.Int(pr.Age)}, {"ltv", column.Float(pr.LTV)},
			{"first_name", column.String(pr.FirstName)}, {"last_name", column.String(pr.LastName)},
			{"language", column.String(pr.Language)}, {"signup_at", column.Micros(pr.SignupAt)},
			{ColFirstSeen, column.Micros(pr.FirstSeen)}, {ColLastSeen, column.Micros(pr.LastSeen)},
			{"email_opt_in", column.Bool(pr.EmailOptIn)}, {"is_vip", column.Bool(pr.IsVIP)},
			{"sessions_count", column.Int(pr.SessionsCount)}, {"orders_count", column.Int(pr.OrdersCount)},
		}})
	}
	var er gen.EventRow
	for i := 0; i < events; i++ {
		ds.Events.Row(i, &er)
		props := []Field{{"platform", column.String(er.Platform)}, {"app_version", column.String(er.AppVersion)}}
		if er.AmountValid {
			props = append(props, Field{"amount", column.Float(er.Amount)}, Field{"currency", column.String(er.Currency)})
		}
		ops = append(ops, Op{Kind: OpTrack, IDs: []identity.ID{{Type: "user_id", Value: "u" + itoa(int(er.PersonID))}}, Event: er.Name, At: er.TS, Props: props})
	}
	return ops
}

// BenchmarkApply measures apply throughput (operations per second) of a
// realistic mix — 1 identify with 16 traits per 10 track events — in
// batches of 8192, with and without a query running concurrently.
func BenchmarkApply(b *testing.B) {
	const profiles, events, batch = 100_000, 1_000_000, 8192
	ops := benchOps(b, profiles, events)
	for _, withQueries := range []bool{false, true} {
		name := "alone"
		if withQueries {
			name = "with-queries"
		}
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			var applied int64
			for b.Loop() {
				w := NewWorkspace("b", identity.DefaultRules())
				if _, err := w.Apply(context.Background(), ops[:batch]); err != nil { // the queried columns exist from here on
					b.Fatal(err)
				}
				var stop atomic.Bool
				var wg sync.WaitGroup
				var queries atomic.Int64
				if withQueries {
					wg.Add(1)
					go func() {
						defer wg.Done()
						q := Query{Table: Profiles, Now: time.Now(), Where: AllOf{
							Where{expr.Cmp{Col: "country", Op: expr.Eq, Val: expr.Lit(column.String("ES"))}},
							Did{Event: "purchase", Op: expr.Ge, N: 2},
						}}
						for !stop.Load() {
							if _, err := w.Snapshot().Count(context.Background(), q); err != nil {
								b.Error(err)
								return
							}
							queries.Add(1)
						}
					}()
				}
				for i := batch; i < len(ops); i += batch {
					if _, err := w.Apply(context.Background(), ops[i:min(i+batch, len(ops))]); err != nil {
						b.Fatal(err)
					}
				}
				stop.Store(true)
				wg.Wait()
				applied += int64(len(ops))
				if withQueries {
					b.ReportMetric(float64(queries.Load()), "queries/run")
				}
			}
			b.ReportMetric(float64(applied)/b.Elapsed().Seconds(), "ops/s")
		})
	}
}
