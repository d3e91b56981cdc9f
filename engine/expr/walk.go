package expr

import (
	"time"

	"github.com/cohortdb/cohort/engine/column"
)

// Resolve returns the value of constant c for the given now.
func Resolve(c Const, now time.Time) column.Value { return c.resolve(now) }

// Walk calls fn for e and every expression under it, parents first.
func Walk(e Expr, fn func(Expr)) {
	fn(e)
	switch e := e.(type) {
	case And:
		for _, a := range e {
			Walk(a, fn)
		}
	case Or:
		for _, a := range e {
			Walk(a, fn)
		}
	case Not:
		Walk(e.Arg, fn)
	}
}
