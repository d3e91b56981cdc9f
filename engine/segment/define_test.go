package segment_test

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/cohortdb/cohort/engine"
	"github.com/cohortdb/cohort/engine/column"
	"github.com/cohortdb/cohort/engine/identity"
	"github.com/cohortdb/cohort/engine/segment"
)

// TestCreateIsExclusive starts many concurrent creators of one segment:
// exactly one defines it, the others get ErrExists, and a replace still
// defines a new version.
func TestCreateIsExclusive(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ws := engine.NewWorkspace("t", identity.DefaultRules())
	m := segment.New(ws, segment.Options{SampleEvery: -1})
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	defer func() { cancel(); <-done }()

	seed := []engine.Op{{Kind: engine.OpIdentify, At: 1, IDs: []identity.ID{{Type: "user_id", Value: "a"}},
		Traits: []engine.Field{{Name: "plan", Value: column.String("pro1")}}}}
	if _, err := ws.Apply(ctx, seed); err != nil {
		t.Fatal(err)
	}
	cond := definitions()["plan_pro"]
	const creators = 16
	var (
		wg     sync.WaitGroup
		mu     sync.Mutex
		won    int
		exists int
	)
	for range creators {
		wg.Go(func() {
			_, err := m.Define(ctx, segment.Definition{Name: "s", SQL: "test", Cond: cond, Create: true})
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				won++
			case errors.Is(err, segment.ErrExists):
				exists++
			default:
				t.Errorf("define: %v", err)
			}
		})
	}
	wg.Wait()
	if won != 1 || exists != creators-1 {
		t.Fatalf("%d creators won, %d got ErrExists; want 1 and %d", won, exists, creators-1)
	}
	info, err := m.Define(ctx, segment.Definition{Name: "s", SQL: "test", Cond: cond})
	if err != nil || info.Version != 2 {
		t.Fatalf("replace: version %d, %v; want version 2", info.Version, err)
	}
}
