package sqlfront

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/dolthub/go-mysql-server/sql"
	"github.com/dolthub/go-mysql-server/sql/expression"
	"github.com/dolthub/go-mysql-server/sql/expression/function"
	"github.com/dolthub/go-mysql-server/sql/transform"
	"github.com/dolthub/go-mysql-server/sql/types"

	"github.com/cohortdb/cohort/engine"
	"github.com/cohortdb/cohort/engine/column"
	"github.com/cohortdb/cohort/engine/expr"
)

// Relative time in segment definitions.
//
// In a query, NOW() is the query's start: GMS folds NOW() - INTERVAL 7 DAY
// into a literal before any table sees the filter (simplifyFilters), and
// the translator pushes that literal. A segment lives on: its condition
// must keep "now - 7 days" relative (expr.TimeOffset with a zero At), so
// that the segment manager moves the window with its clock. Before
// analysis, relativeTime replaces each comparison of a column with a
// NOW()-relative constant by a relCmp, which carries the column (so GMS
// does not fold it) and the offset; the translator turns it into a
// comparison with expr.TimeOffset{Offset: off}. Any other use of the
// current time is rejected rather than frozen.

// relCmp is "field op NOW() + off" in a segment definition.
type relCmp struct {
	field *expression.GetField
	op    expr.Op
	off   time.Duration
	orig  sql.Expression // the comparison as written, for messages
}

var _ sql.Expression = (*relCmp)(nil)

func (r *relCmp) Resolved() bool             { return r.field.Resolved() }
func (r *relCmp) String() string             { return r.orig.String() }
func (r *relCmp) Type() sql.Type             { return types.Boolean }
func (r *relCmp) IsNullable() bool           { return true }
func (r *relCmp) Children() []sql.Expression { return []sql.Expression{r.field} }
func (r *relCmp) WithChildren(children ...sql.Expression) (sql.Expression, error) {
	if len(children) != 1 {
		return nil, sql.ErrInvalidChildrenNumber.New(r, len(children), 1)
	}
	gf, ok := children[0].(*expression.GetField)
	if !ok {
		return nil, fmt.Errorf("relative time comparison over %T", children[0])
	}
	nr := *r
	nr.field = gf
	return &nr, nil
}

// Eval compares the field with the query's start + off (GMS evaluates it
// only if the engine did not take it over, and then the definition is
// rejected anyway).
func (r *relCmp) Eval(ctx *sql.Context, row sql.Row) (any, error) {
	v, err := r.field.Eval(ctx, row)
	if err != nil || v == nil {
		return nil, err
	}
	t, ok := v.(time.Time)
	if !ok {
		return nil, fmt.Errorf("relative time comparison of %s: not a timestamp", r.field)
	}
	c := t.Compare(ctx.QueryTime().UTC().Add(r.off))
	switch r.op {
	case expr.Eq:
		return c == 0, nil
	case expr.Ne:
		return c != 0, nil
	case expr.Lt:
		return c < 0, nil
	case expr.Le:
		return c <= 0, nil
	case expr.Gt:
		return c > 0, nil
	}
	return c >= 0, nil
}

// translate returns the engine comparison with the relative constant.
func (r *relCmp) translate(t *translator) (expr.Expr, bool) {
	d, _, ok := t.column(r.field)
	if !ok || d.Type != column.TypeTimestamp {
		return nil, false
	}
	return expr.Cmp{Col: d.Name, Op: r.op, Val: expr.TimeOffset{Offset: r.off}}, true
}

// nowFunctions are the functions of the current time or date: outside a
// relCmp they would be frozen at compile time.
var nowFunctions = map[string]bool{
	"now": true, "current_timestamp": true, "localtime": true, "localtimestamp": true, "sysdate": true,
	"curdate": true, "current_date": true, "curtime": true, "current_time": true,
	"utc_timestamp": true, "utc_date": true, "utc_time": true, "unix_timestamp": true,
}

func isNowFunction(e sql.Expression) bool {
	switch x := e.(type) {
	case *function.Now, *function.UTCTimestamp:
		return true
	case sql.FunctionExpression:
		name := strings.ToLower(x.FunctionName())
		if name == "unix_timestamp" {
			return len(x.Children()) == 0
		}
		if nowFunctions[name] {
			return true
		}
		// RAND(), UUID(), ...: a value of the moment of compilation.
		if nd, ok := e.(sql.NonDeterministicExpression); ok && nd.IsNonDeterministic() {
			return true
		}
	}
	return false
}

func mentionsNow(e sql.Expression) bool {
	found := false
	transform.InspectExpr(e, func(x sql.Expression) bool {
		if isNowFunction(x) {
			found = true
		}
		return found
	})
	return found
}

// relativeTime rewrites the comparisons of columns with NOW()-relative
// constants of a bound plan (subqueries included) into relCmps, and
// rejects any other use of the current time.
func relativeTime(ctx *sql.Context, n sql.Node) (sql.Node, error) {
	n, err := mapPlanExprs(n, func(e sql.Expression) (sql.Expression, transform.TreeIdentity, error) {
		return relativeCmp(ctx, e)
	})
	if err != nil {
		return nil, err
	}
	var bad sql.Expression
	inspectPlanExprs(n, func(e sql.Expression) bool {
		if _, ok := e.(*relCmp); ok {
			return false // its constant side is not a child
		}
		if bad == nil && isNowFunction(e) {
			bad = e
		}
		return bad == nil
	})
	if bad != nil {
		return nil, invalidSegment("%s is not supported in a segment except as <timestamp column> op NOW() ± INTERVAL n unit (fixed-length units: MICROSECOND, SECOND, MINUTE, HOUR, DAY, WEEK), "+
			"which stays relative to the current time", describeExpr(bad))
	}
	return n, nil
}

func relativeCmp(ctx *sql.Context, e sql.Expression) (sql.Expression, transform.TreeIdentity, error) {
	var op expr.Op
	var l, r sql.Expression
	switch x := e.(type) {
	case *expression.Equals:
		op, l, r = expr.Eq, x.Left(), x.Right()
	case *expression.LessThan:
		op, l, r = expr.Lt, x.Left(), x.Right()
	case *expression.LessThanOrEqual:
		op, l, r = expr.Le, x.Left(), x.Right()
	case *expression.GreaterThan:
		op, l, r = expr.Gt, x.Left(), x.Right()
	case *expression.GreaterThanOrEqual:
		op, l, r = expr.Ge, x.Left(), x.Right()
	case *expression.Between:
		gf, ok := x.Val.(*expression.GetField)
		if !ok || (!mentionsNow(x.Lower) && !mentionsNow(x.Upper)) {
			return e, transform.SameTree, nil
		}
		lo, err := boundCmp(ctx, gf, expr.Ge, x.Lower, expression.NewGreaterThanOrEqual(x.Val, x.Lower))
		if err != nil {
			return nil, transform.SameTree, err
		}
		hi, err := boundCmp(ctx, gf, expr.Le, x.Upper, expression.NewLessThanOrEqual(x.Val, x.Upper))
		if err != nil {
			return nil, transform.SameTree, err
		}
		return expression.NewAnd(lo, hi), transform.NewTree, nil
	default:
		return e, transform.SameTree, nil
	}
	gf, ok := l.(*expression.GetField)
	other := r
	if !ok {
		if gf, ok = r.(*expression.GetField); !ok {
			return e, transform.SameTree, nil
		}
		other, op = l, flip[op]
	}
	if !mentionsNow(other) {
		return e, transform.SameTree, nil
	}
	rc, err := newRelCmp(ctx, gf, op, other, e)
	if err != nil {
		return nil, transform.SameTree, err
	}
	return rc, transform.NewTree, nil
}

// boundCmp is one bound of a BETWEEN: relative when it mentions NOW().
func boundCmp(ctx *sql.Context, gf *expression.GetField, op expr.Op, bound, plain sql.Expression) (sql.Expression, error) {
	if !mentionsNow(bound) {
		return plain, nil
	}
	return newRelCmp(ctx, gf, op, bound, plain)
}

func newRelCmp(ctx *sql.Context, gf *expression.GetField, op expr.Op, rel, orig sql.Expression) (*relCmp, error) {
	if !types.IsTime(gf.Type()) || types.IsDateType(gf.Type()) || types.IsTimespan(gf.Type()) {
		return nil, invalidSegment("%s: the current time can only be compared with a timestamp column", describeExpr(orig))
	}
	off, err := nowOffset(ctx, rel)
	if err != nil {
		return nil, invalidSegment("%s: %v", describeExpr(orig), err)
	}
	return &relCmp{field: gf, op: op, off: off, orig: orig}, nil
}

// nowOffset returns off for an expression NOW() + off: NOW() (any
// precision, or UTC_TIMESTAMP()) plus or minus fixed-length intervals.
func nowOffset(ctx *sql.Context, e sql.Expression) (time.Duration, error) {
	switch x := e.(type) {
	case *function.Now, *function.UTCTimestamp:
		if nd, ok := x.(sql.NonDeterministicExpression); ok && nd.IsNonDeterministic() {
			if f, ok := x.(sql.FunctionExpression); ok && strings.EqualFold(f.FunctionName(), "sysdate") {
				return 0, fmt.Errorf("SYSDATE() is not supported in a segment: use NOW()")
			}
		}
		return 0, nil
	case *expression.Arithmetic:
		switch {
		case isIntervalExpr(x.RightChild) && (x.Op == "+" || x.Op == "-"):
			base, err := nowOffset(ctx, x.LeftChild)
			if err != nil {
				return 0, err
			}
			d, err := intervalDuration(ctx, x.RightChild.(*expression.Interval))
			if err != nil {
				return 0, err
			}
			if x.Op == "-" {
				d = -d
			}
			return base + d, nil
		case isIntervalExpr(x.LeftChild) && x.Op == "+":
			base, err := nowOffset(ctx, x.RightChild)
			if err != nil {
				return 0, err
			}
			d, err := intervalDuration(ctx, x.LeftChild.(*expression.Interval))
			if err != nil {
				return 0, err
			}
			return base + d, nil
		}
	case *function.DateAdd:
		base, err := nowOffset(ctx, x.Date)
		if err != nil {
			return 0, err
		}
		d, err := intervalDuration(ctx, x.Interval)
		return base + d, err
	case *function.DateSub:
		base, err := nowOffset(ctx, x.Date)
		if err != nil {
			return 0, err
		}
		d, err := intervalDuration(ctx, x.Interval)
		return base - d, err
	}
	return 0, fmt.Errorf("relative time must be NOW() ± INTERVAL n unit, not %s", describeExpr(e))
}

func isIntervalExpr(e sql.Expression) bool {
	_, ok := e.(*expression.Interval)
	return ok
}

// intervalDuration returns the fixed length of a constant interval.
func intervalDuration(ctx *sql.Context, iv *expression.Interval) (time.Duration, error) {
	if !isConstant(iv.Child) || mentionsNow(iv.Child) {
		return 0, fmt.Errorf("the interval %s must be a constant", describeExpr(iv))
	}
	td, err := iv.EvalDelta(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("interval %s: %w", describeExpr(iv), err)
	}
	if td == nil {
		return 0, fmt.Errorf("interval %s is NULL", describeExpr(iv))
	}
	if td.Years != 0 || td.Months != 0 {
		return 0, fmt.Errorf("INTERVAL ... %s has no fixed length: write the window in days or weeks (INTERVAL 30 DAY)", iv.Unit)
	}
	const maxDays = 200 * 366
	if abs(td.Days) > maxDays || abs(td.Hours) > maxDays*24 || abs(td.Minutes) > maxDays*24*60 || abs(td.Seconds) > maxDays*24*3600 {
		return 0, fmt.Errorf("interval %s is too long", describeExpr(iv))
	}
	return time.Duration(td.Days)*24*time.Hour + time.Duration(td.Hours)*time.Hour + time.Duration(td.Minutes)*time.Minute +
		time.Duration(td.Seconds)*time.Second + time.Duration(td.Microseconds)*time.Microsecond, nil
}

func abs(x int64) int64 {
	if x < 0 {
		return -x
	}
	return x
}

// mapPlanExprs applies f (bottom-up) to every expression of the plan,
// including the plans of subqueries.
func mapPlanExprs(n sql.Node, f transform.ExprFunc) (sql.Node, error) {
	out, _, err := transform.NodeWithOpaque(n, func(n sql.Node) (sql.Node, transform.TreeIdentity, error) {
		if _, ok := n.(sql.Expressioner); !ok {
			return n, transform.SameTree, nil
		}
		return transform.OneNodeExpressions(n, func(e sql.Expression) (sql.Expression, transform.TreeIdentity, error) {
			return transform.Expr(e, func(e sql.Expression) (sql.Expression, transform.TreeIdentity, error) {
				if wn, ok := e.(sql.ExpressionWithNodes); ok {
					children := slices.Clone(wn.NodeChildren())
					changed := false
					for i, c := range children {
						if c == nil {
							continue
						}
						nc, err := mapPlanExprs(c, f)
						if err != nil {
							return nil, transform.SameTree, err
						}
						if nc != c {
							children[i], changed = nc, true
						}
					}
					if changed {
						ne, err := wn.WithNodeChildren(children...)
						if err != nil {
							return nil, transform.SameTree, err
						}
						e = ne
					}
					ne, same, err := f(e)
					if err != nil {
						return nil, transform.SameTree, err
					}
					if changed {
						same = transform.NewTree
					}
					return ne, same, nil
				}
				return f(e)
			})
		})
	})
	return out, err
}

// inspectPlanExprs calls f on every expression of the plan (top-down),
// including the plans of subqueries; f returns false to skip children.
func inspectPlanExprs(n sql.Node, f func(sql.Expression) bool) {
	transform.Inspect(n, func(n sql.Node) bool {
		ex, ok := n.(sql.Expressioner)
		if !ok {
			return true
		}
		for _, e := range ex.Expressions() {
			sql.Inspect(e, func(x sql.Expression) bool {
				if x == nil || !f(x) {
					return false
				}
				if wn, ok := x.(sql.ExpressionWithNodes); ok {
					for _, c := range wn.NodeChildren() {
						if c != nil {
							inspectPlanExprs(c, f)
						}
					}
				}
				return true
			})
		}
		return true
	})
}

// normalizeSegment finishes a compiled definition for the segment
// manager: the time windows of behavioural predicates become their
// Since/Until (the manager schedules exits from them), event names their
// Event; a NOW()-relative comparison left inside a Did's filter (over
// another column, or under OR / NOT) is rejected, since the manager could
// not tell when it changes.
func normalizeSegment(c engine.Cond) (engine.Cond, error) {
	switch x := c.(type) {
	case engine.AllOf:
		out := make(engine.AllOf, 0, len(x))
		for _, a := range x {
			n, err := normalizeSegment(a)
			if err != nil {
				return nil, err
			}
			if inner, ok := n.(engine.AllOf); ok {
				out = append(out, inner...)
				continue
			}
			out = append(out, n)
		}
		if len(out) == 1 {
			return out[0], nil
		}
		return out, nil
	case engine.AnyOf:
		out := make(engine.AnyOf, len(x))
		for i, a := range x {
			n, err := normalizeSegment(a)
			if err != nil {
				return nil, err
			}
			out[i] = n
		}
		return out, nil
	case engine.Negate:
		n, err := normalizeSegment(x.Cond)
		if err != nil {
			return nil, err
		}
		return engine.Negate{Cond: n}, nil
	case engine.Did:
		return normalizeDid(x)
	}
	return c, nil
}

func normalizeDid(d engine.Did) (engine.Did, error) {
	var conj []expr.Expr
	var flat func(e expr.Expr)
	flat = func(e expr.Expr) {
		if a, ok := e.(expr.And); ok {
			for _, x := range a {
				flat(x)
			}
			return
		}
		conj = append(conj, e)
	}
	if d.Where != nil {
		flat(d.Where)
	}
	var rest expr.And
	since, until := sinceOf(d.Since), untilOf(d.Until)
	for _, e := range conj {
		c, ok := e.(expr.Cmp)
		if ok && c.Col == engine.ColName && c.Op == expr.Eq && d.Event == "" {
			if l, ok := c.Val.(expr.Lit); ok && l.Type == column.TypeString {
				d.Event = l.S
				continue
			}
		}
		if ok && c.Col == engine.ColTS {
			if t, ok := c.Val.(expr.TimeOffset); ok && t.At.IsZero() {
				lifted := false
				switch c.Op {
				case expr.Gt:
					lifted = since.add(t.Offset + time.Microsecond)
				case expr.Ge:
					lifted = since.add(t.Offset)
				case expr.Lt:
					lifted = until.add(t.Offset)
				case expr.Le:
					lifted = until.add(t.Offset + time.Microsecond)
				}
				if lifted {
					continue
				}
			}
		}
		if relativeIn(e) {
			return engine.Did{}, invalidSegment("a relative time window over events must be a condition of its own on ts (ts > NOW() - INTERVAL n DAY), not %s", e)
		}
		rest = append(rest, e)
	}
	d.Since, d.Until = since.c, until.c
	d.Where = nil
	switch len(rest) {
	case 0:
	case 1:
		d.Where = rest[0]
	default:
		d.Where = rest
	}
	return d, nil
}

// timeBound accumulates the relative bounds of one side of a Did's
// window: the tightest one wins.
type timeBound struct {
	c     expr.Const
	upper bool
}

func sinceOf(c expr.Const) *timeBound { return &timeBound{c: c} }
func untilOf(c expr.Const) *timeBound { return &timeBound{c: c, upper: true} }

// add tightens the bound with now+off; false if the bound is absolute
// (the caller keeps the comparison in the filter).
func (b *timeBound) add(off time.Duration) bool {
	cur, ok := b.c.(expr.TimeOffset)
	switch {
	case b.c == nil:
		b.c = expr.TimeOffset{Offset: off}
	case ok && cur.At.IsZero():
		if (!b.upper && off > cur.Offset) || (b.upper && off < cur.Offset) {
			b.c = expr.TimeOffset{Offset: off}
		}
	default:
		return false
	}
	return true
}

// relativeIn reports whether e holds a NOW()-relative constant.
func relativeIn(e expr.Expr) bool {
	found := false
	expr.Walk(e, func(x expr.Expr) {
		check := func(k expr.Const) {
			if t, ok := k.(expr.TimeOffset); ok && t.At.IsZero() {
				found = true
			}
		}
		switch x := x.(type) {
		case expr.Cmp:
			check(x.Val)
		case expr.Between:
			check(x.Lo)
			check(x.Hi)
		case expr.In:
			for _, v := range x.Vals {
				check(v)
			}
		}
	})
	return found
}
