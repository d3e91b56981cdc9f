package log

import (
	"context"
	"io/fs"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cohortdb/cohort/engine"
	"github.com/cohortdb/cohort/engine/column"
)

// appendOne appends one message (one operation) and returns its sequence
// and a time after its acknowledgement (before the next message's store
// time).
func appendOne(t *testing.T, l *Log, i int) (uint64, time.Time) {
	t.Helper()
	if err := l.Append(t.Context(), "acme", trackOps(0, i, 1)); err != nil {
		t.Fatal(err)
	}
	seq := l.Stats().LastAck
	return seq, time.Now()
}

func seqAt(t *testing.T, l *Log, at time.Time) uint64 {
	t.Helper()
	seq, err := l.SeqAt(t.Context(), at)
	if err != nil {
		t.Fatal(err)
	}
	return seq
}

func trim(t *testing.T, l *Log, before uint64) uint64 {
	t.Helper()
	n, err := l.TrimBefore(t.Context(), before)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func state(t *testing.T, l *Log) StreamState {
	t.Helper()
	st, err := l.State(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// firstDelivered subscribes from from and returns the first sequence
// delivered.
func firstDelivered(t *testing.T, l *Log, from uint64) uint64 {
	t.Helper()
	sub, err := l.Subscribe(t.Context(), from)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Stop()
	select {
	case m := <-sub.C:
		return m.Seq
	case <-time.After(10 * time.Second):
		t.Fatalf("nothing delivered from %d", from)
		return 0
	}
}

func TestSeqAtEmpty(t *testing.T) {
	l := openTest(t, Options{})
	if got := seqAt(t, l, time.Now().Add(-time.Hour)); got != 1 {
		t.Errorf("SeqAt on an empty stream = %d, want 1", got)
	}
	if n := trim(t, l, 10); n != 0 {
		t.Errorf("TrimBefore on an empty stream purged %d", n)
	}
	if st := state(t, l); st.LastSeq != 0 || st.Msgs != 0 {
		t.Errorf("state after trimming an empty stream: %+v", st)
	}
}

func TestSeqAtAndTrimBefore(t *testing.T) {
	dir := t.TempDir()
	l := openTest(t, Options{Dir: dir})
	start := time.Now()
	const n = 40
	after := make([]time.Time, n+1) // after[s]: a time after message s was stored
	for i := range n {
		seq, at := appendOne(t, l, i)
		if seq != uint64(i+1) {
			t.Fatalf("message %d has sequence %d", i, seq)
		}
		after[seq] = at
	}
	if got := seqAt(t, l, start); got != 1 {
		t.Errorf("SeqAt(before everything) = %d, want 1", got)
	}
	for s := uint64(1); s < n; s++ {
		if got := seqAt(t, l, after[s]); got != s+1 {
			t.Errorf("SeqAt(after %d) = %d, want %d", s, got, s+1)
		}
	}
	if got := seqAt(t, l, time.Now().Add(time.Hour)); got != n+1 {
		t.Errorf("SeqAt(future) = %d, want %d", got, n+1)
	}

	// Interior gaps: SeqAt returns a message that exists.
	for _, s := range []uint64{11, 12, 13, 20} {
		if err := l.stream.DeleteMsg(t.Context(), s); err != nil {
			t.Fatal(err)
		}
	}
	for s, want := range map[uint64]uint64{10: 14, 11: 14, 12: 14, 19: 21, 21: 22} {
		if got := seqAt(t, l, after[s]); got != want {
			t.Errorf("with gaps: SeqAt(after %d) = %d, want %d", s, got, want)
		}
	}

	// Trim a prefix.
	before := state(t, l)
	if got := trim(t, l, 6); got != 5 {
		t.Errorf("TrimBefore(6) purged %d, want 5", got)
	}
	st := state(t, l)
	if st.FirstSeq != 6 || st.LastSeq != n || st.Msgs != before.Msgs-5 {
		t.Errorf("after TrimBefore(6): %+v (before %+v)", st, before)
	}
	if st.Bytes >= before.Bytes {
		t.Errorf("stream bytes %d after trimming, %d before", st.Bytes, before.Bytes)
	}
	if got := trim(t, l, 6); got != 0 {
		t.Errorf("TrimBefore(first) purged %d", got)
	}
	if got := trim(t, l, 3); got != 0 {
		t.Errorf("TrimBefore(below first) purged %d", got)
	}
	// Purged: the search starts at the first kept message.
	if got := seqAt(t, l, start); got != 6 {
		t.Errorf("after a purge: SeqAt(before everything) = %d, want 6", got)
	}
	if got := seqAt(t, l, after[7]); got != 8 {
		t.Errorf("after a purge: SeqAt(after 7) = %d, want 8", got)
	}
	// A trim across interior gaps counts what it removed.
	if got := trim(t, l, 15); got != 9-3 {
		t.Errorf("TrimBefore(15) across 3 deleted messages purged %d, want 6", got)
	}
	// Subscribers from the start, or from a purged sequence, begin at the
	// first message kept.
	if got := firstDelivered(t, l, 1); got != 15 {
		t.Errorf("Subscribe(1) after a purge starts at %d, want 15", got)
	}
	if got := firstDelivered(t, l, 4); got != 15 {
		t.Errorf("Subscribe(4) after a purge starts at %d, want 15", got)
	}

	// Past the end: capped, the sequence does not move.
	if got := trim(t, l, 1000); got != n-14-1 { // 15..40 less deleted 20
		t.Errorf("TrimBefore(past the end) purged %d, want %d", got, n-14-1)
	}
	st = state(t, l)
	if st.Msgs != 0 || st.LastSeq != n || st.FirstSeq != n+1 || st.Bytes != 0 {
		t.Errorf("after purging everything: %+v", st)
	}
	if got := seqAt(t, l, start); got != n+1 {
		t.Errorf("SeqAt on a purged-empty stream = %d, want %d", got, n+1)
	}
	seq, _ := appendOne(t, l, n)
	if seq != n+1 {
		t.Errorf("first message after purging everything has sequence %d, want %d", seq, n+1)
	}

	// The purge survives a restart of the embedded server.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := l.Close(ctx); err != nil {
		t.Fatal(err)
	}
	l2 := openTest(t, Options{Dir: dir})
	if st := state(t, l2); st.FirstSeq != n+1 || st.LastSeq != n+1 || st.Msgs != 1 {
		t.Errorf("after reopening: %+v", st)
	}
	if got := firstDelivered(t, l2, 1); got != n+1 {
		t.Errorf("Subscribe(1) after reopening starts at %d, want %d", got, n+1)
	}
}

func dirBytes(t *testing.T, dir string) int64 {
	t.Helper()
	var n int64
	err := filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			fi, err := d.Info()
			if err != nil {
				return err
			}
			n += fi.Size()
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestTrimFreesDisk: trimming gives the disk back (in whole message
// blocks of the file store), not just the stream's accounting.
func TestTrimFreesDisk(t *testing.T) {
	dir := t.TempDir()
	l := openTest(t, Options{Dir: dir})
	big := strings.Repeat("x", 30<<10)
	for i := range 100 { // 100 messages of ~300 KB: 30 MB
		ops := trackOps(1, i, 10)
		for j := range ops {
			ops[j].Props = append(ops[j].Props, engine.Field{Name: "blob", Value: column.String(big)})
		}
		if err := l.Append(t.Context(), "acme", ops); err != nil {
			t.Fatal(err)
		}
	}
	before, disk := state(t, l), dirBytes(t, dir)
	if got := trim(t, l, before.LastSeq-4); got != before.Msgs-5 {
		t.Fatalf("purged %d, want %d", got, before.Msgs-5)
	}
	after := state(t, l)
	// The file store removes emptied blocks at once; poll briefly anyway.
	deadline := time.Now().Add(10 * time.Second)
	diskAfter := dirBytes(t, dir)
	for diskAfter > disk/2 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
		diskAfter = dirBytes(t, dir)
	}
	t.Logf("stream bytes %d → %d, directory %d → %d", before.Bytes, after.Bytes, disk, diskAfter)
	if after.Bytes > before.Bytes/10 {
		t.Errorf("stream bytes %d → %d", before.Bytes, after.Bytes)
	}
	if diskAfter > disk/2 {
		t.Errorf("disk use %d → %d bytes after purging 95%% of the stream", disk, diskAfter)
	}
}
