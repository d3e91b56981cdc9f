package sqlfront

import (
	"context"
	"errors"
	"fmt"
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
	"github.com/cohortdb/cohort/engine/segment"
)

// memSizes is a SegmentSizesFunc over samples kept in memory; it records
// every read (segment, from, to) and fails when err is set.
type memSizes struct {
	mu      sync.Mutex
	samples map[string][]segment.Sample // workspace → samples, oldest first
	reads   []string
	err     error
}

func (m *memSizes) sizes(ctx context.Context, ws, seg string, from, to time.Time) ([]segment.Sample, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.reads = append(m.reads, fmt.Sprintf("%s %s [%s, %s)", ws, seg, fmtTime(from), fmtTime(to)))
	if m.err != nil {
		return nil, m.err
	}
	var out []segment.Sample
	for _, s := range m.samples[ws] {
		if (seg == "" || s.Segment == seg) && (from.IsZero() || !s.At.Before(from)) && (to.IsZero() || s.At.Before(to)) {
			out = append(out, s)
		}
	}
	return out, ctx.Err()
}

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format("01-02 15:04:05.999999")
}

func (m *memSizes) takeReads() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	r := m.reads
	m.reads = nil
	return r
}

// segHistSelection returns the bound selection of the scans of table in
// the analyzed plan of q.
func segHistSelection(t *testing.T, s *Server, q string) []string {
	t.Helper()
	n := analyze(t, s, "demo", q)
	var out []string
	var walk func(n gsql.Node)
	walk = func(n gsql.Node) {
		transform.Inspect(n, func(n gsql.Node) bool {
			if ita, ok := n.(*plan.IndexedTableAccess); ok {
				if ix, ok := ita.Index().(*segHistIndex); ok {
					out = append(out, ix.selection().String())
				}
			}
			if ex, ok := n.(gsql.Expressioner); ok {
				for _, e := range ex.Expressions() {
					transform.InspectExpr(e, func(x gsql.Expression) bool {
						if sq, ok := x.(*plan.Subquery); ok && sq.Query != nil {
							walk(sq.Query)
						}
						return false
					})
				}
			}
			return true
		})
	}
	walk(n)
	return out
}

// TestSegmentSizesTable: segment_sizes serves the source's samples; the
// segment and sampled_at conjuncts become the reads asked of the source,
// the answers equal those without pushdown, and the source's errors are
// the query's.
func TestSegmentSizesTable(t *testing.T) {
	eng := newEngine(t, "demo", "other")
	base := time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)
	src := &memSizes{samples: map[string][]segment.Sample{}}
	for i := range 12 {
		at := base.Add(time.Duration(i) * 10 * time.Minute).Add(123 * time.Microsecond)
		for k, seg := range []string{"buyers", "vips", "trial"} {
			src.samples["demo"] = append(src.samples["demo"], segment.Sample{Segment: seg, Version: int64(1 + i/6), At: at, Members: int64(100*k + i)})
		}
	}
	src.samples["other"] = []segment.Sample{{Segment: "secret", Version: 1, At: base, Members: 7}}
	ts := startServer(t, eng, func(o *Options) { o.SegmentSizes = src.sizes })
	off := startServer(t, eng, func(o *Options) { o.SegmentSizes = src.sizes; o.DisablePushdown = true })
	db := ts.open(t, "root", testPassword, "demo")
	dbOff := off.open(t, "root", testPassword, "demo")

	t.Run("metadata", func(t *testing.T) {
		want(t, "describe", query(t, db, "DESCRIBE segment_sizes"),
			row("segment", "varchar(16383)", "NO", "", "NULL", ""),
			row("version", "bigint", "NO", "", "NULL", ""),
			row("sampled_at", "datetime(6)", "NO", "", "NULL", ""),
			row("members", "bigint", "NO", "", "NULL", ""))
		if tables := ids(query(t, db, "SHOW TABLES")); !slices.Contains(tables, SegmentSizesTable) || slices.Contains(tables, SegmentMembersAsOfTable) {
			t.Errorf("SHOW TABLES: %v", tables)
		}
		plain := startServer(t, eng, nil).open(t, "root", testPassword, "demo")
		if tables := ids(query(t, plain, "SHOW TABLES")); slices.Contains(tables, SegmentSizesTable) {
			t.Errorf("without a source, SHOW TABLES: %v", tables)
		}
		query(t, db, "SHOW CREATE TABLE segment_sizes")
	})

	t.Run("rows", func(t *testing.T) {
		src.takeReads()
		got := query(t, db, "SELECT segment, version, sampled_at, members FROM segment_sizes WHERE segment = 'vips' ORDER BY sampled_at LIMIT 2")
		want(t, "vips", got,
			row("vips", "1", "2026-05-01T10:00:00.000123Z", "100"),
			row("vips", "1", "2026-05-01T10:10:00.000123Z", "101"))
		want(t, "reads", [][]string{src.takeReads()}, []string{"demo vips [-, -)"})
		if n := query(t, db, "SELECT COUNT(*) FROM segment_sizes"); n[0][0] != "36" {
			t.Errorf("COUNT(*) = %v, want 36", n)
		}
		want(t, "reads of a full scan", [][]string{src.takeReads()}, []string{"demo  [-, -)"})
		// The growth of a segment, as a marketer asks for it.
		want(t, "growth", query(t, db, "SELECT MAX(members) - MIN(members) FROM segment_sizes WHERE segment = 'trial' AND sampled_at >= '2026-05-01 11:00'"), row("5"))
		// Another workspace's samples are its own.
		other := ts.open(t, "root", testPassword, "other")
		want(t, "other", query(t, other, "SELECT segment, members FROM segment_sizes"), row("secret", "7"))
	})

	t.Run("pushdown", func(t *testing.T) {
		for q, exp := range map[string]string{
			"SELECT * FROM segment_sizes WHERE segment = 'vips'":                                                                       "segments [vips], time [-inf, +inf)",
			"SELECT * FROM segment_sizes WHERE segment IN ('vips', 'buyers') AND segment <> 'x'":                                       "segments [buyers vips], time [-inf, +inf)",
			"SELECT * FROM segment_sizes WHERE sampled_at >= '2026-05-01 10:30' AND sampled_at < '2026-05-01 11:00'":                   "segments all, time [2026-05-01 10:30:00, 2026-05-01 11:00:00)",
			"SELECT * FROM segment_sizes WHERE segment = 'trial' AND sampled_at BETWEEN '2026-05-01 10:30' AND '2026-05-01 11:00'":     "segments [trial], time [2026-05-01 10:30:00, 2026-05-01 11:00:00.000001)",
			"SELECT * FROM segment_sizes WHERE segment = 'a' AND segment = 'b'":                                                        "segments [], time [-inf, +inf)",
			"SELECT * FROM segment_sizes WHERE members > 3 AND (sampled_at < '2026-05-01' OR sampled_at > '2026-06-01')":               "", // no bound: no lookup
			"SELECT * FROM segment_sizes WHERE sampled_at = '2026-05-01 10:00:00.000123'":                                              "segments all, time [2026-05-01 10:00:00.000123, 2026-05-01 10:00:00.000124), at [2026-05-01 10:00:00.000123]",
			"SELECT * FROM segment_sizes o WHERE EXISTS (SELECT 1 FROM segment_sizes i WHERE o.segment = 'vips' AND i.members > 1000)": "segments [vips], time [-inf, +inf)", // the outer scan: GMS moves the outer predicate there
		} {
			got := strings.Join(segHistSelection(t, ts.srv, q), "; ")
			if got != exp {
				t.Errorf("%s:\n got %q\nwant %q", q, got, exp)
			}
		}
		src.takeReads()
		query(t, db, "SELECT * FROM segment_sizes WHERE segment IN ('vips', 'buyers') AND sampled_at > '2026-05-01 10:30' AND sampled_at <= '2026-05-01 11:00'")
		want(t, "reads", [][]string{src.takeReads()}, []string{"demo buyers [05-01 10:30:00.000001, 05-01 11:00:00.000001)", "demo vips [05-01 10:30:00.000001, 05-01 11:00:00.000001)"})
		query(t, db, "SELECT * FROM segment_sizes WHERE segment = 'a' AND segment = 'b'")
		if r := src.takeReads(); len(r) != 0 {
			t.Errorf("an empty segment set read %v", r)
		}
	})

	t.Run("differential", func(t *testing.T) {
		for _, q := range []string{
			"SELECT * FROM segment_sizes WHERE segment = 'vips'",
			"SELECT * FROM segment_sizes WHERE segment IN ('vips', 'nope') AND sampled_at BETWEEN '2026-05-01 10:20' AND '2026-05-01 11:10:00.000123'",
			"SELECT * FROM segment_sizes WHERE sampled_at > '2026-05-01 10:20:00.000123' OR segment = 'trial'",
			"SELECT * FROM segment_sizes WHERE sampled_at IN ('2026-05-01 10:20:00.000123', '2026-05-01 11:40:00.000123') AND segment <> 'vips'",
			"SELECT * FROM segment_sizes WHERE sampled_at = '2026-05-01 10:20'",
			"SELECT segment, COUNT(*), MAX(members) FROM segment_sizes WHERE version = 2 GROUP BY segment",
			"SELECT o.segment, o.members FROM segment_sizes o WHERE o.sampled_at < '2026-05-01 10:15' AND EXISTS (SELECT 1 FROM segment_sizes i WHERE i.segment = o.segment AND o.segment = 'vips' AND i.sampled_at > '2026-05-01 11:45')",
			"SELECT a.segment, b.segment FROM segment_sizes a JOIN segment_sizes b ON a.sampled_at = b.sampled_at WHERE a.segment = 'vips' AND b.segment = 'trial' AND a.members > 105",
		} {
			a, aerr := queryErr(db, q)
			b, berr := queryErr(dbOff, q)
			if aerr != nil || berr != nil {
				t.Errorf("%s: %v / %v", q, aerr, berr)
				continue
			}
			slices.SortFunc(a, slices.Compare)
			slices.SortFunc(b, slices.Compare)
			if !slices.EqualFunc(a, b, slices.Equal) {
				t.Errorf("%s:\n pushdown %v\n     GMS %v", q, a, b)
			}
		}
	})

	t.Run("errors", func(t *testing.T) {
		src.mu.Lock()
		src.err = errors.New("stream unavailable")
		src.mu.Unlock()
		defer func() { src.mu.Lock(); src.err = nil; src.mu.Unlock() }()
		_, err := queryErr(db, "SELECT * FROM segment_sizes WHERE segment = 'vips'")
		if err == nil || !strings.Contains(err.Error(), "stream unavailable") || !strings.Contains(err.Error(), "demo.segment_sizes") {
			t.Errorf("source error: %v", err)
		}
	})
}

// asOfFake is a MembersAsOfFunc: the persons the condition selects now
// among those created at or before at (a stand-in for storage/asof, with
// an answer the test can compute in SQL). It records every call and fails
// for the conditions fail names a column of.
type asOfFake struct {
	mu    sync.Mutex
	calls []string
	fail  error
}

func (f *asOfFake) members(ctx context.Context, snap *engine.Snapshot, cond engine.Cond, at time.Time) (column.Bitmap, error) {
	f.mu.Lock()
	f.calls = append(f.calls, fmt.Sprintf("%s@%d %s", snap.Workspace, snap.Seq, at.UTC().Format(time.RFC3339Nano)))
	fail := f.fail
	f.mu.Unlock()
	if fail != nil {
		return nil, fmt.Errorf("cannot evaluate membership of %s as of %s: %w", snap.Workspace, at.UTC().Format(time.RFC3339Nano), fail)
	}
	created := engine.Where{Expr: expr.Cmp{Col: engine.ColCreatedAt, Op: expr.Le, Val: expr.Lit(column.Micros(at.UnixMicro()))}}
	return snap.PersonSet(ctx, engine.AllOf{cond, created}, at)
}

func (f *asOfFake) takeCalls() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := f.calls
	f.calls = nil
	return c
}

// TestSegmentMembersAsOfTable: segment_members_as_of lists, for the pinned
// segments and times, the persons MembersAsOf reports for the segment's
// condition over the query's snapshot; a query that does not pin both is
// refused with a message naming both predicates; unknown segments and the
// source's errors are the query's errors.
func TestSegmentMembersAsOfTable(t *testing.T) {
	eng := newEngine(t, "demo")
	ws, _ := eng.Workspace("demo")
	fixture(t, ws, 400, 11)
	reg := startSegments(t, nil)
	fake := &asOfFake{}
	ts := startServer(t, eng, func(o *Options) { o.Segments = reg; o.MembersAsOf = fake.members })
	db := ts.open(t, "root", testPassword, "demo")
	db.SetMaxOpenConns(1)
	mustExec(t, db, "CREATE VIEW pro AS SELECT person_id FROM profiles WHERE tier = 'pro'")
	mustExec(t, db, "CREATE VIEW us AS SELECT person_id FROM profiles WHERE country = 'US' AND vip = TRUE")
	at1, at2 := "2026-09-15 12:00:00", "2026-10-20 00:00:00.5"
	oracle := func(def, at string) []string {
		return ids(query(t, db, "SELECT person_id FROM profiles WHERE ("+def+") AND created_at <= '"+at+"' ORDER BY person_id"))
	}
	proAt1, proAt2, usAt2 := oracle("tier = 'pro'", at1), oracle("tier = 'pro'", at2), oracle("country = 'US' AND vip = TRUE", at2)
	if len(proAt1) == 0 || len(proAt1) >= len(proAt2) || len(usAt2) == 0 {
		t.Fatalf("fixture: %d pro members at %s, %d at %s, %d us at %s", len(proAt1), at1, len(proAt2), at2, len(usAt2), at2)
	}

	t.Run("metadata", func(t *testing.T) {
		want(t, "describe", query(t, db, "DESCRIBE segment_members_as_of"),
			row("segment", "varchar(16383)", "NO", "", "NULL", ""),
			row("as_of", "datetime(6)", "NO", "", "NULL", ""),
			row("person_id", "bigint", "NO", "", "NULL", ""))
		tables := ids(query(t, db, "SHOW TABLES"))
		if !slices.Contains(tables, SegmentMembersAsOfTable) || slices.Contains(tables, SegmentSizesTable) {
			t.Errorf("SHOW TABLES: %v", tables)
		}
		// Catalog queries do not scan it.
		for _, q := range []string{"SHOW CREATE TABLE segment_members_as_of", "SHOW FULL COLUMNS FROM segment_members_as_of", "SHOW INDEX FROM segment_members_as_of",
			"SHOW TABLE STATUS", "SELECT table_name, table_rows FROM information_schema.tables WHERE table_schema = 'demo'"} {
			query(t, db, q)
		}
		noSegs := startServer(t, eng, func(o *Options) { o.MembersAsOf = fake.members }).open(t, "root", testPassword, "demo")
		if tables := ids(query(t, noSegs, "SHOW TABLES")); slices.Contains(tables, SegmentMembersAsOfTable) {
			t.Errorf("without Segments, SHOW TABLES: %v", tables)
		}
	})

	t.Run("rows", func(t *testing.T) {
		fake.takeCalls()
		got := query(t, db, "SELECT segment, as_of, person_id FROM segment_members_as_of WHERE segment = 'pro' AND as_of = ?", at1)
		if len(got) != len(proAt1) {
			t.Fatalf("pro at %s: %d rows, want %d", at1, len(got), len(proAt1))
		}
		for i, r := range got {
			if r[0] != "pro" || r[1] != "2026-09-15T12:00:00Z" || r[2] != proAt1[i] {
				t.Fatalf("row %d: %v, want [pro 2026-09-15T12:00:00Z %s] (rows in person order)", i, r, proAt1[i])
			}
		}
		snap := ws.Snapshot()
		want(t, "calls", [][]string{fake.takeCalls()}, []string{fmt.Sprintf("demo@%d 2026-09-15T12:00:00Z", snap.Seq)})

		// IN lists: every pair, evaluated once each.
		got = query(t, db, "SELECT segment, as_of, COUNT(*) FROM segment_members_as_of WHERE segment IN ('us', 'pro') AND as_of IN (?, ?) GROUP BY segment, as_of ORDER BY segment, as_of", at2, at1)
		want(t, "pairs", got,
			row("pro", "2026-09-15T12:00:00Z", fmt.Sprint(len(proAt1))),
			row("pro", "2026-10-20T00:00:00.5Z", fmt.Sprint(len(proAt2))),
			row("us", "2026-09-15T12:00:00Z", fmt.Sprint(len(oracle("country = 'US' AND vip = TRUE", at1)))),
			row("us", "2026-10-20T00:00:00.5Z", fmt.Sprint(len(usAt2))))
		if c := fake.takeCalls(); len(c) != 4 {
			t.Errorf("%d evaluations for 4 pairs: %v", len(c), c)
		}
		// BETWEEN t AND t pins t; a relative time is a constant too.
		if got := ids(query(t, db, "SELECT person_id FROM segment_members_as_of WHERE as_of BETWEEN ? AND ? AND segment = 'us'", at2, at2)); !slices.Equal(got, usAt2) {
			t.Errorf("BETWEEN: %v, want %v", got, usAt2)
		}
		if n := query(t, db, "SELECT COUNT(*) FROM segment_members_as_of WHERE segment = 'pro' AND as_of = TIMESTAMP('2026-09-14 12:00:00') + INTERVAL 1 DAY"); n[0][0] != fmt.Sprint(len(proAt1)) {
			t.Errorf("as_of = expression: %v, want %d", n, len(proAt1))
		}
		// Pinned to nothing: no rows, no evaluation.
		fake.takeCalls()
		for _, q := range []string{
			"SELECT * FROM segment_members_as_of WHERE segment = 'pro' AND as_of = NULL",
			"SELECT * FROM segment_members_as_of WHERE segment = 'pro' AND segment = 'us' AND as_of = '2026-09-15'",
			"SELECT * FROM segment_members_as_of WHERE segment = 'pro' AND as_of = '2026-09-15' AND as_of > '2026-10-01'",
		} {
			if got := query(t, db, q); len(got) != 0 {
				t.Errorf("%s: %v", q, got)
			}
		}
		if c := fake.takeCalls(); len(c) != 0 {
			t.Errorf("evaluations of empty pins: %v", c)
		}
	})

	t.Run("joins", func(t *testing.T) {
		fake.takeCalls()
		got := query(t, db, "SELECT p.person_id, p.tier FROM profiles p JOIN segment_members_as_of m ON m.person_id = p.person_id WHERE m.segment = 'pro' AND m.as_of = ? ORDER BY p.person_id", at1)
		if len(got) != len(proAt1) || !slices.Equal(ids(got), proAt1) || got[0][1] != "pro" {
			t.Errorf("join: %d rows, want %d", len(got), len(proAt1))
		}
		n := query(t, db, "SELECT COUNT(*) FROM profiles WHERE person_id IN (SELECT person_id FROM segment_members_as_of WHERE segment = 'pro' AND as_of = ?) AND country = 'US'", at2)
		wantN := len(oracle("tier = 'pro' AND country = 'US'", at2))
		if n[0][0] != fmt.Sprint(wantN) {
			t.Errorf("IN subquery: %v, want %d", n, wantN)
		}
		// Who entered between the two times.
		entered := query(t, db, "SELECT person_id FROM segment_members_as_of n WHERE n.segment = 'pro' AND n.as_of = ? AND n.person_id NOT IN (SELECT person_id FROM segment_members_as_of o WHERE o.segment = 'pro' AND o.as_of = ?) ORDER BY person_id", at2, at1)
		var wantEntered []string
		for _, p := range proAt2 {
			if !slices.Contains(proAt1, p) {
				wantEntered = append(wantEntered, p)
			}
		}
		if !slices.Equal(ids(entered), wantEntered) {
			t.Errorf("entered: %v, want %v", ids(entered), wantEntered)
		}
		// At most one evaluation per (segment, time) and query, whatever
		// the join repeats.
		if c := fake.takeCalls(); len(c) > 4 {
			t.Errorf("%d evaluations for 4 pinned scans: %v", len(c), c)
		}
		// Entered since at1: the real-time membership less the past one.
		m, _ := reg.Lookup("demo")
		if err := m.Flush(context.Background()); err != nil {
			t.Fatal(err)
		}
		since := ids(query(t, db, "SELECT person_id FROM segment_members WHERE segment = 'pro' AND person_id NOT IN (SELECT person_id FROM segment_members_as_of WHERE segment = 'pro' AND as_of = ?) ORDER BY person_id", at1))
		var wantSince []string
		for _, p := range ids(query(t, db, "SELECT person_id FROM segment_members WHERE segment = 'pro' ORDER BY person_id")) {
			if !slices.Contains(proAt1, p) {
				wantSince = append(wantSince, p)
			}
		}
		if len(wantSince) == 0 || !slices.Equal(since, wantSince) {
			t.Errorf("entered since %s: %v, want %v", at1, since, wantSince)
		}
	})

	t.Run("pushdown", func(t *testing.T) {
		for q, exp := range map[string]string{
			"SELECT * FROM segment_members_as_of WHERE segment = 'pro' AND as_of = '2026-09-15 12:00'":                                       "segments [pro], time [2026-09-15 12:00:00, 2026-09-15 12:00:00.000001), at [2026-09-15 12:00:00]",
			"SELECT * FROM segment_members_as_of WHERE segment IN ('us', 'pro') AND as_of IN ('2026-09-16', '2026-09-15') AND person_id > 5": "segments [pro us], time [2026-09-15 00:00:00, 2026-09-16 00:00:00.000001), at [2026-09-15 00:00:00 2026-09-16 00:00:00]",
			"SELECT * FROM segment_members_as_of WHERE segment = 'pro' AND as_of >= '2026-09-15'":                                            "segments [pro], time [2026-09-15 00:00:00, +inf)",
		} {
			got := strings.Join(segHistSelection(t, ts.srv, q), "; ")
			if got != exp {
				t.Errorf("%s:\n got %q\nwant %q", q, got, exp)
			}
		}
	})

	t.Run("not pinned", func(t *testing.T) {
		for q, missing := range map[string][]string{
			"SELECT * FROM segment_members_as_of":                                                                                                  {"segment = '<name>'", "as_of = '<timestamp>'"},
			"SELECT * FROM segment_members_as_of WHERE segment = 'pro'":                                                                            {"as_of = '<timestamp>'"},
			"SELECT * FROM segment_members_as_of WHERE as_of = '2026-09-15' AND person_id = 3":                                                     {"segment = '<name>'"},
			"SELECT * FROM segment_members_as_of WHERE segment LIKE 'p%' AND as_of = '2026-09-15'":                                                 {"segment = '<name>'"},
			"SELECT * FROM segment_members_as_of WHERE segment = 'pro' AND as_of > '2026-09-15'":                                                   {"as_of = '<timestamp>'"},
			"SELECT * FROM segment_members_as_of WHERE segment = 'pro' OR as_of = '2026-09-15'":                                                    {"segment = '<name>'", "as_of = '<timestamp>'"},
			"SELECT name FROM segments s WHERE EXISTS (SELECT 1 FROM segment_members_as_of m WHERE m.segment = s.name AND m.as_of = '2026-09-15')": {"segment = '<name>'"},
			// The outer row's segment does not pin the inner scan.
			"SELECT o.person_id FROM segment_members_as_of o WHERE o.segment = 'pro' AND o.as_of = '2026-09-15' AND EXISTS (SELECT 1 FROM segment_members_as_of i WHERE o.segment = 'pro' AND i.as_of = '2026-09-15' AND i.person_id = o.person_id)": {"segment = '<name>'"},
		} {
			_, err := queryErr(db, q)
			if err == nil {
				t.Errorf("%s: no error", q)
				continue
			}
			msg := err.Error()
			if !strings.Contains(msg, "must pin both segment = '<name>' and as_of = '<timestamp>'") {
				t.Errorf("%s: %v", q, err)
			}
			for _, m := range missing {
				if i := strings.Index(msg, "does not pin"); i < 0 || !strings.Contains(msg[i:], m) {
					t.Errorf("%s: %v does not say %s is missing", q, err, m)
				}
			}
		}
		off := startServer(t, eng, func(o *Options) { o.Segments = reg; o.MembersAsOf = fake.members; o.DisablePushdown = true })
		_, err := queryErr(off.open(t, "root", testPassword, "demo"), "SELECT * FROM segment_members_as_of WHERE segment = 'pro' AND as_of = '2026-09-15'")
		if err == nil || !strings.Contains(err.Error(), "pushdown is disabled") {
			t.Errorf("without pushdown: %v", err)
		}
	})

	t.Run("errors", func(t *testing.T) {
		_, err := queryErr(db, "SELECT * FROM segment_members_as_of WHERE segment = 'nope' AND as_of = '2026-09-15'")
		if err == nil || !strings.Contains(err.Error(), `no segment "nope" in workspace demo`) {
			t.Errorf("unknown segment: %v", err)
		}
		fake.mu.Lock()
		fake.fail = errors.New("column not recorded in profile history: last_seen")
		fake.mu.Unlock()
		defer func() { fake.mu.Lock(); fake.fail = nil; fake.mu.Unlock() }()
		_, err = queryErr(db, "SELECT * FROM segment_members_as_of WHERE segment = 'pro' AND as_of = '2026-09-15'")
		if err == nil || !strings.Contains(err.Error(), "column not recorded in profile history: last_seen") || !strings.Contains(err.Error(), "segment pro as of 2026-09-15 00:00:00") {
			t.Errorf("source error: %v", err)
		}
	})
}
