package sqlfront

import (
	"fmt"

	"github.com/dolthub/go-mysql-server/sql"
	"github.com/dolthub/go-mysql-server/sql/analyzer"
	"github.com/dolthub/go-mysql-server/sql/expression"
	"github.com/dolthub/go-mysql-server/sql/expression/function/aggregation"
	"github.com/dolthub/go-mysql-server/sql/plan"
	"github.com/dolthub/go-mysql-server/sql/transform"
	"github.com/dolthub/go-mysql-server/sql/types"

	"github.com/cohortdb/cohort/engine"
	"github.com/cohortdb/cohort/engine/column"
	"github.com/cohortdb/cohort/engine/expr"
)

// behaviourExpr stands for a behavioural subquery recognised in a filter:
//
//	person_id [NOT] IN (SELECT person_id FROM events WHERE ...
//	                   [GROUP BY person_id HAVING COUNT(*)|SUM(p)|MIN(p)|MAX(p) op N])
//	[NOT] EXISTS (SELECT ... FROM events e WHERE e.person_id = t.person_id AND ...)
//
// The filtered table pushes it down as an engine Did condition (a person
// bitmap from one vectorized scan of events). GMS still analyzes the
// original expression, its only child, and evaluates it if the table did
// not take the condition over.
type behaviourExpr struct {
	table string      // the filtered table
	id    sql.TableId // its table id in the plan
	conds []engine.Cond
	not   bool
	orig  sql.Expression
}

var _ sql.Expression = (*behaviourExpr)(nil)

func (b *behaviourExpr) Resolved() bool { return b.orig.Resolved() }
func (b *behaviourExpr) String() string {
	if b.not {
		return fmt.Sprintf("cohort.did(NOT %s)", b.orig)
	}
	return fmt.Sprintf("cohort.did(%s)", b.orig)
}
func (b *behaviourExpr) Type() sql.Type   { return types.Boolean }
func (b *behaviourExpr) IsNullable() bool { return b.orig.IsNullable() }
func (b *behaviourExpr) Eval(ctx *sql.Context, row sql.Row) (any, error) {
	if b.not { // orig is the subquery without its NOT
		return expression.NewNot(b.orig).Eval(ctx, row)
	}
	return b.orig.Eval(ctx, row)
}
func (b *behaviourExpr) Children() []sql.Expression { return []sql.Expression{b.orig} }
func (b *behaviourExpr) WithChildren(children ...sql.Expression) (sql.Expression, error) {
	if len(children) != 1 {
		return nil, sql.ErrInvalidChildrenNumber.New(b, len(children), 1)
	}
	nb := *b
	nb.orig = children[0]
	return &nb, nil
}

func (b *behaviourExpr) cond(*sql.Context) (engine.Cond, error) {
	var c engine.Cond = engine.AllOf(b.conds)
	if b.not {
		c = engine.Negate{Cond: c}
	}
	return c, nil
}

// behaviourRule (pre-analyzer) wraps recognised behavioural subqueries of
// a filter over a Cohort table in behaviourExprs, before GMS unnests them
// into joins.
func (s *Server) behaviourRule(ctx *sql.Context, _ *analyzer.Analyzer, n sql.Node, _ *plan.Scope, _ analyzer.RuleSelector, _ *sql.QueryFlags) (sql.Node, transform.TreeIdentity, error) {
	return transform.Node(n, func(n sql.Node) (sql.Node, transform.TreeIdentity, error) {
		f, ok := n.(*plan.Filter)
		if !ok {
			return n, transform.SameTree, nil
		}
		outer, id := cohortTable(f.Child)
		if outer == nil {
			return n, transform.SameTree, nil
		}
		if _, ok := outer.es.Lookup(engine.ColPersonID); !ok {
			return n, transform.SameTree, nil
		}
		conj := expression.SplitConjunction(f.Expression)
		changed := false
		for i, c := range conj {
			if _, done := c.(*behaviourExpr); done {
				continue
			}
			b := s.recognise(ctx, outer, id, c)
			if b == nil {
				b = s.recogniseTree(ctx, outer, id, c) // behaviour_tree.go
			}
			if b != nil {
				conj[i], changed = b, true
			}
		}
		if !changed {
			return n, transform.SameTree, nil
		}
		nf, err := f.WithExpressions(expression.JoinAnd(conj...))
		if err != nil {
			return n, transform.SameTree, err
		}
		return nf, transform.NewTree, nil
	})
}

// cohortTable returns the Cohort table (and its table id) under n.
func cohortTable(n sql.Node) (*table, sql.TableId) {
	if ta, ok := n.(*plan.TableAlias); ok {
		n = ta.Child
	}
	rt, ok := n.(*plan.ResolvedTable)
	if !ok {
		return nil, 0
	}
	t, ok := rt.Table.(*table)
	if !ok {
		return nil, 0
	}
	return t, rt.Id()
}

func (s *Server) recognise(ctx *sql.Context, outer *table, outerID sql.TableId, e sql.Expression) *behaviourExpr {
	not := false
	if n, ok := e.(*expression.Not); ok {
		not, e = true, n.Child
	}
	var conds []engine.Cond
	switch x := e.(type) {
	case *plan.InSubquery:
		gf, ok := x.Left().(*expression.GetField)
		sq, ok2 := x.Right().(*plan.Subquery)
		if !ok || !ok2 || gf.TableId() != outerID || !isPersonID(outer, gf) {
			return nil
		}
		conds = s.inSubquery(ctx, outer, sq.Query)
	case *plan.ExistsSubquery:
		conds = s.existsSubquery(ctx, outer, outerID, x.Query.Query)
	}
	if conds == nil || didReachesDisk(ctx, outer.db.ws, conds) { // events_cold.go
		return nil
	}
	return &behaviourExpr{table: outer.name, id: outerID, conds: conds, not: not, orig: e}
}

func isPersonID(t *table, gf *expression.GetField) bool {
	d, ok := lookupColumn(t.es, gf.Name())
	return ok && d.Name == engine.ColPersonID
}

// eventsScan matches [Filter] → [TableAlias] → ResolvedTable(events) of the
// outer table's workspace and translates the filter's conjuncts except
// those skip takes.
func (s *Server) eventsScan(ctx *sql.Context, outer *table, n sql.Node, skip func(sql.Expression) bool) (expr.And, sql.TableId, bool) {
	var filter sql.Expression
	if f, ok := n.(*plan.Filter); ok {
		filter, n = f.Expression, f.Child
	}
	ev, id := cohortTable(n)
	if ev == nil || ev.name != engine.Events || ev.db.ws != outer.db.ws {
		return nil, 0, false
	}
	tr := translator{ctx: ctx, schema: ev.es}
	var where expr.And
	if filter != nil {
		for _, c := range expression.SplitConjunction(filter) {
			if skip != nil && skip(c) {
				continue
			}
			if !onlyTable(c, id) {
				return nil, 0, false
			}
			x, ok := tr.translate(c)
			if !ok {
				return nil, 0, false
			}
			where = append(where, x)
		}
	}
	return where, id, true
}

// onlyTable reports whether every field of e belongs to table id.
func onlyTable(e sql.Expression, id sql.TableId) bool {
	ok := true
	transform.InspectExpr(e, func(x sql.Expression) bool {
		if gf, is := x.(*expression.GetField); is && gf.TableId() != id {
			ok = false
		}
		return !ok
	})
	return ok
}

// inSubquery recognises SELECT person_id FROM events WHERE ... [GROUP BY
// person_id HAVING agg op N].
func (s *Server) inSubquery(ctx *sql.Context, outer *table, n sql.Node) []engine.Cond {
	p, ok := n.(*plan.Project)
	if !ok || len(p.Projections) != 1 {
		return nil
	}
	n = p.Child
	var having *plan.Having
	if h, ok := n.(*plan.Having); ok {
		having, n = h, h.Child
	}
	var gb *plan.GroupBy
	if g, ok := n.(*plan.GroupBy); ok {
		gb, n = g, g.Child
	}
	if (having == nil) != (gb == nil) {
		return nil
	}
	where, evID, ok := s.eventsScan(ctx, outer, n, nil)
	if !ok {
		return nil
	}
	if gf, ok := p.Projections[0].(*expression.GetField); !ok || gf.TableId() != evID || gf.Name() != engine.ColPersonID {
		return nil
	}
	did := engine.Did{Where: whereOrNil(where), Op: expr.Ge, N: 1}
	if gb == nil {
		return []engine.Cond{did}
	}
	if len(gb.GroupByExprs) != 1 {
		return nil
	}
	if gf, ok := gb.GroupByExprs[0].(*expression.GetField); !ok || gf.TableId() != evID || gf.Name() != engine.ColPersonID {
		return nil
	}
	// The HAVING condition: one aggregate compared with a constant.
	var agg sql.Expression
	for _, e := range gb.SelectedExprs {
		switch e.(type) {
		case *expression.GetField:
		case *aggregation.Count, *aggregation.Sum, *aggregation.Min, *aggregation.Max:
			if agg != nil {
				return nil
			}
			agg = e
		default:
			return nil
		}
	}
	if agg == nil {
		return nil
	}
	op, n2, ok := havingCmp(ctx, having.Cond)
	if !ok {
		return nil
	}
	did.Op, did.N = op, n2
	var prop sql.Expression
	switch a := agg.(type) {
	case *aggregation.Count:
		if _, ok := a.Child.(*expression.Literal); !ok {
			return nil // COUNT(col): NULLs would not count
		}
		did.Agg = engine.AggCount
	case *aggregation.Sum:
		did.Agg, prop = engine.AggSum, a.Child
	case *aggregation.Min:
		did.Agg, prop = engine.AggMin, a.Child
	case *aggregation.Max:
		did.Agg, prop = engine.AggMax, a.Child
	}
	if prop != nil {
		gf, ok := prop.(*expression.GetField)
		if !ok || gf.TableId() != evID {
			return nil
		}
		ev, _ := cohortTable(unfilter(gb.Child))
		d, ok := lookupColumn(ev.es, gf.Name())
		if !ok || (d.Type != column.TypeInt && d.Type != column.TypeFloat) {
			return nil
		}
		did.Prop = d.Name
	}
	conds := []engine.Cond{did}
	if compare0(op, n2) && did.Agg == engine.AggCount {
		// A group exists only for persons with a matching event; the
		// engine's count also admits persons with none.
		conds = append(conds, engine.Did{Where: did.Where, Op: expr.Ge, N: 1})
	}
	return conds
}

func unfilter(n sql.Node) sql.Node {
	if f, ok := n.(*plan.Filter); ok {
		return f.Child
	}
	return n
}

func whereOrNil(w expr.And) expr.Expr {
	if len(w) == 0 {
		return nil
	}
	return w
}

func compare0(op expr.Op, n float64) bool {
	switch op {
	case expr.Eq:
		return 0 == n
	case expr.Ne:
		return 0 != n
	case expr.Lt:
		return 0 < n
	case expr.Le:
		return 0 <= n
	case expr.Gt:
		return 0 > n
	}
	return 0 >= n
}

// havingCmp matches "aggregate op constant" (either side).
func havingCmp(ctx *sql.Context, e sql.Expression) (expr.Op, float64, bool) {
	var op expr.Op
	var l, r sql.Expression
	switch c := e.(type) {
	case *expression.Equals:
		op, l, r = expr.Eq, c.Left(), c.Right()
	case *expression.GreaterThan:
		op, l, r = expr.Gt, c.Left(), c.Right()
	case *expression.GreaterThanOrEqual:
		op, l, r = expr.Ge, c.Left(), c.Right()
	case *expression.LessThan:
		op, l, r = expr.Lt, c.Left(), c.Right()
	case *expression.LessThanOrEqual:
		op, l, r = expr.Le, c.Left(), c.Right()
	default:
		return 0, 0, false
	}
	if _, ok := l.(*expression.GetField); !ok {
		l, r, op = r, l, flip[op]
	}
	if _, ok := l.(*expression.GetField); !ok || !isConstant(r) {
		return 0, 0, false
	}
	v, err := r.Eval(ctx, nil)
	if err != nil || v == nil {
		return 0, 0, false
	}
	x, ok := inferValue(v)
	if !ok {
		return 0, 0, false
	}
	switch x.Type {
	case column.TypeInt:
		if x.I > maxExactInt || x.I < -maxExactInt {
			return 0, 0, false
		}
		return op, float64(x.I), true
	case column.TypeFloat:
		return op, x.F, true
	}
	return 0, 0, false
}

// existsSubquery recognises SELECT ... FROM events e WHERE e.person_id =
// outer.person_id AND <translatable conditions> (no grouping).
func (s *Server) existsSubquery(ctx *sql.Context, outer *table, outerID sql.TableId, n sql.Node) []engine.Cond {
	if p, ok := n.(*plan.Project); ok {
		n = p.Child
	}
	if l, ok := n.(*plan.Limit); ok {
		n = l.Child
	}
	f, ok := n.(*plan.Filter)
	if !ok {
		return nil
	}
	correlated := 0
	_, evID := cohortTable(f.Child)
	isLink := func(c sql.Expression) bool {
		eq, ok := c.(*expression.Equals)
		if !ok {
			return false
		}
		a, ok1 := eq.Left().(*expression.GetField)
		b, ok2 := eq.Right().(*expression.GetField)
		if !ok1 || !ok2 {
			return false
		}
		if a.TableId() == outerID {
			a, b = b, a
		}
		if a.TableId() == evID && b.TableId() == outerID && a.Name() == engine.ColPersonID && isPersonID(outer, b) {
			correlated++
			return true
		}
		return false
	}
	where, _, ok := s.eventsScan(ctx, outer, f, isLink)
	if !ok || correlated != 1 {
		return nil
	}
	return []engine.Cond{engine.Did{Where: whereOrNil(where), Op: expr.Ge, N: 1}}
}
