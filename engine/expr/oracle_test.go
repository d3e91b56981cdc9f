package expr

import (
	"fmt"
	"math"
	"math/big"
	"math/rand/v2"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/cohortdb/cohort/engine/column"
)

// The oracle evaluates the source Expr row by row with Kleene three-valued
// logic, from decoded values (Vec.Int, Vec.Float, ...) and dictionary
// strings, sharing no code with the compiler or the kernels.

type tv uint8

const (
	tFalse tv = iota
	tTrue
	tNull
)

func tb(b bool) tv {
	if b {
		return tTrue
	}
	return tFalse
}

func tnot(a tv) tv {
	switch a {
	case tTrue:
		return tFalse
	case tFalse:
		return tTrue
	}
	return tNull
}

type oracle struct {
	schema *column.Schema
	now    time.Time
	c      *column.Chunk
	likes  map[string]*regexp.Regexp
}

// cell is one decoded value; null when the row is NULL.
type cell struct {
	null bool
	typ  column.Type
	i    int64
	f    float64
	b    bool
	s    string
	l    []string
}

func (o *oracle) cell(name string, row int) (cell, column.Type) {
	d, _ := o.schema.Lookup(name)
	v := o.c.Col(d.Index)
	if v != nil && row >= v.N {
		return cell{null: true}, d.Type
	}
	x := cell{typ: d.Type}
	var ok bool
	switch d.Type {
	case column.TypeInt, column.TypeTimestamp:
		x.i, ok = v.Int(row)
	case column.TypeFloat:
		x.f, ok = v.Float(row)
	case column.TypeBool:
		x.b, ok = v.Bool(row)
	case column.TypeString:
		var code int64
		code, ok = v.Int(row)
		if ok {
			x.s = d.Dict.View().Get(uint32(code))
		}
	case column.TypeStringList:
		var codes []uint32
		codes, ok = v.List(row)
		for _, c := range codes {
			x.l = append(x.l, d.Dict.View().Get(c))
		}
	}
	x.null = !ok
	return x, d.Type
}

// cmpExact compares a with b: -1, 0, 1, or ±2 when unordered (NaN).
func cmpExact(a cell, b column.Value) int {
	af, bf := a.typ == column.TypeFloat, b.Type == column.TypeFloat
	switch {
	case a.typ == column.TypeString:
		return strings.Compare(a.s, b.S)
	case a.typ == column.TypeBool:
		return b2i(a.b) - b2i(b.B)
	case !af && !bf:
		switch {
		case a.i < b.I:
			return -1
		case a.i > b.I:
			return 1
		}
		return 0
	}
	if af && bf {
		switch {
		case a.f < b.F:
			return -1
		case a.f > b.F:
			return 1
		case a.f == b.F:
			return 0
		}
		return 2
	}
	if af {
		return -cmpIntFloat(b.I, a.f)
	}
	return cmpIntFloat(a.i, b.F)
}

// cmpIntFloat compares i with f exactly (2 when f is NaN), with math/big
// for the rare values where float64(i) is inexact.
func cmpIntFloat(i int64, f float64) int {
	if f != f {
		return 2 // unordered; a caller may negate it to -2
	}
	if x := float64(i); x > -1e15 && x < 1e15 {
		switch {
		case x < f:
			return -1
		case x > f:
			return 1
		}
		return 0
	}
	return new(big.Float).SetInt64(i).Cmp(new(big.Float).SetFloat64(f))
}

func opHolds(c int, op Op) bool {
	if c == 2 || c == -2 {
		return op == Ne
	}
	return cmpOrdered(c, op, 0)
}

func (o *oracle) cmp(name string, row int, op Op, k Const) tv {
	x, _ := o.cell(name, row)
	v := column.Value{}
	if k != nil {
		v = k.resolve(o.now)
	}
	if x.null || v.Null() {
		return tNull
	}
	return tb(opHolds(cmpExact(x, v), op))
}

func likeRegexp(pattern string, fold bool) *regexp.Regexp {
	var b strings.Builder
	b.WriteString("^(?s)")
	if fold {
		b.WriteString("(?i)")
	}
	rs := []rune(pattern)
	for i := 0; i < len(rs); i++ {
		switch r := rs[i]; r {
		case '\\':
			if i+1 < len(rs) {
				i++
				b.WriteString(regexp.QuoteMeta(string(rs[i])))
			} else {
				b.WriteString(`\\`)
			}
		case '%':
			b.WriteString(".*")
		case '_':
			b.WriteString(".")
		default:
			b.WriteString(regexp.QuoteMeta(string(r)))
		}
	}
	b.WriteString("$")
	return regexp.MustCompile(b.String())
}

func (o *oracle) eval(e Expr, row int) tv {
	switch e := e.(type) {
	case Truth:
		return tb(bool(e))
	case Not:
		return tnot(o.eval(e.Arg, row))
	case And:
		r := tTrue
		for _, a := range e {
			switch o.eval(a, row) {
			case tFalse:
				return tFalse
			case tNull:
				r = tNull
			}
		}
		return r
	case Or:
		r := tFalse
		for _, a := range e {
			switch o.eval(a, row) {
			case tTrue:
				return tTrue
			case tNull:
				r = tNull
			}
		}
		return r
	case IsNull:
		x, _ := o.cell(e.Col, row)
		return tb(x.null != e.Not)
	case Cmp:
		return o.cmp(e.Col, row, e.Op, e.Val)
	case Between:
		r := o.eval(And{Cmp{e.Col, Ge, e.Lo}, Cmp{e.Col, Le, e.Hi}}, row)
		if e.Not {
			r = tnot(r)
		}
		return r
	case In:
		r := tFalse
		for _, k := range e.Vals {
			switch o.cmp(e.Col, row, Eq, k) {
			case tTrue:
				r = tTrue
			case tNull:
				if r == tFalse {
					r = tNull
				}
			}
		}
		if x, _ := o.cell(e.Col, row); x.null {
			r = tNull
		}
		if e.Not {
			r = tnot(r)
		}
		return r
	case Like:
		x, _ := o.cell(e.Col, row)
		if x.null {
			return tNull
		}
		key := fmt.Sprint(e.Fold, e.Pattern)
		re := o.likes[key]
		if re == nil {
			if o.likes == nil {
				o.likes = map[string]*regexp.Regexp{}
			}
			re = likeRegexp(e.Pattern, e.Fold)
			o.likes[key] = re
		}
		r := tb(re.MatchString(x.s))
		if e.Not {
			r = tnot(r)
		}
		return r
	case Contains:
		x, _ := o.cell(e.Col, row)
		v := column.Value{}
		if e.Val != nil {
			v = e.Val.resolve(o.now)
		}
		if x.null || v.Null() {
			return tNull
		}
		for _, s := range x.l {
			if s == v.S {
				return tTrue
			}
		}
		return tFalse
	case InBitmap:
		x, _ := o.cell(e.Col, row)
		if x.null {
			return tNull
		}
		return tb(x.i >= 0 && x.i < int64(len(e.Bits))*64 && e.Bits.Get(int(x.i)))
	}
	panic("oracle: unknown expression")
}

// want returns the oracle's selection of c.
func (o *oracle) want(e Expr) column.Bitmap {
	out := column.NewBitmap(o.c.Rows)
	for r := 0; r < o.c.Rows; r++ {
		if o.c.Del != nil && o.c.Del.Get(r) {
			continue
		}
		if o.eval(e, r) == tTrue {
			out.Set(r)
		}
	}
	return out
}

// gen draws random decisions from a PRNG, or from fuzz bytes first.
type gen struct {
	data []byte
	r    *rand.Rand
}

func newGen(seed uint64) *gen { return &gen{r: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))} }

func newByteGen(data []byte) *gen {
	var h uint64 = 14695981039346656037
	for _, b := range data {
		h = (h ^ uint64(b)) * 1099511628211
	}
	return &gen{data: data, r: rand.New(rand.NewPCG(h, uint64(len(data))))}
}

func (g *gen) intn(n int) int {
	if n <= 1 {
		return 0
	}
	if len(g.data) > 0 && n <= 256 {
		b := g.data[0]
		g.data = g.data[1:]
		return int(b) % n
	}
	return g.r.IntN(n)
}

func (g *gen) u64() uint64    { return g.r.Uint64() }
func (g *gen) coin() bool     { return g.intn(2) == 0 }
func (g *gen) pick(n int) int { return g.intn(n) }

var vocab = []string{"Apple", "apple", "APPLE", "banana", "Banana split", "ban%ana", "a_b", "ab", "",
	"école", "ÉCOLE", `x\y`, "es", "ES", "fr", "pineapple", "grape", "aPpLe pie"}

// absent strings are never interned.
var absent = []string{"kiwi", "Kiwi", "zz"}

// testTable is a schema with one column of each type plus a column absent
// from every chunk and one NULL everywhere.
type testTable struct {
	schema *column.Schema
	chunks []*column.Chunk
}

const (
	cInt = iota
	cFloat
	cBool
	cTS
	cStr
	cList
	cAbsent
	cAllNull
	cPerson
	nCols
)

var colNames = [nCols]string{"i", "f", "b", "ts", "s", "sl", "absent", "allnull", "pid"}
var colTypes = [nCols]column.Type{column.TypeInt, column.TypeFloat, column.TypeBool, column.TypeTimestamp,
	column.TypeString, column.TypeStringList, column.TypeInt, column.TypeFloat, column.TypeInt}

func newSchema() *column.Schema {
	var defs []column.ColumnDef
	for i := range nCols {
		defs = append(defs, column.ColumnDef{Name: colNames[i], Type: colTypes[i]})
	}
	s := column.NewSchema(defs...)
	for _, w := range vocab[:len(vocab)-2] { // the last two are interned lazily by chunks
		s.Cols[cStr].Dict.Intern(w)
		s.Cols[cList].Dict.Intern(w)
	}
	return s
}

// intDomain returns a random generator of int values for one chunk, so
// chunks narrow to different widths, scales and bases.
func (g *gen) intDomain() func() int64 {
	switch g.pick(7) {
	case 0:
		base := int64(g.pick(200)) - 100
		return func() int64 { return base + int64(g.pick(50)) }
	case 1:
		base := int64(g.u64() >> 2)
		return func() int64 { return base + int64(g.pick(60000)) }
	case 2:
		return func() int64 { return int64(g.u64() >> 33) }
	case 3:
		return func() int64 { return int64(g.u64()) }
	case 4:
		edge := []int64{math.MinInt64, math.MinInt64 + 1, -1, 0, 1, math.MaxInt64 - 1, math.MaxInt64}
		return func() int64 { return edge[g.pick(len(edge))] }
	case 5:
		return func() int64 { return int64(g.pick(21)-10) * 10 } // scale 10
	}
	return func() int64 { return int64(g.pick(40)) - 5 } // pids around a small bitmap
}

var floatEdges = []float64{math.NaN(), math.Inf(1), math.Inf(-1), 0, math.Copysign(0, -1), 1, -1, 20.5, 100, 1e300, 9007199254740993, -9.223372036854775808e18}

func (g *gen) floatVal() float64 {
	switch g.pick(4) {
	case 0:
		return floatEdges[g.pick(len(floatEdges))]
	case 1:
		return float64(g.pick(41) - 20)
	}
	return (g.r.Float64() - 0.5) * 200
}

// chunk builds one random chunk with column.Builder, sealed or as a tail view.
func (g *gen) chunk(s *column.Schema, slot int) *column.Chunk {
	var rows int
	switch g.pick(8) {
	case 0:
		rows = 0
	case 1:
		rows = 64 * (1 + g.pick(4))
		if g.pick(16) == 0 {
			rows = column.ChunkRows
		}
	case 2:
		rows = 64 * (1 + g.pick(4))
	case 3:
		rows = 1 + g.pick(5)
	default:
		rows = 1 + g.pick(700)
	}
	seal := g.coin()
	c := &column.Chunk{Slot: slot, Rows: rows, Cols: make([]*column.Vec, nCols)}
	for ci := range nCols {
		if ci == cAbsent {
			continue
		}
		b := column.NewBuilder(colTypes[ci])
		nullPct := []int{0, 0, 10, 50, 90, 97, 100}[g.pick(7)]
		if ci == cAllNull {
			nullPct = 100
		}
		ints := g.intDomain()
		tsBase := int64(1_700_000_000_000_000) + int64(g.pick(100))*3_600_000_000
		dict := s.Cols[ci].Dict
		if seal && g.pick(3) == 0 && column.IntLike(colTypes[ci]) {
			// Sorted, NULLs first: how a clustered chunk's column (or a
			// monotonic one) looks, which has its own range kernel.
			var vals []int64
			for r := 0; r < rows; r++ {
				switch {
				case nullPct > 0 && g.pick(100) < nullPct:
					b.AppendNull()
				case colTypes[ci] == column.TypeInt:
					vals = append(vals, ints())
				case colTypes[ci] == column.TypeTimestamp:
					vals = append(vals, tsBase+int64(g.pick(1000))*1_000_000*int64(1+g.pick(3)))
				default:
					vals = append(vals, int64(dict.Intern(vocab[g.pick(len(vocab))])))
				}
			}
			slices.Sort(vals)
			for _, x := range vals {
				if colTypes[ci] == column.TypeString {
					b.AppendCode(uint32(x))
				} else {
					b.AppendInt(x)
				}
			}
			c.Cols[ci] = b.Seal(rows)
			continue
		}
		for r := 0; r < rows; r++ {
			if nullPct > 0 && g.pick(100) < nullPct {
				b.AppendNull()
				continue
			}
			switch colTypes[ci] {
			case column.TypeInt:
				b.AppendInt(ints())
			case column.TypeFloat:
				b.AppendFloat(g.floatVal())
			case column.TypeBool:
				b.AppendBool(g.coin())
			case column.TypeTimestamp:
				b.AppendInt(tsBase + int64(g.pick(1000))*1_000_000*int64(1+g.pick(3)))
			case column.TypeString:
				b.AppendCode(dict.Intern(vocab[g.pick(len(vocab))]))
			case column.TypeStringList:
				var l []uint32
				for k := g.pick(4); k > 0; k-- {
					l = append(l, dict.Intern(vocab[g.pick(len(vocab))]))
				}
				b.AppendList(l)
			}
		}
		if seal {
			c.Cols[ci] = b.Seal(rows)
		} else {
			c.Cols[ci] = b.View(rows)
		}
	}
	if rows > 0 && g.pick(3) == 0 {
		c.Del = column.NewBitmap(rows)
		pct := []int{5, 50, 95}[g.pick(3)]
		for r := 0; r < rows; r++ {
			if g.pick(100) < pct {
				c.Del.Set(r)
				c.Dead++
			}
		}
	}
	return c
}

func (g *gen) table(nChunks int) *testTable {
	t := &testTable{schema: newSchema()}
	for i := 0; i < nChunks; i++ {
		t.chunks = append(t.chunks, g.chunk(t.schema, i))
	}
	return t
}

var testNow = time.Date(2023, 11, 14, 22, 13, 20, 0, time.UTC) // 1.7e15 µs

// constFor returns a random constant usable with a column of type t
// (sometimes NULL, sometimes the other numeric type).
func (g *gen) constFor(t column.Type) Const {
	if g.pick(25) == 0 {
		return Lit{}
	}
	switch t {
	case column.TypeInt:
		if g.pick(4) == 0 {
			return Lit(column.Float(g.floatVal()))
		}
		return Lit(column.Int(g.intDomain()()))
	case column.TypeFloat:
		if g.pick(3) == 0 {
			return Lit(column.Int(g.intDomain()()))
		}
		return Lit(column.Float(g.floatVal()))
	case column.TypeBool:
		return Lit(column.Bool(g.coin()))
	case column.TypeTimestamp:
		switch g.pick(3) {
		case 0:
			return Ago(time.Duration(g.pick(200)) * time.Hour)
		case 1:
			return TimeOffset{At: time.UnixMicro(1_700_000_000_000_000), Offset: time.Duration(g.pick(1000)) * time.Second}
		}
		return Lit(column.Micros(int64(g.u64())))
	case column.TypeString, column.TypeStringList:
		if g.pick(8) == 0 {
			return Lit(column.String(absent[g.pick(len(absent))]))
		}
		return Lit(column.String(vocab[g.pick(len(vocab))]))
	}
	return Lit{}
}

var likePatterns = []string{"%", "app%", "%le", "%an%", "apple", "a_b", `a\_b`, "_pple", "%p%e%", `ban\%ana`, `x\\y`,
	"", "__", "%_", "éco%", "%é%", `trail\`, "A%E", "%Split"}

// expr returns a random predicate of depth at most depth.
func (g *gen) expr(depth int) Expr {
	if depth > 0 && g.pick(3) == 0 {
		n := g.pick(4)
		args := make([]Expr, n)
		for i := range args {
			args[i] = g.expr(depth - 1)
		}
		switch g.pick(3) {
		case 0:
			return And(args)
		case 1:
			return Or(args)
		}
		return Not{Arg: g.expr(depth - 1)}
	}
	ci := g.pick(nCols)
	name, t := colNames[ci], colTypes[ci]
	switch g.pick(12) {
	case 0:
		return IsNull{Col: name, Not: g.coin()}
	case 1:
		return Truth(g.coin())
	case 2:
		if t == column.TypeString {
			return Like{Col: name, Pattern: likePatterns[g.pick(len(likePatterns))], Fold: g.coin(), Not: g.coin()}
		}
	case 3:
		if t == column.TypeStringList {
			return Contains{Col: name, Val: g.constFor(t)}
		}
		if t == column.TypeInt {
			bits := column.NewBitmap(g.pick(3) * 16)
			for i := range len(bits) * 64 {
				if g.coin() {
					bits.Set(i)
				}
			}
			return InBitmap{Col: name, Bits: bits}
		}
	case 4, 5:
		if t != column.TypeStringList {
			vals := make([]Const, g.pick(5))
			for i := range vals {
				vals[i] = g.constFor(t)
			}
			return In{Col: name, Vals: vals, Not: g.coin()}
		}
	case 6:
		if t != column.TypeStringList {
			return Between{Col: name, Lo: g.constFor(t), Hi: g.constFor(t), Not: g.coin()}
		}
	}
	if t == column.TypeStringList {
		return Contains{Col: name, Val: g.constFor(t)}
	}
	return Cmp{Col: name, Op: Op(g.pick(6)), Val: g.constFor(t)}
}
