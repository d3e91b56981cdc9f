package applier

import (
	"context"
	"testing"
	"time"
)

// advance simulates the end of a micro-batch: applied moves to seq, the
// next batch starts lag behind, waiters wake.
func advance(a *Applier, seq uint64, lag time.Duration) {
	a.lag.Store(int64(lag))
	a.mu.Lock()
	a.applied.Store(seq)
	close(a.notify)
	a.notify = make(chan struct{})
	a.mu.Unlock()
}

func TestThrottle(t *testing.T) {
	ctx := context.Background()
	a := New(nil, nil, Options{MaxLag: 100 * time.Millisecond})
	// Keeping up: no wait.
	a.lag.Store(int64(50 * time.Millisecond))
	if err := a.Throttle(ctx, 10); err != nil || a.Throttled() != 0 {
		t.Fatalf("Throttle = %v, throttled %v; want no wait", err, a.Throttled())
	}
	// Lagging, but everything acknowledged is applied: no wait.
	a.lag.Store(int64(time.Second))
	a.applied.Store(10)
	if err := a.Throttle(ctx, 10); err != nil || a.Throttled() != 0 {
		t.Fatalf("Throttle = %v, throttled %v; want no wait", err, a.Throttled())
	}
	// Lagging with unapplied acks: waits until the lag is back under MaxLag.
	done := make(chan error, 1)
	go func() { done <- a.Throttle(ctx, 20) }()
	select {
	case err := <-done:
		t.Fatalf("Throttle returned %v while the applier lags", err)
	case <-time.After(50 * time.Millisecond):
	}
	advance(a, 15, 300*time.Millisecond) // still behind
	select {
	case err := <-done:
		t.Fatalf("Throttle returned %v while the applier lags", err)
	case <-time.After(50 * time.Millisecond):
	}
	advance(a, 18, 20*time.Millisecond) // caught up enough
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Throttle still waiting after the applier caught up")
	}
	if a.Throttled() < 100*time.Millisecond {
		t.Fatalf("throttled %v, want ≥ 100ms", a.Throttled())
	}
	// The request's context ends the wait.
	a.lag.Store(int64(time.Second))
	cctx, cancel := context.WithTimeout(ctx, 30*time.Millisecond)
	defer cancel()
	if err := a.Throttle(cctx, 100); err == nil {
		t.Fatal("Throttle ignored its context")
	}
	// A stopped applier never holds writers.
	go func() { done <- a.Throttle(ctx, 100) }()
	time.Sleep(20 * time.Millisecond)
	a.stop()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Throttle still waiting after the applier stopped")
	}
	// MaxLag < 0: off.
	b := New(nil, nil, Options{MaxLag: -1})
	b.lag.Store(int64(time.Hour))
	if err := b.Throttle(ctx, 100); err != nil || b.Throttled() != 0 {
		t.Fatalf("Throttle with MaxLag < 0 = %v, throttled %v", err, b.Throttled())
	}
}
