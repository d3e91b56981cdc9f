package column

import "math/bits"

// Bitmap is a selection or validity bitmap: bit i of word i/64 is row i.
// Operations work word by word and never allocate unless documented.
type Bitmap []uint64

// Words returns how many uint64 words hold n bits.
func Words(n int) int { return (n + 63) >> 6 }

// NewBitmap returns a zeroed bitmap able to hold n bits.
func NewBitmap(n int) Bitmap { return make(Bitmap, Words(n)) }

// Resize returns b with room for n bits, all zero, reusing b's storage when
// it is large enough.
func (b Bitmap) Resize(n int) Bitmap {
	w := Words(n)
	if cap(b) < w {
		return make(Bitmap, w)
	}
	b = b[:w]
	clear(b)
	return b
}

// Get reports whether bit i is set.
func (b Bitmap) Get(i int) bool { return b[i>>6]&(1<<(uint(i)&63)) != 0 }

// Set sets bit i.
func (b Bitmap) Set(i int) { b[i>>6] |= 1 << (uint(i) & 63) }

// Clear clears bit i.
func (b Bitmap) Clear(i int) { b[i>>6] &^= 1 << (uint(i) & 63) }

// SetAll sets bits [0, n) and clears the rest of the words.
func (b Bitmap) SetAll(n int) {
	full := n >> 6
	for i := 0; i < full; i++ {
		b[i] = ^uint64(0)
	}
	for i := full; i < len(b); i++ {
		b[i] = 0
	}
	if r := uint(n) & 63; r != 0 {
		b[full] = (1 << r) - 1
	}
}

// Count returns the number of set bits.
func (b Bitmap) Count() int {
	n := 0
	for _, w := range b {
		n += bits.OnesCount64(w)
	}
	return n
}

// Any reports whether any bit is set.
func (b Bitmap) Any() bool {
	for _, w := range b {
		if w != 0 {
			return true
		}
	}
	return false
}

// And sets b = b AND o over the shorter length; words of b past o are cleared.
func (b Bitmap) And(o Bitmap) {
	n := min(len(b), len(o))
	o = o[:n]
	for i := range o {
		b[i] &= o[i]
	}
	clear(b[n:])
}

// Or sets b = b OR o.
func (b Bitmap) Or(o Bitmap) {
	n := min(len(b), len(o))
	o = o[:n]
	for i := range o {
		b[i] |= o[i]
	}
}

// AndNot sets b = b AND NOT o.
func (b Bitmap) AndNot(o Bitmap) {
	n := min(len(b), len(o))
	o = o[:n]
	for i := range o {
		b[i] &^= o[i]
	}
}

// Not sets b = NOT b for bits [0, n).
func (b Bitmap) Not(n int) {
	for i := range b {
		b[i] = ^b[i]
	}
	b.Trim(n)
}

// Trim clears every bit at or past n.
func (b Bitmap) Trim(n int) {
	w := n >> 6
	if w >= len(b) {
		return
	}
	if r := uint(n) & 63; r != 0 {
		b[w] &= (1 << r) - 1
		w++
	}
	clear(b[w:])
}

// Clone returns a copy of b with capacity for at least n bits.
func (b Bitmap) Clone(n int) Bitmap {
	c := make(Bitmap, max(len(b), Words(n)))
	copy(c, b)
	return c
}

// Next returns the index of the first set bit at or after i, or -1.
func (b Bitmap) Next(i int) int {
	w := i >> 6
	if w >= len(b) {
		return -1
	}
	word := b[w] >> (uint(i) & 63)
	if word != 0 {
		return i + bits.TrailingZeros64(word)
	}
	for w++; w < len(b); w++ {
		if b[w] != 0 {
			return w<<6 + bits.TrailingZeros64(b[w])
		}
	}
	return -1
}

// AppendIndexes appends the indexes of set bits, each plus base, to dst.
func (b Bitmap) AppendIndexes(dst []int32, base int32) []int32 {
	for wi, w := range b {
		for w != 0 {
			t := bits.TrailingZeros64(w)
			dst = append(dst, base+int32(wi<<6+t))
			w &= w - 1
		}
	}
	return dst
}
