package identity

import (
	"testing"
)

// FuzzResolve runs random operation sequences against the graph and the
// reference model: it must never panic, must agree with the model and keep
// the invariants (no person over a limit, canonical idempotent, every
// identifier listed by its person and resolving to it).
//
// Encoding: data[0] picks the rules; then each operation is a byte whose low
// 3 bits pick Resolve (0-4), Link (5), Erase (6) or Unsuppress (7) and whose
// high bits give 1-4 argument bytes, each naming an identifier of a small
// universe.
func FuzzResolve(f *testing.F) {
	f.Add([]byte{0, 0x08, 0x00, 0x01, 0x00, 0x03, 0x08, 0x09})
	f.Add([]byte{0, 0x18, 0x03, 0x00, 0x08, 0x01, 0x00, 0x0b, 0x00, 0x06, 0x00, 0x07, 0x00})
	f.Add([]byte{2, 0x10, 0x01, 0x09, 0x05, 0x03, 0x00, 0x10, 0x0b, 0x11, 0x06, 0x01})
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) == 0 || len(data) > 512 {
			return
		}
		r := modelRules[int(data[0])%len(modelRules)]
		h := &harness{g: NewGraph(r), m: newModel(r)}
		data = data[1:]
		for len(data) > 0 {
			code := data[0]
			n := 1 + int(code>>3)%4
			data = data[1:]
			n = min(n, len(data))
			arg := data[:n]
			data = data[n:]
			if err := h.op(code, arg); err != nil {
				t.Fatal(err)
			}
		}
		v := h.g.Freeze()
		for p := uint32(0); p <= uint32(h.g.Persons()); p++ {
			if c := v.Canonical(p); v.Canonical(c) != c {
				t.Fatalf("view canonical not idempotent at %d", p)
			}
		}
	})
}
