package log

import (
	"context"
	"reflect"
	"sync"
	"testing"
	"time"
)

// TestKeepOps checks that with KeepOps every acknowledged message's kept
// operations are exactly what decoding the stored message gives, and that
// TakeOps and ForgetOps release them.
func TestKeepOps(t *testing.T) {
	l := openTest(t, Options{KeepOps: true, Partitions: 2})
	const clients, reqs, per = 6, 10, 9
	var wg sync.WaitGroup
	for c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for r := range reqs {
				if err := l.Append(t.Context(), "acme", trackOps(c, r, per)); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	last := l.Stats().LastAck
	sub, err := l.Subscribe(t.Context(), 1)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Stop()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	n := 0
	for seq := uint64(1); seq <= last; seq++ {
		var m Msg
		select {
		case m = <-sub.C:
		case <-ctx.Done():
			t.Fatalf("message %d not delivered", seq)
		}
		ws, want, err := Decode(m.Data, nil)
		if err != nil {
			t.Fatal(err)
		}
		kws, got, ok := l.TakeOps(m.Seq)
		if !ok {
			t.Fatalf("message %d: no kept operations", m.Seq)
		}
		if kws != ws || !reflect.DeepEqual(got, want) {
			t.Fatalf("message %d: kept %s %+v, decoded %s %+v", m.Seq, kws, got, ws, want)
		}
		if _, _, ok := l.TakeOps(m.Seq); ok {
			t.Fatalf("message %d taken twice", m.Seq)
		}
		n += len(got)
	}
	if n != clients*reqs*per {
		t.Fatalf("%d operations kept, want %d", n, clients*reqs*per)
	}
	// ForgetOps drops what was never taken; without KeepOps nothing is kept.
	if err := l.Append(t.Context(), "acme", trackOps(0, 99, 3)); err != nil {
		t.Fatal(err)
	}
	l.ForgetOps(l.Stats().LastAck)
	if _, _, ok := l.TakeOps(l.Stats().LastAck); ok {
		t.Fatal("ForgetOps kept a message")
	}
	l2 := openTest(t, Options{})
	if err := l2.Append(t.Context(), "acme", trackOps(0, 0, 3)); err != nil {
		t.Fatal(err)
	}
	if _, _, ok := l2.TakeOps(l2.Stats().LastAck); ok {
		t.Fatal("operations kept without KeepOps")
	}
}
