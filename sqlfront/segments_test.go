package sqlfront

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	gsql "github.com/dolthub/go-mysql-server/sql"
	"github.com/dolthub/go-mysql-server/sql/plan"
	"github.com/dolthub/go-mysql-server/sql/transform"

	"github.com/cohortdb/cohort/engine"
	"github.com/cohortdb/cohort/engine/column"
	"github.com/cohortdb/cohort/engine/expr"
	"github.com/cohortdb/cohort/engine/identity"
	"github.com/cohortdb/cohort/engine/segment"
)

// startSegments runs a segment registry for the test; onDefine, when not
// nil, receives every stored definition (the server owner's persistence).
func startSegments(t testing.TB, onDefine func(ws string, info segment.Info)) *segment.Registry {
	t.Helper()
	reg := segment.NewRegistry(func(ws string) segment.Options {
		return segment.Options{
			SampleEvery: -1,
			Logger:      slog.New(slog.NewTextHandler(io.Discard, nil)),
			OnDefine: func(info segment.Info) error {
				if onDefine != nil {
					onDefine(ws, info)
				}
				return nil
			},
		}
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		reg.Run(ctx)
		close(done)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	return reg
}

// segmentServer serves a fixture workspace "demo" with segments enabled.
func segmentServer(t testing.TB, n int, onDefine func(ws string, info segment.Info)) (*testServer, *segment.Registry) {
	t.Helper()
	eng := newEngine(t, "demo")
	ws, _ := eng.Workspace("demo")
	fixture(t, ws, n, 7)
	reg := startSegments(t, onDefine)
	ts := startServer(t, eng, func(o *Options) { o.Segments = reg })
	return ts, reg
}

const buyersDef = "SELECT person_id FROM profiles WHERE country = 'US' AND person_id IN " +
	"(SELECT person_id FROM events WHERE name = 'purchase' AND ts > NOW() - INTERVAL 400 DAY GROUP BY person_id HAVING SUM(amount) > 20) " +
	"AND person_id NOT IN (SELECT person_id FROM events WHERE name = 'signup' AND ts > NOW() - INTERVAL 380 DAY)"

func ids(rows [][]string) []string {
	out := make([]string, len(rows))
	for i, r := range rows {
		out[i] = r[0]
	}
	return out
}

func mustExec(t testing.TB, db *sql.DB, q string, args ...any) {
	t.Helper()
	if _, err := db.Exec(q, args...); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
}

func execErr(t testing.TB, db *sql.DB, q string) error {
	t.Helper()
	_, err := db.Exec(q)
	if err == nil {
		t.Fatalf("%s: no error", q)
	}
	return err
}

// TestSegmentViewsTwoConnections defines, replaces and drops segments as
// views from two connections, and reads them through the usual pushdown.
func TestSegmentViewsTwoConnections(t *testing.T) {
	ts, reg := segmentServer(t, 400, nil)
	a := ts.open(t, "root", testPassword, "demo")
	b := ts.open(t, "root", testPassword, "demo")
	a.SetMaxOpenConns(1)
	b.SetMaxOpenConns(1)

	mustExec(t, a, "CREATE VIEW buyers AS "+buyersDef)

	// The other connection sees it at once; COUNT(*) and the ids equal the
	// direct query's.
	direct := query(t, b, buyersDef+" ORDER BY person_id")
	if len(direct) == 0 {
		t.Fatal("fixture: the definition selects nobody")
	}
	if got := query(t, b, "SELECT COUNT(*) FROM buyers"); got[0][0] != fmt.Sprint(len(direct)) {
		t.Fatalf("COUNT(*) FROM buyers = %s, direct query %d", got[0][0], len(direct))
	}
	if got := query(t, b, "SELECT * FROM buyers ORDER BY person_id"); !slices.Equal(ids(got), ids(direct)) {
		t.Fatalf("SELECT * FROM buyers = %v, direct %v", ids(got), ids(direct))
	}
	m, ok := reg.Lookup("demo")
	if !ok {
		t.Fatal("no manager for demo")
	}
	if info, _ := m.Get("buyers"); info.Version != 1 || info.SQL != buyersDef || info.Members != int64(len(direct)) || !info.TimeDependent {
		t.Fatalf("segment: %+v (direct %d)", info, len(direct))
	}

	// Catalog: SHOW FULL TABLES, SHOW CREATE VIEW, information_schema.views.
	tables := query(t, b, "SHOW FULL TABLES")
	if !slices.ContainsFunc(tables, func(r []string) bool { return r[0] == "buyers" && r[1] == "VIEW" }) {
		t.Fatalf("SHOW FULL TABLES: %v", tables)
	}
	for _, name := range []string{SegmentsTable, SegmentMembersTable} {
		if !slices.ContainsFunc(tables, func(r []string) bool { return r[0] == name && r[1] == "BASE TABLE" }) {
			t.Fatalf("SHOW FULL TABLES without %s: %v", name, tables)
		}
	}
	sc := query(t, b, "SHOW CREATE VIEW buyers")
	if sc[0][0] != "buyers" || !strings.Contains(sc[0][1], "CREATE VIEW `buyers` AS") || !strings.Contains(strings.ToLower(sc[0][1]), "interval 400 day") {
		t.Fatalf("SHOW CREATE VIEW: %v", sc)
	}
	// From another database: the view text names its workspace's tables.
	other := ts.open(t, "root", testPassword, "mysql")
	iv := query(t, other, "SELECT table_schema, table_name, view_definition FROM information_schema.views WHERE table_name = 'buyers'")
	if len(iv) != 1 || iv[0][0] != "demo" || !strings.Contains(iv[0][2], "from demo.profiles") {
		t.Fatalf("information_schema.views: %v", iv)
	}

	// segments table.
	seg := query(t, b, "SELECT name, version, definition, members, time_dependent FROM segments")
	if len(seg) != 1 || seg[0][0] != "buyers" || seg[0][1] != "1" || seg[0][2] != buyersDef || seg[0][3] != fmt.Sprint(len(direct)) || seg[0][4] != "1" {
		t.Fatalf("segments: %v", seg)
	}

	// CREATE VIEW of an existing name fails; CREATE OR REPLACE makes
	// version 2, seen by the other connection.
	if err := execErr(t, b, "CREATE VIEW buyers AS SELECT person_id FROM profiles"); !strings.Contains(err.Error(), "already exists") {
		t.Fatalf("CREATE VIEW of an existing segment: %v", err)
	}
	const def2 = "SELECT person_id FROM profiles WHERE vip = TRUE OR person_id IN (SELECT person_id FROM events WHERE name = 'signup')"
	mustExec(t, b, "CREATE OR REPLACE VIEW buyers AS "+def2)
	direct2 := query(t, a, def2+" ORDER BY person_id")
	if got := query(t, a, "SELECT person_id FROM buyers ORDER BY person_id"); !slices.Equal(ids(got), ids(direct2)) {
		t.Fatalf("replaced view = %d ids, direct %d", len(got), len(direct2))
	}
	if got := query(t, a, "SELECT version, definition FROM segments WHERE name = 'buyers'"); got[0][0] != "2" || got[0][1] != def2 {
		t.Fatalf("after replace: %v", got)
	}

	// An invalid replacement is rejected and leaves version 2 in place.
	if err := execErr(t, a, "CREATE OR REPLACE VIEW buyers AS SELECT person_id FROM profiles WHERE LOWER(country) = 'us'"); !strings.Contains(err.Error(), "cannot evaluate") {
		t.Fatalf("invalid replacement: %v", err)
	}
	if got := query(t, b, "SELECT version FROM segments WHERE name = 'buyers'"); got[0][0] != "2" {
		t.Fatalf("after an invalid replacement: version %v", got)
	}

	// A segment cannot take a table's name.
	if err := execErr(t, a, "CREATE VIEW events AS SELECT person_id FROM profiles"); !strings.Contains(err.Error(), "already exists") {
		t.Fatalf("CREATE VIEW events: %v", err)
	}

	// DROP VIEW on one connection, gone on the other.
	mustExec(t, b, "DROP VIEW buyers")
	if _, err := queryErr(a, "SELECT COUNT(*) FROM buyers"); err == nil {
		t.Fatal("dropped view still readable")
	}
	if got := query(t, a, "SELECT COUNT(*) FROM segments"); got[0][0] != "0" {
		t.Fatalf("segments after DROP VIEW: %v", got)
	}
	mustExec(t, a, "DROP VIEW IF EXISTS buyers")
	if err := execErr(t, a, "DROP VIEW buyers"); !strings.Contains(err.Error(), "does not exist") {
		t.Fatalf("DROP VIEW of a dropped view: %v", err)
	}

	// No WHERE: every person with a profile.
	mustExec(t, a, "CREATE VIEW everyone AS SELECT person_id FROM profiles")
	if got, want := query(t, b, "SELECT members FROM segments WHERE name = 'everyone'"), query(t, b, "SELECT COUNT(*) FROM profiles"); got[0][0] != want[0][0] {
		t.Fatalf("everyone: %v members, %v profiles", got, want)
	}
}

// TestSegmentRejections: invalid definitions are rejected at creation,
// with the parser's, the analyzer's or the engine's reason.
func TestSegmentRejections(t *testing.T) {
	ts, _ := segmentServer(t, 50, nil)
	db := ts.open(t, "root", testPassword, "demo")
	cases := []struct{ def, want string }{
		{"SELEC person_id FROM profiles", "syntax error"},
		{"SELECT person_id FROM profiles WHERE nosuchcolumn = 1", "could not be found"},
		{"SELECT person_id FROM profiles WHERE LOWER(country) = 'es'", "cannot evaluate LOWER(country) = 'es' ("},
		{"SELECT person_id FROM profiles WHERE age > 10 AND LOWER(country) = 'es'", "cannot evaluate LOWER(country) = 'es' ("},
		{"SELECT p.person_id FROM profiles p JOIN events e ON e.person_id = p.person_id WHERE e.name = 'purchase'", "joins are not supported"},
		{"SELECT person_id FROM profiles WHERE person_id IN (SELECT person_id FROM events WHERE LOWER(name) = 'purchase')", "cannot evaluate"},
		{"SELECT * FROM profiles", "person_id only"},
		{"SELECT person_id FROM profiles LIMIT 10", "LIMIT"},
		{"SELECT person_id FROM events", "selects from profiles"},
		{"SELECT person_id FROM profiles WHERE signup_at > NOW() - INTERVAL 1 MONTH", "no fixed length"},
		{"SELECT person_id FROM profiles WHERE signup_at > CURDATE()", "relative time must be NOW() ± INTERVAL n unit, not curdate()"},
		{"SELECT person_id FROM profiles WHERE country = 'ES' OR RAND() < 0.5", "is not supported in a segment"},
	}
	for _, c := range cases {
		_, err := db.Exec("CREATE VIEW bad AS " + c.def)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("CREATE VIEW bad AS %s: %v, want %q", c.def, err, c.want)
		}
		_, err = ts.srv.CompileSegment(context.Background(), "demo", c.def)
		if !errors.Is(err, ErrInvalidSegment) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("CompileSegment(%s): %v, want %q", c.def, err, c.want)
		}
	}
	if got := query(t, db, "SELECT COUNT(*) FROM segments"); got[0][0] != "0" {
		t.Fatalf("rejected definitions were stored: %v", got)
	}
	if _, err := db.Exec("CREATE VIEW `bad-name` AS SELECT person_id FROM profiles"); err == nil || !strings.Contains(err.Error(), "invalid segment name") {
		t.Fatalf("invalid name: %v", err)
	}
}

// TestCompileSegmentRelativeTime: NOW() stays relative in the compiled
// condition, and the condition evaluated at any time equals the query
// with NOW() at that time.
func TestCompileSegmentRelativeTime(t *testing.T) {
	ts, _ := segmentServer(t, 300, nil)
	const def = "SELECT person_id FROM profiles WHERE signup_at >= NOW() - INTERVAL 60 DAY AND person_id IN " +
		"(SELECT person_id FROM events WHERE name = 'purchase' AND ts > NOW() - INTERVAL 30 DAY GROUP BY person_id HAVING SUM(amount) > 10) " +
		"AND person_id NOT IN (SELECT person_id FROM events WHERE name = 'page_view' AND ts BETWEEN DATE_SUB(NOW(), INTERVAL 2 WEEK) AND NOW())"
	cond, err := ts.srv.CompileSegment(context.Background(), "demo", def)
	if err != nil {
		t.Fatal(err)
	}
	want := engine.AllOf{
		engine.Where{Expr: expr.And{expr.Cmp{Col: "signup_at", Op: expr.Ge, Val: expr.TimeOffset{Offset: -60 * 24 * time.Hour}}}},
		engine.Did{Event: "purchase", Since: expr.TimeOffset{Offset: -30*24*time.Hour + time.Microsecond}, Agg: engine.AggSum, Prop: "amount", Op: expr.Gt, N: 10},
		engine.Negate{Cond: engine.Did{Event: "page_view", Since: expr.TimeOffset{Offset: -14 * 24 * time.Hour}, Until: expr.TimeOffset{Offset: time.Microsecond}, Op: expr.Ge, N: 1}},
	}
	if fmt.Sprintf("%#v", cond) != fmt.Sprintf("%#v", want) {
		t.Fatalf("condition\n%#v\nwant\n%#v", cond, want)
	}

	// At several times, the condition selects what the query selects with
	// NOW() replaced by that time.
	ws, _ := ts.eng.Workspace("demo")
	snap := ws.Snapshot()
	db := ts.open(t, "root", testPassword, "demo")
	sizes := map[int]bool{}
	for _, at := range []time.Time{t0.Add(-40 * 24 * time.Hour), t0.Add(-5 * 24 * time.Hour), t0, t0.Add(20*24*time.Hour + 1234567*time.Microsecond)} {
		bits, err := snap.PersonSet(context.Background(), cond, at)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for p := bits.Next(0); p >= 0; p = bits.Next(p + 1) {
			got = append(got, fmt.Sprint(p))
		}
		lit := "TIMESTAMP('" + at.UTC().Format("2006-01-02 15:04:05.000000") + "')"
		q := strings.ReplaceAll(def, "NOW()", lit) + " ORDER BY person_id"
		want := ids(query(t, db, q))
		if !slices.Equal(got, want) {
			t.Fatalf("at %s: condition selects %d persons, the query %d", at, len(got), len(want))
		}
		sizes[len(got)] = true
	}
	if len(sizes) < 3 {
		t.Fatalf("the membership does not move with time: sizes %v", sizes)
	}
}

// TestSegmentMembersTable: after ingest, segment_members equals the
// view's person ids; segment and person filters are pushed down.
func TestSegmentMembersTable(t *testing.T) {
	ts, reg := segmentServer(t, 300, nil)
	db := ts.open(t, "root", testPassword, "demo")
	const def = "SELECT person_id FROM profiles WHERE tier = 'pro' OR person_id IN (SELECT person_id FROM events WHERE name = 'add_to_cart')"
	mustExec(t, db, "CREATE VIEW carts AS "+def)
	mustExec(t, db, "CREATE VIEW vips AS SELECT person_id FROM profiles WHERE vip = TRUE")

	// Ingest: new persons and events that change membership.
	ws, _ := ts.eng.Workspace("demo")
	var ops []engine.Op
	for i := 0; i < 40; i++ {
		id := identity.ID{Type: "user_id", Value: fmt.Sprintf("new%d", i)}
		ops = append(ops, engine.Op{Kind: engine.OpIdentify, IDs: []identity.ID{id}, At: t0.UnixMicro(),
			Traits: []engine.Field{{Name: "tier", Value: column.String([]string{"pro", "free"}[i%2])}, {Name: "vip", Value: column.Bool(i%3 == 0)}}})
		if i%4 == 1 {
			ops = append(ops, engine.Op{Kind: engine.OpTrack, IDs: []identity.ID{id}, Event: "add_to_cart", At: t0.UnixMicro()})
		}
	}
	if _, err := ws.Apply(context.Background(), ops); err != nil {
		t.Fatal(err)
	}
	m, _ := reg.Lookup("demo")
	if err := m.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}

	for _, name := range []string{"carts", "vips"} {
		view := ids(query(t, db, "SELECT person_id FROM "+name+" ORDER BY person_id"))
		members := ids(query(t, db, "SELECT person_id FROM segment_members WHERE segment = ? ORDER BY person_id", name))
		if len(view) == 0 || !slices.Equal(view, members) {
			t.Fatalf("%s: view %d ids, segment_members %d", name, len(view), len(members))
		}
		if got := query(t, db, "SELECT members FROM segments WHERE name = ?", name); got[0][0] != fmt.Sprint(len(view)) {
			t.Fatalf("%s: segments.members %v, view %d", name, got, len(view))
		}
	}
	all := query(t, db, "SELECT segment, person_id FROM segment_members")
	nc := len(query(t, db, "SELECT person_id FROM carts"))
	nv := len(query(t, db, "SELECT person_id FROM vips"))
	if len(all) != nc+nv {
		t.Fatalf("segment_members has %d rows, want %d", len(all), nc+nv)
	}
	// A person's memberships, from the manager's Of.
	for _, r := range all[:min(len(all), 20)] {
		p := r[1]
		var want []string
		for _, name := range []string{"carts", "vips"} {
			if len(query(t, db, "SELECT 1 FROM "+name+" WHERE person_id = "+p)) > 0 {
				want = append(want, name)
			}
		}
		got := ids(query(t, db, "SELECT segment FROM segment_members WHERE person_id = "+p+" ORDER BY segment"))
		if !slices.Equal(got, want) {
			t.Fatalf("person %s: segment_members %v, views %v", p, got, want)
		}
	}

	// Pushdown: the scans read only the named segment / person.
	for q, want := range map[string]string{
		"SELECT person_id FROM segment_members WHERE segment = 'vips'":                    "segments [vips], persons all",
		"SELECT segment FROM segment_members WHERE person_id IN (3, 5) AND segment = 'x'": "segments [x], persons [3 5]",
		"SELECT segment FROM segment_members WHERE person_id = 7":                         "segments all, persons [7]",
	} {
		n := analyze(t, ts.srv, "demo", q)
		var got string
		transform.Inspect(n, func(n gsql.Node) bool {
			if ita, ok := n.(*plan.IndexedTableAccess); ok {
				if ix, ok := ita.Index().(*memberIndex); ok {
					segs, persons := ix.sets()
					got = fmt.Sprintf("segments %s, persons %s", setString(segs), setString(persons))
				}
			}
			return true
		})
		if got != want {
			t.Errorf("%s: %q, want %q\n%s", q, got, want, gsql.DebugString(n))
		}
	}
}

// TestSegmentViewCountPushdown: COUNT(*) over a segment view is answered
// by the engine's aggregate.
func TestSegmentViewCountPushdown(t *testing.T) {
	ts, _ := segmentServer(t, 100, nil)
	db := ts.open(t, "root", testPassword, "demo")
	mustExec(t, db, "CREATE VIEW buyers AS "+buyersDef)
	n := analyze(t, ts.srv, "demo", "SELECT COUNT(*) FROM buyers")
	found := false
	transform.Inspect(n, func(n gsql.Node) bool {
		if _, ok := n.(*aggNode); ok {
			found = true
		}
		return true
	})
	if !found {
		t.Fatalf("COUNT(*) over the view is not an engine aggregate:\n%s", gsql.DebugString(n))
	}
}

// TestSegmentRestore: what the server's owner stores through OnDefine
// (the view's SQL) restores the segments with their versions on a new
// server: CompileSegment + Manager.Define with the stored version.
func TestSegmentRestore(t *testing.T) {
	var mu sync.Mutex
	stored := map[string]segment.Info{}
	ts, _ := segmentServer(t, 200, func(ws string, info segment.Info) {
		mu.Lock()
		stored[ws+"/"+info.Name] = info
		mu.Unlock()
	})
	db := ts.open(t, "root", testPassword, "demo")
	mustExec(t, db, "CREATE VIEW buyers AS SELECT person_id FROM profiles WHERE country = 'FR'")
	mustExec(t, db, "CREATE OR REPLACE VIEW buyers AS "+buyersDef)
	want := query(t, db, "SELECT person_id FROM buyers ORDER BY person_id")

	// "Restart": a new registry and server over the same engine.
	reg2 := startSegments(t, nil)
	ts2 := startServer(t, ts.eng, func(o *Options) { o.Segments = reg2 })
	ws, _ := ts.eng.Workspace("demo")
	mu.Lock()
	info := stored["demo/buyers"]
	mu.Unlock()
	cond, err := ts2.srv.CompileSegment(context.Background(), "demo", info.SQL)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := reg2.Manager(ws).Define(context.Background(), segment.Definition{
		Name: info.Name, SQL: info.SQL, Cond: cond, Version: info.Version, CreatedAt: info.CreatedAt,
	}); err != nil {
		t.Fatal(err)
	}
	db2 := ts2.open(t, "root", testPassword, "demo")
	if got := query(t, db2, "SELECT person_id FROM buyers ORDER BY person_id"); !slices.Equal(ids(got), ids(want)) {
		t.Fatalf("restored view: %d ids, before %d", len(got), len(want))
	}
	if got := query(t, db2, "SELECT version FROM segments WHERE name = 'buyers'"); got[0][0] != "2" {
		t.Fatalf("restored version: %v", got)
	}
}

// TestBehaviourTreePushdown: OR / NOT combinations of behavioural
// subqueries and profile predicates are pushed down as one condition and
// give GMS's answer.
func TestBehaviourTreePushdown(t *testing.T) {
	eng := newEngine(t, "demo")
	ws, _ := eng.Workspace("demo")
	fixture(t, ws, 300, 3)
	on := startServer(t, eng, nil)
	off := startServer(t, eng, func(o *Options) { o.DisablePushdown = true })
	dbOn := on.open(t, "root", testPassword, "demo")
	dbOff := off.open(t, "root", testPassword, "demo")
	for _, q := range []string{
		"SELECT person_id FROM profiles WHERE country = 'US' OR person_id IN (SELECT person_id FROM events WHERE name = 'purchase')",
		"SELECT person_id FROM profiles WHERE NOT (country = 'US' OR person_id IN (SELECT person_id FROM events WHERE name = 'purchase'))",
		"SELECT person_id FROM profiles WHERE age > 30 AND (vip = TRUE OR person_id NOT IN (SELECT person_id FROM events WHERE name = 'signup' GROUP BY person_id HAVING COUNT(*) >= 1))",
		"SELECT person_id FROM profiles p WHERE tier = 'pro' OR EXISTS (SELECT 1 FROM events e WHERE e.person_id = p.person_id AND e.amount > 50)",
		"SELECT person_id FROM profiles WHERE (score IS NULL OR person_id IN (SELECT person_id FROM events WHERE qty >= 3)) AND NOT (age < 18 AND person_id IN (SELECT person_id FROM events WHERE name = 'Purchase'))",
	} {
		n := analyze(t, on.srv, "demo", q)
		pushed := true
		transform.Inspect(n, func(n gsql.Node) bool {
			switch n.(type) {
			case *plan.Filter, *plan.JoinNode:
				pushed = false
			}
			return true
		})
		if !pushed {
			t.Errorf("not pushed down: %s\n%s", q, gsql.DebugString(n))
		}
		got := ids(query(t, dbOn, q+" ORDER BY person_id"))
		want := ids(query(t, dbOff, q+" ORDER BY person_id"))
		if !slices.Equal(got, want) {
			t.Errorf("%s: pushdown %d rows, GMS %d", q, len(got), len(want))
		}
		if _, err := on.srv.CompileSegment(context.Background(), "demo", q); err != nil {
			t.Errorf("CompileSegment(%s): %v", q, err)
		}
	}
}

// TestSegmentTimeWindowExit: a definition with NOW() - INTERVAL keeps a
// moving window in the segment manager: a member leaves when the window
// passes, with no new data.
func TestSegmentTimeWindowExit(t *testing.T) {
	eng := newEngine(t, "demo")
	ws, _ := eng.Workspace("demo")
	var mu sync.Mutex
	clock := t0.Add(10 * time.Minute)
	now := func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		return clock
	}
	var exits []segment.Transition
	reg := segment.NewRegistry(func(string) segment.Options {
		return segment.Options{
			Now: now, SampleEvery: -1, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
			OnTransitions: func(ts []segment.Transition) {
				mu.Lock()
				defer mu.Unlock()
				for _, tr := range ts {
					if !tr.Entered {
						exits = append(exits, tr)
					}
				}
			},
		}
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { reg.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	ts := startServer(t, eng, func(o *Options) { o.Segments = reg })

	id := identity.ID{Type: "user_id", Value: "u1"}
	if _, err := ws.Apply(context.Background(), []engine.Op{
		{Kind: engine.OpIdentify, IDs: []identity.ID{id}, At: t0.UnixMicro()},
		{Kind: engine.OpTrack, IDs: []identity.ID{id}, Event: "visit", At: t0.UnixMicro()},
	}); err != nil {
		t.Fatal(err)
	}
	db := ts.open(t, "root", testPassword, "demo")
	mustExec(t, db, "CREATE VIEW recent AS SELECT person_id FROM profiles WHERE person_id IN "+
		"(SELECT person_id FROM events WHERE name = 'visit' AND ts > NOW() - INTERVAL 1 HOUR)")
	if got := query(t, db, "SELECT person_id, time_dependent FROM segment_members JOIN segments ON segments.name = segment_members.segment WHERE segment = 'recent'"); len(got) != 1 || got[0][1] != "1" {
		t.Fatalf("before the window passes: %v", got)
	}
	mu.Lock()
	clock = t0.Add(time.Hour + 2*time.Second)
	mu.Unlock()
	m, _ := reg.Lookup("demo")
	if err := m.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := query(t, db, "SELECT person_id FROM segment_members WHERE segment = 'recent'"); len(got) != 0 {
		t.Fatalf("after the window passed: still %v", got)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(exits) != 1 || exits[0].Cause != segment.CauseTime {
		t.Fatalf("exits: %+v", exits)
	}
}

// TestBehaviourTreeDifferential: random AND / OR / NOT trees of
// behavioural subqueries and profile predicates give GMS's answer with
// pushdown; trees of pushable leaves compile as segments whose condition
// selects the same persons as the query.
func TestBehaviourTreeDifferential(t *testing.T) {
	eng := newEngine(t, "demo")
	ws, _ := eng.Workspace("demo")
	fixture(t, ws, 150, 11)
	onSrv := startServer(t, eng, nil)
	on := onSrv.open(t, "root", testPassword, "demo")
	off := startServer(t, eng, func(o *Options) { o.DisablePushdown = true }).open(t, "root", testPassword, "demo")
	g := &qgen{rng: rand.New(rand.NewPCG(11, 5))}
	profileLeaves := []string{
		"country = 'US'", "tier IN ('pro', 'Pro')", "vip <= TRUE", "vip = FALSE", "age > 30", "age BETWEEN 10 AND 40",
		"score < 20.5", "country LIKE 'F%'", "signup_at > '2026-08-01'", "tags IS NULL", "age IS NULL", "person_id < 150",
		"signup_at >= NOW() - INTERVAL 100 DAY",
	}
	behaviourLeaves := []string{
		"person_id IN (SELECT person_id FROM events WHERE name = 'purchase')",
		"person_id NOT IN (SELECT person_id FROM events WHERE amount > 50)",
		"person_id IN (SELECT person_id FROM events WHERE name = 'page_view' GROUP BY person_id HAVING COUNT(*) >= 2)",
		"person_id IN (SELECT person_id FROM events WHERE qty IS NOT NULL GROUP BY person_id HAVING SUM(qty) > 3)",
		"EXISTS (SELECT 1 FROM events e WHERE e.person_id = p.person_id AND e.name = 'signup')",
		"NOT EXISTS (SELECT 1 FROM events e WHERE e.person_id = p.person_id AND e.ts > NOW() - INTERVAL 60 DAY)",
	}
	var tree func(depth int, random bool) string
	tree = func(depth int, random bool) string {
		if depth == 0 || g.rng.IntN(3) == 0 {
			switch {
			case random && g.rng.IntN(2) == 0:
				return g.behaviour()
			case random:
				return g.pred(profileCols, 1)
			case g.rng.IntN(2) == 0:
				return behaviourLeaves[g.rng.IntN(len(behaviourLeaves))]
			}
			return profileLeaves[g.rng.IntN(len(profileLeaves))]
		}
		switch g.rng.IntN(3) {
		case 0:
			return "NOT (" + tree(depth-1, random) + ")"
		case 1:
			return "(" + tree(depth-1, random) + " OR " + tree(depth-1, random) + ")"
		}
		return "(" + tree(depth-1, random) + " AND " + tree(depth-1, random) + ")"
	}
	fails := 0
	for i := 0; i < 120 && fails < 5; i++ {
		random := i%2 == 0
		def := "SELECT person_id FROM profiles p WHERE " + tree(3, random)
		a, aerr := queryErr(on, def+" ORDER BY person_id")
		b, berr := queryErr(off, def+" ORDER BY person_id")
		if (aerr != nil) != (berr != nil) || !slices.Equal(ids(a), ids(b)) {
			t.Errorf("%s\n on (%d rows, %v)\noff (%d rows, %v)", def, len(a), aerr, len(b), berr)
			fails++
			continue
		}
		if aerr != nil {
			continue
		}
		cond, err := onSrv.srv.CompileSegment(context.Background(), "demo", def)
		if err != nil {
			if random && errors.Is(err, ErrInvalidSegment) {
				continue
			}
			t.Errorf("CompileSegment(%s): %v", def, err)
			fails++
			continue
		}
		// The query's NOW() and the condition's now: the same second.
		bits, err := ws.Snapshot().PersonSet(context.Background(), cond, time.Now().Truncate(time.Second))
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for p := bits.Next(0); p >= 0; p = bits.Next(p + 1) {
			got = append(got, fmt.Sprint(p))
		}
		if !slices.Equal(got, ids(a)) {
			t.Errorf("segment %s: %d persons, the query %d", def, len(got), len(a))
			fails++
		}
	}
}
