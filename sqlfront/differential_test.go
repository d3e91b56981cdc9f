package sqlfront

import (
	"database/sql"
	"flag"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

var (
	diffSeed = flag.String("sqlfront.seed", "1", "seed of the differential test, or \"random\"")
	diffN    = flag.Int("sqlfront.n", 300, "number of queries of the differential test")
)

// TestDifferential runs random queries with pushdown and the aggregate and
// behaviour rules on, and off (GMS evaluates everything), on the same
// engine, and requires identical results: values, NULLs, column types.
func TestDifferential(t *testing.T) {
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
	t.Logf("seed %d (rerun with -args -sqlfront.seed=%d)", seed, seed)
	eng := newEngine(t, "demo")
	ws, _ := eng.Workspace("demo")
	fixture(t, ws, 300, seed)
	on := startServer(t, eng, nil).open(t, "root", testPassword, "demo")
	off := startServer(t, eng, func(o *Options) { o.DisablePushdown = true }).open(t, "root", testPassword, "demo")
	g := &qgen{rng: rand.New(rand.NewPCG(seed, 7))}
	fails := 0
	for i := 0; i < *diffN && fails < 10; i++ {
		q, ordered := g.query()
		a, aerr := diffRun(on, q)
		b, berr := diffRun(off, q)
		switch {
		case (aerr != nil) != (berr != nil):
			t.Errorf("query %d: %s\n on: %v\noff: %v", i, q, aerr, berr)
			fails++
			continue
		case aerr != nil:
			continue
		}
		if !ordered {
			slices.SortFunc(a[1:], compareRows)
			slices.SortFunc(b[1:], compareRows)
		}
		if !slices.EqualFunc(a, b, slices.Equal) {
			t.Errorf("query %d: %s\n on (%d rows): %v\noff (%d rows): %v", i, q, len(a)-1, head(a), len(b)-1, head(b))
			fails++
		}
	}
}

func head(r [][]string) [][]string {
	if len(r) > 8 {
		return r[:8]
	}
	return r
}

func compareRows(a, b []string) int { return slices.Compare(a, b) }

// diffRun returns the column types as the first row, then the rows.
func diffRun(db *sql.DB, q string) ([][]string, error) {
	rows, err := db.Query(q)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	cts, err := rows.ColumnTypes()
	if err != nil {
		return nil, err
	}
	hdr := make([]string, len(cts))
	for i, c := range cts {
		hdr[i] = c.DatabaseTypeName()
	}
	out := [][]string{hdr}
	for rows.Next() {
		vals := make([]sql.RawBytes, len(cts))
		ptrs := make([]any, len(cts))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return nil, err
		}
		row := make([]string, len(cts))
		for i, v := range vals {
			if v == nil {
				row[i] = "NULL"
			} else {
				row[i] = string(v)
			}
		}
		out = append(out, row)
	}
	return out, rows.Err()
}

type qgen struct{ rng *rand.Rand }

func (g *qgen) pick(s ...string) string { return s[g.rng.IntN(len(s))] }

var (
	strLits = []string{"'US'", "'us'", "'US '", "'DE'", "'fr'", "'FR'", "''", "'Brazil'", "'zz'", "'pro'", "'Pro'", "'free'", "'A'"}
	likes   = []string{"'U%'", "'%s'", "'_S'", "'us'", "'%R%'", "'%'", "'B_a%'", "'%\\_%'", "'p%o'"}
	intLits = []string{"0", "1", "30", "-3", "70", "2.5", "1e1", "'30'", "NULL", "75.0", "9007199254740993", "-1"}
	fltLits = []string{"0", "10", "10.5", "-12.375", "100", "1e2", "'10'", "NULL", "3"}
	boolLit = []string{"0", "1", "TRUE", "FALSE", "2", "-1", "NULL"}
	tsLits  = []string{"'2026-09-01'", "'2026-10-01 12:00:00'", "'2026-08-15 03:04:05.123456'", "NOW() - INTERVAL 60 DAY",
		"NOW() - INTERVAL 3 MONTH", "'2026-09-01' + INTERVAL 1 DAY", "TIMESTAMP('2026-10-10')", "NULL", "'2026-09-30 23:59:59.999999'"}
	ops = []string{"=", "!=", "<>", "<", "<=", ">", ">="}
)

type gcol struct{ name, kind string }

var profileCols = []gcol{{"person_id", "int"}, {"country", "str"}, {"tier", "str"}, {"age", "int"}, {"score", "float"},
	{"vip", "bool"}, {"signup_at", "ts"}, {"created_at", "ts"}, {"last_seen", "ts"}, {"tags", "json"}}
var eventCols = []gcol{{"person_id", "int"}, {"event_id", "int"}, {"name", "str"}, {"ts", "ts"}, {"amount", "float"}, {"qty", "int"}}

func (g *qgen) lit(kind string) string {
	switch kind {
	case "str":
		return g.pick(strLits...)
	case "int":
		return g.pick(intLits...)
	case "float":
		return g.pick(fltLits...)
	case "bool":
		return g.pick(boolLit...)
	case "ts":
		return g.pick(tsLits...)
	}
	return "NULL"
}

func (g *qgen) list(kind string) string {
	n := 1 + g.rng.IntN(4)
	parts := make([]string, n)
	for i := range parts {
		parts[i] = g.lit(kind)
		if kind == "str" && g.rng.IntN(4) == 0 {
			parts[i] = g.pick(countries...)
			parts[i] = "'" + parts[i] + "'"
		}
	}
	return "(" + strings.Join(parts, ", ") + ")"
}

func (g *qgen) atom(cols []gcol) string {
	c := cols[g.rng.IntN(len(cols))]
	if c.kind == "json" {
		return c.name + g.pick(" IS NULL", " IS NOT NULL")
	}
	switch g.rng.IntN(10) {
	case 0:
		return c.name + g.pick(" IS NULL", " IS NOT NULL")
	case 1:
		return c.name + g.pick(" IN ", " NOT IN ") + g.list(c.kind)
	case 2:
		return c.name + g.pick(" BETWEEN ", " NOT BETWEEN ") + g.lit(c.kind) + " AND " + g.lit(c.kind)
	case 3:
		if c.kind == "str" {
			return c.name + g.pick(" LIKE ", " NOT LIKE ") + g.pick(likes...)
		}
		if c.kind == "int" {
			return c.name + " + 0 " + g.pick(ops...) + " " + g.lit(c.kind) // residual
		}
	case 4:
		if c.kind == "str" {
			return "lower(" + c.name + ") = " + g.lit("str") // residual
		}
		return g.lit(c.kind) + " " + g.pick(ops...) + " " + c.name
	}
	return c.name + " " + g.pick(ops...) + " " + g.lit(c.kind)
}

func (g *qgen) pred(cols []gcol, depth int) string {
	if depth <= 0 || g.rng.IntN(3) == 0 {
		return g.atom(cols)
	}
	switch g.rng.IntN(4) {
	case 0:
		return "NOT (" + g.pred(cols, depth-1) + ")"
	case 1:
		return "(" + g.pred(cols, depth-1) + " OR " + g.pred(cols, depth-1) + ")"
	}
	return "(" + g.pred(cols, depth-1) + " AND " + g.pred(cols, depth-1) + ")"
}

func (g *qgen) behaviour() string {
	w := g.pred(eventCols[2:], 1)
	switch g.rng.IntN(4) {
	case 0:
		return fmt.Sprintf("person_id %s (SELECT person_id FROM events WHERE %s)", g.pick("IN", "NOT IN"), w)
	case 1:
		agg := g.pick("COUNT(*)", "SUM(amount)", "MIN(qty)", "MAX(amount)", "SUM(qty)")
		return fmt.Sprintf("person_id %s (SELECT person_id FROM events WHERE %s GROUP BY person_id HAVING %s %s %s)",
			g.pick("IN", "NOT IN"), w, agg, g.pick(">=", ">", "<", "=", "<="), g.pick("0", "1", "2", "3", "50", "2.5"))
	}
	return fmt.Sprintf("%sEXISTS (SELECT 1 FROM events e WHERE e.person_id = p.person_id AND %s)", g.pick("", "NOT "), strings.ReplaceAll(w, "name", "e.name"))
}

// query returns a random query and whether its row order is defined.
func (g *qgen) query() (string, bool) {
	switch g.rng.IntN(12) {
	case 0, 1:
		return fmt.Sprintf("SELECT person_id, country, tier, age, score, vip, signup_at, tags FROM profiles WHERE %s ORDER BY person_id", g.pred(profileCols, 3)), true
	case 2:
		return fmt.Sprintf("SELECT COUNT(*) FROM profiles WHERE %s", g.pred(profileCols, 3)), true
	case 3:
		key := g.pick("country", "tier", "vip", "age", "signup_at")
		return fmt.Sprintf("SELECT %s, COUNT(*), COUNT(age), COUNT(DISTINCT tier), SUM(age), AVG(age), MIN(age), MAX(signup_at), MIN(vip), MAX(score), COUNT(DISTINCT age) FROM profiles WHERE %s GROUP BY %s",
			key, g.pred(profileCols, 2), key), false
	case 4:
		return fmt.Sprintf("SELECT name, COUNT(*), SUM(qty), AVG(qty), MIN(ts), MAX(amount), COUNT(DISTINCT name) FROM events WHERE %s GROUP BY name", g.pred(eventCols, 2)), false
	case 5:
		return fmt.Sprintf("SELECT event_id, person_id, name, ts, amount, qty FROM events WHERE %s ORDER BY event_id", g.pred(eventCols, 3)), true
	case 6:
		return fmt.Sprintf("SELECT COUNT(*) FROM profiles p WHERE %s AND %s", g.behaviour(), g.pred(profileCols, 1)), true
	case 7:
		return fmt.Sprintf("SELECT person_id FROM profiles p WHERE %s ORDER BY person_id LIMIT 7", g.behaviour()), true
	case 8:
		// MIN/MAX of strings and SUM/AVG of DOUBLE (ordered float sums),
		// grouped: values must be identical bit for bit.
		key := g.pick("country", "tier", "vip", "age", "signup_at")
		return fmt.Sprintf("SELECT %s, MIN(country), MAX(country), MIN(tier), MAX(tier), SUM(score), AVG(score), COUNT(score), MIN(score) FROM profiles WHERE %s GROUP BY %s",
			key, g.pred(profileCols, 2), key), false
	case 9:
		w := ""
		if g.rng.IntN(4) != 0 {
			w = " WHERE " + g.pred(profileCols, 2)
		}
		return "SELECT SUM(score), AVG(score), MIN(country), MAX(tier), COUNT(*) FROM profiles" + w, true
	case 10:
		if g.rng.IntN(2) == 0 {
			return fmt.Sprintf("SELECT name, SUM(amount), AVG(amount), MIN(name), MAX(name), AVG(qty) FROM events WHERE %s GROUP BY name", g.pred(eventCols, 2)), false
		}
		return fmt.Sprintf("SELECT SUM(amount), AVG(amount), MAX(name), MIN(name) FROM events WHERE %s", g.pred(eventCols, 2)), true
	}
	return fmt.Sprintf("SELECT COUNT(*), SUM(qty), MIN(qty), COUNT(DISTINCT qty) FROM events WHERE %s", g.pred(eventCols, 2)), true
}
