package sqlfront

import (
	"context"
	"database/sql"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"sync"
	"testing"

	"github.com/cohortdb/cohort/bench/gen"
	"github.com/cohortdb/cohort/bench/load"
	"github.com/cohortdb/cohort/engine"
)

var (
	benchProfiles = flag.Int("sqlfront.profiles", 1_000_000, "profiles of the benchmark workspace")
	benchEvents   = flag.Int("sqlfront.events", 2_000_000, "events of the benchmark workspace")
)

// benchEnv is one generated workspace served with pushdown on and off.
type benchEnv struct {
	on, off *sql.DB
	n       int
}

var (
	benchOnce sync.Once
	benchE    *benchEnv
)

func benchSetup(b *testing.B) *benchEnv {
	benchOnce.Do(func() {
		eng := engine.New(engine.Options{})
		ws, err := eng.CreateWorkspace("bench")
		if err != nil {
			b.Fatal(err)
		}
		ds, err := gen.Generate(context.Background(), gen.Options{Profiles: *benchProfiles, Events: *benchEvents, Seed: 1})
		if err != nil {
			b.Fatal(err)
		}
		if err := load.Workspace(context.Background(), ws, ds, nil); err != nil {
			b.Fatal(err)
		}
		open := func(off bool) *sql.DB {
			dir, _ := os.MkdirTemp("", "sqlfront-bench")
			s, err := New(eng, Options{Addr: "127.0.0.1:0", RootPassword: testPassword, DataDir: dir, DisablePushdown: off,
				Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
			if err != nil {
				b.Fatal(err)
			}
			_ = s.Start()
			ts := &testServer{srv: s}
			db, err := sql.Open("mysql", ts.dsn("root", testPassword, "bench"))
			if err != nil {
				b.Fatal(err)
			}
			db.SetMaxIdleConns(64)
			return db
		}
		benchE = &benchEnv{on: open(false), off: open(true), n: *benchProfiles}
	})
	return benchE
}

const q1 = "SELECT COUNT(*) FROM profiles WHERE country = 'US' AND age BETWEEN 25 AND 45 AND ltv > 100 AND last_seen > NOW() - INTERVAL 30 DAY"

func benchScalar(b *testing.B, db *sql.DB, q string, args ...any) {
	b.ReportAllocs()
	for b.Loop() {
		var n any
		if err := db.QueryRow(q, args...).Scan(&n); err != nil {
			b.Fatal(err)
		}
	}
}

func benchRows(b *testing.B, db *sql.DB, q string, args ...any) {
	b.ReportAllocs()
	total := 0
	for b.Loop() {
		rows, err := db.Query(q, args...)
		if err != nil {
			b.Fatal(err)
		}
		for rows.Next() {
			total++
		}
		if err := rows.Err(); err != nil {
			b.Fatal(err)
		}
		rows.Close()
	}
	b.ReportMetric(float64(total)/b.Elapsed().Seconds(), "rows/s")
}

// BenchmarkQ1: the segment count over the wire.
func BenchmarkQ1(b *testing.B) {
	e := benchSetup(b)
	b.Run("pushdown", func(b *testing.B) { benchScalar(b, e.on, q1) })
	b.Run("gms", func(b *testing.B) { benchScalar(b, e.off, q1) })
}

func BenchmarkGroupByCountry(b *testing.B) {
	e := benchSetup(b)
	q := "SELECT country, COUNT(*) FROM profiles WHERE age > 30 GROUP BY country"
	b.Run("pushdown", func(b *testing.B) { benchRows(b, e.on, q) })
	b.Run("gms", func(b *testing.B) { benchRows(b, e.off, q) })
}

func BenchmarkBehaviour(b *testing.B) {
	e := benchSetup(b)
	q := "SELECT COUNT(*) FROM profiles WHERE country = 'US' AND person_id IN (SELECT person_id FROM events WHERE name = 'purchase' GROUP BY person_id HAVING COUNT(*) >= 2)"
	b.Run("pushdown", func(b *testing.B) { benchScalar(b, e.on, q) })
}

func BenchmarkPointLookup(b *testing.B) {
	e := benchSetup(b)
	rng := rand.New(rand.NewPCG(1, 2))
	for _, c := range []struct{ name, q string }{
		{"person_id", "SELECT * FROM profiles WHERE person_id = ?"},
		{"identity", "SELECT person_id FROM identities WHERE type = 'user_id' AND value = ?"},
	} {
		st, err := e.on.Prepare(c.q)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				id := 1 + rng.IntN(e.n)
				var arg any = id
				if c.name == "identity" {
					arg = fmt.Sprintf("u%d", id)
				}
				rows, err := st.Query(arg)
				if err != nil {
					b.Fatal(err)
				}
				for rows.Next() {
				}
				rows.Close()
			}
		})
		b.Run(c.name+"/parallel16", func(b *testing.B) {
			b.SetParallelism(16)
			b.RunParallel(func(pb *testing.PB) {
				r := rand.New(rand.NewPCG(rand.Uint64(), 3))
				for pb.Next() {
					id := 1 + r.IntN(e.n)
					var arg any = id
					if c.name == "identity" {
						arg = fmt.Sprintf("u%d", id)
					}
					rows, err := st.Query(arg)
					if err != nil {
						b.Error(err)
						return
					}
					for rows.Next() {
					}
					rows.Close()
				}
			})
		})
	}
}

func BenchmarkStreamIDs(b *testing.B) {
	e := benchSetup(b)
	b.Run("all", func(b *testing.B) { benchRows(b, e.on, "SELECT person_id FROM profiles") })
	b.Run("limit10", func(b *testing.B) { benchRows(b, e.on, "SELECT * FROM profiles WHERE country = 'US' LIMIT 10") })
}
