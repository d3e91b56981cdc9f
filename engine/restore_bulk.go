package engine

import (
	"github.com/cohortdb/cohort/engine/column"
	"github.com/cohortdb/cohort/engine/identity"
	"github.com/cohortdb/cohort/engine/table"
)

// Schema returns the schema of table tbl once its columns are declared
// (Columns). A storage layer that restores whole chunks (Chunk) builds them
// against it: Vecs by column index, string codes interned into the
// columns' dictionaries (one goroutine per dictionary).
func (r *Restorer) Schema(tbl string) (*column.Schema, error) {
	if err := r.failed(); err != nil {
		return nil, err
	}
	t := r.table(tbl)
	if t == nil {
		return nil, r.fail("%w: %q", ErrNoTable, tbl)
	}
	if !r.cols[tableIndex(tbl)] {
		return nil, r.fail("schema of %s before its columns", tbl)
	}
	return t.Schema(), nil
}

// Chunk appends the next rows of table tbl as one chunk of sealed vectors
// (column.Seal* or Builder.Seal), in table order: chunks of exactly
// column.ChunkRows rows, then at most one shorter last chunk (see
// table.Table.AppendSealed). It is the bulk form of Row, with the same
// checks (profile person ids unique and allocated, event ids in range),
// and may not be mixed with Row on the same table except Row after the
// last chunk. The restorer takes ownership of c.
func (r *Restorer) Chunk(tbl string, c *column.Chunk) error {
	if err := r.failed(); err != nil {
		return err
	}
	t := r.table(tbl)
	if t == nil {
		return r.fail("%w: %q", ErrNoTable, tbl)
	}
	ti := tableIndex(tbl)
	if !r.cols[ti] {
		return r.fail("chunk of %s before its columns", tbl)
	}
	if c.Del != nil || c.Dead != 0 {
		return r.fail("chunk of %s at row %d: restored rows are live", tbl, r.rows[ti])
	}
	// Restored tables are compact: row k of the table has RowID k.
	first := r.rows[ti]
	switch tbl {
	case Profiles:
		v := c.Col(r.w.pc.person.Index)
		if v == nil || v.NonNil != c.Rows || v.Type != column.TypeInt || v.N != c.Rows || v.MinI <= 0 || v.MaxI > int64(r.c.Persons) {
			return r.fail("profile rows %d..%d: person_id missing or out of [1, %d]", first, first+int64(c.Rows), r.c.Persons)
		}
		for off := 0; off < c.Rows; off++ {
			p, _ := v.Int(off)
			if r.w.rowOf.Get(int(p)) != 0 {
				return r.fail("profile row %d: person %d has two profiles", first+int64(off), p)
			}
			r.w.rowOf.Set(int(p), uint64(table.RowID(first+int64(off)))+1)
		}
	case Events:
		v := c.Col(r.w.ec.id.Index)
		if v == nil || v.NonNil != c.Rows || v.Type != column.TypeInt || v.N != c.Rows || v.MinI <= 0 || v.MaxI >= r.c.NextEvent {
			return r.fail("event rows %d..%d: event_id missing or not in [1, %d)", first, first+int64(c.Rows), r.c.NextEvent)
		}
	}
	if err := t.AppendSealed(c); err != nil {
		return r.fail("%w", err)
	}
	if tbl == Events {
		r.w.pidx.addChunk(int(first>>column.ChunkBits), c, r.w.ec.person, int64(r.c.Persons))
	}
	r.rows[ti] += int64(c.Rows)
	return nil
}

// ReserveIDs makes room for n identifiers in the identity graph.
func (r *Restorer) ReserveIDs(n int) { r.g.Reserve(n) }

// NextID restores the next identifier in identifier-code order, as
// identity.View.ExportAll lists them: the fast form of ID for a complete
// export (each identifier must be new; it gets the next code).
func (r *Restorer) NextID(id identity.ID, person uint32, st identity.IDState) error {
	if err := r.failed(); err != nil {
		return err
	}
	if err := r.g.Next(id, person, st); err != nil {
		return r.fail("%w", err)
	}
	return nil
}
