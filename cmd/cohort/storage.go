package main

import (
	"context"
	"fmt"
	"runtime/debug"
	"time"

	"github.com/cohortdb/cohort/ingest/retention"
	"github.com/cohortdb/cohort/storage"
)

// storageParts is the durable-state side of a running server: Parquet
// snapshots, profile history and their background loop.
type storageParts struct {
	store    *storage.Store
	restored map[string]uint64 // workspace → log sequence its snapshot holds
	cancel   context.CancelFunc
	done     chan error
	// retained is closed once the log retention loop has stopped.
	retained chan struct{}
}

// openStorage opens the data directory's snapshots and loads the newest
// valid snapshot of every workspace into the engine, before anything is
// applied: the log replay then skips what the snapshots already hold.
func (s *server) openStorage() (*storageParts, error) {
	st, err := storage.Open(s.dataDir, storage.Options{
		Logger:      s.log,
		EventWindow: s.cfg.EventWindow, // window.go
		// closeStorage bounds the final snapshot (finalSnapshotTimeout);
		// this is only the storage loop's own backstop.
		ShutdownTimeout: maxFinalSnapshot,
		// The demo workspace is filled outside the log: a snapshot of it
		// while it loads (or after its load was cut short) would come back
		// at the next start as if complete.
		Skip: func(ws string) bool { return ws == demoWorkspace && !s.demoComplete.Load() },
	})
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	start := time.Now()
	restored, err := st.Restore(ctx, s.eng)
	if err != nil {
		return nil, fmt.Errorf("cannot restore snapshots: %w", err)
	}
	if len(restored) > 0 {
		s.log.Info("snapshots restored", "workspaces", len(restored), "took", time.Since(start).Round(time.Millisecond))
		// Decoding left as much garbage as the restored state is large (page
		// buffers): collect it now and hand it back, or the heap first grows
		// to twice the live state (6+ GB instead of ~4 at 10M profiles and
		// 100M events) before the first collection.
		gcStart := time.Now()
		debug.FreeOSMemory()
		s.log.Info("memory released after restore", "took", time.Since(gcStart).Round(time.Millisecond))
	}
	return &storageParts{store: st, restored: restored}, nil
}

// startStorage runs the periodic snapshots, and the log retention behind
// them, until closeStorage.
func (s *server) startStorage() {
	ctx, cancel := context.WithCancel(context.Background())
	s.storage.cancel, s.storage.done = cancel, make(chan error, 1)
	s.wireErasure()
	go func() { s.storage.done <- s.storage.store.Run(ctx) }()
	s.storage.retained = make(chan struct{})
	if s.ingest == nil {
		close(s.storage.retained)
		return
	}
	// The log is trimmed behind the oldest kept snapshot of every
	// workspace, keeping the applier's de-duplication window; a pass runs
	// at the snapshot interval (a pass finds nothing new to trim until the
	// next snapshot anyway). It stops when ingest starts shutting down.
	svc := s.ingest.svc
	r := retention.New(svc.Log(), s.eng, s.storage.store, svc.Applier(), retention.Options{
		Interval: storage.DefaultOptions().SnapshotInterval,
		Logger:   s.log,
		Paused:   s.draining.Load,
	})
	go func() {
		defer close(s.storage.retained)
		r.Run(ctx)
	}()
}

// The final snapshot's deadline. It is not shutdown_timeout (meant for
// draining connections, 10 s by default): a snapshot of 10M profiles and
// 100M events takes ~40 s to write on two idle cores (70 CPU-s; minutes on
// a busy machine), and cutting it off costs the next
// start a replay of the log since the last periodic snapshot (and the demo
// workspace its regeneration). So it is derived from what there is to
// write: finalSnapshotBase plus finalSnapshotPerRow per row held in memory
// (profiles, events, identities of every workspace), at least
// shutdown_timeout and at most maxFinalSnapshot (11 min at 10M/100M). The
// per-row allowance is ~15 times the measured cost (0.3 µs of wall time
// per row on two idle cores; "snapshot written" logs each write's elapsed
// time), so that a busy machine still finishes. A second SIGINT/SIGTERM
// ends the process at once.
const (
	finalSnapshotBase   = time.Minute
	finalSnapshotPerRow = 5 * time.Microsecond
	maxFinalSnapshot    = time.Hour
)

// finalSnapshotTimeout returns the deadline of the final snapshot (see
// finalSnapshotBase).
func (s *server) finalSnapshotTimeout() time.Duration {
	var rows int64
	for _, name := range s.eng.Workspaces() {
		w, err := s.eng.Workspace(name)
		if err != nil {
			continue
		}
		snap := w.Snapshot()
		rows += snap.Profiles.Live + snap.Events.Live + snap.Identities.Live
	}
	d := finalSnapshotBase + time.Duration(rows)*finalSnapshotPerRow
	return min(max(d.Round(time.Second), s.cfg.ShutdownTimeout), maxFinalSnapshot)
}

// closeStorage stops the loop, which takes the final snapshot. Call it after
// ingest has stopped applying, so the snapshot holds everything applied,
// with a context of finalSnapshotTimeout.
func (s *server) closeStorage(ctx context.Context) error {
	if s.storage == nil || s.storage.cancel == nil {
		return nil
	}
	s.storage.cancel()
	select {
	case <-s.storage.retained:
	case <-ctx.Done():
		return fmt.Errorf("cannot stop log retention: %w", ctx.Err())
	}
	select {
	case err := <-s.storage.done:
		return err
	case <-ctx.Done():
		return fmt.Errorf("cannot finish the shutdown snapshot: %w", ctx.Err())
	}
}

// demoRestored reports whether the demo workspace came back from a
// snapshot, in which case it is not generated again.
func (s *server) demoRestored() bool {
	_, ok := s.storage.restored[demoWorkspace]
	return ok
}
