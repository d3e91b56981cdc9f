// Command ingestload drives a running (or self-started) `cohort serve`
// with Segment /v1/batch requests while MySQL-wire queries run, and
// reports what issue 4 asks for in one table: acknowledged events/s (the
// median of per-second rates), freshness p50/p99 (the server's
// cohort_ingest_freshness_seconds, scraped every second) and query
// latency p50/p99, with the machine's load average and the server's RSS.
//
//	go build -o /tmp/cohort ./cmd/cohort
//	go run ./bench/ingestload -serve /tmp/cohort -duration 60s -clients 64 -query-conns 4
//	go run ./bench/ingestload -url http://127.0.0.1:8080 -key KEY -mysql 'root:PW@tcp(127.0.0.1:3306)/demo'
//
// With -serve the command starts `BIN serve` on a fresh data directory
// and free ports (demo workspace of -demo-profiles / -demo-events), waits
// for /readyz, reads the demo write key from the banner and the root
// password from the data directory, and stops the server (SIGTERM) at
// the end. Every request is a batch of -batch track events of ~300 bytes
// for the demo's users (userId u1…u<-users>), each with a unique
// messageId, answered 200 only once durable. At the end the command waits
// until every acknowledged event is counted by SQL (when it started the
// server itself, so nobody else writes).
package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/cohortdb/cohort/bench/internal/loadgen"
)

type config struct {
	url, key, dsn         string
	serve                 string
	serveArgs             string
	demoProfiles          int
	demoEvents            int
	keep                  bool
	duration, warmup      time.Duration
	clients, batch, users int
	queryConns            int
	queryRate             float64
	queries               string
	jsonOut               string
	pid                   int
}

func main() {
	var c config
	flag.StringVar(&c.url, "url", "", "base URL of a running server (with -key and -mysql); empty: start one with -serve")
	flag.StringVar(&c.key, "key", "", "write key of the target workspace")
	flag.StringVar(&c.dsn, "mysql", "", "go-sql-driver DSN of the MySQL endpoint (user:pw@tcp(host:port)/workspace); empty: no queries unless -serve")
	flag.StringVar(&c.serve, "serve", "", "cohort binary to start (`BIN serve`) on a fresh data directory and free ports")
	flag.StringVar(&c.serveArgs, "serve-args", "", "extra arguments of `serve`, space separated")
	flag.IntVar(&c.demoProfiles, "demo-profiles", 1_000_000, "with -serve: demo workspace profiles")
	flag.IntVar(&c.demoEvents, "demo-events", 10_000_000, "with -serve: demo workspace events")
	flag.BoolVar(&c.keep, "keep", false, "with -serve: keep the data directory")
	flag.DurationVar(&c.duration, "duration", 60*time.Second, "measured load duration (after -warmup)")
	flag.DurationVar(&c.warmup, "warmup", 5*time.Second, "load before measuring starts")
	flag.IntVar(&c.clients, "clients", 64, "concurrent HTTP clients (each waits for its answer)")
	flag.IntVar(&c.batch, "batch", 100, "events per /v1/batch request")
	flag.IntVar(&c.users, "users", 1_000_000, "events go to userId u1…uN (the demo's users)")
	flag.IntVar(&c.queryConns, "query-conns", 4, "MySQL connections running queries continuously (0: none)")
	flag.Float64Var(&c.queryRate, "query-rate", 0, "queries per second over all query connections (0: each connection runs them back to back)")
	flag.StringVar(&c.queries, "queries", "", "file of queries, one per line, run round-robin (default: a built-in segment mix)")
	flag.StringVar(&c.jsonOut, "json", "", "also write the report as JSON to this file")
	flag.IntVar(&c.pid, "pid", 0, "with -url: the server's process id, to report its CPU time per event (Linux /proc)")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, c); err != nil {
		fmt.Fprintln(os.Stderr, "ingestload:", err)
		os.Exit(1)
	}
}

// defaultQueries are segment-style counts and group-bys over the demo
// workspace (bench/gen's attributes) and over the events being ingested.
var defaultQueries = []string{
	"SELECT COUNT(*) FROM profiles WHERE country = 'ES' AND age BETWEEN 20 AND 30 AND ltv > 100",
	"SELECT country, COUNT(*) FROM profiles WHERE `plan` = 'pro' GROUP BY country",
	"SELECT name, COUNT(*) FROM events GROUP BY name",
	"SELECT COUNT(*) FROM profiles WHERE person_id IN (SELECT person_id FROM events WHERE name = 'purchase' GROUP BY person_id HAVING COUNT(*) >= 3)",
	"SELECT COUNT(*) FROM events WHERE name = 'Product Viewed'",
}

type report struct {
	Events         int64            `json:"events"`
	Seconds        float64          `json:"seconds"`
	EventsPerSec   float64          `json:"events_per_s_median"`
	EventsPerSecLo float64          `json:"events_per_s_p10"`
	EventsPerSecHi float64          `json:"events_per_s_p90"`
	Rates          []float64        `json:"events_per_s"`
	Errors         int64            `json:"http_errors"`
	ReqP50         float64          `json:"request_ms_p50"`
	ReqP99         float64          `json:"request_ms_p99"`
	FreshP50       float64          `json:"freshness_ms_p50"`
	FreshP99       float64          `json:"freshness_ms_p99"`
	FreshP99Max    float64          `json:"freshness_ms_p99_max"`
	Queries        int64            `json:"queries"`
	QueryErrors    int64            `json:"query_errors"`
	QueryP50       float64          `json:"query_ms_p50"`
	QueryP99       float64          `json:"query_ms_p99"`
	PerQuery       []queryStat      `json:"per_query"`
	Load           [2]string        `json:"loadavg_start_end"`
	RSS            float64          `json:"server_rss_bytes"`
	ServerCPU      float64          `json:"server_cpu_us_per_event"`
	ClientCPU      float64          `json:"client_cpu_us_per_event"`
	Verified       string           `json:"verified"`
	Extra          map[string]int64 `json:"extra,omitempty"`
}

type queryStat struct {
	SQL string  `json:"sql"`
	N   int     `json:"n"`
	P50 float64 `json:"ms_p50"`
	P99 float64 `json:"ms_p99"`
}

func run(ctx context.Context, c config) error {
	var srv *loadgen.Server
	if c.url == "" {
		if c.serve == "" {
			return errors.New("give -url (with -key) or -serve")
		}
		var err error
		srv, err = loadgen.StartServer(ctx, loadgen.ServeOptions{Bin: c.serve, Name: "ingestload",
			DemoProfiles: c.demoProfiles, DemoEvents: c.demoEvents, ExtraArgs: c.serveArgs, Keep: c.keep,
			RootPassword: true})
		if err != nil {
			return err
		}
		defer srv.Stop()
		c.url, c.key, c.pid = srv.URL, srv.Key, srv.Pid()
		if c.dsn == "" {
			c.dsn = rootDSN(srv)
		}
	}
	if c.key == "" {
		return errors.New("no write key (-key)")
	}
	var db *sql.DB
	if c.dsn != "" {
		var err error
		if db, err = sql.Open("mysql", c.dsn); err != nil {
			return err
		}
		defer db.Close()
		db.SetMaxOpenConns(c.queryConns + 2)
		if err := db.PingContext(ctx); err != nil {
			return fmt.Errorf("cannot reach MySQL: %w", err)
		}
	}
	queries := defaultQueries
	if c.queries != "" {
		b, err := os.ReadFile(c.queries)
		if err != nil {
			return err
		}
		queries = nil
		for _, l := range strings.Split(string(b), "\n") {
			if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
				queries = append(queries, l)
			}
		}
	}
	var base int64 = -1
	if db != nil {
		if err := db.QueryRowContext(ctx, "SELECT COUNT(*) FROM events").Scan(&base); err != nil {
			return fmt.Errorf("cannot count events: %w", err)
		}
	}

	rep := &report{Load: [2]string{loadgen.LoadAvg(), ""}}
	tr := &http.Transport{MaxIdleConnsPerHost: c.clients * 2, MaxConnsPerHost: c.clients * 2,
		DialContext: (&net.Dialer{Timeout: 5 * time.Second}).DialContext}
	hc := &http.Client{Transport: tr, Timeout: 30 * time.Second}
	defer tr.CloseIdleConnections()

	// Stopping lets requests in flight finish: a request the server
	// committed must be counted, or the final check would see more
	// events than were acknowledged.
	var stopped atomic.Bool
	stopLoad := func() { stopped.Store(true) }
	defer stopLoad()
	var acked, errs atomic.Int64
	var reqSeq atomic.Int64
	runID := strconv.FormatInt(time.Now().UnixNano()%1e12, 36)
	lat := newSamples(1 << 16)
	var wg sync.WaitGroup
	var measuring atomic.Bool
	var firstErr atomic.Pointer[string]
	for g := range c.clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(g), 42))
			bodies := make([]*loadgen.Template, 8)
			for i := range bodies {
				bodies[i] = loadgen.NewTemplate(rng, c.batch, c.users, "ld", runID)
			}
			for i := 0; !stopped.Load() && ctx.Err() == nil; i++ {
				t := bodies[i%len(bodies)]
				t.Stamp(reqSeq.Add(1), rng)
				t0 := time.Now()
				req, _ := http.NewRequestWithContext(ctx, "POST", c.url+"/v1/batch", bytes.NewReader(t.Body))
				req.SetBasicAuth(c.key, "")
				req.Header.Set("Content-Type", "application/json")
				resp, err := hc.Do(req)
				if err != nil {
					if ctx.Err() == nil {
						errs.Add(1)
						m := err.Error()
						firstErr.CompareAndSwap(nil, &m)
						time.Sleep(100 * time.Millisecond)
					}
					continue
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 || bytes.Contains(body, []byte(`"rejected"`)) {
					errs.Add(1)
					m := fmt.Sprintf("status %d: %.200s", resp.StatusCode, body)
					firstErr.CompareAndSwap(nil, &m)
					if resp.StatusCode >= 500 {
						time.Sleep(50 * time.Millisecond)
					}
					continue
				}
				acked.Add(int64(c.batch))
				if measuring.Load() {
					lat.add(time.Since(t0))
				}
			}
		}()
	}

	qlat := make([]*samples, len(queries))
	for i := range qlat {
		qlat[i] = newSamples(1 << 14)
	}
	var nq, qerrs atomic.Int64
	var qfirst atomic.Pointer[string]
	var qwg sync.WaitGroup
	if db != nil {
		for g := range c.queryConns {
			qwg.Add(1)
			go func() {
				defer qwg.Done()
				var interval time.Duration
				if c.queryRate > 0 {
					interval = time.Duration(float64(c.queryConns) / c.queryRate * float64(time.Second))
				}
				next := time.Now()
				for i := g; !stopped.Load() && ctx.Err() == nil; i++ {
					k := i % len(queries)
					if interval > 0 {
						time.Sleep(time.Until(next))
						next = next.Add(interval)
					}
					t0 := time.Now()
					rows, err := db.QueryContext(ctx, queries[k])
					if err == nil {
						for rows.Next() {
						}
						err = errors.Join(rows.Err(), rows.Close())
					}
					if err != nil {
						if ctx.Err() == nil {
							qerrs.Add(1)
							m := queries[k] + ": " + err.Error()
							qfirst.CompareAndSwap(nil, &m)
							time.Sleep(100 * time.Millisecond)
						}
						continue
					}
					if measuring.Load() {
						nq.Add(1)
						qlat[k].add(time.Since(t0))
					}
				}
			}()
		}
	}

	// Warm-up, then one sample per second.
	fmt.Fprintf(os.Stderr, "ingestload: %d clients × %d events per request, %d query connections, warm-up %s, measuring %s\n",
		c.clients, c.batch, c.queryConns, c.warmup, c.duration)
	select {
	case <-time.After(c.warmup):
	case <-ctx.Done():
		return ctx.Err()
	}
	measuring.Store(true)
	tick := time.NewTicker(time.Second)
	start, last := time.Now(), acked.Load()
	first := last
	scpu0, ccpu0 := procCPU(c.pid), procCPU(os.Getpid())
	var p50s, p99s []float64
	for time.Since(start) < c.duration-time.Millisecond && ctx.Err() == nil {
		<-tick.C
		n := acked.Load()
		rep.Rates = append(rep.Rates, float64(n-last))
		last = n
		if m, err := loadgen.Scrape(hc, c.url); err == nil {
			if v, ok := m[`cohort_ingest_freshness_seconds{quantile="0.5"}`]; ok {
				p50s = append(p50s, v*1000)
			}
			if v, ok := m[`cohort_ingest_freshness_seconds{quantile="0.99"}`]; ok {
				p99s = append(p99s, v*1000)
			}
			rep.RSS = max(rep.RSS, m["process_resident_memory_bytes"])
		}
		fmt.Fprintf(os.Stderr, "  %3ds %8.0f events/s  freshness p99 %6.1f ms  queries %d  load %s\n",
			len(rep.Rates), rep.Rates[len(rep.Rates)-1], at(p99s, -1), nq.Load(), loadgen.LoadAvg())
	}
	tick.Stop()
	measuring.Store(false)
	rep.Seconds = time.Since(start).Seconds()
	rep.Events = last - first
	if ev := float64(max(rep.Events, 1)); c.pid > 0 {
		rep.ServerCPU = float64((procCPU(c.pid) - scpu0).Microseconds()) / ev
		rep.ClientCPU = float64((procCPU(os.Getpid()) - ccpu0).Microseconds()) / ev
	}
	rep.Load[1] = loadgen.LoadAvg()
	stopLoad()
	wg.Wait()
	qwg.Wait()
	rep.Errors = errs.Load()
	rep.EventsPerSec = loadgen.Quantile(rep.Rates, 0.5)
	rep.EventsPerSecLo, rep.EventsPerSecHi = loadgen.Quantile(rep.Rates, 0.1), loadgen.Quantile(rep.Rates, 0.9)
	rep.FreshP50, rep.FreshP99, rep.FreshP99Max = loadgen.Quantile(p50s, 0.5), loadgen.Quantile(p99s, 0.5), loadgen.Quantile(p99s, 1)
	r := lat.values()
	rep.ReqP50, rep.ReqP99 = loadgen.Quantile(r, 0.5), loadgen.Quantile(r, 0.99)
	var all []float64
	for i, s := range qlat {
		v := s.values()
		all = append(all, v...)
		rep.PerQuery = append(rep.PerQuery, queryStat{SQL: queries[i], N: s.count(), P50: loadgen.Quantile(v, 0.5), P99: loadgen.Quantile(v, 0.99)})
	}
	rep.Queries, rep.QueryErrors = nq.Load(), qerrs.Load()
	rep.QueryP50, rep.QueryP99 = loadgen.Quantile(all, 0.5), loadgen.Quantile(all, 0.99)

	// Every acknowledged event must become queryable.
	rep.Verified = "not checked (-url: others may write)"
	if srv != nil && db != nil && base >= 0 {
		want := base + acked.Load()
		deadline := time.Now().Add(60 * time.Second)
		t0 := time.Now()
		for {
			var got int64
			err := db.QueryRowContext(ctx, "SELECT COUNT(*) FROM events").Scan(&got)
			if err == nil && got == want {
				rep.Verified = fmt.Sprintf("ok: %d events counted by SQL %s after the load stopped", got, time.Since(t0).Round(time.Millisecond))
				break
			}
			if err == nil && got > want && got <= want+errs.Load()*int64(c.batch) {
				rep.Verified = fmt.Sprintf("ok: %d events counted, %d acknowledged; the surplus is within the %d failed requests (a request may fail after its commit)", got, want, errs.Load())
				break
			}
			if err == nil && got > want {
				rep.Verified = fmt.Sprintf("FAILED: %d events counted, %d acknowledged (duplicates?)", got, want)
				break
			}
			if time.Now().After(deadline) || ctx.Err() != nil {
				rep.Verified = fmt.Sprintf("FAILED: %d events counted, %d acknowledged, err %v", got, want, err)
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	printReport(os.Stdout, c, rep)
	if p := firstErr.Load(); p != nil {
		fmt.Printf("first HTTP error: %s\n", *p)
	}
	if p := qfirst.Load(); p != nil {
		fmt.Printf("first query error: %s\n", *p)
	}
	if c.jsonOut != "" {
		b, _ := json.MarshalIndent(rep, "", "  ")
		if err := os.WriteFile(c.jsonOut, b, 0o644); err != nil {
			return err
		}
	}
	if strings.HasPrefix(rep.Verified, "FAILED") {
		return errors.New(rep.Verified)
	}
	return nil
}

func printReport(w io.Writer, c config, r *report) {
	pace := "back to back"
	if c.queryRate > 0 {
		pace = fmt.Sprintf("%g queries/s in all", c.queryRate)
	}
	fmt.Fprintf(w, "\n/v1/batch: %d clients × %d events (~300 B each), %d query connections (%s), %.0fs measured\n",
		c.clients, c.batch, c.queryConns, pace, r.Seconds)
	fmt.Fprintf(w, "| metric | value |\n| --- | --- |\n")
	fmt.Fprintf(w, "| events/s (median of per-second rates) | %.0f (p10 %.0f, p90 %.0f; %d events in %.0fs, %d HTTP errors) |\n",
		r.EventsPerSec, r.EventsPerSecLo, r.EventsPerSecHi, r.Events, r.Seconds, r.Errors)
	fmt.Fprintf(w, "| request latency p50 / p99 | %.1f / %.1f ms |\n", r.ReqP50, r.ReqP99)
	fmt.Fprintf(w, "| freshness p50 / p99 (server metric; median of 1 s scrapes) | %.1f / %.1f ms (worst p99 scrape %.1f ms) |\n",
		r.FreshP50, r.FreshP99, r.FreshP99Max)
	fmt.Fprintf(w, "| queries | %d (%.1f/s), %d errors |\n", r.Queries, float64(r.Queries)/max(r.Seconds, 1), r.QueryErrors)
	fmt.Fprintf(w, "| query latency p50 / p99 (all) | %.1f / %.1f ms |\n", r.QueryP50, r.QueryP99)
	for _, q := range r.PerQuery {
		fmt.Fprintf(w, "| `` %s `` | n=%d p50 %.1f ms, p99 %.1f ms |\n", q.SQL, q.N, q.P50, q.P99)
	}
	fmt.Fprintf(w, "| server RSS (max) | %.0f MB |\n", r.RSS/1e6)
	if r.ServerCPU > 0 {
		fmt.Fprintf(w, "| CPU per acknowledged event: server (queries included) / this client | %.1f / %.1f µs |\n", r.ServerCPU, r.ClientCPU)
	}
	fmt.Fprintf(w, "| load average (start → end) | %s → %s |\n", r.Load[0], r.Load[1])
	fmt.Fprintf(w, "| acknowledged = queryable | %s |\n", r.Verified)
}

// samples keeps up to cap latencies (reservoir), in milliseconds.
type samples struct {
	mu  sync.Mutex
	buf []float64
	n   int
	rng *rand.Rand
}

func newSamples(n int) *samples {
	return &samples{buf: make([]float64, 0, n), rng: rand.New(rand.NewPCG(1, 2))}
}

func (s *samples) add(d time.Duration) {
	ms := float64(d.Microseconds()) / 1000
	s.mu.Lock()
	defer s.mu.Unlock()
	s.n++
	if len(s.buf) < cap(s.buf) {
		s.buf = append(s.buf, ms)
	} else if k := s.rng.IntN(s.n); k < len(s.buf) {
		s.buf[k] = ms
	}
}

func (s *samples) values() []float64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.buf)
}

func (s *samples) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.n
}

func at(v []float64, i int) float64 {
	if len(v) == 0 {
		return 0
	}
	if i < 0 {
		i += len(v)
	}
	return v[i]
}

// procCPU returns the CPU time (user + system) of process pid so far, 0
// if unknown.
func procCPU(pid int) time.Duration {
	if pid <= 0 {
		return 0
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// Fields after the command (which may hold spaces) in parentheses.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0
	}
	u, _ := strconv.ParseInt(f[11], 10, 64)         // utime, field 14
	s, _ := strconv.ParseInt(f[12], 10, 64)         // stime, field 15
	return time.Duration(u+s) * (time.Second / 100) // USER_HZ
}

// rootDSN is the go-sql-driver DSN of a started server's demo workspace
// as root: the only MySQL user a fresh data directory has.
func rootDSN(s *loadgen.Server) string {
	mc := mysql.NewConfig()
	mc.User, mc.Passwd, mc.Net, mc.Addr, mc.DBName = "root", s.RootPassword, "tcp", s.MySQLAddr, "demo"
	mc.TLSConfig = "false"
	return mc.FormatDSN()
}
