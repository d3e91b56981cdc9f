package engine_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/cohortdb/cohort/engine"
	"github.com/cohortdb/cohort/engine/column"
	"github.com/cohortdb/cohort/engine/identity"
)

const day = int64(24 * time.Hour / time.Microsecond)

func trackAt(user int, name string, at int64) engine.Op {
	return engine.Op{Kind: engine.OpTrack, IDs: []identity.ID{{Type: "user_id", Value: fmt.Sprint("u", user)}},
		Event: name, At: at, Props: []engine.Field{{Name: "n", Value: column.Int(at % 1000)}}}
}

// liveEvents returns "event_id ts" of every live event row of the snapshot.
func liveEvents(t *testing.T, s *engine.Snapshot) map[int64]int64 {
	t.Helper()
	out := map[int64]int64{}
	err := engine.ForEachRow(context.Background(), s.Events, func(v []column.Value) error {
		out[v[0].I] = v[3].I
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// eventBytes returns the memory of the events table's columns.
func eventBytes(w *engine.Workspace) int64 {
	var n int64
	for c, b := range w.Memory()[engine.Events] {
		if c[0] != '_' {
			n += b
		}
	}
	return n
}

// TestDropEventsBefore drops events of a workspace whose events arrived in
// time order over four days (about three sealed chunks and a tail): whole
// chunks of the prefix are freed, covered rows elsewhere deleted, late
// events stay until a later drop covers them, the window survives export
// and restore, and the per-person index still visits every live row.
func TestDropEventsBefore(t *testing.T) {
	ctx := context.Background()
	e := engine.New(engine.Options{})
	w, err := e.CreateWorkspace("acme")
	if err != nil {
		t.Fatal(err)
	}
	const perDay = 50_000
	var ops []engine.Op
	for d := range int64(4) {
		for i := range int64(perDay) {
			ops = append(ops, trackAt(int(i%997), []string{"view", "buy", "open"}[i%3], t0+d*day+i*(day/perDay)))
			if len(ops) == 10_000 {
				if _, err := w.Apply(ctx, ops); err != nil {
					t.Fatal(err)
				}
				ops = ops[:0]
			}
		}
	}
	if _, err := w.Apply(ctx, ops); err != nil {
		t.Fatal(err)
	}
	all := liveEvents(t, w.Snapshot())
	if len(all) != 4*perDay || w.Snapshot().EventsFrom != 0 {
		t.Fatalf("%d events, window from %d", len(all), w.Snapshot().EventsFrom)
	}
	before, seq := eventBytes(w), w.Snapshot().Seq
	last := int64(4 * perDay)

	// Errors first: through not assigned yet.
	if _, _, err := w.DropEventsBefore(t0+2*day, last+1); err == nil {
		t.Fatal("drop through an unassigned event_id accepted")
	}
	chunks, rows, err := w.DropEventsBefore(t0+2*day, last)
	if err != nil {
		t.Fatal(err)
	}
	// Chunk 0 (rows 0..65535) is all before day 2: freed. Chunk 1 (up to
	// row 131071) straddles day 2: its day-1 rows are deleted only.
	if chunks != 1 || rows != 2*perDay {
		t.Fatalf("dropped %d chunks, %d rows; want 1 chunk, %d rows", chunks, rows, 2*perDay)
	}
	s := w.Snapshot()
	if s.EventsFrom != t0+2*day || s.EventsThrough != last || s.Seq != seq {
		t.Fatalf("window [%d, %d] seq %d", s.EventsFrom, s.EventsThrough, s.Seq)
	}
	after := eventBytes(w)
	if after >= before*7/8 {
		t.Fatalf("event memory %d → %d: a chunk of 4 was not freed", before, after)
	}
	t.Logf("event memory %d → %d bytes after freeing 1 of 4 chunks (%v)", before, after, w.Memory()[engine.Events])
	mem := liveEvents(t, s)
	for id, at := range all {
		_, in := mem[id]
		if in == s.EventsCovered(at, id) {
			t.Fatalf("event %d at %d: in memory %v, covered %v", id, at, in, s.EventsCovered(at, id))
		}
	}
	if int64(len(mem)) != s.Events.Live {
		t.Fatalf("%d live rows, Live says %d", len(mem), s.Events.Live)
	}
	n, err := s.Count(ctx, engine.Query{Table: engine.Events})
	if err != nil || n != 2*perDay {
		t.Fatalf("count %d, %v", n, err)
	}

	// The window never shrinks.
	if _, _, err := w.DropEventsBefore(t0+day, last); err == nil {
		t.Fatal("shrinking horizon accepted")
	}
	if _, _, err := w.DropEventsBefore(t0+2*day, last-1); err == nil {
		t.Fatal("shrinking through accepted")
	}

	// A late event of day 0 arrives: above through, it stays in memory.
	if _, err := w.Apply(ctx, []engine.Op{trackAt(5, "late", t0+day/2)}); err != nil {
		t.Fatal(err)
	}
	late := last + 1
	if at, ok := liveEvents(t, w.Snapshot())[late]; !ok || at != t0+day/2 {
		t.Fatalf("late event not in memory")
	}

	// The window survives export and restore: same rows, same window.
	x := w.Export()
	if x.EventsFrom != t0+2*day || x.EventsThrough != last {
		t.Fatalf("export window [%d, %d]", x.EventsFrom, x.EventsThrough)
	}
	e2 := engine.New(engine.Options{})
	r, err := e2.NewRestorer("acme", x.Counters)
	if err != nil {
		t.Fatal(err)
	}
	if err := x.CopyTo(ctx, r); err != nil {
		t.Fatal(err)
	}
	w2, err := r.Finish()
	if err != nil {
		t.Fatal(err)
	}
	if s2 := w2.Snapshot(); s2.EventsFrom != x.EventsFrom || s2.EventsThrough != x.EventsThrough ||
		!mapsEqual(liveEvents(t, s2), liveEvents(t, w.Snapshot())) {
		t.Fatalf("restored window [%d, %d] or rows differ", s2.EventsFrom, s2.EventsThrough)
	}
	bad := x.Counters
	bad.EventsThrough = bad.NextEvent
	if _, err := engine.New(engine.Options{}).NewRestorer("acme", bad); err == nil {
		t.Fatal("restorer accepted a window past the last event")
	}

	// The next drop covers day 2 and the late event: chunk 1 is now the
	// prefix and all covered, so it is freed; chunk 2 straddles day 3.
	chunks, rows, err = w.DropEventsBefore(t0+3*day, late)
	if err != nil {
		t.Fatal(err)
	}
	if chunks != 1 || rows != perDay+1 {
		t.Fatalf("second drop: %d chunks, %d rows; want 1, %d", chunks, rows, perDay+1)
	}
	s = w.Snapshot()
	mem = liveEvents(t, s)
	if len(mem) != perDay {
		t.Fatalf("%d events in memory, want day 3's %d", len(mem), perDay)
	}
	for id, at := range mem {
		if at < t0+3*day {
			t.Fatalf("event %d at %d is still in memory", id, at)
		}
	}

	// The per-person index visits exactly each person's live rows.
	pid, _ := s.Events.Schema.Lookup(engine.ColPersonID)
	idc, _ := s.Events.Schema.Lookup(engine.ColEventID)
	want := map[int64][]int64{}
	for _, c := range s.Events.Chunks {
		for row := 0; row < c.Rows; row++ {
			if c.Del != nil && c.Del.Get(row) {
				continue
			}
			p, _ := c.Col(pid.Index).Int(row)
			id, _ := c.Col(idc.Index).Int(row)
			want[p] = append(want[p], id)
		}
	}
	for p := int64(1); p <= 50; p++ {
		var got []int64
		s.PersonEvents(uint32(p), func(c *column.Chunk, row int) bool {
			id, _ := c.Col(idc.Index).Int(row)
			got = append(got, id)
			return true
		})
		slices.Sort(got)
		slices.Sort(want[p])
		if !slices.Equal(got, want[p]) {
			t.Fatalf("person %d: index visits %d rows, %d live", p, len(got), len(want[p]))
		}
	}
}

func mapsEqual(a, b map[int64]int64) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// TestDropEventsKeepsPrefix checks that a chunk that cannot go (it holds
// an event inside the window) keeps every later chunk in memory, their
// covered rows deleted: the per-person index needs dropped slots to be a
// prefix.
func TestDropEventsKeepsPrefix(t *testing.T) {
	ctx := context.Background()
	w := engine.NewWorkspace("acme", identity.DefaultRules())
	var ops []engine.Op
	for i := range int64(3 * column.ChunkRows) {
		at := t0 + i
		if i == 10 {
			at = t0 + 10*day // far ahead: pins chunk 0
		}
		ops = append(ops, trackAt(int(i%50), "view", at))
	}
	if _, err := w.Apply(ctx, ops); err != nil {
		t.Fatal(err)
	}
	chunks, rows, err := w.DropEventsBefore(t0+day, 3*column.ChunkRows)
	if err != nil {
		t.Fatal(err)
	}
	if chunks != 0 || rows != 3*column.ChunkRows-1 {
		t.Fatalf("dropped %d chunks, %d rows; want 0 chunks, %d rows", chunks, rows, 3*column.ChunkRows-1)
	}
	if s := w.Snapshot(); s.Events.Live != 1 || len(s.Events.Chunks) != 3 {
		t.Fatalf("%d live rows in %d chunks", s.Events.Live, len(s.Events.Chunks))
	}
}
