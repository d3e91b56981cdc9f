package main

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/cohortdb/cohort/engine"
	"github.com/cohortdb/cohort/engine/column"
	"github.com/cohortdb/cohort/engine/identity"
	"github.com/cohortdb/cohort/sqlfront"
	"github.com/cohortdb/cohort/storage"
)

// TestMeasureEventWindow measures what the event window saves and costs:
// COHORT_MEASURE_WINDOW=<days> go test ./cmd/cohort -run TestMeasureEventWindow -v
// loads <days> days of 1M events (20 names, 3 properties, 200k persons),
// seals and drops all but the last 3, and reports memory, disk, and SQL
// query times over a day on disk next to the same over a day in memory.
func TestMeasureEventWindow(t *testing.T) {
	var days int
	if _, err := fmt.Sscan(os.Getenv("COHORT_MEASURE_WINDOW"), &days); err != nil || days < 5 {
		t.Skip("set COHORT_MEASURE_WINDOW to a number of days >= 5")
	}
	const perDay = 1_000_000
	const dayUS = int64(24 * time.Hour / time.Microsecond)
	ctx := context.Background()
	t0 := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC).UnixMicro()
	e := engine.New(engine.Options{})
	w, _ := e.CreateWorkspace("acme")
	ops := make([]engine.Op, 0, 10_000)
	start := time.Now()
	for n := range days * perDay {
		d, i := n/perDay, n%perDay
		ops = append(ops, engine.Op{Kind: engine.OpTrack, IDs: []identity.ID{{Type: "user_id", Value: fmt.Sprint("u", (n*7919)%200_000)}},
			Event: fmt.Sprint("event_", n%20), At: t0 + int64(d)*dayUS + int64(i)*(dayUS/perDay),
			Props: []engine.Field{{Name: "amount", Value: column.Float(float64(n%10000) / 100)}, {Name: "qty", Value: column.Int(int64(n % 9))}, {Name: "page", Value: column.String(fmt.Sprint("/p/", n%1000))}}})
		if len(ops) == cap(ops) {
			if _, err := w.Apply(ctx, ops); err != nil {
				t.Fatal(err)
			}
			ops = ops[:0]
		}
	}
	t.Logf("applied %d events in %v", days*perDay, time.Since(start).Round(time.Millisecond))
	heap := func() uint64 {
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return m.HeapAlloc
	}
	events := func() (n int64) {
		for _, b := range w.Memory()[engine.Events] {
			n += b
		}
		return n
	}
	m0, h0 := events(), heap()
	dir := t.TempDir()
	now := time.UnixMicro(t0 + int64(days)*dayUS + dayUS/2)
	st, err := storage.Open(dir, storage.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		EventWindow: 3 * 24 * time.Hour, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Restore(ctx, e); err != nil {
		t.Fatal(err)
	}
	start = time.Now()
	if err := st.SnapshotNow(ctx); err != nil { // snapshot, seal, drop
		t.Fatal(err)
	}
	dropped := days - 3
	m1, h1 := events(), heap()
	t.Logf("snapshot + seal + drop of %d days: %v; events memory %d → %d MB (%.1f MB per day); heap %d → %d MB (%.1f MB per day)",
		dropped, time.Since(start).Round(time.Millisecond), m0>>20, m1>>20, float64(m0-m1)/float64(dropped)/(1<<20),
		h0>>20, h1>>20, (float64(h0)-float64(h1))/float64(dropped)/(1<<20))
	var disk int64
	_ = filepath.Walk(filepath.Join(dir, "events"), func(_ string, fi os.FileInfo, _ error) error {
		if fi != nil && !fi.IsDir() {
			disk += fi.Size()
		}
		return nil
	})
	t.Logf("event partitions: %.1f MB per day", float64(disk)/float64(dropped)/(1<<20))

	srv, err := sqlfront.New(e, sqlfront.Options{Addr: "127.0.0.1:0", InsecureNoAuth: true, EventArchive: st,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	defer srv.Shutdown(ctx)
	db, err := sql.Open("mysql", "root:x@tcp("+srv.Addr().String()+")/acme?tls=skip-verify")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	day := func(d int) string { return time.UnixMicro(t0 + int64(d)*dayUS).UTC().Format(time.DateOnly) }
	for _, q := range []string{
		"SELECT COUNT(*) FROM events WHERE ts >= '%s' AND ts < '%s' AND name = 'event_3' AND qty = 2",
		"SELECT COUNT(*) FROM events WHERE ts >= '%s' AND ts < '%s'",
		"SELECT name, COUNT(*) FROM events WHERE ts >= '%s' AND ts < '%s' GROUP BY name",
		"SELECT COUNT(*) FROM profiles WHERE person_id IN (SELECT person_id FROM events WHERE name = 'event_3' AND ts >= '%s' AND ts < '%s')",
	} {
		for _, d := range []int{1, days - 1} {
			q := fmt.Sprintf(q, day(d), day(d+1))
			best := time.Duration(1 << 62)
			var got string
			for range 3 {
				start := time.Now()
				rows, err := db.Query(q)
				if err != nil {
					t.Fatal(err)
				}
				n := 0
				for rows.Next() {
					n++
				}
				rows.Close()
				best, got = min(best, time.Since(start)), fmt.Sprint(n, " rows")
			}
			where := "memory"
			if d < days-3 {
				where = "disk"
			}
			t.Logf("%-6s %8v  %s (%s)", where, best.Round(time.Millisecond), q, got)
		}
	}
}
