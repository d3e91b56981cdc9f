package sqlfront

import (
	"github.com/dolthub/go-mysql-server/sql"
	"github.com/dolthub/go-mysql-server/sql/expression"
	"github.com/dolthub/go-mysql-server/sql/memo"
)

// nestedLoopPenalty is added to the cost of a nested-loop join that has
// an equality between its sides: far above any hash or lookup join the
// memo can build over tables Cohort holds in memory.
const nestedLoopPenalty = 1e9

// coster is GMS's default coster with one correction. GMS estimates every
// static index lookup on an IndexSearchableTable at one row
// (analyzer/costed_index_scan.go, `stats.Statistic{RowCnt: 1}`), and all
// of Cohort's tables take their pushed-down filters that way. Every
// filtered profiles or events scan then looks like a single row, and the
// memo joins it by nested loop: measured 22.8 s for a profiles ⋈ events
// count (3.3k × 20k rows) that a hash join answers in milliseconds. A
// nested loop is only worth it when a side really is tiny, and then a hash
// join costs about the same, so equality joins are steered away from it.
type coster struct{ memo.Coster }

func newCoster() memo.Coster { return coster{memo.NewDefaultCoster()} }

func (c coster) EstimateCost(ctx *sql.Context, r memo.RelExpr, s sql.StatsProvider) (float64, error) {
	cost, err := c.Coster.EstimateCost(ctx, r, s)
	if err != nil {
		return cost, err
	}
	j, ok := r.(memo.JoinRel)
	if !ok {
		return cost, nil
	}
	jp := j.JoinPrivate()
	if jp.Op.IsPhysical() || jp.Op.IsLateral() || !hasEquality(jp.Filter) {
		return cost, nil
	}
	return cost + nestedLoopPenalty, nil
}

// hasEquality reports whether a join filter compares two columns for
// equality (the shape a hash join can serve).
func hasEquality(filters []sql.Expression) bool {
	for _, f := range filters {
		eq, ok := f.(*expression.Equals)
		if !ok {
			continue
		}
		_, l := eq.Left().(*expression.GetField)
		_, r := eq.Right().(*expression.GetField)
		if l && r {
			return true
		}
	}
	return false
}
