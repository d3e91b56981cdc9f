package sqlfront

import (
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"

	"github.com/dolthub/go-mysql-server/sql"
	"github.com/dolthub/go-mysql-server/sql/analyzer"
	"github.com/dolthub/go-mysql-server/sql/expression"
	"github.com/dolthub/go-mysql-server/sql/plan"
	"github.com/dolthub/go-mysql-server/sql/transform"

	"github.com/cohortdb/cohort/engine/column"
	"github.com/cohortdb/cohort/engine/expr"
	"github.com/cohortdb/cohort/engine/segment"
)

// The read-only system tables of segments, in every workspace database
// when Options.Segments is set:
//
//	segments         one row per segment: name, version, definition (its
//	                 SQL), members, time_dependent, created_at, updated_at
//	segment_members  (segment, person_id) for every member of every segment
//
// Both read the segment manager's real-time state, not the query's engine
// snapshot: a member appears once the manager processed the batch that
// made it one. On segment_members, conjuncts segment = 'x' / segment IN
// (...) and person_id = n / person_id IN (...) narrow the scan (members of
// those segments only; the memberships of those persons only, without
// reading any member list); GMS still evaluates every conjunct.
const (
	SegmentsTable       = "segments"
	SegmentMembersTable = "segment_members"
)

var segmentsSchema = sql.Schema{
	{Name: "name", Type: typeString, Source: SegmentsTable, PrimaryKey: true, Comment: "segment (view) name"},
	{Name: "version", Type: typeInt, Source: SegmentsTable, Comment: "1 for the first definition, +1 for each CREATE OR REPLACE VIEW"},
	{Name: "definition", Type: typeText, Source: SegmentsTable, Comment: "the definition's SQL as written"},
	{Name: "members", Type: typeInt, Source: SegmentsTable, Comment: "current number of members (real time)"},
	{Name: "time_dependent", Type: typeBool, Source: SegmentsTable, Comment: "membership changes with time alone (relative windows)"},
	{Name: "created_at", Type: typeTimestamp, Source: SegmentsTable, Comment: "first version, UTC"},
	{Name: "updated_at", Type: typeTimestamp, Source: SegmentsTable, Comment: "this version, UTC"},
}

const (
	memberSegment = "segment"
	memberPerson  = "person_id"
)

var segmentMembersSchema = sql.Schema{
	{Name: memberSegment, Type: typeString, Source: SegmentMembersTable, PrimaryKey: true, Comment: "segment (view) name"},
	{Name: memberPerson, Type: typeInt, Source: SegmentMembersTable, PrimaryKey: true, Comment: comments["person_id"]},
}

// memberColumns lets the translator read conjuncts of segment_members.
var memberColumns = column.NewSchema(
	column.ColumnDef{Name: memberSegment, Type: column.TypeString},
	column.ColumnDef{Name: memberPerson, Type: column.TypeInt},
)

func (d *database) segmentTableNames() []string {
	if d.srv.opts.Segments == nil {
		return nil
	}
	return []string{SegmentMembersTable, SegmentsTable}
}

func (d *database) segmentTable(name string) sql.Table {
	if d.srv.opts.Segments == nil {
		return nil
	}
	switch name {
	case SegmentsTable:
		return &segmentsTable{db: d}
	case SegmentMembersTable:
		return &membersTable{db: d}
	}
	return nil
}

// manager returns the workspace's segment manager, if it has one.
func (d *database) manager() (*segment.Manager, bool) {
	if d.srv.opts.Segments == nil {
		return nil, false
	}
	return d.srv.opts.Segments.Lookup(d.ws.Name())
}

// segmentsTable lists the segments of a workspace.
type segmentsTable struct{ db *database }

var (
	_ sql.Table          = (*segmentsTable)(nil)
	_ sql.CommentedTable = (*segmentsTable)(nil)
	_ sql.Databaseable   = (*segmentsTable)(nil)
)

func (t *segmentsTable) Name() string               { return SegmentsTable }
func (t *segmentsTable) String() string             { return SegmentsTable }
func (t *segmentsTable) Database() string           { return t.db.Name() }
func (t *segmentsTable) Schema() sql.Schema         { return segmentsSchema }
func (t *segmentsTable) Collation() sql.CollationID { return Collation }
func (t *segmentsTable) Comment() string {
	return "segments of the workspace (read-only; CREATE [OR REPLACE] VIEW / DROP VIEW define them)"
}

func (t *segmentsTable) Partitions(*sql.Context) (sql.PartitionIter, error) {
	return &partitionIterOf{p: partition{}}, nil
}

func (t *segmentsTable) PartitionRows(*sql.Context, sql.Partition) (sql.RowIter, error) {
	m, ok := t.db.manager()
	if !ok {
		return sql.RowsToRowIter(), nil
	}
	list := m.List()
	rows := make([]sql.Row, len(list))
	for i, s := range list {
		rows[i] = sql.Row{s.Name, s.Version, s.SQL, s.Members, s.TimeDependent, s.CreatedAt.UTC(), s.UpdatedAt.UTC()}
	}
	return sql.RowsToRowIter(rows...), nil
}

// membersTable is segment_members of a workspace.
type membersTable struct {
	db     *database
	lookup *sql.IndexLookup
}

var (
	_ sql.Table                = (*membersTable)(nil)
	_ sql.IndexSearchableTable = (*membersTable)(nil)
	_ sql.IndexedTable         = (*membersTable)(nil)
	_ sql.CommentedTable       = (*membersTable)(nil)
	_ sql.Databaseable         = (*membersTable)(nil)
)

func (t *membersTable) Name() string               { return SegmentMembersTable }
func (t *membersTable) String() string             { return SegmentMembersTable }
func (t *membersTable) Database() string           { return t.db.Name() }
func (t *membersTable) Schema() sql.Schema         { return segmentMembersSchema }
func (t *membersTable) Collation() sql.CollationID { return Collation }
func (t *membersTable) Comment() string {
	return "real-time members of every segment (read-only; filter on segment and person_id)"
}

// memberPartition says which segments and persons to read (nil: all).
type memberPartition struct {
	segs    []string
	persons []int64
}

func (memberPartition) Key() []byte { return []byte("0") }

func (t *membersTable) Partitions(*sql.Context) (sql.PartitionIter, error) {
	return t.partitions(t.lookup)
}

func (t *membersTable) partitions(l *sql.IndexLookup) (sql.PartitionIter, error) {
	var p memberPartition
	if l != nil {
		ix, ok := l.Index.(*memberIndex)
		if !ok {
			return nil, fmt.Errorf("cannot read %s: unknown index %T", SegmentMembersTable, l.Index)
		}
		p.segs, p.persons = ix.sets()
	}
	return &partitionIterOf{p: p}, nil
}

// Index access, as for profile_history: the table lists no index; the
// sets travel as a memberIndex from LookupForExpressions to the scan,
// bound to the scan's own conjuncts in the final plan (segmentMembersRule).

func (t *membersTable) GetIndexes(*sql.Context) ([]sql.Index, error) { return nil, nil }
func (t *membersTable) PreciseMatch() bool                           { return false }
func (t *membersTable) SkipIndexCosting() bool                       { return true }

func (t *membersTable) IndexedAccess(_ *sql.Context, lookup sql.IndexLookup) sql.IndexedTable {
	nt := *t
	nt.lookup = &lookup
	return &nt
}

func (t *membersTable) LookupPartitions(_ *sql.Context, lookup sql.IndexLookup) (sql.PartitionIter, error) {
	return t.partitions(&lookup)
}

// LookupForExpressions collects the conjuncts that name segments or
// persons (= constant, IN constants); every conjunct stays in GMS.
func (t *membersTable) LookupForExpressions(ctx *sql.Context, exprs ...sql.Expression) (sql.IndexLookup, *sql.FuncDepSet, sql.Expression, bool, error) {
	if t.db.srv.opts.DisablePushdown {
		return sql.IndexLookup{}, nil, nil, false, nil
	}
	tr := translator{ctx: ctx, schema: memberColumns}
	ix := &memberIndex{db: t.db.Name()}
	for _, e := range exprs {
		x, ok := tr.translate(e)
		if !ok {
			continue
		}
		c, ok := memberConjunct(x)
		if !ok {
			continue
		}
		c.e = e
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
	return sql.IndexLookup{Index: ix, Ranges: memberRanges{ix}}, nil, expression.JoinAnd(exprs...), true, nil
}

// memberConj is a conjunct restricting segment or person_id to a set.
type memberConj struct {
	e       sql.Expression
	col     string
	segs    []string
	persons []int64
	tables  []sql.TableId
}

func memberConjunct(x expr.Expr) (memberConj, bool) {
	var col string
	var vals []expr.Const
	switch x := x.(type) {
	case expr.Cmp:
		if x.Op != expr.Eq {
			return memberConj{}, false
		}
		col, vals = x.Col, []expr.Const{x.Val}
	case expr.In:
		if x.Not {
			return memberConj{}, false
		}
		col, vals = x.Col, x.Vals
	default:
		return memberConj{}, false
	}
	c := memberConj{col: col}
	if col == memberSegment {
		c.segs = []string{}
	} else {
		c.persons = []int64{}
	}
	for _, v := range vals {
		l, ok := v.(expr.Lit)
		if !ok {
			if v == nil {
				continue // NULL: equal to nothing
			}
			return memberConj{}, false
		}
		switch l.Type {
		case column.TypeString:
			c.segs = append(c.segs, l.S)
		case column.TypeInt:
			c.persons = append(c.persons, l.I)
		case column.TypeFloat: // an exact decimal: a person id only if integral
			if l.F == float64(int64(l.F)) {
				c.persons = append(c.persons, int64(l.F))
			}
		case column.TypeNull:
		default:
			return memberConj{}, false
		}
	}
	return c, true
}

// memberIndex carries the segment and person sets of a scan.
type memberIndex struct {
	db   string
	conj []memberConj

	mu      sync.Mutex
	table   sql.TableId // bound to; 0: not yet
	bad     bool        // bound to two scans
	segs    []string    // bound sets; nil: all
	persons []int64
}

// bind sets the sets from the conjuncts that read only table id.
func (i *memberIndex) bind(id sql.TableId) {
	i.mu.Lock()
	defer i.mu.Unlock()
	if i.bad || id == 0 || (i.table != 0 && i.table != id) {
		i.bad = true
		return
	}
	i.table, i.segs, i.persons = id, nil, nil
	for _, c := range i.conj {
		if len(c.tables) == 0 || slices.ContainsFunc(c.tables, func(t sql.TableId) bool { return t != id }) {
			continue
		}
		if c.segs != nil {
			i.segs = intersect(i.segs, c.segs)
		}
		if c.persons != nil {
			i.persons = intersect(i.persons, c.persons)
		}
	}
}

// intersect returns the sorted, distinct values of b that are in a (all
// of b when a is nil).
func intersect[T int64 | string](a, b []T) []T {
	out := make([]T, 0, len(b))
	for _, v := range b {
		if a == nil || slices.Contains(a, v) {
			out = append(out, v)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// sets returns the segments and persons to read (nil: all).
func (i *memberIndex) sets() ([]string, []int64) {
	i.mu.Lock()
	defer i.mu.Unlock()
	if i.table == 0 || i.bad {
		return nil, nil
	}
	return i.segs, i.persons
}

// segmentMembersRule binds every segment_members scan of the final plan
// (subqueries included) to the conjuncts over its own columns.
func (s *Server) segmentMembersRule(_ *sql.Context, _ *analyzer.Analyzer, n sql.Node, _ *plan.Scope, _ analyzer.RuleSelector, _ *sql.QueryFlags) (sql.Node, transform.TreeIdentity, error) {
	bindMemberSets(n)
	return n, transform.SameTree, nil
}

func bindMemberSets(n sql.Node) {
	transform.Inspect(n, func(n sql.Node) bool {
		if ita, ok := n.(*plan.IndexedTableAccess); ok {
			if ix, ok := ita.Index().(*memberIndex); ok {
				ix.bind(ita.Id())
			}
		}
		if ex, ok := n.(sql.Expressioner); ok {
			for _, e := range ex.Expressions() {
				transform.InspectExpr(e, func(x sql.Expression) bool {
					if sq, ok := x.(*plan.Subquery); ok && sq.Query != nil {
						bindMemberSets(sq.Query)
					}
					return false
				})
			}
		}
		return true
	})
}

var _ sql.Index = (*memberIndex)(nil)

func (i *memberIndex) ID() string       { return "segment_person" }
func (i *memberIndex) Database() string { return i.db }
func (i *memberIndex) Table() string    { return SegmentMembersTable }
func (i *memberIndex) Expressions() []string {
	return []string{SegmentMembersTable + "." + memberSegment, SegmentMembersTable + "." + memberPerson}
}
func (i *memberIndex) IsUnique() bool    { return true }
func (i *memberIndex) IsSpatial() bool   { return false }
func (i *memberIndex) IsFullText() bool  { return false }
func (i *memberIndex) IsVector() bool    { return false }
func (i *memberIndex) Comment() string   { return "" }
func (i *memberIndex) IndexType() string { return "BTREE" }
func (i *memberIndex) IsGenerated() bool { return false }
func (i *memberIndex) ColumnExpressionTypes() []sql.ColumnExpressionType {
	return []sql.ColumnExpressionType{
		{Expression: SegmentMembersTable + "." + memberSegment, Type: typeString},
		{Expression: SegmentMembersTable + "." + memberPerson, Type: typeInt},
	}
}
func (i *memberIndex) CanSupport(*sql.Context, ...sql.Range) bool { return true }
func (i *memberIndex) CanSupportOrderBy(sql.Expression) bool      { return false }
func (i *memberIndex) PrefixLengths() []uint16                    { return nil }

func (i *memberIndex) String() string {
	parts := make([]string, len(i.conj))
	for k, c := range i.conj {
		parts[k] = c.e.String()
	}
	segs, persons := i.sets()
	return fmt.Sprintf("cohort segment members (segments %v, persons %v) of %s", setString(segs), setString(persons), strings.Join(parts, " AND "))
}

func setString[T any](s []T) string {
	if s == nil {
		return "all"
	}
	return fmt.Sprint(s)
}

// memberRanges is the range collection of a members lookup.
type memberRanges struct{ ix *memberIndex }

var _ sql.RangeCollection = memberRanges{}

func (r memberRanges) String() string        { return r.ix.String() }
func (r memberRanges) DebugString() string   { return r.ix.String() }
func (r memberRanges) Len() int              { return 1 }
func (r memberRanges) ToRanges() []sql.Range { return nil }
func (r memberRanges) Equals(o sql.RangeCollection) (bool, error) {
	x, ok := o.(memberRanges)
	return ok && x.ix == r.ix, nil
}

// PartitionRows streams (segment, person_id), by segment then person.
func (t *membersTable) PartitionRows(_ *sql.Context, part sql.Partition) (sql.RowIter, error) {
	p, ok := part.(memberPartition)
	if !ok {
		return nil, fmt.Errorf("cannot read %s: unexpected partition %T", SegmentMembersTable, part)
	}
	m, ok := t.db.manager()
	if !ok {
		return sql.RowsToRowIter(), nil
	}
	names := p.segs
	if names == nil {
		for _, info := range m.List() {
			names = append(names, info.Name)
		}
	}
	if p.persons != nil {
		// The memberships of a few persons: no member list is read.
		var rows []sql.Row
		for _, id := range p.persons {
			if id <= 0 || id > 1<<32-1 {
				continue
			}
			for _, name := range m.Of(uint32(id)) {
				if _, found := slices.BinarySearch(names, name); found {
					rows = append(rows, sql.Row{name, id})
				}
			}
		}
		slices.SortFunc(rows, func(a, b sql.Row) int {
			if c := strings.Compare(a[0].(string), b[0].(string)); c != 0 {
				return c
			}
			return int(a[1].(int64) - b[1].(int64))
		})
		return sql.RowsToRowIter(rows...), nil
	}
	return &membersIter{m: m, names: names}, nil
}

// membersIter pages through the members of each segment.
type membersIter struct {
	m     *segment.Manager
	names []string
	cur   *segment.Members // nil: take the next segment
	name  string
	page  []uint32
	i     int
}

const memberPage = 4096

func (it *membersIter) Next(ctx *sql.Context) (sql.Row, error) {
	for it.i == len(it.page) {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if it.cur != nil && len(it.page) == memberPage {
			it.page, it.i = it.cur.Next(it.page[len(it.page)-1], memberPage, it.page[:0]), 0
			continue
		}
		if len(it.names) == 0 {
			return nil, io.EOF
		}
		it.name, it.names = it.names[0], it.names[1:]
		ms, err := it.m.Members(it.name)
		if errors.Is(err, segment.ErrNotFound) {
			it.cur, it.page, it.i = nil, it.page[:0], 0
			continue // dropped meanwhile
		}
		if err != nil {
			return nil, fmt.Errorf("cannot read %s: %w", SegmentMembersTable, err)
		}
		it.cur = ms
		it.page, it.i = ms.Next(0, memberPage, it.page[:0]), 0
	}
	p := it.page[it.i]
	it.i++
	return sql.Row{it.name, int64(p)}, nil
}

func (it *membersIter) Close(*sql.Context) error { return nil }
