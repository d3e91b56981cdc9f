package storage

import (
	"context"
	"time"

	"github.com/cohortdb/cohort/storage/history"
)

// ScanHistoryProjected is ScanHistory reading only the parts of the
// records p asks for (history.Projection; Person, Attribute and At are
// always filled), column by column: the scan membership as of a past time
// (storage/asof) wants. With a live history writer for ws it reads the
// files whose time range meets [from, to), then the changes not yet
// flushed (Writer.ScanProjected); otherwise the files only.
func (s *Store) ScanHistoryProjected(ctx context.Context, ws string, from, to time.Time, p history.Projection, fn func(history.Record) error) error {
	s.mu.Lock()
	h := s.hist[ws]
	s.mu.Unlock()
	if h == nil {
		return s.History(ws).ScanProjected(ctx, from, to, p, fn)
	}
	return h.ScanProjected(ctx, from, to, p, fn)
}
