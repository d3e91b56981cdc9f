package column

import (
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync"
	"testing"
)

// msgID returns a message_id-like string: fixed length, so a probe that
// compares strings cannot reject on length alone, as with real UUIDs.
func msgID(i uint64) string {
	h := i*0x9e3779b97f4a7c15 ^ 0xdeadbeefcafe
	b := make([]byte, 0, 40)
	b = fmt.Appendf(b, "%08x-%04x-", uint32(h), uint16(h>>32))
	b = append(b, "message-id-"...)
	n := strconv.FormatUint(i, 10)
	for range 12 - len(n) {
		b = append(b, '0')
	}
	return string(append(b, n...))
}

// freshID is msgID's namespace for strings never in a base dictionary.
func freshID(i int) string { return msgID(1<<40 + uint64(i)) }

var msgDicts sync.Map // entries → *Dictionary of msgID(0..n-1)

func msgDict(n int) *Dictionary {
	if d, ok := msgDicts.Load(n); ok {
		return d.(*Dictionary)
	}
	d := NewDictionary()
	for i := range n {
		d.Intern(msgID(uint64(i)))
	}
	msgDicts.Store(n, d)
	return d
}

// truncateDict drops every code >= n, as if they had never been interned.
// Linear probing keeps this valid: an entry's probe path only crosses
// entries inserted before it, and those all survive. Benchmarks only: it
// breaks the contract with views.
func truncateDict(d *Dictionary, n int) {
	for i, e := range d.slots {
		if e != 0 && int(e&uint32(len(d.slots)-1)-1) >= n {
			d.slots[i] = 0
		}
	}
	d.data = d.data[:d.offsets[n]]
	d.offsets = d.offsets[:n+1]
}

// BenchmarkDictionaryMessageID is live ingest of a unique-per-event field:
// intern-new is a miss followed by an insert into a dictionary of the given
// size (reset before the table would grow, so no resize is timed); the hit
// benchmarks probe random existing entries, far more than fit in cache.
func BenchmarkDictionaryMessageID(b *testing.B) {
	for _, n := range []int{1_000_000, 10_000_000} {
		b.Run(fmt.Sprintf("entries=%dM", n/1_000_000), func(b *testing.B) {
			d := msgDict(n)
			b.Run("intern-new", func(b *testing.B) {
				// 1<<18 more entries fit in both sizes before the index's
				// next resize.
				fresh := make([]string, 1<<18)
				for i := range fresh {
					fresh[i] = freshID(i)
				}
				for _, s := range fresh { // warm: data and offsets at capacity
					d.Intern(s)
				}
				truncateDict(d, n)
				defer truncateDict(d, n)
				size := d.Bytes()
				b.ReportAllocs()
				for i := 0; b.Loop(); i++ {
					if i%len(fresh) == 0 && i > 0 {
						b.StopTimer()
						truncateDict(d, n)
						b.StartTimer()
					}
					d.Intern(fresh[i%len(fresh)])
				}
				if d.Bytes() != size {
					b.Fatal("dictionary reallocated while timed")
				}
			})
			absent := make([]string, 1<<16)
			for i := range absent {
				absent[i] = freshID(i)
			}
			b.Run("code-absent", func(b *testing.B) {
				b.ReportAllocs()
				for i := 0; b.Loop(); i++ {
					if _, ok := d.Code(absent[i%len(absent)]); ok {
						b.Fatal("found")
					}
				}
			})
			r := rand.New(rand.NewPCG(5, uint64(n)))
			hits := make([]string, 1<<18)
			for i := range hits {
				hits[i] = msgID(uint64(r.IntN(n)))
			}
			b.Run("code-hit", func(b *testing.B) {
				b.ReportAllocs()
				for i := 0; b.Loop(); i++ {
					if _, ok := d.Code(hits[i%len(hits)]); !ok {
						b.Fatal("missing")
					}
				}
			})
			b.Run("intern-hit", func(b *testing.B) {
				b.ReportAllocs()
				for i := 0; b.Loop(); i++ {
					d.Intern(hits[i%len(hits)])
				}
				if d.Len() != n {
					b.Fatal("grew")
				}
			})
		})
	}
}

// BenchmarkDictionarySmall is an event-name column: a handful of entries,
// every lookup a hit, everything in L1.
func BenchmarkDictionarySmall(b *testing.B) {
	names := []string{
		"page_view", "click", "signup", "login", "logout", "purchase",
		"add_to_cart", "remove_from_cart", "checkout_started", "search",
		"session_start", "session_end", "app_open", "app_close", "share",
		"subscribe", "unsubscribe", "video_play", "video_pause", "error",
	}
	d := NewDictionary()
	for _, s := range names {
		d.Intern(s)
	}
	r := rand.New(rand.NewPCG(9, 9))
	seq := make([]string, 1024)
	for i := range seq {
		seq[i] = names[r.IntN(len(names))]
	}
	b.Run("intern-hit", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			d.Intern(seq[i&1023])
		}
	})
	b.Run("code-hit", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			d.Code(seq[i&1023])
		}
	})
}
