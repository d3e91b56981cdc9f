package sqlfront

import (
	"github.com/cohortdb/cohort/engine"
	"github.com/cohortdb/cohort/engine/column"
	"github.com/cohortdb/cohort/engine/expr"
	"github.com/cohortdb/cohort/engine/identity"
)

func identityID(p *[2]string) identity.ID { return identity.ID{Type: p[0], Value: p[1]} }

// canonicalPersons rewrites predicates on person_id of events and
// identities, which store the person an event was recorded for while SQL
// shows the canonical person (after merges), into bitmaps over the stored
// ids whose canonical person satisfies the predicate.
func canonicalPersons(e expr.Expr, snap *engine.Snapshot) expr.Expr {
	if len(snap.Graph.MergeLog()) == 0 {
		return e
	}
	return rewritePersons(e, snap)
}

func rewritePersons(e expr.Expr, snap *engine.Snapshot) expr.Expr {
	switch x := e.(type) {
	case expr.And:
		out := make(expr.And, len(x))
		for i, a := range x {
			out[i] = rewritePersons(a, snap)
		}
		return out
	case expr.Or:
		out := make(expr.Or, len(x))
		for i, a := range x {
			out[i] = rewritePersons(a, snap)
		}
		return out
	case expr.Not:
		return expr.Not{Arg: rewritePersons(x.Arg, snap)}
	case expr.Cmp:
		if x.Col != engine.ColPersonID || x.Val == nil {
			return e
		}
		v := column.Value(x.Val.(expr.Lit))
		return personBitmap(snap, func(p int64) bool { return cmpInt(p, x.Op, v) })
	case expr.In:
		if x.Col != engine.ColPersonID {
			return e
		}
		hasNull := false
		bm := personBitmap(snap, func(p int64) bool {
			for _, c := range x.Vals {
				if c == nil {
					hasNull = true
				} else if cmpInt(p, expr.Eq, column.Value(c.(expr.Lit))) {
					return true
				}
			}
			return false
		})
		if hasNull {
			// IN (..., NULL) is unknown where it is not true: keep that
			// for NOT.
			return expr.Or{bm, expr.Cmp{Col: engine.ColPersonID, Op: expr.Eq}}
		}
		return bm
	}
	return e
}

func personBitmap(snap *engine.Snapshot, match func(int64) bool) expr.Expr {
	n := snap.Graph.Persons() + 1
	bits := column.NewBitmap(n)
	for p := 1; p < n; p++ {
		if c := snap.Graph.Canonical(uint32(p)); c != 0 && match(int64(c)) {
			bits.Set(p)
		}
	}
	return expr.InBitmap{Col: engine.ColPersonID, Bits: bits}
}

func cmpInt(p int64, op expr.Op, v column.Value) bool {
	var c int
	switch v.Type {
	case column.TypeInt:
		switch {
		case p < v.I:
			c = -1
		case p > v.I:
			c = 1
		}
	case column.TypeFloat:
		f := float64(p)
		switch {
		case f < v.F:
			c = -1
		case f > v.F:
			c = 1
		}
	default:
		return false
	}
	switch op {
	case expr.Eq:
		return c == 0
	case expr.Ne:
		return c != 0
	case expr.Lt:
		return c < 0
	case expr.Le:
		return c <= 0
	case expr.Gt:
		return c > 0
	}
	return c >= 0
}
