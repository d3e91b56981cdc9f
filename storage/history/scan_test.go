package history

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/cohortdb/cohort/engine"
	"github.com/cohortdb/cohort/engine/column"
	"github.com/cohortdb/cohort/engine/identity"
)

// TestWriterScanSeesBufferExactlyOnce applies batches (one change each)
// while another goroutine flushes and others scan: every scan sees the
// changes of a prefix of the batches, each exactly once, including those
// not yet flushed.
func TestWriterScanSeesBufferExactlyOnce(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	w, err := NewWriter(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	ws := engine.NewWorkspace("acme", identity.DefaultRules())
	w.Attach(ws)
	all := func() []Record {
		var got []Record
		if err := w.Scan(ctx, time.Unix(0, 0), time.Unix(1<<33, 0), func(r Record) error { got = append(got, r); return nil }); err != nil {
			t.Error(err)
		}
		return got
	}
	const batches = 30
	done := make(chan struct{})
	flush := make(chan struct{}, 1)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // flusher, racing with the scans and the applies
		defer wg.Done()
		for {
			select {
			case <-done:
				return
			case <-flush:
			}
			if err := w.Flush(ctx, 0); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	for range 2 { // scanners
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-done:
					return
				default:
				}
				for i, r := range all() {
					if r.New.I != int64(i+1) || r.Seq != uint64(i+1) {
						t.Errorf("record %d of a scan: %+v (lost or repeated change)", i, r)
						return
					}
				}
			}
		}()
	}
	for b := 1; b <= batches; b++ {
		if _, err := ws.Apply(ctx, []engine.Op{identify(day0.Add(time.Duration(b)*time.Second), "u1", fld("n", column.Int(int64(b))))}); err != nil {
			t.Fatal(err)
		}
		if b%3 == 0 {
			select {
			case flush <- struct{}{}:
			default:
			}
		}
		// Applied, hence visible at once, flushed or not.
		if got := all(); len(got) != b {
			t.Fatalf("after batch %d a scan returns %d records", b, len(got))
		}
	}
	close(done)
	wg.Wait()
	if files, _ := list(dir); len(files) < 2 {
		t.Errorf("%d files: the flushes did not race with the scans", len(files))
	}
	// The time range applies to the buffer too.
	var n int
	if err := w.Scan(ctx, day0.Add(10*time.Second), day0.Add(20*time.Second), func(Record) error { n++; return nil }); err != nil || n != 10 {
		t.Errorf("range scan: %d records, %v", n, err)
	}
}
