package sqlfront

import (
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/dolthub/go-mysql-server/sql"
	"github.com/dolthub/go-mysql-server/sql/analyzer"
	"github.com/dolthub/go-mysql-server/sql/expression"
	"github.com/dolthub/go-mysql-server/sql/plan"
	"github.com/dolthub/go-mysql-server/sql/transform"
	"github.com/dolthub/go-mysql-server/sql/types"

	"github.com/cohortdb/cohort/engine"
	"github.com/cohortdb/cohort/engine/column"
	"github.com/cohortdb/cohort/engine/expr"
)

// HistoryTable is the read-only table of profile attribute changes every
// workspace database holds when Options.History is set.
const HistoryTable = "profile_history"

// HistoryChange is one profile attribute change as a HistorySource
// delivers it.
type HistoryChange struct {
	Seq       uint64       // the workspace batch that made it (Snapshot.Seq once applied)
	Person    uint32       // the person it was recorded for (before later merges)
	Attribute string       // profile column
	Old, New  column.Value // TypeNull: absent
	At        int64        // µs since the epoch: the time of the operation
	Source    string       // the operation's message id; "" if none
}

// HistorySource reads profile history for the profile_history table. It
// lives outside sqlfront (cmd/cohort adapts storage's history files) so
// that sqlfront depends on no storage package.
type HistorySource interface {
	// Scan calls fn for every change of workspace with from <= At < to, in
	// the order the changes were applied, including those applied but not
	// yet written to files. It should not read stored units (files) whose
	// time range misses [from, to). An error of fn stops the scan and is
	// returned (possibly wrapped).
	Scan(ctx context.Context, workspace string, from, to time.Time, fn func(HistoryChange) error) error
}

// Microsecond bounds of "any time": far outside DATETIME's range, and
// safe to convert to time.Time and back.
const (
	minMicros = -(1 << 62)
	maxMicros = 1 << 62
)

// Column names of profile_history.
const (
	histPerson    = "person_id"
	histAttribute = "attribute"
	histOld       = "old_value"
	histNew       = "new_value"
	histAt        = "changed_at"
	histSource    = "source"
	histType      = "value_type"
)

// typeText holds rendered values: any length, binary collation like
// every other string.
var typeText = types.CreateLongText(Collation)

var historySchema = sql.Schema{
	{Name: histPerson, Type: typeInt, Source: HistoryTable, Comment: comments[engine.ColPersonID]},
	{Name: histAttribute, Type: typeString, Source: HistoryTable, Comment: "profile column"},
	{Name: histOld, Type: typeText, Nullable: true, Source: HistoryTable, Comment: "value before the change as CAST(column AS CHAR) renders it; NULL: none"},
	{Name: histNew, Type: typeText, Nullable: true, Source: HistoryTable, Comment: "value after the change as CAST(column AS CHAR) renders it; NULL: removed"},
	{Name: histAt, Type: typeTimestamp, Source: HistoryTable, Comment: "time of the operation, UTC"},
	{Name: histSource, Type: typeString, Nullable: true, Source: HistoryTable, Comment: "message id of the operation; NULL: none"},
	{Name: histType, Type: typeString, Nullable: true, Source: HistoryTable, Comment: "engine type of the values (string, int, float, bool, timestamp, string_list)"},
}

// historyTable is profile_history of one workspace.
type historyTable struct {
	db     *database
	lookup *sql.IndexLookup
}

var (
	_ sql.Table                = (*historyTable)(nil)
	_ sql.IndexSearchableTable = (*historyTable)(nil)
	_ sql.IndexedTable         = (*historyTable)(nil)
	_ sql.CommentedTable       = (*historyTable)(nil)
	_ sql.Databaseable         = (*historyTable)(nil)
)

func (t *historyTable) Name() string               { return HistoryTable }
func (t *historyTable) String() string             { return HistoryTable }
func (t *historyTable) Database() string           { return t.db.Name() }
func (t *historyTable) Schema() sql.Schema         { return historySchema }
func (t *historyTable) Collation() sql.CollationID { return Collation }
func (t *historyTable) Comment() string {
	return "every profile attribute change (read-only; time predicates on changed_at skip history files)"
}

// historyPartition is the table's single partition, with the time range
// to read.
type historyPartition struct{ lo, hi int64 }

func (historyPartition) Key() []byte { return []byte("0") }

func (t *historyTable) Partitions(*sql.Context) (sql.PartitionIter, error) {
	return t.partitions(t.lookup)
}

func (t *historyTable) partitions(l *sql.IndexLookup) (sql.PartitionIter, error) {
	p := historyPartition{lo: minMicros, hi: maxMicros}
	if l != nil {
		ix, ok := l.Index.(*historyIndex)
		if !ok {
			return nil, fmt.Errorf("cannot read %s: unknown index %T", HistoryTable, l.Index)
		}
		p.lo, p.hi = ix.timeRange()
	}
	return &partitionIterOf{p: p}, nil
}

type partitionIterOf struct {
	p    sql.Partition
	done bool
}

func (it *partitionIterOf) Next(*sql.Context) (sql.Partition, error) {
	if it.done {
		return nil, io.EOF
	}
	it.done = true
	return it.p, nil
}
func (it *partitionIterOf) Close(*sql.Context) error { return nil }

// Index access: the time range travels as a historyIndex from
// LookupForExpressions to the scan. The table lists no index (it has no
// key, and GMS must not plan lookup joins into it).

func (t *historyTable) GetIndexes(*sql.Context) ([]sql.Index, error) { return nil, nil }

// PreciseMatch is false: GMS keeps every filter, the pushed-down time
// range only saves reading what they would reject anyway.
func (t *historyTable) PreciseMatch() bool     { return false }
func (t *historyTable) SkipIndexCosting() bool { return true }

func (t *historyTable) IndexedAccess(_ *sql.Context, lookup sql.IndexLookup) sql.IndexedTable {
	nt := *t
	nt.lookup = &lookup
	return &nt
}

func (t *historyTable) LookupPartitions(_ *sql.Context, lookup sql.IndexLookup) (sql.PartitionIter, error) {
	return t.partitions(&lookup)
}

// histAtSchema lets the translator read conjuncts over changed_at.
var histAtSchema = column.NewSchema(column.ColumnDef{Name: histAt, Type: column.TypeTimestamp})

// LookupForExpressions collects the time ranges the conjuncts over
// changed_at allow (comparisons, BETWEEN, IN, and AND / OR of them), so
// that history files outside them are never opened. Every conjunct stays
// in GMS: the range only saves reading rows the filter would reject.
//
// A filter may also hold conjuncts over an enclosing query's columns (a
// correlated subquery over o.changed_at, same name and type): which
// conjuncts are this table's is known only from the table ids of the
// final plan, so the range is bound there (historyRule); until then, and
// if the rule never sees the scan, the scan reads everything.
func (t *historyTable) LookupForExpressions(ctx *sql.Context, exprs ...sql.Expression) (sql.IndexLookup, *sql.FuncDepSet, sql.Expression, bool, error) {
	if t.db.srv.opts.DisablePushdown {
		return sql.IndexLookup{}, nil, nil, false, nil
	}
	tr := translator{ctx: ctx, schema: histAtSchema}
	ix := &historyIndex{db: t.db.Name(), lo: minMicros, hi: maxMicros}
	for _, e := range exprs {
		x, ok := tr.translate(e)
		if !ok {
			continue
		}
		c := histConj{e: e}
		c.lo, c.hi = timeBounds(x)
		if c.lo == minMicros && c.hi == maxMicros {
			continue
		}
		transform.InspectExpr(e, func(x sql.Expression) bool {
			if gf, ok := x.(*expression.GetField); ok {
				c.tables = append(c.tables, gf.TableId())
			}
			return false
		})
		ix.conj = append(ix.conj, c)
	}
	if len(ix.conj) == 0 {
		return sql.IndexLookup{}, nil, nil, false, nil
	}
	return sql.IndexLookup{Index: ix, Ranges: historyRanges{ix}}, nil, expression.JoinAnd(exprs...), true, nil
}

// historyRule binds the time range of every profile_history scan of the
// final plan (subqueries included) to the conjuncts over its own columns.
func (s *Server) historyRule(_ *sql.Context, _ *analyzer.Analyzer, n sql.Node, _ *plan.Scope, _ analyzer.RuleSelector, _ *sql.QueryFlags) (sql.Node, transform.TreeIdentity, error) {
	bindHistoryRanges(n)
	return n, transform.SameTree, nil
}

func bindHistoryRanges(n sql.Node) {
	transform.Inspect(n, func(n sql.Node) bool {
		if ita, ok := n.(*plan.IndexedTableAccess); ok {
			if ix, ok := ita.Index().(*historyIndex); ok {
				ix.bind(ita.Id())
			}
		}
		if ex, ok := n.(sql.Expressioner); ok {
			for _, e := range ex.Expressions() {
				transform.InspectExpr(e, func(x sql.Expression) bool {
					if sq, ok := x.(*plan.Subquery); ok && sq.Query != nil {
						bindHistoryRanges(sq.Query)
					}
					return false
				})
			}
		}
		return true
	})
}

// timeBounds returns [lo, hi) in µs containing every changed_at for which
// x (a translated predicate over changed_at, never NULL) can be true.
func timeBounds(x expr.Expr) (lo, hi int64) {
	all := func() (int64, int64) { return minMicros, maxMicros }
	switch x := x.(type) {
	case expr.And:
		lo, hi = all()
		for _, a := range x {
			l, h := timeBounds(a)
			lo, hi = max(lo, l), min(hi, h)
		}
		return lo, hi
	case expr.Or:
		lo, hi = maxMicros, minMicros
		for _, a := range x {
			l, h := timeBounds(a)
			if l < h {
				lo, hi = min(lo, l), max(hi, h)
			}
		}
		if lo >= hi {
			return 0, 0
		}
		return lo, hi
	case expr.In:
		lo, hi = maxMicros, minMicros
		for _, c := range x.Vals {
			if c == nil {
				continue // NULL: never equal
			}
			l, h := cmpBounds(expr.Eq, column.Value(c.(expr.Lit)))
			if l < h {
				lo, hi = min(lo, l), max(hi, h)
			}
		}
		if lo >= hi {
			return 0, 0
		}
		return lo, hi
	case expr.Cmp:
		if x.Val == nil {
			return 0, 0 // compared with NULL: never true
		}
		lit, ok := x.Val.(expr.Lit)
		if !ok {
			return all()
		}
		return cmpBounds(x.Op, column.Value(lit))
	case expr.IsNull:
		if !x.Not {
			return 0, 0 // changed_at is never NULL
		}
	}
	return all() // NOT, LIKE, ...: no bound
}

func cmpBounds(op expr.Op, v column.Value) (lo, hi int64) {
	if v.Type != column.TypeTimestamp {
		return minMicros, maxMicros
	}
	x := min(max(v.I, minMicros), maxMicros-1)
	switch op {
	case expr.Eq:
		return x, x + 1
	case expr.Lt:
		return minMicros, x
	case expr.Le:
		return minMicros, x + 1
	case expr.Gt:
		return x + 1, maxMicros
	case expr.Ge:
		return x, maxMicros
	}
	return minMicros, maxMicros
}

// historyIndex carries the time range of a scan: the conjuncts that
// bound changed_at, then (bind) the range of those over the scan's table.
type historyIndex struct {
	db   string
	conj []histConj

	mu     sync.Mutex
	table  sql.TableId // bound to; 0: not yet
	bad    bool        // bound to two scans: no range
	lo, hi int64       // the bound range
}

// histConj is a conjunct bounding changed_at to [lo, hi), with the table
// ids of the columns it reads.
type histConj struct {
	e      sql.Expression
	lo, hi int64
	tables []sql.TableId
}

// bind sets the range from the conjuncts that read only table id.
func (i *historyIndex) bind(id sql.TableId) {
	i.mu.Lock()
	defer i.mu.Unlock()
	if i.bad || id == 0 || (i.table != 0 && i.table != id) {
		i.bad = true
		return
	}
	i.table, i.lo, i.hi = id, minMicros, maxMicros
	for _, c := range i.conj {
		if len(c.tables) > 0 && !slices.ContainsFunc(c.tables, func(t sql.TableId) bool { return t != id }) {
			i.lo, i.hi = max(i.lo, c.lo), min(i.hi, c.hi)
		}
	}
}

// timeRange returns the range to read.
func (i *historyIndex) timeRange() (lo, hi int64) {
	i.mu.Lock()
	defer i.mu.Unlock()
	if i.table == 0 || i.bad {
		return minMicros, maxMicros
	}
	return i.lo, i.hi
}

var _ sql.Index = (*historyIndex)(nil)

func (i *historyIndex) ID() string            { return histAt }
func (i *historyIndex) Database() string      { return i.db }
func (i *historyIndex) Table() string         { return HistoryTable }
func (i *historyIndex) Expressions() []string { return []string{HistoryTable + "." + histAt} }
func (i *historyIndex) IsUnique() bool        { return false }
func (i *historyIndex) IsSpatial() bool       { return false }
func (i *historyIndex) IsFullText() bool      { return false }
func (i *historyIndex) IsVector() bool        { return false }
func (i *historyIndex) Comment() string       { return "" }
func (i *historyIndex) IndexType() string     { return "BTREE" }
func (i *historyIndex) IsGenerated() bool     { return false }
func (i *historyIndex) ColumnExpressionTypes() []sql.ColumnExpressionType {
	return []sql.ColumnExpressionType{{Expression: HistoryTable + "." + histAt, Type: typeTimestamp}}
}
func (i *historyIndex) CanSupport(*sql.Context, ...sql.Range) bool { return true }
func (i *historyIndex) CanSupportOrderBy(sql.Expression) bool      { return false }
func (i *historyIndex) PrefixLengths() []uint16                    { return nil }

func (i *historyIndex) String() string {
	parts := make([]string, len(i.conj))
	for k, c := range i.conj {
		parts[k] = c.e.String()
	}
	lo, hi := i.timeRange()
	return fmt.Sprintf("cohort history time range [%s, %s) of %s", fmtMicros(lo), fmtMicros(hi), strings.Join(parts, " AND "))
}

func fmtMicros(us int64) string {
	switch {
	case us <= minMicros:
		return "-inf"
	case us >= maxMicros:
		return "+inf"
	}
	return time.UnixMicro(us).UTC().Format("2006-01-02 15:04:05.999999")
}

// historyRanges is the range collection of a history lookup; like
// pushRanges it is not a MySQL range collection, so GMS keeps any sort.
type historyRanges struct{ ix *historyIndex }

var _ sql.RangeCollection = historyRanges{}

func (r historyRanges) String() string        { return r.ix.String() }
func (r historyRanges) DebugString() string   { return r.ix.String() }
func (r historyRanges) Len() int              { return 1 }
func (r historyRanges) ToRanges() []sql.Range { return nil }
func (r historyRanges) Equals(o sql.RangeCollection) (bool, error) {
	x, ok := o.(historyRanges)
	return ok && x.ix == r.ix, nil
}

// PartitionRows streams the changes of the partition's time range that
// the query's snapshot contains, with canonical person ids.
func (t *historyTable) PartitionRows(ctx *sql.Context, part sql.Partition) (sql.RowIter, error) {
	p, ok := part.(historyPartition)
	if !ok {
		return nil, fmt.Errorf("cannot read %s: unexpected partition %T", HistoryTable, part)
	}
	src := t.db.srv.opts.History
	if src == nil || p.lo >= p.hi {
		return sql.RowsToRowIter(), nil
	}
	snap := snapshot(ctx, t.db.ws)
	name := t.db.Name()
	errStop := errors.New("stop")
	rows := func(yield func(sql.Row, error) bool) {
		err := src.Scan(ctx, name, time.UnixMicro(p.lo), time.UnixMicro(p.hi), func(c HistoryChange) error {
			row, ok := historyRow(snap, &c)
			if ok && !yield(row, nil) {
				return errStop
			}
			return nil
		})
		if err != nil && !errors.Is(err, errStop) {
			if ctx.Err() != nil {
				err = ctx.Err()
			}
			yield(nil, fmt.Errorf("cannot read %s.%s: %w", name, HistoryTable, err))
		}
	}
	next, stop := iter.Pull2(rows)
	return &historyIter{next: next, stop: stop}, nil
}

// historyRow returns the row of c as the snapshot sees it: changes of
// batches the snapshot does not contain yet, and the history of erased
// persons, are not shown.
func historyRow(snap *engine.Snapshot, c *HistoryChange) (sql.Row, bool) {
	if c.Seq > snap.Seq {
		return nil, false
	}
	p := snap.Graph.Canonical(c.Person)
	if p == 0 {
		return nil, false
	}
	if chunk, _ := snap.ProfileRow(p); chunk == nil {
		return nil, false // erased (DELETE FROM profiles)
	}
	var source, typ any
	if c.Source != "" {
		source = c.Source
	}
	t := c.New.Type
	if t == column.TypeNull {
		t = c.Old.Type
	}
	if t != column.TypeNull {
		typ = t.String()
	}
	return sql.Row{int64(p), c.Attribute, valueText(c.Old), valueText(c.New), time.UnixMicro(c.At).UTC(), source, typ}, true
}

// valueText renders v as MySQL renders CAST(col AS CHAR) of a profiles
// column holding it: the SQL type mapping of the package doc, then GMS's
// conversion to a string (bool 1/0, float shortest decimal, timestamp
// with its fraction, string_list as JSON text).
func valueText(v column.Value) any {
	switch v.Type {
	case column.TypeNull:
		return nil
	case column.TypeString:
		return v.S
	case column.TypeInt:
		return strconv.FormatInt(v.I, 10)
	}
	s, err := types.ConvertToString(context.Background(), toSQL(v), typeText, nil)
	if err != nil {
		return v.String()
	}
	return s
}

// historyIter pulls rows from the scan.
type historyIter struct {
	next func() (sql.Row, error, bool)
	stop func()
}

func (it *historyIter) Next(*sql.Context) (sql.Row, error) {
	row, err, ok := it.next()
	if !ok {
		return nil, io.EOF
	}
	if err != nil {
		return nil, err
	}
	return row, nil
}

func (it *historyIter) Close(*sql.Context) error { it.stop(); return nil }
