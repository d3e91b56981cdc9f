package engine

import (
	"context"
	"fmt"

	"github.com/cohortdb/cohort/engine/column"
)

// Rows iterates lazily over the rows matching a query, chunk by chunk: only
// the chunks the caller actually reaches are evaluated, so stopping after
// ten rows costs one chunk's predicate at most. Not safe for concurrent use.
//
//	rows, err := snap.Select(ctx, q, []string{"person_id", "email"})
//	defer rows.Close()
//	for rows.Next() { v := rows.Values() ... }
//	err = rows.Err()
type Rows struct {
	ctx    context.Context
	snap   *Snapshot
	f      *filter
	defs   []*column.ColumnDef
	chunk  int
	cur    *column.Chunk
	sel    column.Bitmap
	row    int
	vals   []column.Value
	err    error
	closed bool
	mapPID int // index in defs of an events/identities person_id to canonicalise; -1 none
}

// Select returns an iterator over cols (all columns when empty) of the rows
// matching q, in table order.
func (s *Snapshot) Select(ctx context.Context, q Query, cols []string) (*Rows, error) {
	f, err := s.compileQuery(ctx, q)
	if err != nil {
		return nil, err
	}
	r := &Rows{ctx: ctx, snap: s, f: f, row: -1, mapPID: -1}
	if len(cols) == 0 {
		r.defs = f.tbl.Schema.Cols
	} else {
		for _, name := range cols {
			d, ok := f.tbl.Schema.Lookup(name)
			if !ok {
				return nil, fmt.Errorf("cannot select %s.%s: %w", q.Table, name, ErrNoColumn)
			}
			r.defs = append(r.defs, d)
		}
	}
	if q.Table != Profiles {
		for i, d := range r.defs {
			if d.Name == ColPersonID {
				r.mapPID = i
			}
		}
	}
	r.vals = make([]column.Value, len(r.defs))
	return r, nil
}

// Columns returns the selected columns.
func (r *Rows) Columns() []*column.ColumnDef { return r.defs }

// Next advances to the next row.
func (r *Rows) Next() bool {
	if r.closed || r.err != nil {
		return false
	}
	for {
		if r.cur != nil {
			if next := r.sel.Next(r.row + 1); next >= 0 {
				r.row = next
				return true
			}
		}
		if r.chunk >= len(r.f.tbl.Chunks) {
			return false
		}
		if err := r.ctx.Err(); err != nil {
			r.err = fmt.Errorf("cannot read %s: %w", r.f.tbl.Name, err)
			return false
		}
		r.cur = r.f.tbl.Chunks[r.chunk]
		r.chunk++
		r.sel = r.sel.Resize(r.cur.Rows)
		r.f.eval(0, r.cur, r.sel)
		r.row = -1
	}
}

// Values decodes the current row. The slice is reused by the next call.
func (r *Rows) Values() []column.Value {
	for i, d := range r.defs {
		r.vals[i] = r.cur.Col(d.Index).Value(r.row, d)
	}
	if r.mapPID >= 0 && !r.vals[r.mapPID].Null() {
		r.vals[r.mapPID].I = int64(r.snap.Graph.Canonical(uint32(r.vals[r.mapPID].I)))
	}
	return r.vals
}

// Err returns the error that stopped the iteration, if any.
func (r *Rows) Err() error { return r.err }

// Close stops the iteration; it is safe to call more than once.
func (r *Rows) Close() error { r.closed = true; return nil }
