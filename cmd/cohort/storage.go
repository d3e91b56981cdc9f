package main

import (
	"context"
	"fmt"
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
	st, err := storage.Open(s.dataDir, storage.Options{Logger: s.log})
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
	}
	return &storageParts{store: st, restored: restored}, nil
}

// startStorage runs the periodic snapshots, and the log retention behind
// them, until closeStorage.
func (s *server) startStorage() {
	ctx, cancel := context.WithCancel(context.Background())
	s.storage.cancel, s.storage.done = cancel, make(chan error, 1)
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

// closeStorage stops the loop, which takes the final snapshot. Call it after
// ingest has stopped applying, so the snapshot holds everything applied.
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
