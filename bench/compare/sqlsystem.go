package main

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/cohortdb/cohort/engine"
	"github.com/cohortdb/cohort/engine/identity"
	"github.com/cohortdb/cohort/sqlfront"
)

// sqlSystem answers the query set over the MySQL wire: sqlfront serves the
// engine workspace the harness loaded (in-process, 127.0.0.1:0) and the
// queries go through github.com/go-sql-driver/mysql and database/sql, so
// every timing includes parsing, planning, the protocol and the client.
type sqlSystem struct {
	srv   *sqlfront.Server
	db    *sql.DB
	dsn   string
	p     params
	eng   *engineSystem
	useTL bool
}

const sqlBenchPassword = "bench-password"

func openSQLSystem(e *engineSystem, p params, useTLS bool) (*sqlSystem, error) {
	srv, err := sqlfront.New(e.eng, sqlfront.Options{
		Addr:         "127.0.0.1:0",
		RootPassword: sqlBenchPassword,
		Logger:       slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		return nil, err
	}
	if err := srv.Start(); err != nil {
		return nil, err
	}
	cfg := mysql.NewConfig()
	cfg.User, cfg.Passwd, cfg.Net, cfg.Addr, cfg.DBName = "root", sqlBenchPassword, "tcp", srv.Addr().String(), benchWorkspace
	cfg.AllowNativePasswords = true
	cfg.TLSConfig = "false"
	if useTLS {
		cfg.TLSConfig = "skip-verify"
	}
	s := &sqlSystem{srv: srv, dsn: cfg.FormatDSN(), p: p, eng: e, useTL: useTLS}
	s.db, err = s.open(4)
	if err != nil {
		srv.Shutdown(context.Background())
		return nil, err
	}
	return s, nil
}

func (s *sqlSystem) open(conns int) (*sql.DB, error) {
	db, err := sql.Open("mysql", s.dsn)
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(conns)
	db.SetMaxIdleConns(conns)
	if err := db.Ping(); err != nil {
		db.Close()
		return nil, fmt.Errorf("cannot connect to sqlfront: %w", err)
	}
	return db, nil
}

func (s *sqlSystem) name() string { return "cohort-sql" }

func (s *sqlSystem) close() error {
	s.db.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return s.srv.Shutdown(ctx)
}

// mysqlTS is a DATETIME literal (the engine's timestamps are UTC).
func mysqlTS(us int64) string {
	return "TIMESTAMP '" + time.UnixMicro(us).UTC().Format("2006-01-02 15:04:05.000000") + "'"
}

func (s *sqlSystem) q1Where() string {
	p := s.p
	return fmt.Sprintf("country = %s AND age BETWEEN %d AND %d AND ltv > %v AND last_seen > %s",
		sqlStr(p.Q1Country), p.Q1AgeLo, p.Q1AgeHi, p.Q1LTVMin, mysqlTS(p.Q1LastSeenAfter))
}

func (s *sqlSystem) sqlQ1() string { return "SELECT COUNT(*) FROM profiles WHERE " + s.q1Where() }
func (s *sqlSystem) sqlQ3() string {
	return "SELECT country, COUNT(*) FROM profiles WHERE `plan` = " + sqlStr(s.p.Q3Plan) + " GROUP BY country"
}

func (s *sqlSystem) purchasers() string {
	p := s.p
	return fmt.Sprintf("SELECT person_id FROM events WHERE name = %s AND ts >= %s GROUP BY person_id HAVING COUNT(*) >= %d",
		sqlStr(p.Q4Event), mysqlTS(p.Q4Since), p.Q4MinCount)
}

func (s *sqlSystem) count(ctx context.Context, q string) (int64, error) {
	var n int64
	if err := s.db.QueryRowContext(ctx, q).Scan(&n); err != nil {
		return 0, fmt.Errorf("cannot run %q: %w", q, err)
	}
	return n, nil
}

func (s *sqlSystem) q1(ctx context.Context) (int64, error) { return s.count(ctx, s.sqlQ1()) }

func (s *sqlSystem) q2(ctx context.Context) ([]int64, error) {
	return s.ints(ctx, "SELECT person_id FROM profiles WHERE "+s.q1Where())
}

func (s *sqlSystem) ints(ctx context.Context, q string) ([]int64, error) {
	rows, err := s.db.QueryContext(ctx, q)
	if err != nil {
		return nil, fmt.Errorf("cannot run %q: %w", q, err)
	}
	defer rows.Close()
	var ids []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("cannot scan %q: %w", q, err)
		}
		ids = append(ids, id)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("cannot read %q: %w", q, err)
	}
	return ids, nil
}

func (s *sqlSystem) q3(ctx context.Context) (map[string]int64, error) {
	q := s.sqlQ3()
	rows, err := s.db.QueryContext(ctx, q)
	if err != nil {
		return nil, fmt.Errorf("cannot run %q: %w", q, err)
	}
	defer rows.Close()
	out := map[string]int64{}
	for rows.Next() {
		var c sql.NullString
		var n int64
		if err := rows.Scan(&c, &n); err != nil {
			return nil, fmt.Errorf("cannot scan %q: %w", q, err)
		}
		if !c.Valid {
			return nil, fmt.Errorf("q3: unexpected NULL country group")
		}
		out[c.String] = n
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("cannot read %q: %w", q, err)
	}
	return out, nil
}

func (s *sqlSystem) q4(ctx context.Context) (int64, error) {
	return s.count(ctx, "SELECT COUNT(*) FROM profiles WHERE person_id IN ("+s.purchasers()+")")
}

func (s *sqlSystem) q5(ctx context.Context) (int64, error) {
	p := s.p
	plans := make([]string, len(p.Q5Plans))
	for i, pl := range p.Q5Plans {
		plans[i] = sqlStr(pl)
	}
	return s.count(ctx, fmt.Sprintf("SELECT COUNT(*) FROM profiles WHERE `plan` IN (%s) AND person_id IN (%s)"+
		" AND person_id NOT IN (SELECT person_id FROM events WHERE name = %s AND ts >= %s)",
		strings.Join(plans, ", "), s.purchasers(), sqlStr(p.Q5Exclude), mysqlTS(p.Q4Since)))
}

func (s *sqlSystem) q6(ctx context.Context) (int64, error) {
	return s.count(ctx, "SELECT COUNT(*) FROM profiles WHERE email LIKE "+sqlStr("%"+s.p.Q6Suffix))
}

// sqlReport holds the SQL-only measurements (-sql).
type sqlReport struct {
	TLS              bool        `json:"tls"`
	LookupP50        float64     `json:"lookup_p50_ms"`
	LookupP99        float64     `json:"lookup_p99_ms"`
	LookupQPS16      float64     `json:"lookup_qps_16_conns"`
	StreamRows       int64       `json:"stream_rows"`
	StreamMedian     float64     `json:"stream_median_ms"`
	StreamRowsPerSec float64     `json:"stream_rows_per_s"`
	Soak             *soakReport `json:"soak,omitempty"`
}

type soakReport struct {
	Conns          int     `json:"conns"`
	Seconds        float64 `json:"seconds"`
	Queries        int64   `json:"queries"`
	Errors         int64   `json:"errors"`
	FirstError     string  `json:"first_error,omitempty"`
	GoroutinesBase int     `json:"goroutines_baseline"`
	GoroutinesPeak int     `json:"goroutines_peak"`
	GoroutinesEnd  int     `json:"goroutines_after"`
	HeapBase       uint64  `json:"heap_baseline_bytes"`
	HeapEnd        uint64  `json:"heap_after_bytes"`
}

const lookupSQL = "SELECT * FROM identities WHERE type = 'user_id' AND value = ?"

// userIDOf is the user_id the loader gives generated person pid.
func userIDOf(pid int) string { return fmt.Sprintf("u%d", pid) }

// lookup runs one identity point lookup and returns the person_id found.
func lookup(ctx context.Context, st *sql.Stmt, uid string) (int64, int, error) {
	rows, err := st.QueryContext(ctx, uid)
	if err != nil {
		return 0, 0, err
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return 0, 0, err
	}
	pi := slices.Index(cols, engine.ColPersonID)
	if pi < 0 {
		return 0, 0, fmt.Errorf("identities has no %s column: %v", engine.ColPersonID, cols)
	}
	vals := make([]any, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	var pid int64
	n := 0
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return 0, 0, err
		}
		n++
		switch v := vals[pi].(type) {
		case int64:
			pid = v
		case []byte:
			fmt.Sscan(string(v), &pid)
		default:
			return 0, 0, fmt.Errorf("person_id is a %T", v)
		}
	}
	return pid, n, rows.Err()
}

// sqlExtras verifies and measures the SQL-only targets: identity point
// lookups, streaming person ids and (soak > 0) many concurrent connections.
func (s *sqlSystem) sqlExtras(ctx context.Context, profiles, runs int, soak time.Duration, soakConns int) (*sqlReport, error) {
	rep := &sqlReport{TLS: s.useTL}
	snap := s.eng.ws.Snapshot()

	// Point lookups: verify against the identity graph, then time.
	st, err := s.db.PrepareContext(ctx, lookupSQL)
	if err != nil {
		return nil, fmt.Errorf("cannot prepare %q: %w", lookupSQL, err)
	}
	defer st.Close()
	rng := rand.New(rand.NewPCG(7, 11))
	for i := 0; i < 200; i++ {
		uid := userIDOf(1 + rng.IntN(profiles))
		if i == 0 {
			uid = "no-such-user"
		}
		got, n, err := lookup(ctx, st, uid)
		if err != nil {
			return nil, fmt.Errorf("cannot look up %s: %w", uid, err)
		}
		want, ok := snap.Graph.Lookup(identity.ID{Type: identity.TypeUserID, Value: uid})
		switch {
		case !ok && n != 0:
			return nil, fmt.Errorf("%w: lookup %s: %d rows, want none", errMismatch, uid, n)
		case ok && (n != 1 || got != int64(snap.Graph.Canonical(want))):
			return nil, fmt.Errorf("%w: lookup %s: %d rows person %d, want 1 row person %d", errMismatch, uid, n, got, want)
		}
	}
	slog.Info("verified", "query", "identity lookup", "lookups", 200)
	lat := make([]time.Duration, 0, 4000)
	for i := 0; i < cap(lat); i++ {
		uid := userIDOf(1 + rng.IntN(profiles))
		t0 := time.Now()
		if _, _, err := lookup(ctx, st, uid); err != nil {
			return nil, err
		}
		lat = append(lat, time.Since(t0))
	}
	slices.Sort(lat)
	rep.LookupP50, rep.LookupP99 = ms(lat[len(lat)/2]), ms(lat[len(lat)*99/100])
	qps, err := s.lookupThroughput(ctx, profiles, 16, 3*time.Second)
	if err != nil {
		return nil, err
	}
	rep.LookupQPS16 = qps

	// Streaming person ids.
	want := int64(min(profiles, 1_000_000))
	streamQ := fmt.Sprintf("SELECT person_id FROM profiles LIMIT %d", want)
	stream := func() (int64, error) {
		rows, err := s.db.QueryContext(ctx, streamQ)
		if err != nil {
			return 0, err
		}
		defer rows.Close()
		var n, id int64
		for rows.Next() {
			if err := rows.Scan(&id); err != nil {
				return n, err
			}
			n++
		}
		return n, rows.Err()
	}
	ids, err := s.ints(ctx, streamQ)
	if err != nil {
		return nil, err
	}
	slices.Sort(ids)
	if int64(len(ids)) != want || len(slices.Compact(ids)) != int(want) {
		return nil, fmt.Errorf("%w: streaming: %d ids (distinct %d), want %d distinct", errMismatch, len(ids), len(slices.Compact(ids)), want)
	}
	ids = nil
	slog.Info("verified", "query", "stream person ids", "rows", want)
	var times []time.Duration
	for i := 0; i < max(runs, 3); i++ {
		t0 := time.Now()
		n, err := stream()
		if err != nil {
			return nil, fmt.Errorf("cannot stream: %w", err)
		}
		if n != want {
			return nil, fmt.Errorf("%w: streamed %d rows, want %d", errMismatch, n, want)
		}
		times = append(times, time.Since(t0))
	}
	slices.Sort(times)
	med := times[len(times)/2]
	rep.StreamRows, rep.StreamMedian, rep.StreamRowsPerSec = want, ms(med), float64(want)/med.Seconds()

	if soak > 0 {
		r, err := s.soak(ctx, profiles, soakConns, soak)
		if err != nil {
			return nil, err
		}
		rep.Soak = r
	}
	return rep, nil
}

func (s *sqlSystem) lookupThroughput(ctx context.Context, profiles, conns int, d time.Duration) (float64, error) {
	db, err := s.open(conns)
	if err != nil {
		return 0, err
	}
	defer db.Close()
	st, err := db.PrepareContext(ctx, lookupSQL)
	if err != nil {
		return 0, err
	}
	defer st.Close()
	var n atomic.Int64
	var firstErr error
	var once sync.Once
	var wg sync.WaitGroup
	deadline := time.Now().Add(d)
	for g := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(g), 3))
			for time.Now().Before(deadline) {
				if _, _, err := lookup(ctx, st, userIDOf(1+rng.IntN(profiles))); err != nil {
					once.Do(func() { firstErr = err })
					return
				}
				n.Add(1)
			}
		}()
	}
	start := time.Now()
	wg.Wait()
	if firstErr != nil {
		return 0, fmt.Errorf("lookup throughput: %w", firstErr)
	}
	return float64(n.Load()) / time.Since(start).Seconds(), nil
}

func heapInuse() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse
}

// soak runs conns connections of mixed queries for d, then checks that
// goroutines and heap return to their baseline.
func (s *sqlSystem) soak(ctx context.Context, profiles, conns int, d time.Duration) (*soakReport, error) {
	r := &soakReport{Conns: conns, Seconds: d.Seconds()}
	r.GoroutinesBase, r.HeapBase = runtime.NumGoroutine(), heapInuse()
	db, err := s.open(conns)
	if err != nil {
		return nil, err
	}
	mix := []func(ctx context.Context, c *sql.Conn, rng *rand.Rand) error{
		func(ctx context.Context, c *sql.Conn, _ *rand.Rand) error {
			return scanAll(c.QueryContext(ctx, s.sqlQ1()))
		},
		func(ctx context.Context, c *sql.Conn, _ *rand.Rand) error {
			return scanAll(c.QueryContext(ctx, s.sqlQ3()))
		},
		func(ctx context.Context, c *sql.Conn, rng *rand.Rand) error {
			return scanAll(c.QueryContext(ctx, lookupSQL, userIDOf(1+rng.IntN(profiles))))
		},
		func(ctx context.Context, c *sql.Conn, rng *rand.Rand) error {
			return scanAll(c.QueryContext(ctx, "SELECT * FROM profiles WHERE person_id = ?", 1+rng.IntN(profiles)))
		},
		func(ctx context.Context, c *sql.Conn, _ *rand.Rand) error {
			return scanAll(c.QueryContext(ctx, "SELECT * FROM profiles WHERE country = 'ES' LIMIT 10"))
		},
		func(ctx context.Context, c *sql.Conn, _ *rand.Rand) error {
			return scanAll(c.QueryContext(ctx, "SELECT person_id FROM profiles LIMIT 1000"))
		},
		func(ctx context.Context, c *sql.Conn, _ *rand.Rand) error {
			return scanAll(c.QueryContext(ctx, "SELECT COUNT(*) FROM profiles WHERE email LIKE '%@gmail.com'"))
		},
	}
	var queries, errs atomic.Int64
	var firstErr atomic.Pointer[string]
	var wg sync.WaitGroup
	var peak atomic.Int64
	deadline := time.Now().Add(d)
	for g := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			fail := func(err error) {
				errs.Add(1)
				m := err.Error()
				firstErr.CompareAndSwap(nil, &m)
			}
			c, err := db.Conn(ctx)
			if err != nil {
				fail(err)
				return
			}
			defer c.Close()
			rng := rand.New(rand.NewPCG(uint64(g), 5))
			for time.Now().Before(deadline) && ctx.Err() == nil {
				if err := mix[rng.IntN(len(mix))](ctx, c, rng); err != nil {
					fail(err)
				}
				queries.Add(1)
			}
		}()
	}
	go func() { // sample the goroutine peak
		for time.Now().Before(deadline) {
			if n := int64(runtime.NumGoroutine()); n > peak.Load() {
				peak.Store(n)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}()
	wg.Wait()
	db.Close()
	r.Queries, r.Errors, r.GoroutinesPeak = queries.Load(), errs.Load(), int(peak.Load())
	if p := firstErr.Load(); p != nil {
		r.FirstError = *p
	}
	// The server ends its sessions asynchronously: give it a few seconds.
	for i := 0; i < 100 && runtime.NumGoroutine() > r.GoroutinesBase+2; i++ {
		time.Sleep(100 * time.Millisecond)
	}
	r.GoroutinesEnd, r.HeapEnd = runtime.NumGoroutine(), heapInuse()
	slog.Info("soak done", "conns", conns, "queries", r.Queries, "errors", r.Errors,
		"goroutines", fmt.Sprintf("%d -> peak %d -> %d", r.GoroutinesBase, r.GoroutinesPeak, r.GoroutinesEnd),
		"heap_mib", fmt.Sprintf("%.0f -> %.0f", float64(r.HeapBase)/(1<<20), float64(r.HeapEnd)/(1<<20)))
	return r, nil
}

func scanAll(rows *sql.Rows, err error) error {
	if err != nil {
		return err
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return err
	}
	vals := make([]sql.RawBytes, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return err
		}
	}
	return rows.Err()
}

// printSQLTargets prints the SQL frontend's targets (issue 3) next to the
// measured values.
func (r *report) printSQLTargets(w io.Writer) {
	x := r.SQL
	if x == nil {
		return
	}
	med := func(q, sys string) float64 {
		for _, qr := range r.Queries {
			for _, s := range qr.Systems {
				if qr.ID == q && s.System == sys {
					return s.Median
				}
			}
		}
		return -1 // not run (-only)
	}
	ok := func(b bool) string {
		if b {
			return "yes"
		}
		return "NO"
	}
	tls := "TLS off"
	if x.TLS {
		tls = "TLS on"
	}
	fmt.Fprintf(w, "\nSQL over the wire (sqlfront in-process on 127.0.0.1, go-sql-driver/mysql, %s), %d profiles\n", tls, r.Config.Profiles)
	fmt.Fprintf(w, "%-58s %14s  %-22s %s\n", "measure", "measured", "target", "met")
	row := func(name, got, target string, met bool) {
		fmt.Fprintf(w, "%-58s %14s  %-22s %s\n", name, got, target, ok(met))
	}
	q1, q1d := med("Q1", "cohort-sql"), med("Q1", "duckdb-enum")
	row("Q1 segment count, median", fmt.Sprintf("%.2f ms", q1), "<= 15 ms", q1 >= 0 && q1 <= 15)
	if q1d > 0 {
		row("Q1 duckdb-enum (same SQL, in-process) / cohort-sql", fmt.Sprintf("%.2fx", q1d/q1), ">= 2x", q1d/q1 >= 2)
	}
	q3 := med("Q3", "cohort-sql")
	row("Q3 GROUP BY country WHERE plan='pro', median", fmt.Sprintf("%.2f ms", q3), "<= 25 ms", q3 >= 0 && q3 <= 25)
	row("identity point lookup p50 (1 conn, prepared)", fmt.Sprintf("%.3f ms", x.LookupP50), "<= 1 ms", x.LookupP50 <= 1)
	row("identity point lookup p99 (1 conn, prepared)", fmt.Sprintf("%.3f ms", x.LookupP99), "-", true)
	row("identity point lookups, 16 conns", fmt.Sprintf("%.0f q/s", x.LookupQPS16), ">= 5000 q/s", x.LookupQPS16 >= 5000)
	row(fmt.Sprintf("stream %d person ids (median %.0f ms)", x.StreamRows, x.StreamMedian),
		fmt.Sprintf("%.2fM rows/s", x.StreamRowsPerSec/1e6), ">= 1.5M rows/s", x.StreamRowsPerSec >= 1.5e6)
	if s := x.Soak; s != nil {
		row(fmt.Sprintf("soak: %d conns x %.0fs mixed, %d queries", s.Conns, s.Seconds, s.Queries),
			fmt.Sprintf("%d errors", s.Errors), "0 errors", s.Errors == 0)
		row("soak: goroutines baseline -> peak -> after",
			fmt.Sprintf("%d->%d->%d", s.GoroutinesBase, s.GoroutinesPeak, s.GoroutinesEnd), "back to baseline", s.GoroutinesEnd <= s.GoroutinesBase+2)
		row("soak: heap in use baseline -> after (MiB)",
			fmt.Sprintf("%.0f->%.0f", float64(s.HeapBase)/(1<<20), float64(s.HeapEnd)/(1<<20)), "back to baseline",
			float64(s.HeapEnd) <= float64(s.HeapBase)*1.05+16<<20)
		if s.FirstError != "" {
			fmt.Fprintf(w, "soak first error: %s\n", s.FirstError)
		}
	}
}
