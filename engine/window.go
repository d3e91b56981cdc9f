package engine

import (
	"fmt"

	"github.com/cohortdb/cohort/engine/column"
	"github.com/cohortdb/cohort/engine/table"
)

// The in-memory event window.
//
// A workspace may keep only its recent events in memory: once a storage
// layer has written the older ones durably elsewhere (storage/events day
// partitions), DropEventsBefore removes them from the events table. The
// window is the pair published with every Snapshot:
//
//	EventsFrom    H (µs): a day boundary in practice; 0 = nothing dropped
//	EventsThrough E: an event_id
//
// The events with ts < H and event_id <= E are not in memory; every other
// event is. The pair only grows. E matters for late events: an event with
// ts < H applied after the drop gets an id above E and stays in memory
// (and visible) until a later drop, with a larger E, covers it once it is
// on disk too. A reader that unions memory with the disk copy takes from
// disk exactly the events with ts < H and event_id <= E: no duplicate, no
// gap.
//
// What is freed: whole sealed chunks whose live rows are all covered,
// as long as every chunk before them is dropped too (the per-person event
// index ends a person's walk at the first dropped slot, so only a prefix
// of the slots may go). Covered rows of other chunks (a chunk that also
// holds newer events, or the tail) are deleted, not freed: they disappear
// from queries at once, and from memory when their chunk goes or at the
// next restart (snapshots hold live rows only).

// DropEventsBefore removes from memory every event with ts < horizon and
// event_id <= through; the caller guarantees that all of them (erased
// persons' excepted) are stored durably elsewhere and stay readable there.
// It publishes a snapshot whose EventsFrom, EventsThrough are horizon,
// through (Seq unchanged: no batch was applied), and returns the sealed
// chunks freed and the rows removed.
//
// The window never shrinks: horizon and through below the current ones are
// an error, as is a through not yet assigned (>= the next event_id). A
// through < 1 (no event yet) or horizon <= 0 does nothing.
func (w *Workspace) DropEventsBefore(horizon, through int64) (chunks, rows int, err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	switch {
	case horizon <= 0 || through < 1:
		return 0, 0, nil
	case horizon < w.eventsFrom || through < w.eventsThrough:
		return 0, 0, fmt.Errorf("cannot drop events of %s before %d through event %d: the window already excludes ts < %d through event %d",
			w.name, horizon, through, w.eventsFrom, w.eventsThrough)
	case through >= w.nextEvent:
		return 0, 0, fmt.Errorf("cannot drop events of %s through event %d: the last event is %d", w.name, through, w.nextEvent-1)
	case horizon == w.eventsFrom && through == w.eventsThrough:
		return 0, 0, nil
	}
	t := w.events
	tsi, idi := w.ec.ts.Index, w.ec.id.Index
	sealed := t.Sealed()
	prefix := true // every slot before the chunk at hand is dropped
	for _, c := range t.WriterChunks() {
		inPrefix := prefix && c.Slot < sealed
		prefix = false
		tv, iv := c.Col(tsi), c.Col(idi)
		if tv == nil || iv == nil || c.Live() == 0 {
			if inPrefix && c.Live() == 0 {
				t.Evict(c.Slot)
				chunks++
				prefix = true
			}
			continue
		}
		if tv.MinI >= horizon || iv.MinI > through {
			continue // no row is covered (sealed vectors carry min/max)
		}
		if inPrefix && tv.MaxI < horizon && iv.MaxI <= through {
			rows += t.Evict(c.Slot) // every row is covered
			chunks++
			prefix = true
			continue
		}
		live := c.Live() // c may be changed in place by the deletes
		n := deleteCovered(t, c, tv, iv, horizon, through)
		rows += n
		if inPrefix && n == live {
			t.Evict(c.Slot) // now empty
			chunks++
			prefix = true
		}
	}
	w.eventsFrom, w.eventsThrough = horizon, through
	w.publish()
	return chunks, rows, nil
}

// deleteCovered deletes the live rows of c with ts < horizon and event_id
// <= through and returns how many.
func deleteCovered(t *table.Table, c *column.Chunk, tv, iv *column.Vec, horizon, through int64) int {
	n := 0
	base := table.RowID(c.Slot) << column.ChunkBits
	for row := 0; row < c.Rows; row++ {
		if c.Del != nil && c.Del.Get(row) {
			continue
		}
		at, ok1 := tv.Int(row)
		id, ok2 := iv.Int(row)
		if ok1 && ok2 && at < horizon && id <= through && t.Delete(base|table.RowID(row)) {
			n++
		}
	}
	return n
}

// WithEvents returns a copy of s whose events table is t: events read back
// from elsewhere (a batch of sealed partitions decoded by a reader), so
// that the same compiled queries (Select, Count, Aggregate) run over them,
// with s's identity graph (canonical person ids) and profiles. t's schema
// must name and type its columns like s.Events's (its dictionaries are its
// own). Behavioural predicates (Did) evaluated on the copy see t's events
// only, and the per-person event index is empty.
func (s *Snapshot) WithEvents(t *table.Snapshot) *Snapshot {
	return &Snapshot{
		Workspace:     s.Workspace,
		Seq:           s.Seq,
		LogSeq:        s.LogSeq,
		Profiles:      s.Profiles,
		Events:        t,
		Identities:    s.Identities,
		Graph:         s.Graph,
		rowOf:         s.rowOf,
		EventsFrom:    s.EventsFrom,
		EventsThrough: s.EventsThrough,
	}
}

// EventsCovered reports whether an event with ts and id was dropped from
// memory under s's window (and so is on disk only).
func (s *Snapshot) EventsCovered(ts, id int64) bool {
	return s.EventsFrom != 0 && ts < s.EventsFrom && id <= s.EventsThrough
}
