package segment

import (
	"container/heap"
	"math"
	"time"
)

// wheel schedules persons for re-evaluation at the next moment their
// membership can change by time alone. Buckets are res µs wide (a second
// by default: membership follows a window within a second); a person
// is in at most one live bucket (at[p]), an earlier schedule wins (its
// evaluation reschedules the later one), and entries made stale by a
// reschedule are skipped when their bucket comes due.
type wheel struct {
	res     int64               // bucket width, µs
	base    int64               // bucket 0 starts here, µs
	at      []uint32            // person → scheduled bucket (0: none)
	buckets map[uint32][]uint32 // bucket → persons
	keys    secHeap
}

func newWheel(res time.Duration, now time.Time) wheel {
	r := max(res.Microseconds(), 1)
	return wheel{res: r, base: now.UnixMicro() - r}
}

// schedule asks for person p to be re-evaluated at or after at (µs).
func (w *wheel) schedule(p uint32, at int64) {
	b := (at - w.base + w.res - 1) / w.res // the first bucket starting at or after at
	var sec uint32
	switch {
	case b < 1:
		sec = 1
	case b > math.MaxUint32:
		sec = math.MaxUint32 // decades away: re-evaluated then, harmlessly
	default:
		sec = uint32(b)
	}
	for int(p) >= len(w.at) {
		w.at = append(w.at, make([]uint32, max(1024, len(w.at)/2))...)
	}
	if cur := w.at[p]; cur != 0 && cur <= sec {
		return
	}
	w.at[p] = sec
	if w.buckets == nil {
		w.buckets = make(map[uint32][]uint32)
	}
	list, ok := w.buckets[sec]
	if !ok {
		heap.Push(&w.keys, sec)
	}
	w.buckets[sec] = append(list, p)
}

// due removes and returns the persons scheduled at or before now (µs).
func (w *wheel) due(now int64) []uint32 {
	var out []uint32
	for len(w.keys) > 0 && w.base+int64(w.keys[0])*w.res <= now {
		sec := heap.Pop(&w.keys).(uint32)
		for _, p := range w.buckets[sec] {
			if w.at[p] == sec {
				w.at[p] = 0
				out = append(out, p)
			}
		}
		delete(w.buckets, sec)
	}
	return out
}

// size returns the number of live entries.
func (w *wheel) size() int {
	n := 0
	for _, s := range w.at {
		if s != 0 {
			n++
		}
	}
	return n
}

type secHeap []uint32

func (h secHeap) Len() int           { return len(h) }
func (h secHeap) Less(i, j int) bool { return h[i] < h[j] }
func (h secHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *secHeap) Push(x any)        { *h = append(*h, x.(uint32)) }
func (h *secHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}
