// Command bench compares the Cohort engine with a plain-Go reference loop
// (the practical physical limit) and DuckDB (in the same process) on a
// fixed query set over generated data. See ../README.md.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"runtime"
	"strings"
	"time"

	"github.com/cohortdb/cohort/bench/gen"
)

type config struct {
	profiles, events int
	seed             uint64
	runs, threads    int
	only             string
	jsonPath         string
	skipDuckDB       bool
	duckCompress     bool
	sql, sqlTLS      bool
	sqlSoak          time.Duration
	sqlSoakConns     int
}

func main() {
	var c config
	def := gen.DefaultOptions()
	flag.IntVar(&c.profiles, "profiles", def.Profiles, "number of generated profiles")
	flag.IntVar(&c.events, "events", def.Events, "number of generated events")
	flag.Uint64Var(&c.seed, "seed", def.Seed, "generator seed")
	flag.IntVar(&c.runs, "runs", 11, "timed runs per query and system (medians are reported)")
	flag.IntVar(&c.threads, "threads", runtime.GOMAXPROCS(0), "threads for every system (sets GOMAXPROCS and DuckDB threads)")
	flag.StringVar(&c.only, "only", "", "comma-separated query ids to run, e.g. Q1,Q4 (default all)")
	flag.StringVar(&c.jsonPath, "json", "", "also write the results as JSON to this file")
	flag.BoolVar(&c.skipDuckDB, "no-duckdb", false, "skip DuckDB (reference and engine only)")
	flag.BoolVar(&c.duckCompress, "duckdb-compress", true, "CHECKPOINT DuckDB after loading so it compresses its tables (needed to fit 100M events twice in memory)")
	flag.BoolVar(&c.sql, "sql", false, "also serve the engine over the MySQL protocol (sqlfront) and measure it with go-sql-driver/mysql: the query set as system cohort-sql, identity lookups, streaming, soak")
	flag.BoolVar(&c.sqlTLS, "sql-tls", false, "connect to sqlfront with TLS (default off: plaintext on 127.0.0.1)")
	flag.DurationVar(&c.sqlSoak, "sql-soak", 10*time.Second, "with -sql: how long the concurrent-connections soak runs (0 skips it; the target is 1m)")
	flag.IntVar(&c.sqlSoakConns, "sql-soak-conns", 200, "with -sql: connections of the soak")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, c); err != nil {
		slog.Error("bench failed", "err", err)
		if errors.Is(err, errMismatch) {
			os.Exit(2)
		}
		os.Exit(1)
	}
}

var errMismatch = errors.New("systems disagree")

func run(ctx context.Context, c config) error {
	if c.runs < 1 || c.threads < 1 {
		return fmt.Errorf("cannot run: -runs and -threads must be positive")
	}
	runtime.GOMAXPROCS(c.threads)
	qs, err := selectQueries(c.only)
	if err != nil {
		return err
	}
	rep := &report{Config: reportConfig{Profiles: c.profiles, Events: c.events, Seed: c.seed, Runs: c.runs,
		Threads: c.threads, GoVersion: runtime.Version()}, Load: map[string]float64{}}

	opts := gen.DefaultOptions()
	opts.Profiles, opts.Events, opts.Seed = c.profiles, c.events, c.seed
	start := time.Now()
	d, err := gen.Generate(ctx, opts)
	if err != nil {
		return err
	}
	rep.Load["generate"] = ms(time.Since(start))
	rep.GenBytes = d.Profiles.Bytes() + d.Events.Bytes()
	rep.RSSAfterGen = rssBytes()
	slog.Info("generated", "profiles", c.profiles, "events", c.events, "took", time.Since(start).Round(time.Millisecond),
		"column_bytes", rep.GenBytes, "rss", rep.RSSAfterGen)

	prm := newParams(opts)
	ref, err := newReference(d, prm, c.threads)
	if err != nil {
		return fmt.Errorf("cannot build reference: %w", err)
	}
	systems := []system{ref}

	if !c.skipDuckDB {
		start = time.Now()
		x, err := openDuckDB(ctx, d, c.threads, c.duckCompress)
		if err != nil {
			return err
		}
		defer x.close()
		rep.Load["duckdb"] = ms(time.Since(start))
		for k, v := range x.load {
			rep.Load["duckdb: "+k] = ms(v)
		}
		if m, err := x.memoryBytes(ctx); err == nil {
			rep.DuckDBMemory = m
		} else {
			slog.Warn("no duckdb memory figure", "err", err)
		}
		systems = append(systems,
			&duckSystem{x: x, label: "duckdb-varchar", profiles: "profiles_v", events: "events_v", prm: prm},
			&duckSystem{x: x, label: "duckdb-enum", profiles: "profiles_e", events: "events_e", prm: prm})
	}

	start = time.Now()
	eng, err := newEngineSystem(ctx, d, prm, c.threads)
	if err != nil {
		return fmt.Errorf("cannot load engine: %w", err)
	}
	if eng != nil {
		defer eng.close()
		rep.Load["engine"] = ms(time.Since(start))
		systems = append(systems, eng)
	} else {
		if c.sql {
			return fmt.Errorf("cannot run -sql: no engine system")
		}
		slog.Info("no engine system: comparing reference and duckdb only")
	}
	var sqlSys *sqlSystem
	if c.sql && eng != nil {
		sqlSys, err = openSQLSystem(eng.(*engineSystem), prm, c.sqlTLS)
		if err != nil {
			return fmt.Errorf("cannot start sqlfront: %w", err)
		}
		defer sqlSys.close()
		systems = append(systems, sqlSys)
	}
	runtime.GC()
	rep.RSSAfterLoad = rssBytes()

	if err := verify(ctx, systems, qs, rep); err != nil {
		return err
	}
	for _, q := range qs {
		for _, s := range systems {
			st, err := timeQuery(ctx, q, s, c.runs)
			if err != nil {
				return err
			}
			rep.add(q, s.name(), st)
		}
	}
	if sqlSys != nil {
		x, err := sqlSys.sqlExtras(ctx, c.profiles, c.runs, c.sqlSoak, c.sqlSoakConns)
		if err != nil {
			return fmt.Errorf("cannot measure SQL: %w", err)
		}
		rep.SQL = x
	}
	rep.print(os.Stdout, qs)
	rep.printSQLTargets(os.Stdout)
	if c.jsonPath != "" {
		if err := rep.writeJSON(c.jsonPath); err != nil {
			return err
		}
	}
	return nil
}

func selectQueries(only string) ([]query, error) {
	if only == "" {
		return queries, nil
	}
	var out []query
	for _, id := range strings.Split(only, ",") {
		found := false
		for _, q := range queries {
			if strings.EqualFold(q.id, strings.TrimSpace(id)) {
				out = append(out, q)
				found = true
			}
		}
		if !found {
			return nil, fmt.Errorf("cannot select query %q: unknown id", id)
		}
	}
	return out, nil
}

// verify runs every query once on every system and fails with a diff if a
// system's answer differs from the reference's.
func verify(ctx context.Context, systems []system, qs []query, rep *report) error {
	var bad []string
	for _, q := range qs {
		want, err := q.run(ctx, systems[0])
		if err != nil {
			return fmt.Errorf("cannot verify %s on %s: %w", q.id, systems[0].name(), err)
		}
		rep.answer(q.id, want.count)
		for _, s := range systems[1:] {
			got, err := q.run(ctx, s)
			if err != nil {
				return fmt.Errorf("cannot verify %s on %s: %w", q.id, s.name(), err)
			}
			if d := want.diff(got); d != "" {
				bad = append(bad, fmt.Sprintf("%s on %s: %s", q.id, s.name(), d))
			}
		}
		slog.Info("verified", "query", q.id, "answer_size", want.count, "systems", len(systems))
	}
	if len(bad) > 0 {
		for _, b := range bad {
			fmt.Fprintln(os.Stderr, "MISMATCH", b)
		}
		return fmt.Errorf("%w: %d mismatches", errMismatch, len(bad))
	}
	return nil
}

func timeQuery(ctx context.Context, q query, s system, runs int) ([]time.Duration, error) {
	if _, err := q.run(ctx, s); err != nil { // warm-up
		return nil, fmt.Errorf("cannot run %s on %s: %w", q.id, s.name(), err)
	}
	out := make([]time.Duration, runs)
	for i := range out {
		start := time.Now()
		if _, err := q.run(ctx, s); err != nil {
			return nil, fmt.Errorf("cannot run %s on %s: %w", q.id, s.name(), err)
		}
		out[i] = time.Since(start)
	}
	return out, nil
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
