package sqlfront

import (
	"slices"
	"strings"
	"testing"
	"time"
)

// TestEqualityJoinsAvoidNestedLoops checks that joins on an equality
// between pushed-down tables are planned as hash or lookup joins: GMS
// estimates each filtered Cohort table at one row and would otherwise
// nest loops over them (coster.go). The results are checked against the
// plans without pushdown, where GMS costs plain tables.
func TestEqualityJoinsAvoidNestedLoops(t *testing.T) {
	eng := newEngine(t, "demo")
	ws, _ := eng.Workspace("demo")
	hist := newMemHistory(ws)
	fixture(t, ws, 300, 11)
	on := startServer(t, eng, func(o *Options) { o.History = hist }).open(t, "root", testPassword, "demo")
	off := startServer(t, eng, func(o *Options) { o.History = hist; o.DisablePushdown = true }).open(t, "root", testPassword, "demo")
	queries := []string{
		"SELECT COUNT(*) FROM profiles p JOIN events e ON e.person_id = p.person_id WHERE p.country = 'ES' AND e.name = 'purchase'",
		"SELECT p.person_id, COUNT(e.name) FROM profiles p LEFT JOIN events e ON e.person_id = p.person_id AND e.name = 'login' WHERE p.age > 30 GROUP BY p.person_id",
		"SELECT e.name, COUNT(*) FROM events e JOIN profiles p ON p.person_id = e.person_id WHERE p.tier = 'pro' GROUP BY e.name",
		"SELECT o.person_id, o.attribute FROM profile_history o WHERE EXISTS (SELECT 1 FROM profile_history i WHERE i.person_id = o.person_id AND i.attribute = 'age' AND o.changed_at > '2020-01-01')",
	}
	nested := []string{"InnerJoin", "SemiJoin", "AntiJoin", "LeftOuterJoin"}
	for _, q := range queries {
		plan, err := diffRun(on, "EXPLAIN PLAN "+q)
		if err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		for _, row := range plan[1:] {
			node := strings.TrimLeft(row[0], " │├└─")
			for _, n := range nested {
				if node == n {
					t.Errorf("%s: planned as a nested loop (%s):\n%s", q, n, joinPlan(plan))
				}
			}
		}
		start := time.Now()
		a, err := diffRun(on, q)
		if err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		took := time.Since(start)
		b, err := diffRun(off, q)
		if err != nil {
			t.Fatalf("%s (no pushdown): %v", q, err)
		}
		slices.SortFunc(a[1:], compareRows)
		slices.SortFunc(b[1:], compareRows)
		if len(a) < 2 || !slices.EqualFunc(a, b, slices.Equal) {
			t.Errorf("%s: %d rows with pushdown, %d without, or different rows", q, len(a)-1, len(b)-1)
		}
		t.Logf("%s: %d rows in %v", q, len(a)-1, took)
	}
}

func joinPlan(rows [][]string) string {
	var b strings.Builder
	for _, r := range rows[1:] {
		b.WriteString(r[0])
		b.WriteByte('\n')
	}
	return b.String()
}
