package engine_test

import (
	"context"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/cohortdb/cohort/engine"
	"github.com/cohortdb/cohort/engine/enginetest"
	"github.com/cohortdb/cohort/engine/identity"
)

// TestStateIndependentOfBatching applies the same random operations (few
// users, so one person's track, identify with explicit first_seen/last_seen
// and merges fall into one batch) one per batch and in large batches: the
// log is cut differently by live ingest and by replay, so the states must
// be identical.
func TestStateIndependentOfBatching(t *testing.T) {
	ctx := context.Background()
	for seed := range uint64(6) {
		r := rand.New(rand.NewPCG(seed, 11))
		pool := enginetest.NewPool(8)
		ops := enginetest.Ops(r, pool, 3000, t0, 0)
		one := engine.NewWorkspace("one", identity.DefaultRules())
		big := engine.NewWorkspace("big", identity.DefaultRules())
		for i := range ops {
			if _, err := one.ApplyLogged(ctx, ops[i:i+1], uint64(i+1)); err != nil {
				t.Fatal(err)
			}
		}
		for i := 0; i < len(ops); i += 500 {
			if _, err := big.ApplyLogged(ctx, ops[i:min(i+500, len(ops))], uint64(min(i+500, len(ops)))); err != nil {
				t.Fatal(err)
			}
		}
		a, err := enginetest.Dump(ctx, big, pool)
		if err != nil {
			t.Fatal(err)
		}
		b, err := enginetest.Dump(ctx, one, pool)
		if err != nil {
			t.Fatal(err)
		}
		// The counters line holds seq, the number of batches: it differs.
		if d := enginetest.Diff(a[1:], b[1:]); d != "" || !strings.HasPrefix(a[0], "counters ") {
			t.Fatalf("seed %d: batches of 500 differ from batches of one: %s", seed, d)
		}
	}
}
