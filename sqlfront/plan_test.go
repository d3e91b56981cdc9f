package sqlfront

import (
	"context"
	"flag"
	"strings"
	"testing"

	"github.com/dolthub/go-mysql-server/sql"
	"github.com/dolthub/go-mysql-server/sql/planbuilder"
)

var planQuery = flag.String("sqlfront.plan", "", "print the analyzed plan of this query (TestPlan)")

// analyze returns the analyzed plan of q in workspace db.
func analyze(t testing.TB, s *Server, db, q string) sql.Node {
	t.Helper()
	base := sql.NewBaseSessionWithClientServer("", sql.Client{User: "root", Address: "localhost"}, 1)
	ctx := sql.NewContext(context.Background(), sql.WithSession(newSession(base)))
	ctx.SetCurrentDatabase(db)
	n, err := s.gms.AnalyzeQuery(ctx, q)
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return n
}

func TestPlan(t *testing.T) {
	if *planQuery == "" {
		t.Skip("no -sqlfront.plan")
	}
	eng := newEngine(t, "demo")
	ws, _ := eng.Workspace("demo")
	fixture(t, ws, 50, 1)
	for _, off := range []bool{false, true} {
		ts := startServer(t, eng, func(o *Options) { o.DisablePushdown = off })
		for _, q := range strings.Split(*planQuery, ";") {
			t.Logf("pushdown off=%v\n%s\n%s", off, q, sql.DebugString(analyze(t, ts.srv, "demo", q)))
		}
	}
}

var parseQuery = flag.String("sqlfront.parse", "", "print the parsed plan of this query (TestParse)")

func TestParse(t *testing.T) {
	if *parseQuery == "" {
		t.Skip("no -sqlfront.parse")
	}
	eng := newEngine(t, "demo")
	ws, _ := eng.Workspace("demo")
	fixture(t, ws, 50, 1)
	ts := startServer(t, eng, nil)
	for _, q := range strings.Split(*parseQuery, ";") {
		base := sql.NewBaseSessionWithClientServer("", sql.Client{User: "root", Address: "localhost"}, 1)
		ctx := sql.NewContext(context.Background(), sql.WithSession(newSession(base)))
		ctx.SetCurrentDatabase("demo")
		b := planbuilder.New(ctx, ts.srv.gms.Analyzer.Catalog, nil, sql.GlobalParser)
		n, _, _, _, err := b.Parse(q, nil, false)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%s\n%s", q, sql.DebugString(n))
	}
}
