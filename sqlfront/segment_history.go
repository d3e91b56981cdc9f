package sqlfront

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/dolthub/go-mysql-server/sql"
	"github.com/dolthub/go-mysql-server/sql/analyzer"
	"github.com/dolthub/go-mysql-server/sql/expression"
	"github.com/dolthub/go-mysql-server/sql/plan"
	"github.com/dolthub/go-mysql-server/sql/transform"

	"github.com/cohortdb/cohort/engine"
	"github.com/cohortdb/cohort/engine/column"
	"github.com/cohortdb/cohort/engine/expr"
	"github.com/cohortdb/cohort/engine/segment"
)

// The read-only tables of segments over time, in every workspace database:
//
//	segment_sizes          (segment, version, sampled_at, members): the
//	                       recorded size samples (Options.SegmentSizes)
//	segment_members_as_of  (segment, as_of, person_id): the members of a
//	                       segment at a past time, rebuilt from the profile
//	                       history (Options.Segments and MembersAsOf)
//
// Both read injected sources (cmd/cohort adapts delivery/segstore and
// storage/asof), so sqlfront imports no storage package.
//
// On segment_sizes, conjuncts segment = 'x' / segment IN (...) and bounds
// on sampled_at (comparisons, BETWEEN, IN, AND / OR of them) become the
// segments and the time range asked of the source; GMS still evaluates
// every conjunct.
//
// segment_members_as_of has rows only for the segments and times the
// query pins: segment = 'x' (or IN) and as_of = '<timestamp>' (or IN, or
// BETWEEN t AND t); without either a scan fails with an error naming both
// predicates, since "every segment at every time" is no set to list. The
// members are those of the segment's current definition
// (segment.Manager.Cond) evaluated by MembersAsOf at as_of over the
// query's snapshot and the profile history; its errors (a condition over
// a column the history does not record, ...) are the query's.
//
// As for profile_history, the pushed-down sets are bound to the scan's own
// conjuncts in the final plan (segmentHistoryRule): a predicate over an
// enclosing query's row never narrows, nor pins, an inner scan.
const (
	SegmentSizesTable       = "segment_sizes"
	SegmentMembersAsOfTable = "segment_members_as_of"
)

// SegmentSizesFunc returns the recorded size samples of workspace's
// segment seg ("": every segment) taken in [from, to), oldest first. A
// zero from or to is no bound. delivery/segstore.Store.Sizes is one.
type SegmentSizesFunc func(ctx context.Context, workspace, seg string, from, to time.Time) ([]segment.Sample, error)

// MembersAsOfFunc returns the persons who satisfied cond at time at, as a
// bitmap indexed by person id: cond evaluated over snap (the query's
// snapshot of its workspace, snap.Workspace) and the workspace's profile
// history. storage/asof.Members over the store's history is one.
type MembersAsOfFunc func(ctx context.Context, snap *engine.Snapshot, cond engine.Cond, at time.Time) (column.Bitmap, error)

// Column names of the two tables.
const (
	sizesSegment   = "segment"
	sizesVersion   = "version"
	sizesSampledAt = "sampled_at"
	sizesMembers   = "members"
	asOfSegment    = "segment"
	asOfAt         = "as_of"
	asOfPerson     = "person_id"
)

var segmentSizesSchema = sql.Schema{
	{Name: sizesSegment, Type: typeString, Source: SegmentSizesTable, Comment: "segment (view) name"},
	{Name: sizesVersion, Type: typeInt, Source: SegmentSizesTable, Comment: "version of the segment's definition when sampled"},
	{Name: sizesSampledAt, Type: typeTimestamp, Source: SegmentSizesTable, Comment: "time of the sample, UTC"},
	{Name: sizesMembers, Type: typeInt, Source: SegmentSizesTable, Comment: "number of members then"},
}

var segmentMembersAsOfSchema = sql.Schema{
	{Name: asOfSegment, Type: typeString, Source: SegmentMembersAsOfTable, Comment: "segment (view) name; the query must pin it (segment = 'x')"},
	{Name: asOfAt, Type: typeTimestamp, Source: SegmentMembersAsOfTable, Comment: "the past time, UTC; the query must pin it (as_of = '<timestamp>')"},
	{Name: asOfPerson, Type: typeInt, Source: SegmentMembersAsOfTable, Comment: "person id of a member at as_of"},
}

// Translator schemas: one column each, so a conjunct translates only if
// it reads that column alone.
var (
	segNameColumns = column.NewSchema(column.ColumnDef{Name: sizesSegment, Type: column.TypeString})
	sampledColumns = column.NewSchema(column.ColumnDef{Name: sizesSampledAt, Type: column.TypeTimestamp})
	asOfColumns    = column.NewSchema(column.ColumnDef{Name: asOfAt, Type: column.TypeTimestamp})
)

// errAsOfNotPinned is the error of a segment_members_as_of scan whose
// query does not pin both the segments and the times.
var errAsOfNotPinned = errors.New("segment_members_as_of lists the members of given segments at given times: the query must pin both segment = '<name>' and as_of = '<timestamp>' (IN lists work too)")

func (d *database) segmentHistoryTableNames() []string {
	var names []string
	if d.srv.opts.SegmentSizes != nil {
		names = append(names, SegmentSizesTable)
	}
	if d.srv.opts.Segments != nil && d.srv.opts.MembersAsOf != nil {
		names = append(names, SegmentMembersAsOfTable)
	}
	return names
}

func (d *database) segmentHistoryTable(name string) sql.Table {
	switch {
	case name == SegmentSizesTable && d.srv.opts.SegmentSizes != nil:
		return &segHistTable{db: d, asOf: false}
	case name == SegmentMembersAsOfTable && d.srv.opts.Segments != nil && d.srv.opts.MembersAsOf != nil:
		return &segHistTable{db: d, asOf: true}
	}
	return nil
}

// segHistTable is segment_sizes (asOf false) or segment_members_as_of of
// a workspace.
type segHistTable struct {
	db     *database
	asOf   bool
	lookup *sql.IndexLookup
}

var (
	_ sql.Table                = (*segHistTable)(nil)
	_ sql.IndexSearchableTable = (*segHistTable)(nil)
	_ sql.IndexedTable         = (*segHistTable)(nil)
	_ sql.CommentedTable       = (*segHistTable)(nil)
	_ sql.Databaseable         = (*segHistTable)(nil)
)

func (t *segHistTable) Name() string {
	if t.asOf {
		return SegmentMembersAsOfTable
	}
	return SegmentSizesTable
}
func (t *segHistTable) String() string             { return t.Name() }
func (t *segHistTable) Database() string           { return t.db.Name() }
func (t *segHistTable) Collation() sql.CollationID { return Collation }
func (t *segHistTable) Schema() sql.Schema {
	if t.asOf {
		return segmentMembersAsOfSchema
	}
	return segmentSizesSchema
}
func (t *segHistTable) Comment() string {
	if t.asOf {
		return "members of a segment at a past time, from the profile history (read-only; WHERE segment = 'x' AND as_of = '<timestamp>' required)"
	}
	return "recorded size samples of every segment (read-only; filter on segment and sampled_at)"
}

func (t *segHistTable) timeColumn() string {
	if t.asOf {
		return asOfAt
	}
	return sizesSampledAt
}

// segHistPartition is the table's single partition: what to read.
type segHistPartition struct {
	sel segHistSel
	ix  *segHistIndex // nil: no lookup
}

func (segHistPartition) Key() []byte { return []byte("0") }

func (t *segHistTable) Partitions(*sql.Context) (sql.PartitionIter, error) {
	return t.partitions(t.lookup)
}

func (t *segHistTable) partitions(l *sql.IndexLookup) (sql.PartitionIter, error) {
	p := segHistPartition{sel: segHistSel{lo: minMicros, hi: maxMicros}}
	if l != nil {
		ix, ok := l.Index.(*segHistIndex)
		if !ok {
			return nil, fmt.Errorf("cannot read %s: unknown index %T", t.Name(), l.Index)
		}
		p.sel, p.ix = ix.selection(), ix
	}
	return &partitionIterOf{p: p}, nil
}

// Index access, as for profile_history and segment_members: the table
// lists no index; the sets travel as a segHistIndex from
// LookupForExpressions to the scan, bound in the final plan.

func (t *segHistTable) GetIndexes(*sql.Context) ([]sql.Index, error) { return nil, nil }
func (t *segHistTable) PreciseMatch() bool                           { return false }
func (t *segHistTable) SkipIndexCosting() bool                       { return true }

func (t *segHistTable) IndexedAccess(_ *sql.Context, lookup sql.IndexLookup) sql.IndexedTable {
	nt := *t
	nt.lookup = &lookup
	return &nt
}

func (t *segHistTable) LookupPartitions(_ *sql.Context, lookup sql.IndexLookup) (sql.PartitionIter, error) {
	return t.partitions(&lookup)
}

// LookupForExpressions collects the conjuncts that restrict the segment
// (= constant, IN constants) or bound the time column; every conjunct
// stays in GMS.
func (t *segHistTable) LookupForExpressions(ctx *sql.Context, exprs ...sql.Expression) (sql.IndexLookup, *sql.FuncDepSet, sql.Expression, bool, error) {
	if t.db.srv.opts.DisablePushdown {
		return sql.IndexLookup{}, nil, nil, false, nil
	}
	segTr := translator{ctx: ctx, schema: segNameColumns}
	timeTr := translator{ctx: ctx, schema: sampledColumns}
	if t.asOf {
		timeTr.schema = asOfColumns
	}
	ix := &segHistIndex{db: t.db.Name(), table: t.Name(), timeCol: t.timeColumn()}
	for _, e := range exprs {
		c := segHistConj{e: e, lo: minMicros, hi: maxMicros}
		if x, ok := segTr.translate(e); ok {
			segs, ok := segmentSet(x)
			if !ok {
				continue
			}
			c.segs = segs
		} else if x, ok := timeTr.translate(e); ok {
			c.lo, c.hi, c.points = timeSet(x)
			if c.points == nil && c.lo == minMicros && c.hi == maxMicros {
				continue
			}
		} else {
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
	return sql.IndexLookup{Index: ix, Ranges: segHistRanges{ix}}, nil, expression.JoinAnd(exprs...), true, nil
}

// segmentSet returns the segment names a translated conjunct over segment
// allows: = 'x', IN ('x', ...); NULL equals nothing.
func segmentSet(x expr.Expr) ([]string, bool) {
	var vals []expr.Const
	switch x := x.(type) {
	case expr.Cmp:
		if x.Op != expr.Eq {
			return nil, false
		}
		vals = []expr.Const{x.Val}
	case expr.In:
		if x.Not {
			return nil, false
		}
		vals = x.Vals
	default:
		return nil, false
	}
	out := []string{}
	for _, v := range vals {
		if v == nil {
			continue
		}
		l, ok := v.(expr.Lit)
		if !ok {
			return nil, false
		}
		switch l.Type {
		case column.TypeString:
			out = append(out, l.S)
		case column.TypeNull:
		default:
			return nil, false
		}
	}
	return out, true
}

// timeSet returns the time range [lo, hi) (µs) a translated conjunct over
// the time column allows and, when it allows single instants only (=, IN,
// BETWEEN t AND t), those instants (points non-nil; empty: none).
func timeSet(x expr.Expr) (lo, hi int64, points []int64) {
	if in, ok := x.(expr.In); ok && !in.Not {
		points = []int64{}
		for _, v := range in.Vals {
			if v == nil {
				continue
			}
			l, ok := v.(expr.Lit)
			if !ok || l.Type != column.TypeTimestamp {
				return minMicros, maxMicros, nil
			}
			points = append(points, l.I)
		}
		slices.Sort(points)
		points = slices.Compact(points)
		if len(points) == 0 {
			return 0, 0, points
		}
		return points[0], points[len(points)-1] + 1, points
	}
	lo, hi = timeBounds(x)
	switch {
	case lo >= hi:
		return 0, 0, []int64{}
	case hi-lo == 1:
		return lo, hi, []int64{lo}
	}
	return lo, hi, nil
}

// segHistConj is a pushed-down conjunct: a segment set, or a time range
// and possibly instants, with the table ids of the columns it reads.
type segHistConj struct {
	e      sql.Expression
	segs   []string // non-nil: the segment is one of these
	lo, hi int64    // the time is in [lo, hi)
	points []int64  // non-nil: the time is one of these
	tables []sql.TableId
}

// segHistSel is what a scan reads.
type segHistSel struct {
	segs   []string // sorted; nil: every segment
	lo, hi int64    // time range [lo, hi)
	points []int64  // sorted instants; nil: not pinned
}

// segHistIndex carries the sets of a scan of segment_sizes or
// segment_members_as_of, and the memberships a scan computed (a scan
// repeated within the query, as the inner side of a join, does not
// evaluate them again).
type segHistIndex struct {
	db, table, timeCol string
	conj               []segHistConj

	mu    sync.Mutex
	bound sql.TableId // 0: not yet
	bad   bool        // bound to two scans
	sel   segHistSel

	cacheMu sync.Mutex
	cache   map[asOfKey]column.Bitmap
}

type asOfKey struct {
	snap *engine.Snapshot
	seg  string
	at   int64
}

// bind sets the selection from the conjuncts that read only table id.
func (i *segHistIndex) bind(id sql.TableId) {
	i.mu.Lock()
	defer i.mu.Unlock()
	if i.bad || id == 0 || (i.bound != 0 && i.bound != id) {
		i.bad = true
		return
	}
	i.bound = id
	sel := segHistSel{lo: minMicros, hi: maxMicros}
	for _, c := range i.conj {
		if len(c.tables) == 0 || slices.ContainsFunc(c.tables, func(t sql.TableId) bool { return t != id }) {
			continue
		}
		if c.segs != nil {
			sel.segs = intersect(sel.segs, c.segs)
		}
		sel.lo, sel.hi = max(sel.lo, c.lo), min(sel.hi, c.hi)
		if c.points != nil {
			sel.points = intersect(sel.points, c.points)
		}
	}
	switch {
	case sel.points != nil:
		sel.points = slices.DeleteFunc(sel.points, func(p int64) bool { return p < sel.lo || p >= sel.hi })
	case sel.lo >= sel.hi: // contradictory bounds: no instant
		sel.points = []int64{}
	case sel.hi-sel.lo == 1: // as_of >= t AND as_of <= t
		sel.points = []int64{sel.lo}
	}
	i.sel = sel
}

// selection returns what the scan reads: everything until bound.
func (i *segHistIndex) selection() segHistSel {
	i.mu.Lock()
	defer i.mu.Unlock()
	if i.bound == 0 || i.bad {
		return segHistSel{lo: minMicros, hi: maxMicros}
	}
	return i.sel
}

// segmentHistoryRule binds every segment_sizes and segment_members_as_of
// scan of the final plan (subqueries included) to the conjuncts over its
// own columns.
func (s *Server) segmentHistoryRule(_ *sql.Context, _ *analyzer.Analyzer, n sql.Node, _ *plan.Scope, _ analyzer.RuleSelector, _ *sql.QueryFlags) (sql.Node, transform.TreeIdentity, error) {
	bindSegHist(n)
	return n, transform.SameTree, nil
}

// ruleSegmentHistory is the analyzer rule id of segmentHistoryRule.
const ruleSegmentHistory analyzer.RuleId = 10111

func bindSegHist(n sql.Node) {
	transform.Inspect(n, func(n sql.Node) bool {
		if ita, ok := n.(*plan.IndexedTableAccess); ok {
			if ix, ok := ita.Index().(*segHistIndex); ok {
				ix.bind(ita.Id())
			}
		}
		if ex, ok := n.(sql.Expressioner); ok {
			for _, e := range ex.Expressions() {
				transform.InspectExpr(e, func(x sql.Expression) bool {
					if sq, ok := x.(*plan.Subquery); ok && sq.Query != nil {
						bindSegHist(sq.Query)
					}
					return false
				})
			}
		}
		return true
	})
}

var _ sql.Index = (*segHistIndex)(nil)

func (i *segHistIndex) ID() string       { return "segment_" + i.timeCol }
func (i *segHistIndex) Database() string { return i.db }
func (i *segHistIndex) Table() string    { return i.table }
func (i *segHistIndex) Expressions() []string {
	return []string{i.table + ".segment", i.table + "." + i.timeCol}
}
func (i *segHistIndex) IsUnique() bool    { return false }
func (i *segHistIndex) IsSpatial() bool   { return false }
func (i *segHistIndex) IsFullText() bool  { return false }
func (i *segHistIndex) IsVector() bool    { return false }
func (i *segHistIndex) Comment() string   { return "" }
func (i *segHistIndex) IndexType() string { return "BTREE" }
func (i *segHistIndex) IsGenerated() bool { return false }
func (i *segHistIndex) ColumnExpressionTypes() []sql.ColumnExpressionType {
	return []sql.ColumnExpressionType{
		{Expression: i.table + ".segment", Type: typeString},
		{Expression: i.table + "." + i.timeCol, Type: typeTimestamp},
	}
}
func (i *segHistIndex) CanSupport(*sql.Context, ...sql.Range) bool { return true }
func (i *segHistIndex) CanSupportOrderBy(sql.Expression) bool      { return false }
func (i *segHistIndex) PrefixLengths() []uint16                    { return nil }

func (i *segHistIndex) String() string {
	parts := make([]string, len(i.conj))
	for k, c := range i.conj {
		parts[k] = c.e.String()
	}
	return fmt.Sprintf("cohort %s (%s) of %s", i.table, i.selection(), strings.Join(parts, " AND "))
}

func (s segHistSel) String() string {
	out := fmt.Sprintf("segments %s, time [%s, %s)", setString(s.segs), fmtMicros(s.lo), fmtMicros(s.hi))
	if s.points != nil {
		at := make([]string, len(s.points))
		for k, p := range s.points {
			at[k] = fmtMicros(p)
		}
		out += ", at [" + strings.Join(at, " ") + "]"
	}
	return out
}

// segHistRanges is the range collection of a segHistIndex lookup.
type segHistRanges struct{ ix *segHistIndex }

var _ sql.RangeCollection = segHistRanges{}

func (r segHistRanges) String() string        { return r.ix.String() }
func (r segHistRanges) DebugString() string   { return r.ix.String() }
func (r segHistRanges) Len() int              { return 1 }
func (r segHistRanges) ToRanges() []sql.Range { return nil }
func (r segHistRanges) Equals(o sql.RangeCollection) (bool, error) {
	x, ok := o.(segHistRanges)
	return ok && x.ix == r.ix, nil
}

func (t *segHistTable) PartitionRows(ctx *sql.Context, part sql.Partition) (sql.RowIter, error) {
	p, ok := part.(segHistPartition)
	if !ok {
		return nil, fmt.Errorf("cannot read %s: unexpected partition %T", t.Name(), part)
	}
	if t.asOf {
		return t.asOfRows(ctx, p)
	}
	return t.sizeRows(ctx, p.sel)
}

// sizeRows reads the samples of the selection from the source.
func (t *segHistTable) sizeRows(ctx *sql.Context, sel segHistSel) (sql.RowIter, error) {
	src := t.db.srv.opts.SegmentSizes
	if src == nil || sel.lo >= sel.hi || (sel.segs != nil && len(sel.segs) == 0) {
		return sql.RowsToRowIter(), nil
	}
	var from, to time.Time // zero: no bound
	if sel.lo > minMicros {
		from = time.UnixMicro(sel.lo)
	}
	if sel.hi < maxMicros {
		to = time.UnixMicro(sel.hi)
	}
	segs := sel.segs
	if segs == nil {
		segs = []string{""} // every segment, in one read
	}
	var rows []sql.Row
	for _, seg := range segs {
		ss, err := src(ctx, t.db.Name(), seg, from, to)
		if err != nil {
			if ctx.Err() != nil {
				err = ctx.Err()
			}
			return nil, fmt.Errorf("cannot read %s.%s: %w", t.db.Name(), SegmentSizesTable, err)
		}
		for _, s := range ss {
			rows = append(rows, sql.Row{s.Segment, s.Version, s.At.UTC().Truncate(time.Microsecond), s.Members})
		}
	}
	return sql.RowsToRowIter(rows...), nil
}

// asOfRows lists the members of every pinned segment at every pinned
// time, segment by segment, then by time, then by person id.
func (t *segHistTable) asOfRows(ctx *sql.Context, p segHistPartition) (sql.RowIter, error) {
	name := t.db.Name() + "." + SegmentMembersAsOfTable
	sel := p.sel
	if sel.segs == nil || sel.points == nil {
		var missing []string
		if sel.segs == nil {
			missing = append(missing, "segment = '<name>'")
		}
		if sel.points == nil {
			missing = append(missing, "as_of = '<timestamp>'")
		}
		why := "the query does not pin " + strings.Join(missing, " nor ")
		if t.db.srv.opts.DisablePushdown {
			why = "pushdown is disabled on this server"
		}
		return nil, fmt.Errorf("cannot read %s: %w (%s)", name, errAsOfNotPinned, why)
	}
	if len(sel.segs) == 0 || len(sel.points) == 0 {
		return sql.RowsToRowIter(), nil
	}
	m, _ := t.db.manager()
	conds := make([]engine.Cond, len(sel.segs))
	for k, seg := range sel.segs {
		var ok bool
		if m != nil {
			conds[k], ok = m.Cond(seg)
		}
		if !ok {
			return nil, fmt.Errorf("cannot read %s: no segment %q in workspace %s", name, seg, t.db.Name())
		}
	}
	return &asOfIter{t: t, ix: p.ix, name: name, snap: snapshot(ctx, t.db.ws), segs: sel.segs, conds: conds, points: sel.points}, nil
}

// asOfIter walks the (segment, time) pairs, evaluating each membership
// when it is reached.
type asOfIter struct {
	t      *segHistTable
	ix     *segHistIndex
	name   string
	snap   *engine.Snapshot
	segs   []string
	conds  []engine.Cond
	points []int64

	pair int           // next (segment, time) pair: segs[pair/len(points)], points[pair%len(points)]
	cur  column.Bitmap // members of the current pair; nil: take the next pair
	seg  string
	at   time.Time
	next int // next bit of cur to look at
	n    int // rows returned, for cancellation checks
}

func (it *asOfIter) Next(ctx *sql.Context) (sql.Row, error) {
	if it.n&4095 == 0 {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
	}
	for {
		if it.cur != nil {
			if p := it.cur.Next(it.next); p >= 0 {
				it.next = p + 1
				it.n++
				return sql.Row{it.seg, it.at, int64(p)}, nil
			}
			it.cur = nil
		}
		if it.pair == len(it.segs)*len(it.points) {
			return nil, io.EOF
		}
		k, j := it.pair/len(it.points), it.pair%len(it.points)
		it.pair++
		b, err := it.members(ctx, it.segs[k], it.conds[k], it.points[j])
		if err != nil {
			return nil, err
		}
		it.cur, it.seg, it.at, it.next = b, it.segs[k], time.UnixMicro(it.points[j]).UTC(), 0
	}
}

// members evaluates (or takes from the query's cache) the membership of
// seg at µs.
func (it *asOfIter) members(ctx *sql.Context, seg string, cond engine.Cond, us int64) (column.Bitmap, error) {
	key := asOfKey{snap: it.snap, seg: seg, at: us}
	if it.ix != nil {
		it.ix.cacheMu.Lock()
		b, ok := it.ix.cache[key]
		it.ix.cacheMu.Unlock()
		if ok {
			return b, nil
		}
	}
	at := time.UnixMicro(us).UTC()
	b, err := it.t.db.srv.opts.MembersAsOf(ctx, it.snap, cond, at)
	if err != nil {
		if ctx.Err() != nil {
			err = ctx.Err()
		}
		return nil, fmt.Errorf("cannot read %s for segment %s as of %s: %w", it.name, seg, fmtMicros(us), err)
	}
	if b == nil {
		b = column.Bitmap{}
	}
	if it.ix != nil {
		it.ix.cacheMu.Lock()
		if it.ix.cache == nil {
			it.ix.cache = map[asOfKey]column.Bitmap{}
		}
		it.ix.cache[key] = b
		it.ix.cacheMu.Unlock()
	}
	return b, nil
}

func (it *asOfIter) Close(*sql.Context) error { return nil }
