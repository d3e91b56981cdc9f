package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cohortdb/cohort/cmd/cohort/internal/config"
	"github.com/cohortdb/cohort/engine"
)

// testConfig returns the defaults with a free port, a temporary data
// directory and demo off.
func testConfig(t *testing.T) config.Config {
	t.Helper()
	r, err := config.Load(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg := r.Config
	cfg.HTTPAddr = "127.0.0.1:0"
	cfg.MySQLAddr = "127.0.0.1:0"
	cfg.GRPCAddr = "127.0.0.1:0"
	cfg.DataDir = filepath.Join(t.TempDir(), "data")
	cfg.Demo = false
	cfg.ShutdownTimeout = 5 * time.Second
	return cfg
}

type logWriter struct{ t *testing.T }

func (w logWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// start runs a server in-process; stop cancels it and returns run's error.
func start(t *testing.T, cfg config.Config, loader demoLoader) (s *server, stop func() error) {
	t.Helper()
	log := slog.New(slog.NewTextHandler(logWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	s, err := newServer(cfg, log)
	if err != nil {
		t.Fatalf("newServer: %v", err)
	}
	if loader != nil {
		s.loadDemo = loader
	}
	ctx, cancel := context.WithCancel(t.Context())
	errc := make(chan error, 1)
	go func() { errc <- s.run(ctx) }()
	var once sync.Once
	var runErr error
	stop = func() error {
		once.Do(func() {
			cancel()
			select {
			case runErr = <-errc:
			case <-time.After(30 * time.Second):
				runErr = errors.New("run did not return within 30s of cancellation")
			}
		})
		return runErr
	}
	t.Cleanup(func() { _ = stop() })
	return s, stop
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: cannot read body: %v", url, err)
	}
	return resp.StatusCode, string(b)
}

// waitFor polls cond every 10ms until it holds or 30s pass.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestServeEndpoints(t *testing.T) {
	cfg := testConfig(t)
	s, stop := start(t, cfg, func(context.Context, *engine.Workspace, int, int, uint64) error {
		t.Error("demo loader called with demo off")
		return nil
	})
	base := s.URL()
	if !strings.HasPrefix(base, "http://127.0.0.1:") || strings.HasSuffix(base, ":0") {
		t.Fatalf("URL() = %q, want http://127.0.0.1:<port>", base)
	}
	if fi, err := os.Stat(cfg.DataDir); err != nil || !fi.IsDir() {
		t.Fatalf("data directory %s not created: %v", cfg.DataDir, err)
	}

	if code, body := get(t, base+"/healthz"); code != 200 || body != "ok\n" {
		t.Errorf("/healthz = %d %q, want 200 ok", code, body)
	}
	if code, body := get(t, base+"/readyz"); code != 200 || body != "ready\n" {
		t.Errorf("/readyz = %d %q, want 200 ready", code, body)
	}

	code, body := get(t, base+"/v1/workspaces")
	if code != 200 {
		t.Fatalf("/v1/workspaces = %d %s", code, body)
	}
	var list []workspaceInfo
	if err := json.Unmarshal([]byte(body), &list); err != nil {
		t.Fatalf("/v1/workspaces: %v in %s", err, body)
	}
	want := []workspaceInfo{{Name: "demo", Rows: map[string]int64{"profiles": 0, "events": 0, "identities": 0}}}
	if len(list) != 1 || list[0].Name != want[0].Name || len(list[0].Rows) != 3 ||
		list[0].Rows["profiles"] != 0 || list[0].Rows["events"] != 0 || list[0].Rows["identities"] != 0 {
		t.Errorf("/v1/workspaces = %+v, want %+v", list, want)
	}

	code, body = get(t, base+"/v1/workspaces/demo/stats")
	if code != 200 {
		t.Fatalf("stats = %d %s", code, body)
	}
	var st workspaceStats
	if err := json.Unmarshal([]byte(body), &st); err != nil {
		t.Fatalf("stats: %v in %s", err, body)
	}
	if st.Workspace != "demo" || !st.Ready || len(st.Tables) != 3 {
		t.Errorf("stats = %+v", st)
	}
	var sum int64
	for _, name := range tables {
		ts, ok := st.Tables[name]
		if !ok {
			t.Errorf("stats: no table %s in %s", name, body)
			continue
		}
		var cols int64
		for _, b := range ts.Columns {
			cols += b
		}
		if cols != ts.Bytes {
			t.Errorf("stats: %s bytes %d != sum of columns %d", name, ts.Bytes, cols)
		}
		sum += ts.Bytes
	}
	if sum != st.Bytes {
		t.Errorf("stats: bytes %d != sum of tables %d", st.Bytes, sum)
	}
	if st.BytesPerProfile != 0 || st.BytesPerEvent != 0 {
		t.Errorf("stats: per-row bytes of empty tables = %v, %v, want 0", st.BytesPerProfile, st.BytesPerEvent)
	}

	if code, body := get(t, base+"/v1/workspaces/nope/stats"); code != 404 || !strings.Contains(body, `"error"`) {
		t.Errorf("stats of a missing workspace = %d %s, want 404 with an error", code, body)
	}
	if code, _ := get(t, base+"/nope"); code != 404 {
		t.Errorf("/nope = %d, want 404", code)
	}
	resp, err := http.Post(base+"/healthz", "text/plain", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST /healthz = %d, want 405", resp.StatusCode)
	}

	code, body = get(t, base+"/metrics")
	if code != 200 {
		t.Fatalf("/metrics = %d", code)
	}
	for _, w := range []string{
		"# TYPE cohort_rows gauge",
		`cohort_rows{workspace="demo",table="profiles"} 0`,
		`cohort_rows{workspace="demo",table="events"} 0`,
		`cohort_rows{workspace="demo",table="identities"} 0`,
		"# TYPE cohort_memory_bytes gauge",
		`cohort_memory_bytes{workspace="demo",table="profiles"} `,
		"cohort_ready 1",
		`cohort_build_info{version="dev",`,
		"# TYPE go_goroutines gauge",
		"go_memstats_heap_alloc_bytes ",
	} {
		if !strings.Contains(body, w) {
			t.Errorf("/metrics lacks %q", w)
		}
	}
	checkExposition(t, body)

	if err := stop(); err != nil {
		t.Fatalf("run: %v", err)
	}
	if c, err := net.DialTimeout("tcp", s.Addr().String(), time.Second); err == nil {
		c.Close()
		t.Error("still listening after shutdown")
	}
}

var (
	metricLine = regexp.MustCompile(`^[a-zA-Z_:][a-zA-Z0-9_:]*(\{([a-zA-Z_][a-zA-Z0-9_]*="([^"\\]|\\.)*",?)*\})? (NaN|[+-]Inf|[-+0-9.eE]+)$`)
	commentRe  = regexp.MustCompile(`^# (HELP|TYPE) [a-zA-Z_:][a-zA-Z0-9_:]* .+$`)
)

// checkExposition checks every line of a text exposition.
func checkExposition(t *testing.T, body string) {
	t.Helper()
	if !strings.HasSuffix(body, "\n") {
		t.Error("exposition does not end with a newline")
	}
	for i, line := range strings.Split(strings.TrimSuffix(body, "\n"), "\n") {
		if !metricLine.MatchString(line) && !commentRe.MatchString(line) {
			t.Errorf("exposition line %d is malformed: %q", i+1, line)
		}
	}
}

func TestCheckExpositionRejects(t *testing.T) {
	for _, bad := range []string{"x{a=b} 1", "x 1 2 3", "# FOO x y", "x{a=\"b\"}"} {
		if metricLine.MatchString(bad) || commentRe.MatchString(bad) {
			t.Errorf("malformed line %q accepted", bad)
		}
	}
}

func TestServeNotReadyWhileDemoLoads(t *testing.T) {
	cfg := testConfig(t)
	cfg.Demo, cfg.DemoProfiles, cfg.DemoEvents, cfg.DemoSeed = true, 12, 34, 56
	release := make(chan struct{})
	type call struct {
		ws               *engine.Workspace
		profiles, events int
		seed             uint64
	}
	calls := make(chan call, 1)
	s, stop := start(t, cfg, func(ctx context.Context, ws *engine.Workspace, p, e int, seed uint64) error {
		calls <- call{ws, p, e, seed}
		select {
		case <-release:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	})
	base := s.URL()
	c := <-calls
	if c.ws != s.demo || c.ws.Name() != "demo" || c.profiles != 12 || c.events != 34 || c.seed != 56 {
		t.Errorf("loader called with %s %d %d %d, want demo 12 34 56", c.ws.Name(), c.profiles, c.events, c.seed)
	}
	if code, body := get(t, base+"/readyz"); code != 503 {
		t.Errorf("/readyz while loading = %d %q, want 503", code, body)
	}
	if code, _ := get(t, base+"/healthz"); code != 200 {
		t.Errorf("/healthz while loading = %d, want 200", code)
	}
	if _, body := get(t, base+"/metrics"); !strings.Contains(body, "cohort_ready 0") {
		t.Error("/metrics: cohort_ready is not 0 while loading")
	}
	close(release)
	waitFor(t, "/readyz to turn 200", func() bool { code, _ := get(t, base+"/readyz"); return code == 200 })
	if err := stop(); err != nil {
		t.Fatalf("run: %v", err)
	}
}

func TestServeDemoFailureStillReady(t *testing.T) {
	cfg := testConfig(t)
	cfg.Demo, cfg.DemoProfiles, cfg.DemoEvents = true, 10, 100
	s, stop := start(t, cfg, func(context.Context, *engine.Workspace, int, int, uint64) error {
		return errors.New("boom")
	})
	waitFor(t, "/readyz to turn 200", func() bool { code, _ := get(t, s.URL()+"/readyz"); return code == 200 })
	if err := stop(); err != nil {
		t.Fatalf("run: %v", err)
	}
}

// TestServeRealDemoLoader runs the real loadDemo on a tiny data set: the
// server must become ready whether the loader succeeds or fails.
func TestServeRealDemoLoader(t *testing.T) {
	cfg := testConfig(t)
	cfg.Demo, cfg.DemoProfiles, cfg.DemoEvents = true, 100, 1000
	s, stop := start(t, cfg, nil)
	waitFor(t, "/readyz to turn 200", func() bool { code, _ := get(t, s.URL()+"/readyz"); return code == 200 })
	if code, body := get(t, s.URL()+"/v1/workspaces/demo/stats"); code != 200 {
		t.Errorf("stats = %d %s", code, body)
	}
	if err := stop(); err != nil {
		t.Fatalf("run: %v", err)
	}
}

func TestServeShutdownCancelsDemo(t *testing.T) {
	cfg := testConfig(t)
	cfg.Demo = true
	stopped := make(chan struct{})
	s, stop := start(t, cfg, func(ctx context.Context, _ *engine.Workspace, _, _ int, _ uint64) error {
		<-ctx.Done()
		close(stopped)
		return ctx.Err()
	})
	if code, _ := get(t, s.URL()+"/readyz"); code != 503 {
		t.Errorf("/readyz = %d, want 503", code)
	}
	begin := time.Now()
	if err := stop(); err != nil {
		t.Fatalf("run: %v", err)
	}
	select {
	case <-stopped:
	default:
		t.Error("run returned before the demo loader stopped")
	}
	if d := time.Since(begin); d > 5*time.Second {
		t.Errorf("shutdown took %s", d)
	}
}

func TestServeListenError(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	cfg := testConfig(t)
	cfg.HTTPAddr = ln.Addr().String()
	_, err = newServer(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err == nil || !strings.Contains(err.Error(), "cannot listen") || !strings.Contains(err.Error(), "http_addr") {
		t.Fatalf("newServer on a busy port: %v, want a listen error naming http_addr", err)
	}
}

func TestServeDataDirError(t *testing.T) {
	cfg := testConfig(t)
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	cfg.DataDir = filepath.Join(file, "sub")
	_, err := newServer(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err == nil || !strings.Contains(err.Error(), "cannot create data directory") {
		t.Fatalf("newServer under a file: %v, want a data directory error", err)
	}
}

func TestBanner(t *testing.T) {
	cfg := testConfig(t)
	cfg.Demo = true
	cfg.MySQLAddr = "127.0.0.1:0"
	cfg.GRPCAddr = "127.0.0.1:0"
	s, err := newServer(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer s.ln.Close()
	defer s.closeSQL(context.Background())
	_, port, _ := net.SplitHostPort(s.sql.srv.Addr().String())
	var b bytes.Buffer
	s.writeBanner(&b)
	out := b.String()
	abs, _ := filepath.Abs(cfg.DataDir)
	for _, w := range []string{
		abs,
		s.URL() + " ",
		s.URL() + "/v1/workspaces/demo/stats",
		"mysql -h 127.0.0.1 -P " + port + " -u root -p" + s.sql.password + " --ssl --skip-ssl-verify-server-cert demo",
		"mysql_root_password (generated)",
		"demo write key ",
		"loading 1000000 profiles and 10000000 events",
	} {
		if !strings.Contains(out, w) {
			t.Errorf("banner lacks %q:\n%s", w, out)
		}
	}
}

func TestDialable(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"127.0.0.1:80", "127.0.0.1:80"},
		{"0.0.0.0:80", "127.0.0.1:80"},
		{":80", "127.0.0.1:80"},
		{"[::]:80", "[::1]:80"},
		{"example.com:80", "example.com:80"},
		{"garbage", "garbage"},
	} {
		if got := dialable(tt.in); got != tt.want {
			t.Errorf("dialable(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// syncBuffer is a bytes.Buffer safe for one writer and one reader.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

var bannerURL = regexp.MustCompile(`HTTP +(http://\S+)`)

// TestCmdServe runs the whole `serve` command in-process: configuration
// from flags and environment, banner, HTTP, cancellation.
func TestCmdServe(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	dir := filepath.Join(t.TempDir(), "d")
	var stdout, stderr syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"serve", "--http-addr=127.0.0.1:0", "--mysql-addr=127.0.0.1:0", "--grpc-addr=127.0.0.1:0", "--data-dir", dir},
			[]string{"COHORT_DEMO=false", "COHORT_LOG_FORMAT=json", "COHORT_TYPO=1"}, &stdout, &stderr)
	}()
	var url string
	waitFor(t, "the banner", func() bool {
		m := bannerURL.FindStringSubmatch(stdout.String())
		if m != nil {
			url = m[1]
		}
		return m != nil
	})
	if code, _ := get(t, url+"/readyz"); code != 200 {
		t.Errorf("/readyz = %d, want 200 with demo off", code)
	}
	cancel()
	select {
	case code := <-done:
		if code != exitOK {
			t.Errorf("exit status %d, want 0; stderr:\n%s", code, stderr.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not stop")
	}
	logs := stderr.String()
	if !strings.Contains(logs, `"msg":"serving HTTP"`) || !strings.Contains(logs, "COHORT_TYPO") {
		t.Errorf("stderr lacks JSON logs or the unknown variable warning:\n%s", logs)
	}
	if !strings.Contains(stdout.String(), dir) {
		t.Errorf("banner lacks the data directory %s:\n%s", dir, stdout.String())
	}
}

func TestCmdServeStartError(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var stdout, stderr bytes.Buffer
	code := run(t.Context(), []string{"serve", "--demo=false", "--http-addr", ln.Addr().String(), "--mysql-addr=127.0.0.1:0", "--grpc-addr=127.0.0.1:0", "--data-dir", t.TempDir()}, nil, &stdout, &stderr)
	if code != exitFailure || !strings.Contains(stderr.String(), "cannot listen") {
		t.Errorf("exit %d, stderr %q; want 1 and a listen error", code, stderr.String())
	}
}

func TestPerRow(t *testing.T) {
	for _, tt := range []struct {
		rows, bytes int64
		want        float64
	}{{0, 100, 0}, {3, 10, 3.33}, {4, 10, 2.5}, {1000000, 113000000, 113}} {
		if got := perRow(tableStats{Rows: tt.rows, Bytes: tt.bytes}); got != tt.want {
			t.Errorf("perRow(%d rows, %d bytes) = %v, want %v", tt.rows, tt.bytes, got, tt.want)
		}
	}
}

func TestMetricFormatting(t *testing.T) {
	if got := labelValue("a\"b\\c\nd"); got != `a\"b\\c\nd` {
		t.Errorf("labelValue = %s", got)
	}
	for v, want := range map[float64]string{1710368: "1710368", 0: "0", 2.5: "2.5", -3: "-3"} {
		if got := fmtFloat(v); got != want {
			t.Errorf("fmtFloat(%v) = %s, want %s", v, got, want)
		}
	}
}
