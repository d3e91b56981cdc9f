package sqlfront

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/cohortdb/cohort/engine"
	"github.com/cohortdb/cohort/engine/column"
	"github.com/cohortdb/cohort/engine/identity"
)

// BenchmarkFloatAgg: SUM and AVG of a DOUBLE column by country over the
// wire, answered by the engine (ordered float sums) or by GMS row by row.
func BenchmarkFloatAgg(b *testing.B) {
	e := benchSetup(b)
	for _, c := range []struct{ name, q string }{
		{"sum", "SELECT country, SUM(ltv) FROM profiles GROUP BY country"},
		{"avg", "SELECT country, AVG(ltv) FROM profiles GROUP BY country"},
		{"sum_where", "SELECT country, SUM(ltv), AVG(ltv) FROM profiles WHERE age > 30 GROUP BY country"},
	} {
		b.Run(c.name+"/pushdown", func(b *testing.B) { benchRows(b, e.on, c.q) })
		b.Run(c.name+"/gms", func(b *testing.B) { benchRows(b, e.off, c.q) })
	}
}

// TestFloatSumsMatchGMS: over several chunks of adversarial DOUBLE values
// (1e16, 1, -1e16, fractions, NULLs), SUM/AVG answered by the engine
// (ordered float sums) equal GMS's row-by-row sums bit for bit, with and
// without GROUP BY and WHERE; and the engine answers them (plans).
func TestFloatSumsMatchGMS(t *testing.T) {
	eng := newEngine(t, "demo")
	ws, _ := eng.Workspace("demo")
	n := 2*column.ChunkRows + 5000 // three chunks
	if testing.Short() {
		n = column.ChunkRows + 100
	}
	rng := rand.New(rand.NewPCG(3, 4))
	vals := []float64{1e16, 1, -1e16, 0.1, -0.3, 1e-3, 3.0e15, 7, -1}
	var ops []engine.Op
	for i := 1; i <= n; i++ {
		traits := []engine.Field{{Name: "country", Value: column.String(countries[rng.IntN(4)])}}
		if rng.IntN(10) != 0 {
			v := vals[rng.IntN(len(vals))]
			if rng.IntN(3) == 0 {
				v = rng.Float64() * 1000
			}
			traits = append(traits, engine.Field{Name: "score", Value: column.Float(v)})
		}
		if rng.IntN(2) == 0 {
			traits = append(traits, engine.Field{Name: "age", Value: column.Int(int64(rng.IntN(80)))})
		}
		ops = append(ops, engine.Op{Kind: engine.OpIdentify, IDs: []identity.ID{{Type: "user_id", Value: fmt.Sprintf("u%d", i)}}, Traits: traits, At: t0.UnixMicro()})
		if len(ops) == 5000 || i == n {
			r, err := ws.Apply(context.Background(), ops)
			if err != nil {
				t.Fatal(err)
			}
			if len(r.Rejected) > 0 {
				t.Fatalf("rejected: %v", r.Rejected[0].Err)
			}
			ops = ops[:0]
		}
	}
	ts := startServer(t, eng, nil)
	on := ts.open(t, "root", testPassword, "demo")
	off := startServer(t, eng, func(o *Options) { o.DisablePushdown = true }).open(t, "root", testPassword, "demo")
	for _, q := range []string{
		"SELECT SUM(score), AVG(score), COUNT(score) FROM profiles",
		"SELECT country, SUM(score), AVG(score) FROM profiles GROUP BY country",
		"SELECT SUM(score), AVG(score) FROM profiles WHERE age > 30",
		"SELECT country, SUM(score), AVG(score), MIN(score), MAX(country) FROM profiles WHERE age IS NULL OR age < 20 GROUP BY country",
		"SELECT age, SUM(score), AVG(score) FROM profiles WHERE country IN ('US', 'DE') GROUP BY age",
		"SELECT SUM(score), AVG(score) FROM profiles WHERE age > 1000",
	} {
		if p := sql2plan(t, ts, q); !strings.Contains(p, "CohortAggregate") {
			t.Errorf("plan of %s lacks CohortAggregate:\n%s", q, p)
		}
		a, err := diffRun(on, q)
		if err != nil {
			t.Fatal(err)
		}
		b, err := diffRun(off, q)
		if err != nil {
			t.Fatal(err)
		}
		slices.SortFunc(a[1:], compareRows)
		slices.SortFunc(b[1:], compareRows)
		if !slices.EqualFunc(a, b, slices.Equal) {
			t.Errorf("%s\n on: %v\noff: %v", q, head(a), head(b))
		}
	}
}
