package engine

import (
	"context"
	"fmt"

	"github.com/cohortdb/cohort/engine/column"
	"github.com/cohortdb/cohort/engine/identity"
	"github.com/cohortdb/cohort/engine/table"
)

// Export is an exact, consistent description of a workspace as of one
// published Snapshot: every live row of every table with its schema, the
// identity graph (person count, merge log, identifier → person, suppressed
// identifiers) and the counters that decide future behaviour. Restoring an
// Export (Engine.NewRestorer) yields a workspace that answers every query
// as the original did and, given the same later operations, reaches the
// same state.
//
// What is not exported, on purpose: deleted row versions, the physical
// placement of rows in chunks (a restored table is compact, live rows in
// the original's table order) and dictionary codes (strings are exported as
// strings). None of them is visible to a query.
type Export struct {
	Workspace string
	Counters
	Snapshot *Snapshot // the snapshot exported; its tables and graph are immutable
}

// Counters are the workspace counters an export carries besides its rows.
type Counters struct {
	Seq       uint64 // batches applied
	LogSeq    uint64 // durable-log position of the last applied batch
	NextEvent int64  // the event_id the next event gets
	Persons   int    // person ids allocated (merged and erased included)
	// The in-memory event window (Snapshot.EventsFrom, EventsThrough): the
	// events it excludes are not in the export's events table.
	EventsFrom, EventsThrough int64
}

// Export returns the export of the latest published snapshot. It takes the
// writer lock only to read the snapshot and the counters that are not part
// of it, so it never waits for more than one batch.
func (w *Workspace) Export() *Export {
	w.mu.Lock()
	s := w.snap.Load()
	next := w.nextEvent
	w.mu.Unlock()
	return &Export{
		Workspace: w.name,
		Counters: Counters{Seq: s.Seq, LogSeq: s.LogSeq, NextEvent: next, Persons: s.Graph.Persons(),
			EventsFrom: s.EventsFrom, EventsThrough: s.EventsThrough},
		Snapshot: s,
	}
}

// Tables returns the exported tables in a fixed order: profiles, events,
// identities.
func (x *Export) Tables() []*table.Snapshot {
	return []*table.Snapshot{x.Snapshot.Profiles, x.Snapshot.Events, x.Snapshot.Identities}
}

// Graph returns the exported identity graph.
func (x *Export) Graph() *identity.View { return x.Snapshot.Graph }

// ForEachRow calls fn with the values of every live row of t, in table
// order, one chunk at a time; vals has one entry per column of t.Schema and
// is reused between calls. The context is checked once per chunk.
func ForEachRow(ctx context.Context, t *table.Snapshot, fn func(vals []column.Value) error) error {
	cols := t.Schema.Cols
	vals := make([]column.Value, len(cols))
	// Strings are decoded through dictionary views taken now (after the
	// snapshot was published, so they cover every code in it): the live
	// dictionary may be growing under the writer.
	dicts := make([]column.DictView, len(cols))
	for i, d := range cols {
		if d.Dict != nil {
			dicts[i] = d.Dict.View()
		}
	}
	for _, c := range t.Chunks {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("cannot export %s: %w", t.Name, err)
		}
		for row := 0; row < c.Rows; row++ {
			if c.Del != nil && c.Del.Get(row) {
				continue
			}
			for i, d := range cols {
				vals[i] = decode(c.Col(i), row, d, dicts[i])
			}
			if err := fn(vals); err != nil {
				return err
			}
		}
	}
	return nil
}

// decode is Vec.Value with strings resolved through a dictionary view.
func decode(v *column.Vec, row int, d *column.ColumnDef, dict column.DictView) column.Value {
	switch d.Type {
	case column.TypeString:
		code, ok := v.Int(row)
		if !ok {
			return column.Value{}
		}
		return column.String(dict.Get(uint32(code)))
	case column.TypeStringList:
		codes, ok := v.List(row)
		if !ok {
			return column.Value{}
		}
		l := make([]string, len(codes))
		for i, c := range codes {
			l[i] = dict.Get(c)
		}
		return column.StringList(l)
	}
	return v.Value(row, d)
}

// Specs returns the column specs of t's schema, in order.
func Specs(t *table.Snapshot) []ColumnSpec {
	out := make([]ColumnSpec, len(t.Schema.Cols))
	for i, d := range t.Schema.Cols {
		out[i] = ColumnSpec{Name: d.Name, Type: d.Type}
	}
	return out
}

// CopyTo feeds the whole export into r (in memory: no disk involved). It is
// the reference for what a storage layer must persist.
func (x *Export) CopyTo(ctx context.Context, r *Restorer) error {
	for _, t := range x.Tables() {
		if err := r.Columns(t.Name, Specs(t)); err != nil {
			return err
		}
		if err := ForEachRow(ctx, t, func(vals []column.Value) error { return r.Row(t.Name, vals) }); err != nil {
			return err
		}
	}
	g := x.Graph()
	for _, m := range g.MergeLog() {
		if err := r.Merge(m); err != nil {
			return err
		}
	}
	return g.ExportAll(r.ID)
}
