package log

import (
	"errors"
	"testing"

	"github.com/nats-io/nats.go/jetstream"
)

// TestTrimWorkspaceBefore: an erasure trim purges one workspace's messages
// below a sequence, leaves other workspaces' messages and later ones
// alone, and never purges the stream's last message (reporting not done
// until a later message follows it).
func TestTrimWorkspaceBefore(t *testing.T) {
	l := openTest(t, Options{})
	ctx := t.Context()
	ws := []string{"acme", "beta", "acme", "acme", "beta", "acme"} // seq 1..6
	for i, w := range ws {
		if err := l.Append(ctx, w, trackOps(0, i, 1)); err != nil {
			t.Fatal(err)
		}
		if got := l.Stats().LastAck; got != uint64(i+1) {
			t.Fatalf("message %d has sequence %d", i, got)
		}
	}
	exists := func(seq uint64) bool {
		_, err := l.stream.GetMsg(ctx, seq)
		if err != nil && !errors.Is(err, jetstream.ErrMsgNotFound) {
			t.Fatal(err)
		}
		return err == nil
	}
	n, done, err := l.TrimWorkspaceBefore(ctx, "acme", 5) // acme at 1, 3, 4
	if err != nil || n != 3 || !done {
		t.Fatalf("TrimWorkspaceBefore(acme, 5) = %d, %v, %v; want 3, true", n, done, err)
	}
	for seq, want := range map[uint64]bool{1: false, 2: true, 3: false, 4: false, 5: true, 6: true} {
		if got := exists(seq); got != want {
			t.Errorf("message %d exists = %v, want %v", seq, got, want)
		}
	}
	// Up to the last message, which is acme's: it stays.
	n, done, err = l.TrimWorkspaceBefore(ctx, "acme", 7)
	if err != nil || n != 0 || done {
		t.Fatalf("TrimWorkspaceBefore(acme, 7) = %d, %v, %v; want 0, false", n, done, err)
	}
	if !exists(6) {
		t.Fatal("the stream's last message was purged")
	}
	if err := l.Append(ctx, "beta", trackOps(0, 9, 1)); err != nil { // seq 7
		t.Fatal(err)
	}
	n, done, err = l.TrimWorkspaceBefore(ctx, "acme", 7)
	if err != nil || n != 1 || !done {
		t.Fatalf("after a later message: TrimWorkspaceBefore(acme, 7) = %d, %v, %v; want 1, true", n, done, err)
	}
	st := state(t, l)
	if st.Msgs != 3 || st.LastSeq != 7 {
		t.Errorf("state %+v, want beta's 3 messages and last sequence 7", st)
	}
	// A workspace whose name prefixes another's is its own.
	if err := l.Append(ctx, "acme2", trackOps(0, 10, 1)); err != nil { // seq 8
		t.Fatal(err)
	}
	if err := l.Append(ctx, "beta", trackOps(0, 11, 1)); err != nil { // seq 9
		t.Fatal(err)
	}
	if n, _, err := l.TrimWorkspaceBefore(ctx, "acme", 10); err != nil || n != 0 || !exists(8) {
		t.Errorf("trimming acme purged %d (%v); acme2's message exists: %v", n, err, exists(8))
	}
}
