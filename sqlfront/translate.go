package sqlfront

import (
	"math"
	"strings"
	"time"

	"github.com/dolthub/go-mysql-server/sql"
	"github.com/dolthub/go-mysql-server/sql/expression"
	"github.com/dolthub/go-mysql-server/sql/plan"
	"github.com/dolthub/go-mysql-server/sql/transform"
	"github.com/dolthub/go-mysql-server/sql/types"

	"github.com/cohortdb/cohort/engine/column"
	"github.com/cohortdb/cohort/engine/expr"
)

// translator turns GMS filter expressions over one table into engine
// expressions. It translates only what the engine evaluates with exactly
// GMS's meaning (types, NULLs, collation); anything else is left to GMS.
type translator struct {
	ctx    *sql.Context
	schema *column.Schema
}

// maxExactInt bounds the integers that convert to float64 and back
// without rounding, where GMS compares ints with doubles as doubles.
const maxExactInt = 1 << 53

// translate returns the engine form of e, or ok=false.
func (t *translator) translate(e sql.Expression) (out expr.Expr, ok bool) {
	defer func() {
		// GMS expressions may panic on shapes we did not foresee; such a
		// predicate stays with GMS.
		if r := recover(); r != nil {
			out, ok = nil, false
		}
	}()
	return t.expr(e)
}

func (t *translator) expr(e sql.Expression) (expr.Expr, bool) {
	switch e := e.(type) {
	case *expression.And:
		l, ok := t.expr(e.LeftChild)
		if !ok {
			return nil, false
		}
		r, ok := t.expr(e.RightChild)
		if !ok {
			return nil, false
		}
		return expr.And{l, r}, true
	case *expression.Or:
		l, ok := t.expr(e.LeftChild)
		if !ok {
			return nil, false
		}
		r, ok := t.expr(e.RightChild)
		if !ok {
			return nil, false
		}
		return expr.Or{l, r}, true
	case *expression.Not:
		a, ok := t.expr(e.Child)
		if !ok {
			return nil, false
		}
		return expr.Not{Arg: a}, true
	case *expression.IsNull:
		d, _, ok := t.column(e.Child)
		if !ok {
			return nil, false
		}
		return expr.IsNull{Col: d.Name}, true
	case *expression.Equals:
		return t.cmp(e.Left(), e.Right(), expr.Eq)
	case *expression.LessThan:
		return t.cmp(e.Left(), e.Right(), expr.Lt)
	case *expression.LessThanOrEqual:
		return t.cmp(e.Left(), e.Right(), expr.Le)
	case *expression.GreaterThan:
		return t.cmp(e.Left(), e.Right(), expr.Gt)
	case *expression.GreaterThanOrEqual:
		return t.cmp(e.Left(), e.Right(), expr.Ge)
	case *expression.InTuple:
		return t.in(e.Left(), e.Right())
	case *expression.HashInTuple:
		return t.in(e.Left(), e.Right())
	case *expression.Between:
		return t.between(e)
	case *expression.Like:
		return t.like(e)
	case *behaviourExpr:
		return nil, false // handled by the caller, which owns the snapshot
	case *relCmp:
		return e.translate(t) // segment definitions (segments_time.go)
	}
	return nil, false
}

// column resolves e to a column of the table.
func (t *translator) column(e sql.Expression) (*column.ColumnDef, sql.Type, bool) {
	gf, ok := e.(*expression.GetField)
	if !ok {
		return nil, nil, false
	}
	d, ok := lookupColumn(t.schema, gf.Name())
	if !ok {
		return nil, nil, false
	}
	// The field must have our column's type. Whether it is a field of
	// this table instance at all (not of an outer scope, possibly another
	// instance of the same table) is checked by the caller (table.owns).
	if !types.TypesEqual(gf.Type(), sqlType(d.Type)) {
		return nil, nil, false
	}
	return d, gf.Type(), true
}

// lookupColumn finds a column by name, exactly first, then ignoring case.
func lookupColumn(s *column.Schema, name string) (*column.ColumnDef, bool) {
	if d, ok := s.Lookup(name); ok {
		return d, true
	}
	for _, d := range s.Cols {
		if strings.EqualFold(d.Name, name) {
			return d, true
		}
	}
	return nil, false
}

// constant evaluates e if it is a constant of the query: literals, bind
// values already bound, arithmetic, casts, intervals and NOW().
func (t *translator) constant(e sql.Expression) (any, sql.Type, bool) {
	if !isConstant(e) {
		return nil, nil, false
	}
	v, err := e.Eval(t.ctx, nil)
	if err != nil {
		return nil, nil, false
	}
	return v, e.Type(), true
}

func isConstant(e sql.Expression) bool {
	ok := true
	transform.InspectExpr(e, func(x sql.Expression) bool {
		switch x := x.(type) {
		case *expression.GetField, *expression.BindVar, *plan.Subquery, *expression.UserVar,
			*expression.ProcedureParam, *behaviourExpr:
			ok = false
		case sql.FunctionExpression:
			name := strings.ToLower(x.FunctionName())
			if nd, isND := x.(sql.NonDeterministicExpression); isND && nd.IsNonDeterministic() &&
				name != "now" && name != "current_timestamp" && name != "localtimestamp" && name != "localtime" {
				ok = false
			}
		case sql.NonDeterministicExpression:
			if x.IsNonDeterministic() {
				ok = false
			}
		}
		return !ok
	})
	return ok
}

// value converts the constant v of GMS type vt for comparison with column
// d the way GMS compares them; ok is false when the engine would compare
// differently.
func (t *translator) value(d *column.ColumnDef, v any, vt sql.Type) (column.Value, bool) {
	if v == nil {
		return column.Value{}, true
	}
	switch d.Type {
	case column.TypeString:
		// Strings compare as strings only with string constants (a number
		// makes MySQL compare as doubles).
		if !types.IsText(vt) {
			return column.Value{}, false
		}
		s, ok := v.(string)
		if !ok {
			return column.Value{}, false
		}
		return column.String(s), true
	case column.TypeInt:
		if types.IsFloat(vt) {
			return column.Value{}, false // GMS compares as doubles: rounding past 2^53
		}
		if !types.IsInteger(vt) && !types.IsDecimal(vt) && !types.IsBoolean(vt) {
			return column.Value{}, false
		}
		x, ok := inferValue(v)
		if !ok {
			return column.Value{}, false
		}
		switch x.Type {
		case column.TypeInt:
			return x, true
		case column.TypeFloat: // an exact decimal
			return x, true
		}
		return column.Value{}, false
	case column.TypeFloat:
		if !types.IsNumber(vt) {
			return column.Value{}, false
		}
		x, ok := inferValue(v)
		if !ok {
			return column.Value{}, false
		}
		switch x.Type {
		case column.TypeFloat:
			return x, true
		case column.TypeInt:
			if x.I > maxExactInt || x.I < -maxExactInt {
				return column.Value{}, false
			}
			return column.Float(float64(x.I)), true
		}
		return column.Value{}, false
	case column.TypeTimestamp:
		if !types.IsTime(vt) && !types.IsText(vt) {
			return column.Value{}, false
		}
		c, _, err := types.DatetimeMaxPrecision.Convert(t.ctx, v)
		if err != nil || c == nil {
			return column.Value{}, false
		}
		tt, ok := c.(time.Time)
		if !ok {
			return column.Value{}, false
		}
		return column.Micros(tt.UnixMicro()), tt.Nanosecond()%1000 == 0
	}
	return column.Value{}, false
}

// boolCmp translates "bool column op n": TINYINT(1) compares as an integer.
func boolCmp(d *column.ColumnDef, op expr.Op, v column.Value) (expr.Expr, bool) {
	var n float64
	switch v.Type {
	case column.TypeInt:
		n = float64(v.I)
	case column.TypeFloat:
		n = v.F
	default:
		return nil, false
	}
	match := func(b float64) bool {
		switch op {
		case expr.Eq:
			return b == n
		case expr.Lt:
			return b < n
		case expr.Le:
			return b <= n
		case expr.Gt:
			return b > n
		}
		return b >= n
	}
	f, tr := match(0), match(1)
	switch {
	case f && tr:
		// True on every non-NULL row and unknown on NULL, under NOT too
		// (IS NOT NULL would make NOT of it true on NULL rows).
		return expr.Or{
			expr.Cmp{Col: d.Name, Op: expr.Eq, Val: expr.Lit(column.Bool(true))},
			expr.Cmp{Col: d.Name, Op: expr.Eq, Val: expr.Lit(column.Bool(false))},
		}, true
	case tr:
		return expr.Cmp{Col: d.Name, Op: expr.Eq, Val: expr.Lit(column.Bool(true))}, true
	case f:
		return expr.Cmp{Col: d.Name, Op: expr.Eq, Val: expr.Lit(column.Bool(false))}, true
	}
	// Never true on a non-NULL row, and NOT of it true on every one.
	return expr.And{
		expr.Cmp{Col: d.Name, Op: expr.Eq, Val: expr.Lit(column.Bool(true))},
		expr.Cmp{Col: d.Name, Op: expr.Eq, Val: expr.Lit(column.Bool(false))},
	}, true
}

var flip = [...]expr.Op{expr.Eq: expr.Eq, expr.Ne: expr.Ne, expr.Lt: expr.Gt, expr.Le: expr.Ge, expr.Gt: expr.Lt, expr.Ge: expr.Le}

func (t *translator) cmp(l, r sql.Expression, op expr.Op) (expr.Expr, bool) {
	d, _, ok := t.column(l)
	other := r
	if !ok {
		if d, _, ok = t.column(r); !ok {
			return nil, false
		}
		other, op = l, flip[op]
	}
	c, ct, ok := t.constant(other)
	if !ok {
		return nil, false
	}
	return t.cmpConst(d, op, c, ct)
}

func (t *translator) cmpConst(d *column.ColumnDef, op expr.Op, c any, ct sql.Type) (expr.Expr, bool) {
	if c == nil {
		// col op NULL is unknown: never true, nor is its negation.
		return expr.Cmp{Col: d.Name, Op: op, Val: nil}, d.Type != column.TypeStringList
	}
	if d.Type == column.TypeBool {
		if !types.IsInteger(ct) && !types.IsBoolean(ct) && !types.IsDecimal(ct) {
			return nil, false
		}
		x, ok := inferValue(c)
		if !ok {
			return nil, false
		}
		return boolCmp(d, op, x)
	}
	v, ok := t.value(d, c, ct)
	if !ok {
		return nil, false
	}
	if v.Type == column.TypeFloat && math.IsNaN(v.F) {
		return nil, false
	}
	return expr.Cmp{Col: d.Name, Op: op, Val: expr.Lit(v)}, true
}

func (t *translator) in(l, r sql.Expression) (expr.Expr, bool) {
	d, _, ok := t.column(l)
	if !ok || d.Type == column.TypeStringList {
		return nil, false
	}
	tup, ok := r.(expression.Tuple)
	if !ok {
		return nil, false
	}
	if d.Type == column.TypeBool {
		// As an OR of equalities (NULLs: unknown, like IN).
		var or expr.Or
		for _, x := range tup {
			c, ct, ok := t.constant(x)
			if !ok {
				return nil, false
			}
			e, ok := t.cmpConst(d, expr.Eq, c, ct)
			if !ok {
				return nil, false
			}
			or = append(or, e)
		}
		return or, true
	}
	vals := make([]expr.Const, 0, len(tup))
	for _, x := range tup {
		c, ct, ok := t.constant(x)
		if !ok {
			return nil, false
		}
		if c == nil {
			vals = append(vals, nil)
			continue
		}
		// Every element must be of the kind a comparison would push: IN
		// with mixed types compares otherwise in GMS.
		v, ok := t.value(d, c, ct)
		if !ok || (v.Type == column.TypeFloat && math.IsNaN(v.F)) {
			return nil, false
		}
		vals = append(vals, expr.Lit(v))
	}
	return expr.In{Col: d.Name, Vals: vals}, true
}

func (t *translator) between(b *expression.Between) (expr.Expr, bool) {
	d, _, ok := t.column(b.Val)
	if !ok || d.Type == column.TypeStringList {
		return nil, false
	}
	lo, lt, ok := t.constant(b.Lower)
	if !ok {
		return nil, false
	}
	hi, ht, ok := t.constant(b.Upper)
	if !ok {
		return nil, false
	}
	// x BETWEEN lo AND hi is x >= lo AND x <= hi, NULLs included.
	ge, ok := t.cmpConst(d, expr.Ge, lo, lt)
	if !ok {
		return nil, false
	}
	le, ok := t.cmpConst(d, expr.Le, hi, ht)
	if !ok {
		return nil, false
	}
	return expr.And{ge, le}, true
}

func (t *translator) like(l *expression.Like) (expr.Expr, bool) {
	if l.Escape != nil {
		return nil, false
	}
	d, _, ok := t.column(l.LeftChild)
	if !ok || d.Type != column.TypeString {
		return nil, false
	}
	c, ct, ok := t.constant(l.RightChild)
	if !ok {
		return nil, false
	}
	if c == nil {
		return expr.Cmp{Col: d.Name, Op: expr.Eq, Val: nil}, true
	}
	s, ok := c.(string)
	if !ok || !types.IsText(ct) {
		return nil, false
	}
	return expr.Like{Col: d.Name, Pattern: s}, true
}

// falseExpr selects no row.
var falseExpr = expr.Truth(false)
