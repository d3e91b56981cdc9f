package column

import (
	"math"
	"slices"
)

// MutableInt returns a private copy of v, an int or timestamp vector of a
// sealed chunk of n rows (nil: NULL in every row), in the writer's wide
// form: dense, 64-bit offset-binary values (Base math.MinInt64, Scale 1),
// the form tail views have, so every kernel reads it. Single rows of the
// copy can then be overwritten with SetInt. It exists for columns that
// change alone and often (a profile's last_seen): rewriting the whole row
// would copy every other column. The copy must not reach readers before
// Refresh.
func MutableInt(v *Vec, typ Type, n int) *Vec {
	out := &Vec{Type: typ, N: n, Width: 64, Base: math.MinInt64, Scale: 1}
	out.MinI, out.MaxI = math.MaxInt64, math.MinInt64
	if v == nil {
		out.U64, out.Valid = make([]uint64, n), NewBitmap(n)
		return out
	}
	out.NonNil, out.MinI, out.MaxI = v.NonNil, v.MinI, v.MaxI
	if v.MinI == math.MinInt64 || v.MaxI == math.MaxInt64 {
		out.stale = true // a tail view's "unknown" bounds
	}
	if v.Pos != nil {
		out.U64 = make([]uint64, n)
		out.Valid = NewBitmap(n)
		for i, r := range v.Pos {
			out.U64[r] = uint64(v.Base+v.Scale*int64(v.U(i))) ^ signBit
			out.Valid.Set(int(r))
		}
		return out
	}
	if v.Valid != nil {
		out.Valid = v.Valid.Clone(n)
	}
	if v.Width == 64 && v.Base == math.MinInt64 && v.Scale == 1 {
		// Already wide (copied before): the common case, once per
		// chunk and publication while its persons are active.
		out.U64 = slices.Clone(v.U64[:n])
		return out
	}
	out.U64 = make([]uint64, n)
	base, scale := v.Base, v.Scale
	switch v.Width {
	case 8:
		for i, u := range v.U8[:n] {
			out.U64[i] = uint64(base+scale*int64(u)) ^ signBit
		}
	case 16:
		for i, u := range v.U16[:n] {
			out.U64[i] = uint64(base+scale*int64(u)) ^ signBit
		}
	case 32:
		for i, u := range v.U32[:n] {
			out.U64[i] = uint64(base+scale*int64(u)) ^ signBit
		}
	default:
		for i, u := range v.U64[:n] {
			out.U64[i] = uint64(base+scale*int64(u)) ^ signBit
		}
	}
	return out
}

// SetInt overwrites row of a vector made by MutableInt. The statistics
// widen to include x, so they stay valid bounds for the writer's own scans;
// they stay exact unless the minimum grows or the maximum shrinks (last_seen
// only moves out), which Refresh then recomputes.
func (v *Vec) SetInt(row int, x int64) {
	if v.Valid != nil && !v.Valid.Get(row) {
		v.Valid.Set(row)
		v.NonNil++
	} else if old := int64(v.U64[row] ^ signBit); (old == v.MinI && x > old) || (old == v.MaxI && x < old) {
		v.stale = true // the bound moved inward: only a rescan finds the new one
	}
	v.U64[row] = uint64(x) ^ signBit
	v.MinI, v.MaxI = min(v.MinI, x), max(v.MaxI, x)
}

// Refresh makes a vector changed by SetInt ready for readers: exact
// statistics (a kernel may skip or accept a whole chunk on them) and Arrow
// arrays with the right null count.
func (v *Vec) Refresh() {
	if v.stale {
		v.stale = false
		mn, mx := int64(math.MaxInt64), int64(math.MinInt64)
		nn := 0
		for i, u := range v.U64[:v.N] {
			if v.Valid != nil && !v.Valid.Get(i) {
				continue
			}
			x := int64(u ^ signBit)
			mn, mx = min(mn, x), max(mx, x)
			nn++
		}
		v.MinI, v.MaxI, v.NonNil = mn, mx, nn
	}
	if v.NonNil == v.N {
		v.Valid = nil
	}
	v.Arrays = v.arrowArrays() // after NonNil: the arrays carry the null count
}
