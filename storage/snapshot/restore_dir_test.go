package snapshot

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/cohortdb/cohort/engine"
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
