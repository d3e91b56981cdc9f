package sqlfront

import (
	"fmt"
	"io"
	"slices"

	"github.com/dolthub/go-mysql-server/sql"
	"github.com/dolthub/go-mysql-server/sql/analyzer"
	"github.com/dolthub/go-mysql-server/sql/expression"
	"github.com/dolthub/go-mysql-server/sql/plan"
	"github.com/dolthub/go-mysql-server/sql/transform"

	"github.com/cohortdb/cohort/engine"
	"github.com/cohortdb/cohort/engine/column"
	"github.com/cohortdb/cohort/engine/expr"
)

// table is one engine table of one workspace, with the schema of the
// snapshot pinned by the query that resolved it.
type table struct {
	db     *database
	name   string
	es     *column.Schema
	full   sql.Schema
	proj   []string // nil: every column
	out    sql.Schema
	cols   []string // engine names of the output columns
	lookup *sql.IndexLookup
	// id is the table id of this instance in the query's plan (scopeRule),
	// 0 until known: only conjuncts over its own fields are pushed down.
	id sql.TableId
}

var (
	_ sql.Table                = (*table)(nil)
	_ sql.ProjectedTable       = (*table)(nil)
	_ sql.PrimaryKeyTable      = (*table)(nil)
	_ sql.IndexSearchableTable = (*table)(nil)
	_ sql.IndexedTable         = (*table)(nil)
	_ sql.CommentedTable       = (*table)(nil)
	_ sql.Databaseable         = (*table)(nil)
)

func newTable(ctx *sql.Context, d *database, name string) *table {
	snap := snapshot(ctx, d.ws)
	ts, err := snap.Table(name)
	if err != nil {
		panic("BUG: " + err.Error())
	}
	t := &table{db: d, name: name, es: ts.Schema}
	t.full = sqlSchema(name, t.es)
	t.setProjection(nil)
	return t
}

func (t *table) setProjection(names []string) {
	t.proj = names
	if names == nil {
		t.out = t.full
		t.cols = make([]string, len(t.es.Cols))
		for i, d := range t.es.Cols {
			t.cols[i] = d.Name
		}
		return
	}
	t.out = make(sql.Schema, 0, len(names))
	t.cols = make([]string, 0, len(names))
	for _, n := range names {
		d, ok := lookupColumn(t.es, n)
		if !ok {
			panic(fmt.Sprintf("BUG: projection of unknown column %s.%s", t.name, n))
		}
		t.out = append(t.out, t.full[d.Index])
		t.cols = append(t.cols, d.Name)
	}
}

func (t *table) Name() string               { return t.name }
func (t *table) String() string             { return t.name }
func (t *table) Database() string           { return t.db.Name() }
func (t *table) Schema() sql.Schema         { return t.out }
func (t *table) Collation() sql.CollationID { return Collation }
func (t *table) Comment() string {
	switch t.name {
	case engine.Profiles:
		return "one row per person"
	case engine.Events:
		return "append-only behavioural events"
	}
	return "identifiers (type, value) of persons"
}

// PrimaryKeySchema returns the full schema: GMS maps projected columns
// through it (without it, projections silently pick wrong columns).
func (t *table) PrimaryKeySchema() sql.PrimaryKeySchema {
	return sql.NewPrimaryKeySchema(t.full)
}

func (t *table) WithProjections(names []string) sql.Table {
	nt := *t
	nt.setProjection(names)
	return &nt
}

func (t *table) Projections() []string { return t.proj }

// partition is the table's single partition, carrying the lookup if any.
type partition struct{ lookup *sql.IndexLookup }

func (partition) Key() []byte { return []byte("0") }

type partitionIter struct {
	p    partition
	done bool
}

func (it *partitionIter) Next(*sql.Context) (sql.Partition, error) {
	if it.done {
		return nil, io.EOF
	}
	it.done = true
	return it.p, nil
}
func (it *partitionIter) Close(*sql.Context) error { return nil }

func (t *table) Partitions(*sql.Context) (sql.PartitionIter, error) {
	return &partitionIter{p: partition{lookup: t.lookup}}, nil
}

// Index access.

func (t *table) GetIndexes(*sql.Context) ([]sql.Index, error) {
	if t.db.srv.opts.DisablePushdown {
		return nil, nil // the oracle: GMS joins and filters by itself
	}
	return []sql.Index{newPKIndex(t.db.Name(), t.name, t.es)}, nil
}

func (t *table) PreciseMatch() bool { return true }

func (t *table) IndexedAccess(_ *sql.Context, lookup sql.IndexLookup) sql.IndexedTable {
	nt := *t
	nt.lookup = &lookup
	return &nt
}

func (t *table) LookupPartitions(_ *sql.Context, lookup sql.IndexLookup) (sql.PartitionIter, error) {
	return &partitionIter{p: partition{lookup: &lookup}}, nil
}

func (t *table) SkipIndexCosting() bool { return true }

// LookupForExpressions takes over every conjunct the engine evaluates
// exactly; the others stay in GMS as the residual filter.
func (t *table) LookupForExpressions(ctx *sql.Context, exprs ...sql.Expression) (sql.IndexLookup, *sql.FuncDepSet, sql.Expression, bool, error) {
	if t.db.srv.opts.DisablePushdown {
		return sql.IndexLookup{}, nil, nil, false, nil
	}
	tr := translator{ctx: ctx, schema: t.es}
	p := &pushdown{table: t.name}
	// A filter over this scan may hold conjuncts over an enclosing
	// query's row (a correlated subquery), even over another instance of
	// the same table (same names and types): those stay in GMS.
	var rest, own []sql.Expression
	for _, e := range exprs {
		if t.owns(e) {
			own = append(own, e)
		} else {
			rest = append(rest, e)
		}
	}
	// Point lookups first: they make the rest a filter over one row.
	if point, ident, used := t.pointLookup(ctx, &tr, own); used != nil {
		p.point, p.ident, p.handled = point, ident, used
		for _, e := range own {
			if !containsExpr(used, e) {
				rest = append(rest, e)
			}
		}
	} else {
		for _, e := range own {
			if b, ok := e.(*behaviourExpr); ok && b.table == t.name && b.id == t.id {
				p.did = append(p.did, b)
				p.handled = append(p.handled, e)
				continue
			}
			if x, ok := tr.translate(e); ok {
				p.where = append(p.where, x)
				p.handled = append(p.handled, e)
				continue
			}
			rest = append(rest, e)
		}
		rest = t.keepDidsOnDisk(ctx, p, rest) // events_cold.go
	}
	if len(p.handled) == 0 {
		return sql.IndexLookup{}, nil, nil, false, nil
	}
	lookup := sql.IndexLookup{
		Index:  &pushIndex{pkIndex: newPKIndex(t.db.Name(), t.name, t.es), push: p},
		Ranges: pushRanges{p: p},
	}
	var residual sql.Expression
	if len(rest) > 0 {
		residual = expression.JoinAnd(rest...)
	}
	return lookup, nil, residual, true, nil
}

// owns reports whether every field e reads is a column of this table
// instance (its table id and one of its column names). A table whose id
// is unknown owns nothing: pushing a conjunct over another scope's row
// into this scan gives wrong results.
func (t *table) owns(e sql.Expression) bool {
	if t.id == 0 {
		return false
	}
	ok := true
	transform.InspectExpr(e, func(x sql.Expression) bool {
		if gf, is := x.(*expression.GetField); is {
			if _, known := lookupColumn(t.es, gf.Name()); gf.TableId() != t.id || !known {
				ok = false
			}
		}
		return !ok
	})
	return ok
}

// scopeRule tells every Cohort table of the plan, subqueries included,
// its table id, so that LookupForExpressions pushes down only the
// conjuncts over its own fields. It is one of GMS's AlwaysBeforeDefault
// rules (registered in init): those run before join planning (which calls
// LookupForExpressions) in every analysis, including the short rule
// batches of single-table UPDATE and DELETE, which run no pre-analyzer
// rule.
func scopeRule(_ *sql.Context, _ *analyzer.Analyzer, n sql.Node, _ *plan.Scope, _ analyzer.RuleSelector, _ *sql.QueryFlags) (sql.Node, transform.TreeIdentity, error) {
	return bindTableIDs(n)
}

func init() {
	analyzer.AlwaysBeforeDefault = append(analyzer.AlwaysBeforeDefault, analyzer.Rule{Id: ruleScope, Apply: scopeRule})
}

func bindTableIDs(n sql.Node) (sql.Node, transform.TreeIdentity, error) {
	return transform.NodeWithOpaque(n, func(n sql.Node) (sql.Node, transform.TreeIdentity, error) {
		same := transform.SameTree
		if rt, ok := n.(*plan.ResolvedTable); ok {
			if t, ok := rt.UnderlyingTable().(*table); ok && t.id != rt.Id() {
				nt := *t
				nt.id = rt.Id()
				m, err := rt.WithTable(&nt)
				if err != nil {
					return nil, transform.SameTree, err
				}
				n, same = m, transform.NewTree
			}
		}
		if _, ok := n.(sql.Expressioner); !ok {
			return n, same, nil
		}
		m, sameExprs, err := transform.OneNodeExpressions(n, func(e sql.Expression) (sql.Expression, transform.TreeIdentity, error) {
			return transform.Expr(e, func(e sql.Expression) (sql.Expression, transform.TreeIdentity, error) {
				// Subqueries: plans inside expressions.
				wn, ok := e.(sql.ExpressionWithNodes)
				if !ok {
					return e, transform.SameTree, nil
				}
				children := wn.NodeChildren()
				changed := false
				for i, c := range children {
					if c == nil {
						continue
					}
					nc, same, err := bindTableIDs(c)
					if err != nil {
						return e, transform.SameTree, err
					}
					if !same {
						if !changed {
							children = slices.Clone(children)
							changed = true
						}
						children[i] = nc
					}
				}
				if !changed {
					return e, transform.SameTree, nil
				}
				ne, err := wn.WithNodeChildren(children...)
				if err != nil {
					return e, transform.SameTree, err
				}
				return ne, transform.NewTree, nil
			})
		})
		if err != nil {
			return nil, transform.SameTree, err
		}
		return m, same && sameExprs, nil
	})
}

func containsExpr(list []sql.Expression, e sql.Expression) bool {
	for _, x := range list {
		if x == e {
			return true
		}
	}
	return false
}

// pointLookup finds "person_id = const" on profiles, or "type = const AND
// value = const" on identities.
func (t *table) pointLookup(ctx *sql.Context, tr *translator, exprs []sql.Expression) (*int64, *[2]string, []sql.Expression) {
	eqConst := func(e sql.Expression, col string) (column.Value, bool) {
		x, ok := tr.translate(e)
		if !ok {
			return column.Value{}, false
		}
		c, ok := x.(expr.Cmp)
		if !ok || c.Op != expr.Eq || c.Col != col || c.Val == nil {
			return column.Value{}, false
		}
		l, ok := c.Val.(expr.Lit)
		return column.Value(l), ok
	}
	switch t.name {
	case engine.Profiles:
		for _, e := range exprs {
			if v, ok := eqConst(e, engine.ColPersonID); ok && v.Type == column.TypeInt {
				p := v.I
				return &p, nil, []sql.Expression{e}
			}
		}
	case engine.Identities:
		var typ, val sql.Expression
		var id [2]string
		for _, e := range exprs {
			if v, ok := eqConst(e, engine.ColType); ok && typ == nil && v.Type == column.TypeString {
				typ, id[0] = e, v.S
			} else if v, ok := eqConst(e, engine.ColValue); ok && val == nil && v.Type == column.TypeString {
				val, id[1] = e, v.S
			}
		}
		if typ != nil && val != nil {
			return nil, &id, []sql.Expression{typ, val}
		}
	}
	return nil, nil, nil
}

// PartitionRows streams the rows of the partition from the query's
// snapshot, lazily, chunk by chunk.
func (t *table) PartitionRows(ctx *sql.Context, part sql.Partition) (sql.RowIter, error) {
	p, ok := part.(partition)
	if !ok {
		return nil, fmt.Errorf("cannot read %s: unexpected partition %T", t.name, part)
	}
	snap := snapshot(ctx, t.db.ws)
	var push *pushdown
	if p.lookup != nil {
		switch ix := p.lookup.Index.(type) {
		case *pushIndex:
			push = ix.push
		case *pkIndex:
			var err error
			if push, err = t.rangePushdown(p.lookup); err != nil {
				return nil, err
			}
		default:
			return nil, fmt.Errorf("cannot read %s: unknown index %T", t.name, p.lookup.Index)
		}
	}
	if push != nil && push.point != nil {
		return t.profileRow(snap, []int64{*push.point}), nil
	}
	if push != nil && push.points != nil {
		return t.profileRow(snap, push.points), nil
	}
	if push != nil && push.ident != nil && len(push.where) == 0 && len(push.did) == 0 {
		if it, ok := t.identityRow(snap, push.ident); ok {
			return it, nil
		}
	}
	q := engine.Query{Table: t.name, Now: ctx.QueryTime()}
	if push != nil {
		cond, empty, err := push.cond(ctx, snap)
		if err != nil {
			return nil, err
		}
		if empty {
			return sql.RowsToRowIter(), nil
		}
		q.Where = cond
	}
	cols := t.cols
	if len(cols) == 0 {
		cols = []string{t.es.Cols[0].Name} // rows without columns still count
	}
	if t.name == engine.Events && snap.EventsFrom != 0 {
		var where []expr.Expr
		if push != nil {
			where = push.where
		}
		return t.eventRows(ctx, snap, q, where, cols, len(t.cols)) // memory + disk (events_cold.go)
	}
	rows, err := snap.Select(ctx, q, cols)
	if err != nil {
		return nil, fmt.Errorf("cannot scan %s.%s: %w", t.db.Name(), t.name, err)
	}
	return &rowIter{rows: rows, n: len(t.cols)}, nil
}

// rangePushdown turns GMS ranges on the primary index (lookup joins):
// points on profiles.person_id read profiles by person, anything else
// becomes an engine condition.
func (t *table) rangePushdown(l *sql.IndexLookup) (*pushdown, error) {
	ranges, ok := l.Ranges.(sql.MySQLRangeCollection)
	if !ok {
		return nil, fmt.Errorf("cannot look up %s: unsupported index ranges %T", t.name, l.Ranges)
	}
	if t.name == engine.Profiles {
		if points, ok := personPoints(ranges); ok {
			return &pushdown{table: t.name, points: points}, nil
		}
	}
	cols := primaryKey(t.name)
	var or expr.Or
	for _, r := range ranges {
		if len(r) > len(cols) {
			return nil, fmt.Errorf("cannot look up %s: %d-column range", t.name, len(r))
		}
		var and expr.And
		for i, ce := range r {
			d, ok := t.es.Lookup(cols[i])
			if !ok {
				return nil, fmt.Errorf("cannot look up %s: no column %s", t.name, cols[i])
			}
			e, err := boundExpr(d, ce)
			if err != nil {
				return nil, fmt.Errorf("cannot look up %s: %w", t.name, err)
			}
			and = append(and, e...)
		}
		or = append(or, and)
	}
	return &pushdown{table: t.name, where: []expr.Expr{or}}, nil
}

// personPoints returns the person ids of point ranges on person_id.
func personPoints(ranges sql.MySQLRangeCollection) ([]int64, bool) {
	points := []int64{}
	for _, r := range ranges {
		if len(r) != 1 {
			return nil, false
		}
		lo, lok := r[0].LowerBound.(sql.Below)
		hi, hok := r[0].UpperBound.(sql.Above)
		if !lok || !hok {
			return nil, false
		}
		a, aok := inferValue(lo.Key)
		b, bok := inferValue(hi.Key)
		if !aok || !bok || !a.Equal(b) {
			return nil, false
		}
		switch a.Type {
		case column.TypeInt:
			points = append(points, a.I)
		case column.TypeFloat:
			if a.F == float64(int64(a.F)) {
				points = append(points, int64(a.F))
			} // a fractional key matches no person
		default:
			return nil, false
		}
	}
	return points, true
}

// boundExpr translates one column's range into engine predicates.
func boundExpr(d *column.ColumnDef, ce sql.MySQLRangeColumnExpr) ([]expr.Expr, error) {
	lit := func(k any) (expr.Const, error) {
		v, ok := fromSQL(k, d.Type)
		if !ok {
			return nil, fmt.Errorf("range key %v for %s column %s", k, d.Type, d.Name)
		}
		return expr.Lit(v), nil
	}
	var out []expr.Expr
	switch b := ce.LowerBound.(type) {
	case sql.Below:
		k, err := lit(b.Key)
		if err != nil {
			return nil, err
		}
		out = append(out, expr.Cmp{Col: d.Name, Op: expr.Ge, Val: k})
	case sql.Above:
		k, err := lit(b.Key)
		if err != nil {
			return nil, err
		}
		out = append(out, expr.Cmp{Col: d.Name, Op: expr.Gt, Val: k})
	case sql.AboveNull:
		out = append(out, expr.IsNull{Col: d.Name, Not: true})
	case sql.BelowNull:
	case sql.AboveAll:
		return []expr.Expr{falseExpr}, nil
	default:
		return nil, fmt.Errorf("range bound %T", b)
	}
	switch b := ce.UpperBound.(type) {
	case sql.Above:
		k, err := lit(b.Key)
		if err != nil {
			return nil, err
		}
		out = append(out, expr.Cmp{Col: d.Name, Op: expr.Le, Val: k})
	case sql.Below:
		k, err := lit(b.Key)
		if err != nil {
			return nil, err
		}
		out = append(out, expr.Cmp{Col: d.Name, Op: expr.Lt, Val: k})
	case sql.AboveNull:
		out = append(out, expr.IsNull{Col: d.Name})
	case sql.AboveAll:
	case sql.BelowNull:
		return []expr.Expr{falseExpr}, nil
	default:
		return nil, fmt.Errorf("range bound %T", b)
	}
	return out, nil
}

// profileRow reads profiles by person id without a scan.
func (t *table) profileRow(snap *engine.Snapshot, ids []int64) sql.RowIter {
	defs := make([]*column.ColumnDef, len(t.cols))
	for i, c := range t.cols {
		defs[i], _ = snap.Profiles.Schema.Lookup(c)
	}
	pid, _ := snap.Profiles.Schema.Lookup(engine.ColPersonID)
	var out []sql.Row
	for _, id := range ids {
		if id <= 0 || id > 1<<32-1 {
			continue
		}
		c, off := snap.ProfileRow(uint32(id))
		if c == nil {
			continue
		}
		// ProfileRow follows merges; a merged-away id has no row of its own.
		if v, ok := c.Col(pid.Index).Int(off); !ok || v != id {
			continue
		}
		row := make(sql.Row, len(defs))
		for i, d := range defs {
			row[i] = toSQL(c.Col(d.Index).Value(off, d))
		}
		out = append(out, row)
	}
	return sql.RowsToRowIter(out...)
}

// rowIter converts engine rows to GMS rows, allocating the boxes of a
// batch of rows at once.
type rowIter struct {
	rows *engine.Rows
	n    int
	buf  []any
}

const rowBatch = 256

func (it *rowIter) Next(ctx *sql.Context) (sql.Row, error) {
	if !it.rows.Next() {
		if err := it.rows.Err(); err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			return nil, err
		}
		return nil, io.EOF
	}
	if it.n == 0 {
		return sql.Row{}, nil
	}
	if len(it.buf) < it.n {
		it.buf = make([]any, it.n*rowBatch)
	}
	row := sql.Row(it.buf[:it.n:it.n])
	it.buf = it.buf[it.n:]
	for i, v := range it.rows.Values()[:it.n] {
		row[i] = toSQL(v)
	}
	return row, nil
}

func (it *rowIter) Close(*sql.Context) error { return it.rows.Close() }

// cond compiles the pushdown for snap; empty reports that no row can match.
func (p *pushdown) cond(ctx *sql.Context, snap *engine.Snapshot) (engine.Cond, bool, error) {
	var all engine.AllOf
	if p.ident != nil {
		if _, ok := snap.Graph.Lookup(identityID(p.ident)); !ok {
			return nil, true, nil
		}
		all = append(all, engine.Where{Expr: expr.And{
			expr.Cmp{Col: engine.ColType, Op: expr.Eq, Val: expr.Lit(column.String(p.ident[0]))},
			expr.Cmp{Col: engine.ColValue, Op: expr.Eq, Val: expr.Lit(column.String(p.ident[1]))},
		}})
	}
	if len(p.where) > 0 {
		w := expr.And(p.where)
		if p.table != engine.Profiles {
			w = canonicalPersons(w, snap).(expr.And)
		}
		all = append(all, engine.Where{Expr: w})
	}
	for _, b := range p.did {
		if snapDidReachesDisk(snap, b.conds, ctx.QueryTime()) { // events_cold.go
			return nil, false, errWindowMoved
		}
		c, err := b.cond(ctx)
		if err != nil {
			return nil, false, err
		}
		all = append(all, c)
	}
	return all, false, nil
}
