package column

import (
	"math"
	"slices"
	"sync/atomic"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// ChunkBits sets the sealed chunk size: 64Ki rows, so a row position inside
// a chunk fits a uint16 and a chunk's selection bitmap (8 KiB) stays in L1/L2.
const ChunkBits = 16

// ChunkRows is the number of rows in a sealed chunk.
const ChunkRows = 1 << ChunkBits

// Vec is one column's values inside one chunk.
//
// Integer-like types (int, timestamp, and string dictionary codes) are stored
// as unsigned integers u of Width bits with v = Base + Scale*u
// (frame-of-reference, narrowed per sealed chunk). Floats are float64, bools
// a bitmap. A column that is mostly NULL in a chunk is sparse: Pos lists the
// rows that have a value and the value slices hold only those rows. A column
// absent from a chunk (nil *Vec) is NULL in every row of it.
//
// Publication rule: a Vec handed to readers is never mutated at a position
// they can see. Sealed Vecs are immutable; tail Vecs are prefixes of buffers
// that only grow, and bitmaps whose last word would change are copied first.
type Vec struct {
	Type   Type
	N      int      // rows covered
	Pos    []uint16 // sparse: positions of non-null rows, ascending; nil when dense
	Valid  Bitmap   // dense: validity, nil when every row is valid
	Width  uint8    // 8, 16, 32 or 64 for integer-like types
	U8     []uint8
	U16    []uint16
	U32    []uint32 // also string codes of a string list
	U64    []uint64
	F64    []float64
	Bits   Bitmap  // bool values
	Off    []int32 // string list: values of value i are U32[Off[i]:Off[i+1]]
	Base   int64
	Scale  int64
	MinI   int64 // stats over non-null values of integer-like types (decoded)
	MaxI   int64
	MinF   float64
	MaxF   float64
	NonNil int  // number of non-null values
	Sorted bool // dense and the stored values never decrease (NULL rows store 0): range tests find one run of rows
	Arrays []arrow.Array

	postings atomic.Pointer[Postings] // built on demand (postings.go)
	stale    bool                     // SetInt overwrote MinI or MaxI (mutable.go)
}

// Sparse reports whether the vector stores only its non-null rows.
func (v *Vec) Sparse() bool { return v.Pos != nil }

// IntLike reports whether t is stored as frame-of-reference unsigned integers.
func IntLike(t Type) bool { return t == TypeInt || t == TypeTimestamp || t == TypeString }

// slot returns the value index of row, or -1 if the row is NULL.
func (v *Vec) slot(row int) int {
	if v.Pos != nil {
		lo, hi := 0, len(v.Pos)
		for lo < hi {
			m := int(uint(lo+hi) >> 1)
			if int(v.Pos[m]) < row {
				lo = m + 1
			} else {
				hi = m
			}
		}
		if lo < len(v.Pos) && int(v.Pos[lo]) == row {
			return lo
		}
		return -1
	}
	if v.Valid != nil && !v.Valid.Get(row) {
		return -1
	}
	return row
}

// U returns the stored unsigned integer at value index i.
func (v *Vec) U(i int) uint64 {
	switch v.Width {
	case 8:
		return uint64(v.U8[i])
	case 16:
		return uint64(v.U16[i])
	case 32:
		return uint64(v.U32[i])
	}
	return v.U64[i]
}

// IsNull reports whether row is NULL.
func (v *Vec) IsNull(row int) bool { return v == nil || v.slot(row) < 0 }

// Int returns the decoded integer-like value of row (int, timestamp µs or
// dictionary code) and false if the row is NULL.
func (v *Vec) Int(row int) (int64, bool) {
	if v == nil {
		return 0, false
	}
	s := v.slot(row)
	if s < 0 {
		return 0, false
	}
	return v.Base + v.Scale*int64(v.U(s)), true
}

// Float returns the float value of row.
func (v *Vec) Float(row int) (float64, bool) {
	if v == nil {
		return 0, false
	}
	s := v.slot(row)
	if s < 0 {
		return 0, false
	}
	return v.F64[s], true
}

// Bool returns the bool value of row.
func (v *Vec) Bool(row int) (bool, bool) {
	if v == nil {
		return false, false
	}
	s := v.slot(row)
	if s < 0 {
		return false, false
	}
	return v.Bits.Get(s), true
}

// List returns the dictionary codes of a string-list row.
func (v *Vec) List(row int) ([]uint32, bool) {
	if v == nil {
		return nil, false
	}
	s := v.slot(row)
	if s < 0 {
		return nil, false
	}
	return v.U32[v.Off[s]:v.Off[s+1]], true
}

// Bytes returns the memory held by the vector's buffers.
func (v *Vec) Bytes() int64 {
	if v == nil {
		return 0
	}
	var idx int64
	if p := v.postings.Load(); p != nil {
		idx = p.Bytes()
	}
	return idx + int64(len(v.Pos))*2 + int64(len(v.Valid))*8 + int64(len(v.U8)) + int64(len(v.U16))*2 +
		int64(len(v.U32))*4 + int64(len(v.U64))*8 + int64(len(v.F64))*8 + int64(len(v.Bits))*8 + int64(len(v.Off))*4
}

// Builder accumulates one column of the mutable tail. Integer-like values
// are kept wide (offset-binary uint64, codes as uint32) and narrowed by Seal.
type Builder struct {
	Type  Type
	n     int
	valid Bitmap
	vshr  bool // valid is shared with a published view
	u64   []uint64
	u32   []uint32
	f64   []float64
	bits  Bitmap
	bshr  bool
	off   []int32
	nn    int
}

// NewBuilder returns a builder for a column of type t.
func NewBuilder(t Type) *Builder {
	b := &Builder{Type: t}
	if t == TypeStringList {
		b.off = []int32{0}
	}
	return b
}

// Len returns the number of rows appended (including padding).
func (b *Builder) Len() int { return b.n }

const signBit = 1 << 63

func (b *Builder) ownBitmaps() {
	if b.vshr {
		b.valid = b.valid.Clone(b.n + 1)
		b.vshr = false
	}
	if b.bshr {
		b.bits = b.bits.Clone(b.n + 1)
		b.bshr = false
	}
}

// PadTo appends NULLs until the builder holds n rows.
func (b *Builder) PadTo(n int) {
	for b.n < n {
		b.appendSlot()
		b.n++
	}
}

func (b *Builder) appendSlot() {
	switch b.Type {
	case TypeInt, TypeTimestamp:
		b.u64 = append(b.u64, 0)
	case TypeString:
		b.u32 = append(b.u32, 0)
	case TypeFloat:
		b.f64 = append(b.f64, 0)
	case TypeStringList:
		b.off = append(b.off, b.off[len(b.off)-1])
	}
	w := Words(b.n + 1)
	if len(b.valid) < w {
		b.ownBitmaps()
		b.valid = append(b.valid, 0)
	}
	if b.Type == TypeBool && len(b.bits) < w {
		b.ownBitmaps()
		b.bits = append(b.bits, 0)
	}
}

func (b *Builder) markValid() {
	b.ownBitmaps()
	b.valid.Set(b.n)
	b.nn++
	b.n++
}

// AppendNull appends a NULL row.
func (b *Builder) AppendNull() { b.appendSlot(); b.n++ }

// AppendInt appends an int or timestamp value.
func (b *Builder) AppendInt(v int64) {
	b.appendSlot()
	b.u64[b.n] = uint64(v) ^ signBit
	b.markValid()
}

// AppendCode appends a string dictionary code.
func (b *Builder) AppendCode(c uint32) {
	b.appendSlot()
	b.u32[b.n] = c
	b.markValid()
}

// AppendFloat appends a float value.
func (b *Builder) AppendFloat(f float64) {
	b.appendSlot()
	b.f64[b.n] = f
	b.markValid()
}

// AppendBool appends a bool value.
func (b *Builder) AppendBool(v bool) {
	b.appendSlot()
	if v {
		b.ownBitmaps()
		b.bits.Set(b.n)
	}
	b.markValid()
}

// AppendList appends a string list given as dictionary codes.
func (b *Builder) AppendList(codes []uint32) {
	b.u32 = append(b.u32, codes...)
	b.appendSlot()
	b.off[len(b.off)-1] = int32(len(b.u32))
	b.markValid()
}

// View returns a Vec over the first n rows for readers. The builder copies
// any bitmap word it would later change.
func (b *Builder) View(n int) *Vec {
	b.PadTo(n)
	nn := b.nn
	if n < b.n { // a prefix: count only its values (SealVec trusts NonNil)
		nn = 0
		for r := 0; r < n; r++ {
			if b.valid.Get(r) {
				nn++
			}
		}
	}
	if nn == 0 {
		return nil
	}
	w := Words(n)
	v := &Vec{Type: b.Type, N: n, Valid: b.valid[:w:w], NonNil: nn, Scale: 1}
	b.vshr = true
	switch b.Type {
	case TypeInt, TypeTimestamp:
		v.Width, v.U64, v.Base = 64, b.u64[:n:n], math.MinInt64
		v.MinI, v.MaxI = math.MinInt64, math.MaxInt64
	case TypeString:
		v.Width, v.U32 = 32, b.u32[:n:n]
		v.MinI, v.MaxI = 0, math.MaxUint32 // unknown: every code is possible
	case TypeFloat:
		v.F64 = b.f64[:n:n]
		v.MinF, v.MaxF = math.Inf(-1), math.Inf(1)
	case TypeBool:
		v.Bits = b.bits[:w:w]
		b.bshr = true
	case TypeStringList:
		v.Off = b.off[: n+1 : n+1]
		v.U32 = b.u32[:v.Off[n]:v.Off[n]]
		v.Width = 32
	}
	return v
}

// Seal narrows the builder's first n rows into an immutable Arrow-backed Vec.
// It returns nil if every row is NULL.
func (b *Builder) Seal(n int) *Vec {
	v := b.View(n)
	if v == nil {
		return nil
	}
	return SealVec(v)
}

// sparseRatio: a column with fewer than N/sparseRatio values is stored sparse.
const sparseRatio = 8

// SealVec returns the narrowest immutable encoding of a (wide) vector.
func SealVec(src *Vec) *Vec {
	n := src.N
	out := &Vec{Type: src.Type, N: n, Scale: 1}
	idx := make([]int, 0, src.NonNil) // value indexes to keep
	sparse := src.NonNil*sparseRatio < n && n <= ChunkRows
	allValid := src.NonNil == n
	for r := 0; r < n; r++ {
		if src.slot(r) >= 0 {
			idx = append(idx, src.slot(r))
			if sparse {
				out.Pos = append(out.Pos, uint16(r))
			}
		}
	}
	out.NonNil = len(idx)
	count := n
	if sparse {
		count = len(idx)
	} else if !allValid {
		out.Valid = NewBitmap(n)
		for r := 0; r < n; r++ {
			if src.slot(r) >= 0 {
				out.Valid.Set(r)
			}
		}
	}
	// at(i) maps output value index to source value index.
	at := func(i int) int {
		if sparse {
			return idx[i]
		}
		return src.slot(i)
	}
	switch src.Type {
	case TypeInt, TypeTimestamp, TypeString:
		var mn, mx int64 = math.MaxInt64, math.MinInt64
		for _, s := range idx {
			x := src.Base + src.Scale*int64(src.U(s))
			mn, mx = min(mn, x), max(mx, x)
		}
		var g uint64
		if src.Type != TypeString {
			for _, s := range idx {
				d := uint64(src.Base+src.Scale*int64(src.U(s))) - uint64(mn)
				g = gcd(g, d)
				if g == 1 {
					break
				}
			}
		}
		if g == 0 {
			g = 1
		}
		if src.Type == TypeString {
			mn = 0 // codes stay codes so string kernels need no rebasing
		}
		out.Base, out.Scale, out.MinI, out.MaxI = mn, int64(g), mn, mx
		span := (uint64(mx) - uint64(mn)) / g
		out.Width = widthFor(span)
		enc := func(i int) uint64 {
			s := at(i)
			if s < 0 {
				return 0
			}
			return (uint64(src.Base+src.Scale*int64(src.U(s))) - uint64(mn)) / g
		}
		switch out.Width {
		case 8:
			out.U8 = make([]uint8, count)
			for i := range out.U8 {
				out.U8[i] = uint8(enc(i))
			}
		case 16:
			out.U16 = make([]uint16, count)
			for i := range out.U16 {
				out.U16[i] = uint16(enc(i))
			}
		case 32:
			out.U32 = make([]uint32, count)
			for i := range out.U32 {
				out.U32[i] = uint32(enc(i))
			}
		default:
			out.U64 = make([]uint64, count)
			for i := range out.U64 {
				out.U64[i] = enc(i)
			}
		}
		out.Sorted = out.sortedU()
	case TypeFloat:
		out.MinF, out.MaxF = math.Inf(1), math.Inf(-1)
		out.F64 = make([]float64, count)
		for i := range out.F64 {
			if s := at(i); s >= 0 {
				f := src.F64[s]
				out.F64[i] = f
				out.MinF, out.MaxF = min(out.MinF, f), max(out.MaxF, f)
			}
		}
	case TypeBool:
		out.Bits = NewBitmap(count)
		for i := 0; i < count; i++ {
			if s := at(i); s >= 0 && src.Bits.Get(s) {
				out.Bits.Set(i)
			}
		}
	case TypeStringList:
		out.Width = 32
		out.Off = make([]int32, count+1)
		for i := 0; i < count; i++ {
			if s := at(i); s >= 0 {
				out.U32 = append(out.U32, src.U32[src.Off[s]:src.Off[s+1]]...)
			}
			out.Off[i+1] = int32(len(out.U32))
		}
	}
	out.Arrays = out.arrowArrays()
	return out
}

// sortedU reports whether a dense vector's stored values never decrease: a
// chunk clustered by this column, or a monotonic one (event ids). Checking
// costs one pass when sealing; a range test then costs one binary search.
func (v *Vec) sortedU() bool {
	return v.Pos == nil && slices.IsSorted(v.U8) && slices.IsSorted(v.U16) && slices.IsSorted(v.U32) && slices.IsSorted(v.U64)
}

func widthFor(span uint64) uint8 {
	switch {
	case span <= math.MaxUint8:
		return 8
	case span <= math.MaxUint16:
		return 16
	case span <= math.MaxUint32:
		return 32
	}
	return 64
}

func gcd(a, b uint64) uint64 {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

// arrowArrays wraps the vector's buffers in Arrow arrays without copying, so
// sealed chunks are Arrow data that Arrow-aware code (Parquet, IPC) can read.
func (v *Vec) arrowArrays() []arrow.Array {
	var valid *memory.Buffer
	nulls := 0
	if v.Valid != nil {
		valid = memory.NewBufferBytes(arrow.Uint64Traits.CastToBytes(v.Valid))
		nulls = v.N - v.NonNil
	}
	count := v.N
	var out []arrow.Array
	if v.Pos != nil {
		count = len(v.Pos)
		out = append(out, array.NewUint16Data(array.NewData(arrow.PrimitiveTypes.Uint16, count,
			[]*memory.Buffer{nil, memory.NewBufferBytes(arrow.Uint16Traits.CastToBytes(v.Pos))}, nil, 0, 0)))
	}
	mk := func(t arrow.DataType, b []byte) arrow.Array {
		return array.MakeFromData(array.NewData(t, count, []*memory.Buffer{valid, memory.NewBufferBytes(b)}, nil, nulls, 0))
	}
	switch {
	case v.U8 != nil:
		out = append(out, mk(arrow.PrimitiveTypes.Uint8, v.U8))
	case v.U16 != nil:
		out = append(out, mk(arrow.PrimitiveTypes.Uint16, arrow.Uint16Traits.CastToBytes(v.U16)))
	case v.Type == TypeStringList:
		codes := array.NewUint32Data(array.NewData(arrow.PrimitiveTypes.Uint32, len(v.U32),
			[]*memory.Buffer{nil, memory.NewBufferBytes(arrow.Uint32Traits.CastToBytes(v.U32))}, nil, 0, 0))
		ld := array.NewData(arrow.ListOf(arrow.PrimitiveTypes.Uint32), count,
			[]*memory.Buffer{valid, memory.NewBufferBytes(arrow.Int32Traits.CastToBytes(v.Off))},
			[]arrow.ArrayData{codes.Data()}, nulls, 0)
		out = append(out, array.NewListData(ld))
	case v.U32 != nil:
		out = append(out, mk(arrow.PrimitiveTypes.Uint32, arrow.Uint32Traits.CastToBytes(v.U32)))
	case v.U64 != nil:
		out = append(out, mk(arrow.PrimitiveTypes.Uint64, arrow.Uint64Traits.CastToBytes(v.U64)))
	case v.F64 != nil:
		out = append(out, mk(arrow.PrimitiveTypes.Float64, arrow.Float64Traits.CastToBytes(v.F64)))
	case v.Bits != nil:
		out = append(out, mk(arrow.FixedWidthTypes.Boolean, arrow.Uint64Traits.CastToBytes(v.Bits)))
	}
	return out
}

// Value decodes row of v into a Value, resolving string codes with def's
// dictionary. A nil v is NULL.
func (v *Vec) Value(row int, def *ColumnDef) Value {
	if v == nil {
		return Value{}
	}
	s := v.slot(row)
	if s < 0 {
		return Value{}
	}
	switch v.Type {
	case TypeInt:
		return Int(v.Base + v.Scale*int64(v.U(s)))
	case TypeTimestamp:
		return Micros(v.Base + v.Scale*int64(v.U(s)))
	case TypeString:
		return String(def.Dict.get(uint32(v.Base + v.Scale*int64(v.U(s)))))
	case TypeFloat:
		return Float(v.F64[s])
	case TypeBool:
		return Bool(v.Bits.Get(s))
	case TypeStringList:
		codes := v.U32[v.Off[s]:v.Off[s+1]]
		l := make([]string, len(codes))
		for i, c := range codes {
			l[i] = def.Dict.get(c)
		}
		return StringList(l)
	}
	return Value{}
}

// Peek returns a view of the builder's rows for the writer's own reads. It
// does not mark buffers shared, so it must not be handed to readers.
func (b *Builder) Peek() *Vec {
	vshr, bshr := b.vshr, b.bshr
	v := b.View(b.n)
	b.vshr, b.bshr = vshr, bshr
	return v
}

// Append appends v (which must match the builder's type or be NULL),
// interning strings into d.
func (b *Builder) Append(v Value, d *Dictionary) {
	switch {
	case v.Type == TypeNull:
		b.AppendNull()
	case b.Type == TypeInt || b.Type == TypeTimestamp:
		b.AppendInt(v.I)
	case b.Type == TypeFloat:
		b.AppendFloat(v.F)
	case b.Type == TypeString:
		b.AppendCode(d.Intern(v.S))
	case b.Type == TypeBool:
		b.AppendBool(v.B)
	case b.Type == TypeStringList:
		codes := make([]uint32, len(v.L))
		for i, s := range v.L {
			codes[i] = d.Intern(s)
		}
		b.AppendList(codes)
	}
}

// AppendFrom appends row of v (a vector of the builder's type; nil = NULL).
func (b *Builder) AppendFrom(v *Vec, row int) {
	if v == nil {
		b.AppendNull()
		return
	}
	s := v.slot(row)
	if s < 0 {
		b.AppendNull()
		return
	}
	switch b.Type {
	case TypeInt, TypeTimestamp:
		b.AppendInt(v.Base + v.Scale*int64(v.U(s)))
	case TypeString:
		b.AppendCode(uint32(v.Base + v.Scale*int64(v.U(s))))
	case TypeFloat:
		b.AppendFloat(v.F64[s])
	case TypeBool:
		b.AppendBool(v.Bits.Get(s))
	case TypeStringList:
		b.AppendList(v.U32[v.Off[s]:v.Off[s+1]])
	}
}

// AppendFromBuilder appends row of src, a builder of the same type (possibly
// b itself).
func (b *Builder) AppendFromBuilder(src *Builder, row int) {
	if row >= src.n || !src.valid.Get(row) {
		b.AppendNull()
		return
	}
	switch b.Type {
	case TypeInt, TypeTimestamp:
		b.AppendInt(int64(src.u64[row] ^ signBit))
	case TypeString:
		b.AppendCode(src.u32[row])
	case TypeFloat:
		b.AppendFloat(src.f64[row])
	case TypeBool:
		b.AppendBool(src.bits.Get(row))
	case TypeStringList:
		l := append([]uint32(nil), src.u32[src.off[row]:src.off[row+1]]...)
		b.AppendList(l)
	}
}

// Value decodes row of the builder (the writer's own read; no allocation
// except for string lists).
func (b *Builder) Value(row int, d *ColumnDef) Value {
	if row >= b.n || !b.valid.Get(row) {
		return Value{}
	}
	switch b.Type {
	case TypeInt:
		return Int(int64(b.u64[row] ^ signBit))
	case TypeTimestamp:
		return Micros(int64(b.u64[row] ^ signBit))
	case TypeString:
		return String(d.Dict.get(b.u32[row]))
	case TypeFloat:
		return Float(b.f64[row])
	case TypeBool:
		return Bool(b.bits.Get(row))
	case TypeStringList:
		codes := b.u32[b.off[row]:b.off[row+1]]
		l := make([]string, len(codes))
		for i, c := range codes {
			l[i] = d.Dict.get(c)
		}
		return StringList(l)
	}
	return Value{}
}
