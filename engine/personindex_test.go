package engine_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/cohortdb/cohort/engine"
	"github.com/cohortdb/cohort/engine/column"
	"github.com/cohortdb/cohort/engine/enginetest"
	"github.com/cohortdb/cohort/engine/identity"
)

// eventRows is the oracle for PersonEvents: a plain scan of s's events,
// grouping the RowIDs of live rows by the canonical person of their
// person_id (so a canonical person gets the rows of every member).
func eventRows(s *engine.Snapshot) map[uint32][]uint64 {
	pc, _ := s.Events.Schema.Lookup(engine.ColPersonID)
	out := map[uint32][]uint64{}
	for _, c := range s.Events.Chunks {
		v := c.Col(pc.Index)
		for r := 0; r < c.Rows; r++ {
			if c.Del != nil && c.Del.Get(r) {
				continue
			}
			q, ok := v.Int(r)
			if !ok {
				continue
			}
			p := s.Graph.Canonical(uint32(q))
			out[p] = append(out[p], uint64(c.Slot)<<column.ChunkBits|uint64(r))
		}
	}
	return out
}

// checkPersonEvents compares PersonEvents for every person id of s (merged
// and erased ones included, and two unknown ids) with the oracle. It
// returns the number of rows visited.
func checkPersonEvents(s *engine.Snapshot) (int, error) {
	want := eventRows(s)
	var got []uint64
	visited := 0
	for p := 0; p <= s.Graph.Persons()+1; p++ {
		got = got[:0]
		s.PersonEvents(uint32(p), func(c *column.Chunk, r int) bool {
			got = append(got, uint64(c.Slot)<<column.ChunkBits|uint64(r))
			return true
		})
		slices.Sort(got)
		w := want[s.Graph.Canonical(uint32(p))] // scanned in row order: sorted
		if p == 0 || p > s.Graph.Persons() {
			w = nil
		}
		if !slices.Equal(got, w) {
			return 0, fmt.Errorf("seq %d: person %d (canonical %d): PersonEvents gave %d rows, the scan %d (first got %v, want %v)",
				s.Seq, p, s.Graph.Canonical(uint32(p)), len(got), len(w), head(got), head(w))
		}
		visited += len(got)
		if len(w) > 1 { // stopping early stops at once
			n := 0
			s.PersonEvents(uint32(p), func(*column.Chunk, int) bool { n++; return false })
			if n != 1 {
				return 0, fmt.Errorf("person %d: fn returned false but was called %d times", p, n)
			}
		}
	}
	return visited, nil
}

func head(s []uint64) []uint64 { return s[:min(len(s), 4)] }

// indexOps returns n random operations weighted towards events: tracks of
// one or two identifiers (the second may merge), identifies, aliases, and a
// rare delete; only tracks of one identifier if tracksOnly.
func indexOps(r *rand.Rand, pool *enginetest.Pool, n int, t int64, tracksOnly bool) []engine.Op {
	names := []string{"page", "signup", "purchase", "login", "add_to_cart", "logout"}
	pick := func() identity.ID { return pool.IDs[r.IntN(len(pool.IDs))] }
	ops := make([]engine.Op, 0, n)
	for i := range n {
		at := t + int64(i)*1000
		op := engine.Op{At: at, Source: "m" + strconv.FormatInt(at, 36)}
		switch k := r.IntN(1000); {
		case tracksOnly:
			op.Kind, op.IDs, op.Event = engine.OpTrack, []identity.ID{pick()}, names[r.IntN(len(names))]
		case r.IntN(5000) == 0:
			op.Kind, op.IDs = engine.OpDelete, []identity.ID{pick()}
		case k < 820:
			op.Kind, op.IDs, op.Event = engine.OpTrack, []identity.ID{pick()}, names[r.IntN(len(names))]
			if r.IntN(20) == 0 {
				op.IDs = append(op.IDs, pick())
			}
			if r.IntN(4) == 0 {
				op.Props = []engine.Field{{Name: "amount", Value: column.Int(int64(r.IntN(100)))}}
			}
		case k < 960:
			op.Kind, op.IDs = engine.OpIdentify, []identity.ID{pick()}
			op.Traits = []engine.Field{{Name: "plan", Value: column.String("p" + strconv.Itoa(r.IntN(4)))}}
			if r.IntN(3) == 0 {
				op.IDs = append(op.IDs, pick())
			}
		default:
			op.Kind, op.IDs = engine.OpAlias, []identity.ID{pick(), pick()}
		}
		ops = append(ops, op)
	}
	return ops
}

// TestPersonEventsAgainstScan applies random identify/track/alias/delete
// batches across several sealed (and clustered, so permuted) chunks while
// readers check every snapshot they see; then checks the index of the same
// state restored row by row and chunk by chunk, and after more operations
// on the restored workspaces (sealing the tail they restored).
func TestPersonEventsAgainstScan(t *testing.T) {
	ctx := context.Background()
	n, phases := 55_000, 3 // ≈ 45k events a phase: 2 seals, at different points of a batch
	if testing.Short() {
		n = 45_000
	}
	r := rand.New(rand.NewPCG(3, 5))
	pool := enginetest.NewPool(700)
	w, err := engine.New(engine.Options{}).CreateWorkspace("acme")
	if err != nil {
		t.Fatal(err)
	}

	ops := make([][]engine.Op, phases)
	for ph := range ops {
		ops[ph] = indexOps(r, pool, n, t0+int64(ph*n)*1000, false)
	}
	var done atomic.Bool
	var wg sync.WaitGroup
	var checked, maxLive, big atomic.Int64
	errs := make(chan error, 2)
	wg.Add(1)
	go func() { // a concurrent reader: every snapshot it takes is self-consistent
		defer wg.Done()
		for !done.Load() {
			s := w.Snapshot()
			if _, err := checkPersonEvents(s); err != nil {
				errs <- fmt.Errorf("concurrent reader: %w", err)
				return
			}
			checked.Add(1)
			if s.Events.Live > maxLive.Load() {
				maxLive.Store(s.Events.Live)
			}
			if s.Events.Live > column.ChunkRows {
				big.Add(1)
			}
		}
	}()
	var logSeq uint64
	for ph := range phases {
		if logSeq, err = enginetest.Apply(ctx, r, w, ops[ph], logSeq); err != nil {
			t.Fatal(err)
		}
		if _, err := checkPersonEvents(w.Snapshot()); err != nil {
			t.Fatalf("phase %d: %v", ph, err)
		}
	}
	// Top up with the events of one person so that the restored events
	// (compact: live rows only) end in a tail a few thousand rows short of
	// a chunk, which the operations after the restore then seal.
	live := w.Snapshot().Events.Live
	var last identity.ID
	for _, id := range pool.IDs {
		if _, ok := w.Snapshot().Graph.Lookup(id); ok {
			last = id
		}
	}
	topUp := make([]engine.Op, (2*column.ChunkRows-3000-int(live%column.ChunkRows))%column.ChunkRows)
	for i := range topUp {
		topUp[i] = engine.Op{Kind: engine.OpTrack, IDs: []identity.ID{last}, Event: "page", At: t0 + int64(phases*n+i)*1000}
	}
	if logSeq, err = enginetest.Apply(ctx, r, w, topUp, logSeq); err != nil {
		t.Fatal(err)
	}
	done.Store(true)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if checked.Load() == 0 {
		t.Fatal("the concurrent reader checked no snapshot")
	}

	s := w.Snapshot()
	merged, erased := 0, 0
	for p := 1; p <= s.Graph.Persons(); p++ {
		if c := s.Graph.Canonical(uint32(p)); c != uint32(p) {
			merged++
		} else if len(s.Graph.Identifiers(uint32(p))) == 0 {
			erased++
		}
	}
	if sealed := len(s.Events.BySlot) - 1; sealed < 2 || merged == 0 || erased == 0 {
		t.Fatalf("workload too tame: %d sealed chunks, %d merged persons, %d erased", sealed, merged, erased)
	}
	t.Logf("%d events in %d chunks, %d persons (%d merged, %d erased), %d concurrent checks (%d past the first seal, up to %d events)",
		s.Events.Live, len(s.Events.Chunks), s.Graph.Persons(), merged, erased, checked.Load(), big.Load(), maxLive.Load())

	x := w.Export()
	for _, path := range []string{"rows", "chunks"} {
		rs, err := engine.New(engine.Options{}).NewRestorer("acme", x.Counters)
		if err != nil {
			t.Fatal(err)
		}
		if path == "rows" {
			if err := x.CopyTo(ctx, rs); err != nil {
				t.Fatal(err)
			}
		} else {
			copyChunks(ctx, t, x, rs)
		}
		w2, err := rs.Build()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := checkPersonEvents(w2.Snapshot()); err != nil {
			t.Fatalf("restored from %s: %v", path, err)
		}
		restored := w2.Snapshot().Events
		tail := restored.Chunks[len(restored.Chunks)-1].Rows // restored tables are compact: a short last chunk is the tail
		if tail != column.ChunkRows-3000 {
			t.Fatalf("restored from %s: a tail of %d rows, want %d", path, tail, column.ChunkRows-3000)
		}
		more := indexOps(rand.New(rand.NewPCG(9, 9)), pool, 5000, t0+int64(phases*n+len(topUp))*1000, true)
		if _, err := enginetest.Apply(ctx, r, w2, more, logSeq); err != nil {
			t.Fatal(err)
		}
		s2 := w2.Snapshot()
		if len(s2.Events.BySlot) <= len(restored.BySlot) {
			t.Fatalf("restored from %s: the restored tail was not sealed (%d slots, %d restored)", path, len(s2.Events.BySlot), len(restored.BySlot))
		}
		if _, err := checkPersonEvents(s2); err != nil {
			t.Fatalf("restored from %s, then applied more: %v", path, err)
		}
	}
}

// TestPersonEventsMergedGroups: events recorded for anonymous persons before
// they merge into an identified one are visited from any member, and only
// once.
func TestPersonEventsMergedGroups(t *testing.T) {
	ctx := context.Background()
	w, err := engine.New(engine.Options{}).CreateWorkspace("acme")
	if err != nil {
		t.Fatal(err)
	}
	uid := identity.ID{Type: identity.TypeUserID, Value: "u1"}
	anon := func(i int) identity.ID { return identity.ID{Type: "anonymous_id", Value: "a" + strconv.Itoa(i)} }
	var ops []engine.Op
	at := t0
	for i := range 3 { // three anonymous persons, two events each
		for range 2 {
			at += 1000
			ops = append(ops, engine.Op{Kind: engine.OpTrack, IDs: []identity.ID{anon(i)}, Event: "page", At: at})
		}
	}
	at += 1000
	ops = append(ops, engine.Op{Kind: engine.OpTrack, IDs: []identity.ID{uid}, Event: "signup", At: at})
	if _, err := w.Apply(ctx, ops); err != nil {
		t.Fatal(err)
	}
	ops = ops[:0]
	for i := range 3 {
		at += 1000
		ops = append(ops, engine.Op{Kind: engine.OpAlias, IDs: []identity.ID{uid, anon(i)}, At: at})
	}
	at += 1000
	ops = append(ops, engine.Op{Kind: engine.OpTrack, IDs: []identity.ID{anon(1)}, Event: "buy", At: at})
	if _, err := w.Apply(ctx, ops); err != nil {
		t.Fatal(err)
	}
	s := w.Snapshot()
	p, _ := s.Graph.Lookup(uid)
	idCol, _ := s.Events.Schema.Lookup(engine.ColEventID)
	for q := 1; q <= s.Graph.Persons(); q++ {
		var ids []int64
		s.PersonEvents(uint32(q), func(c *column.Chunk, r int) bool {
			id, _ := c.Col(idCol.Index).Int(r)
			ids = append(ids, id)
			return true
		})
		slices.Sort(ids)
		if want := []int64{1, 2, 3, 4, 5, 6, 7, 8}; !slices.Equal(ids, want) || s.Graph.Canonical(uint32(q)) != p {
			t.Errorf("person %d (canonical %d, want %d): events %v, want %v", q, s.Graph.Canonical(uint32(q)), p, ids, want)
		}
	}
	// Erasing the group hides every member's events.
	if _, err := w.Apply(ctx, []engine.Op{{Kind: engine.OpDelete, IDs: []identity.ID{anon(2)}, At: at + 1000}}); err != nil {
		t.Fatal(err)
	}
	for q := 1; q <= s.Graph.Persons(); q++ {
		w.Snapshot().PersonEvents(uint32(q), func(c *column.Chunk, r int) bool {
			t.Errorf("person %d: erased event row %d visited", q, r)
			return false
		})
	}
	// The snapshot taken before still sees them.
	if _, err := checkPersonEvents(s); err != nil {
		t.Fatal(err)
	}
}

// BenchmarkPersonEvents visits the events of a random person in a
// workspace of 1M persons and 10M events (10 a person on average, spread
// over every chunk), restored in bulk, and reports the index's memory per
// event. Persons 1..mergedUpTo are merged in groups of three ("merged":
// three chains of ~10 events each).
func BenchmarkPersonEvents(b *testing.B) {
	const persons, events, mergedUpTo = 1_000_000, 10_000_000, 99_999
	w := benchPersonWorkspace(b, persons, events, mergedUpTo)
	s := w.Snapshot()
	idx := w.Memory()[engine.Events]["_person_index"]
	b.Logf("index: %d bytes, %.2f B/event", idx, float64(idx)/events)
	for _, bc := range []struct {
		name string
		pick func(r *rand.Rand) uint32
	}{
		{"unmerged", func(r *rand.Rand) uint32 { return uint32(mergedUpTo + 1 + r.IntN(persons-mergedUpTo)) }},
		{"merged", func(r *rand.Rand) uint32 { return uint32(1 + 3*r.IntN(mergedUpTo/3)) }},
	} {
		b.Run(bc.name, func(b *testing.B) {
			r := rand.New(rand.NewPCG(1, 2))
			n := 0
			fn := func(*column.Chunk, int) bool { n++; return true }
			b.ReportAllocs()
			for b.Loop() {
				s.PersonEvents(bc.pick(r), fn)
			}
			b.ReportMetric(float64(idx)/events, "B/event")
			b.ReportMetric(float64(n)/float64(b.N), "events/op")
		})
	}
}

// benchPersonWorkspace restores a workspace of the given size through the
// bulk path: events with uniformly random persons, no profiles, persons
// 1..mergedUpTo merged in groups of three.
func benchPersonWorkspace(b *testing.B, persons, events, mergedUpTo int) *engine.Workspace {
	b.Helper()
	rs, err := engine.New(engine.Options{}).NewRestorer("bench", engine.Counters{NextEvent: int64(events) + 1, Persons: persons})
	if err != nil {
		b.Fatal(err)
	}
	specs := func(tbl string, cols ...engine.ColumnSpec) {
		if err := rs.Columns(tbl, cols); err != nil {
			b.Fatal(err)
		}
	}
	specs(engine.Profiles, engine.ColumnSpec{Name: engine.ColPersonID, Type: column.TypeInt}, engine.ColumnSpec{Name: engine.ColCreatedAt, Type: column.TypeTimestamp},
		engine.ColumnSpec{Name: engine.ColFirstSeen, Type: column.TypeTimestamp}, engine.ColumnSpec{Name: engine.ColLastSeen, Type: column.TypeTimestamp},
		engine.ColumnSpec{Name: engine.ColUpdatedAt, Type: column.TypeTimestamp})
	specs(engine.Events, engine.ColumnSpec{Name: engine.ColEventID, Type: column.TypeInt}, engine.ColumnSpec{Name: engine.ColPersonID, Type: column.TypeInt},
		engine.ColumnSpec{Name: engine.ColName, Type: column.TypeString}, engine.ColumnSpec{Name: engine.ColTS, Type: column.TypeTimestamp},
		engine.ColumnSpec{Name: engine.ColReceivedAt, Type: column.TypeTimestamp})
	specs(engine.Identities, engine.ColumnSpec{Name: engine.ColType, Type: column.TypeString}, engine.ColumnSpec{Name: engine.ColValue, Type: column.TypeString},
		engine.ColumnSpec{Name: engine.ColPersonID, Type: column.TypeInt}, engine.ColumnSpec{Name: engine.ColCreatedAt, Type: column.TypeTimestamp})
	r := rand.New(rand.NewPCG(7, 7))
	ids := make([]int64, column.ChunkRows)
	ps := make([]int64, column.ChunkRows)
	for first := 0; first < events; first += column.ChunkRows {
		n := min(column.ChunkRows, events-first)
		for i := range n {
			ids[i], ps[i] = int64(first+i+1), int64(1+r.IntN(persons))
		}
		c := &column.Chunk{Rows: n, Cols: []*column.Vec{
			column.SealInts(column.TypeInt, ids[:n], nil, n),
			column.SealInts(column.TypeInt, ps[:n], nil, n),
		}}
		if err := rs.Chunk(engine.Events, c); err != nil {
			b.Fatal(err)
		}
	}
	for p := 1; p+2 <= mergedUpTo; p += 3 {
		for _, from := range []int{p + 1, p + 2} {
			if err := rs.Merge(identity.Merge{From: uint32(from), Into: uint32(p)}); err != nil {
				b.Fatal(err)
			}
		}
	}
	w, err := rs.Build()
	if err != nil {
		b.Fatal(err)
	}
	return w
}
