package sqlfront

import (
	"github.com/dolthub/go-mysql-server/sql"
	"github.com/dolthub/go-mysql-server/sql/expression"
	"github.com/dolthub/go-mysql-server/sql/plan"
	"github.com/dolthub/go-mysql-server/sql/transform"

	"github.com/cohortdb/cohort/engine"
)

// recogniseTree recognises a conjunct that combines behavioural
// subqueries with predicates over the filtered table by AND, OR and NOT,
// such as "country = 'ES' OR person_id IN (SELECT person_id FROM events
// ...)": the whole conjunct becomes one behaviourExpr whose condition is
// the tree (AllOf / AnyOf / Negate of Where and Did conditions). Every
// leaf must be a recognised subquery or a predicate over the filtered
// table that the translator takes; otherwise nil, and GMS evaluates the
// conjunct. The engine evaluates the tree with SQL's three-valued logic
// (a Did is never NULL, as person_id [NOT] IN over events' non-NULL
// person ids is not).
func (s *Server) recogniseTree(ctx *sql.Context, outer *table, outerID sql.TableId, e sql.Expression) *behaviourExpr {
	if !hasSubquery(e) {
		return nil
	}
	switch e.(type) {
	case *expression.And, *expression.Or, *expression.Not:
	default:
		return nil
	}
	tr := translator{ctx: ctx, schema: outer.es}
	c, ok := s.condTree(ctx, &tr, outer, outerID, e)
	if !ok {
		return nil
	}
	return &behaviourExpr{table: outer.name, id: outerID, conds: []engine.Cond{c}, orig: e}
}

func (s *Server) condTree(ctx *sql.Context, tr *translator, outer *table, outerID sql.TableId, e sql.Expression) (engine.Cond, bool) {
	if b := s.recognise(ctx, outer, outerID, e); b != nil {
		c, err := b.cond(ctx)
		return c, err == nil
	}
	switch x := e.(type) {
	case *expression.And:
		l, ok := s.condTree(ctx, tr, outer, outerID, x.LeftChild)
		if !ok {
			return nil, false
		}
		r, ok := s.condTree(ctx, tr, outer, outerID, x.RightChild)
		if !ok {
			return nil, false
		}
		return engine.AllOf{l, r}, true
	case *expression.Or:
		l, ok := s.condTree(ctx, tr, outer, outerID, x.LeftChild)
		if !ok {
			return nil, false
		}
		r, ok := s.condTree(ctx, tr, outer, outerID, x.RightChild)
		if !ok {
			return nil, false
		}
		return engine.AnyOf{l, r}, true
	case *expression.Not:
		c, ok := s.condTree(ctx, tr, outer, outerID, x.Child)
		if !ok {
			return nil, false
		}
		return engine.Negate{Cond: c}, true
	}
	if hasSubquery(e) || !hasField(e) || !onlyTable(e, outerID) {
		return nil, false
	}
	x, ok := tr.translate(e)
	if !ok {
		return nil, false
	}
	return engine.Where{Expr: x}, true
}

func hasSubquery(e sql.Expression) bool {
	return transform.InspectExpr(e, func(x sql.Expression) bool {
		switch x.(type) {
		case *plan.InSubquery, *plan.ExistsSubquery, *plan.Subquery:
			return true
		}
		return false
	})
}

func hasField(e sql.Expression) bool {
	return transform.InspectExpr(e, func(x sql.Expression) bool {
		_, ok := x.(*expression.GetField)
		return ok
	})
}
