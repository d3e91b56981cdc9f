package retention

import (
	"bytes"
	"context"
	"io/fs"
	"log/slog"
	"math/rand/v2"
	"path/filepath"
	"testing"
	"time"

	"github.com/cohortdb/cohort/engine"
	"github.com/cohortdb/cohort/engine/enginetest"
	"github.com/cohortdb/cohort/ingest/applier"
	ilog "github.com/cohortdb/cohort/ingest/log"
	"github.com/cohortdb/cohort/storage"
)

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(&bytes.Buffer{}, nil)) }

var t0 = time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC).UnixMicro()

// running is an applier running in the background.
type running struct {
	*applier.Applier
	cancel context.CancelFunc
	done   chan error
}

func start(t *testing.T, e *engine.Engine, l *ilog.Log) *running {
	t.Helper()
	a := applier.New(e, l, applier.Options{Logger: quiet()})
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{Applier: a, cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- a.Run(ctx) }()
	t.Cleanup(func() { r.stop(t) })
	return r
}

func (r *running) stop(t *testing.T) {
	t.Helper()
	r.cancel()
	select {
	case err, ok := <-r.done:
		if ok && err != nil {
			t.Errorf("applier: %v", err)
		}
		if ok {
			close(r.done)
		}
	case <-time.After(10 * time.Second):
		t.Error("the applier did not stop")
	}
}

// caughtUp waits until every applier applied the log's last sequence.
func caughtUp(t *testing.T, l *ilog.Log, as ...*running) {
	t.Helper()
	last, err := l.LastSeq(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	for _, a := range as {
		if err := a.WaitFor(ctx, last); err != nil {
			t.Fatal(err)
		}
	}
}

func appendAll(t *testing.T, l *ilog.Log, ws string, ops []engine.Op) {
	t.Helper()
	for len(ops) > 0 {
		n := min(len(ops), 100)
		if err := l.Append(t.Context(), ws, ops[:n]); err != nil {
			t.Fatal(err)
		}
		ops = ops[n:]
	}
}

func dirSize(t *testing.T, dir string) int64 {
	t.Helper()
	var n int64
	filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if fi, err := d.Info(); err == nil {
				n += fi.Size()
			}
		}
		return nil
	})
	return n
}

func compare(t *testing.T, got, want *engine.Engine, pool *enginetest.Pool, names ...string) {
	t.Helper()
	for _, name := range names {
		gw, err := got.Workspace(name)
		if err != nil {
			t.Fatal(err)
		}
		ww, err := want.Workspace(name)
		if err != nil {
			t.Fatal(err)
		}
		g, err := enginetest.Dump(t.Context(), gw, pool)
		if err != nil {
			t.Fatal(err)
		}
		w, err := enginetest.Dump(t.Context(), ww, pool)
		if err != nil {
			t.Fatal(err)
		}
		// Batch counters differ (batching differs): compare the rest.
		if d := enginetest.Diff(g[1:], w[1:]); d != "" {
			t.Errorf("workspace %s differs from the uninterrupted run: %s", name, d)
		}
	}
}

// TestTrimAndRestart: messages older than the dedup window and held by the
// snapshots are purged (the stream's bytes go down); an applier restarted
// against a fresh engine restored from the snapshot replays what is left
// and ends in the state of an uninterrupted run, still dropping the
// duplicates within the window.
func TestTrimAndRestart(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	l, err := ilog.Open(ctx, ilog.Options{Dir: filepath.Join(dir, "nats"), Partitions: 3, Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		l.Close(cctx)
	})
	pool := enginetest.NewPool(80)
	r := rand.New(rand.NewPCG(1, 2))
	opsA := enginetest.Ops(r, pool, 4000, t0, 300)
	opsB := enginetest.Ops(r, pool, 1500, t0+7, 0)
	now := time.Now().UnixMicro() // received now, as by the ingest APIs
	for i := range opsA {
		opsA[i].ReceivedAt = now + int64(i)
	}
	for i := range opsB {
		opsB[i].ReceivedAt = now + int64(i)
	}

	// The reference: an applier that never restarts.
	ref := engine.New(engine.Options{})
	refApp := start(t, ref, l)

	// First life.
	dataDir := filepath.Join(dir, "data")
	s1, err := storage.Open(dataDir, storage.Options{Logger: quiet(), Keep: 1})
	if err != nil {
		t.Fatal(err)
	}
	e1 := engine.New(engine.Options{})
	if _, err := s1.Restore(ctx, e1); err != nil {
		t.Fatal(err)
	}
	a1 := start(t, e1, l)

	// Old messages, then the window start, then recent ones.
	appendAll(t, l, "acme", opsA[:1500])
	appendAll(t, l, "beta", opsB[:500])
	caughtUp(t, l, refApp, a1)
	oldState, err := l.State(ctx)
	if err != nil {
		t.Fatal(err)
	}
	windowStart := time.Now()
	for !time.Now().After(windowStart) { // poll: the next store time is later
	}
	appendAll(t, l, "acme", opsA[1500:3000])
	appendAll(t, l, "beta", opsB[500:1000])
	caughtUp(t, l, refApp, a1)
	if err := s1.SnapshotNow(ctx); err != nil {
		t.Fatal(err)
	}

	// With the real clock everything is within the 24h window: no trim.
	real := New(l, e1, s1, a1, Options{Logger: quiet()})
	res, err := real.Pass(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if res.Purged != 0 || res.Limit != "dedup window" {
		t.Fatalf("pass within the window: %+v", res)
	}

	// A day later: the old messages are out of the window.
	natsBefore := dirSize(t, filepath.Join(dir, "nats"))
	later := New(l, e1, s1, a1, Options{Logger: quiet(), Now: func() time.Time { return windowStart.Add(24 * time.Hour) }})
	res, err = later.Pass(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if res.Limit != "dedup window" || res.Before != oldState.LastSeq+1 || res.Purged != oldState.Msgs {
		t.Fatalf("pass a day later: %+v, want %d old messages purged (before %d)", res, oldState.Msgs, oldState.LastSeq+1)
	}
	if res.BytesAfter >= res.BytesBefore {
		t.Errorf("stream bytes %d after the trim, %d before", res.BytesAfter, res.BytesBefore)
	}
	t.Logf("trimmed %d messages: stream bytes %d → %d; nats directory %d → %d bytes",
		res.Purged, res.BytesBefore, res.BytesAfter, natsBefore, dirSize(t, filepath.Join(dir, "nats")))
	if res, err := later.Pass(ctx); err != nil || res.Purged != 0 {
		t.Fatalf("second pass: %+v, %v; want nothing more", res, err)
	}

	// Restart: a fresh engine restored from the snapshot, the applier
	// replaying from the start of what is left.
	a1.stop(t)
	s2, err := storage.Open(dataDir, storage.Options{Logger: quiet(), Keep: 1})
	if err != nil {
		t.Fatal(err)
	}
	e2 := engine.New(engine.Options{})
	seqs, err := s2.Restore(ctx, e2)
	if err != nil {
		t.Fatal(err)
	}
	if len(seqs) != 2 {
		t.Fatalf("restored %v, want acme and beta", seqs)
	}
	a2 := start(t, e2, l)
	caughtUp(t, l, a2)
	compare(t, e2, ref, pool, "acme", "beta")

	// Duplicates of recent messages (within the window) are still dropped
	// after the restart; new messages are applied.
	appendAll(t, l, "acme", opsA[2000:2500])
	appendAll(t, l, "beta", opsB[700:800])
	appendAll(t, l, "acme", opsA[3000:])
	appendAll(t, l, "beta", opsB[1000:])
	caughtUp(t, l, refApp, a2)
	if got, want := a2.Stats().Duplicates, uint64(600); got != want {
		t.Errorf("restarted applier dropped %d duplicates, want %d", got, want)
	}
	if got, want := refApp.Stats().Duplicates, uint64(600); got != want {
		t.Errorf("reference applier dropped %d duplicates, want %d", got, want)
	}
	compare(t, e2, ref, pool, "acme", "beta")

	// Snapshot again: the log is trimmed up to the snapshots, the last
	// message kept.
	if err := s2.SnapshotNow(ctx); err != nil {
		t.Fatal(err)
	}
	farLater := New(l, e2, s2, a2, Options{Logger: quiet(), Now: func() time.Time { return time.Now().Add(48 * time.Hour) }})
	res, err = farLater.Pass(ctx)
	if err != nil {
		t.Fatal(err)
	}
	st, err := l.State(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if res.Purged == 0 || st.Msgs != 1 || st.FirstSeq != st.LastSeq || res.Limit != "last message" {
		t.Errorf("trim behind the snapshots: %+v, stream %+v; want only the last message kept", res, st)
	}
}

// TestNoSnapshotNoTrim: a workspace with log data and no snapshot keeps
// the whole log.
func TestNoSnapshotNoTrim(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	l, err := ilog.Open(ctx, ilog.Options{Dir: filepath.Join(dir, "nats"), Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		l.Close(cctx)
	})
	s, err := storage.Open(filepath.Join(dir, "data"), storage.Options{Logger: quiet(), Keep: 1})
	if err != nil {
		t.Fatal(err)
	}
	e := engine.New(engine.Options{})
	if _, err := s.Restore(ctx, e); err != nil {
		t.Fatal(err)
	}
	a := start(t, e, l)
	pool := enginetest.NewPool(20)
	r := rand.New(rand.NewPCG(3, 4))
	appendAll(t, l, "acme", enginetest.Ops(r, pool, 300, t0, 0))
	caughtUp(t, l, a)
	if err := s.SnapshotNow(ctx); err != nil {
		t.Fatal(err)
	}
	appendAll(t, l, "beta", enginetest.Ops(r, pool, 300, t0, 0)) // no snapshot of beta
	caughtUp(t, l, a)
	ret := New(l, e, s, a, Options{Logger: quiet(), Now: func() time.Time { return time.Now().Add(48 * time.Hour) }})
	res, err := ret.Pass(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if res.Purged != 0 || res.Limit != "workspace" || res.Workspace != "beta" {
		t.Fatalf("pass with beta unsnapshotted: %+v", res)
	}
	if err := s.SnapshotNow(ctx); err != nil {
		t.Fatal(err)
	}
	if res, err = ret.Pass(ctx); err != nil || res.Purged == 0 {
		t.Fatalf("pass once beta is snapshotted: %+v, %v", res, err)
	}
}
