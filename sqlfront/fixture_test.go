package sqlfront

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/cohortdb/cohort/engine"
	"github.com/cohortdb/cohort/engine/column"
	"github.com/cohortdb/cohort/engine/identity"
)

var t0 = time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)

const testPassword = "s3cret-test"

var countries = []string{"US", "us", "DE", "FR", "fr", "GB", "Brazil", "", "US "}
var plans = []string{"free", "pro", "Pro", "enterprise"}
var eventNames = []string{"page_view", "purchase", "signup", "Purchase", "add_to_cart"}

// fixture fills a workspace with n persons and their events: every column
// type, NULLs, mixed-case strings, a few merges.
func fixture(t testing.TB, ws *engine.Workspace, n int, seed uint64) {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	var ops []engine.Op
	flush := func() {
		if len(ops) == 0 {
			return
		}
		r, err := ws.Apply(context.Background(), ops)
		if err != nil {
			t.Fatal(err)
		}
		if len(r.Rejected) > 0 {
			t.Fatalf("rejected: %v", r.Rejected[0].Err)
		}
		ops = ops[:0]
	}
	for i := 1; i <= n; i++ {
		at := t0.Add(-time.Duration(rng.IntN(90*24)) * time.Hour).Add(time.Duration(rng.IntN(3600e6)) * time.Microsecond)
		var traits []engine.Field
		add := func(name string, v column.Value) {
			if rng.IntN(8) == 0 {
				return // NULL
			}
			traits = append(traits, engine.Field{Name: name, Value: v})
		}
		add("country", column.String(countries[rng.IntN(len(countries))]))
		add("tier", column.String(plans[rng.IntN(len(plans))]))
		add("age", column.Int(int64(rng.IntN(80))-5))
		add("score", column.Float(float64(rng.IntN(2000))/8-50))
		add("vip", column.Bool(rng.IntN(3) == 0))
		add("signup_at", column.Micros(at.Add(-time.Duration(rng.IntN(1000))*time.Hour).UnixMicro()))
		add("tags", column.StringList([]string{"a", "b"}[:rng.IntN(3)%2+1]))
		ids := []identity.ID{{Type: "user_id", Value: fmt.Sprintf("u%d", i)}}
		switch {
		case i%4 == 0: // email only: such persons can merge into others
			ids = []identity.ID{{Type: "email", Value: fmt.Sprintf("user%d@example.com", i)}}
		case rng.IntN(2) == 0:
			ids = append(ids, identity.ID{Type: "email", Value: fmt.Sprintf("user%d@example.com", i)})
		}
		ops = append(ops, engine.Op{Kind: engine.OpIdentify, IDs: ids, Traits: traits, At: at.UnixMicro()})
		for e := rng.IntN(6); e > 0; e-- {
			ts := at.Add(time.Duration(rng.IntN(30*24)) * time.Hour)
			var props []engine.Field
			if rng.IntN(4) != 0 {
				props = append(props, engine.Field{Name: "amount", Value: column.Float(float64(rng.IntN(10000)) / 100)})
			}
			if rng.IntN(3) != 0 {
				props = append(props, engine.Field{Name: "qty", Value: column.Int(int64(rng.IntN(5)))})
			}
			ops = append(ops, engine.Op{Kind: engine.OpTrack, IDs: ids[:1], Event: eventNames[rng.IntN(len(eventNames))], Props: props, At: ts.UnixMicro()})
		}
		if len(ops) > 500 {
			flush()
		}
	}
	flush()
	// A few merges: an anonymous id seen on two persons.
	for i := 0; i < n/5; i++ {
		a, b := 4*(1+rng.IntN(max(n/4, 1))), 1+rng.IntN(n)
		anon := identity.ID{Type: "anonymous_id", Value: fmt.Sprintf("anon%d", i)}
		ops = append(ops,
			engine.Op{Kind: engine.OpTrack, IDs: []identity.ID{anon, {Type: "email", Value: fmt.Sprintf("user%d@example.com", a)}}, Event: "page_view", At: t0.UnixMicro()},
			engine.Op{Kind: engine.OpAlias, IDs: []identity.ID{anon, {Type: "user_id", Value: fmt.Sprintf("u%d", b)}}, At: t0.UnixMicro()},
		)
	}
	if len(ops) > 0 {
		r, err := ws.Apply(context.Background(), ops)
		if err != nil {
			t.Fatal(err)
		}
		_ = r // some aliases are rejected by the rules (one user_id per person)
	}
}

type testServer struct {
	srv *Server
	eng *engine.Engine
	dir string
}

func startServer(t testing.TB, eng *engine.Engine, mod func(*Options)) *testServer {
	t.Helper()
	dir := t.TempDir()
	opts := Options{
		Addr:         "127.0.0.1:0",
		RootPassword: testPassword,
		DataDir:      dir,
		Logger:       slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
	if mod != nil {
		mod(&opts)
	}
	s, err := New(eng, opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = s.Shutdown(ctx)
	})
	return &testServer{srv: s, eng: eng, dir: dir}
}

// dsn returns a go-sql-driver DSN for user/password on db.
func (ts *testServer) dsn(user, pass, db string, params ...string) string {
	cfg := mysql.NewConfig()
	cfg.User, cfg.Passwd, cfg.Net, cfg.Addr, cfg.DBName = user, pass, "tcp", ts.srv.Addr().String(), db
	cfg.ParseTime = true
	cfg.AllowNativePasswords = true
	cfg.TLSConfig = "skip-verify"
	cfg.Params = map[string]string{}
	for i := 0; i+1 < len(params); i += 2 {
		cfg.Params[params[i]] = params[i+1]
	}
	return cfg.FormatDSN()
}

func (ts *testServer) open(t testing.TB, user, pass, db string) *sql.DB {
	t.Helper()
	d, err := sql.Open("mysql", ts.dsn(user, pass, db))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

func newEngine(t testing.TB, workspaces ...string) *engine.Engine {
	e := engine.New(engine.Options{})
	for _, w := range workspaces {
		if _, err := e.CreateWorkspace(w); err != nil {
			t.Fatal(err)
		}
	}
	return e
}

// query returns every row as strings ("NULL" for NULL).
func query(t testing.TB, db *sql.DB, q string, args ...any) [][]string {
	t.Helper()
	out, err := queryErr(db, q, args...)
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return out
}

func queryErr(db interface {
	Query(string, ...any) (*sql.Rows, error)
}, q string, args ...any) ([][]string, error) {
	rows, err := db.Query(q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return nil, err
	}
	var out [][]string
	for rows.Next() {
		vals := make([]sql.RawBytes, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return nil, err
		}
		row := make([]string, len(cols))
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
