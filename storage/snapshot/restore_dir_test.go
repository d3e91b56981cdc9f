package snapshot

import (
	"context"
	"os"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/cohortdb/cohort/engine"
	"github.com/cohortdb/cohort/engine/column"
	"github.com/cohortdb/cohort/engine/identity"
)

// BenchmarkReadDir restores the snapshot directory named by
// COHORT_SNAPSHOT_DIR (e.g. a 10M-profile / 100M-event one written by
// `cohort serve`), to profile restores at scale:
//
//	COHORT_SNAPSHOT_DIR=data/snapshots/demo/00000000000000013429 \
//	  go test -run '^$' -bench ReadDir -benchtime 1x -cpuprofile /tmp/cpu ./storage/snapshot/
func BenchmarkReadDir(b *testing.B) {
	dir := os.Getenv("COHORT_SNAPSHOT_DIR")
	if dir == "" {
		b.Skip("COHORT_SNAPSHOT_DIR not set")
	}
	for b.Loop() {
		defer reportCPU(b)()
		start := time.Now()
		m, w, err := Read(context.Background(), dir, engine.New(engine.Options{}))
		if err != nil {
			b.Fatal(err)
		}
		s := w.Snapshot()
		b.Logf("restored seq %d: %d profiles, %d events, %d identities in %s", m.Seq, s.Profiles.Live, s.Events.Live, s.Identities.Live, time.Since(start))
	}
}

// BenchmarkReadDirParts restores each part of the COHORT_SNAPSHOT_DIR
// snapshot alone (each table; the identity graph; or only the one named by
// COHORT_SNAPSHOT_PART) and logs its wall and CPU time: the critical path
// of Read is the slowest part, its floor the sum of CPU over GOMAXPROCS.
func BenchmarkReadDirParts(b *testing.B) {
	dir := os.Getenv("COHORT_SNAPSHOT_DIR")
	if dir == "" {
		b.Skip("COHORT_SNAPSHOT_DIR not set")
	}
	m, err := ReadManifest(dir)
	if err != nil {
		b.Fatal(err)
	}
	cpu := func() time.Duration {
		var ru syscall.Rusage
		syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
		return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	ctx := context.Background()
	for b.Loop() {
		part := func(name string, fn func(r *engine.Restorer) error) {
			if only := os.Getenv("COHORT_SNAPSHOT_PART"); only != "" && only != name {
				return
			}
			r, err := engine.New(engine.Options{}).NewRestorer(m.Workspace, engine.Counters{Seq: m.Seq, LogSeq: m.LogSeq, NextEvent: m.NextEvent, Persons: m.Persons})
			if err != nil {
				b.Fatal(err)
			}
			runtime.GC()
			start, c0 := time.Now(), cpu()
			if err := fn(r); err != nil {
				b.Fatal(err)
			}
			b.Logf("%-12s wall %6.2fs  cpu %6.2fs", name, time.Since(start).Seconds(), (cpu() - c0).Seconds())
		}
		part("verify", func(*engine.Restorer) error { return Verify(dir, m) })
		for _, tbl := range []string{engine.Events, engine.Profiles, engine.Identities} {
			part(tbl, func(r *engine.Restorer) error {
				f, _ := m.File(tbl)
				return restoreTable(ctx, dir, f, r, tbl, make(chan struct{}, runtime.GOMAXPROCS(0)))
			})
		}
		part("graph", func(r *engine.Restorer) error {
			f, _ := m.File(TableIdentifiers)
			r.ReserveIDs(int(f.Rows))
			return readFile(ctx, dir, f, func(v []column.Value) error {
				return r.NextID(identity.ID{Type: v[0].S, Value: v[1].S}, uint32(v[2].I), identity.IDState(v[3].I))
			})
		})
	}
}
