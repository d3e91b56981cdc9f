package engine_test

import (
	"context"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/cohortdb/cohort/engine"
	"github.com/cohortdb/cohort/engine/column"
	"github.com/cohortdb/cohort/engine/enginetest"
	"github.com/cohortdb/cohort/engine/expr"
	"github.com/cohortdb/cohort/engine/identity"
)

// TestPointPlanMatchesPersonSet checks point evaluation, person by person,
// against the vectorized evaluation of the same condition, snapshot and now.
func TestPointPlanMatchesPersonSet(t *testing.T) {
	ctx := context.Background()
	r := rand.New(rand.NewPCG(3, 9))
	ws := engine.NewWorkspace("t", identity.DefaultRules())
	start := int64(1_700_000_000_000_000)
	pool := enginetest.NewPool(400)
	// Seed every attribute and event property the conditions name.
	seed := []engine.Op{{Kind: engine.OpIdentify, At: start, IDs: []identity.ID{{Type: "user_id", Value: "seed"}}, Traits: []engine.Field{
		{Name: "plan", Value: column.String("pro1")}, {Name: "score", Value: column.Float(1)}, {Name: "age", Value: column.Int(1)},
		{Name: "city", Value: column.String("x")}, {Name: "vip", Value: column.Bool(true)}}},
		{Kind: engine.OpTrack, At: start, Event: "page", IDs: []identity.ID{{Type: "user_id", Value: "seed"}}, Props: []engine.Field{{Name: "amount", Value: column.Float(1)}}}}
	if _, err := ws.Apply(ctx, seed); err != nil {
		t.Fatal(err)
	}
	ops := enginetest.Ops(r, pool, 3000, start+1000, 50)
	if _, err := enginetest.Apply(ctx, r, ws, ops, 0); err != nil {
		t.Fatal(err)
	}
	snap := ws.Snapshot()
	conds := map[string]engine.Cond{
		"plan":      engine.Where{Expr: expr.Cmp{Col: "plan", Op: expr.Eq, Val: expr.Lit(column.String("pro1"))}},
		"not score": engine.Negate{Cond: engine.Where{Expr: expr.Cmp{Col: "score", Op: expr.Lt, Val: expr.Lit(column.Float(300))}}},
		"last_seen": engine.Where{Expr: expr.Cmp{Col: engine.ColLastSeen, Op: expr.Ge, Val: expr.Ago(30 * time.Millisecond)}},
		"did":       engine.AllOf{engine.Where{Expr: expr.Cmp{Col: "age", Op: expr.Gt, Val: expr.Lit(column.Int(30))}}, engine.Did{Event: "purchase", Op: expr.Ge, N: 2}},
		"not did":   engine.Negate{Cond: engine.Did{Event: "login", Since: expr.Ago(40 * time.Millisecond), Op: expr.Ge, N: 1}},
		"sum":       engine.Did{Event: "page", Since: expr.Ago(900 * time.Millisecond), Agg: engine.AggSum, Prop: "amount", Op: expr.Gt, N: 700},
		"lt":        engine.AllOf{engine.Did{Op: expr.Lt, N: 3}, engine.Negate{Cond: engine.Where{Expr: expr.Cmp{Col: "vip", Op: expr.Eq, Val: expr.Lit(column.Bool(true))}}}},
	}
	for _, offset := range []time.Duration{0, 20 * time.Millisecond, 2 * time.Second} {
		now := time.UnixMicro(start + 3001*1000).Add(offset)
		for name, c := range conds {
			want, err := snap.PersonSet(ctx, c, now)
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			plan, err := snap.CompilePoints([]engine.Cond{c, engine.Negate{Cond: c}}, now, nil)
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			notWant, err := snap.PersonSet(ctx, engine.Negate{Cond: c}, now)
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			in := make([]bool, 2)
			n := 0
			for p := 1; p <= snap.Graph.Persons(); p++ {
				if snap.Graph.Canonical(uint32(p)) != uint32(p) {
					continue
				}
				plan.Eval(snap, uint32(p), in)
				if in[0] != want.Get(p) || in[1] != notWant.Get(p) {
					t.Errorf("%s at +%v: person %d: point %v (negated %v), vectorized %v (%v)", name, offset, p, in[0], in[1], want.Get(p), notWant.Get(p))
					if n++; n > 5 {
						break
					}
				}
			}
		}
	}
}

func TestPointPlanNext(t *testing.T) {
	ctx := context.Background()
	ws := engine.NewWorkspace("t", identity.DefaultRules())
	start := int64(1_700_000_000_000_000)
	ops := []engine.Op{{Kind: engine.OpTrack, At: start, Event: "page", IDs: []identity.ID{{Type: "user_id", Value: "a"}}}}
	if _, err := ws.Apply(ctx, ops); err != nil {
		t.Fatal(err)
	}
	snap := ws.Snapshot()
	c := engine.Where{Expr: expr.Cmp{Col: engine.ColLastSeen, Op: expr.Ge, Val: expr.Ago(30 * time.Millisecond)}}
	now := time.UnixMicro(start + 10_000)
	plan, err := snap.CompilePoints([]engine.Cond{c}, now, nil)
	if err != nil {
		t.Fatal(err)
	}
	in := make([]bool, 1)
	next := plan.Eval(snap, 1, in)
	if !in[0] || next != start+30_000 {
		t.Fatalf("Eval = %v, %d; want true, %d", in[0], next, start+30_000)
	}
	var got []int64
	if err := plan.Crossings(ctx, snap, 0, func(p uint32, at int64) { got = append(got, int64(p), at) }); err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0] != 1 || got[1] != start+30_000 {
		t.Fatalf("Crossings = %v", got)
	}
}

// TestPointSetSkipsOldChunks checks point evaluation when the sealed
// chunks of old events are skipped by their time stats: answers and next
// crossings still equal the vectorized evaluation.
func TestPointSetSkipsOldChunks(t *testing.T) {
	ctx := context.Background()
	ws := engine.NewWorkspace("t", identity.DefaultRules())
	now := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	var ops []engine.Op
	id := func(i int) []identity.ID {
		return []identity.ID{{Type: "user_id", Value: "u" + string(rune('a'+i%26)) + string(rune('a'+i/26%26))}}
	}
	for i := range 150_000 {
		at := now.Add(-30 * 24 * time.Hour).Add(time.Duration(i) * time.Second) // 100k old events (≈28h)
		if i >= 100_000 {
			at = now.Add(-time.Duration(150_000-i) * time.Second) // then the last ≈14h
		}
		name := []string{"page", "purchase", "login"}[i%3]
		who := i % 500
		if i%4 == 0 {
			who = i % 61 // heavier persons: counts differ between persons
		}
		ops = append(ops, engine.Op{Kind: engine.OpTrack, At: at.UnixMicro(), Event: name, IDs: id(who)})
		if len(ops) == 8192 {
			if _, err := ws.Apply(ctx, ops); err != nil {
				t.Fatal(err)
			}
			ops = ops[:0]
		}
	}
	if _, err := ws.Apply(ctx, ops); err != nil {
		t.Fatal(err)
	}
	snap := ws.Snapshot()
	if len(snap.Events.BySlot) < 3 {
		t.Fatalf("%d event chunks: the test needs sealed old chunks", len(snap.Events.BySlot))
	}
	conds := []engine.Cond{
		engine.Did{Event: "purchase", Since: expr.Ago(24 * time.Hour), Op: expr.Ge, N: 34},
		engine.Negate{Cond: engine.Did{Event: "login", Since: expr.Ago(2 * time.Hour), Op: expr.Ge, N: 5}},
		engine.Did{Event: "page", Since: expr.Ago(10 * time.Hour), Op: expr.Ge, N: 25},
	}
	set, err := snap.CompilePoints(conds, now, nil)
	if err != nil {
		t.Fatal(err)
	}
	in := make([]bool, len(conds))
	for i, c := range conds {
		want, err := snap.PersonSet(ctx, c, now)
		if err != nil {
			t.Fatal(err)
		}
		if want.Count() == 0 || want.Count() == 500 {
			t.Fatalf("condition %d selects %d of 500 persons: not a useful check", i, want.Count())
		}
		for p := 1; p <= snap.Graph.Persons(); p++ {
			set.Eval(snap, uint32(p), in)
			if in[i] != want.Get(p) {
				t.Fatalf("condition %d, person %d: point %v, vectorized %v", i, p, in[i], want.Get(p))
			}
		}
	}
}
