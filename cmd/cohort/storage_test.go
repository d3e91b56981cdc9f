package main

import (
	"context"
	"testing"
	"time"

	"github.com/cohortdb/cohort/cmd/cohort/internal/config"
	"github.com/cohortdb/cohort/engine"
	"github.com/cohortdb/cohort/engine/identity"
)

// TestFinalSnapshotTimeout: the final snapshot's deadline grows with the
// rows to write, is never below shutdown_timeout and never above
// maxFinalSnapshot.
func TestFinalSnapshotTimeout(t *testing.T) {
	e := engine.New(engine.Options{})
	s := &server{cfg: config.Config{ShutdownTimeout: 10 * time.Second}, eng: e}
	if got := s.finalSnapshotTimeout(); got != finalSnapshotBase {
		t.Fatalf("empty engine: %v, want %v", got, finalSnapshotBase)
	}
	w, err := e.CreateWorkspace("acme")
	if err != nil {
		t.Fatal(err)
	}
	ops := make([]engine.Op, 1000)
	for i := range ops {
		ops[i] = engine.Op{Kind: engine.OpTrack, IDs: []identity.ID{{Type: identity.TypeUserID, Value: "u1"}}, Event: "e", At: int64(i + 1)}
	}
	if _, err := w.Apply(context.Background(), ops); err != nil {
		t.Fatal(err)
	}
	snap := w.Snapshot()
	rows := snap.Profiles.Live + snap.Events.Live + snap.Identities.Live
	want := (finalSnapshotBase + time.Duration(rows)*finalSnapshotPerRow).Round(time.Second)
	if got := s.finalSnapshotTimeout(); got != want {
		t.Fatalf("%d rows: %v, want %v", rows, got, want)
	}
	s.cfg.ShutdownTimeout = 2 * time.Hour
	if got := s.finalSnapshotTimeout(); got != maxFinalSnapshot {
		t.Fatalf("shutdown_timeout 2h: %v, want the cap %v", got, maxFinalSnapshot)
	}
	s.cfg.ShutdownTimeout = 5 * time.Minute
	if got := s.finalSnapshotTimeout(); got != 5*time.Minute {
		t.Fatalf("shutdown_timeout 5m: %v, want 5m", got)
	}
}
