package expr

import (
	"errors"
	"fmt"
	"math"
	"math/bits"
	"slices"
	"strings"
	"time"

	"github.com/cohortdb/cohort/engine/column"
)

// ErrType is wrapped by compile errors caused by a type mismatch.
var ErrType = errors.New("type mismatch")

// ErrUnknownColumn is wrapped by compile errors naming a missing column.
var ErrUnknownColumn = errors.New("unknown column")

// Program is a compiled predicate, immutable and safe for concurrent Eval.
type Program struct {
	root node
	cols []int
	src  Expr
	rows rowProg // root flattened for Match (match.go)
}

type kind uint8

const (
	kFalse  kind = iota // no row
	kTrue               // every row
	kAnd                // all kids
	kOr                 // any kid
	kNull               // IS NULL; neg: IS NOT NULL
	kRange              // int-like value in [lo, hi] (decoded), string code equality
	kFloat              // float in [flo, fhi] (IEEE comparisons)
	kCodes              // string code set in tab
	kBool               // bool value allowed by allowF / allowT
	kList               // string list contains code
	kBitmap             // int value set in bits
)

// node is one compiled predicate. Leaves other than kNull reject NULL rows
// whatever neg says: neg selects the non-null rows that do not match.
type node struct {
	kind     kind
	neg      bool
	col      int
	kids     []node
	lo, hi   int64
	flo, fhi float64
	tab      []uint64
	code     uint32
	allowF   uint64
	allowT   uint64
	bits     column.Bitmap
}

func (n *node) leaf() bool { return n.kind >= kNull }

// Compile compiles e against schema, resolving time constants with now and
// string constants against each string column's current dictionary. It must
// not run concurrently with the dictionaries' writer; use CompileSnapshot
// with views captured at publication for that.
func Compile(e Expr, schema *column.Schema, now time.Time) (*Program, error) {
	return CompileSnapshot(e, schema, nil, now)
}

// CompileSnapshot is Compile with explicit dictionary views: dicts[i] is the
// view of column i's dictionary (a zero DictView, or an index past the
// slice, means the dictionary's current View).
func CompileSnapshot(e Expr, schema *column.Schema, dicts []column.DictView, now time.Time) (*Program, error) {
	if e == nil {
		return nil, errors.New("cannot compile predicate: nil expression")
	}
	c := &compiler{schema: schema, dicts: dicts, now: now}
	root, err := c.compile(e, false)
	if err != nil {
		return nil, err
	}
	p := &Program{root: root, src: e, rows: flatten(&root)}
	for col := range c.used {
		p.cols = append(p.cols, col)
	}
	slices.Sort(p.cols)
	return p, nil
}

// Columns returns the indexes of the columns the program reads, ascending.
func (p *Program) Columns() []int { return slices.Clone(p.cols) }

// String returns the source expression.
func (p *Program) String() string { return p.src.String() }

type compiler struct {
	schema *column.Schema
	dicts  []column.DictView
	now    time.Time
	used   map[int]bool
}

func (c *compiler) column(name string) (*column.ColumnDef, error) {
	if c.schema != nil {
		if d, ok := c.schema.Lookup(name); ok {
			if c.used == nil {
				c.used = map[int]bool{}
			}
			c.used[d.Index] = true
			return d, nil
		}
	}
	return nil, fmt.Errorf("cannot compile predicate on column %q: %w", name, ErrUnknownColumn)
}

func (c *compiler) view(d *column.ColumnDef) column.DictView {
	if d.Index < len(c.dicts) && c.dicts[d.Index].Len() >= 0 {
		return c.dicts[d.Index]
	}
	if d.Dict == nil {
		return column.NewDictionary().View()
	}
	return d.Dict.View()
}

func (c *compiler) value(k Const) column.Value {
	if k == nil {
		return column.Value{}
	}
	return k.resolve(c.now)
}

func (c *compiler) compile(e Expr, neg bool) (node, error) {
	switch e := e.(type) {
	case Truth:
		return truth(bool(e) != neg), nil
	case Not:
		if e.Arg == nil {
			return node{}, errors.New("cannot compile predicate: NOT without argument")
		}
		return c.compile(e.Arg, !neg)
	case And:
		return c.junction(e, neg, !neg)
	case Or:
		return c.junction(e, neg, neg)
	case IsNull:
		d, err := c.column(e.Col)
		if err != nil {
			return node{}, err
		}
		return node{kind: kNull, col: d.Index, neg: e.Not != neg}, nil
	case Cmp:
		d, err := c.column(e.Col)
		if err != nil {
			return node{}, err
		}
		op := e.Op
		if op > Ge {
			return node{}, fmt.Errorf("cannot compile predicate on column %q: unknown operator %d", d.Name, op)
		}
		if op == Ne {
			op, neg = Eq, !neg
		}
		return c.cmp(d, op, c.value(e.Val), neg)
	case Between:
		d, err := c.column(e.Col)
		if err != nil {
			return node{}, err
		}
		return c.between(d, c.value(e.Lo), c.value(e.Hi), neg != e.Not)
	case In:
		d, err := c.column(e.Col)
		if err != nil {
			return node{}, err
		}
		return c.in(d, e.Vals, neg != e.Not)
	case Like:
		d, err := c.column(e.Col)
		if err != nil {
			return node{}, err
		}
		if d.Type != column.TypeString {
			return node{}, fmt.Errorf("cannot compile predicate on column %q: LIKE needs a string column, not %s: %w", d.Name, d.Type, ErrType)
		}
		p := parseLike(e.Pattern, e.Fold)
		view := c.view(d)
		if tab, ok := likeCodeSet(view, &p); ok {
			return codeTabNode(d, tab, neg != e.Not), nil
		}
		return codeSet(d, view, p.match, neg != e.Not), nil
	case Contains:
		d, err := c.column(e.Col)
		if err != nil {
			return node{}, err
		}
		v := c.value(e.Val)
		if d.Type != column.TypeStringList {
			return node{}, fmt.Errorf("cannot compile predicate on column %q: CONTAINS needs a string_list column, not %s: %w", d.Name, d.Type, ErrType)
		}
		if v.Null() {
			return truth(false), nil
		}
		if v.Type != column.TypeString {
			return node{}, typeErr(d, "contains", v)
		}
		code, ok := c.view(d).Code(v.S)
		if !ok {
			return constLeaf(d, false, neg), nil
		}
		return node{kind: kList, col: d.Index, code: code, neg: neg}, nil
	case InBitmap:
		d, err := c.column(e.Col)
		if err != nil {
			return node{}, err
		}
		if d.Type != column.TypeInt {
			return node{}, fmt.Errorf("cannot compile predicate on column %q: IN BITMAP needs an int column, not %s: %w", d.Name, d.Type, ErrType)
		}
		return node{kind: kBitmap, col: d.Index, bits: e.Bits, neg: neg}, nil
	case nil:
		return node{}, errors.New("cannot compile predicate: nil expression")
	}
	return node{}, fmt.Errorf("cannot compile predicate: unknown expression %T", e)
}

func truth(b bool) node {
	if b {
		return node{kind: kTrue}
	}
	return node{kind: kFalse}
}

// constLeaf is a null-rejecting leaf whose value on every non-null row is
// known at compile time: negated or not, it never selects a NULL row.
func constLeaf(d *column.ColumnDef, match, neg bool) node {
	if match != neg {
		return node{kind: kNull, col: d.Index, neg: true} // IS NOT NULL
	}
	return node{kind: kFalse}
}

// junction compiles And (conj=true) or Or after pushing neg into the kids.
func (c *compiler) junction(args []Expr, neg, conj bool) (node, error) {
	kids := make([]node, 0, len(args))
	for _, a := range args {
		k, err := c.compile(a, neg)
		if err != nil {
			return node{}, err
		}
		kids = append(kids, k)
	}
	if conj {
		return mkAnd(kids), nil
	}
	return mkOr(kids), nil
}

// mkAnd flattens, drops TRUE, folds FALSE and orders kids cheapest first.
func mkAnd(kids []node) node {
	var out []node
	for _, k := range kids {
		switch k.kind {
		case kTrue:
			continue
		case kFalse:
			return node{kind: kFalse}
		case kAnd:
			out = append(out, k.kids...)
		default:
			out = append(out, k)
		}
	}
	switch len(out) {
	case 0:
		return node{kind: kTrue}
	case 1:
		return out[0]
	}
	slices.SortStableFunc(out, func(a, b node) int { return cost(&a) - cost(&b) })
	return node{kind: kAnd, kids: out}
}

// mkOr flattens, drops FALSE and folds TRUE.
func mkOr(kids []node) node {
	var out []node
	for _, k := range kids {
		switch k.kind {
		case kFalse:
			continue
		case kTrue:
			return node{kind: kTrue}
		case kOr:
			out = append(out, k.kids...)
		default:
			out = append(out, k)
		}
	}
	switch len(out) {
	case 0:
		return node{kind: kFalse}
	case 1:
		return out[0]
	}
	slices.SortStableFunc(out, func(a, b node) int { return cost(&a) - cost(&b) })
	return node{kind: kOr, kids: out}
}

// cost ranks a node for AND ordering: cheap and selective first. Equality
// (one code or one value) on narrow integers first, float ranges and
// per-row list or bitmap probes last, subtrees after every leaf.
func cost(n *node) int {
	switch n.kind {
	case kNull:
		return 1
	case kRange:
		if n.lo == n.hi && !n.neg {
			return 0
		}
		return 2
	case kCodes, kBool:
		return 2
	case kFloat:
		return 4
	case kBitmap:
		return 5
	case kList:
		return 6
	case kAnd, kOr:
		s := 10
		for i := range n.kids {
			s += cost(&n.kids[i])
		}
		return s
	}
	return 0
}

const two63 = 9223372036854775808.0 // 2^63, exact in float64

// ival is an inclusive int64 interval; ok is false when empty.
type ival struct {
	lo, hi int64
	ok     bool
}

var fullI = ival{math.MinInt64, math.MaxInt64, true}

func (a ival) and(b ival) ival {
	if !a.ok || !b.ok {
		return ival{}
	}
	r := ival{max(a.lo, b.lo), min(a.hi, b.hi), true}
	r.ok = r.lo <= r.hi
	return r
}

// intIval returns {x : x op v} over int64 x, for an int, timestamp or float
// v, comparing exact values.
func intIval(op Op, v column.Value) ival {
	if v.Type == column.TypeFloat {
		f := v.F
		if f != f {
			return ival{}
		}
		switch op {
		case Eq:
			if f == math.Trunc(f) && f >= -two63 && f < two63 {
				return ival{int64(f), int64(f), true}
			}
			return ival{}
		case Lt: // x < ceil(f)
			c := math.Ceil(f)
			if c <= -two63 {
				return ival{}
			}
			if c >= two63 {
				return fullI
			}
			return ival{math.MinInt64, int64(c) - 1, true}
		case Le: // x <= floor(f)
			fl := math.Floor(f)
			if fl < -two63 {
				return ival{}
			}
			if fl >= two63 {
				return fullI
			}
			return ival{math.MinInt64, int64(fl), true}
		case Gt: // x > floor(f)
			fl := math.Floor(f)
			if fl < -two63 {
				return fullI
			}
			if fl >= two63 || int64(fl) == math.MaxInt64 {
				return ival{}
			}
			return ival{int64(fl) + 1, math.MaxInt64, true}
		case Ge: // x >= ceil(f)
			c := math.Ceil(f)
			if c <= -two63 {
				return fullI
			}
			if c >= two63 {
				return ival{}
			}
			return ival{int64(c), math.MaxInt64, true}
		}
		return ival{}
	}
	i := v.I
	switch op {
	case Eq:
		return ival{i, i, true}
	case Lt:
		if i == math.MinInt64 {
			return ival{}
		}
		return ival{math.MinInt64, i - 1, true}
	case Le:
		return ival{math.MinInt64, i, true}
	case Gt:
		if i == math.MaxInt64 {
			return ival{}
		}
		return ival{i + 1, math.MaxInt64, true}
	case Ge:
		return ival{i, math.MaxInt64, true}
	}
	return ival{}
}

// fval is an inclusive float interval; NaN is in no interval.
type fval struct {
	lo, hi float64
	ok     bool
}

func (a fval) and(b fval) fval {
	if !a.ok || !b.ok {
		return fval{}
	}
	r := fval{max(a.lo, b.lo), min(a.hi, b.hi), true}
	r.ok = r.lo <= r.hi
	return r
}

// floatIval returns {x : x op v} over non-NaN float64 x, for a float v or an
// int v compared exactly.
func floatIval(op Op, v column.Value) fval {
	inf := math.Inf(1)
	f := v.F
	if v.Type != column.TypeFloat {
		i := v.I
		f = float64(i)
		if f >= two63 || int64(f) != i { // rounded: no float equals i
			up := f >= two63 || int64(f) > i
			switch {
			case op == Eq:
				return fval{}
			case up && (op == Lt || op == Le): // x < i  <=>  x < f
				return fval{-inf, math.Nextafter(f, -inf), true}
			case up: // x > i  <=>  x >= f
				return fval{f, inf, true}
			case op == Lt || op == Le: // f < i:  x < i  <=>  x <= f
				return fval{-inf, f, true}
			default: // x > i  <=>  x > f
				return fval{math.Nextafter(f, inf), inf, true}
			}
		}
	}
	if f != f {
		return fval{}
	}
	switch op {
	case Eq:
		return fval{f, f, true}
	case Lt:
		if f == -inf {
			return fval{}
		}
		return fval{-inf, math.Nextafter(f, -inf), true}
	case Le:
		return fval{-inf, f, true}
	case Gt:
		if f == inf {
			return fval{}
		}
		return fval{math.Nextafter(f, inf), inf, true}
	case Ge:
		return fval{f, inf, true}
	}
	return fval{}
}

func rangeNode(d *column.ColumnDef, r ival, neg bool) node {
	if !r.ok {
		return constLeaf(d, false, neg)
	}
	if r.lo == math.MinInt64 && r.hi == math.MaxInt64 {
		return constLeaf(d, true, neg)
	}
	return node{kind: kRange, col: d.Index, lo: r.lo, hi: r.hi, neg: neg}
}

func floatNode(d *column.ColumnDef, r fval, neg bool) node {
	if !r.ok {
		return constLeaf(d, false, neg)
	}
	return node{kind: kFloat, col: d.Index, flo: r.lo, fhi: r.hi, neg: neg}
}

func typeErr(d *column.ColumnDef, what string, v column.Value) error {
	return fmt.Errorf("cannot compile predicate on column %q: %s column %s %s constant %s: %w",
		d.Name, d.Type, what, v.Type, v, ErrType)
}

// checkConst reports whether v may be compared with column d.
func checkConst(d *column.ColumnDef, what string, v column.Value) error {
	ok := false
	switch d.Type {
	case column.TypeInt, column.TypeFloat:
		ok = v.Type == column.TypeInt || v.Type == column.TypeFloat
	case column.TypeTimestamp:
		ok = v.Type == column.TypeTimestamp
	case column.TypeString:
		ok = v.Type == column.TypeString
	case column.TypeBool:
		ok = v.Type == column.TypeBool
	}
	if !ok {
		return typeErr(d, what, v)
	}
	return nil
}

// cmp compiles "d op v" (op != Ne), negated when neg is set.
func (c *compiler) cmp(d *column.ColumnDef, op Op, v column.Value, neg bool) (node, error) {
	if v.Null() {
		if d.Type == column.TypeStringList {
			return node{}, typeErr(d, "compared with", v)
		}
		return truth(false), nil // unknown, and so is its negation
	}
	if err := checkConst(d, "compared with", v); err != nil {
		return node{}, err
	}
	switch d.Type {
	case column.TypeInt, column.TypeTimestamp:
		return rangeNode(d, intIval(op, v), neg), nil
	case column.TypeFloat:
		return floatNode(d, floatIval(op, v), neg), nil
	case column.TypeBool:
		return boolNode(d, func(x bool) bool { return cmpBool(x, op, v.B) }, neg), nil
	case column.TypeString:
		view := c.view(d)
		if op == Eq {
			code, ok := view.Code(v.S)
			if !ok {
				return constLeaf(d, false, neg), nil
			}
			return node{kind: kRange, col: d.Index, lo: int64(code), hi: int64(code), neg: neg}, nil
		}
		return codeSet(d, view, func(s string) bool { return cmpOrdered(strings.Compare(s, v.S), op, 0) }, neg), nil
	}
	return node{}, typeErr(d, "compared with", v)
}

func cmpBool(x bool, op Op, c bool) bool { return cmpOrdered(b2i(x), op, b2i(c)) }

func cmpOrdered(a int, op Op, b int) bool {
	switch op {
	case Eq:
		return a == b
	case Ne:
		return a != b
	case Lt:
		return a < b
	case Le:
		return a <= b
	case Gt:
		return a > b
	case Ge:
		return a >= b
	}
	return false
}

// between compiles "d BETWEEN lo AND hi" = d >= lo AND d <= hi.
func (c *compiler) between(d *column.ColumnDef, lo, hi column.Value, neg bool) (node, error) {
	if lo.Null() || hi.Null() {
		// unknown AND x is never true; NOT(unknown AND x) = unknown OR NOT x
		// is true exactly where NOT x is.
		for _, v := range []column.Value{lo, hi} {
			if !v.Null() {
				if err := checkConst(d, "between", v); err != nil {
					return node{}, err
				}
			}
		}
		switch {
		case !neg:
			return truth(false), nil
		case !lo.Null():
			return c.cmp(d, Ge, lo, true)
		case !hi.Null():
			return c.cmp(d, Le, hi, true)
		}
		return truth(false), nil
	}
	if err := checkConst(d, "between", lo); err != nil {
		return node{}, err
	}
	if err := checkConst(d, "between", hi); err != nil {
		return node{}, err
	}
	switch d.Type {
	case column.TypeInt, column.TypeTimestamp:
		return rangeNode(d, intIval(Ge, lo).and(intIval(Le, hi)), neg), nil
	case column.TypeFloat:
		return floatNode(d, floatIval(Ge, lo).and(floatIval(Le, hi)), neg), nil
	case column.TypeBool:
		return boolNode(d, func(x bool) bool { return cmpBool(x, Ge, lo.B) && cmpBool(x, Le, hi.B) }, neg), nil
	case column.TypeString:
		return codeSet(d, c.view(d), func(s string) bool { return s >= lo.S && s <= hi.S }, neg), nil
	}
	return node{}, typeErr(d, "between", lo)
}

// in compiles "d IN (vals)": an OR of equalities, or their negated AND. A
// NULL in the list makes NOT IN never true.
func (c *compiler) in(d *column.ColumnDef, vals []Const, neg bool) (node, error) {
	if d.Type == column.TypeStringList {
		return node{}, fmt.Errorf("cannot compile predicate on column %q: IN on a string_list column: %w", d.Name, ErrType)
	}
	var list []column.Value
	hasNull := false
	for _, k := range vals {
		v := c.value(k)
		if v.Null() {
			hasNull = true
			continue
		}
		if err := checkConst(d, "in", v); err != nil {
			return node{}, err
		}
		list = append(list, v)
	}
	if hasNull && neg {
		return truth(false), nil
	}
	switch d.Type {
	case column.TypeString:
		view := c.view(d)
		var codes []uint32
		for _, v := range list {
			if code, ok := view.Code(v.S); ok {
				codes = append(codes, code)
			}
		}
		slices.Sort(codes)
		codes = slices.Compact(codes)
		switch len(codes) {
		case 0:
			return constLeaf(d, false, neg), nil
		case 1:
			return node{kind: kRange, col: d.Index, lo: int64(codes[0]), hi: int64(codes[0]), neg: neg}, nil
		}
		n := node{kind: kCodes, col: d.Index, tab: newCodeTab(view.Len()), neg: neg}
		for _, code := range codes {
			n.tab[code>>6] |= 1 << (code & 63)
		}
		return n, nil
	case column.TypeBool:
		var allow [2]bool
		for _, v := range list {
			allow[b2i(v.B)] = true
		}
		return boolNode(d, func(x bool) bool { return allow[b2i(x)] }, neg), nil
	}
	var kids []node
	var ints []int64
	for _, v := range list {
		if d.Type == column.TypeFloat {
			kids = append(kids, floatNode(d, floatIval(Eq, v), neg))
			continue
		}
		if r := intIval(Eq, v); r.ok {
			ints = append(ints, r.lo)
		}
	}
	// Merge int values into runs so IN (1,2,3) is one range pass.
	slices.Sort(ints)
	ints = slices.Compact(ints)
	for i := 0; i < len(ints); {
		j := i
		for j+1 < len(ints) && ints[j+1] == ints[j]+1 {
			j++
		}
		kids = append(kids, rangeNode(d, ival{ints[i], ints[j], true}, neg))
		i = j + 1
	}
	if len(kids) == 0 {
		return constLeaf(d, false, neg), nil
	}
	if neg {
		return mkAnd(kids), nil
	}
	return mkOr(kids), nil
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

func boolNode(d *column.ColumnDef, ok func(bool) bool, neg bool) node {
	f, t := ok(false) != neg, ok(true) != neg
	switch {
	case f && t:
		return constLeaf(d, true, false)
	case !f && !t:
		return truth(false)
	}
	n := node{kind: kBool, col: d.Index}
	if f {
		n.allowF = ^uint64(0)
	}
	if t {
		n.allowT = ^uint64(0)
	}
	return n
}

// newCodeTab returns a code bitset for a dictionary of n entries, padded so
// the uint8 and uint16 kernels index it without bounds checks.
func newCodeTab(n int) []uint64 {
	w := column.Words(n)
	switch {
	case w <= 4:
		w = 4
	case w <= 1024:
		w = 1024
	}
	return make([]uint64, w)
}

// codeTabNode turns a code bitset into the cheapest node: constant, one
// code, or a set.
func codeTabNode(d *column.ColumnDef, tab []uint64, neg bool) node {
	count, last := 0, 0
	for i, w := range tab {
		if w != 0 {
			count += bits.OnesCount64(w)
			last = i<<6 + 63 - bits.LeadingZeros64(w)
		}
	}
	switch count {
	case 0:
		return constLeaf(d, false, neg)
	case 1:
		return node{kind: kRange, col: d.Index, lo: int64(last), hi: int64(last), neg: neg}
	}
	return node{kind: kCodes, col: d.Index, tab: tab, neg: neg}
}

// codeSet evaluates match over every string of the view once.
func codeSet(d *column.ColumnDef, view column.DictView, match func(string) bool, neg bool) node {
	n := max(view.Len(), 0)
	tab := newCodeTab(n)
	count, last := 0, 0
	for code := 0; code < n; code++ {
		if match(view.Get(uint32(code))) {
			tab[code>>6] |= 1 << (code & 63)
			count++
			last = code
		}
	}
	switch count {
	case 0:
		return constLeaf(d, false, neg)
	case 1:
		return node{kind: kRange, col: d.Index, lo: int64(last), hi: int64(last), neg: neg}
	}
	return node{kind: kCodes, col: d.Index, tab: tab, neg: neg}
}
