package engine

import (
	"math"

	"github.com/cohortdb/cohort/engine/column"
	"github.com/cohortdb/cohort/engine/identity"
	"github.com/cohortdb/cohort/engine/table"
)

// The per-person event index lets the events of one person be visited
// without scanning the events table (real-time segments re-evaluate one
// person per change).
//
// Every event row carries a pointer to the previous event row recorded for
// the same person_id (RowID+1; 0 = none), stored per chunk slot beside the
// table, and every person has a head: its latest event row. Walking head →
// prev → prev … visits the person's rows newest first. Row ids along a chain
// never increase, so a pointer into a dropped chunk ends the walk: every
// older row is in that chunk or an older one. Cost: 4 bytes per event (the
// prev arrays, one ChunkRows array per chunk) plus 4 bytes per person for
// the heads and 4 per person for the merge groups.
//
// Events keep the person_id they were recorded with, so a canonical
// person's events are the union of its members' chains; the index keeps its
// own copy of the merge groups (a circular list per group) because the
// identity View does not carry them.
//
// Publication follows the tables' rule: prev arrays are only written at
// offsets no snapshot can reach yet (the tail's new rows), a sealed chunk's
// array is immutable, and the heads and groups are copy-on-write Paged
// arrays frozen with each Snapshot. Sealing the tail with a permutation
// (table.ClusterBy) writes a new array for the sealed chunk and moves the
// heads that pointed into the tail; snapshots taken before keep the tail's
// array and their own heads.
type personIndex struct {
	heads  column.Paged[uint32] // person → RowID+1 of its latest event row; 0 none
	groups column.Paged[uint32] // person → next member of its merge group (circular); 0 alone
	sealed [][]uint32           // by sealed slot: prev pointer of each row; nil once dropped
	tail   []uint32             // prev pointers of the tail's rows (ChunkRows long once allocated)

	// writer scratch
	tailP  []uint32      // person of each tail row
	inv    []int32       // inverse of a seal permutation
	isHead column.Bitmap // tail rows that are some person's head
}

// personView is the index as of one Snapshot.
type personView struct {
	bySlot []*column.Chunk // the events the view was frozen with, by slot
	heads  column.PagedView[uint32]
	groups column.PagedView[uint32]
	sealed [][]uint32
	tail   []uint32
}

func (x *personIndex) init() {
	x.heads.Append(0) // person ids start at 1
}

// add links row r, the next row of the events tail, to person p's chain. It
// must be called between Begin and End: End may seal the tail.
func (x *personIndex) add(p uint32, r table.RowID) {
	if r.Slot() != len(x.sealed) {
		panic("BUG: person index: event row is not in the tail")
	}
	if uint64(r) >= math.MaxUint32 {
		panic("BUG: person index: event row id does not fit 32 bits")
	}
	if x.tail == nil {
		x.tail = make([]uint32, column.ChunkRows)
	}
	if x.tailP == nil {
		x.tailP = make([]uint32, column.ChunkRows)
	}
	for x.heads.Len() <= int(p) {
		x.heads.Append(0)
	}
	off := r.Offset()
	x.tail[off] = x.heads.Get(int(p))
	x.tailP[off] = p
	x.heads.Set(int(p), uint32(r)+1)
}

// onSeal is the events table's OnSeal hook: the tail became sealed chunk
// slot, its rows reordered by perm (nil: in place).
func (x *personIndex) onSeal(slot int, perm []int32) {
	if slot != len(x.sealed) {
		panic("BUG: person index: sealed slot out of order")
	}
	prev := x.tail
	x.tail = nil
	switch {
	case prev == nil: // no row of this chunk was indexed: no pointer into it
		prev = make([]uint32, column.ChunkRows)
	case perm != nil:
		prev = x.permute(slot, prev, perm)
	}
	x.sealed = append(x.sealed, prev)
}

// permute returns the prev array of the tail sealed as slot in perm's
// order, and moves the heads that point into the tail. The tail's array is
// left alone: earlier snapshots read it.
func (x *personIndex) permute(slot int, prev []uint32, perm []int32) []uint32 {
	n := len(perm)
	if cap(x.inv) < n {
		x.inv = make([]int32, n)
	}
	inv := x.inv[:n]
	for i, r := range perm {
		inv[r] = int32(i)
	}
	base := uint32(slot) << column.ChunkBits
	const mask = column.ChunkRows - 1
	out := make([]uint32, column.ChunkRows)
	for i, r := range perm {
		v := prev[r]
		if v != 0 && (v-1)&^mask == base {
			v = base | uint32(inv[(v-1)&mask]) + 1
		}
		out[i] = v
	}
	// A head in the tail is its person's last tail row. Find them all
	// before moving any: a moved head could look like another row's.
	tp := x.tailP[:n]
	heads := x.isHead.Resize(n)
	for r, p := range tp {
		if x.heads.Get(int(p)) == base|uint32(r)+1 {
			heads.Set(r)
		}
	}
	for r := heads.Next(0); r >= 0; r = heads.Next(r + 1) {
		x.heads.Set(int(tp[r]), base|uint32(inv[r])+1)
	}
	x.isHead = heads
	return out
}

// addChunk indexes chunk c, just appended whole to the events table by
// table.AppendSealed as slot slot: sealed when full, else the new tail.
// Rows whose person is NULL or outside [1, maxPerson] are not indexed.
func (x *personIndex) addChunk(slot int, c *column.Chunk, person *column.ColumnDef, maxPerson int64) {
	if slot != len(x.sealed) || x.tail != nil {
		panic("BUG: person index: bulk chunk out of order")
	}
	if slot >= 1<<(32-column.ChunkBits) {
		panic("BUG: person index: event row id does not fit 32 bits")
	}
	for x.heads.Len() <= int(maxPerson) {
		x.heads.Append(0)
	}
	full := c.Rows == column.ChunkRows
	if !full && x.tailP == nil {
		x.tailP = make([]uint32, column.ChunkRows)
	}
	prev := make([]uint32, column.ChunkRows)
	base := uint32(slot) << column.ChunkBits
	v := c.Col(person.Index)
	for off := 0; off < c.Rows; off++ {
		q, ok := v.Int(off)
		if !ok || q <= 0 || q > maxPerson {
			continue
		}
		prev[off] = x.heads.Get(int(q))
		x.heads.Set(int(q), base|uint32(off)+1)
		if !full {
			x.tailP[off] = uint32(q)
		}
	}
	if full {
		x.sealed = append(x.sealed, prev)
	} else {
		x.tail = prev
	}
}

// merge joins the groups of from and into (distinct canonical persons).
func (x *personIndex) merge(from, into uint32) {
	for x.groups.Len() <= int(max(from, into)) {
		x.groups.Append(0)
	}
	nf, ni := x.groups.Get(int(from)), x.groups.Get(int(into))
	if nf == 0 {
		nf = from
	}
	if ni == 0 {
		ni = into
	}
	x.groups.Set(int(from), ni)
	x.groups.Set(int(into), nf)
}

// restoreGroups rebuilds the merge groups from a restored graph.
func (x *personIndex) restoreGroups(g *identity.Graph) {
	if len(g.MergeLog()) == 0 {
		return
	}
	for p := 1; p <= g.Persons(); p++ {
		if c := g.Canonical(uint32(p)); c != 0 && c != uint32(p) {
			x.merge(uint32(p), c) // p joins c's group
		}
	}
}

// freeze returns the index as of the events snapshot ev, just published.
// The prev arrays of chunks ev no longer has (table.Drop) are released.
func (x *personIndex) freeze(ev *table.Snapshot) personView {
	for i, a := range x.sealed {
		if a != nil && i < len(ev.BySlot) && ev.BySlot[i] == nil {
			x.release(ev)
			break
		}
	}
	n := len(x.sealed)
	return personView{
		bySlot: ev.BySlot,
		heads:  x.heads.Freeze(),
		groups: x.groups.Freeze(),
		sealed: x.sealed[:n:n],
		tail:   x.tail,
	}
}

// release drops the prev arrays of dropped chunks, on a copy of the slot
// list: earlier views still read theirs.
func (x *personIndex) release(ev *table.Snapshot) {
	s := make([][]uint32, len(x.sealed), cap(x.sealed))
	copy(s, x.sealed)
	for i := range s {
		if i < len(ev.BySlot) && ev.BySlot[i] == nil {
			s[i] = nil
		}
	}
	x.sealed = s
}

// bytes returns the index's memory: prev arrays, heads, groups and the
// writer's per-tail-row scratch.
func (x *personIndex) bytes() int64 {
	n := x.heads.Bytes(4) + x.groups.Bytes(4)
	for _, a := range x.sealed {
		n += int64(len(a)) * 4
	}
	n += int64(len(x.tail)+len(x.tailP)+cap(x.inv)) * 4
	return n + int64(len(x.isHead))*8
}

// PersonEvents calls fn for every live (not deleted) event row recorded
// for person p or for any person merged into p (p is resolved to its
// canonical person first), in no particular order, until fn returns false.
//
// It reads only p's rows: a person with k events costs k random reads, not
// a scan. The rows are those of the events table s was published with
// (s.Events); a chunk dropped from memory (the event window drops a prefix
// of the slots) ends each person's walk.
//
// Any number of readers may call it, on any snapshots, while the writer
// goes on.
func (s *Snapshot) PersonEvents(p uint32, fn func(c *column.Chunk, row int) bool) {
	s.PersonEventsFrom(p, 0, fn)
}

// PersonEventsFrom is PersonEvents for the rows in chunk slots minSlot and
// above only: every chain runs towards older slots, so a chain ends at
// the first row below minSlot (a caller that knows the older chunks hold
// no row it wants, from their time stats, skips them all).
func (s *Snapshot) PersonEventsFrom(p uint32, minSlot int, fn func(c *column.Chunk, row int) bool) {
	c := s.Graph.Canonical(p)
	if c == 0 {
		return
	}
	v := &s.pevents
	for m := c; ; {
		if !v.walk(m, minSlot, fn) {
			return
		}
		if int(m) >= v.groups.Len() {
			return
		}
		m = v.groups.Get(int(m))
		if m == 0 || m == c {
			return
		}
	}
}

// walk visits the live rows of the chain of person p in slots minSlot and
// above; false means fn stopped it.
func (v *personView) walk(p uint32, minSlot int, fn func(c *column.Chunk, row int) bool) bool {
	if int(p) >= v.heads.Len() {
		return true
	}
	const mask = column.ChunkRows - 1
	bySlot := v.bySlot
	for r := v.heads.Get(int(p)); r != 0; {
		slot, off := int((r-1)>>column.ChunkBits), int((r-1)&mask)
		if slot >= len(bySlot) || slot < minSlot {
			return true
		}
		c := bySlot[slot]
		var prev []uint32
		if slot < len(v.sealed) {
			prev = v.sealed[slot]
		} else {
			prev = v.tail
		}
		if c == nil || prev == nil || off >= c.Rows {
			return true // dropped: every older row of p is too
		}
		if (c.Del == nil || !c.Del.Get(off)) && !fn(c, off) {
			return false
		}
		r = prev[off]
	}
	return true
}
