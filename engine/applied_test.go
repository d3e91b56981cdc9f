package engine_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/cohortdb/cohort/engine"
	"github.com/cohortdb/cohort/engine/column"
	"github.com/cohortdb/cohort/engine/enginetest"
	"github.com/cohortdb/cohort/engine/identity"
)

// appliedCopy is what a hook copies out of an Applied.
type appliedCopy struct {
	snap                  *engine.Snapshot
	persons, gone, erased []uint32
	logSeq                uint64
}

func (a appliedCopy) String() string {
	return fmt.Sprintf("persons=%v gone=%v erased=%v", a.persons, a.gone, a.erased)
}

// recordApplied registers a hook on w that appends a copy of every Applied
// to the returned slice.
func recordApplied(w *engine.Workspace) *[]appliedCopy {
	var got []appliedCopy
	w.OnApplied(func(a engine.Applied) {
		got = append(got, appliedCopy{a.Snap, slices.Clone(a.Persons), slices.Clone(a.Gone), slices.Clone(a.Erased), a.LogSeq})
	})
	return &got
}

// TestAppliedScenarios checks the exact sets reported for each kind of
// batch.
func TestAppliedScenarios(t *testing.T) {
	ctx := context.Background()
	w, err := engine.New(engine.Options{}).CreateWorkspace("acme")
	if err != nil {
		t.Fatal(err)
	}
	got := recordApplied(w)
	var order []int
	w.OnApplied(func(engine.Applied) { order = append(order, 2) })
	uid := func(s string) identity.ID { return identity.ID{Type: identity.TypeUserID, Value: s} }
	anon := func(s string) identity.ID { return identity.ID{Type: "anonymous_id", Value: s} }
	at := func(s int) int64 { return t0 + int64(s)*1_000_000 }
	ids := func(v ...identity.ID) []identity.ID { return v }
	plan := []engine.Field{{Name: "plan", Value: column.String("pro")}}

	var logSeq uint64
	for _, step := range []struct {
		name                  string
		ops                   []engine.Op
		persons, gone, erased []uint32
		fromLog               bool
	}{
		{name: "identify creates", ops: []engine.Op{{Kind: engine.OpIdentify, IDs: ids(uid("u1")), Traits: plan, At: at(10)}},
			persons: []uint32{1}},
		{name: "track of a new and a known person", ops: []engine.Op{
			{Kind: engine.OpTrack, IDs: ids(anon("a2")), Event: "page", At: at(11)},
			{Kind: engine.OpTrack, IDs: ids(uid("u1")), Event: "page", At: at(12)},
			{Kind: engine.OpTrack, IDs: ids(uid("u1")), Event: "page", At: at(12)},
		}, persons: []uint32{1, 2}, fromLog: true},
		{name: "track inside first/last seen changes events only", ops: []engine.Op{
			{Kind: engine.OpTrack, IDs: ids(uid("u1")), Event: "page", At: at(11)},
		}, persons: []uint32{1}},
		{name: "track attaching an identifier", ops: []engine.Op{
			{Kind: engine.OpTrack, IDs: ids(uid("u1"), anon("a1")), Event: "page", At: at(13)},
		}, persons: []uint32{1}},
		{name: "alias of linked identifiers inside the seen range changes nothing", ops: []engine.Op{
			{Kind: engine.OpAlias, IDs: ids(uid("u1"), anon("a1")), At: at(12)},
		}},
		{name: "alias that moves last_seen", ops: []engine.Op{
			{Kind: engine.OpAlias, IDs: ids(uid("u1"), anon("a1")), At: at(20)},
		}, persons: []uint32{1}},
		{name: "alias that attaches a new identifier", ops: []engine.Op{
			{Kind: engine.OpAlias, IDs: ids(anon("a2"), anon("a3")), At: at(11)},
		}, persons: []uint32{2}},
		{name: "merge", ops: []engine.Op{
			{Kind: engine.OpTrack, IDs: ids(anon("a4")), Event: "page", At: at(21)},
			{Kind: engine.OpIdentify, IDs: ids(uid("u1"), anon("a2")), At: at(22)},
		}, persons: []uint32{1, 3}, gone: []uint32{2}},
		{name: "rejected operations only", ops: []engine.Op{
			{Kind: engine.OpTrack, IDs: ids(uid("u1")), At: at(23)},
			{Kind: engine.OpDelete, IDs: ids(uid("nobody")), At: at(23)},
		}},
		{name: "delete a merged group", ops: []engine.Op{
			{Kind: engine.OpTrack, IDs: ids(anon("a4")), Event: "page", At: at(24)},
			{Kind: engine.OpDelete, IDs: ids(anon("a3")), At: at(25)},
		}, persons: []uint32{3}, gone: []uint32{1}, erased: []uint32{1, 2}},
		{name: "created, touched and erased in one batch", ops: []engine.Op{
			{Kind: engine.OpIdentify, IDs: ids(uid("u5")), Traits: plan, At: at(26)},
			{Kind: engine.OpTrack, IDs: ids(anon("a5")), Event: "page", At: at(26)},
			{Kind: engine.OpIdentify, IDs: ids(uid("u5"), anon("a5")), At: at(27)},
			{Kind: engine.OpDelete, IDs: ids(anon("a5")), At: at(28)},
			{Kind: engine.OpTrack, IDs: ids(anon("a4")), Event: "page", At: at(29)},
		}, persons: []uint32{3}, gone: []uint32{4, 5}, erased: []uint32{4, 5}},
	} {
		before := len(*got)
		var err error
		if step.fromLog {
			logSeq += 10
			_, err = w.ApplyLogged(ctx, step.ops, logSeq)
		} else {
			_, err = w.Apply(ctx, step.ops)
		}
		if err != nil {
			t.Fatal(err)
		}
		if len(*got) != before+1 {
			t.Fatalf("%s: %d hook calls, want 1", step.name, len(*got)-before)
		}
		a := (*got)[before]
		want := appliedCopy{persons: step.persons, gone: step.gone, erased: step.erased}
		if !slices.Equal(a.persons, want.persons) || !slices.Equal(a.gone, want.gone) || !slices.Equal(a.erased, want.erased) {
			t.Errorf("%s: got %v, want %v", step.name, a, want)
		}
		if s := w.Snapshot(); a.snap != s || a.logSeq != s.LogSeq || a.logSeq != logSeq {
			t.Errorf("%s: Applied carries snapshot seq %d log %d, want the published seq %d log %d", step.name, a.snap.Seq, a.logSeq, s.Seq, logSeq)
		}
	}
	// A batch skipped as already applied fires nothing.
	before := len(*got)
	if _, err := w.ApplyLogged(ctx, []engine.Op{{Kind: engine.OpTrack, IDs: ids(anon("a4")), Event: "page", At: at(30)}}, logSeq); err != nil {
		t.Fatal(err)
	}
	if len(*got) != before {
		t.Error("a skipped batch fired the hooks")
	}
	if len(order) != len(*got) {
		t.Errorf("second hook called %d times, first %d", len(order), len(*got))
	}
}

// TestAppliedAgainstSnapshots applies random batches and derives, from the
// snapshots before and after each batch, which persons changed (profile
// values, events seen through the scan, identifiers), which stopped being
// canonical and which were erased; the hook must report exactly those.
func TestAppliedAgainstSnapshots(t *testing.T) {
	ctx := context.Background()
	n := 6000
	if testing.Short() {
		n = 2000
	}
	r := rand.New(rand.NewPCG(21, 4))
	pool := enginetest.NewPool(60)
	w, err := engine.New(engine.Options{}).CreateWorkspace("acme")
	if err != nil {
		t.Fatal(err)
	}
	got := recordApplied(w)
	ops := enginetest.Ops(r, pool, n, t0, 120)
	var merges, erasures, quiet int
	for len(ops) > 0 {
		k := min(len(ops), 1+r.IntN(60))
		s0 := w.Snapshot()
		if _, err := w.Apply(ctx, ops[:k]); err != nil {
			t.Fatal(err)
		}
		ops = ops[k:]
		s1 := w.Snapshot()
		a := (*got)[len(*got)-1]
		if a.snap != s1 {
			t.Fatal("Applied.Snap is not the published snapshot")
		}
		want := expectApplied(s0, s1)
		if !slices.Equal(a.persons, want.persons) || !slices.Equal(a.gone, want.gone) || !slices.Equal(a.erased, want.erased) {
			t.Fatalf("batch seq %d:\n got %v\nwant %v", s1.Seq, a, want)
		}
		for _, q := range a.gone {
			if _, found := slices.BinarySearch(a.erased, q); !found {
				merges++
			}
		}
		erasures += len(a.erased)
		if len(a.persons) == 0 {
			quiet++
		}
	}
	if merges == 0 || erasures == 0 {
		t.Fatalf("workload too tame: %d merges, %d erased persons", merges, erasures)
	}
	t.Logf("%d batches (%d changing no person), %d persons, %d merges, %d erased", len(*got), quiet, w.Snapshot().Graph.Persons(), merges, erasures)
}

// expectApplied derives an Applied's sets from the snapshots around a
// batch. A person is alive when it is canonical and has identifiers (erasure
// removes them all; every other person has one).
func expectApplied(s0, s1 *engine.Snapshot) appliedCopy {
	alive := func(s *engine.Snapshot, p uint32) bool {
		return int(p) <= s.Graph.Persons() && s.Graph.Canonical(p) == p && len(s.Graph.Identifiers(p)) > 0
	}
	ev0, ev1 := eventIDs(s0), eventIDs(s1)
	var out appliedCopy
	n0 := uint32(s0.Graph.Persons())
	for p := uint32(1); p <= uint32(s1.Graph.Persons()); p++ {
		isNew := p > n0
		switch {
		case alive(s1, p):
			if isNew || profileText(s0, p, s1.Profiles.Schema) != profileText(s1, p, s1.Profiles.Schema) ||
				!slices.Equal(ev0[p], ev1[p]) || !slices.Equal(s0.Graph.Identifiers(p), s1.Graph.Identifiers(p)) {
				out.persons = append(out.persons, p)
			}
		case isNew || alive(s0, p):
			out.gone = append(out.gone, p)
		}
		c1 := s1.Graph.Canonical(p)
		if len(s1.Graph.Identifiers(c1)) == 0 && (isNew || len(s0.Graph.Identifiers(s0.Graph.Canonical(p))) > 0) {
			out.erased = append(out.erased, p)
		}
	}
	return out
}

// eventIDs returns the sorted event ids of the live events of every
// canonical person (its members' included), from a scan.
func eventIDs(s *engine.Snapshot) map[uint32][]int64 {
	pc, _ := s.Events.Schema.Lookup(engine.ColPersonID)
	ic, _ := s.Events.Schema.Lookup(engine.ColEventID)
	out := map[uint32][]int64{}
	for _, c := range s.Events.Chunks {
		for r := 0; r < c.Rows; r++ {
			if c.Del != nil && c.Del.Get(r) {
				continue
			}
			q, _ := c.Col(pc.Index).Int(r)
			id, _ := c.Col(ic.Index).Int(r)
			p := s.Graph.Canonical(uint32(q))
			out[p] = append(out[p], id)
		}
	}
	for _, ids := range out {
		slices.Sort(ids)
	}
	return out
}

// profileText renders p's profile row in s over schema (a later schema:
// columns s does not have are NULL), or "" without a profile.
func profileText(s *engine.Snapshot, p uint32, schema *column.Schema) string {
	c, row := s.ProfileRow(p)
	if c == nil {
		return ""
	}
	var b strings.Builder
	for _, d := range schema.Cols {
		v := column.Value{}
		if vec := c.Col(d.Index); vec != nil {
			v = vec.Value(row, d)
		}
		b.WriteString(v.String())
		b.WriteByte('|')
	}
	return b.String()
}
