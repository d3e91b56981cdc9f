package history

import (
	"context"
	"testing"
	"time"

	"github.com/cohortdb/cohort/engine"
	"github.com/cohortdb/cohort/engine/column"
	"github.com/cohortdb/cohort/engine/identity"
)

// TestBackpressureBoundsBuffer applies many more profile changes than
// MaxBuffered without any Tick or Flush from outside: the writer must spill
// published batches to files itself, keep memory bounded, and lose nothing.
func TestBackpressureBoundsBuffer(t *testing.T) {
	dir := t.TempDir()
	w, err := NewWriter(dir, Options{RollRows: 100, MaxBuffered: 200, RollInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	ws := engine.NewWorkspace("bp", identity.DefaultRules())
	w.Attach(ws)
	const batches, perBatch = 40, 25
	// The storage loop flushes concurrently with backpressure flushes.
	stop := make(chan struct{})
	ticked := make(chan struct{})
	go func() {
		defer close(ticked)
		for {
			select {
			case <-stop:
				return
			default:
				if err := w.Tick(context.Background(), time.Now().Add(2*time.Hour)); err != nil {
					t.Error(err)
					return
				}
			}
		}
	}()
	maxSeen := 0
	for b := 0; b < batches; b++ {
		var ops []engine.Op
		for i := 0; i < perBatch; i++ {
			ops = append(ops, engine.Op{Kind: engine.OpIdentify, At: int64(b*perBatch+i+1) * 1e6,
				IDs:    []identity.ID{{Type: "user_id", Value: "u" + string(rune('a'+i))}},
				Traits: []engine.Field{{Name: "n", Value: column.Int(int64(b))}}})
		}
		if _, err := ws.Apply(context.Background(), ops); err != nil {
			t.Fatal(err)
		}
		maxSeen = max(maxSeen, w.Buffered())
	}
	close(stop)
	<-ticked
	if maxSeen > 200+perBatch {
		t.Errorf("buffer reached %d records, bound is MaxBuffered + one batch = %d", maxSeen, 200+perBatch)
	}
	var n int
	if err := w.Scan(context.Background(), time.Time{}, time.Unix(1<<40, 0), func(Record) error { n++; return nil }); err != nil {
		t.Fatal(err)
	}
	if n != batches*perBatch {
		t.Errorf("history has %d records, want %d (one per change)", n, batches*perBatch)
	}
}
