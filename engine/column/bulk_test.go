package column

import (
	"math"
	"math/rand/v2"
	"reflect"
	"testing"
)

// sameVec fails unless got and want are the same sealed vector (buffers,
// layout, statistics and the shape of the Arrow arrays).
func sameVec(t *testing.T, what string, got, want *Vec) {
	t.Helper()
	if (got == nil) != (want == nil) {
		t.Fatalf("%s: got %v, want %v", what, got, want)
	}
	if got == nil {
		return
	}
	fl := func(f []float64) []uint64 {
		if f == nil {
			return nil
		}
		out := make([]uint64, len(f))
		for i, x := range f {
			out[i] = math.Float64bits(x)
		}
		return out
	}
	if !reflect.DeepEqual(fl(got.F64), fl(want.F64)) || math.Float64bits(got.MinF) != math.Float64bits(want.MinF) ||
		math.Float64bits(got.MaxF) != math.Float64bits(want.MaxF) {
		t.Fatalf("%s: floats differ: got %v [%v %v], want %v [%v %v]", what, got.F64, got.MinF, got.MaxF, want.F64, want.MinF, want.MaxF)
	}
	if len(got.Arrays) != len(want.Arrays) {
		t.Fatalf("%s: %d arrays, want %d", what, len(got.Arrays), len(want.Arrays))
	}
	for i := range got.Arrays {
		g, w := got.Arrays[i], want.Arrays[i]
		if g.Len() != w.Len() || g.NullN() != w.NullN() || g.DataType().ID() != w.DataType().ID() {
			t.Fatalf("%s: array %d differs: %v/%d/%d vs %v/%d/%d", what, i, g.DataType(), g.Len(), g.NullN(), w.DataType(), w.Len(), w.NullN())
		}
	}
	a, b := got, want
	if !reflect.DeepEqual(a.Pos, b.Pos) || !reflect.DeepEqual(a.Valid, b.Valid) || !reflect.DeepEqual(a.U8, b.U8) ||
		!reflect.DeepEqual(a.U16, b.U16) || !reflect.DeepEqual(a.U32, b.U32) || !reflect.DeepEqual(a.U64, b.U64) ||
		!reflect.DeepEqual(a.Bits, b.Bits) || !reflect.DeepEqual(a.Off, b.Off) ||
		a.Type != b.Type || a.N != b.N || a.Width != b.Width || a.Base != b.Base || a.Scale != b.Scale ||
		a.MinI != b.MinI || a.MaxI != b.MaxI || a.NonNil != b.NonNil {
		t.Fatalf("%s: got %+v\nwant %+v", what, a.summary(), b.summary())
	}
}

func (v *Vec) summary() map[string]any {
	return map[string]any{"type": v.Type, "n": v.N, "pos": len(v.Pos), "valid": len(v.Valid), "width": v.Width, "base": v.Base,
		"scale": v.Scale, "min": v.MinI, "max": v.MaxI, "nonnil": v.NonNil, "u8": len(v.U8), "u16": len(v.U16), "u32": len(v.U32),
		"u64": len(v.U64), "bits": len(v.Bits), "off": len(v.Off)}
}

func TestBulkSealMatchesBuilder(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 9))
	sizes := []int{1, 2, 63, 64, 65, 100, 1000, ChunkRows - 1, ChunkRows}
	densities := []float64{0, 0.01, 0.1, 0.124, 0.126, 0.5, 0.99, 1}
	ints := []func() int64{
		func() int64 { return r.Int64N(200) },
		func() int64 { return 1_700_000_000_000_000 + r.Int64N(1<<20)*1000 },
		func() int64 { return r.Int64() - 1<<62 },
		func() int64 { return int64(r.Uint64()) },
		func() int64 { return -5 },
		func() int64 { return math.MinInt64 + r.Int64N(3) },
		func() int64 { return r.Int64N(70000) * 3 },
	}
	floats := []func() float64{
		func() float64 { return r.NormFloat64() },
		func() float64 { return float64(r.IntN(3)) },
		func() float64 {
			switch r.IntN(6) {
			case 0:
				return math.NaN()
			case 1:
				return math.Copysign(0, -1)
			case 2:
				return 0
			case 3:
				return math.Inf(1)
			}
			return r.Float64()
		},
	}
	for _, n := range sizes {
		for _, dens := range densities {
			valid := NewBitmap(n)
			for i := range n {
				if r.Float64() < dens {
					valid.Set(i)
				}
			}
			vb := valid
			if dens == 1 {
				vb = nil // all valid: both spellings
				if r.IntN(2) == 0 {
					vb = valid
				}
			}
			for k, gen := range ints {
				vals := make([]int64, n)
				for _, typ := range []Type{TypeInt, TypeTimestamp} {
					b := NewBuilder(typ)
					for i := range n {
						vals[i] = gen()
						if valid.Get(i) {
							b.AppendInt(vals[i])
						} else {
							b.AppendNull()
						}
					}
					sameVec(t, typ.String()+" n="+itoa(n)+" gen="+itoa(k), SealInts(typ, vals, vb, n), b.Seal(n))
				}
			}
			codes := make([]uint32, n)
			for _, span := range []int{1, 200, 60000, 1 << 30} {
				b := NewBuilder(TypeString)
				for i := range n {
					codes[i] = uint32(r.IntN(span))
					if valid.Get(i) {
						b.AppendCode(codes[i])
					} else {
						b.AppendNull()
					}
				}
				sameVec(t, "string n="+itoa(n), SealCodes(codes, vb, n), b.Seal(n))
			}
			for _, gen := range floats {
				fs := make([]float64, n)
				b := NewBuilder(TypeFloat)
				for i := range n {
					fs[i] = gen()
					if valid.Get(i) {
						b.AppendFloat(fs[i])
					} else {
						b.AppendNull()
					}
				}
				sameVec(t, "float n="+itoa(n), SealFloats(fs, vb, n), b.Seal(n))
			}
			bits := NewBitmap(n + 64)
			bb := NewBuilder(TypeBool)
			for i := range n + 64 {
				if r.IntN(2) == 0 {
					bits.Set(i) // bits past n must be ignored
				}
			}
			for i := range n {
				if valid.Get(i) {
					bb.AppendBool(bits.Get(i))
				} else {
					bb.AppendNull()
				}
			}
			sameVec(t, "bool n="+itoa(n), SealBools(bits, vb, n), bb.Seal(n))
			off := []int32{0}
			var lc []uint32
			lb := NewBuilder(TypeStringList)
			for i := range n {
				l := make([]uint32, r.IntN(3))
				for j := range l {
					l[j] = uint32(r.IntN(50))
				}
				lc = append(lc, l...)
				off = append(off, int32(len(lc)))
				if valid.Get(i) {
					lb.AppendList(l)
				} else {
					lb.AppendNull()
				}
			}
			sameVec(t, "list n="+itoa(n), SealLists(off, lc, vb, n), lb.Seal(n))
		}
	}
}

func itoa(i int) string {
	if i == 0 {
		return "0"
	}
	var b []byte
	for ; i > 0; i /= 10 {
		b = append([]byte{byte('0' + i%10)}, b...)
	}
	return string(b)
}

func TestInternAllMatchesIntern(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 3))
	a, b := NewDictionary(), NewDictionary()
	for round := range 20 {
		var data []byte
		offs := []uint32{0}
		var want []uint32
		n := r.IntN(5000)
		for range n {
			s := "v" + itoa(r.IntN(20000)+1)
			if r.IntN(10) == 0 {
				s = ""
			}
			data = append(data, s...)
			offs = append(offs, uint32(len(data)))
			want = append(want, a.Intern(s))
		}
		got := b.InternAll(nil, data, offs, n)
		if !reflect.DeepEqual(got, want) && !(len(got) == 0 && len(want) == 0) {
			t.Fatalf("round %d: codes differ", round)
		}
		if a.Len() != b.Len() {
			t.Fatalf("round %d: %d entries, want %d", round, b.Len(), a.Len())
		}
		for c := range a.Len() {
			if a.get(uint32(c)) != b.get(uint32(c)) {
				t.Fatalf("round %d: code %d differs", round, c)
			}
		}
	}
	for c := range b.Len() { // the index still finds every entry
		if got, ok := b.Code(b.get(uint32(c))); !ok || got != uint32(c) {
			t.Fatalf("Code(%q) = %d, %v", b.get(uint32(c)), got, ok)
		}
	}
}
