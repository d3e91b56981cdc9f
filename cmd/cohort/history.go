package main

import (
	"context"
	"time"

	"github.com/cohortdb/cohort/sqlfront"
	"github.com/cohortdb/cohort/storage"
	"github.com/cohortdb/cohort/storage/history"
)

// historySource serves the SQL table profile_history from the storage's
// history files and the changes not yet flushed to them.
type historySource struct{ store *storage.Store }

var _ sqlfront.HistorySource = historySource{}

func (h historySource) Scan(ctx context.Context, workspace string, from, to time.Time, fn func(sqlfront.HistoryChange) error) error {
	return h.store.ScanHistory(ctx, workspace, from, to, func(r history.Record) error {
		return fn(sqlfront.HistoryChange{Seq: r.Seq, Person: r.Person, Attribute: r.Attribute, Old: r.Old, New: r.New, At: r.At, Source: r.Source})
	})
}

// sqlHistory returns the history source of the SQL endpoint, nil (no
// profile_history table) without storage.
func (s *server) sqlHistory() sqlfront.HistorySource {
	if s.storage == nil || s.storage.store == nil {
		return nil
	}
	return historySource{store: s.storage.store}
}
