package column

import (
	"bytes"
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
