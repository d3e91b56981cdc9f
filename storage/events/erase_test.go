package events

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/cohortdb/cohort/engine"
	"github.com/cohortdb/cohort/engine/identity"
)

// TestErase: the partitions holding an erased person's events are
// rewritten without them (a file of that person alone stays, empty, under
// its event-id range), the others are untouched, the per-day watermarks do
// not move (a reopened store seals nothing again), and every other event
// reads back as before.
func TestErase(t *testing.T) {
	ctx := context.Background()
	ws := engine.NewWorkspace("acme", identity.DefaultRules())
	var ops []engine.Op
	for i := range 48 { // days 0 and 1: u0..u3
		ops = append(ops, track(day0.Add(time.Duration(i)*time.Hour), []string{"u0", "u1", "u2", "u3"}[i%4], "e"))
	}
	if _, err := ws.Apply(ctx, ops); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Seal(ctx, ws.Snapshot().Events, day0.AddDate(0, 0, 2)); err != nil { // days 0 and 1
		t.Fatal(err)
	}
	// A late event of u1 on day 1: a second file of day 1, u1's alone.
	if _, err := ws.Apply(ctx, []engine.Op{track(day0.Add(24*time.Hour+time.Minute), "u1", "late")}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Seal(ctx, ws.Snapshot().Events, day0.AddDate(0, 0, 2)); err != nil {
		t.Fatal(err)
	}
	g := ws.Snapshot().Graph
	u1, _ := g.Lookup(identity.ID{Type: "user_id", Value: "u1"})
	u3, _ := g.Lookup(identity.ID{Type: "user_id", Value: "u3"})
	d1 := day0.AddDate(0, 0, 1)
	wm0, wm1 := s.Sealed(day0.Truncate(24*time.Hour)), s.Sealed(d1.Truncate(24*time.Hour))
	before := diskEvents(t, s, day0, day0.AddDate(0, 0, 2))
	names := func() []string {
		var out []string
		filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
			if err == nil && !d.IsDir() {
				out = append(out, p)
			}
			return nil
		})
		return out
	}
	nfiles := len(names())

	st, err := s.Erase(ctx, []uint32{u1, u3})
	if err != nil {
		t.Fatal(err)
	}
	if st.Files != 3 || st.Rewritten != 3 || st.Rows != 25 {
		t.Errorf("stats %+v, want 3 files rewritten, 25 events (12 + 12 + 1 late)", st)
	}
	after := diskEvents(t, s, day0, day0.AddDate(0, 0, 2))
	if len(after) != len(before)-25 {
		t.Errorf("%d events on disk, want %d", len(after), len(before)-25)
	}
	// What is left is exactly the others' events.
	var want []string
	mem := memEvents(t, ws, day0, day0.AddDate(0, 0, 2))
	if _, err := ws.Apply(ctx, []engine.Op{{Kind: engine.OpDelete, IDs: []identity.ID{{Type: "user_id", Value: "u1"}}, At: 1},
		{Kind: engine.OpDelete, IDs: []identity.ID{{Type: "user_id", Value: "u3"}}, At: 1}}); err != nil {
		t.Fatal(err)
	}
	want = memEvents(t, ws, day0, day0.AddDate(0, 0, 2))
	if !same(after, want) || len(mem) == len(want) {
		t.Errorf("after Erase:\n got %v\nwant %v", after, want)
	}
	if n := len(names()); n != nfiles {
		t.Errorf("%d files after Erase, want %d (rewritten in place, none removed)", n, nfiles)
	}
	s2, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if s2.Sealed(day0.Truncate(24*time.Hour)) != wm0 || s2.Sealed(d1.Truncate(24*time.Hour)) != wm1 {
		t.Errorf("watermarks moved: %d, %d; want %d, %d", s2.Sealed(day0), s2.Sealed(d1), wm0, wm1)
	}
	if n, err := s2.Seal(ctx, ws.Snapshot().Events, day0.AddDate(0, 0, 2)); err != nil || n != 0 {
		t.Errorf("Seal after Erase wrote %d (%v), want 0", n, err)
	}
	if st, err := s2.Erase(ctx, []uint32{u1, u3}); err != nil || st.Rewritten != 0 {
		t.Errorf("second Erase: %+v, %v", st, err)
	}
}
