package sqlfront

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cohortdb/cohort/engine"
	"github.com/cohortdb/cohort/engine/column"
	"github.com/cohortdb/cohort/engine/identity"
)

// memHistory is a HistorySource kept in memory, fed by the engine's
// OnChanges like storage/history; it records the time range of every scan.
type memHistory struct {
	mu    sync.Mutex
	recs  map[string][]HistoryChange
	scans [][2]time.Time
}

func newMemHistory(wss ...*engine.Workspace) *memHistory {
	m := &memHistory{recs: map[string][]HistoryChange{}}
	for _, ws := range wss {
		ws.OnChanges(func(cs []engine.Change) {
			seq := ws.Snapshot().Seq + 1
			m.mu.Lock()
			defer m.mu.Unlock()
			for _, c := range cs {
				m.recs[ws.Name()] = append(m.recs[ws.Name()], HistoryChange{Seq: seq, Person: c.Person, Attribute: c.Attribute, Old: c.Old, New: c.New, At: c.At, Source: c.Source})
			}
		})
	}
	return m
}

func (m *memHistory) Scan(ctx context.Context, workspace string, from, to time.Time, fn func(HistoryChange) error) error {
	m.mu.Lock()
	recs := slices.Clone(m.recs[workspace])
	m.scans = append(m.scans, [2]time.Time{from, to})
	m.mu.Unlock()
	lo, hi := from.UnixMicro(), to.UnixMicro()
	for _, r := range recs {
		if err := ctx.Err(); err != nil {
			return err
		}
		if r.At >= lo && r.At < hi {
			if err := fn(r); err != nil {
				return err
			}
		}
	}
	return nil
}

// lastScan returns the range of the latest scan.
func (m *memHistory) lastScan() [2]time.Time {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.scans) == 0 {
		return [2]time.Time{}
	}
	return m.scans[len(m.scans)-1]
}

func apply(t *testing.T, ws *engine.Workspace, ops ...engine.Op) {
	t.Helper()
	r, err := ws.Apply(context.Background(), ops)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Rejected) > 0 {
		t.Fatalf("rejected: %v", r.Rejected[0].Err)
	}
}

func ident(at time.Time, src string, ids []identity.ID, traits ...engine.Field) engine.Op {
	return engine.Op{Kind: engine.OpIdentify, IDs: ids, Traits: traits, At: at.UnixMicro(), Source: src}
}

func uid(v string) []identity.ID { return []identity.ID{{Type: "user_id", Value: v}} }

func trait(n string, v column.Value) engine.Field { return engine.Field{Name: n, Value: v} }

func TestProfileHistory(t *testing.T) {
	eng := newEngine(t, "demo", "other")
	ws, _ := eng.Workspace("demo")
	other, _ := eng.Workspace("other")
	hist := newMemHistory(ws, other)
	d1 := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	d2, d3, d4 := d1.AddDate(0, 0, 1), d1.AddDate(0, 0, 2), d1.AddDate(0, 0, 3)
	renew := time.Date(2026, 4, 1, 12, 30, 0, 250000000, time.UTC)
	apply(t, ws,
		ident(d1, "m1", uid("u1"), trait("plan", column.String("free")), trait("age", column.Int(30)), trait("score", column.Float(1.5)),
			trait("vip", column.Bool(true)), trait("renewal", column.Micros(renew.UnixMicro())), trait("tags", column.StringList([]string{"a", "b"}))),
		ident(d1.Add(time.Minute), "", uid("u2"), trait("plan", column.String("free"))),
	)
	apply(t, ws, ident(d2, "m2", uid("u1"), trait("plan", column.String("Pro")), trait("age", column.Int(31)), trait("score", column.Float(0.1)), trait("vip", column.Bool(false))))
	apply(t, ws, ident(d3, "m3", []identity.ID{{Type: "anonymous_id", Value: "anon1"}}, trait("plan", column.String("trial"))))
	apply(t, other, ident(d2, "o1", uid("u1"), trait("plan", column.String("secret"))))
	ts := startServer(t, eng, func(o *Options) { o.History = hist })
	db := ts.open(t, "root", testPassword, "demo")
	id := func(typ, v string) string {
		t.Helper()
		r := query(t, db, "SELECT person_id FROM identities WHERE type = ? AND value = ?", typ, v)
		if len(r) != 1 {
			t.Fatalf("no person %s=%s", typ, v)
		}
		return r[0][0]
	}
	p1, p2, pAnon := id("user_id", "u1"), id("user_id", "u2"), id("anonymous_id", "anon1")

	t.Run("metadata", func(t *testing.T) {
		want(t, "tables", query(t, db, "SHOW TABLES"), row("events"), row("identities"), row("merges"), row("profile_history"), row("profiles"))
		want(t, "describe", query(t, db, "DESCRIBE profile_history"),
			row("person_id", "bigint", "NO", "", "NULL", ""),
			row("attribute", "varchar(16383)", "NO", "", "NULL", ""),
			row("old_value", "longtext", "YES", "", "NULL", ""),
			row("new_value", "longtext", "YES", "", "NULL", ""),
			row("changed_at", "datetime(6)", "NO", "", "NULL", ""),
			row("source", "varchar(16383)", "YES", "", "NULL", ""),
			row("value_type", "varchar(16383)", "YES", "", "NULL", ""))
		want(t, "collations", query(t, db, "SELECT column_name, collation_name FROM information_schema.columns WHERE table_schema = 'demo' AND table_name = 'profile_history' AND collation_name IS NOT NULL ORDER BY column_name"),
			row("attribute", "utf8mb4_0900_bin"), row("new_value", "utf8mb4_0900_bin"), row("old_value", "utf8mb4_0900_bin"), row("source", "utf8mb4_0900_bin"), row("value_type", "utf8mb4_0900_bin"))
		query(t, db, "SHOW CREATE TABLE profile_history")
		query(t, db, "SHOW FULL COLUMNS FROM profile_history")
		query(t, db, "SHOW INDEX FROM profile_history")
		query(t, db, "SHOW TABLE STATUS")
		// Without a source, no table.
		plain := startServer(t, eng, nil).open(t, "root", testPassword, "demo")
		want(t, "tables without history", query(t, plain, "SHOW TABLES"), row("events"), row("identities"), row("merges"), row("profiles"))
	})

	t.Run("rows", func(t *testing.T) {
		want(t, "plan", query(t, db, "SELECT person_id, attribute, old_value, new_value, changed_at, source, value_type FROM profile_history WHERE attribute = 'plan' ORDER BY changed_at"),
			row(p1, "plan", "NULL", "free", "2026-03-01T10:00:00Z", "m1", "string"),
			row(p2, "plan", "NULL", "free", "2026-03-01T10:01:00Z", "NULL", "string"),
			row(p1, "plan", "free", "Pro", "2026-03-02T10:00:00Z", "m2", "string"),
			row(pAnon, "plan", "NULL", "trial", "2026-03-03T10:00:00Z", "m3", "string"))
		want(t, "typed", query(t, db, "SELECT attribute, old_value, new_value, value_type FROM profile_history WHERE person_id = ? AND attribute <> 'plan' ORDER BY changed_at, attribute", p1),
			row("age", "NULL", "30", "int"), row("renewal", "NULL", "2026-04-01 12:30:00.25", "timestamp"), row("score", "NULL", "1.5", "float"),
			row("tags", "NULL", `["a", "b"]`, "string_list"), row("vip", "NULL", "1", "bool"),
			row("age", "30", "31", "int"), row("score", "1.5", "0.1", "float"), row("vip", "1", "0", "bool"))
		// The rendering is CAST(profiles column AS CHAR): the latest
		// new_value of every attribute is the profile's value.
		for _, attr := range []string{"plan", "age", "score", "vip", "renewal", "tags"} {
			want(t, "rendering of "+attr,
				query(t, db, "SELECT new_value FROM profile_history WHERE person_id = ? AND attribute = ? ORDER BY changed_at DESC LIMIT 1", p1, attr),
				query(t, db, fmt.Sprintf("SELECT CAST(`%s` AS CHAR) FROM profiles WHERE person_id = ?", attr), p1)...)
		}
		want(t, "binary collation", query(t, db, "SELECT COUNT(*) FROM profile_history WHERE new_value = 'pro'"), row("0"))
		want(t, "join", query(t, db, "SELECT p.person_id, COUNT(*) FROM profiles p JOIN profile_history h ON h.person_id = p.person_id GROUP BY p.person_id ORDER BY COUNT(*) DESC, p.person_id"),
			row(p1, "10"), row(p2, "1"), row(pAnon, "1"))
	})

	t.Run("time filters", func(t *testing.T) {
		all := query(t, db, "SELECT person_id, attribute, new_value, changed_at FROM profile_history ORDER BY changed_at, attribute, person_id")
		if len(all) != 12 {
			t.Fatalf("%d rows in all, want 12: %v", len(all), all)
		}
		if s := hist.lastScan(); s[0].After(d1.AddDate(-100, 0, 0)) || s[1].Before(d1.AddDate(100, 0, 0)) {
			t.Errorf("unfiltered scan over %v", s)
		}
		at := func(s string) time.Time {
			v, err := time.Parse("2006-01-02 15:04:05.999999", s)
			if err != nil {
				t.Fatal(err)
			}
			return v
		}
		us := time.Microsecond
		for _, c := range []struct {
			where    string
			match    func(time.Time) bool
			from, to time.Time // the scan's range; zero: unbounded
		}{
			{"changed_at >= '2026-03-02' AND changed_at < '2026-03-03'", func(x time.Time) bool {
				return !x.Before(at("2026-03-02 00:00:00")) && x.Before(at("2026-03-03 00:00:00"))
			}, at("2026-03-02 00:00:00"), at("2026-03-03 00:00:00")},
			{"changed_at > '2026-03-02 10:00:00'", func(x time.Time) bool { return x.After(d2) }, d2.Add(us), time.Time{}},
			{"changed_at <= '2026-03-01 10:01:00'", func(x time.Time) bool { return !x.After(d1.Add(time.Minute)) }, time.Time{}, d1.Add(time.Minute + us)},
			{"changed_at = '2026-03-02 10:00:00'", func(x time.Time) bool { return x.Equal(d2) }, d2, d2.Add(us)},
			{"changed_at BETWEEN '2026-03-01 10:01:00' AND '2026-03-02 10:00:00'", func(x time.Time) bool { return !x.Before(d1.Add(time.Minute)) && !x.After(d2) }, d1.Add(time.Minute), d2.Add(us)},
			{"'2026-03-03' > changed_at", func(x time.Time) bool { return x.Before(at("2026-03-03 00:00:00")) }, time.Time{}, at("2026-03-03 00:00:00")},
			{"changed_at IN ('2026-03-01 10:00:00', '2026-03-03 10:00:00')", func(x time.Time) bool { return x.Equal(d1) || x.Equal(d3) }, d1, d3.Add(us)},
			{"(changed_at < '2026-03-01 11:00' OR changed_at >= '2026-03-03') AND attribute = 'plan'", func(x time.Time) bool { return x.Before(d1.Add(time.Hour)) || !x.Before(at("2026-03-03 00:00:00")) }, time.Time{}, time.Time{}},
			{"changed_at > '2026-03-02' AND changed_at < '2026-03-02'", func(time.Time) bool { return false }, time.Time{}, time.Time{}},
			{"changed_at > NOW()", func(time.Time) bool { return false }, time.Time{}, time.Time{}},
			{"changed_at >= '2026-03-04' - INTERVAL 2 DAY", func(x time.Time) bool { return !x.Before(at("2026-03-02 00:00:00")) }, at("2026-03-02 00:00:00"), time.Time{}},
			{"changed_at > NULL", func(time.Time) bool { return false }, time.Time{}, time.Time{}},
			{"NOT changed_at < '2026-03-02'", func(x time.Time) bool { return !x.Before(at("2026-03-02 00:00:00")) }, time.Time{}, time.Time{}},
			{"changed_at >= ?", func(x time.Time) bool { return !x.Before(d3) }, time.Time{}, time.Time{}},
		} {
			before := len(hist.scans)
			var args []any
			if strings.Contains(c.where, "?") {
				args = append(args, d3)
			}
			got := query(t, db, "SELECT person_id, attribute, new_value, changed_at FROM profile_history WHERE "+c.where+" ORDER BY changed_at, attribute, person_id", args...)
			var exp [][]string
			for _, r := range all {
				x, _ := time.Parse(time.RFC3339Nano, r[3])
				if c.match(x) && (!strings.Contains(c.where, "attribute") || r[1] == "plan") {
					exp = append(exp, r)
				}
			}
			want(t, c.where, got, exp...)
			if c.from.IsZero() && c.to.IsZero() {
				continue
			}
			if len(hist.scans) == before {
				t.Errorf("%s: no scan", c.where)
				continue
			}
			s := hist.lastScan()
			if !c.from.IsZero() && !s[0].Equal(c.from) || !c.to.IsZero() && !s[1].Equal(c.to) ||
				c.from.IsZero() && s[0].After(d1.AddDate(-100, 0, 0)) || c.to.IsZero() && s[1].Before(d1.AddDate(100, 0, 0)) {
				t.Errorf("%s: scan [%v, %v), want [%v, %v)", c.where, s[0], s[1], c.from, c.to)
			}
		}
		// An empty range reads nothing at all.
		before := len(hist.scans)
		query(t, db, "SELECT * FROM profile_history WHERE changed_at > '2026-03-02' AND changed_at < '2026-03-01'")
		if len(hist.scans) != before {
			t.Errorf("empty range scanned %v", hist.lastScan())
		}
		if p := sql2plan(t, ts, "SELECT * FROM profile_history WHERE changed_at >= '2026-03-02' AND attribute = 'plan'"); !strings.Contains(p, "cohort history time range [2026-03-02 00:00:00, +inf)") {
			t.Errorf("plan lacks the time range:\n%s", p)
		}
	})

	t.Run("merges, erasures and new changes", func(t *testing.T) {
		// anon1 merges into u1: its history reports the surviving person.
		apply(t, ws, engine.Op{Kind: engine.OpAlias, IDs: []identity.ID{{Type: "anonymous_id", Value: "anon1"}, {Type: "user_id", Value: "u1"}}, At: d4.UnixMicro(), Source: "m4"})
		canon := id("user_id", "u1")
		if id("anonymous_id", "anon1") != canon {
			t.Fatal("no merge")
		}
		want(t, "merged", query(t, db, "SELECT DISTINCT person_id FROM profile_history WHERE attribute = 'plan' AND person_id <> ? ORDER BY 1", p2), row(canon))
		// The merge itself changed plan (the merged profile's newer value).
		want(t, "merge change", query(t, db, "SELECT person_id, old_value, new_value, source FROM profile_history WHERE changed_at = ?", d4), row(canon, "Pro", "trial", "m4"))
		want(t, "merged count", query(t, db, "SELECT COUNT(*) FROM profile_history WHERE person_id = ?", canon), row("12"))
		// A change applied is queryable at once.
		apply(t, ws, ident(d4.Add(time.Hour), "m5", uid("u1"), trait("plan", column.String("enterprise"))))
		want(t, "new change", query(t, db, "SELECT old_value, new_value, source FROM profile_history WHERE changed_at > ?", d4), row("trial", "enterprise", "m5"))
		// An erased person's history is no longer shown.
		if _, err := db.Exec("DELETE FROM profiles WHERE person_id = " + p2); err != nil {
			t.Fatal(err)
		}
		want(t, "erased", query(t, db, "SELECT COUNT(*) FROM profile_history WHERE person_id = ?", p2), row("0"))
	})

	t.Run("read-only and per workspace", func(t *testing.T) {
		for _, q := range []string{
			"INSERT INTO profile_history (person_id, attribute, changed_at) VALUES (1, 'x', NOW())",
			"UPDATE profile_history SET source = 'x'", "DELETE FROM profile_history", "DROP TABLE profile_history", "TRUNCATE profile_history",
		} {
			if _, err := db.Exec(q); err == nil {
				t.Errorf("%s: no error", q)
			}
		}
		want(t, "other", query(t, db, "SELECT new_value FROM other.profile_history"), row("secret"))
		for _, q := range []string{"CREATE USER 'carol'@'%' IDENTIFIED BY 'pw-c'", "GRANT SELECT ON demo.* TO 'carol'@'%'"} {
			if _, err := db.Exec(q); err != nil {
				t.Fatalf("%s: %v", q, err)
			}
		}
		carol := ts.open(t, "carol", "pw-c", "demo")
		query(t, carol, "SELECT COUNT(*) FROM profile_history")
		if r, err := queryErr(carol, "SELECT new_value FROM other.profile_history"); err == nil {
			t.Errorf("carol reads other.profile_history: %v", r)
		}
		if r, err := queryErr(carol, "SELECT h.new_value FROM profiles p JOIN other.profile_history h ON h.person_id = p.person_id"); err == nil {
			t.Errorf("carol joins other.profile_history: %v", r)
		}
	})
}

// TestProfileHistoryDifferential runs random queries over profile_history
// with the time range pushed down and without (GMS filters everything):
// the results must be equal.
func TestProfileHistoryDifferential(t *testing.T) {
	eng := newEngine(t, "demo")
	ws, _ := eng.Workspace("demo")
	hist := newMemHistory(ws)
	// Several shapes are correlated subqueries that GMS runs as nested
	// loops (quadratic in the history's size): 50 persons (~330 changes)
	// keep the test within seconds under -race and still give every shape
	// rows on both sides of each time literal.
	const persons = 50
	fixture(t, ws, persons, 5)
	// Second rounds of traits, so that there are old values.
	rng := rand.New(rand.NewPCG(5, 9))
	for i := 1; i <= persons; i += 3 {
		at := t0.Add(-time.Duration(rng.IntN(60*24*3600)) * time.Second).Add(time.Duration(rng.IntN(1e6)) * time.Microsecond)
		ws.Apply(context.Background(), []engine.Op{ident(at, fmt.Sprintf("r%d", i), uid(fmt.Sprintf("u%d", i)),
			trait("country", column.String(countries[rng.IntN(len(countries))])), trait("age", column.Int(int64(rng.IntN(80)))))})
	}
	on := startServer(t, eng, func(o *Options) { o.History = hist }).open(t, "root", testPassword, "demo")
	off := startServer(t, eng, func(o *Options) { o.History = hist; o.DisablePushdown = true }).open(t, "root", testPassword, "demo")
	var n int
	if err := on.QueryRow("SELECT COUNT(*) FROM profile_history").Scan(&n); err != nil || n < 6*persons {
		t.Fatalf("history rows: %d, %v", n, err)
	}
	lit := func() string {
		at := t0.Add(-time.Duration(rng.IntN(100*24)) * time.Hour)
		switch rng.IntN(6) {
		case 0:
			return "'" + at.Format("2006-01-02") + "'"
		case 1:
			return "'" + at.Add(time.Duration(rng.IntN(3600e6))*time.Microsecond).Format("2006-01-02 15:04:05.999999") + "'"
		case 2:
			return "'" + at.Add(time.Duration(rng.IntN(3600e9))).Format("2006-01-02 15:04:05.999999999") + "'" // past µs
		case 3:
			return fmt.Sprintf("'%s' + INTERVAL %d HOUR", at.Format("2006-01-02"), rng.IntN(48))
		case 4:
			return "CAST('" + at.Format("2006-01-02 15:04:05") + "' AS DATETIME)"
		}
		return fmt.Sprintf("NOW() - INTERVAL %d DAY", rng.IntN(400))
	}
	ops := []string{"<", "<=", ">", ">=", "=", "<>"}
	timePred := func(q string) string { // q: the table qualifier, "" or "h."
		switch rng.IntN(7) {
		case 0:
			return fmt.Sprintf("%schanged_at BETWEEN %s AND %s", q, lit(), lit())
		case 1:
			return fmt.Sprintf("%schanged_at IN (%s, %s)", q, lit(), lit())
		case 2:
			return fmt.Sprintf("(%schanged_at %s %s OR %schanged_at %s %s)", q, ops[rng.IntN(6)], lit(), q, ops[rng.IntN(6)], lit())
		case 3:
			return fmt.Sprintf("NOT %schanged_at %s %s", q, ops[rng.IntN(6)], lit())
		case 4:
			return fmt.Sprintf("%s %s %schanged_at", lit(), ops[rng.IntN(6)], q)
		}
		return fmt.Sprintf("%schanged_at %s %s", q, ops[rng.IntN(6)], lit())
	}
	other := []string{"attribute = 'country'", "old_value IS NULL", "new_value > '5'", "person_id < 20", "source LIKE 'r%'", "value_type = 'int'"}
	where := func(q string) string {
		var c []string
		for k := 1 + rng.IntN(3); k > 0; k-- {
			if rng.IntN(3) == 0 {
				c = append(c, q+other[rng.IntN(len(other))])
			} else {
				c = append(c, timePred(q))
			}
		}
		return strings.Join(c, " AND ")
	}
	shapes := []func() string{
		func() string { return "SELECT * FROM profile_history WHERE " + where("") },
		func() string {
			return "SELECT attribute, COUNT(*), MIN(changed_at), MAX(changed_at) FROM profile_history WHERE " + where("") + " GROUP BY attribute"
		},
		func() string {
			return "SELECT p.person_id, h.attribute, h.new_value FROM profiles p JOIN profile_history h ON h.person_id = p.person_id WHERE p.age > 20 AND " + where("h.")
		},
		func() string {
			return "SELECT person_id FROM profiles p WHERE EXISTS (SELECT 1 FROM profile_history h WHERE h.person_id = p.person_id AND " + where("h.") + ")"
		},
		func() string {
			// Correlated: a predicate on the outer row's changed_at bounds
			// nothing of the inner scan.
			return "SELECT o.person_id, o.attribute, o.changed_at FROM profile_history o WHERE EXISTS (SELECT 1 FROM profile_history i WHERE i.person_id = o.person_id AND i.attribute = 'age' AND " + timePred("o.") + ")"
		},
		func() string {
			return "SELECT o.person_id, o.attribute FROM profile_history o WHERE o.attribute = 'age' AND o.person_id IN (SELECT i.person_id FROM profile_history i WHERE " + timePred("o.") + " AND " + where("i.") + ")"
		},
		func() string {
			return "SELECT o.person_id, o.changed_at, (SELECT COUNT(*) FROM profile_history i WHERE i.person_id = o.person_id AND i.changed_at < o.changed_at) FROM profile_history o WHERE " + where("o.")
		},
		func() string {
			// Scalar subquery whose filter reads only the outer row's
			// changed_at: no range for the inner scan.
			return "SELECT o.person_id, o.changed_at, (SELECT COUNT(i.new_value) FROM profile_history i WHERE " + timePred("o.") + " AND i.attribute = 'age') FROM profile_history o WHERE o.attribute = 'country'"
		},
		func() string {
			return "SELECT o.person_id, (SELECT MAX(i.changed_at) FROM profile_history i WHERE " + timePred("o.") + " AND " + where("i.") + ") FROM profile_history o WHERE " + where("o.")
		},
		func() string {
			return "SELECT x.attribute, COUNT(*) FROM (SELECT * FROM profile_history WHERE " + where("") + ") x WHERE " + timePred("x.") + " GROUP BY x.attribute"
		},
		func() string {
			return "SELECT * FROM profile_history WHERE " + timePred("") + " UNION ALL SELECT * FROM profile_history WHERE " + where("")
		},
	}
	fails, nonEmpty, errs := 0, 0, 0
	for i := 0; i < 150 && fails < 10; i++ {
		q := shapes[rng.IntN(len(shapes))]()
		a, aerr := diffRun(on, q)
		b, berr := diffRun(off, q)
		if (aerr != nil) != (berr != nil) {
			t.Errorf("query %d: %s\n on: %v\noff: %v", i, q, aerr, berr)
			fails++
			continue
		}
		if aerr != nil {
			t.Logf("query %d: %s: %v", i, q, aerr)
			errs++
			continue
		}
		slices.SortFunc(a[1:], compareRows)
		slices.SortFunc(b[1:], compareRows)
		if !slices.EqualFunc(a, b, slices.Equal) {
			t.Errorf("query %d: %s\n on (%d rows): %v\noff (%d rows): %v", i, q, len(a)-1, head(a), len(b)-1, head(b))
			fails++
		}
		if len(a) > 1 {
			nonEmpty++
		}
	}
	if nonEmpty < 30 || errs > 5 {
		t.Errorf("only %d queries returned rows, %d failed", nonEmpty, errs)
	}
}
