package column

import (
	"bytes"
	"hash/maphash"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// dictModel is the oracle: codes in order of first insertion.
type dictModel struct {
	codes map[string]uint32
	strs  []string
}

func newDictModel() *dictModel { return &dictModel{codes: map[string]uint32{}} }

func (m *dictModel) intern(s string) uint32 {
	if c, ok := m.codes[s]; ok {
		return c
	}
	c := uint32(len(m.strs))
	m.codes[s] = c
	m.strs = append(m.strs, s)
	return c
}

// checkDict verifies d and a fresh view against the model, including Raw.
func checkDict(t testing.TB, d *Dictionary, m *dictModel) {
	t.Helper()
	if d.Len() != len(m.strs) {
		t.Fatalf("Len = %d, want %d", d.Len(), len(m.strs))
	}
	v := d.View()
	if v.Len() != len(m.strs) {
		t.Fatalf("View.Len = %d, want %d", v.Len(), len(m.strs))
	}
	data, offs := v.Raw()
	if len(offs) != len(m.strs)+1 || offs[0] != 0 || int(offs[len(offs)-1]) != len(data) {
		t.Fatalf("Raw: %d offsets, first %v, data len %d", len(offs), offs[:1], len(data))
	}
	for c, s := range m.strs {
		if got := v.Get(uint32(c)); got != s {
			t.Fatalf("Get(%d) = %q, want %q", c, got, s)
		}
		if got := string(data[offs[c]:offs[c+1]]); got != s {
			t.Fatalf("Raw string %d = %q, want %q", c, got, s)
		}
		if got, ok := d.Code(s); !ok || got != uint32(c) {
			t.Fatalf("Code(%q) = %d, %v; want %d", s, got, ok, c)
		}
		if got, ok := v.Code(s); !ok || got != uint32(c) {
			t.Fatalf("View.Code(%q) = %d, %v; want %d", s, got, ok, c)
		}
	}
}

func adversarialStrings() []string {
	out := []string{
		"", "", "a", "a", "A", "\x00", "\x00\x00", "a\x00", "\x00a",
		"\xff", "\xff\xfe", "\xc3\x28", "\xed\xa0\x80", "é", "e\u0301", "日本語", "🙂",
		strings.Repeat("x", 1<<16), strings.Repeat("x", 1<<16) + "y", strings.Repeat("\xff", 4097),
	}
	// Many strings of the same length that differ in one byte, and prefixes
	// of one another: every one must get its own code.
	for i := 0; i < 300; i++ {
		out = append(out, "k"+strconv.Itoa(1000+i), strings.Repeat("p", i%40))
	}
	return out
}

func TestDictionaryRoundTrip(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 7))
	cases := map[string][]string{
		"adversarial": adversarialStrings(),
	}
	var random []string
	for i := 0; i < 5000; i++ {
		b := make([]byte, r.IntN(12))
		for j := range b {
			b[j] = byte(r.IntN(4)) // tiny alphabet: many duplicates, many equal lengths
		}
		random = append(random, string(b))
	}
	cases["random"] = random

	for name, strs := range cases {
		t.Run(name, func(t *testing.T) {
			d, m := NewDictionary(), newDictModel()
			if _, ok := d.Code("absent"); ok {
				t.Fatal("empty dictionary found a string")
			}
			checkDict(t, d, m)
			for _, s := range strs {
				want := m.intern(s)
				if got := d.Intern(s); got != want {
					t.Fatalf("Intern(%q) = %d, want %d", s, got, want)
				}
			}
			checkDict(t, d, m)
			// Interning again changes nothing.
			for _, s := range strs {
				if got := d.Intern(s); got != m.codes[s] {
					t.Fatalf("re-Intern(%q) = %d, want %d", s, got, m.codes[s])
				}
			}
			checkDict(t, d, m)
			if _, ok := d.Code("never interned \x01"); ok {
				t.Fatal("Code found a string never interned")
			}
			if d.Bytes() <= 0 {
				t.Fatal("Bytes not positive")
			}
		})
	}
}

// TestDictionaryGrowth interns enough strings for many table resizes and
// checks that codes handed out early stay valid through all of them.
func TestDictionaryGrowth(t *testing.T) {
	const n = 100_000 // 14 table doublings
	d := NewDictionary()
	views := map[int]DictView{}
	for i := 0; i < n; i++ {
		if c := d.Intern(strconv.Itoa(i)); c != uint32(i) {
			t.Fatalf("Intern(%d) = %d", i, c)
		}
		if i&(i-1) == 0 { // powers of two: just before/after resizes
			views[i+1] = d.View()
		}
	}
	for i := 0; i < n; i++ {
		s := strconv.Itoa(i)
		if c, ok := d.Code(s); !ok || c != uint32(i) {
			t.Fatalf("after growth Code(%s) = %d, %v", s, c, ok)
		}
		if d.Intern(s) != uint32(i) {
			t.Fatalf("after growth Intern(%s) moved", s)
		}
	}
	for l, v := range views {
		if v.Len() != l {
			t.Fatalf("view len %d, want %d", v.Len(), l)
		}
		for c := 0; c < l; c++ {
			if v.Get(uint32(c)) != strconv.Itoa(c) {
				t.Fatalf("view of %d: Get(%d) = %q", l, c, v.Get(uint32(c)))
			}
		}
	}
}

// TestDictViewPrefix: a view is the prefix at the time it was taken; later
// strings are absent from it even though the dictionary has them.
func TestDictViewPrefix(t *testing.T) {
	d := NewDictionary()
	d.Intern("a")
	d.Intern("")
	v1 := d.View()
	d.Intern("b")
	d.Intern("c")
	v2 := d.View()

	if v1.Len() != 2 || v2.Len() != 4 {
		t.Fatalf("lens %d %d", v1.Len(), v2.Len())
	}
	for _, c := range []struct {
		v    DictView
		s    string
		code uint32
		ok   bool
	}{
		{v1, "a", 0, true}, {v1, "", 1, true}, {v1, "b", 0, false}, {v1, "c", 0, false}, {v1, "zz", 0, false},
		{v2, "a", 0, true}, {v2, "b", 2, true}, {v2, "c", 3, true},
	} {
		code, ok := c.v.Code(c.s)
		if ok != c.ok || code != c.code {
			t.Errorf("view(len %d).Code(%q) = %d, %v; want %d, %v", c.v.Len(), c.s, code, ok, c.code, c.ok)
		}
	}
	data, offs := v1.Raw()
	if string(data) != "a" || len(offs) != 3 {
		t.Fatalf("v1.Raw = %q, %v", data, offs)
	}
	var zero DictView
	if _, ok := zero.Code("a"); ok {
		t.Fatal("zero view found a string")
	}
}

// TestDictionaryConcurrentReaders runs readers (Code, View, Get, Raw) while
// the writer interns; run with -race.
func TestDictionaryConcurrentReaders(t *testing.T) {
	const n = 50_000
	name := func(i int) string { return "s" + strconv.Itoa(i*7919) }
	d := NewDictionary()
	views := make(chan DictView, 64)
	var wg sync.WaitGroup
	errs := make(chan string, 8)
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(w), 1))
			for v := range views {
				l := v.Len()
				data, offs := v.Raw()
				if len(offs) != l+1 || int(offs[l]) != len(data) {
					errs <- "Raw inconsistent with Len"
					return
				}
				for k := 0; k < 20 && l > 0; k++ {
					c := r.IntN(l)
					if v.Get(uint32(c)) != name(c) {
						errs <- "Get(" + strconv.Itoa(c) + ") wrong"
						return
					}
					if got, ok := v.Code(name(c)); !ok || got != uint32(c) {
						errs <- "View.Code wrong"
						return
					}
					if got, ok := d.Code(name(c)); !ok || got != uint32(c) {
						errs <- "Dictionary.Code wrong"
						return
					}
				}
				// A string the writer adds later is absent from this view.
				if _, ok := v.Code(name(l + 1000)); ok {
					errs <- "view sees a later string"
					return
				}
				fresh := d.View()
				if fresh.Len() < l {
					errs <- "fresh view shorter than an older one"
					return
				}
			}
		}()
	}
	for i := 0; i < n; i++ {
		d.Intern(name(i))
		if i%500 == 0 {
			views <- d.View()
		}
	}
	close(views)
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}

// splitFuzz cuts fuzz input into strings at 0x1f bytes.
func splitFuzz(b []byte) []string {
	var out []string
	for _, p := range bytes.Split(b, []byte{0x1f}) {
		out = append(out, string(p))
	}
	return out
}

func FuzzDictionary(f *testing.F) {
	f.Add([]byte("a\x1fb\x1fa\x1f\x1f"))
	f.Add([]byte("\xff\xfe\x1f\x00\x1f\xc3\x28\x1f\xff\xfe"))
	f.Fuzz(func(t *testing.T, in []byte) {
		strs := splitFuzz(in)
		d, m := NewDictionary(), newDictModel()
		var views []DictView
		var lens []int
		for i, s := range strs {
			if got, want := d.Intern(s), m.intern(s); got != want {
				t.Fatalf("Intern(%q) = %d, want %d", s, got, want)
			}
			if i%3 == 0 {
				views, lens = append(views, d.View()), append(lens, len(m.strs))
			}
		}
		checkDict(t, d, m)
		for k, v := range views {
			if v.Len() != lens[k] {
				t.Fatalf("view %d: len %d, want %d", k, v.Len(), lens[k])
			}
			for c, s := range m.strs {
				code, ok := v.Code(s)
				if c < lens[k] {
					if !ok || code != uint32(c) || v.Get(uint32(c)) != s {
						t.Fatalf("view %d: %q -> %d, %v", k, s, code, ok)
					}
				} else if ok {
					t.Fatalf("view %d of len %d sees later code %d", k, lens[k], c)
				}
			}
		}
	})
}

// TestDictionaryRandomOps drives Intern, Code, InternAll, Reserve and View
// at random against the map model, through many index resizes, with
// fixed-length strings (a probe cannot tell them apart by length) and short
// ones from a tiny alphabet (many repeats).
func TestDictionaryRandomOps(t *testing.T) {
	for seed := range uint64(4) {
		r := rand.New(rand.NewPCG(seed, 11))
		d, m := NewDictionary(), newDictModel()
		str := func() string {
			if r.IntN(4) == 0 {
				b := make([]byte, r.IntN(4))
				for j := range b {
					b[j] = 'a' + byte(r.IntN(3))
				}
				return string(b)
			}
			return msgID(uint64(r.IntN(60_000)))
		}
		var views []DictView // each a prefix of m.strs, which only grows
		for op := 0; op < 40_000; op++ {
			switch k := r.IntN(100); {
			case k < 60:
				s := str()
				if got, want := d.Intern(s), m.intern(s); got != want {
					t.Fatalf("seed %d op %d: Intern(%q) = %d, want %d", seed, op, s, got, want)
				}
			case k < 90:
				s := str()
				want, wantOK := m.codes[s]
				if got, ok := d.Code(s); ok != wantOK || got != want {
					t.Fatalf("seed %d op %d: Code(%q) = %d, %v; want %d, %v", seed, op, s, got, ok, want, wantOK)
				}
			case k < 91: // rarely: InternAll and Reserve copy the whole dictionary when short of room
				n := r.IntN(300)
				var data []byte
				offs := []uint32{0}
				var want []uint32
				for range n {
					s := str()
					data = append(data, s...)
					offs = append(offs, uint32(len(data)))
					want = append(want, m.intern(s))
				}
				got := d.InternAll(nil, data, offs, n)
				if len(got) != len(want) {
					t.Fatalf("seed %d op %d: InternAll gave %d codes, want %d", seed, op, len(got), len(want))
				}
				for i := range got {
					if got[i] != want[i] {
						t.Fatalf("seed %d op %d: InternAll code %d = %d, want %d", seed, op, i, got[i], want[i])
					}
				}
			case k < 92:
				d.Reserve(r.IntN(3000))
			case r.IntN(20) == 0:
				views = append(views, d.View())
			}
		}
		checkDict(t, d, m)
		checkIndex(t, d)
		for _, v := range views {
			for c := 0; c < len(m.strs); c += 1 + r.IntN(50) {
				s := m.strs[c]
				got, ok := v.Code(s)
				if c < v.Len() && (!ok || got != uint32(c) || v.Get(uint32(c)) != s) {
					t.Fatalf("seed %d: view of %d: %q -> %d, %v; want %d", seed, v.Len(), s, got, ok, c)
				}
				if c >= v.Len() && ok { // added after the view
					t.Fatalf("seed %d: view of %d sees code %d", seed, v.Len(), c)
				}
			}
		}
	}
}

// checkIndex verifies the index against the entries: each code in exactly
// one slot, holding its own hash bits, and reachable from its home slot
// without crossing an empty one; and the load below 3/4.
func checkIndex(t testing.TB, d *Dictionary) {
	t.Helper()
	d.migrate(len(d.old)) // entries still moving are checked once moved
	size, n := len(d.slots), d.Len()
	if size < 16 || size&(size-1) != 0 || (n+1)*4 > size*3 {
		t.Fatalf("%d slots for %d entries", size, n)
	}
	cmask := uint32(size - 1)
	seen := make([]bool, n)
	for i, e := range d.slots {
		if e == 0 {
			continue
		}
		c := e&cmask - 1
		if int(c) >= n || seen[c] {
			t.Fatalf("slot %d: code %d of %d, or twice", i, c, n)
		}
		seen[c] = true
		h := maphash.String(d.seed, d.get(c))
		if e != slotEntry(h, c, size) {
			t.Fatalf("slot %d: %#x, want %#x", i, e, slotEntry(h, c, size))
		}
		for j := h & uint64(cmask); j != uint64(i); j = (j + 1) & uint64(cmask) {
			if d.slots[j] == 0 {
				t.Fatalf("code %d at slot %d: empty slot %d on its probe path", c, i, j)
			}
		}
	}
	for c, ok := range seen {
		if !ok {
			t.Fatalf("code %d not in the index", c)
		}
	}
}

// TestDictionaryIndexAcrossSizes checks the index after every resize, by
// Intern and by Reserve, and that Reserve then holds off resizes.
func TestDictionaryIndexAcrossSizes(t *testing.T) {
	d := NewDictionary()
	size := len(d.slots)
	for i := range 50_000 {
		d.Intern(msgID(uint64(i)))
		if len(d.slots) != size {
			if len(d.slots) != 2*size {
				t.Fatalf("resize from %d to %d slots", size, len(d.slots))
			}
			size = len(d.slots)
			checkIndex(t, d)
		}
	}
	checkIndex(t, d)
	d.Reserve(200_000)
	checkIndex(t, d)
	size = len(d.slots)
	var data []byte
	offs := []uint32{0}
	for i := range 200_000 {
		data = append(data, msgID(uint64(i+25_000))...) // half already present
		offs = append(offs, uint32(len(data)))
	}
	codes := d.InternAll(nil, data, offs, 200_000)
	if len(d.slots) != size {
		t.Fatalf("InternAll after Reserve resized %d -> %d", size, len(d.slots))
	}
	checkIndex(t, d)
	for i, c := range codes {
		want := uint32(i + 25_000)
		if i >= 25_000 {
			want = uint32(50_000 + i - 25_000)
		}
		if c != want || d.get(c) != msgID(uint64(i+25_000)) {
			t.Fatalf("InternAll string %d: code %d, want %d", i, c, want)
		}
	}
}

// TestDictionaryTagCollisions forces every slot to carry the probed
// string's hash bits, as a table with few hash bits per slot would, so
// every occupied slot on the probe path must be told apart by comparing
// strings: equal length, and prefixes of one another.
func TestDictionaryTagCollisions(t *testing.T) {
	var strs []string
	for i := range 7 {
		strs = append(strs, msgID(uint64(i)))
	}
	strs = append(strs, "", "m", "mm") // one more fits in 16 slots
	d, m := NewDictionary(), newDictModel()
	for _, s := range strs {
		d.Intern(s)
		m.intern(s)
	}
	if len(d.slots) != 16 {
		t.Fatalf("%d slots", len(d.slots))
	}
	checkIndex(t, d)
	saved := append([]uint32(nil), d.slots...)
	cmask := uint32(len(d.slots) - 1)
	probes := append([]string{"mmm", "n", msgID(99), msgID(100)}, strs...)
	for _, s := range probes {
		h := maphash.String(d.seed, s)
		for i, e := range saved {
			if e != 0 {
				d.slots[i] = slotEntry(h, e&cmask-1, len(d.slots))
			}
		}
		want, wantOK := m.codes[s]
		if got, ok := d.Code(s); ok != wantOK || got != want {
			t.Fatalf("Code(%q) = %d, %v; want %d, %v", s, got, ok, want, wantOK)
		}
		if got := d.Intern(s); wantOK && got != want {
			t.Fatalf("Intern(%q) = %d, want %d", s, got, want)
		}
		if len(d.slots) != 16 {
			t.Fatalf("resized to %d slots", len(d.slots))
		}
		if !wantOK { // added, with its own hash bits like every slot
			if got, ok := d.Code(s); !ok || got != uint32(len(strs)) {
				t.Fatalf("after Intern, Code(%q) = %d, %v", s, got, ok)
			}
			d.data, d.offsets = d.data[:d.offsets[len(strs)]], d.offsets[:len(strs)+1]
		}
		copy(d.slots, saved)
	}
	checkIndex(t, d)
	checkDict(t, d, m)
}

// TestSlotEntryWideIndex: from 2^32 slots on, codes take all 32 bits and
// no hash bits are kept, so every slot's string is compared.
func TestSlotEntryWideIndex(t *testing.T) {
	if math.MaxInt == math.MaxInt32 {
		t.Skip("32-bit int")
	}
	h := uint64(0xfedcba98_76543210)
	for _, c := range []struct {
		nslots int
		code   uint32
		want   uint32
	}{
		{16, 5, 0xfedcba90 | 6},
		{1 << 24, 1<<24 - 2, 0xfe000000 | (1<<24 - 1)},
		{1 << 31, 7, 0x80000000 | 8},
		{1 << 32, 1<<32 - 2, 1<<32 - 1},
		{1 << 33, 9, 10},
	} {
		if got := slotEntry(h, c.code, c.nslots); got != c.want {
			t.Errorf("slotEntry(%d slots, code %d) = %#x, want %#x", c.nslots, c.code, got, c.want)
		}
	}
}
