package storage

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/cohortdb/cohort/engine"
	"github.com/cohortdb/cohort/engine/column"
	"github.com/cohortdb/cohort/engine/identity"
)

const dayUS = int64(24 * time.Hour / time.Microsecond)

// windowOps returns n track operations spread in time order over days
// days from t0, one in every lateEvery arriving late (a random earlier
// day).
func windowOps(r *rand.Rand, n, days, lateEvery int) []engine.Op {
	ops := make([]engine.Op, n)
	for i := range ops {
		at := t0 + int64(i)*(int64(days)*dayUS/int64(n))
		if lateEvery > 0 && i%lateEvery == 0 && at > t0+dayUS {
			at = t0 + r.Int64N(at-t0)
		}
		ops[i] = engine.Op{Kind: engine.OpTrack, IDs: []identity.ID{{Type: "user_id", Value: fmt.Sprint("u", r.IntN(500))}},
			Event: []string{"view", "buy", "open"}[r.IntN(3)], At: at,
			Props: []engine.Field{{Name: "n", Value: column.Int(int64(i))}}}
	}
	return ops
}

// allEvents returns event_id → "ts name n" of every event of w, for a
// workspace that keeps everything in memory.
func allEvents(t *testing.T, w *engine.Workspace) map[int64]string {
	t.Helper()
	out := map[int64]string{}
	err := engine.ForEachRow(context.Background(), w.Snapshot().Events, func(v []column.Value) error {
		out[v[0].I] = fmt.Sprintf("%d %s %v", v[3].I, v[2].S, v[5])
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// unionEvents returns the events of w as a reader of the window sees them:
// those in memory, plus those on disk the window excludes from memory. It
// fails on an event in both places or twice on disk.
func unionEvents(t *testing.T, w *engine.Workspace, s *Store) map[int64]string {
	t.Helper()
	snap := w.Snapshot()
	out := map[int64]string{}
	err := engine.ForEachRow(context.Background(), snap.Events, func(v []column.Value) error {
		if snap.EventsCovered(v[3].I, v[0].I) {
			t.Fatalf("event %d at %d is in memory, outside the window [%d, %d]", v[0].I, v[3].I, snap.EventsFrom, snap.EventsThrough)
		}
		out[v[0].I] = fmt.Sprintf("%d %s %v", v[3].I, v[2].S, v[5])
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	err = s.ScanEvents(context.Background(), w.Name(), time.Unix(0, 0), time.Unix(1<<40, 0), func(cols []string, v []column.Value) error {
		if cols[0] != engine.ColEventID || cols[2] != engine.ColName || cols[3] != engine.ColTS || cols[5] != "n" {
			t.Fatalf("columns %v", cols)
		}
		if !snap.EventsCovered(v[3].I, v[0].I) {
			return nil // the memory copy is the one read
		}
		if _, dup := out[v[0].I]; dup {
			t.Fatalf("event %d read twice from disk", v[0].I)
		}
		out[v[0].I] = fmt.Sprintf("%d %s %v", v[3].I, v[2].S, v[5])
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func sameEvents(t *testing.T, what string, got, want map[int64]string) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d events, want %d", what, len(got), len(want))
	}
	for id, v := range want {
		if got[id] != v {
			t.Fatalf("%s: event %d is %q, want %q", what, id, got[id], v)
		}
	}
}

// TestEventWindowRestart runs a node with a two-day event window: events
// of older days are sealed and dropped from memory at each snapshot, late
// events arrive below the horizon, the node crashes after a drop it did
// not snapshot and restarts from its snapshot plus the log. At every step
// memory plus the disk partitions hold every event exactly once.
func TestEventWindowRestart(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	r := rand.New(rand.NewPCG(5, 6))
	ops := windowOps(r, 3*column.ChunkRows, 6, 97)
	ref := engine.NewWorkspace("acme", identity.DefaultRules())
	applyLog(t, rand.New(rand.NewPCG(1, 1)), ref, ops, 0, len(ops))
	want := allEvents(t, ref)
	wantAt := func(n int) map[int64]string { // the events of ops[:n]
		out := map[int64]string{}
		for id, v := range want {
			if id <= int64(n) {
				out[id] = v
			}
		}
		return out
	}

	now := time.UnixMicro(t0 + 4*dayUS + dayUS/2) // day 4, 12:00
	opts := Options{Logger: quiet(), EventWindow: 2 * 24 * time.Hour, Now: func() time.Time { return now }}
	s1, err := Open(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	e1 := engine.New(engine.Options{})
	if _, err := s1.Restore(ctx, e1); err != nil {
		t.Fatal(err)
	}
	w1, _ := e1.CreateWorkspace("acme")
	a, b, c := len(ops)/2, len(ops)*3/4, len(ops)*7/8
	applyLog(t, rand.New(rand.NewPCG(2, 2)), w1, ops, 0, a)
	if err := s1.SnapshotNow(ctx); err != nil {
		t.Fatal(err)
	}
	// Days 0 and 1 ended before now − 2 days (day 2, 12:00).
	snap := w1.Snapshot()
	if snap.EventsFrom != t0+2*dayUS || snap.EventsThrough != int64(a) {
		t.Fatalf("window [%d, %d], want [%d, %d]", snap.EventsFrom, snap.EventsThrough, t0+2*dayUS, a)
	}
	for _, ch := range snap.Events.BySlot[:1] {
		if ch != nil {
			t.Fatal("the first chunk (days 0-1) is still in memory")
		}
	}
	sameEvents(t, "after the first drop", unionEvents(t, w1, s1), wantAt(a))

	// More events, late ones below the horizon among them; time moves on
	// a day: the next snapshot writes them (with the window of the first
	// drop), then seals day 2 and the late events and drops them.
	applyLog(t, rand.New(rand.NewPCG(3, 3)), w1, ops, a, b)
	sameEvents(t, "late events", unionEvents(t, w1, s1), wantAt(b))
	now = now.Add(24 * time.Hour)
	if err := s1.SnapshotNow(ctx); err != nil {
		t.Fatal(err)
	}
	snap = w1.Snapshot()
	if snap.EventsFrom != t0+3*dayUS || snap.EventsThrough != int64(b) {
		t.Fatalf("window [%d, %d], want [%d, %d]", snap.EventsFrom, snap.EventsThrough, t0+3*dayUS, b)
	}
	sameEvents(t, "after the second drop", unionEvents(t, w1, s1), wantAt(b))
	applyLog(t, rand.New(rand.NewPCG(4, 4)), w1, ops, b, c) // never snapshotted

	// Crash. The second life restores the last snapshot (written before
	// the second drop: it still holds day 2, with the first window) and
	// replays the log after it.
	s2, err := Open(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	e2 := engine.New(engine.Options{})
	seqs, err := s2.Restore(ctx, e2)
	if err != nil {
		t.Fatal(err)
	}
	if seqs["acme"] != uint64(b) {
		t.Fatalf("restored through log sequence %d, want %d", seqs["acme"], b)
	}
	w2, _ := e2.Workspace("acme")
	if s := w2.Snapshot(); s.EventsFrom != t0+2*dayUS || s.EventsThrough != int64(a) {
		t.Fatalf("restored window [%d, %d], want the first one", s.EventsFrom, s.EventsThrough)
	}
	sameEvents(t, "restored", unionEvents(t, w2, s2), wantAt(b))
	applyLog(t, rand.New(rand.NewPCG(5, 5)), w2, ops, b, len(ops)) // the replay, and the rest
	sameEvents(t, "replayed", unionEvents(t, w2, s2), want)

	// The window moves again after the restart: a snapshot seals what the
	// replay brought below the horizon and drops it.
	now = now.Add(24 * time.Hour)
	if err := s2.SnapshotNow(ctx); err != nil {
		t.Fatal(err)
	}
	if s := w2.Snapshot(); s.EventsFrom != t0+4*dayUS || s.EventsThrough != int64(len(ops)) {
		t.Fatalf("window [%d, %d] after the restart", s.EventsFrom, s.EventsThrough)
	}
	sameEvents(t, "after a drop past the restart", unionEvents(t, w2, s2), want)

	// A third life from that snapshot needs no log: the same events.
	s3, _ := Open(dir, opts)
	e3 := engine.New(engine.Options{})
	if _, err := s3.Restore(ctx, e3); err != nil {
		t.Fatal(err)
	}
	w3, _ := e3.Workspace("acme")
	// The snapshot was written before the drop of its own pass: the
	// window moves at the next one, with nothing new to snapshot.
	if err := s3.SnapshotNow(ctx); err != nil {
		t.Fatal(err)
	}
	if s := w3.Snapshot(); s.EventsFrom != t0+4*dayUS {
		t.Fatalf("window from %d after the third start", s.EventsFrom)
	}
	sameEvents(t, "third life", unionEvents(t, w3, s3), want)
	var inMem []int64
	_ = engine.ForEachRow(ctx, w3.Snapshot().Events, func(v []column.Value) error {
		inMem = append(inMem, v[3].I)
		return nil
	})
	if slices.Min(inMem) < t0+4*dayUS {
		t.Fatalf("an event of before the window is in memory after the third start")
	}
}
