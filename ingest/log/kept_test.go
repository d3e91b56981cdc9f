package log

import (
	"context"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"
)

// TestKeepOps checks that with KeepOps every published message's kept
// operations are exactly what decoding the stored message gives, that
// TakeOps finds them by content once, and that nothing stays kept.
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
		kws, got, ok := l.TakeOps(m.Data)
		if !ok {
			t.Fatalf("message %d: no kept operations", m.Seq)
		}
		if kws != ws || !reflect.DeepEqual(got, want) {
			t.Fatalf("message %d: kept %s %+v, decoded %s %+v", m.Seq, kws, got, ws, want)
		}
		if _, _, ok := l.TakeOps(m.Data); ok {
			t.Fatalf("message %d taken twice", m.Seq)
		}
		n += len(got)
	}
	if n != clients*reqs*per {
		t.Fatalf("%d operations kept, want %d", n, clients*reqs*per)
	}
	l.kept.mu.Lock()
	left, bytes := l.kept.n, l.kept.bytes
	l.kept.mu.Unlock()
	if left != 0 || bytes != 0 {
		t.Fatalf("%d messages (%d bytes) still kept", left, bytes)
	}
	// A message that differs from every kept one is not found, even with
	// the same checksum trailer and length.
	if err := l.Append(t.Context(), "acme", trackOps(0, 99, 3)); err != nil {
		t.Fatal(err)
	}
	m := <-sub.C
	forged := append([]byte(nil), m.Data...)
	forged[1] ^= 1
	if _, _, ok := l.TakeOps(forged); ok {
		t.Fatal("TakeOps matched different bytes")
	}
	if _, _, ok := l.TakeOps(m.Data); !ok {
		t.Fatal("TakeOps lost the message")
	}
	// Without KeepOps nothing is kept.
	l2 := openTest(t, Options{})
	if err := l2.Append(t.Context(), "acme", trackOps(0, 0, 3)); err != nil {
		t.Fatal(err)
	}
	if l2.kept.n != 0 {
		t.Fatal("operations kept without KeepOps")
	}
}

// TestKeptExpire: at its bound the index drops entries older than
// maxKeptAge (never delivered back) instead of keeping nothing more.
func TestKeptExpire(t *testing.T) {
	var k kept
	msg := func(i int) []byte { return Seal(AppendHeader(nil, fmt.Sprintf("ws%d", i))) }
	for i := range maxKept {
		e := k.keep(msg(i), "ws", nil)
		if e == nil {
			t.Fatalf("entry %d not kept", i)
		}
		e.at = e.at.Add(-time.Hour) // stale
		e.release()                 // the publisher is done with it
	}
	if k.n != maxKept {
		t.Fatalf("%d kept, want %d", k.n, maxKept)
	}
	fresh := msg(-1)
	if k.keep(fresh, "ws", nil) == nil {
		t.Fatal("the bound was not freed of stale entries")
	}
	if k.n != 1 || k.take(fresh) == nil {
		t.Fatalf("%d kept after expiry, want only the fresh one", k.n)
	}
}
