package column

import (
	"math/rand/v2"
	"slices"
	"testing"
	"unsafe"
)

var bitmapSizes = []int{0, 1, 63, 64, 65, 4097, ChunkRows}

// boolModel is the naive oracle for Bitmap: one bool per bit.
type boolModel []bool

func randModel(r *rand.Rand, n int, density float64) boolModel {
	m := make(boolModel, n)
	for i := range m {
		m[i] = r.Float64() < density
	}
	return m
}

func (m boolModel) bitmap() Bitmap {
	b := NewBitmap(len(m))
	for i, x := range m {
		if x {
			b.Set(i)
		}
	}
	return b
}

func (m boolModel) count() int {
	c := 0
	for _, x := range m {
		if x {
			c++
		}
	}
	return c
}

// checkBitmap compares b to m bit by bit, and requires every bit at or past
// len(m) to be zero (operations must not leak garbage past n).
func checkBitmap(t *testing.T, what string, b Bitmap, m boolModel) {
	t.Helper()
	if len(b) != Words(len(m)) {
		t.Fatalf("%s: len %d words, want %d", what, len(b), Words(len(m)))
	}
	for i, x := range m {
		if b.Get(i) != x {
			t.Fatalf("%s: bit %d = %v, want %v", what, i, b.Get(i), x)
		}
	}
	for i := len(m); i < len(b)*64; i++ {
		if b.Get(i) {
			t.Fatalf("%s: bit %d past n=%d is set", what, i, len(m))
		}
	}
	if got, want := b.Count(), m.count(); got != want {
		t.Fatalf("%s: Count = %d, want %d", what, got, want)
	}
	if got, want := b.Any(), m.count() > 0; got != want {
		t.Fatalf("%s: Any = %v, want %v", what, got, want)
	}
}

func TestWords(t *testing.T) {
	for _, c := range []struct{ n, w int }{{0, 0}, {1, 1}, {63, 1}, {64, 1}, {65, 2}, {128, 2}, {129, 3}, {ChunkRows, ChunkRows / 64}} {
		if got := Words(c.n); got != c.w {
			t.Errorf("Words(%d) = %d, want %d", c.n, got, c.w)
		}
	}
}

func TestBitmapAgainstModel(t *testing.T) {
	for _, n := range bitmapSizes {
		for _, density := range []float64{0, 0.01, 0.5, 0.99, 1} {
			r := rand.New(rand.NewPCG(uint64(n), uint64(density*1000)))
			a, o := randModel(r, n, density), randModel(r, n, 0.5)
			t.Run("", func(t *testing.T) {
				checkBitmap(t, "Set", a.bitmap(), a)

				// Clear every other set bit.
				b, m := a.bitmap(), slices.Clone(a)
				for i := 0; i < n; i += 2 {
					b.Clear(i)
					m[i] = false
				}
				checkBitmap(t, "Clear", b, m)

				b, m = a.bitmap(), slices.Clone(a)
				b.And(o.bitmap())
				for i := range m {
					m[i] = m[i] && o[i]
				}
				checkBitmap(t, "And", b, m)

				b, m = a.bitmap(), slices.Clone(a)
				b.Or(o.bitmap())
				for i := range m {
					m[i] = m[i] || o[i]
				}
				checkBitmap(t, "Or", b, m)

				b, m = a.bitmap(), slices.Clone(a)
				b.AndNot(o.bitmap())
				for i := range m {
					m[i] = m[i] && !o[i]
				}
				checkBitmap(t, "AndNot", b, m)

				b, m = a.bitmap(), slices.Clone(a)
				b.Not(n)
				for i := range m {
					m[i] = !m[i]
				}
				checkBitmap(t, "Not", b, m)
				b.Not(n)
				checkBitmap(t, "Not twice", b, a)

				for _, k := range []int{0, 1, n / 2, n - 1, n, n + 1, r.IntN(n + 1)} {
					if k < 0 {
						continue
					}
					b, m = a.bitmap(), slices.Clone(a)
					b.Trim(k)
					for i := k; i < n; i++ {
						m[i] = false
					}
					checkBitmap(t, "Trim", b, m)

					if k > n {
						continue
					}
					b = a.bitmap()
					b.SetAll(k)
					for i := range m {
						m[i] = i < k
					}
					checkBitmap(t, "SetAll", b, m)
				}

				b = a.bitmap()
				c := b.Clone(n + 200)
				if len(c) != max(len(b), Words(n+200)) {
					t.Fatalf("Clone len %d", len(c))
				}
				if n > 0 {
					c.Not(n)
					checkBitmap(t, "Clone is independent", b, a)
				}

				// Next against a linear scan of the model, from every
				// position (sampled for big n) and past the end.
				step := 1
				if n > 5000 {
					step = 97
				}
				for i := 0; i <= n+64; i += step {
					want := -1
					for j := i; j < n; j++ {
						if a[j] {
							want = j
							break
						}
					}
					if got := b.Next(i); got != want {
						t.Fatalf("Next(%d) = %d, want %d", i, got, want)
					}
				}
				// Iterating with Next visits exactly the set bits.
				var viaNext []int32
				for i := b.Next(0); i >= 0; i = b.Next(i + 1) {
					viaNext = append(viaNext, int32(i))
				}

				var want []int32
				for i, x := range a {
					if x {
						want = append(want, int32(i)+1000)
					}
				}
				prefix := []int32{-7}
				got := b.AppendIndexes(prefix, 1000)
				if got[0] != -7 || !slices.Equal(got[1:], want) {
					t.Fatalf("AppendIndexes: got %d indexes, want %d", len(got)-1, len(want))
				}
				for i := range viaNext {
					viaNext[i] += 1000
				}
				if !slices.Equal(viaNext, want) {
					t.Fatalf("Next iteration visited %d bits, want %d", len(viaNext), len(want))
				}
			})
		}
	}
}

// TestBitmapMismatchedLengths covers And/Or/AndNot where the operand is
// shorter or longer than the receiver: And clears b's words past o, Or and
// AndNot leave them alone, and nothing writes past len(b).
func TestBitmapMismatchedLengths(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	long, short := randModel(r, 300, 0.5), randModel(r, 100, 0.5)
	for _, c := range []struct {
		name string
		op   func(b, o Bitmap)
		bit  func(x, y bool) bool
		past func(x bool) bool // receiver bits past the operand's words
	}{
		{"And", Bitmap.And, func(x, y bool) bool { return x && y }, func(bool) bool { return false }},
		{"Or", Bitmap.Or, func(x, y bool) bool { return x || y }, func(x bool) bool { return x }},
		{"AndNot", Bitmap.AndNot, func(x, y bool) bool { return x && !y }, func(x bool) bool { return x }},
	} {
		t.Run(c.name+"/shorter operand", func(t *testing.T) {
			b, o := long.bitmap(), short.bitmap()
			c.op(b, o)
			m := make(boolModel, len(long))
			for i := range m {
				if i < len(o)*64 {
					m[i] = c.bit(long[i], i < len(short) && short[i])
				} else {
					m[i] = c.past(long[i])
				}
			}
			checkBitmap(t, c.name, b, m)
		})
		t.Run(c.name+"/longer operand", func(t *testing.T) {
			b, o := short.bitmap(), long.bitmap()
			c.op(b, o)
			m := make(boolModel, len(short))
			for i := range m {
				m[i] = c.bit(short[i], long[i])
			}
			// Bits between len(short) and the word end may come from o for
			// Or; compare only the first len(short) bits plus length.
			if len(b) != Words(len(short)) {
				t.Fatalf("len changed to %d", len(b))
			}
			for i, x := range m {
				if b.Get(i) != x {
					t.Fatalf("bit %d = %v, want %v", i, b.Get(i), x)
				}
			}
		})
	}
}

func TestBitmapResizeReuse(t *testing.T) {
	for _, n := range bitmapSizes {
		b := NewBitmap(n)
		b.SetAll(n)
		for _, m := range []int{0, min(1, n), n / 2, n} {
			c := b.Resize(m)
			if len(c) != Words(m) {
				t.Fatalf("Resize(%d) of %d: len %d", m, n, len(c))
			}
			if c.Any() {
				t.Fatalf("Resize(%d) of %d: not cleared", m, n)
			}
			if len(c) > 0 && unsafe.SliceData(c) != unsafe.SliceData(b) {
				t.Fatalf("Resize(%d) of %d bits reallocated although it fits", m, n)
			}
			b.SetAll(n)
		}
		c := b.Resize(n + 64*70)
		if len(c) != Words(n+64*70) || c.Any() {
			t.Fatalf("Resize grow of %d: len %d any %v", n, len(c), c.Any())
		}
		if unsafe.SliceData(c) == unsafe.SliceData(b) {
			t.Fatalf("Resize grow of %d reused too small a buffer", n)
		}
	}
	if got := Bitmap(nil).Resize(65); len(got) != 2 {
		t.Fatalf("nil.Resize(65): len %d", len(got))
	}
}

func TestBitmapEmptyAndNil(t *testing.T) {
	var b Bitmap
	if b.Count() != 0 || b.Any() || b.Next(0) != -1 || len(b.AppendIndexes(nil, 0)) != 0 {
		t.Fatal("nil bitmap is not empty")
	}
	b.Trim(0)
	b.Not(0)
	b.SetAll(0)
	b.And(nil)
	b.Or(nil)
	b.AndNot(nil)
}
