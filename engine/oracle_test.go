package engine

import (
	"context"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/cohortdb/cohort/engine/column"
	"github.com/cohortdb/cohort/engine/expr"
	"github.com/cohortdb/cohort/engine/identity"
)

type modelProfile struct {
	age     int64
	hasAge  bool
	country string
	hasCtry bool
}

type modelEvent struct {
	user   int
	name   string
	ts     int64
	amount float64
}

// TestEngineAgainstModel applies random identify/track batches (with
// attribute rewrites, clears and enough churn to trigger compaction) and
// checks counts, behavioural predicates and group counts against a plain
// Go model after every batch.
func TestEngineAgainstModel(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 11))
	w := NewWorkspace("t", identity.DefaultRules())
	users := 3000
	profiles := map[int]*modelProfile{}
	var events []modelEvent
	countries := []string{"ES", "FR", "DE", "es", "PT"}
	names := []string{"purchase", "page_view", "app_uninstalled"}
	clock := int64(0)
	for batch := 0; batch < 25; batch++ {
		var ops []Op
		for i := 0; i < 4000; i++ {
			u := rng.IntN(users)
			clock += int64(rng.IntN(1000000))
			at := t0.UnixMicro() - 90*24*3600*1e6 + clock
			if rng.IntN(3) == 0 {
				var fs []Field
				p := profiles[u]
				if p == nil {
					p = &modelProfile{}
					profiles[u] = p
				}
				switch rng.IntN(4) {
				case 0:
					fs = append(fs, f("age", column.Value{}))
					p.hasAge = false
				default:
					a := int64(rng.IntN(80))
					fs = append(fs, f("age", column.Int(a)))
					p.age, p.hasAge = a, true
				}
				if rng.IntN(2) == 0 {
					c := countries[rng.IntN(len(countries))]
					fs = append(fs, f("country", column.String(c)))
					p.country, p.hasCtry = c, true
				}
				ops = append(ops, Op{Kind: OpIdentify, IDs: []identity.ID{uid(itoa(u))}, Traits: fs, At: at})
			} else {
				if profiles[u] == nil {
					profiles[u] = &modelProfile{}
				}
				n := names[min(rng.IntN(7), 2)%3]
				amt := float64(rng.IntN(200))
				ops = append(ops, Op{Kind: OpTrack, IDs: []identity.ID{uid(itoa(u))}, Event: n, At: at,
					Props: []Field{f("amount", column.Float(amt))}})
				events = append(events, modelEvent{user: u, name: n, ts: at, amount: amt})
			}
		}
		mustApply(t, w, ops...)
		s := w.Snapshot()
		now := time.UnixMicro(t0.UnixMicro() - 90*24*3600*1e6 + clock)
		for trial := 0; trial < 8; trial++ {
			ctry := countries[rng.IntN(len(countries))]
			minAge := int64(rng.IntN(80))
			n := float64(1 + rng.IntN(4))
			window := time.Duration(1+rng.IntN(48)) * time.Hour
			since := now.Add(-window).UnixMicro()
			// Model.
			perUser := map[int]int{}
			spent := map[int]float64{}
			uninstalled := map[int]bool{}
			bigBuys := map[int]int{}
			for _, e := range events {
				if e.name == "purchase" && e.amount > 100 {
					bigBuys[e.user]++
				}
				if e.name == "purchase" && e.ts >= since {
					perUser[e.user]++
					spent[e.user] += e.amount
				}
				if e.name == "app_uninstalled" {
					uninstalled[e.user] = true
				}
			}
			var wantProfile, wantDid, wantCombined, wantSum, wantBig, wantAtMost int64
			for u, p := range profiles {
				if bigBuys[u] >= 2 {
					wantBig++
				}
				if perUser[u] <= 1 {
					wantAtMost++
				}
				prof := p.hasCtry && p.country == ctry && p.hasAge && p.age > minAge
				did := float64(perUser[u]) >= n
				if prof {
					wantProfile++
				}
				if did {
					wantDid++
				}
				if (prof || did) && !uninstalled[u] {
					wantCombined++
				}
				if perUser[u] > 0 && spent[u] > 150 {
					wantSum++
				}
			}
			pred := Where{expr.And{
				expr.Cmp{Col: "country", Op: expr.Eq, Val: expr.Lit(column.String(ctry))},
				expr.Cmp{Col: "age", Op: expr.Gt, Val: expr.Lit(column.Int(minAge))},
			}}
			did := Did{Event: "purchase", Since: expr.TimeOffset{Offset: -window}, Op: expr.Ge, N: n}
			q := func(c Cond) int64 {
				got, err := s.Count(context.Background(), Query{Table: Profiles, Where: c, Now: now})
				if err != nil {
					t.Fatal(err)
				}
				return got
			}
			if got := q(pred); got != wantProfile {
				t.Fatalf("batch %d: profile predicate: got %d, want %d", batch, got, wantProfile)
			}
			if got := q(did); got != wantDid {
				t.Fatalf("batch %d: did purchase >= %v in %v: got %d, want %d", batch, n, window, got, wantDid)
			}
			combined := AllOf{AnyOf{pred, did}, Negate{Did{Event: "app_uninstalled", Op: expr.Ge, N: 1}}}
			if got := q(combined); got != wantCombined {
				t.Fatalf("batch %d: combined: got %d, want %d", batch, got, wantCombined)
			}
			sum := Did{Event: "purchase", Since: expr.TimeOffset{Offset: -window}, Agg: AggSum, Prop: "amount", Op: expr.Gt, N: 150}
			big := Did{Event: "purchase", Where: expr.Cmp{Col: "amount", Op: expr.Gt, Val: expr.Lit(column.Float(100))}, Op: expr.Ge, N: 2}
			if got := q(big); got != wantBig {
				t.Fatalf("batch %d: did purchase with amount > 100 at least twice: got %d, want %d", batch, got, wantBig)
			}
			atMost := Did{Event: "purchase", Since: expr.TimeOffset{Offset: -window}, Op: expr.Le, N: 1}
			if got := q(atMost); got != wantAtMost {
				t.Fatalf("batch %d: did purchase at most once (zero included): got %d, want %d", batch, got, wantAtMost)
			}
			if got := q(sum); got != wantSum {
				t.Fatalf("batch %d: sum(amount) > 150: got %d, want %d", batch, got, wantSum)
			}
		}
		// Group counts by country.
		want := map[string]int64{}
		for _, p := range profiles {
			k := "NULL"
			if p.hasCtry {
				k = column.String(p.country).String()
			}
			want[k]++
		}
		gs, err := s.Aggregate(context.Background(), AggQuery{Query: Query{Table: Profiles}, GroupBy: []string{"country"}, Aggs: []Agg{{Func: AggCount}}})
		if err != nil {
			t.Fatal(err)
		}
		if len(gs) != len(want) {
			t.Fatalf("batch %d: %d groups, want %d", batch, len(gs), len(want))
		}
		for _, g := range gs {
			if want[g.Key[0].String()] != g.Aggs[0].I {
				t.Fatalf("batch %d: group %v = %d, want %d", batch, g.Key[0], g.Aggs[0].I, want[g.Key[0].String()])
			}
		}
		if s.Profiles.Live != int64(len(profiles)) {
			t.Fatalf("batch %d: %d live profiles, want %d", batch, s.Profiles.Live, len(profiles))
		}
	}
}
