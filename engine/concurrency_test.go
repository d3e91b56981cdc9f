package engine

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cohortdb/cohort/engine/column"
	"github.com/cohortdb/cohort/engine/expr"
	"github.com/cohortdb/cohort/engine/identity"
)

// TestReadersNeverSeeHalfABatch applies batches that each add K profiles,
// rewrite every earlier profile's "gen" attribute and add K events, while
// readers check every snapshot is whole: counts are multiples of K, and every
// profile carries the snapshot's latest generation.
func TestReadersNeverSeeHalfABatch(t *testing.T) {
	const K, batches = 300, 40
	w := NewWorkspace("t", identity.DefaultRules())
	var done atomic.Bool
	var wg sync.WaitGroup
	errs := make(chan string, 16)
	for range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !done.Load() {
				s := w.Snapshot()
				gen := int64(s.Seq)
				np := count(t, s, Profiles, nil)
				ne := count(t, s, Events, nil)
				if np != gen*K || ne != gen*K {
					errs <- "half a batch: profiles/events not a whole number of batches"
					return
				}
				if gen == 0 {
					continue
				}
				cur := count(t, s, Profiles, Where{expr.Cmp{Col: "gen", Op: expr.Eq, Val: expr.Lit(column.Int(gen))}})
				if cur != np {
					errs <- "a profile without the snapshot's generation"
					return
				}
			}
		}()
	}
	ctx := context.Background()
	for b := 1; b <= batches; b++ {
		var ops []Op
		for i := 0; i < b*K; i++ {
			ops = append(ops, identify(time.Duration(b)*time.Second, []identity.ID{uid(itoa(i))}, f("gen", column.Int(int64(b)))))
		}
		for i := 0; i < K; i++ {
			ops = append(ops, track(time.Duration(b)*time.Second, []identity.ID{uid(itoa(i))}, "e"))
		}
		if _, err := w.Apply(ctx, ops); err != nil {
			t.Fatal(err)
		}
	}
	done.Store(true)
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	s := w.Snapshot()
	if s.Profiles.Live != batches*K {
		t.Errorf("profiles = %d, want %d", s.Profiles.Live, batches*K)
	}
}
