package identity

import (
	"encoding/hex"
	"flag"
	"math/rand/v2"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"
)

var benchIdentifiers = flag.Int("identity.n", 10_000_000, "identifiers loaded for the Resolve benchmarks")

type fixture struct {
	g         *Graph
	persons   int
	users     [][]ID // requests with one known user id
	pairs     [][]ID // known user id + its known anonymous id
	heapBytes uint64
	load      time.Duration
}

var (
	fixOnce sync.Once
	fix     *fixture
)

func userID(i int) string { return "user-" + strconv.Itoa(10_000_000+i) }

func uuidOf(rng *rand.Rand) string {
	var b [16]byte
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
	var s [36]byte
	hex.Encode(s[0:8], b[0:4])
	s[8] = '-'
	hex.Encode(s[9:13], b[4:6])
	s[13] = '-'
	hex.Encode(s[14:18], b[6:8])
	s[18] = '-'
	hex.Encode(s[19:23], b[8:10])
	s[23] = '-'
	hex.Encode(s[24:36], b[10:16])
	return string(s[:])
}

// loadFixture resolves n/2 persons, each with a user id ("user-1xxxxxxx")
// and a UUID anonymous id: n identifiers.
func loadFixture(tb testing.TB) *fixture {
	fixOnce.Do(func() {
		n := *benchIdentifiers
		persons := n / 2
		rng := rand.New(rand.NewPCG(1, 2))
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		g := NewGraph(DefaultRules())
		start := time.Now()
		req := make([]ID, 2)
		for i := range persons {
			req[0], req[1] = u(userID(i)), a(uuidOf(rng))
			if _, err := g.Resolve(req, int64(i), ""); err != nil {
				tb.Fatal(err)
			}
		}
		load := time.Since(start)
		runtime.GC()
		runtime.ReadMemStats(&after)
		f := &fixture{g: g, persons: persons, heapBytes: after.HeapAlloc - before.HeapAlloc, load: load}
		// Requests for the hot loop, built after measuring the heap.
		qr := rand.New(rand.NewPCG(3, 4))
		for range 1 << 16 {
			i := qr.IntN(persons)
			id := u(userID(i))
			p, _ := g.Lookup(id)
			f.users = append(f.users, []ID{id})
			f.pairs = append(f.pairs, []ID{id, g.Identifiers(p)[1]})
		}
		fix = f
	})
	if fix == nil {
		tb.Fatal("fixture failed to load")
	}
	return fix
}

func BenchmarkResolve(b *testing.B) {
	f := loadFixture(b)
	ids := float64(2 * f.persons)
	b.Run("load", func(b *testing.B) {
		for b.Loop() {
		}
		b.ReportMetric(float64(f.load.Nanoseconds())/ids, "load-ns/identifier")
		b.ReportMetric(float64(f.g.Bytes())/ids, "accounted-B/identifier")
		b.ReportMetric(float64(f.heapBytes)/ids, "heap-B/identifier")
	})
	b.Run("known_user_id", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			if _, err := f.g.Resolve(f.users[i&(1<<16-1)], 1, "m"); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
	b.Run("known_user_id_and_anonymous_id", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			if _, err := f.g.Resolve(f.pairs[i&(1<<16-1)], 1, "m"); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
	b.Run("view_lookup", func(b *testing.B) {
		v := f.g.Freeze()
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			if _, ok := v.Lookup(f.users[i&(1<<16-1)][0]); !ok {
				b.Fatal("not found")
			}
			i++
		}
	})
	b.Run("view_canonical", func(b *testing.B) {
		v := f.g.Freeze()
		src := make([]uint32, 4096)
		rng := rand.New(rand.NewPCG(5, 6))
		for i := range src {
			src[i] = 1 + uint32(rng.IntN(f.persons))
		}
		dst := make([]uint32, len(src))
		b.ReportAllocs()
		for b.Loop() {
			v.MapCanonical(dst, src)
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(len(src)), "ns/person")
	})
	// Last: these grow the shared graph.
	rng := rand.New(rand.NewPCG(7, 8))
	b.Run("new_anonymous_person", func(b *testing.B) {
		reqs := make([][]ID, 1<<16)
		for i := range reqs {
			reqs[i] = []ID{a(uuidOf(rng))}
		}
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			r := reqs[i&(1<<16-1)]
			if i >= 1<<16 { // keep ids new without allocating a UUID string per op outside the budget
				r[0].Value = uuidOf(rng)
			}
			if _, err := f.g.Resolve(r, 1, "m"); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
	b.Run("new_identified_person", func(b *testing.B) {
		b.ReportAllocs()
		base := 2 * f.persons
		req := make([]ID, 2)
		for i := 0; b.Loop(); i++ {
			req[0], req[1] = u(userID(base+i)), a(uuidOf(rng))
			if _, err := f.g.Resolve(req, 1, "m"); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkNewPersonSmall measures creation on a small graph, where the
// dictionary and pages stay in cache.
func BenchmarkNewPersonSmall(b *testing.B) {
	g := NewGraph(DefaultRules())
	rng := rand.New(rand.NewPCG(9, 10))
	reqs := make([][]ID, 1<<16)
	for i := range reqs {
		reqs[i] = []ID{u(userID(i)), a(uuidOf(rng))}
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if i == len(reqs) {
			b.StopTimer()
			g, i = NewGraph(DefaultRules()), 0
			b.StartTimer()
		}
		if _, err := g.Resolve(reqs[i], 1, "m"); err != nil {
			b.Fatal(err)
		}
		i++
	}
}
