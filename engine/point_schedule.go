package engine

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/cohortdb/cohort/engine/column"
	"github.com/cohortdb/cohort/engine/expr"
)

// Crossings calls fn(p, at), for condition i, for every person p whose answer to the plan may
// change by time alone at at (µs, after the plan's now): an event entering
// or leaving a relative window, a profile timestamp crossing a now-relative
// bound. A person can be reported several times (one per crossing); the
// earliest is the one that matters. It is the full-scan counterpart of the
// next time Eval reports, for the moment a plan starts: one vectorized
// query per time-dependent term, not a scan per person.
func (ps *PointSet) Crossings(ctx context.Context, s *Snapshot, i int, fn func(p uint32, at int64)) error {
	now := time.UnixMicro(ps.now)
	pl := &ps.plans[i]
	for _, di := range pl.dids {
		d := ps.dids[di]
		if len(d.offs) == 0 {
			continue
		}
		// Only events after now+min(offs) can still cross a bound.
		lo := slices.Min(d.offs)
		conj := expr.And{expr.Cmp{Col: ColTS, Op: expr.Ge, Val: expr.TimeOffset{Offset: time.Duration(lo) * time.Microsecond}}}
		if d.d.Event != "" {
			conj = append(conj, expr.Cmp{Col: ColName, Op: expr.Eq, Val: expr.Lit(column.String(d.d.Event))})
		}
		if d.d.Where != nil {
			conj = append(conj, d.d.Where)
		}
		err := s.IntPairs(ctx, Query{Table: Events, Where: Where{Expr: conj}, Now: now}, ColPersonID, ColTS, func(p, ts int64) {
			for _, off := range d.offs {
				if at := crossing(ts-off, ps.now); at != 0 {
					fn(uint32(p), at)
				}
			}
		})
		if err != nil {
			return fmt.Errorf("cannot schedule window of %q: %w", d.d.Event, err)
		}
	}
	for _, t := range pl.terms {
		col := s.Profiles.Schema.Cols[t.col].Name
		q := Query{Table: Profiles, Where: Where{Expr: expr.Cmp{Col: col, Op: expr.Ge, Val: expr.TimeOffset{Offset: time.Duration(t.off) * time.Microsecond}}}, Now: now}
		err := s.IntPairs(ctx, q, ColPersonID, col, func(p, v int64) {
			if at := crossing(v-t.off, ps.now); at != 0 {
				fn(uint32(p), at)
			}
		})
		if err != nil {
			return fmt.Errorf("cannot schedule profiles.%s: %w", col, err)
		}
	}
	return nil
}
