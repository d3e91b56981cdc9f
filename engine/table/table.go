package table

import (
	"fmt"
	"slices"

	"github.com/cohortdb/cohort/engine/column"
)

// RowID addresses a row: chunk slot << column.ChunkBits | offset. Row ids are
// stable until the row is deleted.
type RowID uint64

// Slot returns the chunk slot of r.
func (r RowID) Slot() int { return int(r >> column.ChunkBits) }

// Offset returns the row's position inside its chunk.
func (r RowID) Offset() int { return int(r & (column.ChunkRows - 1)) }

// TypeError reports a value whose type differs from its column's.
type TypeError struct {
	Table, Column   string
	Expected, Given column.Type
}

func (e *TypeError) Error() string {
	return fmt.Sprintf("%s.%s: expected %s, given %s", e.Table, e.Column, e.Expected, e.Given)
}

// Table is a columnar table with one writer.
type Table struct {
	name     string
	schema   *column.Schema
	slots    []*column.Chunk // sealed chunks by slot; nil once dropped
	tail     []*column.Builder
	tailN    int
	tailDel  column.Bitmap
	tailDead int
	delShr   bool   // tailDel is visible to a published snapshot
	gen      uint64 // bumped by Publish; chunks with an older Gen are shared
	live     int64
	inRow    bool
	cluster  *column.ColumnDef // sealed chunks are ordered by this string column
	onSeal   func(slot int, perm []int32)
	mutable  map[*column.Vec]struct{} // vectors UpdateInt copied since the last Publish
}

// ClusterBy makes every chunk sealed from now on store its rows ordered by
// the string column d (stable: arrival order within a value). A chunk's
// rows of one value are then contiguous, so a scan for that value reads
// its other columns sequentially. Row ids of the tail change when it is
// sealed: only use it on tables whose rows are not addressed by row id
// across batches (events).
func (t *Table) ClusterBy(d *column.ColumnDef) { t.cluster = d }

// OnSeal sets fn to be called by the writer every time the tail becomes
// sealed chunk slot, right after the chunk is in place and before the next
// row starts. perm is nil when the rows kept their offsets; otherwise row i
// of the sealed chunk is row perm[i] of the tail (see ClusterBy), and fn
// must not keep perm. Chunks appended by AppendSealed do not call fn.
func (t *Table) OnSeal(fn func(slot int, perm []int32)) { t.onSeal = fn }

// New returns an empty table with the given initial columns.
func New(name string, s *column.Schema) *Table {
	return &Table{name: name, schema: s, gen: 1}
}

// Name returns the table's name.
func (t *Table) Name() string { return t.name }

// Schema returns the current schema (including unpublished columns).
func (t *Table) Schema() *column.Schema { return t.schema }

// Live returns the number of live rows.
func (t *Table) Live() int64 { return t.live }

// Column returns the column named name, creating it with type typ on first
// use. A column that exists with another type is a *TypeError.
func (t *Table) Column(name string, typ column.Type) (*column.ColumnDef, error) {
	if d, ok := t.schema.Lookup(name); ok {
		if d.Type != typ {
			return nil, &TypeError{Table: t.name, Column: name, Expected: d.Type, Given: typ}
		}
		return d, nil
	}
	if typ == column.TypeNull {
		return nil, fmt.Errorf("%s.%s: cannot create a column from a NULL value", t.name, name)
	}
	t.schema = t.schema.With(name, typ)
	return t.schema.Cols[len(t.schema.Cols)-1], nil
}

// Begin starts a new row and returns its id. Set values with Set, then End.
func (t *Table) Begin() RowID {
	if t.inRow {
		panic("BUG: table: Begin inside a row")
	}
	t.inRow = true
	return RowID(len(t.slots))<<column.ChunkBits | RowID(t.tailN)
}

func (t *Table) builder(d *column.ColumnDef) *column.Builder {
	for len(t.tail) <= d.Index {
		t.tail = append(t.tail, nil)
	}
	b := t.tail[d.Index]
	if b == nil {
		b = column.NewBuilder(d.Type)
		t.tail[d.Index] = b
	}
	b.PadTo(t.tailN)
	return b
}

// Set writes column d of the current row. Each column at most once per row;
// v must be of d's type or NULL.
func (t *Table) Set(d *column.ColumnDef, v column.Value) {
	if v.Type != column.TypeNull && v.Type != d.Type {
		panic("BUG: table: Set with a value of the wrong type for " + d.Name)
	}
	t.builder(d).Append(v, d.Dict)
}

// SetInt writes an int or timestamp column of the current row.
func (t *Table) SetInt(d *column.ColumnDef, v int64) { t.builder(d).AppendInt(v) }

// SetFloat writes a float column of the current row.
func (t *Table) SetFloat(d *column.ColumnDef, v float64) { t.builder(d).AppendFloat(v) }

// SetString writes a string column of the current row.
func (t *Table) SetString(d *column.ColumnDef, s string) { t.builder(d).AppendCode(d.Dict.Intern(s)) }

// SetCode writes a string column of the current row by dictionary code.
func (t *Table) SetCode(d *column.ColumnDef, c uint32) { t.builder(d).AppendCode(c) }

// SetBool writes a bool column of the current row.
func (t *Table) SetBool(d *column.ColumnDef, v bool) { t.builder(d).AppendBool(v) }

// End finishes the current row, sealing the tail when it is full.
func (t *Table) End() {
	t.inRow = false
	t.tailN++
	t.live++
	if t.tailN == column.ChunkRows {
		t.seal()
	}
}

func (t *Table) seal() {
	c := &column.Chunk{Slot: len(t.slots), Rows: t.tailN, Cols: make([]*column.Vec, len(t.tail))}
	var perm []int32
	if t.cluster != nil && t.cluster.Index < len(t.tail) && t.tail[t.cluster.Index] != nil {
		perm = t.tail[t.cluster.Index].ClusterOrder(t.tailN)
	}
	for i, b := range t.tail {
		switch {
		case b == nil:
		case perm != nil:
			c.Cols[i] = b.SealPermuted(t.tailN, perm)
		default:
			c.Cols[i] = b.Seal(t.tailN)
		}
	}
	if t.tailDead > 0 {
		c.Del, c.Dead = t.tailDel, t.tailDead
		if perm != nil {
			c.Del = column.NewBitmap(t.tailN)
			for i, r := range perm {
				if t.tailDel.Get(int(r)) {
					c.Del.Set(i)
				}
			}
			t.delShr = false // the new bitmap is the chunk's own
		}
	}
	if !t.delShr {
		c.Gen = t.gen
	}
	t.slots = append(t.slots, c)
	t.tail, t.tailN, t.tailDel, t.tailDead, t.delShr = nil, 0, nil, 0, false
	if t.onSeal != nil {
		t.onSeal(c.Slot, perm)
	}
}

// Delete marks row r deleted. Deleting a deleted row is a no-op; it reports
// whether the row was live.
func (t *Table) Delete(r RowID) bool {
	slot, off := r.Slot(), r.Offset()
	if slot == len(t.slots) {
		if off >= t.tailN {
			return false
		}
		if t.delShr || len(t.tailDel) < column.Words(off+1) {
			t.tailDel = t.tailDel.Clone(column.ChunkRows)
			t.delShr = false
		}
		if t.tailDel.Get(off) {
			return false
		}
		t.tailDel.Set(off)
		t.tailDead++
		t.live--
		return true
	}
	c := t.slots[slot]
	if c == nil || off >= c.Rows || (c.Del != nil && c.Del.Get(off)) {
		return false
	}
	c = t.own(slot)
	if c.Del == nil {
		c.Del = column.NewBitmap(c.Rows)
	}
	c.Del.Set(off)
	c.Dead++
	t.live--
	return true
}

// own returns sealed chunk slot for the writer to change: a chunk that a
// published snapshot may hold is copied first (the struct, its delete
// bitmap and its column slice; the vectors stay shared). Gen == t.gen
// marks a chunk whose struct, bitmap and column slice the writer owns.
func (t *Table) own(slot int) *column.Chunk {
	c := t.slots[slot]
	if c.Gen == t.gen {
		return c
	}
	cp := *c
	if c.Del != nil {
		cp.Del = c.Del.Clone(c.Rows)
	}
	cp.Cols = slices.Clone(c.Cols)
	cp.Gen = t.gen
	t.slots[slot] = &cp
	return &cp
}

// UpdateInt overwrites column d (int or timestamp) of live row r in place
// and reports whether it did. It is for a column that changes alone and
// often (a profile's last_seen on every event), where a new row version
// would copy every column. Snapshots published before keep the old value:
// the first update of a chunk's column after a Publish copies that column.
// Rows of the tail are never updated in place, since readers share its
// buffers: UpdateInt reports false for them (and for rows that are not
// live), and the caller writes a new row version instead.
func (t *Table) UpdateInt(r RowID, d *column.ColumnDef, x int64) bool {
	if d.Type != column.TypeInt && d.Type != column.TypeTimestamp {
		panic("BUG: table: UpdateInt of " + d.Type.String() + " column " + d.Name)
	}
	slot, off := r.Slot(), r.Offset()
	if slot >= len(t.slots) {
		return false
	}
	if c := t.slots[slot]; c == nil || off >= c.Rows || (c.Del != nil && c.Del.Get(off)) {
		return false
	}
	c := t.own(slot)
	v := c.Col(d.Index)
	if _, ok := t.mutable[v]; !ok || v == nil {
		v = column.MutableInt(v, d.Type, c.Rows)
		for len(c.Cols) <= d.Index {
			c.Cols = append(c.Cols, nil)
		}
		c.Cols[d.Index] = v
		if t.mutable == nil {
			t.mutable = make(map[*column.Vec]struct{})
		}
		t.mutable[v] = struct{}{}
	}
	v.SetInt(off, x)
	return true
}

// Get decodes column d of row r as the writer sees it (published or not).
func (t *Table) Get(r RowID, d *column.ColumnDef) column.Value {
	slot, off := r.Slot(), r.Offset()
	if slot == len(t.slots) {
		if d.Index >= len(t.tail) || t.tail[d.Index] == nil || off >= t.tail[d.Index].Len() {
			return column.Value{}
		}
		return t.tail[d.Index].Value(off, d)
	}
	c := t.slots[slot]
	if c == nil {
		return column.Value{}
	}
	return c.Col(d.Index).Value(off, d)
}

// Sparse returns the sealed chunks whose share of deleted rows is at least
// ratio, for compaction.
func (t *Table) Sparse(ratio float64) []*column.Chunk {
	var out []*column.Chunk
	for _, c := range t.slots {
		if c != nil && c.Dead > 0 && float64(c.Dead) >= ratio*float64(c.Rows) {
			out = append(out, c)
		}
	}
	return out
}

// Drop removes a sealed chunk whose rows have all been deleted or moved.
func (t *Table) Drop(slot int) error {
	c := t.slots[slot]
	if c == nil {
		return nil
	}
	if c.Live() != 0 {
		return fmt.Errorf("cannot drop chunk %d of %s: %d live rows", slot, t.name, c.Live())
	}
	t.slots[slot] = nil
	return nil
}

// Publish returns an immutable snapshot of everything written so far.
func (t *Table) Publish() *Snapshot {
	for v := range t.mutable {
		v.Refresh()
	}
	clear(t.mutable)
	s := &Snapshot{Name: t.name, Schema: t.schema, BySlot: make([]*column.Chunk, len(t.slots), len(t.slots)+1), Live: t.live}
	copy(s.BySlot, t.slots)
	s.Chunks = make([]*column.Chunk, 0, len(t.slots)+1)
	for _, c := range t.slots {
		if c != nil {
			s.Chunks = append(s.Chunks, c)
		}
	}
	if t.tailN > 0 {
		c := &column.Chunk{Slot: len(t.slots), Rows: t.tailN, Cols: make([]*column.Vec, len(t.tail))}
		for i, b := range t.tail {
			if b != nil {
				c.Cols[i] = b.View(t.tailN)
			}
		}
		if t.tailDead > 0 {
			c.Del, c.Dead = t.tailDel[:column.Words(t.tailN)], t.tailDead
			t.delShr = true
		}
		s.Chunks = append(s.Chunks, c)
		s.BySlot = append(s.BySlot, c)
	}
	t.gen++
	return s
}

// Bytes reports memory per column name (its vectors and dictionary) plus
// "_deletes" for delete bitmaps.
func (t *Table) Bytes() map[string]int64 {
	m := make(map[string]int64, len(t.schema.Cols)+1)
	add := func(c *column.Chunk) {
		for i, v := range c.Cols {
			if v != nil {
				m[t.schema.Cols[i].Name] += v.Bytes()
			}
		}
		m["_deletes"] += int64(len(c.Del)) * 8
	}
	for _, c := range t.slots {
		if c != nil {
			add(c)
		}
	}
	for i, b := range t.tail {
		if b != nil {
			if v := b.Peek(); v != nil {
				m[t.schema.Cols[i].Name] += v.Bytes()
			}
		}
	}
	for _, d := range t.schema.Cols {
		if d.Dict != nil {
			m[d.Name] += d.Dict.Bytes()
		}
	}
	return m
}

// Snapshot is an immutable view of a table at one publication.
type Snapshot struct {
	Name   string
	Schema *column.Schema
	Chunks []*column.Chunk // live chunks in slot order, the tail last
	BySlot []*column.Chunk // by slot, nil where dropped
	Live   int64
}

// Row returns the chunk and offset of r, or nil if r is not in the snapshot.
func (s *Snapshot) Row(r RowID) (*column.Chunk, int) {
	slot, off := r.Slot(), r.Offset()
	if slot >= len(s.BySlot) || s.BySlot[slot] == nil || off >= s.BySlot[slot].Rows {
		return nil, 0
	}
	c := s.BySlot[slot]
	if c.Del != nil && c.Del.Get(off) {
		return nil, 0
	}
	return c, off
}

// CopyRow copies every column of row src into the current row, except the
// columns whose index is set in skip (the caller sets those itself).
func (t *Table) CopyRow(src RowID, skip column.Bitmap) {
	slot, off := src.Slot(), src.Offset()
	skipped := func(i int) bool { return i>>6 < len(skip) && skip.Get(i) }
	if slot == len(t.slots) {
		for i, b := range t.tail {
			if b == nil || skipped(i) || off >= b.Len() {
				continue
			}
			t.builder(t.schema.Cols[i]).AppendFromBuilder(b, off)
		}
		return
	}
	c := t.slots[slot]
	if c == nil {
		return
	}
	for i, v := range c.Cols {
		if v == nil || skipped(i) {
			continue
		}
		t.builder(t.schema.Cols[i]).AppendFrom(v, off)
	}
}

// WriterChunks returns the writer's current chunks, the unpublished tail
// included, for scans done inside a batch (erasure). They must not be handed
// to readers.
func (t *Table) WriterChunks() []*column.Chunk {
	out := make([]*column.Chunk, 0, len(t.slots)+1)
	for _, c := range t.slots {
		if c != nil {
			out = append(out, c)
		}
	}
	if t.tailN > 0 {
		c := &column.Chunk{Slot: len(t.slots), Rows: t.tailN, Cols: make([]*column.Vec, len(t.tail))}
		for i, b := range t.tail {
			if b != nil {
				b.PadTo(t.tailN)
				c.Cols[i] = b.Peek()
			}
		}
		if t.tailDead > 0 {
			c.Del, c.Dead = t.tailDel, t.tailDead
		}
		out = append(out, c)
	}
	return out
}
