package storage

import (
	"context"
	"fmt"
	"time"

	"github.com/cohortdb/cohort/engine"
	"github.com/cohortdb/cohort/engine/column"
	"github.com/cohortdb/cohort/storage/internal/pqtable"
)

// moveWindow keeps workspace w's in-memory event window (Options.
// EventWindow): it seals into the day partitions the events of export x
// whose UTC day ended before now − EventWindow, then drops from memory
// every event with ts before that day boundary and event_id up to x's
// last, all of which are now on disk (sealed earlier or just now).
//
// The horizon never moves back: with a larger window than before it stays
// where it is (and keeps sealing late events below it) until now −
// EventWindow passes it. x must be the latest export of w.
func (s *Store) moveWindow(ctx context.Context, w *engine.Workspace, x *engine.Export) error {
	if s.opts.EventWindow <= 0 || x.NextEvent <= 1 {
		return nil
	}
	cut := s.opts.Now().Add(-s.opts.EventWindow).UTC().Truncate(24 * time.Hour)
	if x.EventsFrom != 0 && cut.UnixMicro() < x.EventsFrom {
		cut = time.UnixMicro(x.EventsFrom).UTC()
	}
	p, err := s.Events(x.Workspace)
	if err != nil {
		return err
	}
	sealed, err := p.Seal(ctx, x.Snapshot.Events, cut)
	if err != nil {
		return fmt.Errorf("cannot move the event window of %s: %w", x.Workspace, err)
	}
	through := x.NextEvent - 1
	if cut.UnixMicro() == x.EventsFrom && through == x.EventsThrough {
		return nil
	}
	chunks, rows, err := w.DropEventsBefore(cut.UnixMicro(), through)
	if err != nil {
		return fmt.Errorf("cannot move the event window of %s: %w", x.Workspace, err)
	}
	if sealed > 0 || rows > 0 {
		s.log.Info("event window moved", "workspace", x.Workspace, "from", cut.Format(time.DateOnly),
			"sealed_rows", sealed, "dropped_rows", rows, "freed_chunks", chunks)
	}
	return nil
}

// ScanEvents calls fn for every event of workspace ws sealed into the day
// partitions with from <= ts < to, day by day (days outside the range are
// not opened). cols names the columns of vals, which may differ between
// files (schemas grow); both are valid only during the call. Events on
// disk may also be in memory: the engine's window (Snapshot.EventsFrom,
// EventsThrough) says which copy to read.
func (s *Store) ScanEvents(ctx context.Context, ws string, from, to time.Time, fn func(cols []string, vals []column.Value) error) error {
	p, err := s.Events(ws)
	if err != nil {
		return err
	}
	var names []string
	var last *pqtable.Column
	return p.Scan(ctx, from, to, func(cols []pqtable.Column, vals []column.Value) error {
		if len(cols) > 0 && &cols[0] != last {
			last, names = &cols[0], names[:0]
			for _, c := range cols {
				names = append(names, c.Name)
			}
		}
		return fn(names, vals)
	})
}
