package applier

import (
	"testing"
	"time"
)

func TestDedupWindow(t *testing.T) {
	d := &dedup{window: (24 * time.Hour).Microseconds(), ids: map[uint64]int64{}}
	h := hourMicros
	steps := []struct {
		id   uint64
		at   int64
		seen bool
	}{
		{1, 0, false},
		{1, 1, true},           // a retry
		{2, h / 2, false},      // another id
		{1, 23 * h, true},      // still within 24h
		{1, 24 * h, false},     // expired: remembered again from now
		{2, 24*h + h/2, false}, // expired
		{1, 30 * h, true},      // 6h after its second sighting
	}
	for i, s := range steps {
		if got := d.seen(s.id, s.at); got != s.seen {
			t.Fatalf("step %d: seen(%d, %d) = %v, want %v", i, s.id, s.at, got, s.seen)
		}
	}
	// Old buckets are dropped: memory is bounded by the window.
	for hr := int64(31); hr < 100; hr++ {
		d.seen(uint64(1000+hr), hr*h)
	}
	if len(d.hours) > 26 || len(d.ids) > 26 {
		t.Errorf("%d buckets, %d ids kept after 100h", len(d.hours), len(d.ids))
	}
}
