package engine_test

import (
	"context"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/cohortdb/cohort/engine"
	"github.com/cohortdb/cohort/engine/column"
	"github.com/cohortdb/cohort/engine/enginetest"
	"github.com/cohortdb/cohort/engine/identity"
)

var t0 = time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC).UnixMicro()

// TestExportRestoreRoundTrip restores a random workspace from its export
// and checks that (1) every row, schema, counter and identity resolution is
// the same, and (2) the same later operations take both to the same state.
func TestExportRestoreRoundTrip(t *testing.T) {
	ctx := context.Background()
	sizes := []int{0, 50, 3000, column.ChunkRows + 5000}
	if testing.Short() {
		sizes = sizes[:3]
	}
	for i, n := range sizes {
		seed := uint64(i + 1)
		t.Run("", func(t *testing.T) {
			r := rand.New(rand.NewPCG(seed, 7))
			pool := enginetest.NewPool(max(n/40, 5))
			e := engine.New(engine.Options{})
			w, err := e.CreateWorkspace("acme")
			if err != nil {
				t.Fatal(err)
			}
			logSeq, err := enginetest.Apply(ctx, r, w, enginetest.Ops(r, pool, n, t0, 150), 0)
			if err != nil {
				t.Fatal(err)
			}
			want, err := enginetest.Dump(ctx, w, pool)
			if err != nil {
				t.Fatal(err)
			}

			if n >= 3000 {
				var merges, suppressed int
				for _, l := range want {
					merges += btoi(strings.HasPrefix(l, "merge "))
					suppressed += btoi(strings.HasPrefix(l, "suppressed "))
				}
				if merges == 0 || suppressed == 0 {
					t.Fatalf("random workload too tame: %d merges, %d suppressed identifiers", merges, suppressed)
				}
			}

			e2 := engine.New(engine.Options{})
			x := w.Export()
			rs, err := e2.NewRestorer("acme", x.Counters)
			if err != nil {
				t.Fatal(err)
			}
			if err := x.CopyTo(ctx, rs); err != nil {
				t.Fatal(err)
			}
			w2, err := rs.Finish()
			if err != nil {
				t.Fatal(err)
			}
			got, err := enginetest.Dump(ctx, w2, pool)
			if err != nil {
				t.Fatal(err)
			}
			if d := enginetest.Diff(got, want); d != "" {
				t.Fatalf("restored workspace differs: %s", d)
			}

			// The same future on both.
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
				t.Fatalf("after the same later operations the restored workspace differs: %s", d)
			}
		})
	}
}

// TestRestoreRejectsInconsistentExports checks the restorer's guards.
func TestRestoreRejectsInconsistentExports(t *testing.T) {
	e := engine.New(engine.Options{})
	rs, err := e.NewRestorer("acme", engine.Counters{Seq: 1, NextEvent: 1, Persons: 1})
	if err != nil {
		t.Fatal(err)
	}
	specs := []engine.ColumnSpec{{"person_id", column.TypeInt}, {"created_at", column.TypeTimestamp}, {"first_seen", column.TypeTimestamp}, {"last_seen", column.TypeTimestamp}, {"updated_at", column.TypeTimestamp}}
	if err := rs.Columns(engine.Profiles, specs); err != nil {
		t.Fatal(err)
	}
	if err := rs.Row(engine.Profiles, []column.Value{column.Int(2), {}, {}, {}, {}}); err == nil {
		t.Fatal("profile of an unallocated person accepted")
	}
	rs, _ = e.NewRestorer("acme", engine.Counters{NextEvent: 1})
	if err := rs.Columns(engine.Profiles, specs[1:]); err == nil {
		t.Fatal("missing core column accepted")
	}
	rs, _ = e.NewRestorer("acme", engine.Counters{NextEvent: 1, Persons: 2})
	if err := rs.Merge(identity.Merge{From: 1, Into: 3}); err == nil {
		t.Fatal("merge into an unallocated person accepted")
	}
	if _, err := rs.Finish(); err == nil {
		t.Fatal("Finish after an error succeeded")
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}
