package engine

import (
	"context"
	"fmt"
	"time"

	"github.com/cohortdb/cohort/engine/column"
	"github.com/cohortdb/cohort/engine/expr"
	"github.com/cohortdb/cohort/engine/table"
)

// Cond is a query condition: row predicates (Where) and behavioural
// predicates over events (Did), combined with AllOf, AnyOf and Negate.
type Cond interface{ cond() }

// Where is a predicate over the queried table's own columns.
type Where struct{ Expr expr.Expr }

// AllOf is true when every condition is.
type AllOf []Cond

// AnyOf is true when any condition is.
type AnyOf []Cond

// Negate inverts a condition ("did not do E" is Negate{Did{...}}).
type Negate struct{ Cond Cond }

// Did is a behavioural predicate on a person: the events named Event (any
// event when empty) in [Since, Until) that satisfy Where, aggregated per
// person (COUNT, or SUM/MIN/MAX of Prop), compared with N. It applies to
// tables with a person_id column; for events it tests the event's person.
type Did struct {
	Event string
	Where expr.Expr // over events columns; nil: no filter
	Since expr.Const
	Until expr.Const
	Agg   AggFunc // AggCount (default), AggSum, AggMin or AggMax
	Prop  string  // the aggregated property for SUM/MIN/MAX
	Op    expr.Op
	N     float64
}

func (Where) cond()  {}
func (AllOf) cond()  {}
func (AnyOf) cond()  {}
func (Negate) cond() {}
func (Did) cond()    {}

// compileCond resolves behavioural predicates to person bitmaps and compiles
// the whole condition into one row program for tbl.
func (s *Snapshot) compileCond(ctx context.Context, tbl *table.Snapshot, c Cond, now time.Time) (func(int, *column.Chunk, column.Bitmap), error) {
	e, err := s.lower(ctx, tbl, c, now)
	if err != nil {
		return nil, err
	}
	prog, err := expr.Compile(e, tbl.Schema, now)
	if err != nil {
		return nil, err
	}
	scratch := make([]*expr.Scratch, Workers())
	for i := range scratch {
		scratch[i] = expr.NewScratch()
	}
	return func(w int, c *column.Chunk, out column.Bitmap) { prog.Eval(c, out, scratch[w]) }, nil
}

// lower turns a Cond into an expr.Expr, evaluating Did nodes.
func (s *Snapshot) lower(ctx context.Context, tbl *table.Snapshot, c Cond, now time.Time) (expr.Expr, error) {
	switch c := c.(type) {
	case Where:
		if c.Expr == nil {
			return expr.True, nil
		}
		return c.Expr, nil
	case AllOf:
		out := make(expr.And, len(c))
		for i, a := range c {
			e, err := s.lower(ctx, tbl, a, now)
			if err != nil {
				return nil, err
			}
			out[i] = e
		}
		return out, nil
	case AnyOf:
		out := make(expr.Or, len(c))
		for i, a := range c {
			e, err := s.lower(ctx, tbl, a, now)
			if err != nil {
				return nil, err
			}
			out[i] = e
		}
		return out, nil
	case Negate:
		e, err := s.lower(ctx, tbl, c.Cond, now)
		if err != nil {
			return nil, err
		}
		return expr.Not{Arg: e}, nil
	case Did:
		if _, ok := tbl.Schema.Lookup(ColPersonID); !ok {
			return nil, fmt.Errorf("behavioural predicate on %s: %w: person_id", tbl.Name, ErrNoColumn)
		}
		bits, err := s.persons(ctx, c, now)
		if err != nil {
			return nil, err
		}
		if tbl != s.Profiles {
			// Rows of other tables store the person they were recorded
			// for; widen the canonical set to every merged member.
			bits = s.withMembers(bits)
		}
		return expr.InBitmap{Col: ColPersonID, Bits: bits}, nil
	case nil:
		return expr.True, nil
	}
	return nil, fmt.Errorf("unknown condition %T", c)
}

// withMembers returns bits plus every person merged into a person in bits.
func (s *Snapshot) withMembers(bits column.Bitmap) column.Bitmap {
	n := s.Graph.Persons() + 1
	out := bits.Clone(n)
	for p := 1; p < n; p++ {
		if q := int(s.Graph.Canonical(uint32(p))); q != p && q < len(bits)*64 && bits.Get(q) {
			out.Set(p)
		}
	}
	return out
}
