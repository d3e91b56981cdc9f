package sqlfront

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	gsql "github.com/dolthub/go-mysql-server/sql"

	"github.com/cohortdb/cohort/engine"
	"github.com/cohortdb/cohort/engine/column"
	"github.com/cohortdb/cohort/engine/expr"
	"github.com/cohortdb/cohort/engine/identity"
)

// memArchive is an EventArchive kept in memory: rows as storage/events
// would have sealed them (all columns by name), with the ranges scanned.
type memArchive struct {
	mu    sync.Mutex
	rows  map[string][]archived
	scans [][2]int64
}

type archived struct {
	cols []string
	vals []column.Value
}

func newMemArchive() *memArchive { return &memArchive{rows: map[string][]archived{}} }

// seal copies the events of ws with ts < before whose event_id is above
// after, like a seal of the snapshot (it does not change the engine).
func (a *memArchive) seal(t testing.TB, ws *engine.Workspace, before, after int64) {
	t.Helper()
	ev := ws.Snapshot().Events
	cols := make([]string, len(ev.Schema.Cols))
	for i, d := range ev.Schema.Cols {
		cols[i] = d.Name
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	err := engine.ForEachRow(context.Background(), ev, func(v []column.Value) error {
		if v[3].I < before && v[0].I > after {
			a.rows[ws.Name()] = append(a.rows[ws.Name()], archived{cols: cols, vals: slices.Clone(v)})
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func (a *memArchive) ScanEvents(ctx context.Context, ws string, from, to time.Time, fn func([]string, []column.Value) error) error {
	a.mu.Lock()
	rows := a.rows[ws]
	a.scans = append(a.scans, [2]int64{from.UnixMicro(), to.UnixMicro()})
	a.mu.Unlock()
	lo, hi := from.UnixMicro(), to.UnixMicro()
	for _, r := range rows {
		if err := ctx.Err(); err != nil {
			return err
		}
		if at := r.vals[3].I; at >= lo && at < hi {
			if err := fn(r.cols, r.vals); err != nil {
				return err
			}
		}
	}
	return nil
}

func (a *memArchive) scanCount() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.scans)
}

func (a *memArchive) lastScan() [2]int64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.scans[len(a.scans)-1]
}

func maxEventID(ws *engine.Workspace) int64 { return ws.Export().NextEvent - 1 }

// roundFloats makes float cells comparable across row orders: SUM/AVG of
// DOUBLE may differ in the last bits when rows come in another order.
func roundFloats(r [][]string) [][]string {
	out := make([][]string, len(r))
	for i, row := range r {
		out[i] = slices.Clone(row)
		if i == 0 {
			continue // column types
		}
		for j, c := range row {
			if strings.ContainsAny(c, ".e") {
				if f, err := strconv.ParseFloat(c, 64); err == nil {
					out[i][j] = strconv.FormatFloat(f, 'g', 10, 64)
				}
			}
		}
	}
	return out
}

// TestEventWindowDifferential runs the differential test's random queries
// over three servers: a workspace holding every event in memory, the same
// workspace with the events of before a horizon dropped from memory and
// served from an archive (pushdown on), and that one with pushdown off
// (GMS evaluates everything). Late events below the horizon (in memory,
// also in the archive) test that no event is read twice.
func TestEventWindowDifferential(t *testing.T) {
	seed := uint64(11)
	switch *diffSeed {
	case "1": // the default: keep this test's own seed
	case "random":
		seed = uint64(time.Now().UnixNano())
	default:
		s, err := strconv.ParseUint(*diffSeed, 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		seed = s
	}
	t.Logf("seed %d (rerun with -args -sqlfront.seed=%d)", seed, seed)
	full, win := newEngine(t, "demo"), newEngine(t, "demo")
	fws, _ := full.Workspace("demo")
	wws, _ := win.Workspace("demo")
	fixture(t, fws, 300, seed)
	fixture(t, wws, 300, seed)
	horizon := t0.AddDate(0, 0, -30).UnixMicro()
	arch := newMemArchive()
	arch.seal(t, wws, horizon, 0)
	through := maxEventID(wws)
	if _, _, err := wws.DropEventsBefore(horizon, through); err != nil {
		t.Fatal(err)
	}
	late := []engine.Op{
		{Kind: engine.OpTrack, IDs: uid("u5"), Event: "purchase", At: horizon - 1, Props: []engine.Field{{Name: "qty", Value: column.Int(2)}}},
		{Kind: engine.OpTrack, IDs: uid("u6"), Event: "page_view", At: horizon - 5*24*3600e6},
		{Kind: engine.OpTrack, IDs: uid("u7"), Event: "signup", At: horizon},
	}
	apply(t, fws, late...)
	apply(t, wws, late...)
	arch.seal(t, wws, horizon, through) // sealed since: on disk and in memory
	if n, m := fws.Snapshot().Events.Live, wws.Snapshot().Events.Live; m >= n*3/4 {
		t.Fatalf("%d of %d events still in memory: the horizon drops too little", m, n)
	}

	ref := startServer(t, full, nil).open(t, "root", testPassword, "demo")
	onSrv := startServer(t, win, func(o *Options) { o.EventArchive = arch })
	on := onSrv.open(t, "root", testPassword, "demo")
	off := startServer(t, win, func(o *Options) { o.EventArchive = arch; o.DisablePushdown = true }).open(t, "root", testPassword, "demo")

	hz := time.UnixMicro(horizon).UTC().Format("2006-01-02 15:04:05.999999")
	fixed := []string{
		"SELECT COUNT(*) FROM events",
		"SELECT name, COUNT(*), SUM(qty), MIN(ts), MAX(ts) FROM events GROUP BY name",
		"SELECT COUNT(*), MIN(event_id), MAX(event_id) FROM events WHERE ts < '" + hz + "'",
		"SELECT COUNT(*), MIN(event_id), MAX(event_id) FROM events WHERE ts >= '" + hz + "'",
		"SELECT event_id, person_id, name, ts FROM events WHERE ts = '" + hz + "' ORDER BY event_id",
		"SELECT event_id, person_id, name, ts FROM events WHERE ts BETWEEN '" + hz + "' - INTERVAL 2 DAY AND '" + hz + "' + INTERVAL 1 DAY ORDER BY event_id",
		"SELECT event_id, ts, qty FROM events WHERE ts > '" + hz + "' - INTERVAL 1 SECOND AND ts < '" + hz + "' + INTERVAL 1 SECOND ORDER BY event_id",
		"SELECT name, COUNT(DISTINCT person_id) FROM events WHERE ts >= '2026-09-15' AND ts < '2026-10-15' GROUP BY name",
		"SELECT person_id, COUNT(*) FROM events WHERE name = 'purchase' GROUP BY person_id ORDER BY person_id",
		"SELECT COUNT(*) FROM profiles p WHERE person_id IN (SELECT person_id FROM events WHERE name = 'purchase' AND ts < '" + hz + "')",
		"SELECT COUNT(*) FROM profiles p WHERE person_id IN (SELECT person_id FROM events WHERE ts >= '2026-09-01' GROUP BY person_id HAVING COUNT(*) >= 3)",
		"SELECT COUNT(*) FROM profiles p WHERE person_id NOT IN (SELECT person_id FROM events WHERE name = 'signup')",
		"SELECT person_id FROM profiles p WHERE EXISTS (SELECT 1 FROM events e WHERE e.person_id = p.person_id AND e.name = 'add_to_cart') ORDER BY person_id",
		"SELECT COUNT(*) FROM profiles p WHERE person_id IN (SELECT person_id FROM events WHERE name = 'purchase' AND ts >= '" + hz + "')",
		"SELECT COUNT(*) FROM events WHERE person_id IN (SELECT person_id FROM events WHERE name = 'purchase' AND ts < '2026-09-20')",
		"SELECT e.name, COUNT(*) FROM events e JOIN profiles p ON p.person_id = e.person_id WHERE p.country = 'US' GROUP BY e.name",
		"SELECT event_id FROM events WHERE event_id IN (1, 2, 3, 500, 1000) ORDER BY event_id",
	}
	for _, q := range fixed {
		a, aerr := diffRun(on, q)
		b, berr := diffRun(off, q)
		c, cerr := diffRun(ref, q)
		if aerr != nil || berr != nil || cerr != nil {
			t.Fatalf("%s: %v / %v / %v", q, aerr, berr, cerr)
		}
		for _, r := range [][][]string{a, b, c} {
			slices.SortFunc(r[1:], compareRows)
		}
		if !slices.EqualFunc(a, b, slices.Equal) {
			t.Errorf("%s\n window, pushdown: %v\n window, GMS:      %v", q, head(a), head(b))
		}
		if !slices.EqualFunc(roundFloats(a), roundFloats(c), slices.Equal) {
			t.Errorf("%s\n window: %v\n memory: %v", q, head(a), head(c))
		}
	}

	g := &qgen{rng: rand.New(rand.NewPCG(seed, 7))}
	fails := 0
	for i := 0; i < *diffN && fails < 10; i++ {
		q, ordered := g.query()
		a, aerr := diffRun(on, q)
		b, berr := diffRun(off, q)
		c, cerr := diffRun(ref, q)
		if (aerr != nil) != (berr != nil) || (aerr != nil) != (cerr != nil) {
			t.Errorf("query %d: %s\n window: %v\n GMS: %v\n memory: %v", i, q, aerr, berr, cerr)
			fails++
			continue
		}
		if aerr != nil {
			continue
		}
		if !ordered {
			for _, r := range [][][]string{a, b, c} {
				slices.SortFunc(r[1:], compareRows)
			}
		}
		if !slices.EqualFunc(a, b, slices.Equal) || !slices.EqualFunc(roundFloats(a), roundFloats(c), slices.Equal) {
			t.Errorf("query %d: %s\n window (%d rows): %v\n GMS (%d rows): %v\n memory (%d rows): %v", i, q, len(a)-1, head(a), len(b)-1, head(b), len(c)-1, head(c))
			fails++
		}
	}

	// Pruning: a query over memory's range never opens the archive; one
	// reaching before the horizon reads only up to it.
	n := arch.scanCount()
	query(t, on, "SELECT COUNT(*) FROM events WHERE ts >= '"+hz+"'")
	if arch.scanCount() != n {
		t.Errorf("a query after the horizon scanned the archive")
	}
	query(t, on, fmt.Sprintf("SELECT COUNT(*) FROM events WHERE event_id > %d", through))
	if arch.scanCount() != n {
		t.Errorf("a query of events newer than the window's last scanned the archive")
	}
	query(t, on, "SELECT COUNT(*) FROM events WHERE ts >= '2026-09-10' AND ts < '2026-12-01'")
	if s := arch.lastScan(); s != [2]int64{time.Date(2026, 9, 10, 0, 0, 0, 0, time.UTC).UnixMicro(), horizon} {
		t.Errorf("archive scanned over [%d, %d)", s[0], s[1])
	}

	// Plans: behaviour and aggregates stay pushed down inside the window,
	// are left to GMS when they reach before it.
	plan := func(q string) string { return gsql.DebugString(analyze(t, onSrv.srv, "demo", q)) }
	for q, want := range map[string]string{
		"SELECT COUNT(*) FROM profiles p WHERE person_id IN (SELECT person_id FROM events WHERE name = 'purchase' AND ts >= '" + hz + "')": "cohort.did",
		"SELECT name, COUNT(*) FROM events WHERE ts >= '" + hz + "' GROUP BY name":                                                         "CohortAggregate",
	} {
		if p := plan(q); !strings.Contains(p, want) {
			t.Errorf("%s: no %s in the plan:\n%s", q, want, p)
		}
	}
	for _, q := range []string{
		"SELECT COUNT(*) FROM profiles p WHERE person_id IN (SELECT person_id FROM events WHERE name = 'purchase')",
		"SELECT name, COUNT(*) FROM events WHERE ts >= '2026-09-01' GROUP BY name",
	} {
		if p := plan(q); strings.Contains(p, "cohort.did") || strings.Contains(p, "CohortAggregate") {
			t.Errorf("%s: pushed down over memory only:\n%s", q, p)
		}
	}
}

// TestEventWindowBoundary checks the split at the horizon with whole
// chunks dropped: 150,000 events a minute apart, events exactly at the
// horizon and a microsecond before it, and an erased person whose events
// the archive still holds.
func TestEventWindowBoundary(t *testing.T) {
	full, win := newEngine(t, "demo"), newEngine(t, "demo")
	fws, _ := full.Workspace("demo")
	wws, _ := win.Workspace("demo")
	start := time.Date(2026, 7, 1, 0, 0, 0, 0, time.UTC)
	horizon := start.AddDate(0, 0, 60).UnixMicro()
	var ops []engine.Op
	load := func() {
		apply(t, fws, ops...)
		apply(t, wws, ops...)
		ops = ops[:0]
	}
	for i := range 150_000 {
		at := start.Add(time.Duration(i) * time.Minute).UnixMicro()
		switch i {
		case 90_000: // in the second chunk, which straddles the horizon
			at = horizon
		case 90_001:
			at = horizon - 1
		}
		ops = append(ops, engine.Op{Kind: engine.OpTrack, IDs: uid(fmt.Sprint("u", i%400)), Event: eventNames[i%len(eventNames)], At: at,
			Props: []engine.Field{{Name: "qty", Value: column.Int(int64(i % 7))}}})
		if len(ops) == 5000 {
			load()
		}
	}
	load()
	arch := newMemArchive()
	arch.seal(t, wws, horizon, 0)
	chunks, _, err := wws.DropEventsBefore(horizon, maxEventID(wws))
	if err != nil || chunks == 0 {
		t.Fatalf("dropped %d chunks: %v", chunks, err)
	}
	// Erase a person in both: the archive keeps its events (storage's
	// erasure would rewrite them); the table must not show them.
	for _, ws := range []*engine.Workspace{fws, wws} {
		apply(t, ws, engine.Op{Kind: engine.OpDelete, IDs: uid("u3"), At: horizon + 1})
	}
	ref := startServer(t, full, nil).open(t, "root", testPassword, "demo")
	on := startServer(t, win, func(o *Options) { o.EventArchive = arch }).open(t, "root", testPassword, "demo")
	hz := time.UnixMicro(horizon).UTC().Format("2006-01-02 15:04:05.999999")
	for _, q := range []string{
		"SELECT COUNT(*), SUM(qty), MIN(ts), MAX(ts), COUNT(DISTINCT person_id) FROM events",
		"SELECT name, COUNT(*) FROM events GROUP BY name ORDER BY name",
		"SELECT event_id, ts FROM events WHERE ts >= '" + hz + "' - INTERVAL 1 MICROSECOND AND ts <= '" + hz + "' ORDER BY event_id",
		"SELECT COUNT(*) FROM events WHERE ts < '" + hz + "'",
		"SELECT COUNT(*) FROM events WHERE ts >= '" + hz + "'",
		"SELECT COUNT(*) FROM events WHERE ts >= '2026-08-20' AND ts < '2026-09-10'",
		"SELECT event_id FROM events ORDER BY ts LIMIT 3",
		"SELECT COUNT(*) FROM profiles WHERE person_id IN (SELECT person_id FROM events WHERE name = 'signup' AND ts < '2026-07-02')",
	} {
		a, c := query(t, on, q), query(t, ref, q)
		if fmt.Sprint(a) != fmt.Sprint(c) {
			t.Errorf("%s\n window: %v\n memory: %v", q, a, c)
		}
	}
	want(t, "rows at the boundary", query(t, on, "SELECT event_id, ts = '"+hz+"' FROM events WHERE ts >= '"+hz+"' - INTERVAL 1 MICROSECOND AND ts <= '"+hz+"' ORDER BY event_id"),
		row("86401", "1"), row("90001", "1"), row("90002", "0"))
}

// TestEventWindowNoArchive: a scan that needs the archive fails clearly
// when none is configured; one inside the window works.
func TestEventWindowNoArchive(t *testing.T) {
	eng := newEngine(t, "demo")
	ws, _ := eng.Workspace("demo")
	apply(t, ws,
		engine.Op{Kind: engine.OpTrack, IDs: []identity.ID{{Type: "user_id", Value: "a"}}, Event: "old", At: t0.AddDate(0, 0, -10).UnixMicro()},
		engine.Op{Kind: engine.OpTrack, IDs: []identity.ID{{Type: "user_id", Value: "a"}}, Event: "new", At: t0.UnixMicro()})
	if _, _, err := ws.DropEventsBefore(t0.AddDate(0, 0, -1).UnixMicro(), 2); err != nil {
		t.Fatal(err)
	}
	db := startServer(t, eng, nil).open(t, "root", testPassword, "demo")
	want(t, "inside the window", query(t, db, "SELECT name FROM events WHERE ts >= '2026-10-31'"), row("new"))
	// A behaviour tree (OR) whose event leaf stays inside the window is
	// answered from memory, as a lone IN is.
	in := "person_id IN (SELECT person_id FROM events WHERE ts >= '2026-10-31')"
	want(t, "subquery inside the window", query(t, db, "SELECT person_id FROM profiles WHERE "+in), row("1"))
	want(t, "OR tree inside the window", query(t, db, "SELECT person_id FROM profiles WHERE person_id = 99 OR "+in), row("1"))
	if _, err := queryErr(db, "SELECT name FROM events"); err == nil || !strings.Contains(err.Error(), "no event archive") {
		t.Fatalf("scan past the window without archive: %v", err)
	}
}

// TestTSBounds: the ts range an events scan reads from the archive.
func TestTSBounds(t *testing.T) {
	now := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	us := func(s string) int64 {
		x, err := time.Parse(time.DateOnly, s)
		if err != nil {
			t.Fatal(err)
		}
		return x.UnixMicro()
	}
	ts := func(s string) expr.Lit { return expr.Lit(column.Micros(us(s))) }
	cmp := func(op expr.Op, s string) expr.Expr { return expr.Cmp{Col: engine.ColTS, Op: op, Val: ts(s)} }
	for i, c := range []struct {
		x      expr.Expr
		lo, hi int64
	}{
		{cmp(expr.Ge, "2026-10-01"), us("2026-10-01"), maxMicros},
		{cmp(expr.Lt, "2026-10-01"), minMicros, us("2026-10-01")},
		{cmp(expr.Le, "2026-10-01"), minMicros, us("2026-10-01") + 1},
		{expr.And{cmp(expr.Gt, "2026-10-01"), cmp(expr.Lt, "2026-10-05"), expr.Cmp{Col: "qty", Op: expr.Eq, Val: expr.Lit(column.Int(3))}}, us("2026-10-01") + 1, us("2026-10-05")},
		{expr.Or{cmp(expr.Lt, "2026-10-01"), cmp(expr.Ge, "2026-10-05")}, minMicros, maxMicros},
		{expr.Or{expr.And{cmp(expr.Ge, "2026-10-01"), cmp(expr.Lt, "2026-10-02")}, expr.And{cmp(expr.Ge, "2026-10-04"), cmp(expr.Lt, "2026-10-05")}}, us("2026-10-01"), us("2026-10-05")},
		{expr.Or{cmp(expr.Ge, "2026-10-01"), expr.Cmp{Col: "qty", Op: expr.Eq, Val: expr.Lit(column.Int(3))}}, minMicros, maxMicros},
		{expr.In{Col: engine.ColTS, Vals: []expr.Const{ts("2026-10-03"), nil, ts("2026-10-01")}}, us("2026-10-01"), us("2026-10-03") + 1},
		{expr.In{Col: engine.ColTS, Vals: []expr.Const{ts("2026-10-03")}, Not: true}, minMicros, maxMicros},
		{expr.Between{Col: engine.ColTS, Lo: ts("2026-10-01"), Hi: ts("2026-10-02")}, us("2026-10-01"), us("2026-10-02") + 1},
		{expr.Not{Arg: cmp(expr.Lt, "2026-10-01")}, minMicros, maxMicros},
		{expr.Cmp{Col: engine.ColTS, Op: expr.Gt, Val: expr.Ago(24 * time.Hour)}, now.Add(-24*time.Hour).UnixMicro() + 1, maxMicros},
		{expr.Cmp{Col: engine.ColTS, Op: expr.Eq}, 0, 0},
	} {
		if lo, hi := tsBounds(c.x, now); lo != c.lo || hi != c.hi {
			t.Errorf("case %d %v: [%d, %d), want [%d, %d)", i, c.x, lo, hi, c.lo, c.hi)
		}
	}
	id := func(op expr.Op, v column.Value) expr.Expr {
		return expr.Cmp{Col: engine.ColEventID, Op: op, Val: expr.Lit(v)}
	}
	for i, c := range []struct {
		x      expr.Expr
		lo, hi int64
	}{
		{id(expr.Gt, column.Int(100)), 101, maxMicros},
		{expr.And{id(expr.Ge, column.Int(5)), id(expr.Le, column.Int(9))}, 5, 10},
		{id(expr.Gt, column.Float(2.5)), minMicros, maxMicros},
		{cmp(expr.Ge, "2026-10-01"), minMicros, maxMicros},
	} {
		if lo, hi := colBounds(c.x, engine.ColEventID, column.TypeInt, now); lo != c.lo || hi != c.hi {
			t.Errorf("event_id case %d %v: [%d, %d), want [%d, %d)", i, c.x, lo, hi, c.lo, c.hi)
		}
	}
}
