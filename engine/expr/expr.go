package expr

import (
	"strconv"
	"strings"
	"time"

	"github.com/cohortdb/cohort/engine/column"
)

// Expr is a predicate over the rows of one table.
type Expr interface {
	String() string
	isExpr()
}

// Op is a comparison operator.
type Op uint8

// Comparison operators.
const (
	Eq Op = iota
	Ne
	Lt
	Le
	Gt
	Ge
)

var opNames = [...]string{"=", "!=", "<", "<=", ">", ">="}

func (o Op) String() string {
	if int(o) < len(opNames) {
		return opNames[o]
	}
	return "op(" + strconv.Itoa(int(o)) + ")"
}

// Const is a constant operand, resolved once at compile time.
type Const interface {
	String() string
	resolve(now time.Time) column.Value
}

// Lit is a literal constant: Lit(column.Int(5)). The zero Lit is NULL.
type Lit column.Value

func (l Lit) resolve(time.Time) column.Value { return column.Value(l) }
func (l Lit) String() string                 { return column.Value(l).String() }

// TimeOffset is a timestamp constant At+Offset; a zero At means the now
// passed to Compile, so Ago(7*24*time.Hour) is "now - 7 days".
type TimeOffset struct {
	At     time.Time
	Offset time.Duration
}

// Now returns the constant "now".
func Now() TimeOffset { return TimeOffset{} }

// Ago returns the constant "now - d".
func Ago(d time.Duration) TimeOffset { return TimeOffset{Offset: -d} }

func (t TimeOffset) resolve(now time.Time) column.Value {
	at := t.At
	if at.IsZero() {
		at = now
	}
	return column.Micros(at.UnixMicro() + t.Offset.Microseconds())
}

func (t TimeOffset) String() string {
	s := "now()"
	if !t.At.IsZero() {
		s = t.At.UTC().Format(time.RFC3339Nano)
	}
	if t.Offset != 0 {
		if t.Offset > 0 {
			s += "+"
		}
		s += t.Offset.String()
	}
	return s
}

// Cmp is "Col Op Val".
type Cmp struct {
	Col string
	Op  Op
	Val Const
}

// In is "Col IN (Vals...)", or NOT IN.
type In struct {
	Col  string
	Vals []Const
	Not  bool
}

// Between is "Col BETWEEN Lo AND Hi" (both inclusive), or NOT BETWEEN.
type Between struct {
	Col    string
	Lo, Hi Const
	Not    bool
}

// IsNull is "Col IS NULL", or IS NOT NULL.
type IsNull struct {
	Col string
	Not bool
}

// Like is "Col LIKE Pattern" on a string column: % matches any run of
// characters, _ exactly one character (rune), and a backslash makes the next
// character literal. Fold makes it case-insensitive (Unicode simple folding,
// as ILIKE). Not negates it.
type Like struct {
	Col     string
	Pattern string
	Fold    bool
	Not     bool
}

// Contains is true when the string-list column Col holds the string Val.
type Contains struct {
	Col string
	Val Const
}

// InBitmap is true when the integer value of Col (a person id) is set in
// Bits. Negative values and values past the bitmap are not set. The Program
// keeps Bits without copying: it must not change while the Program is used.
type InBitmap struct {
	Col  string
	Bits column.Bitmap
}

// And is true when every argument is true; an empty And is true.
type And []Expr

// Or is true when any argument is true; an empty Or is false.
type Or []Expr

// Not negates its argument under three-valued logic.
type Not struct{ Arg Expr }

// Truth is a constant predicate.
type Truth bool

// The constant predicates.
const (
	True  Truth = true
	False Truth = false
)

func (Cmp) isExpr()      {}
func (In) isExpr()       {}
func (Between) isExpr()  {}
func (IsNull) isExpr()   {}
func (Like) isExpr()     {}
func (Contains) isExpr() {}
func (InBitmap) isExpr() {}
func (And) isExpr()      {}
func (Or) isExpr()       {}
func (Not) isExpr()      {}
func (Truth) isExpr()    {}

func constString(c Const) string {
	if c == nil {
		return "NULL"
	}
	return c.String()
}

func (e Cmp) String() string {
	return strconv.Quote(e.Col) + " " + e.Op.String() + " " + constString(e.Val)
}

func notString(not bool) string {
	if not {
		return " NOT"
	}
	return ""
}

func (e In) String() string {
	var b strings.Builder
	b.WriteString(strconv.Quote(e.Col) + notString(e.Not) + " IN (")
	for i, v := range e.Vals {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(constString(v))
	}
	b.WriteString(")")
	return b.String()
}

func (e Between) String() string {
	return strconv.Quote(e.Col) + notString(e.Not) + " BETWEEN " + constString(e.Lo) + " AND " + constString(e.Hi)
}

func (e IsNull) String() string {
	if e.Not {
		return strconv.Quote(e.Col) + " IS NOT NULL"
	}
	return strconv.Quote(e.Col) + " IS NULL"
}

func (e Like) String() string {
	op := " LIKE "
	if e.Fold {
		op = " ILIKE "
	}
	return strconv.Quote(e.Col) + notString(e.Not) + op + strconv.Quote(e.Pattern)
}

func (e Contains) String() string {
	return "CONTAINS(" + strconv.Quote(e.Col) + ", " + constString(e.Val) + ")"
}

func (e InBitmap) String() string {
	return strconv.Quote(e.Col) + " IN BITMAP(" + strconv.Itoa(e.Bits.Count()) + " ids)"
}

func joinExprs(args []Expr, sep, empty string) string {
	if len(args) == 0 {
		return empty
	}
	parts := make([]string, len(args))
	for i, a := range args {
		parts[i] = "(" + a.String() + ")"
	}
	return strings.Join(parts, sep)
}

func (e And) String() string { return joinExprs(e, " AND ", "TRUE") }
func (e Or) String() string  { return joinExprs(e, " OR ", "FALSE") }
func (e Not) String() string { return "NOT (" + e.Arg.String() + ")" }

func (e Truth) String() string {
	if e {
		return "TRUE"
	}
	return "FALSE"
}
