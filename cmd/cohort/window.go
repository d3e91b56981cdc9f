package main

import "github.com/cohortdb/cohort/sqlfront"

// sqlEventArchive returns the archive of the SQL events table: the
// storage's sealed event partitions, which hold the events older than the
// in-memory window (event_window); nil without storage.
func (s *server) sqlEventArchive() sqlfront.EventArchive {
	if s.storage == nil || s.storage.store == nil {
		return nil
	}
	return s.storage.store
}
