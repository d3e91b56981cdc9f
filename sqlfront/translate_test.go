package sqlfront

import (
	"context"
	"strings"
	"testing"

	"github.com/dolthub/go-mysql-server/sql"
	"github.com/dolthub/go-mysql-server/sql/expression"
	"github.com/dolthub/go-mysql-server/sql/plan"
	"github.com/dolthub/go-mysql-server/sql/planbuilder"
	"github.com/dolthub/go-mysql-server/sql/transform"
)

// filterOf parses "SELECT * FROM profiles WHERE <where>" and returns the
// WHERE expression as GMS builds it, before any of our rules.
func filterOf(t *testing.T, s *Server, where string) (sql.Expression, *sql.Context) {
	t.Helper()
	base := sql.NewBaseSessionWithClientServer("", sql.Client{User: "root", Address: "localhost"}, 1)
	ctx := sql.NewContext(context.Background(), sql.WithSession(newSession(base)))
	ctx.SetCurrentDatabase("demo")
	b := planbuilder.New(ctx, s.gms.Analyzer.Catalog, nil, sql.GlobalParser)
	n, _, _, _, err := b.Parse("SELECT * FROM profiles WHERE "+where, nil, false)
	if err != nil {
		t.Fatalf("%s: %v", where, err)
	}
	var f sql.Expression
	transform.Inspect(n, func(n sql.Node) bool {
		if x, ok := n.(*plan.Filter); ok {
			f = x.Expression
		}
		return f == nil
	})
	if f == nil {
		t.Fatalf("%s: no filter", where)
	}
	return f, ctx
}

// TestTranslate checks each supported shape translates (to the engine form
// shown) and unsupported ones stay with GMS.
func TestTranslate(t *testing.T) {
	eng := newEngine(t, "demo")
	ws, _ := eng.Workspace("demo")
	fixture(t, ws, 20, 1)
	ts := startServer(t, eng, nil)
	es := ws.Snapshot().Profiles.Schema
	for _, tt := range []struct {
		where string
		want  string // "" means: stays in GMS
	}{
		{"country = 'US'", `"country" = "US"`},
		{"'US' = country", `"country" = "US"`},
		{"country != 'US'", `NOT ("country" = "US")`},
		{"age > 30", `"age" > 30`},
		{"30 < age", `"age" > 30`},
		{"age <= 2.5", `"age" <= 2.5`},
		{"score >= 10", `"score" >= 10`},
		{"age = NULL", `"age" = NULL`},
		{"country IN ('US', 'DE', NULL)", `"country" IN ("US", "DE", NULL)`},
		{"country NOT IN ('US')", `NOT ("country" IN ("US"))`},
		{"age BETWEEN 1 AND 5", `("age" >= 1) AND ("age" <= 5)`},
		{"age IS NULL", `"age" IS NULL`},
		{"age IS NOT NULL", `NOT ("age" IS NULL)`},
		{"country LIKE 'U%'", `"country" LIKE "U%"`},
		{"country NOT LIKE '%s'", `NOT ("country" LIKE "%s")`},
		{"vip = 1", `"vip" = true`},
		{"vip = TRUE", `"vip" = true`},
		{"vip = 2", `("vip" = true) AND ("vip" = false)`},
		{"vip >= 0", `("vip" = true) OR ("vip" = false)`}, // unknown on NULL, also under NOT
		{"signup_at > '2026-09-01'", `"signup_at" > 2026-09-01T00:00:00Z`},
		{"signup_at > NOW() - INTERVAL 7 DAY", `"signup_at" > 20`},
		{"(country = 'US' OR age > 3) AND NOT tier = 'pro'", `(("country" = "US") OR ("age" > 3)) AND (NOT ("tier" = "pro"))`},
		// Stay with GMS: a different meaning in the engine, or not a predicate it has.
		{"country = 5", ""},
		{"age = '30'", ""},
		{"age = 1e1", ""},
		{"score = 9007199254740993", ""},
		{"country = tier", ""},
		{"lower(country) = 'us'", ""},
		{"age + 0 > 3", ""},
		{"country LIKE 'U%' ESCAPE '|'", ""},
		{"tags = 'a'", ""},
		{"vip", ""},
		{"country = 'US' AND age + 0 > 3", ""},
		{"age > RAND()", ""},
		{"signup_at > 5", ""},
	} {
		f, ctx := filterOf(t, ts.srv, tt.where)
		tr := translator{ctx: ctx, schema: es}
		got, ok := tr.translate(f)
		switch {
		case tt.want == "" && ok:
			t.Errorf("%s: translated to %s, want it left to GMS", tt.where, got)
		case tt.want != "" && !ok:
			t.Errorf("%s: not translated, want %s", tt.where, tt.want)
		case ok && !strings.HasPrefix(got.String(), tt.want):
			t.Errorf("%s: got %s, want %s", tt.where, got, tt.want)
		}
	}
}

// TestLookupResidual checks that LookupForExpressions takes the
// translatable conjuncts and leaves the others as the residual filter.
func TestLookupResidual(t *testing.T) {
	eng := newEngine(t, "demo")
	ws, _ := eng.Workspace("demo")
	fixture(t, ws, 20, 1)
	ts := startServer(t, eng, nil)
	f, ctx := filterOf(t, ts.srv, "country = 'US' AND lower(tier) = 'pro' AND age > 3")
	tbl := newTable(ctx, &database{srv: ts.srv, ws: ws}, "profiles")
	// Until it knows its table id (scopeRule), a table pushes nothing
	// down; nor does it push fields of another table instance.
	if _, _, _, ok, _ := tbl.LookupForExpressions(ctx, expression.SplitConjunction(f)...); ok {
		t.Error("a lookup on a table without id")
	}
	tbl.id = 99
	if _, _, _, ok, _ := tbl.LookupForExpressions(ctx, expression.SplitConjunction(f)...); ok {
		t.Error("a lookup over another table's fields")
	}
	transform.InspectExpr(f, func(x sql.Expression) bool {
		if gf, is := x.(*expression.GetField); is {
			tbl.id = gf.TableId()
		}
		return false
	})
	lookup, _, residual, ok, err := tbl.LookupForExpressions(ctx, expression.SplitConjunction(f)...)
	if err != nil || !ok {
		t.Fatalf("lookup: %v %v", ok, err)
	}
	p := lookup.Index.(*pushIndex).push
	if len(p.where) != 2 || residual == nil || !strings.Contains(residual.String(), "lower") || strings.Contains(residual.String(), "age") {
		t.Errorf("pushed %v, residual %v", p.where, residual)
	}
	// Nothing translatable: no lookup.
	f, _ = filterOf(t, ts.srv, "lower(tier) = 'pro'")
	if _, _, _, ok, _ := tbl.LookupForExpressions(ctx, f); ok {
		t.Error("a lookup without a translatable conjunct")
	}
	// Point lookup on person_id.
	f, _ = filterOf(t, ts.srv, "person_id = 3 AND age > 1")
	lookup, _, residual, ok, _ = tbl.LookupForExpressions(ctx, expression.SplitConjunction(f)...)
	if !ok || lookup.Index.(*pushIndex).push.point == nil || residual == nil {
		t.Errorf("point lookup: ok=%v residual=%v", ok, residual)
	}
}
