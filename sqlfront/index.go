package sqlfront

import (
	"strings"

	"github.com/dolthub/go-mysql-server/sql"

	"github.com/cohortdb/cohort/engine/column"
	"github.com/cohortdb/cohort/engine/expr"
)

// pkIndex is a table's primary index. GMS uses it for lookup joins (ranges
// on the key); pushed-down filters travel as a pushIndex, which shares its
// ID so that the optimizer finds it among the table's indexes.
type pkIndex struct {
	db, table string
	cols      []string
	types     []sql.Type
}

var _ sql.Index = (*pkIndex)(nil)

func newPKIndex(db, table string, s *column.Schema) *pkIndex {
	ix := &pkIndex{db: db, table: table}
	for _, c := range primaryKey(table) {
		if d, ok := s.Lookup(c); ok {
			ix.cols = append(ix.cols, c)
			ix.types = append(ix.types, sqlType(d.Type))
		}
	}
	return ix
}

func (i *pkIndex) ID() string       { return "PRIMARY" }
func (i *pkIndex) Database() string { return i.db }
func (i *pkIndex) Table() string    { return i.table }
func (i *pkIndex) Expressions() []string {
	out := make([]string, len(i.cols))
	for k, c := range i.cols {
		out[k] = i.table + "." + c
	}
	return out
}
func (i *pkIndex) IsUnique() bool    { return true }
func (i *pkIndex) IsSpatial() bool   { return false }
func (i *pkIndex) IsFullText() bool  { return false }
func (i *pkIndex) IsVector() bool    { return false }
func (i *pkIndex) Comment() string   { return "" }
func (i *pkIndex) IndexType() string { return "BTREE" }
func (i *pkIndex) IsGenerated() bool { return false }
func (i *pkIndex) ColumnExpressionTypes() []sql.ColumnExpressionType {
	out := make([]sql.ColumnExpressionType, len(i.cols))
	for k, c := range i.cols {
		out[k] = sql.ColumnExpressionType{Expression: i.table + "." + c, Type: i.types[k]}
	}
	return out
}

// CanSupport accepts MySQL ranges: points on profiles.person_id read
// profiles by person (Snapshot.ProfileRow), others become engine scans.
func (i *pkIndex) CanSupport(_ *sql.Context, ranges ...sql.Range) bool {
	for _, r := range ranges {
		mr, ok := r.(sql.MySQLRange)
		if !ok || len(mr) > len(i.cols) {
			return false
		}
	}
	return true
}
func (i *pkIndex) CanSupportOrderBy(sql.Expression) bool { return false }
func (i *pkIndex) PrefixLengths() []uint16               { return nil }

// pushIndex carries a pushed-down filter as an index lookup.
type pushIndex struct {
	*pkIndex
	push *pushdown
}

func (i *pushIndex) CanSupport(*sql.Context, ...sql.Range) bool { return true }

func (i *pushIndex) String() string { return "cohort pushdown: " + i.push.String() }

// pushdown is what a table was asked to filter by, ready to be compiled
// against the snapshot of the query that runs it.
type pushdown struct {
	table   string
	where   []expr.Expr      // translated conjuncts
	did     []*behaviourExpr // behavioural conditions
	point   *int64           // profiles: person_id = point
	points  []int64          // profiles: lookup join keys (nil: none)
	ident   *[2]string       // identities: type, value
	handled []sql.Expression // the GMS expressions taken over (for EXPLAIN)
}

func (p *pushdown) String() string {
	parts := make([]string, len(p.handled))
	for i, e := range p.handled {
		parts[i] = e.String()
	}
	s := strings.Join(parts, " AND ")
	switch {
	case p.point != nil:
		s = "point lookup: " + s
	case p.ident != nil:
		s = "identity lookup: " + s
	}
	return s
}

// pushRanges is the range collection of a pushdown lookup. It is not a
// sql.MySQLRangeCollection on purpose: GMS v0.20.0 drops an ORDER BY over
// an IndexedTableAccess whose index expressions prefix the sort columns
// when the ranges are MySQL ranges (replace_sort.go), assuming index order;
// engine scans return rows in table order, so the sort must stay.
type pushRanges struct{ p *pushdown }

var _ sql.RangeCollection = pushRanges{}

func (r pushRanges) String() string        { return r.p.String() }
func (r pushRanges) DebugString() string   { return r.p.String() }
func (r pushRanges) Len() int              { return 1 }
func (r pushRanges) ToRanges() []sql.Range { return nil }
func (r pushRanges) Equals(o sql.RangeCollection) (bool, error) {
	x, ok := o.(pushRanges)
	return ok && x.p == r.p, nil
}
