package gen

import (
	"context"
	"os"
	"runtime"
	"testing"
	"time"
)

// TestBig times the generation of 10M profiles and 100M events; it runs
// only with COHORT_GEN_BIG=1 (it needs ~3 GB).
func TestBig(t *testing.T) {
	if os.Getenv("COHORT_GEN_BIG") == "" {
		t.Skip("set COHORT_GEN_BIG=1")
	}
	o := DefaultOptions()
	o.Profiles, o.Events = 10_000_000, 100_000_000
	start := time.Now()
	p, err := GenerateProfiles(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	tp := time.Since(start)
	e, err := GenerateEvents(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	te := time.Since(start) - tp
	if err := reconcile(context.Background(), p, e); err != nil {
		t.Fatal(err)
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	t.Logf("profiles %v, events %v, reconcile %v, column bytes %d + %d, heap %d MB", tp, te, time.Since(start)-tp-te, p.Bytes(), e.Bytes(), ms.HeapAlloc>>20)
}
