package segment_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/cohortdb/cohort/engine"
	"github.com/cohortdb/cohort/engine/column"
	"github.com/cohortdb/cohort/engine/enginetest"
	"github.com/cohortdb/cohort/engine/expr"
	"github.com/cohortdb/cohort/engine/identity"
	"github.com/cohortdb/cohort/engine/segment"
)

// clock is a manual time source.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

func str(s string) expr.Const  { return expr.Lit(column.String(s)) }
func num(i int64) expr.Const   { return expr.Lit(column.Int(i)) }
func flt(f float64) expr.Const { return expr.Lit(column.Float(f)) }

// definitions covers profile predicates with NULLs and negation, behaviour
// counts and sums, relative windows on events and on profile timestamps,
// and combinations of them.
func definitions() map[string]engine.Cond {
	return map[string]engine.Cond{
		"plan_pro":      engine.Where{Expr: expr.Cmp{Col: "plan", Op: expr.Eq, Val: str("pro1")}},
		"not_low_score": engine.Negate{Cond: engine.Where{Expr: expr.Cmp{Col: "score", Op: expr.Lt, Val: flt(300)}}},
		"buyers_over_30": engine.AllOf{
			engine.Where{Expr: expr.Cmp{Col: "age", Op: expr.Gt, Val: num(30)}},
			engine.Did{Event: "purchase", Op: expr.Ge, N: 2},
		},
		"no_recent_login": engine.AllOf{
			engine.Negate{Cond: engine.Did{Event: "login", Since: expr.Ago(40 * time.Millisecond), Op: expr.Ge, N: 1}},
			engine.Where{Expr: expr.IsNull{Col: "city", Not: true}},
		},
		"big_recent_pages": engine.AnyOf{
			engine.Did{Event: "page", Since: expr.Ago(90 * time.Millisecond), Agg: engine.AggSum, Prop: "amount", Op: expr.Gt, N: 700},
			engine.Did{Event: "add_to_cart", Since: expr.Ago(25 * time.Millisecond), Op: expr.Ge, N: 2},
		},
		"seen_lately": engine.Where{Expr: expr.Cmp{Col: engine.ColLastSeen, Op: expr.Ge, Val: expr.Ago(30 * time.Millisecond)}},
		"few_events": engine.AllOf{
			engine.Did{Op: expr.Lt, N: 3},
			engine.Negate{Cond: engine.Where{Expr: expr.Cmp{Col: "vip", Op: expr.Eq, Val: expr.Lit(column.Bool(true))}}},
		},
	}
}

// TestMembershipMatchesFreshEvaluation applies random identify, track,
// alias (merges) and delete (erasure) batches while segments are defined
// and time passes, and after every step compares each segment's real-time
// membership with a fresh vectorized evaluation of its definition; the
// transitions reported must replay to the same membership.
func TestMembershipMatchesFreshEvaluation(t *testing.T) {
	for seed := range uint64(seeds) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) { testMembership(t, seed) })
	}
}

func testMembership(t *testing.T, seed uint64) {
	if seed%2 == 1 {
		// Odd seeds evaluate every batch on all workers, however small.
		defer segment.SetMinPerWorker(1)()
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	r := rand.New(rand.NewPCG(seed, 7))
	start := time.UnixMicro(1_700_000_000_000_000)
	clk := &clock{t: start}
	ws := engine.NewWorkspace("t", identity.DefaultRules())
	var (
		tmu   sync.Mutex
		trans []segment.Transition
	)
	m := segment.New(ws, segment.Options{
		Now: clk.Now, Tick: time.Hour, Resolution: time.Microsecond, SampleEvery: -1,
		OnTransitions: func(ts []segment.Transition) {
			tmu.Lock()
			trans = append(trans, ts...)
			tmu.Unlock()
		},
	})
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	defer func() { cancel(); <-done }()

	// Every attribute and property the definitions name exists from the
	// start (SQL rejects definitions over unknown columns).
	seedOps := []engine.Op{{Kind: engine.OpIdentify, At: start.UnixMicro(), IDs: []identity.ID{{Type: "user_id", Value: "seed"}}, Traits: []engine.Field{
		{Name: "plan", Value: column.String("pro1")}, {Name: "score", Value: column.Float(1)}, {Name: "age", Value: column.Int(1)},
		{Name: "city", Value: column.String("x")}, {Name: "vip", Value: column.Bool(true)}}},
		{Kind: engine.OpTrack, At: start.UnixMicro(), Event: "page", IDs: []identity.ID{{Type: "user_id", Value: "seed"}}, Props: []engine.Field{{Name: "amount", Value: column.Float(1)}}}}
	if _, err := ws.Apply(ctx, seedOps); err != nil {
		t.Fatal(err)
	}
	defs := definitions()
	names := make([]string, 0, len(defs))
	for n := range defs {
		names = append(names, n)
	}
	slices.Sort(names)
	r.Shuffle(len(names), func(i, j int) { names[i], names[j] = names[j], names[i] })
	// Replayed membership from the transitions, per segment.
	replay := map[string]map[uint32]bool{}
	pool := enginetest.NewPool(300)
	var logSeq uint64
	at := start.UnixMicro()
	defined := 0
	for step := range 60 {
		// Define segments progressively: some see data from their start,
		// others start on a populated workspace.
		if defined < len(names) && (step == 0 || r.IntN(6) == 0) {
			name := names[defined]
			defined++
			info, err := m.Define(ctx, segment.Definition{Name: name, SQL: "test", Cond: defs[name]})
			if err != nil {
				t.Fatalf("define %s: %v", name, err)
			}
			mem, err := m.Members(name)
			if err != nil {
				t.Fatal(err)
			}
			set := map[uint32]bool{}
			for _, p := range mem.Next(0, 1<<30, nil) {
				set[p] = true
			}
			replay[name] = set
			tmu.Lock()
			trans = trans[:0] // transitions of other segments up to now are replayed below already
			tmu.Unlock()
			if info.Version != 1 {
				t.Fatalf("define %s: version %d", name, info.Version)
			}
		}
		ops := enginetest.Ops(r, pool, 20+r.IntN(80), at, 40)
		at += int64(len(ops)) * 1000
		var err error
		if logSeq, err = enginetest.Apply(ctx, r, ws, ops, logSeq); err != nil {
			t.Fatal(err)
		}
		// Time moves with the data, and sometimes jumps past windows.
		clk.Add(time.Duration(len(ops)) * time.Millisecond)
		if r.IntN(5) == 0 {
			clk.Add(time.Duration(r.IntN(60)) * time.Millisecond)
		}
		if err := m.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		tmu.Lock()
		for _, tr := range trans {
			set := replay[tr.Segment]
			if set == nil {
				continue
			}
			if set[tr.Person] == tr.Entered {
				t.Fatalf("step %d: %s: transition %+v does not change membership", step, tr.Segment, tr)
			}
			if tr.Entered {
				set[tr.Person] = true
			} else {
				delete(set, tr.Person)
			}
		}
		trans = trans[:0]
		tmu.Unlock()
		snap := ws.Snapshot()
		for _, name := range names[:defined] {
			want, err := snap.PersonSet(ctx, defs[name], clk.Now())
			if err != nil {
				t.Fatal(err)
			}
			got, err := m.Members(name)
			if err != nil {
				t.Fatal(err)
			}
			if got.Count() != int64(want.Count()) {
				t.Errorf("step %d: %s: %d members in real time, %d by fresh evaluation", step, name, got.Count(), want.Count())
			}
			for p := 1; p < snap.Graph.Persons()+1; p++ {
				if got.Contains(uint32(p)) != want.Get(p) {
					c, row := snap.ProfileRow(uint32(p))
					var ls column.Value
					if c != nil {
						d, _ := snap.Profiles.Schema.Lookup(engine.ColLastSeen)
						x, _ := c.Col(d.Index).Int(row)
						ls = column.Micros(x)
					}
					t.Fatalf("step %d: %s: person %d real-time member=%v, fresh=%v (last_seen %v now %v) %s", step, name, p, got.Contains(uint32(p)), want.Get(p), ls.I-clk.Now().UnixMicro(), clk.Now().UnixMicro(), "")
				}
				if replay[name][uint32(p)] != want.Get(p) {
					t.Fatalf("step %d: %s: person %d replayed transitions say member=%v, fresh=%v", step, name, p, replay[name][uint32(p)], want.Get(p))
				}
			}
		}
	}
	if defined < 3 {
		t.Fatalf("only %d segments defined", defined)
	}
}

// seeds is the number of random histories; COHORT_SEGMENT_SEEDS raises it
// for a soak.
var seeds = func() int {
	if n, err := strconv.Atoi(os.Getenv("COHORT_SEGMENT_SEEDS")); err == nil && n > 0 {
		return n
	}
	return 3
}()
