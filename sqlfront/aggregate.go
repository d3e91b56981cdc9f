package sqlfront

import (
	"fmt"
	"io"
	"strings"

	"github.com/dolthub/go-mysql-server/sql"
	"github.com/dolthub/go-mysql-server/sql/analyzer"
	"github.com/dolthub/go-mysql-server/sql/expression"
	"github.com/dolthub/go-mysql-server/sql/expression/function/aggregation"
	"github.com/dolthub/go-mysql-server/sql/plan"
	"github.com/dolthub/go-mysql-server/sql/transform"

	"github.com/cohortdb/cohort/engine"
	"github.com/cohortdb/cohort/engine/column"
)

// aggregateRule replaces a GroupBy over a fully pushed-down scan of one
// Cohort table (no residual filter) by an aggNode that asks the engine
// (Snapshot.Aggregate) for the groups: GMS has no aggregate pushdown and
// would otherwise box and hash every row.
//
// SUM/AVG of DOUBLE ask the engine for ordered float sums
// (AggQuery.OrderedFloatSums): GMS adds float64 values one by one in the
// order the table returns its rows, and a parallel sum may differ in the
// last bits. MIN/MAX of strings compare strings in the engine, as GMS does
// (byte order, the collation being utf8mb4_0900_bin).
//
// It declines, leaving GMS to compute them, whatever the engine would not
// answer with exactly GMS's result: JSON columns, grouping by DOUBLE, and
// person_id of events/identities (stored per event, shown canonical).
//
// It also declines inside subqueries (a non-empty scope): there GMS expects
// each row prefixed with the outer scope's row, which the engine's
// aggregate node does not produce. Such subqueries are computed by GMS over
// the engine's pushed-down scan.
func (s *Server) aggregateRule(ctx *sql.Context, _ *analyzer.Analyzer, n sql.Node, scope *plan.Scope, _ analyzer.RuleSelector, _ *sql.QueryFlags) (sql.Node, transform.TreeIdentity, error) {
	if !scope.IsEmpty() {
		return n, transform.SameTree, nil
	}
	return transform.Node(n, func(n sql.Node) (sql.Node, transform.TreeIdentity, error) {
		gb, ok := n.(*plan.GroupBy)
		if !ok {
			return n, transform.SameTree, nil
		}
		an, ok := s.planAggregate(ctx, gb)
		if !ok {
			return n, transform.SameTree, nil
		}
		return an, transform.NewTree, nil
	})
}

// aggOut says where an output column of the GroupBy comes from.
type aggOut struct {
	key  int // index in GroupBy, or -1
	agg  int // index in Aggs, or -1
	kind column.Type
	fn   engine.AggFunc
}

func (s *Server) planAggregate(ctx *sql.Context, gb *plan.GroupBy) (*aggNode, bool) {
	child := gb.Child
	if ta, ok := child.(*plan.TableAlias); ok {
		child = ta.Child
	}
	var t *table
	switch c := child.(type) {
	case *plan.ResolvedTable:
		t, _ = c.Table.(*table)
	case *plan.IndexedTableAccess:
		t, _ = c.Table.(*table)
		if t != nil && t.lookup == nil {
			return nil, false
		}
	}
	if t == nil {
		return nil, false
	}
	var push *pushdown
	if t.lookup != nil {
		pi, ok := t.lookup.Index.(*pushIndex)
		if !ok || pi.push.point != nil || pi.push.ident != nil || pi.push.points != nil {
			return nil, false
		}
		push = pi.push
	}
	if t.scanReachesDisk(ctx, push) { // events_cold.go: GMS aggregates memory + disk
		return nil, false
	}
	col := func(e sql.Expression) (*column.ColumnDef, bool) {
		gf, ok := e.(*expression.GetField)
		if !ok {
			return nil, false
		}
		d, ok := lookupColumn(t.es, gf.Name())
		if !ok || !strings.EqualFold(gf.Table(), t.name) && !isAlias(gb.Child, gf.Table()) {
			return nil, false
		}
		if d.Name == engine.ColPersonID && t.name != engine.Profiles {
			return nil, false
		}
		return d, true
	}
	q := engine.AggQuery{Query: engine.Query{Table: t.name}}
	for _, g := range gb.GroupByExprs {
		d, ok := col(g)
		if !ok || d.Type == column.TypeFloat || d.Type == column.TypeStringList || len(q.GroupBy) == 4 {
			return nil, false
		}
		q.GroupBy = append(q.GroupBy, d.Name)
	}
	outs := make([]aggOut, len(gb.SelectedExprs))
	for i, e := range gb.SelectedExprs {
		o := aggOut{key: -1, agg: -1}
		var a engine.Agg
		var arg sql.Expression
		switch x := e.(type) {
		case *expression.GetField:
			d, ok := col(x)
			if !ok {
				return nil, false
			}
			for k, g := range q.GroupBy {
				if g == d.Name {
					o.key = k
				}
			}
			if o.key < 0 {
				return nil, false // ANY_VALUE semantics: leave to GMS
			}
			o.kind = d.Type
			outs[i] = o
			continue
		case *aggregation.Count:
			a.Func, arg = engine.AggCount, x.Child
			if lit, ok := arg.(*expression.Literal); ok {
				if lit.Value() == nil {
					return nil, false
				}
				arg = nil // COUNT(*)
			} else if _, ok := arg.(*expression.Star); ok {
				arg = nil
			}
		case *aggregation.CountDistinct:
			if len(x.Children()) != 1 {
				return nil, false
			}
			a.Func, arg = engine.AggCountDistinct, x.Children()[0]
		case *aggregation.Sum:
			a.Func, arg = engine.AggSum, x.Child
		case *aggregation.Avg:
			a.Func, arg = engine.AggAvg, x.Child
		case *aggregation.Min:
			a.Func, arg = engine.AggMin, x.Child
		case *aggregation.Max:
			a.Func, arg = engine.AggMax, x.Child
		default:
			return nil, false
		}
		if arg != nil {
			d, ok := col(arg)
			if !ok || d.Type == column.TypeStringList {
				return nil, false
			}
			switch a.Func {
			case engine.AggSum, engine.AggAvg:
				switch d.Type {
				case column.TypeInt:
				case column.TypeFloat:
					q.OrderedFloatSums = true
				default:
					return nil, false
				}
			case engine.AggCountDistinct:
				if d.Type == column.TypeFloat {
					return nil, false
				}
			}
			a.Col = d.Name
			o.kind = d.Type
		}
		o.agg, o.fn = len(q.Aggs), a.Func
		q.Aggs = append(q.Aggs, a)
		outs[i] = o
	}
	if len(q.Aggs) == 0 {
		return nil, false
	}
	return &aggNode{srv: s, db: t.db, schema: gb.Schema(), q: q, push: push, outs: outs, desc: gb.String()}, true
}

func isAlias(n sql.Node, name string) bool {
	ta, ok := n.(*plan.TableAlias)
	return ok && strings.EqualFold(ta.Name(), name)
}

// aggNode answers a GroupBy from the engine.
type aggNode struct {
	srv    *Server
	db     *database
	schema sql.Schema
	q      engine.AggQuery
	push   *pushdown
	outs   []aggOut
	desc   string
}

var _ sql.ExecSourceRel = (*aggNode)(nil)

func (n *aggNode) Resolved() bool       { return true }
func (n *aggNode) IsReadOnly() bool     { return true }
func (n *aggNode) Schema() sql.Schema   { return n.schema }
func (n *aggNode) Children() []sql.Node { return nil }
func (n *aggNode) WithChildren(children ...sql.Node) (sql.Node, error) {
	if len(children) != 0 {
		return nil, sql.ErrInvalidChildrenNumber.New(n, len(children), 0)
	}
	return n, nil
}
func (n *aggNode) String() string {
	w := ""
	if n.push != nil {
		w = " WHERE " + n.push.String()
	}
	return fmt.Sprintf("CohortAggregate(%s.%s%s: %v GROUP BY %v)", n.db.Name(), n.q.Table, w, n.q.Aggs, n.q.GroupBy)
}

func (n *aggNode) RowIter(ctx *sql.Context, _ sql.Row) (sql.RowIter, error) {
	snap := snapshot(ctx, n.db.ws)
	q := n.q
	q.Now = ctx.QueryTime()
	if err := aggReachesDisk(snap, q.Table, n.push, q.Now); err != nil { // events_cold.go
		return nil, err
	}
	if n.push != nil {
		cond, empty, err := n.push.cond(ctx, snap)
		if err != nil {
			return nil, err
		}
		if empty {
			q.Where = engine.Where{Expr: falseExpr}
		} else {
			q.Where = cond
		}
	}
	groups, err := snap.Aggregate(ctx, q)
	if err != nil {
		return nil, fmt.Errorf("cannot aggregate %s.%s: %w", n.db.Name(), q.Table, err)
	}
	return &aggIter{n: n, groups: groups}, nil
}

type aggIter struct {
	n      *aggNode
	groups []engine.Group
	i      int
}

func (it *aggIter) Next(*sql.Context) (sql.Row, error) {
	if it.i >= len(it.groups) {
		return nil, io.EOF
	}
	g := it.groups[it.i]
	it.i++
	row := make(sql.Row, len(it.n.outs))
	for i, o := range it.n.outs {
		if o.key >= 0 {
			row[i] = toSQL(g.Key[o.key])
			continue
		}
		v := g.Aggs[o.agg]
		switch o.fn {
		case engine.AggSum, engine.AggAvg:
			// GMS sums as float64.
			switch v.Type {
			case column.TypeInt:
				row[i] = float64(v.I)
			case column.TypeFloat:
				row[i] = v.F
			default:
				row[i] = nil
			}
		default:
			row[i] = toSQL(v)
		}
	}
	return row, nil
}

func (it *aggIter) Close(*sql.Context) error { return nil }
