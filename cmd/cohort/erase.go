package main

import (
	"context"
	"fmt"
	"io"
)

// Erasure on disk (storage/erase.go): the storage queues every erasure the
// engine applies (its OnApplied hook) and removes the persons from profile
// history, event partitions and snapshots; the durable log belongs to
// ingest, so the server hands storage the function that purges a
// workspace's log messages behind the erasure's snapshot.

// wireErasure gives the storage its log eraser. Call it before the
// storage loop starts.
func (s *server) wireErasure() {
	if s.ingest == nil {
		return
	}
	l := s.ingest.svc.Log()
	s.storage.store.SetLogEraser(func(ctx context.Context, ws string, before uint64) (uint64, bool, error) {
		if s.draining.Load() {
			return 0, false, nil // the log is closing: the next start finishes it
		}
		return l.TrimWorkspaceBefore(ctx, ws, before)
	})
}

// writeErasureMetrics appends the erasure counters to /metrics.
func (s *server) writeErasureMetrics(w io.Writer) {
	if s.storage == nil || s.storage.store == nil {
		return
	}
	st := s.storage.store.ErasureStats()
	fmt.Fprintf(w, "# HELP cohort_erasures_pending Erasures applied by the engine and not yet removed from every file on disk.\n# TYPE cohort_erasures_pending gauge\ncohort_erasures_pending %d\n", st.Pending)
	counter := func(name, help string, v uint64) {
		fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s counter\n%s %d\n", name, help, name, name, v)
	}
	counter("cohort_erasures_completed_total", "Erasures removed from history, event partitions, snapshots and the log.", st.Completed)
	counter("cohort_erased_persons_total", "Person ids (merged members included) of the completed erasures.", st.Persons)
	counter("cohort_erasure_failures_total", "Erasure passes stopped by an error (retried).", st.Failures)
	fmt.Fprintf(w, "# HELP cohort_erasure_removed_total What erasures removed from disk.\n# TYPE cohort_erasure_removed_total counter\n")
	for _, x := range []struct {
		what string
		v    uint64
	}{
		{"history_rows", st.HistoryRows}, {"history_files", st.HistoryFiles}, {"event_rows", st.EventRows},
		{"event_files", st.EventFiles}, {"snapshots", st.Snapshots}, {"log_messages", st.LogMessages},
	} {
		fmt.Fprintf(w, "cohort_erasure_removed_total{what=%q} %d\n", x.what, x.v)
	}
}
