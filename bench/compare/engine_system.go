package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"sort"
	"time"

	"github.com/cohortdb/cohort/bench/gen"
	"github.com/cohortdb/cohort/bench/load"
	"github.com/cohortdb/cohort/engine"
	"github.com/cohortdb/cohort/engine/column"
	"github.com/cohortdb/cohort/engine/expr"
)

// engineSystem answers the query set with the Cohort engine, loaded through
// its ordinary apply path (identify per profile, track per event).
type engineSystem struct {
	eng *engine.Engine // served over SQL by -sql
	ws  *engine.Workspace
	p   params
	now time.Time
}

func newEngineSystem(ctx context.Context, d *gen.Dataset, p params, threads int) (system, error) {
	_ = threads // GOMAXPROCS is already set: the engine sizes its pool from it
	eng := engine.New(engine.Options{})
	w, err := eng.CreateWorkspace(benchWorkspace)
	if err != nil {
		return nil, err
	}
	if err := load.Workspace(ctx, w, d, nil); err != nil {
		return nil, err
	}
	logMemory(w)
	return &engineSystem{eng: eng, ws: w, p: p, now: time.UnixMicro(p.Now)}, nil
}

// logMemory reports the engine's own accounting: bytes per profile and per
// event, and the largest columns.
func logMemory(w *engine.Workspace) {
	mem := w.Memory()
	s := w.Snapshot()
	total := func(m map[string]int64) (n int64) {
		for _, b := range m {
			n += b
		}
		return n
	}
	pb, eb := total(mem[engine.Profiles]), total(mem[engine.Events])
	slog.Info("engine memory",
		"profiles_bytes", pb, "bytes_per_profile", float64(pb)/float64(max(s.Profiles.Live, 1)),
		"events_bytes", eb, "bytes_per_event", float64(eb)/float64(max(s.Events.Live, 1)),
		"identities_bytes", total(mem[engine.Identities]))
	for _, t := range []string{engine.Profiles, engine.Events} {
		for col, b := range mem[t] {
			slog.Debug("engine column memory", "table", t, "column", col, "bytes", b)
		}
	}
	fmt.Fprintf(os.Stderr, "engine memory: %.1f bytes/profile (%d profiles), %.1f bytes/event (%d events)\n",
		float64(pb)/float64(max(s.Profiles.Live, 1)), s.Profiles.Live, float64(eb)/float64(max(s.Events.Live, 1)), s.Events.Live)
	for _, t := range []string{engine.Profiles, engine.Events} {
		cols := make([]string, 0, len(mem[t]))
		for c := range mem[t] {
			cols = append(cols, c)
		}
		sort.Slice(cols, func(i, j int) bool { return mem[t][cols[i]] > mem[t][cols[j]] })
		fmt.Fprintf(os.Stderr, "  %s:", t)
		for _, c := range cols {
			fmt.Fprintf(os.Stderr, " %s=%.1f", c, float64(mem[t][c])/float64(max(map[string]int64{engine.Profiles: s.Profiles.Live, engine.Events: s.Events.Live}[t], 1)))
		}
		fmt.Fprintln(os.Stderr)
	}
}

// benchWorkspace is the engine workspace (and SQL database) of the bench.
const benchWorkspace = "bench"

func (e *engineSystem) name() string { return "cohort" }
func (e *engineSystem) close() error { return nil }

func lit(v column.Value) expr.Const { return expr.Lit(v) }

func (e *engineSystem) q1Cond() engine.Cond {
	p := e.p
	return engine.Where{Expr: expr.And{
		expr.Cmp{Col: "country", Op: expr.Eq, Val: lit(column.String(p.Q1Country))},
		expr.Between{Col: "age", Lo: lit(column.Int(int64(p.Q1AgeLo))), Hi: lit(column.Int(int64(p.Q1AgeHi)))},
		expr.Cmp{Col: "ltv", Op: expr.Gt, Val: lit(column.Float(p.Q1LTVMin))},
		expr.Cmp{Col: "last_seen", Op: expr.Gt, Val: expr.TimeOffset{Offset: -time.Duration(p.Now-p.Q1LastSeenAfter) * time.Microsecond}},
	}}
}

func (e *engineSystem) q4Cond() engine.Did {
	p := e.p
	return engine.Did{Event: p.Q4Event, Since: lit(column.Micros(p.Q4Since)), Op: expr.Ge, N: float64(p.Q4MinCount)}
}

func (e *engineSystem) count(ctx context.Context, c engine.Cond) (int64, error) {
	return e.ws.Snapshot().Count(ctx, engine.Query{Table: engine.Profiles, Where: c, Now: e.now})
}

func (e *engineSystem) q1(ctx context.Context) (int64, error) { return e.count(ctx, e.q1Cond()) }

func (e *engineSystem) q2(ctx context.Context) ([]int64, error) {
	return e.ws.Snapshot().Ints(ctx, engine.Query{Table: engine.Profiles, Where: e.q1Cond(), Now: e.now}, engine.ColPersonID)
}

func (e *engineSystem) q3(ctx context.Context) (map[string]int64, error) {
	gs, err := e.ws.Snapshot().Aggregate(ctx, engine.AggQuery{
		Query:   engine.Query{Table: engine.Profiles, Where: engine.Where{Expr: expr.Cmp{Col: "plan", Op: expr.Eq, Val: lit(column.String(e.p.Q3Plan))}}, Now: e.now},
		GroupBy: []string{"country"},
		Aggs:    []engine.Agg{{Func: engine.AggCount}},
	})
	if err != nil {
		return nil, err
	}
	out := make(map[string]int64, len(gs))
	for _, g := range gs {
		if g.Key[0].Null() {
			return nil, fmt.Errorf("q3: unexpected NULL country group")
		}
		out[g.Key[0].S] = g.Aggs[0].I
	}
	return out, nil
}

func (e *engineSystem) q4(ctx context.Context) (int64, error) { return e.count(ctx, e.q4Cond()) }

func (e *engineSystem) q5(ctx context.Context) (int64, error) {
	p := e.p
	plans := make([]expr.Const, len(p.Q5Plans))
	for i, s := range p.Q5Plans {
		plans[i] = lit(column.String(s))
	}
	return e.count(ctx, engine.AllOf{
		engine.Where{Expr: expr.In{Col: "plan", Vals: plans}},
		e.q4Cond(),
		engine.Negate{Cond: engine.Did{Event: p.Q5Exclude, Since: lit(column.Micros(p.Q4Since)), Op: expr.Ge, N: 1}},
	})
}

func (e *engineSystem) q6(ctx context.Context) (int64, error) {
	return e.count(ctx, engine.Where{Expr: expr.Like{Col: "email", Pattern: "%" + e.p.Q6Suffix}})
}
