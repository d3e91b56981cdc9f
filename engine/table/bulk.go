package table

import (
	"fmt"
	"slices"

	"github.com/cohortdb/cohort/engine/column"
)

// AppendSealed appends a chunk built outside the writer (bulk restore): its
// Vecs are sealed (immutable) and indexed like the table's schema, string
// codes belong to the schema's dictionaries. A chunk of exactly
// column.ChunkRows rows becomes the next sealed slot; a shorter one becomes
// the mutable tail (its rows are copied into tail builders), after which
// only row-by-row writes (Begin/Set/End) may follow. The table must have no
// tail and no row in progress. The table takes ownership of c's Vecs and
// delete bitmap; c itself is copied.
func (t *Table) AppendSealed(c *column.Chunk) error {
	switch {
	case t.inRow:
		return fmt.Errorf("cannot append a chunk to %s: a row is in progress", t.name)
	case t.tailN > 0:
		return fmt.Errorf("cannot append a chunk to %s: it has a tail of %d rows", t.name, t.tailN)
	case c.Rows <= 0 || c.Rows > column.ChunkRows:
		return fmt.Errorf("cannot append a chunk of %d rows to %s", c.Rows, t.name)
	case len(c.Cols) > len(t.schema.Cols):
		return fmt.Errorf("cannot append a chunk of %d columns to %s: it has %d", len(c.Cols), t.name, len(t.schema.Cols))
	case c.Dead < 0 || c.Dead > c.Rows || (c.Dead > 0) != (c.Del != nil) || (c.Del != nil && len(c.Del) < column.Words(c.Rows)):
		return fmt.Errorf("cannot append a chunk to %s: bad delete bitmap (%d dead of %d)", t.name, c.Dead, c.Rows)
	}
	for i, v := range c.Cols {
		if v == nil {
			continue
		}
		d := t.schema.Cols[i]
		if v.Type != d.Type || v.N != c.Rows {
			return fmt.Errorf("cannot append a chunk to %s: column %s is %s of %d rows, want %s of %d", t.name, d.Name, v.Type, v.N, d.Type, c.Rows)
		}
		if d.Dict != nil && v.NonNil > 0 && (v.MaxI < 0 || v.MaxI >= int64(d.Dict.Len())) && d.Type == column.TypeString {
			return fmt.Errorf("cannot append a chunk to %s: column %s has code %d, its dictionary %d entries", t.name, d.Name, v.MaxI, d.Dict.Len())
		}
	}
	if c.Rows == column.ChunkRows {
		cp := *c
		cp.Slot, cp.Gen = len(t.slots), t.gen // not yet published: the writer owns it
		cp.Cols = slices.Clone(c.Cols)        // owned means its column slice too (see own)
		t.slots = append(t.slots, &cp)
		t.live += int64(c.Live())
		return nil
	}
	t.tail = make([]*column.Builder, len(c.Cols))
	for i, v := range c.Cols {
		if v == nil {
			continue
		}
		b := column.NewBuilder(v.Type)
		for r := 0; r < c.Rows; r++ {
			b.AppendFrom(v, r)
		}
		t.tail[i] = b
	}
	t.tailN = c.Rows
	if c.Dead > 0 {
		t.tailDel, t.tailDead, t.delShr = c.Del.Clone(column.ChunkRows), c.Dead, false
	}
	t.live += int64(c.Live())
	return nil
}
