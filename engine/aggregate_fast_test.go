package engine

import (
	"context"
	"testing"

	"github.com/cohortdb/cohort/engine/expr"
	"github.com/cohortdb/cohort/engine/identity"
)

// TestCountByStringFullChunks checks COUNT(*) GROUP BY name over events
// against one filtered count per name, on sealed chunks whose every row
// counts (the direct code pass, then the postings' counts once a
// behavioural predicate built them) and after erasures left deleted rows.
func TestCountByStringFullChunks(t *testing.T) {
	ctx := context.Background()
	ops := benchOps(t, 3000, 200_000)
	w := NewWorkspace("t", identity.DefaultRules())
	for i := 0; i < len(ops); i += 8192 {
		if _, err := w.Apply(ctx, ops[i:min(i+8192, len(ops))]); err != nil {
			t.Fatal(err)
		}
	}
	check := func(stage string, wantPostings bool) {
		t.Helper()
		s := w.Snapshot()
		groups, err := s.Aggregate(ctx, AggQuery{Query: Query{Table: Events}, GroupBy: []string{ColName}, Aggs: []Agg{{Func: AggCount}}})
		if err != nil {
			t.Fatal(err)
		}
		def, _ := s.Events.Schema.Lookup(ColName)
		built := false
		for _, c := range s.Events.Chunks {
			built = built || c.Col(def.Index).BuiltPostings() != nil
		}
		if built != wantPostings {
			t.Fatalf("%s: postings built %v, want %v", stage, built, wantPostings)
		}
		var total int64
		for _, g := range groups {
			name := g.Key[0]
			if name.Null() {
				t.Fatalf("%s: NULL event name", stage)
			}
			want, err := s.Count(ctx, Query{Table: Events, Where: Where{expr.Cmp{Col: ColName, Op: expr.Eq, Val: expr.Lit(name)}}})
			if err != nil {
				t.Fatal(err)
			}
			if g.Aggs[0].I != want {
				t.Errorf("%s: %s: GROUP BY counts %d, filtered count %d", stage, name.S, g.Aggs[0].I, want)
			}
			total += g.Aggs[0].I
		}
		if total != s.Events.Live || len(groups) < 3 {
			t.Fatalf("%s: %d groups summing to %d, %d live events", stage, len(groups), total, s.Events.Live)
		}
	}
	check("codes", false)
	// A behavioural predicate reads events through the name postings.
	if _, err := w.Snapshot().Count(ctx, Query{Table: Profiles, Where: Did{Event: "purchase", Op: expr.Ge, N: 1}}); err != nil {
		t.Fatal(err)
	}
	check("postings", true)
	var del []Op
	for i := 1; i <= 3000; i += 7 {
		del = append(del, Op{Kind: OpDelete, IDs: []identity.ID{{Type: "user_id", Value: ops[i-1].IDs[0].Value}}})
	}
	if _, err := w.Apply(ctx, del); err != nil {
		t.Fatal(err)
	}
	check("after erasures", true)
}
