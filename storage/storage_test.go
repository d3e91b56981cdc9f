package storage

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/cohortdb/cohort/engine"
	"github.com/cohortdb/cohort/engine/enginetest"
	"github.com/cohortdb/cohort/storage/history"
	"github.com/cohortdb/cohort/storage/snapshot"
)

var t0 = time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC).UnixMicro()

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(&bytes.Buffer{}, nil)) }

// applyLog applies ops[from:to] with per-op log sequences (op i is log
// sequence i+1), in random batch sizes, as the ingest applier does.
func applyLog(t *testing.T, r *rand.Rand, w *engine.Workspace, ops []engine.Op, from, to int) {
	t.Helper()
	for from < to {
		n := min(to-from, 1+r.IntN(150))
		if _, err := w.ApplyLogged(context.Background(), ops[from:from+n], uint64(from+n)); err != nil {
			t.Fatal(err)
		}
		from += n
	}
}

func historyOf(t *testing.T, s *Store, ws string) []string {
	t.Helper()
	var out []string
	err := s.History(ws).Scan(context.Background(), time.Unix(0, 0), time.Unix(1<<33, 0), func(r history.Record) error {
		out = append(out, fmt.Sprintf("%d %s %v->%v %d %s", r.Person, r.Attribute, r.Old, r.New, r.At, r.Source))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestCrashRecovery: snapshot, more batches, crash (nothing flushed after
// the snapshot), restart: Restore + replay of the log after the snapshot
// gives the same workspace and the same profile history, exactly once.
func TestCrashRecovery(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	r := rand.New(rand.NewPCG(1, 2))
	pool := enginetest.NewPool(60)
	ops := enginetest.Ops(r, pool, 6000, t0, 200)

	// Reference: one uninterrupted run with history.
	refStore, _ := Open(t.TempDir(), Options{Logger: quiet()})
	ref := engine.New(engine.Options{})
	if _, err := refStore.Restore(ctx, ref); err != nil {
		t.Fatal(err)
	}
	refW, _ := ref.CreateWorkspace("acme")
	applyLog(t, rand.New(rand.NewPCG(3, 3)), refW, ops, 0, len(ops))
	if err := refStore.SnapshotNow(ctx); err != nil {
		t.Fatal(err)
	}

	// First life: crashes after 4000 operations, last snapshot at 2500.
	s1, _ := Open(dir, Options{Logger: quiet(), History: history.Options{RollRows: 300}})
	e1 := engine.New(engine.Options{})
	if seqs, err := s1.Restore(ctx, e1); err != nil || len(seqs) != 0 {
		t.Fatalf("Restore on an empty directory = %v, %v", seqs, err)
	}
	w1, _ := e1.CreateWorkspace("acme")
	applyLog(t, rand.New(rand.NewPCG(4, 4)), w1, ops, 0, 1000)
	if err := s1.SnapshotNow(ctx); err != nil {
		t.Fatal(err)
	}
	applyLog(t, rand.New(rand.NewPCG(5, 5)), w1, ops, 1000, 2500)
	if err := s1.SnapshotNow(ctx); err != nil {
		t.Fatal(err)
	}
	snapLog := w1.Snapshot().LogSeq
	applyLog(t, rand.New(rand.NewPCG(6, 6)), w1, ops, 2500, 4000)
	s1.tickHistory(ctx) // size-rolled history files past the snapshot reach disk
	if tp := s1.TrimPoint()["acme"]; tp == 0 || tp > snapLog {
		t.Fatalf("TrimPoint = %d, want the oldest kept snapshot's log sequence (≤ %d)", tp, snapLog)
	}

	// Second life.
	s2, _ := Open(dir, Options{Logger: quiet()})
	e2 := engine.New(engine.Options{})
	seqs, err := s2.Restore(ctx, e2)
	if err != nil {
		t.Fatal(err)
	}
	if seqs["acme"] != snapLog {
		t.Fatalf("Restore log sequence = %d, want %d", seqs["acme"], snapLog)
	}
	w2, err := e2.Workspace("acme")
	if err != nil {
		t.Fatal(err)
	}
	applyLog(t, rand.New(rand.NewPCG(7, 7)), w2, ops, int(seqs["acme"]), len(ops)) // the replay
	if err := s2.SnapshotNow(ctx); err != nil {
		t.Fatal(err)
	}
	want, _ := enginetest.Dump(ctx, refW, pool)
	got, _ := enginetest.Dump(ctx, w2, pool)
	// Batch counts differ (replay groups the log differently): compare the rest.
	if d := enginetest.Diff(got[1:], want[1:]); d != "" {
		t.Fatalf("recovered workspace differs: %s", d)
	}
	if d := enginetest.Diff(historyOf(t, s2, "acme"), historyOf(t, refStore, "acme")); d != "" {
		t.Fatalf("recovered profile history differs: %s", d)
	}
	if len(historyOf(t, s2, "acme")) == 0 {
		t.Fatal("no history at all")
	}
}

// TestRunSnapshotsPeriodicallyAndOnShutdown polls for the periodic
// snapshot, then checks the shutdown snapshot has the last batch.
func TestRunSnapshotsPeriodicallyAndOnShutdown(t *testing.T) {
	dir := t.TempDir()
	s, _ := Open(dir, Options{SnapshotInterval: 5 * time.Millisecond, Logger: quiet()})
	e := engine.New(engine.Options{})
	if _, err := s.Restore(context.Background(), e); err != nil {
		t.Fatal(err)
	}
	w, _ := e.CreateWorkspace("acme")
	r := rand.New(rand.NewPCG(1, 1))
	pool := enginetest.NewPool(10)
	ops := enginetest.Ops(r, pool, 400, t0, 0)
	applyLog(t, r, w, ops, 0, 200)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	deadline := time.Now().Add(20 * time.Second)
	for {
		if l, _ := snapshot.List(filepath.Join(dir, "snapshots", "acme")); len(l) > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no periodic snapshot")
		}
		time.Sleep(time.Millisecond) // polling, not waiting for a fixed time
	}
	applyLog(t, r, w, ops, 200, 400)
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	l, _ := snapshot.List(filepath.Join(dir, "snapshots", "acme"))
	m, err := snapshot.ReadManifest(l[0].Path)
	if err != nil || m.LogSeq != 400 {
		t.Fatalf("shutdown snapshot: %+v, %v; want log sequence 400", m, err)
	}
	if len(l) > 3 {
		t.Fatalf("%d snapshots kept, want at most 3", len(l))
	}
}

func TestOptionsDefaults(t *testing.T) {
	o := DefaultOptions()
	if o.SnapshotInterval != 5*time.Minute || o.Keep != 3 {
		t.Fatalf("defaults %+v", o)
	}
	if _, err := os.Stat(t.TempDir()); err != nil {
		t.Fatal(err)
	}
}
