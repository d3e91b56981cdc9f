package engine_test

import (
	"context"
	"math/rand/v2"
	"testing"

	"github.com/cohortdb/cohort/engine"
	"github.com/cohortdb/cohort/engine/column"
	"github.com/cohortdb/cohort/engine/enginetest"
	"github.com/cohortdb/cohort/engine/identity"
)

// copyChunks feeds an export into rs the bulk way: every table as sealed
// chunks (Schema, Chunk), the identifiers with NextID.
func copyChunks(ctx context.Context, t *testing.T, x *engine.Export, rs *engine.Restorer) {
	t.Helper()
	for _, tb := range x.Tables() {
		if err := rs.Columns(tb.Name, engine.Specs(tb)); err != nil {
			t.Fatal(err)
		}
		s, err := rs.Schema(tb.Name)
		if err != nil {
			t.Fatal(err)
		}
		var bs []*column.Builder
		n := 0
		flush := func() {
			if n == 0 {
				return
			}
			c := &column.Chunk{Rows: n, Cols: make([]*column.Vec, len(bs))}
			for i, b := range bs {
				c.Cols[i] = b.Seal(n)
			}
			if err := rs.Chunk(tb.Name, c); err != nil {
				t.Fatal(err)
			}
			n = 0
		}
		reset := func() {
			bs = make([]*column.Builder, len(s.Cols))
			for i, d := range s.Cols {
				bs[i] = column.NewBuilder(d.Type)
			}
		}
		reset()
		if err := engine.ForEachRow(ctx, tb, func(vals []column.Value) error {
			for i, v := range vals {
				bs[i].Append(v, s.Cols[i].Dict)
			}
			if n++; n == column.ChunkRows {
				flush()
				reset()
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		flush()
	}
	g := x.Graph()
	for _, m := range g.MergeLog() {
		if err := rs.Merge(m); err != nil {
			t.Fatal(err)
		}
	}
	if err := g.ExportAll(rs.NextID); err != nil {
		t.Fatal(err)
	}
}

// TestChunkRestoreRoundTrip is TestExportRestoreRoundTrip through the bulk
// API: same rows, counters and identities, and the same later operations
// reach the same state.
func TestChunkRestoreRoundTrip(t *testing.T) {
	ctx := context.Background()
	sizes := []int{0, 3000, column.ChunkRows + 5000}
	if testing.Short() {
		sizes = sizes[:2]
	}
	for i, n := range sizes {
		seed := uint64(i + 11)
		r := rand.New(rand.NewPCG(seed, 7))
		pool := enginetest.NewPool(max(n/40, 5))
		w, err := engine.New(engine.Options{}).CreateWorkspace("acme")
		if err != nil {
			t.Fatal(err)
		}
		logSeq, err := enginetest.Apply(ctx, r, w, enginetest.Ops(r, pool, n, t0, 150), 0)
		if err != nil {
			t.Fatal(err)
		}
		x := w.Export()
		rs, err := engine.New(engine.Options{}).NewRestorer("acme", x.Counters)
		if err != nil {
			t.Fatal(err)
		}
		copyChunks(ctx, t, x, rs)
		w2, err := rs.Finish()
		if err != nil {
			t.Fatal(err)
		}
		want, _ := enginetest.Dump(ctx, w, pool)
		got, _ := enginetest.Dump(ctx, w2, pool)
		if d := enginetest.Diff(got, want); d != "" {
			t.Fatalf("n=%d: restored workspace differs: %s", n, d)
		}
		later := enginetest.Ops(r, pool, n/2+200, t0+int64(n+1)*1000, 100)
		r1, r2 := rand.New(rand.NewPCG(seed, 9)), rand.New(rand.NewPCG(seed, 9))
		if _, err := enginetest.Apply(ctx, r1, w, later, logSeq); err != nil {
			t.Fatal(err)
		}
		if _, err := enginetest.Apply(ctx, r2, w2, later, logSeq); err != nil {
			t.Fatal(err)
		}
		want, _ = enginetest.Dump(ctx, w, pool)
		got, _ = enginetest.Dump(ctx, w2, pool)
		if d := enginetest.Diff(got, want); d != "" {
			t.Fatalf("n=%d: after the same later operations the restored workspace differs: %s", n, d)
		}
	}
}

// TestChunkRestoreRejects checks the bulk guards: duplicate profiles,
// unallocated persons, event ids out of range, identifiers listed twice.
func TestChunkRestoreRejects(t *testing.T) {
	e := engine.New(engine.Options{})
	profSpecs := []engine.ColumnSpec{{"person_id", column.TypeInt}, {"created_at", column.TypeTimestamp}, {"first_seen", column.TypeTimestamp}, {"last_seen", column.TypeTimestamp}, {"updated_at", column.TypeTimestamp}}
	ints := func(v ...int64) *column.Vec { return column.SealInts(column.TypeInt, v, nil, len(v)) }
	for name, c := range map[string]*column.Chunk{
		"duplicate person":   {Rows: 2, Cols: []*column.Vec{ints(1, 1)}},
		"unallocated person": {Rows: 2, Cols: []*column.Vec{ints(1, 3)}},
		"missing person":     {Rows: 2},
	} {
		rs, _ := e.NewRestorer("acme", engine.Counters{NextEvent: 5, Persons: 2})
		if err := rs.Columns(engine.Profiles, profSpecs); err != nil {
			t.Fatal(err)
		}
		if err := rs.Chunk(engine.Profiles, c); err == nil {
			t.Errorf("%s accepted", name)
		}
	}
	rs, _ := e.NewRestorer("acme", engine.Counters{NextEvent: 5, Persons: 2})
	if _, err := rs.Schema(engine.Profiles); err == nil {
		t.Fatal("schema before columns")
	}
	rs, _ = e.NewRestorer("acme", engine.Counters{NextEvent: 5, Persons: 2})
	evSpecs := []engine.ColumnSpec{{"event_id", column.TypeInt}, {"person_id", column.TypeInt}, {"name", column.TypeString}, {"ts", column.TypeTimestamp}, {"received_at", column.TypeTimestamp}}
	if err := rs.Columns(engine.Events, evSpecs); err != nil {
		t.Fatal(err)
	}
	if err := rs.Chunk(engine.Events, &column.Chunk{Rows: 2, Cols: []*column.Vec{ints(1, 5)}}); err == nil {
		t.Error("event id past next_event accepted")
	}
	rs, _ = e.NewRestorer("acme", engine.Counters{NextEvent: 5, Persons: 2})
	id := identity.ID{Type: identity.TypeUserID, Value: "u1"}
	if err := rs.NextID(id, 1, identity.IDAttached); err != nil {
		t.Fatal(err)
	}
	if err := rs.NextID(id, 2, identity.IDAttached); err == nil {
		t.Error("identifier listed twice accepted")
	}
}
