package expr

import (
	"testing"
)

// FuzzCompile decodes the input into a small random table and predicate
// (the bytes drive every choice, then a PRNG seeded by them), compiles,
// evaluates and compares with the oracle.
func FuzzCompile(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{1, 2, 3, 4, 5, 6, 7, 8})
	f.Add([]byte("\x00\x03\x05\x02\x01\x07\x04\x09\x0b\x02\x02\x06\x00"))
	f.Fuzz(func(t *testing.T, data []byte) {
		g := newByteGen(data)
		e := g.expr(4)
		tt := g.table(1 + g.pick(3))
		check(t, tt, e, NewScratch())
	})
}
