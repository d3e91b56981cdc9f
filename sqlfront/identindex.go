package sqlfront

import (
	"sync"

	"github.com/dolthub/go-mysql-server/sql"

	"github.com/cohortdb/cohort/engine"
	"github.com/cohortdb/cohort/engine/column"
	etable "github.com/cohortdb/cohort/engine/table"
)

// identIndex maps the dictionary code of identities.value to the row that
// holds it, so "type = ? AND value = ?" reads one row instead of scanning.
// It is built incrementally from snapshots (identities are append-only but
// for erasure, which deletes rows) and costs 8 bytes per distinct value.
// A value held by more than one row, or an entry the query's snapshot
// cannot resolve, falls back to the engine scan.
type identIndex struct {
	mu      sync.Mutex
	slot    int      // next chunk slot to index
	off     int      // next row in that slot
	byValue []uint64 // value code → row id + 1; multiRow when several rows
}

const multiRow = ^uint64(0)

func (s *Server) identIndexOf(ws string) *identIndex {
	s.identMu.Lock()
	defer s.identMu.Unlock()
	if s.ident == nil {
		s.ident = make(map[string]*identIndex)
	}
	ix := s.ident[ws]
	if ix == nil {
		ix = &identIndex{}
		s.ident[ws] = ix
	}
	return ix
}

// row returns the identities row (type, value) of snap, or ok=false when
// the index cannot answer (the caller scans instead).
func (ix *identIndex) row(snap *engine.Snapshot, typ, val string) (c *column.Chunk, off int, found, ok bool) {
	ts := snap.Identities
	vd, ok1 := ts.Schema.Lookup(engine.ColValue)
	td, ok2 := ts.Schema.Lookup(engine.ColType)
	if !ok1 || !ok2 || vd.Dict == nil {
		return nil, 0, false, false
	}
	code, known := vd.Dict.View().Code(val)
	if !known {
		return nil, 0, false, true // no row anywhere holds this value
	}
	ix.mu.Lock()
	ix.update(ts, vd)
	var e uint64
	if int(code) < len(ix.byValue) {
		e = ix.byValue[code]
	}
	ix.mu.Unlock()
	switch e {
	case 0:
		// Interned but not in this snapshot's rows (yet, or any more).
		return nil, 0, false, false
	case multiRow:
		return nil, 0, false, false
	}
	c, off = ts.Row(etable.RowID(e - 1))
	if c == nil {
		return nil, 0, false, false
	}
	if tv := c.Col(td.Index).Value(off, td); tv.Type != column.TypeString || tv.S != typ {
		return nil, 0, false, true // the only row with this value has another type
	}
	return c, off, true, true
}

// update indexes the rows of ts not indexed yet.
func (ix *identIndex) update(ts *etable.Snapshot, vd *column.ColumnDef) {
	for slot := ix.slot; slot < len(ts.BySlot); slot++ {
		c := ts.BySlot[slot]
		if c == nil {
			continue
		}
		start := 0
		if slot == ix.slot {
			start = ix.off
		}
		v := c.Col(vd.Index)
		for off := start; off < c.Rows; off++ {
			code, ok := v.Int(off)
			if !ok {
				continue
			}
			for int(code) >= len(ix.byValue) {
				ix.byValue = append(ix.byValue, 0)
			}
			rid := uint64(slot)<<column.ChunkBits | uint64(off)
			if cur := ix.byValue[code]; cur == 0 || cur == rid+1 {
				ix.byValue[code] = rid + 1
			} else {
				ix.byValue[code] = multiRow
			}
		}
		ix.slot, ix.off = slot, c.Rows
	}
}

// identityRow answers an identity point lookup from the index; ok=false
// means scan.
func (t *table) identityRow(snap *engine.Snapshot, id *[2]string) (sql.RowIter, bool) {
	ix := t.db.srv.identIndexOf(t.db.Name())
	c, off, found, ok := ix.row(snap, id[0], id[1])
	if !ok {
		return nil, false
	}
	if !found {
		return sql.RowsToRowIter(), true
	}
	row := make(sql.Row, len(t.cols))
	for i, name := range t.cols {
		d, ok := snap.Identities.Schema.Lookup(name)
		if !ok {
			return nil, false
		}
		v := c.Col(d.Index).Value(off, d)
		if d.Name == engine.ColPersonID && v.Type == column.TypeInt {
			v.I = int64(snap.Graph.Canonical(uint32(v.I)))
		}
		row[i] = toSQL(v)
	}
	return sql.RowsToRowIter(row), true
}
