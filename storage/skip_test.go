package storage

import (
	"context"
	"math/rand/v2"
	"sync/atomic"
	"testing"

	"github.com/cohortdb/cohort/engine"
	"github.com/cohortdb/cohort/engine/enginetest"
	"github.com/cohortdb/cohort/storage/snapshot"
)

// TestSkip: a workspace Options.Skip names is left out of snapshots (a
// bulk load outside the log in progress) and snapshotted once Skip lets
// it; the others are snapshotted regardless.
func TestSkip(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	var loading atomic.Bool
	loading.Store(true)
	s, err := Open(dir, Options{Logger: quiet(), NoHistory: true,
		Skip: func(ws string) bool { return ws == "demo" && loading.Load() }})
	if err != nil {
		t.Fatal(err)
	}
	e := engine.New(engine.Options{})
	if _, err := s.Restore(ctx, e); err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(3, 4))
	pool := enginetest.NewPool(20)
	for _, name := range []string{"demo", "acme"} {
		w, err := e.CreateWorkspace(name)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := enginetest.Apply(ctx, r, w, enginetest.Ops(r, pool, 300, t0, 50), 0); err != nil {
			t.Fatal(err)
		}
	}
	count := func(ws string) int {
		list, err := snapshot.List(s.snapDir(ws))
		if err != nil {
			t.Fatal(err)
		}
		return len(list)
	}
	if err := s.SnapshotNow(ctx); err != nil {
		t.Fatal(err)
	}
	if count("demo") != 0 || count("acme") != 1 {
		t.Fatalf("while skipped: %d demo and %d acme snapshots, want 0 and 1", count("demo"), count("acme"))
	}
	loading.Store(false)
	if err := s.SnapshotNow(ctx); err != nil {
		t.Fatal(err)
	}
	if count("demo") != 1 || count("acme") != 1 {
		t.Fatalf("after the load: %d demo and %d acme snapshots, want 1 and 1", count("demo"), count("acme"))
	}
}
