package engine

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/cohortdb/cohort/engine/column"
	"github.com/cohortdb/cohort/engine/identity"
	"github.com/cohortdb/cohort/engine/table"
)

// TestPersonEventsAfterDrop drops the first events chunk (as the event
// window does): walks end at it in later snapshots, earlier snapshots still
// visit its rows, its prev array is released, and chunks sealed afterwards
// are walked as before.
func TestPersonEventsAfterDrop(t *testing.T) {
	const persons = 10
	w := NewWorkspace("t", identity.DefaultRules())
	total := make([]int, persons+1) // by person id (persons are created in order 1..10)
	inTail := make([]int, persons+1)
	apply := func(from, n int) {
		ops := make([]Op, 0, 5000)
		for i := from; i < from+n; i++ {
			k := i % persons
			ops = append(ops, track(time.Duration(i)*time.Millisecond, []identity.ID{uid(itoa(k))}, "e"+itoa(i%3)))
			total[k+1]++
			if i >= column.ChunkRows {
				inTail[k+1]++
			}
			if len(ops) == cap(ops) || i == from+n-1 {
				mustApply(t, w, ops...)
				ops = ops[:0]
			}
		}
	}
	var before *Snapshot
	count := func(s *Snapshot, p uint32) int {
		n := 0
		s.PersonEvents(p, func(c *column.Chunk, row int) bool {
			if c.Slot == 0 && s != before {
				t.Errorf("person %d: row %d of the dropped chunk visited", p, row)
			}
			n++
			return true
		})
		return n
	}
	apply(0, column.ChunkRows+1000)
	before = w.Snapshot()
	mem := w.Memory()[Events]["_person_index"]

	w.mu.Lock()
	for r := range column.ChunkRows {
		w.events.Delete(table.RowID(r))
	}
	if err := w.events.Drop(0); err != nil {
		t.Fatal(err)
	}
	w.publish()
	w.mu.Unlock()

	after := w.Snapshot()
	if freed := mem - w.Memory()[Events]["_person_index"]; freed != column.ChunkRows*4 {
		t.Errorf("dropping a chunk freed %d bytes of the index, want %d", freed, column.ChunkRows*4)
	}
	for p := uint32(1); p <= persons; p++ {
		if got := count(before, p); got != total[p] {
			t.Errorf("person %d before the drop: %d events, want %d", p, got, total[p])
		}
		if got := count(after, p); got != inTail[p] {
			t.Errorf("person %d after the drop: %d events, want %d", p, got, inTail[p])
		}
	}
	apply(column.ChunkRows+1000, column.ChunkRows) // seals slot 1 (permuted)
	last := w.Snapshot()
	for p := uint32(1); p <= persons; p++ {
		if got := count(last, p); got != inTail[p] {
			t.Errorf("person %d after another seal: %d events, want %d", p, got, inTail[p])
		}
	}
}

// TestPersonIndexMemory checks the index's reported size: one 4-byte prev
// pointer per row of every chunk (the tail's array and scratch included)
// and 4+4 bytes per person in 64Ki pages.
func TestPersonIndexMemory(t *testing.T) {
	w := NewWorkspace("t", identity.DefaultRules())
	if got := w.Memory()[Events]["_person_index"]; got != 4<<16 {
		t.Errorf("empty workspace: %d bytes, want one page of heads (%d)", got, 4<<16)
	}
	ops := make([]Op, 0, 1000)
	for i := range 1000 {
		ops = append(ops, track(time.Duration(i)*time.Millisecond, []identity.ID{uid(itoa(i % 7))}, "e"))
	}
	mustApply(t, w, ops...)
	want := int64(4<<16) + 2*4*column.ChunkRows // heads page, tail prev and persons
	if got := w.Memory()[Events]["_person_index"]; got != want {
		t.Errorf("1000 events: %d bytes, want %d", got, want)
	}
}

// BenchmarkPersonIndexAdd measures the writer's cost of the index per
// event: linking the row (add) and, once per ChunkRows rows, remapping the
// sealed chunk for a clustering permutation (onSeal), with 100k persons.
func BenchmarkPersonIndexAdd(b *testing.B) {
	const persons = 100_000
	r := rand.New(rand.NewPCG(1, 1))
	ps := make([]uint32, column.ChunkRows)
	for i := range ps {
		ps[i] = uint32(1 + r.IntN(persons))
	}
	perm := make([]int32, column.ChunkRows) // a clustering-like permutation: by row mod 8
	for i := range perm {
		perm[i] = int32(i%(column.ChunkRows/8)*8 + i/(column.ChunkRows/8))
	}
	var x personIndex
	x.init()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		off := i & (column.ChunkRows - 1)
		x.add(ps[off], table.RowID(len(x.sealed))<<column.ChunkBits|table.RowID(off))
		if off == column.ChunkRows-1 {
			x.onSeal(len(x.sealed), perm)
			if len(x.sealed) > 64 {
				x.sealed = x.sealed[:0] // keep memory bounded; row ids restart
				x.heads = column.Paged[uint32]{}
				x.init()
			}
		}
		i++
	}
}
