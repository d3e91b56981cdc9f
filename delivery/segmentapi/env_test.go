package segmentapi_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cohortdb/cohort/api/client"
	"github.com/cohortdb/cohort/delivery/apiserver"
	"github.com/cohortdb/cohort/delivery/internal/fixture"
	"github.com/cohortdb/cohort/delivery/internal/natstest"
	"github.com/cohortdb/cohort/delivery/profile"
	"github.com/cohortdb/cohort/delivery/segmentapi"
	"github.com/cohortdb/cohort/delivery/segstore"
	"github.com/cohortdb/cohort/delivery/tokens"
	"github.com/cohortdb/cohort/engine"
	"github.com/cohortdb/cohort/engine/column"
	"github.com/cohortdb/cohort/engine/expr"
	"github.com/cohortdb/cohort/engine/identity"
	"github.com/cohortdb/cohort/engine/segment"
)

const adminToken = "server-admin-token"

// compile is the tests' segment compiler: the subset
//
//	SELECT person_id FROM profiles [WHERE c [AND c]...]
//	c: col = | != | > | >= | < | <= 'string' | number | true | false
//	   col IS [NOT] NULL
//
// checked against the workspace's profile columns, with sqlfront-like
// messages. (The real compiler is sqlfront's; cmd/cohort wires it.)
func compile(eng *engine.Engine) segmentapi.CompileFunc {
	head := regexp.MustCompile(`(?i)^\s*SELECT\s+person_id\s+FROM\s+profiles\s*(?:WHERE(?:\s+(.*))?)?$`)
	cmpRE := regexp.MustCompile(`^(\w+)\s*(=|!=|>=|<=|>|<)\s*('[^']*'|-?[0-9]+(?:\.[0-9]+)?|true|false)$`)
	nullRE := regexp.MustCompile(`(?i)^(\w+)\s+IS\s+(NOT\s+)?NULL$`)
	ops := map[string]expr.Op{"=": expr.Eq, "!=": expr.Ne, ">": expr.Gt, ">=": expr.Ge, "<": expr.Lt, "<=": expr.Le}
	return func(ctx context.Context, ws, sql string) (engine.Cond, error) {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		w, err := eng.Workspace(ws)
		if err != nil {
			return nil, fmt.Errorf("cannot compile segment: %w", err)
		}
		m := head.FindStringSubmatch(sql)
		if m == nil {
			return nil, fmt.Errorf("syntax error at position %d near %q", 1, sql)
		}
		if strings.TrimSpace(m[1]) == "" {
			if strings.Contains(strings.ToUpper(sql), "WHERE") {
				return nil, fmt.Errorf("syntax error at position %d near 'WHERE'", len(sql)+1)
			}
			return engine.Where{}, nil
		}
		schema := w.Snapshot().Profiles.Schema
		var and expr.And
		for _, part := range regexp.MustCompile(`(?i)\s+AND\s+`).Split(strings.TrimSpace(m[1]), -1) {
			var col string
			var e expr.Expr
			if c := cmpRE.FindStringSubmatch(part); c != nil {
				col = c[1]
				var v column.Value
				switch lit := c[3]; {
				case strings.HasPrefix(lit, "'"):
					v = column.String(strings.Trim(lit, "'"))
				case lit == "true" || lit == "false":
					v = column.Bool(lit == "true")
				case strings.Contains(lit, "."):
					f, _ := strconv.ParseFloat(lit, 64)
					v = column.Float(f)
				default:
					n, _ := strconv.ParseInt(lit, 10, 64)
					v = column.Int(n)
				}
				e = expr.Cmp{Col: col, Op: ops[c[2]], Val: expr.Lit(v)}
			} else if c := nullRE.FindStringSubmatch(part); c != nil {
				col = c[1]
				e = expr.IsNull{Col: col, Not: c[2] != ""}
			} else {
				return nil, fmt.Errorf("syntax error at position %d near %q", strings.Index(sql, part)+1, part)
			}
			if _, ok := schema.Lookup(col); !ok {
				return nil, fmt.Errorf("column %q could not be found in any table in scope", col)
			}
			and = append(and, e)
		}
		return engine.Where{Expr: and}, nil
	}
}

// logBuffer collects JSON log lines.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// lines returns the log records whose message is msg.
func (b *logBuffer) lines(msg string) []map[string]any {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []map[string]any
	sc := bufio.NewScanner(bytes.NewReader(b.buf.Bytes()))
	for sc.Scan() {
		var m map[string]any
		if json.Unmarshal(sc.Bytes(), &m) == nil && m["msg"] == msg {
			out = append(out, m)
		}
	}
	return out
}

// env is a running API server with the segment service over the fixture
// workspace "acme" (and, with big > 0, a workspace "big" of persons
// 1..big whose profile column n is their id), segment managers running
// and publishing to an embedded JetStream.
type env struct {
	f     *fixture.Fixture
	reg   *segment.Registry
	store *segstore.Store
	srv   *apiserver.Server
	http  *httptest.Server
	grpc  string
	logs  *logBuffer
	read  string // tokens of acme
	write string
}

func newEnv(t testing.TB, big int) *env {
	t.Helper()
	f := fixture.New(t)
	if big > 0 {
		bigWorkspace(t, f.Eng, "big", big)
	}
	ctx := context.Background()
	js := natstest.JetStream(t, "")
	store, err := segstore.Open(ctx, js, segstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	toks, err := tokens.Open(ctx, js, "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(toks.Close)
	e := &env{f: f, store: store, logs: &logBuffer{}}
	log := slog.New(slog.NewJSONHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	e.reg = segment.NewRegistry(func(ws string) segment.Options {
		return segment.Options{
			Logger:      log,
			SampleEvery: -1,
			OnTransitions: func(ts []segment.Transition) {
				if err := store.PublishTransitions(context.Background(), ws, ts); err != nil {
					t.Errorf("publish: %v", err)
				}
			},
			OnDefine: func(info segment.Info) error { return store.SaveDefinition(context.Background(), ws, info) },
			OnDrop:   func(name string) error { return store.DeleteDefinition(context.Background(), ws, name) },
		}
	})
	for _, name := range f.Eng.Workspaces() {
		w, _ := f.Eng.Workspace(name)
		e.reg.Manager(w)
	}
	runCtx, stop := context.WithCancel(context.Background())
	ran := make(chan struct{})
	go func() { e.reg.Run(runCtx); close(ran) }()
	t.Cleanup(func() { stop(); <-ran })

	svc, err := segmentapi.New(segmentapi.Options{Engine: f.Eng, Registry: e.reg, Store: store, Compile: compile(f.Eng), Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	mk := func(s tokens.Scope) string {
		_, sec, err := toks.Create(ctx, fixture.Workspace, s, "test")
		if err != nil {
			t.Fatal(err)
		}
		return sec
	}
	e.read, e.write = mk(tokens.ScopeRead), mk(tokens.ScopeWrite)
	e.srv, err = apiserver.New(apiserver.Options{
		Auth:     tokens.NewAuthenticator(toks, adminToken),
		Tokens:   toks,
		Profiles: profile.New(profile.Options{Engine: f.Eng, Memberships: segmentapi.Memberships(e.reg)}),
		Segments: svc,
		Logger:   log,
	})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	e.grpc = ln.Addr().String()
	e.srv.Start()
	served := make(chan error, 1)
	go func() { served <- e.srv.Serve(ln) }()
	mux := http.NewServeMux()
	e.srv.Register(mux)
	e.http = httptest.NewServer(mux)
	t.Cleanup(func() {
		e.http.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := e.srv.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		if err := <-served; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	return e
}

// bigWorkspace restores a workspace of n persons with one profile each
// (columns n = person id) in bulk: far faster than n identify operations,
// which matters under -race.
func bigWorkspace(t testing.TB, eng *engine.Engine, name string, n int) *engine.Workspace {
	t.Helper()
	r, err := eng.NewRestorer(name, engine.Counters{Persons: n, NextEvent: 1})
	if err != nil {
		t.Fatal(err)
	}
	core := engine.NewWorkspace("core", identity.DefaultRules()).Snapshot()
	specs := func(s *column.Schema, extra ...engine.ColumnSpec) []engine.ColumnSpec {
		var out []engine.ColumnSpec
		for _, d := range s.Cols {
			out = append(out, engine.ColumnSpec{Name: d.Name, Type: d.Type})
		}
		return append(out, extra...)
	}
	for _, err := range []error{
		r.Columns(engine.Profiles, specs(core.Profiles.Schema, engine.ColumnSpec{Name: "n", Type: column.TypeInt})),
		r.Columns(engine.Events, specs(core.Events.Schema)),
		r.Columns(engine.Identities, specs(core.Identities.Schema)),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
	schema, err := r.Schema(engine.Profiles)
	if err != nil {
		t.Fatal(err)
	}
	pd, _ := schema.Lookup(engine.ColPersonID)
	nd, _ := schema.Lookup("n")
	for first := 0; first < n; first += column.ChunkRows {
		rows := min(column.ChunkRows, n-first)
		ids := make([]int64, rows)
		for i := range ids {
			ids[i] = int64(first + i + 1)
		}
		c := &column.Chunk{Rows: rows, Cols: make([]*column.Vec, len(schema.Cols))}
		c.Cols[pd.Index] = column.SealInts(column.TypeInt, ids, nil, rows)
		c.Cols[nd.Index] = column.SealInts(column.TypeInt, ids, nil, rows)
		if err := r.Chunk(engine.Profiles, c); err != nil {
			t.Fatal(err)
		}
	}
	w, err := r.Finish()
	if err != nil {
		t.Fatal(err)
	}
	return w
}

// manager returns the running manager of ws.
func (e *env) manager(t testing.TB, ws string) *segment.Manager {
	t.Helper()
	m, ok := e.reg.Lookup(ws)
	if !ok {
		t.Fatalf("no segment manager for %s", ws)
	}
	return m
}

// do sends a request with a bearer token ("" for none) and returns the
// response with its body read.
func (e *env) do(t testing.TB, method, path, token, body string) (*http.Response, []byte) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(context.Background(), method, e.http.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, b
}

func dial(t testing.TB, e *env, token string) *client.Client {
	t.Helper()
	c, err := client.Dial(e.grpc, token)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// waitFor polls cond every 10ms until it holds or 10s pass.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
