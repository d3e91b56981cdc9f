package column

import (
	"fmt"
	"math"
	"math/bits"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
)

var allTypes = []Type{TypeInt, TypeTimestamp, TypeFloat, TypeBool, TypeString, TypeStringList}

// t0 is a timestamp in µs that is a whole second.
const t0 = 1_700_000_000_000_000

var stringPool = []string{"", "a", "b", "\xff\xfe", "é", "long-" + string(make([]byte, 300)), "x\x00y", "checkout", "signup"}

// genValue returns a random non-NULL value of type typ, mixing in the edge
// cases of the type.
func genValue(r *rand.Rand, typ Type) Value {
	switch typ {
	case TypeInt:
		switch r.IntN(6) {
		case 0:
			return Int([]int64{math.MinInt64, math.MaxInt64, math.MinInt64 + 1, math.MaxInt64 - 1, 0, -1}[r.IntN(6)])
		case 1:
			return Int(r.Int64() - r.Int64())
		default:
			return Int(int64(r.IntN(1000)) - 500)
		}
	case TypeTimestamp:
		if r.IntN(2) == 0 {
			return Micros(t0 + int64(r.IntN(5000))*1000) // ms granularity
		}
		return Micros(t0 + int64(r.IntN(100))*1_000_000) // s granularity
	case TypeFloat:
		switch r.IntN(8) {
		case 0:
			return Float([]float64{math.NaN(), math.Inf(1), math.Inf(-1), math.Copysign(0, -1), 0, math.MaxFloat64, -math.SmallestNonzeroFloat64}[r.IntN(7)])
		default:
			return Float(r.NormFloat64() * 1e6)
		}
	case TypeBool:
		return Bool(r.IntN(2) == 0)
	case TypeString:
		return String(stringPool[r.IntN(len(stringPool))])
	case TypeStringList:
		l := make([]string, r.IntN(4))
		for i := range l {
			l[i] = stringPool[r.IntN(len(stringPool))]
		}
		return StringList(l)
	}
	panic("unknown type")
}

type nullPattern struct {
	name string
	null func(r *rand.Rand, i int) bool
}

var nullPatterns = []nullPattern{
	{"none", func(*rand.Rand, int) bool { return false }},
	{"all", func(*rand.Rand, int) bool { return true }},
	{"random", func(r *rand.Rand, _ int) bool { return r.IntN(2) == 0 }},
	{"mostly", func(r *rand.Rand, _ int) bool { return r.IntN(5) == 0 }},                     // dense with a few NULLs
	{"sparse", func(r *rand.Rand, i int) bool { return i != 0 && r.IntN(20) != 0 }},          // < 1/8 values: Pos
	{"one", func(r *rand.Rand, i int) bool { return i != 37 }},                               // a single value
	{"boundary", func(r *rand.Rand, i int) bool { return i%64 != 63 && i%64 != 0 && i > 2 }}, // word edges
}

func newDef(typ Type) *ColumnDef {
	d := &ColumnDef{Name: "c", Type: typ}
	if typ == TypeString || typ == TypeStringList {
		d.Dict = NewDictionary()
	}
	return d
}

func genValues(r *rand.Rand, typ Type, p nullPattern, n int) []Value {
	vals := make([]Value, n)
	for i := range vals {
		if !p.null(r, i) {
			vals[i] = genValue(r, typ)
		}
	}
	return vals
}

func buildValues(def *ColumnDef, vals []Value) *Builder {
	b := NewBuilder(def.Type)
	for _, v := range vals {
		b.Append(v, def.Dict)
	}
	return b
}

// same is Value.Equal but bit-exact for floats (-0 differs from 0).
func same(a, b Value) bool {
	if a.Type == TypeFloat && b.Type == TypeFloat && a.F == a.F {
		return math.Float64bits(a.F) == math.Float64bits(b.F)
	}
	return a.Equal(b)
}

func nonNull(vals []Value) int {
	n := 0
	for _, v := range vals {
		if !v.Null() {
			n++
		}
	}
	return n
}

// checkRows decodes every row of v through every accessor and compares it
// with the model.
func checkRows(t *testing.T, what string, v *Vec, def *ColumnDef, vals []Value) {
	t.Helper()
	nn := nonNull(vals)
	if nn == 0 {
		if v != nil {
			t.Fatalf("%s: all-NULL vector is not nil", what)
		}
	} else {
		if v.N != len(vals) || v.NonNil != nn || v.Type != def.Type {
			t.Fatalf("%s: N %d NonNil %d type %s, want %d %d %s", what, v.N, v.NonNil, v.Type, len(vals), nn, def.Type)
		}
	}
	dv := DictView{}
	if def.Dict != nil {
		dv = def.Dict.View()
	}
	for r, want := range vals {
		got := v.Value(r, def)
		if !same(got, want) {
			t.Fatalf("%s: row %d Value = %v, want %v", what, r, got, want)
		}
		if v.IsNull(r) != want.Null() {
			t.Fatalf("%s: row %d IsNull = %v", what, r, v.IsNull(r))
		}
		switch def.Type {
		case TypeInt, TypeTimestamp:
			if i, ok := v.Int(r); ok == want.Null() || (ok && i != want.I) {
				t.Fatalf("%s: row %d Int = %d, %v; want %v", what, r, i, ok, want)
			}
		case TypeString:
			c, ok := v.Int(r)
			if ok == want.Null() || (ok && dv.Get(uint32(c)) != want.S) {
				t.Fatalf("%s: row %d code %d, %v; want %v", what, r, c, ok, want)
			}
		case TypeFloat:
			f, ok := v.Float(r)
			if ok == want.Null() || (ok && !same(Float(f), want)) {
				t.Fatalf("%s: row %d Float = %v, %v; want %v", what, r, f, ok, want)
			}
		case TypeBool:
			b, ok := v.Bool(r)
			if ok == want.Null() || (ok && b != want.B) {
				t.Fatalf("%s: row %d Bool = %v, %v; want %v", what, r, b, ok, want)
			}
		case TypeStringList:
			codes, ok := v.List(r)
			if ok == want.Null() || len(codes) != len(want.L) {
				t.Fatalf("%s: row %d List = %v, %v; want %v", what, r, codes, ok, want)
			}
			for k, c := range codes {
				if dv.Get(c) != want.L[k] {
					t.Fatalf("%s: row %d List[%d] = %q, want %q", what, r, k, dv.Get(c), want.L[k])
				}
			}
		}
	}
}

// checkSealed checks the encoding choices of a sealed vector (sparse or
// dense, narrowest frame of reference, stats) and its Arrow arrays.
func checkSealed(t *testing.T, what string, s *Vec, def *ColumnDef, vals []Value) {
	t.Helper()
	checkRows(t, what, s, def, vals)
	nn := nonNull(vals)
	if nn == 0 {
		return
	}
	n := len(vals)
	if want := nn*8 < n; s.Sparse() != want {
		t.Fatalf("%s: Sparse = %v with %d of %d non-null", what, s.Sparse(), nn, n)
	}
	if !s.Sparse() && (s.Valid == nil) != (nn == n) {
		t.Fatalf("%s: Valid nil = %v with %d of %d non-null", what, s.Valid == nil, nn, n)
	}
	if s.Sparse() {
		if len(s.Pos) != nn || s.Valid != nil {
			t.Fatalf("%s: sparse with %d positions and Valid %v", what, len(s.Pos), s.Valid != nil)
		}
		k := 0
		for r, v := range vals {
			if !v.Null() {
				if int(s.Pos[k]) != r {
					t.Fatalf("%s: Pos[%d] = %d, want %d", what, k, s.Pos[k], r)
				}
				k++
			}
		}
	}
	if IntLike(def.Type) {
		checkNarrowest(t, what, s, def, vals)
	}
	if def.Type == TypeFloat {
		mn, mx, nan := math.Inf(1), math.Inf(-1), false
		for _, v := range vals {
			if !v.Null() {
				nan = nan || v.F != v.F
				mn, mx = min(mn, v.F), max(mx, v.F)
			}
		}
		// With a NaN the stats must not claim a range (eval treats NaN
		// stats as unknown); without one they are exact.
		if !nan && (s.MinF != mn || s.MaxF != mx) {
			t.Fatalf("%s: MinF/MaxF %v %v, want %v %v", what, s.MinF, s.MaxF, mn, mx)
		}
		if nan && s.MinF == s.MinF && s.MaxF == s.MaxF && !(math.IsInf(s.MinF, -1) && math.IsInf(s.MaxF, 1)) {
			t.Fatalf("%s: NaN in chunk but MinF/MaxF %v %v", what, s.MinF, s.MaxF)
		}
	}
	checkArrow(t, what, s, def, vals)
}

// checkNarrowest verifies v = Base + Scale*u with Base the minimum (0 for
// string codes), Scale the largest common step (so the stored u share no
// factor), and Width the narrowest that holds the largest u.
func checkNarrowest(t *testing.T, what string, s *Vec, def *ColumnDef, vals []Value) {
	t.Helper()
	var us []uint64
	for r := range vals {
		if sl := s.slot(r); sl >= 0 {
			us = append(us, s.U(sl))
		}
	}
	mnU, mxU := slices.Min(us), slices.Max(us)
	var g uint64
	for _, u := range us {
		g = gcd(g, u)
	}
	if def.Type == TypeString {
		if s.Base != 0 || s.Scale != 1 {
			t.Fatalf("%s: string codes rebased: Base %d Scale %d", what, s.Base, s.Scale)
		}
		if s.MaxI != int64(mxU) {
			t.Fatalf("%s: MaxI %d, want max code %d", what, s.MaxI, mxU)
		}
	} else {
		if mnU != 0 {
			t.Fatalf("%s: smallest stored value %d, want 0 (Base not the minimum)", what, mnU)
		}
		if mxU != 0 && g != 1 {
			t.Fatalf("%s: stored values share factor %d: Scale %d not maximal", what, g, s.Scale)
		}
		if mxU == 0 && s.Scale != 1 {
			t.Fatalf("%s: constant vector with Scale %d", what, s.Scale)
		}
		var mn, mx int64 = math.MaxInt64, math.MinInt64
		for _, v := range vals {
			if !v.Null() {
				mn, mx = min(mn, v.I), max(mx, v.I)
			}
		}
		if s.Base != mn || s.MinI != mn || s.MaxI != mx {
			t.Fatalf("%s: Base %d MinI %d MaxI %d, want %d %d %d", what, s.Base, s.MinI, s.MaxI, mn, mn, mx)
		}
	}
	want := uint8(64)
	switch {
	case mxU <= math.MaxUint8:
		want = 8
	case mxU <= math.MaxUint16:
		want = 16
	case mxU <= math.MaxUint32:
		want = 32
	}
	if s.Width != want {
		t.Fatalf("%s: Width %d for largest stored value %d, want %d", what, s.Width, mxU, want)
	}
	lens := map[uint8]int{8: len(s.U8), 16: len(s.U16), 32: len(s.U32), 64: len(s.U64)}
	for w, l := range lens {
		if (w == s.Width) != (l > 0) {
			t.Fatalf("%s: width %d but %d values stored at width %d", what, s.Width, l, w)
		}
	}
}

// checkArrow reads the sealed vector back through arrow-go's typed arrays.
func checkArrow(t *testing.T, what string, s *Vec, def *ColumnDef, vals []Value) {
	t.Helper()
	n, nn := len(vals), nonNull(vals)
	arrs := s.Arrays
	rowOf := func(i int) int { return i }
	count, nulls := n, n-nn
	if s.Sparse() {
		if len(arrs) != 2 {
			t.Fatalf("%s: sparse vector has %d arrays, want 2", what, len(arrs))
		}
		pos, ok := arrs[0].(*array.Uint16)
		if !ok || pos.Len() != nn || pos.NullN() != 0 || !slices.Equal(pos.Uint16Values(), s.Pos) {
			t.Fatalf("%s: positions array %T len %d", what, arrs[0], arrs[0].Len())
		}
		arrs = arrs[1:]
		rowOf = func(i int) int { return int(pos.Value(i)) }
		count, nulls = nn, 0
	}
	if len(arrs) != 1 {
		t.Fatalf("%s: %d value arrays, want 1", what, len(arrs))
	}
	a := arrs[0]
	if a.Len() != count || a.NullN() != nulls {
		t.Fatalf("%s: arrow len %d nulls %d, want %d %d", what, a.Len(), a.NullN(), count, nulls)
	}
	dv := DictView{}
	if def.Dict != nil {
		dv = def.Dict.View()
	}
	decode := func(u uint64) int64 { return s.Base + s.Scale*int64(u) }
	for i := 0; i < count; i++ {
		want := vals[rowOf(i)]
		if a.IsNull(i) != want.Null() {
			t.Fatalf("%s: arrow IsNull(%d) = %v, want %v", what, i, a.IsNull(i), want.Null())
		}
		if want.Null() {
			continue
		}
		var got Value
		switch x := a.(type) {
		case *array.Uint8:
			got = Value{Type: def.Type, I: decode(uint64(x.Value(i)))}
		case *array.Uint16:
			got = Value{Type: def.Type, I: decode(uint64(x.Value(i)))}
		case *array.Uint32:
			got = Value{Type: def.Type, I: decode(uint64(x.Value(i)))}
		case *array.Uint64:
			got = Value{Type: def.Type, I: decode(x.Value(i))}
		case *array.Float64:
			got = Float(x.Value(i))
		case *array.Boolean:
			got = Bool(x.Value(i))
		case *array.List:
			if err := x.ValidateFull(); err != nil {
				t.Fatalf("%s: list array invalid: %v", what, err)
			}
			codes := x.ListValues().(*array.Uint32)
			lo, hi := x.ValueOffsets(i)
			l := []string{}
			for k := lo; k < hi; k++ {
				l = append(l, dv.Get(codes.Value(int(k))))
			}
			got = StringList(l)
		default:
			t.Fatalf("%s: unexpected arrow array %T", what, a)
		}
		if def.Type == TypeString {
			got = String(dv.Get(uint32(got.I)))
		}
		if !same(got, want) {
			t.Fatalf("%s: arrow value %d (row %d) = %v, want %v", what, i, rowOf(i), got, want)
		}
	}
	wantType := map[Type]arrow.DataType{TypeFloat: arrow.PrimitiveTypes.Float64, TypeBool: arrow.FixedWidthTypes.Boolean,
		TypeStringList: arrow.ListOf(arrow.PrimitiveTypes.Uint32)}[def.Type]
	if wantType != nil && !arrow.TypeEqual(a.DataType(), wantType) {
		t.Fatalf("%s: arrow type %s, want %s", what, a.DataType(), wantType)
	}
}

// TestVecRoundTrip: every type × null pattern × size decodes identically
// from the builder, its tail View, SealVec and Builder.Seal.
func TestVecRoundTrip(t *testing.T) {
	sizes := []int{1, 63, 64, 65, 1000, 3000}
	for _, typ := range allTypes {
		for _, p := range nullPatterns {
			for _, n := range sizes {
				t.Run(fmt.Sprintf("%s/%s/%d", typ, p.name, n), func(t *testing.T) {
					r := rand.New(rand.NewPCG(uint64(typ), uint64(n)))
					def := newDef(typ)
					vals := genValues(r, typ, p, n)
					b := buildValues(def, vals)
					if b.Len() != n {
						t.Fatalf("Len %d", b.Len())
					}
					for i, want := range vals {
						if got := b.Value(i, def); !same(got, want) {
							t.Fatalf("Builder.Value(%d) = %v, want %v", i, got, want)
						}
					}
					if got := b.Value(n, def); !got.Null() {
						t.Fatalf("Builder.Value past the end = %v", got)
					}
					view := b.View(n)
					checkRows(t, "view", view, def, vals)
					if view != nil {
						checkSealed(t, "SealVec(view)", SealVec(view), def, vals)
					}
					sealed := b.Seal(n)
					checkSealed(t, "Seal", sealed, def, vals)
					if sealed != nil {
						// Re-sealing a sealed (possibly sparse) vector is stable.
						checkSealed(t, "SealVec(sealed)", SealVec(sealed), def, vals)
					}
				})
			}
		}
	}
}

func TestVecChunkRows(t *testing.T) {
	for _, typ := range []Type{TypeInt, TypeString, TypeBool} {
		for _, p := range []nullPattern{nullPatterns[2], nullPatterns[4]} {
			r := rand.New(rand.NewPCG(9, uint64(typ)))
			def := newDef(typ)
			vals := genValues(r, typ, p, ChunkRows)
			vals[ChunkRows-1] = genValue(r, typ) // the last uint16 position
			b := buildValues(def, vals)
			checkSealed(t, fmt.Sprintf("%s/%s", typ, p.name), b.Seal(ChunkRows), def, vals)
		}
	}
}

// TestSealNarrowing pins Base, Scale and Width for hand-picked spans.
func TestSealNarrowing(t *testing.T) {
	seq := func(base, step int64, k int) []int64 {
		out := make([]int64, k+1)
		for i := range out {
			out[i] = base + step*int64(i)
		}
		return out
	}
	cases := []struct {
		name  string
		typ   Type
		vals  []int64
		base  int64
		scale uint64
		width uint8
	}{
		{"constant", TypeInt, []int64{-5, -5, -5}, -5, 1, 8},
		{"byte span", TypeInt, seq(-100, 1, 255), -100, 1, 8},
		{"byte span + 1", TypeInt, seq(-100, 1, 256), -100, 1, 16},
		{"step 256", TypeInt, []int64{0, 256, 512}, 0, 256, 8},
		{"uint16 span", TypeInt, []int64{7, 7 + math.MaxUint16}, 7, math.MaxUint16, 8},
		{"uint16 span, step 1", TypeInt, []int64{7, 8, 7 + math.MaxUint16}, 7, 1, 16},
		{"uint32 span", TypeInt, []int64{0, 1, math.MaxUint32}, 0, 1, 32},
		{"uint32 span + 1", TypeInt, []int64{0, 1, math.MaxUint32 + 1}, 0, 1, 64},
		{"min and max", TypeInt, []int64{math.MinInt64, math.MaxInt64}, math.MinInt64, math.MaxUint64, 8},
		{"min and zero", TypeInt, []int64{math.MinInt64, 0, math.MinInt64}, math.MinInt64, 1 << 63, 8},
		{"min, zero, max", TypeInt, []int64{math.MinInt64, 0, math.MaxInt64}, math.MinInt64, 1, 64},
		{"min and min+1", TypeInt, []int64{math.MinInt64 + 1, math.MinInt64}, math.MinInt64, 1, 8},
		{"negative step", TypeInt, []int64{-3000, -2000, -1000}, -3000, 1000, 8},
		{"ms timestamps", TypeTimestamp, seq(t0, 1000, 1000), t0, 1000, 16},
		{"s timestamps", TypeTimestamp, seq(t0, 1_000_000, 200), t0, 1_000_000, 8},
		{"s timestamps over a day", TypeTimestamp, seq(t0, 1_000_000, 86400), t0, 1_000_000, 32},
		{"ms timestamps and one µs", TypeTimestamp, append(seq(t0, 1000, 10), t0+1), t0, 1, 16},
		{"minute timestamps", TypeTimestamp, seq(t0, 60_000_000, 60*24), t0, 60_000_000, 16},
		{"codes", TypeString, []int64{3, 300}, 0, 1, 16},
		{"small codes", TypeString, []int64{200, 255}, 0, 1, 8},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b := NewBuilder(c.typ)
			for _, v := range c.vals {
				if c.typ == TypeString {
					b.AppendCode(uint32(v))
				} else {
					b.AppendInt(v)
				}
			}
			s := b.Seal(len(c.vals))
			if s.Base != c.base || uint64(s.Scale) != c.scale || s.Width != c.width {
				t.Fatalf("Base %d Scale %d Width %d, want %d %d %d", s.Base, uint64(s.Scale), s.Width, c.base, c.scale, c.width)
			}
			for i, v := range c.vals {
				if got, _ := s.Int(i); got != v {
					t.Fatalf("row %d = %d, want %d", i, got, v)
				}
			}
		})
	}
}

func TestBuilderPadTo(t *testing.T) {
	for _, typ := range allTypes {
		t.Run(typ.String(), func(t *testing.T) {
			r := rand.New(rand.NewPCG(3, uint64(typ)))
			def := newDef(typ)
			b := NewBuilder(typ)
			var vals []Value
			add := func(v Value) { b.Append(v, def.Dict); vals = append(vals, v) }
			add(genValue(r, typ))
			b.PadTo(100)
			b.PadTo(50) // never shrinks
			for len(vals) < 100 {
				vals = append(vals, Value{})
			}
			if b.Len() != 100 {
				t.Fatalf("Len after PadTo = %d", b.Len())
			}
			add(genValue(r, typ)) // lands at row 100
			// View pads lazily to the requested length.
			v := b.View(300)
			for len(vals) < 300 {
				vals = append(vals, Value{})
			}
			if b.Len() != 300 {
				t.Fatalf("Len after View(300) = %d", b.Len())
			}
			checkRows(t, "view", v, def, vals)
			add(genValue(r, typ))
			checkSealed(t, "seal", b.Seal(len(vals)), def, vals)

			// A builder that only ever saw NULLs yields nil vectors.
			nb := NewBuilder(typ)
			nb.PadTo(10)
			nb.AppendNull()
			if nb.View(20) != nil || nb.Seal(20) != nil || nb.Len() != 20 {
				t.Fatal("all-NULL builder produced a vector")
			}
		})
	}
}

// TestBuilderViewPrefix: View(n) of a builder holding more than n rows
// describes exactly the first n rows, NonNil included.
func TestBuilderViewPrefix(t *testing.T) {
	for _, typ := range allTypes {
		t.Run(typ.String(), func(t *testing.T) {
			r := rand.New(rand.NewPCG(4, uint64(typ)))
			def := newDef(typ)
			vals := genValues(r, typ, nullPatterns[3], 200)
			// Rows [0,10) hold 9 values and the builder 10 in all: the
			// prefix must not be mistaken for all-valid.
			for i := range 11 {
				if i == 5 {
					vals[i] = Value{}
				} else if vals[i].Null() {
					vals[i] = genValue(r, typ)
				}
			}
			b := buildValues(def, vals[:11])
			if s := b.Seal(10); !s.IsNull(5) || s.NonNil != 9 {
				t.Errorf("Seal(10) of 11 rows: row 5 NULL = %v, NonNil %d; want true, 9", s.IsNull(5), s.NonNil)
			}
			b = buildValues(def, vals)
			for _, n := range []int{10, 64, 65, 199} {
				checkRows(t, fmt.Sprintf("View(%d)", n), b.View(n), def, vals[:n])
				checkSealed(t, fmt.Sprintf("Seal(%d)", n), b.Seal(n), def, vals[:n])
			}
		})
	}
}

func TestAppendFrom(t *testing.T) {
	for _, typ := range allTypes {
		for _, p := range nullPatterns {
			t.Run(typ.String()+"/"+p.name, func(t *testing.T) {
				r := rand.New(rand.NewPCG(5, uint64(typ)))
				def := newDef(typ)
				vals := genValues(r, typ, p, 300)
				src := buildValues(def, vals)
				view := src.View(len(vals))
				var sealed *Vec
				if view != nil {
					sealed = SealVec(view)
				}
				for name, v := range map[string]*Vec{"view": view, "sealed": sealed} {
					dst := NewBuilder(typ)
					for i := range vals {
						dst.AppendFrom(v, i)
					}
					checkSealed(t, "AppendFrom "+name, dst.Seal(len(vals)), def, vals)
				}
				dst := NewBuilder(typ)
				for i := range vals {
					dst.AppendFromBuilder(src, i)
				}
				dst.AppendFromBuilder(src, len(vals)+5) // past the end: NULL
				checkRows(t, "AppendFromBuilder", dst.View(len(vals)+1), def, append(slices.Clone(vals), Value{}))

				// Copying a builder's rows onto itself doubles it.
				for i := range vals {
					src.AppendFromBuilder(src, i)
				}
				checkSealed(t, "self copy", src.Seal(2*len(vals)), def, append(slices.Clone(vals), vals...))
				var nilVec *Vec
				nb := NewBuilder(typ)
				nb.AppendFrom(nilVec, 3)
				if nb.Len() != 1 || !nb.Value(0, def).Null() {
					t.Fatal("AppendFrom(nil) did not append a NULL")
				}
			})
		}
	}
}

// vecWords captures a view's bitmap words and decoded rows.
type viewState struct {
	valid, bits []uint64
	vals        []Value
}

func captureView(v *Vec, def *ColumnDef) viewState {
	s := viewState{valid: slices.Clone(v.Valid), bits: slices.Clone(v.Bits)}
	for r := 0; r < v.N; r++ {
		s.vals = append(s.vals, v.Value(r, def))
	}
	return s
}

// TestViewPublicationRule: a View taken before more appends is unchanged by
// them, its validity and bool words included, whatever is appended next
// (NULL, false, true) and wherever the view ends in a word.
func TestViewPublicationRule(t *testing.T) {
	for _, typ := range allTypes {
		for _, n := range []int{1, 63, 64, 65, 127} {
			t.Run(fmt.Sprintf("%s/%d", typ, n), func(t *testing.T) {
				r := rand.New(rand.NewPCG(6, uint64(n)))
				def := newDef(typ)
				b := NewBuilder(typ)
				for i := 0; i < n; i++ {
					if i%3 == 1 {
						b.AppendNull()
					} else {
						b.Append(genValue(r, typ), def.Dict)
					}
				}
				type held struct {
					v     *Vec
					state viewState
				}
				var views []held
				take := func() {
					v := b.View(b.Len())
					views = append(views, held{v, captureView(v, def)})
				}
				take()
				for k := 0; k < 120; k++ {
					switch k % 5 {
					case 0:
						b.AppendNull()
					case 1:
						take()
						b.Append(genValue(r, typ), def.Dict)
					case 2:
						if typ == TypeBool {
							b.AppendBool(true)
						} else {
							b.Append(genValue(r, typ), def.Dict)
						}
					case 3:
						take()
						b.PadTo(b.Len() + 1 + r.IntN(66))
					default:
						take()
						b.AppendFromBuilder(b, r.IntN(b.Len()))
					}
				}
				for i, h := range views {
					now := captureView(h.v, def)
					if !slices.Equal(now.valid, h.state.valid) || !slices.Equal(now.bits, h.state.bits) {
						t.Fatalf("view %d (N=%d): bitmap words changed after later appends", i, h.v.N)
					}
					for r := range now.vals {
						if !same(now.vals[r], h.state.vals[r]) {
							t.Fatalf("view %d: row %d changed from %v to %v", i, r, h.state.vals[r], now.vals[r])
						}
					}
				}
			})
		}
	}
}

// rowValue is the deterministic content of row i in the concurrent test.
func rowValue(typ Type, i int) Value {
	if i%3 == 2 || i%64 == 63 {
		return Value{}
	}
	switch typ {
	case TypeInt:
		return Int(int64(i)*7 - 1000)
	case TypeTimestamp:
		return Micros(t0 + int64(i)*1000)
	case TypeFloat:
		return Float(float64(i) / 4)
	case TypeBool:
		return Bool(bits.OnesCount(uint(i))%2 == 0)
	case TypeString:
		return String(stringPool[i%len(stringPool)])
	case TypeStringList:
		return StringList(stringPool[:i%4])
	}
	panic("unknown type")
}

// TestViewConcurrentReaders: readers decode published views while the writer
// keeps appending; run with -race to catch any write to a published word.
func TestViewConcurrentReaders(t *testing.T) {
	for _, typ := range allTypes {
		t.Run(typ.String(), func(t *testing.T) {
			def := newDef(typ)
			// Intern the pool up front so readers' dictionary reads race with
			// nothing but what the writer legitimately does.
			for _, s := range stringPool {
				if def.Dict != nil {
					def.Dict.Intern(s)
				}
			}
			b := NewBuilder(typ)
			ch := make(chan *Vec, 8)
			errs := make(chan string, 4)
			var wg sync.WaitGroup
			for w := 0; w < 3; w++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for v := range ch {
						for pass := 0; pass < 2; pass++ {
							for r := 0; r < v.N; r++ {
								if got, want := v.Value(r, def), rowValue(typ, r); !same(got, want) {
									errs <- fmt.Sprintf("row %d of a view of %d: %v, want %v", r, v.N, got, want)
									return
								}
							}
						}
					}
				}()
			}
			for i := 0; i < 3000; i++ {
				b.Append(rowValue(typ, i), def.Dict)
				if i%97 == 0 || i%64 == 0 {
					ch <- b.View(b.Len())
				}
			}
			close(ch)
			wg.Wait()
			close(errs)
			for e := range errs {
				t.Fatal(e)
			}
		})
	}
}

func TestVecNilAndBytes(t *testing.T) {
	var v *Vec
	if !v.IsNull(0) || v.Bytes() != 0 || !v.Value(0, nil).Null() {
		t.Fatal("nil vector is not all NULL")
	}
	if _, ok := v.Int(0); ok {
		t.Fatal("nil Int")
	}
	if _, ok := v.Float(0); ok {
		t.Fatal("nil Float")
	}
	if _, ok := v.Bool(0); ok {
		t.Fatal("nil Bool")
	}
	if _, ok := v.List(0); ok {
		t.Fatal("nil List")
	}
	b := NewBuilder(TypeInt)
	for i := 0; i < 1000; i++ {
		b.AppendInt(int64(i % 200))
	}
	s := b.Seal(1000)
	if s.Width != 8 || s.Bytes() != 1000 {
		t.Fatalf("1000 bytes-wide values: Width %d Bytes %d", s.Width, s.Bytes())
	}
	b = NewBuilder(TypeInt)
	b.PadTo(ChunkRows - 1)
	b.AppendInt(42)
	if s := b.Seal(ChunkRows); !s.Sparse() || s.Bytes() != 3 {
		t.Fatalf("one value in a chunk: sparse %v Bytes %d", s.Sparse(), s.Bytes())
	}
}
