package sqlfront

import (
	"database/sql"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	gsql "github.com/dolthub/go-mysql-server/sql"
)

// correlatedQueries are correlated subqueries with predicates over the
// outer row: such a conjunct sits in the filter of the inner scan, over
// columns of the same names and types when both scans read the same
// table, and must never be pushed into the inner scan.
var correlatedQueries = []string{
	// The reported queries.
	"SELECT o.person_id, (SELECT COUNT(i.tier) FROM profiles i WHERE o.age > 20 AND i.country = 'US') FROM profiles o",
	"SELECT o.person_id, (SELECT COUNT(*) FROM profiles i WHERE o.age > 20 AND i.country = 'US') FROM profiles o",
	// Only outer predicates in the inner filter.
	"SELECT o.person_id, (SELECT COUNT(*) FROM profiles i WHERE o.age > 20) FROM profiles o",
	"SELECT o.person_id, (SELECT COUNT(*) FROM profiles WHERE o.age > 20 AND o.tier IN ('pro', 'free')) FROM profiles o",
	"SELECT profiles.person_id, (SELECT COUNT(*) FROM profiles i WHERE profiles.age > 20 AND i.vip = 1) FROM profiles",
	// Outer person_id: must not become a point lookup of the inner scan.
	"SELECT o.person_id, (SELECT COUNT(*) FROM profiles i WHERE o.person_id = 5 AND i.age > 10) FROM profiles o",
	"SELECT o.person_id, (SELECT MAX(i.person_id) FROM profiles i WHERE i.person_id = 3 AND o.vip = 1) FROM profiles o",
	"SELECT x.type, x.value, (SELECT COUNT(*) FROM identities y WHERE x.type = 'email' AND x.value = 'user4@example.com' AND y.type = 'user_id') FROM identities x",
	// Every predicate type over the outer row.
	"SELECT o.person_id, (SELECT COUNT(*) FROM profiles i WHERE o.country LIKE 'U%' AND i.score BETWEEN 0 AND 100) FROM profiles o",
	"SELECT o.person_id, (SELECT COUNT(*) FROM profiles i WHERE o.signup_at > '2026-09-01' AND i.signup_at <= '2026-09-01') FROM profiles o",
	"SELECT o.person_id, (SELECT COUNT(*) FROM profiles i WHERE o.age IS NULL AND NOT (i.tier = 'pro')) FROM profiles o",
	"SELECT o.person_id, (SELECT COUNT(*) FROM profiles i WHERE (o.age > 20 OR o.vip = 1) AND i.country IN ('US', 'DE')) FROM profiles o",
	"SELECT o.person_id, (SELECT COUNT(*) FROM profiles i WHERE (o.age > 20 OR i.age > 50) AND i.country = 'US') FROM profiles o",
	// Aggregates that could be answered by the engine.
	"SELECT o.person_id, (SELECT SUM(i.score) FROM profiles i WHERE o.vip = 0 AND i.tier = 'pro') FROM profiles o",
	"SELECT o.country, (SELECT MAX(i.score) FROM profiles i WHERE o.vip = 1 AND i.tier = o.tier) FROM profiles o",
	"SELECT p.person_id, (SELECT SUM(e.amount) FROM events e WHERE p.vip = 0 AND e.name = 'purchase') FROM profiles p",
	// EXISTS, NOT EXISTS, IN, NOT IN.
	"SELECT o.person_id FROM profiles o WHERE EXISTS (SELECT 1 FROM profiles i WHERE o.age > 20 AND i.country = 'US')",
	"SELECT o.person_id FROM profiles o WHERE NOT EXISTS (SELECT 1 FROM profiles i WHERE o.age > 20 AND i.country = 'zz')",
	"SELECT o.person_id FROM profiles o WHERE EXISTS (SELECT 1 FROM profiles i WHERE i.person_id = o.person_id AND o.age > 20 AND i.country = 'US')",
	"SELECT o.person_id FROM profiles o WHERE o.tier IN (SELECT i.tier FROM profiles i WHERE o.age > 20 AND i.country = 'US')",
	"SELECT o.person_id FROM profiles o WHERE o.tier NOT IN (SELECT i.tier FROM profiles i WHERE o.age > 20 AND i.country = 'US' AND i.tier IS NOT NULL)",
	"SELECT o.person_id FROM profiles o WHERE o.person_id IN (SELECT i.person_id FROM profiles i WHERE o.country = 'US')",
	// Behavioural subqueries over events with outer predicates.
	"SELECT p.person_id FROM profiles p WHERE EXISTS (SELECT 1 FROM events e WHERE e.person_id = p.person_id AND p.age > 30)",
	"SELECT p.person_id FROM profiles p WHERE NOT EXISTS (SELECT 1 FROM events e WHERE e.person_id = p.person_id AND p.age > 30 AND e.name = 'purchase')",
	"SELECT p.person_id FROM profiles p WHERE p.person_id IN (SELECT e.person_id FROM events e WHERE p.age > 30 AND e.name = 'purchase')",
	"SELECT p.person_id, (SELECT COUNT(*) FROM events e WHERE e.person_id = p.person_id AND p.country = 'US' AND e.amount > 10) FROM profiles p",
	// events in both scopes, and mixed.
	"SELECT o.event_id, (SELECT COUNT(*) FROM events i WHERE o.qty > 2 AND i.name = 'purchase') FROM events o",
	"SELECT o.event_id, (SELECT COUNT(*) FROM events i WHERE o.ts > '2026-10-01' AND i.ts <= '2026-10-01' AND o.name = i.name) FROM events o",
	"SELECT o.event_id FROM events o WHERE EXISTS (SELECT 1 FROM events i WHERE o.amount > 50 AND i.person_id = o.person_id AND i.event_id <> o.event_id)",
	"SELECT e.event_id, (SELECT COUNT(*) FROM profiles p WHERE e.qty = 3 AND p.country = 'US') FROM events e",
	"SELECT e.event_id FROM events e WHERE e.person_id IN (SELECT p.person_id FROM profiles p WHERE e.name = 'purchase' AND p.vip = 1)",
	// A join inside the subquery; two levels of nesting.
	"SELECT o.person_id, (SELECT COUNT(*) FROM events e JOIN profiles i ON i.person_id = e.person_id WHERE o.age > 20 AND i.country = 'US') FROM profiles o",
	"SELECT o.person_id FROM profiles o WHERE o.person_id <= 40 AND (SELECT COUNT(*) FROM events e WHERE e.person_id = o.person_id AND e.qty >= (SELECT MIN(i.qty) FROM events i WHERE o.age > 40 AND i.name = 'signup')) > 0",
	"SELECT o.person_id, (SELECT COUNT(*) FROM profiles m WHERE m.tier = 'pro' AND EXISTS (SELECT 1 FROM profiles i WHERE o.age > 20 AND m.age < 30 AND i.country = 'US')) FROM profiles o WHERE o.person_id <= 30",
	// The same alias in both scopes (the inner one shadows): a control.
	"SELECT p.person_id FROM profiles p WHERE p.age < 10 AND EXISTS (SELECT 1 FROM profiles p WHERE p.age > 70)",
}

// TestSubqueryAggregateScope: aggregates inside a subquery with an outer
// scope must not be taken by aggregateRule (its node would return the
// aggregate row without the outer row in front: "unable to find field
// with index 12", or a panic for an outer column of the same table name).
func TestSubqueryAggregateScope(t *testing.T) {
	eng := newEngine(t, "demo")
	ws, _ := eng.Workspace("demo")
	fixture(t, ws, 60, 3)
	on := startServer(t, eng, nil).open(t, "root", testPassword, "demo")
	off := startServer(t, eng, func(o *Options) { o.DisablePushdown = true }).open(t, "root", testPassword, "demo")
	for i, q := range []string{
		"SELECT p.person_id, (SELECT COUNT(*) FROM profiles i WHERE i.age > 20) FROM profiles p",
		"SELECT p.person_id, (SELECT COUNT(*) FROM events e WHERE e.name = 'purchase') FROM profiles p",
		"SELECT p.person_id, (SELECT COUNT(*) FROM profiles p WHERE p.age > 20) FROM profiles p",
		"SELECT profiles.person_id, (SELECT COUNT(profiles.tier) FROM profiles i WHERE i.age > 20) FROM profiles",
	} {
		if diffCompare(t, i, q, on, off) == 0 {
			if _, err := diffRun(on, q); err != nil {
				t.Errorf("%s: %v", q, err)
			}
		}
	}
}

// TestCorrelatedPushdown requires pushdown on and off to agree on
// correlated subqueries with predicates over the outer row.
func TestCorrelatedPushdown(t *testing.T) {
	eng := newEngine(t, "demo")
	ws, _ := eng.Workspace("demo")
	fixture(t, ws, 120, 3)
	onSrv := startServer(t, eng, nil)
	on := onSrv.open(t, "root", testPassword, "demo")
	off := startServer(t, eng, func(o *Options) { o.DisablePushdown = true }).open(t, "root", testPassword, "demo")
	for _, q := range correlatedQueries {
		a, aerr := diffRun(on, q)
		b, berr := diffRun(off, q)
		if aerr != nil || berr != nil {
			t.Errorf("%s\n on: %v\noff: %v", q, aerr, berr)
			continue
		}
		slices.SortFunc(a[1:], compareRows)
		slices.SortFunc(b[1:], compareRows)
		if !slices.EqualFunc(a, b, slices.Equal) {
			t.Errorf("%s\n on (%d rows): %v\noff (%d rows): %v", q, len(a)-1, head(a), len(b)-1, head(b))
		}
	}

	// The inner scan still takes its own conjuncts over; the outer row's
	// stay in GMS.
	q := "SELECT o.person_id, (SELECT COUNT(i.tier) FROM profiles i WHERE o.age > 20 AND i.country = 'US') FROM profiles o"
	p := gsql.DebugString(analyze(t, onSrv.srv, "demo", q))
	if !strings.Contains(p, "static: (i.country = 'US')") || !strings.Contains(p, "o.age") {
		t.Errorf("plan of %s: want i.country pushed down and o.age left to GMS:\n%s", q, p)
	}
	q = "SELECT o.person_id, (SELECT COUNT(*) FROM profiles i WHERE o.person_id = 5 AND i.age > 10) FROM profiles o"
	if p := gsql.DebugString(analyze(t, onSrv.srv, "demo", q)); strings.Contains(p, "point lookup") {
		t.Errorf("plan of %s: the outer person_id became a point lookup of the inner scan:\n%s", q, p)
	}
}

// TestDifferentialCorrelated is TestDifferential for random correlated
// subqueries: outer and inner scans of profiles and events under aliases,
// with random predicates over the outer row, the inner row, or both, in
// scalar subqueries, EXISTS, NOT EXISTS, IN and NOT IN. It shares the
// -sqlfront.seed and -sqlfront.n flags.
func TestDifferentialCorrelated(t *testing.T) {
	seed := uint64(1)
	if *diffSeed == "random" {
		seed = uint64(time.Now().UnixNano())
	} else {
		s, err := strconv.ParseUint(*diffSeed, 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		seed = s
	}
	t.Logf("seed %d (rerun with -run DifferentialCorrelated -args -sqlfront.seed=%d)", seed, seed)
	eng := newEngine(t, "demo")
	ws, _ := eng.Workspace("demo")
	fixture(t, ws, 150, seed)
	on := startServer(t, eng, nil).open(t, "root", testPassword, "demo")
	off := startServer(t, eng, func(o *Options) { o.DisablePushdown = true }).open(t, "root", testPassword, "demo")
	g := &qgen{rng: rand.New(rand.NewPCG(seed, 11))}
	fails := 0
	for i := 0; i < *diffN && fails < 10; i++ {
		fails += diffCompare(t, i, g.correlated(), on, off)
	}
}

// diffCompare runs q on both servers and reports a difference (rows are
// compared as sets); it returns 1 on a difference, else 0.
func diffCompare(t *testing.T, i int, q string, on, off *sql.DB) int {
	t.Helper()
	a, aerr := diffRun(on, q)
	b, berr := diffRun(off, q)
	switch {
	case (aerr != nil) != (berr != nil):
		t.Errorf("query %d: %s\n on: %v\noff: %v", i, q, aerr, berr)
		return 1
	case aerr != nil:
		return 0
	}
	slices.SortFunc(a[1:], compareRows)
	slices.SortFunc(b[1:], compareRows)
	if !slices.EqualFunc(a, b, slices.Equal) {
		t.Errorf("query %d: %s\n on (%d rows): %v\noff (%d rows): %v", i, q, len(a)-1, head(a), len(b)-1, head(b))
		return 1
	}
	return 0
}

// qualified returns cols with names prefixed by alias.
func qualified(alias string, cols []gcol) []gcol {
	out := make([]gcol, len(cols))
	for i, c := range cols {
		out[i] = gcol{alias + "." + c.name, c.kind}
	}
	return out
}

// corrTable is a table a correlated query reads, with its key column
// (which bounds the outer rows) and the columns predicates use.
type corrTable struct {
	name, key string
	cols      []gcol
}

var corrTables = []corrTable{
	{"profiles", "person_id", profileCols},
	{"events", "event_id", eventCols},
}

// correlated returns a random query with a correlated subquery whose
// inner filter holds predicates over the outer row.
func (g *qgen) correlated() string {
	ot, it := corrTables[g.rng.IntN(2)], corrTables[g.rng.IntN(2)]
	oa, ia := g.pick("o", "p", "x"), g.pick("i", "e", "y")
	if g.rng.IntN(8) == 0 {
		ia = it.name // the inner table unaliased
	}
	if ot.name == it.name && ia == it.name {
		ia = "i" // the same name in both scopes would shadow the outer one
	}
	ocols, icols := qualified(oa, ot.cols), qualified(ia, it.cols)

	// The inner filter: outer predicates, inner predicates, a correlation.
	var conj []string
	for n := 1 + g.rng.IntN(2); n > 0; n-- {
		conj = append(conj, g.pred(ocols, 1))
	}
	if g.rng.IntN(4) != 0 {
		conj = append(conj, g.pred(icols, 1))
	}
	if g.rng.IntN(3) == 0 {
		conj = append(conj, fmt.Sprintf("%s.person_id = %s.person_id", ia, oa))
	}
	if g.rng.IntN(6) == 0 {
		// Outer and inner fields in one conjunct.
		conj = append(conj, "("+g.pred(ocols, 0)+" OR "+g.pred(icols, 0)+")")
	}
	g.rng.Shuffle(len(conj), func(a, b int) { conj[a], conj[b] = conj[b], conj[a] })
	inner := fmt.Sprintf("FROM %s %s WHERE %s", it.name, ia, strings.Join(conj, " AND "))
	if ia == it.name {
		inner = fmt.Sprintf("FROM %s WHERE %s", it.name, strings.Join(conj, " AND "))
	}

	// Few outer rows: the oracle evaluates the subquery once per row.
	bound := fmt.Sprintf("%s.%s <= %d", oa, ot.key, 20+g.rng.IntN(60))
	from := fmt.Sprintf("FROM %s %s", ot.name, oa)
	key := oa + "." + ot.key
	switch g.rng.IntN(6) {
	case 0, 1:
		agg := g.pick("COUNT(*)", "COUNT("+ia+".person_id)")
		num := icols[g.rng.IntN(len(icols))]
		if num.kind == "int" || num.kind == "float" {
			agg = g.pick(agg, "SUM("+num.name+")", "MIN("+num.name+")", "MAX("+num.name+")")
		}
		return fmt.Sprintf("SELECT %s, (SELECT %s %s) %s WHERE %s", key, agg, inner, from, bound)
	case 2:
		return fmt.Sprintf("SELECT %s %s WHERE %s AND %sEXISTS (SELECT 1 %s)", key, from, bound, g.pick("", "NOT "), inner)
	case 3:
		return fmt.Sprintf("SELECT %s %s WHERE %s AND %s.person_id %s (SELECT %s.person_id %s)", key, from, bound, oa, g.pick("IN", "NOT IN"), ia, inner)
	case 4:
		// A scalar subquery in the outer filter.
		return fmt.Sprintf("SELECT %s %s WHERE %s AND (SELECT COUNT(*) %s) %s %d", key, from, bound, inner, g.pick(">", "=", "<"), g.rng.IntN(3))
	}
	// Outer predicates in the outer filter too.
	return fmt.Sprintf("SELECT %s, (SELECT COUNT(*) %s) %s WHERE %s AND %s", key, inner, from, bound, g.pred(ocols, 1))
}
