package expr

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/cohortdb/cohort/engine/column"
)

// check evaluates e over every chunk of t and compares with the oracle. A
// sentinel word past the chunk's words must survive untouched.
func check(t *testing.T, tt *testTable, e Expr, s *Scratch) {
	t.Helper()
	p, err := Compile(e, tt.schema, testNow)
	if err != nil {
		t.Fatalf("compile %s: %v", e, err)
	}
	o := &oracle{schema: tt.schema, now: testNow}
	for _, c := range tt.chunks {
		nw := column.Words(c.Rows)
		out := make(column.Bitmap, nw+1)
		for i := range out {
			out[i] = 0xdeadbeefdeadbeef
		}
		p.Eval(c, out, s)
		if out[nw] != 0xdeadbeefdeadbeef {
			t.Fatalf("%s: Eval wrote past the chunk's words", e)
		}
		o.c = c
		want := o.want(e)
		for w := 0; w < nw; w++ {
			if out[w] != want[w] {
				row := w*64 + firstDiff(out[w], want[w])
				t.Fatalf("%s\nchunk slot %d rows %d dead %d: word %d got %016x want %016x\nfirst differing row %d: %s",
					e, c.Slot, c.Rows, c.Dead, w, out[w], want[w], row, describeRow(tt, c, row))
			}
		}
	}
}

func firstDiff(a, b uint64) int {
	x := a ^ b
	for i := 0; i < 64; i++ {
		if x&(1<<i) != 0 {
			return i
		}
	}
	return 0
}

func describeRow(tt *testTable, c *column.Chunk, row int) string {
	var b strings.Builder
	o := &oracle{schema: tt.schema, c: c}
	for i, n := range colNames {
		x, _ := o.cell(n, row)
		v := c.Col(i)
		enc := "nil"
		if v != nil {
			enc = fmt.Sprintf("w%d sparse=%v valid=%v base=%d scale=%d min=%d max=%d minf=%g maxf=%g",
				v.Width, v.Sparse(), v.Valid != nil, v.Base, v.Scale, v.MinI, v.MaxI, v.MinF, v.MaxF)
		}
		fmt.Fprintf(&b, "\n  %s=%+v [%s]", n, x, enc)
	}
	if c.Del != nil {
		fmt.Fprintf(&b, "\n  deleted=%v", c.Del.Get(row))
	}
	return b.String()
}

func TestRandomAgainstOracle(t *testing.T) {
	iters := 150
	if testing.Short() {
		iters = 30
	}
	for seed := range iters {
		g := newGen(uint64(seed))
		tt := g.table(1 + g.pick(4))
		s := NewScratch()
		for range 12 {
			check(t, tt, g.expr(3), s)
		}
	}
}

func TestEdgeConstants(t *testing.T) {
	g := newGen(42)
	tt := g.table(8)
	s := NewScratch()
	ints := []Const{Lit(column.Int(math.MinInt64)), Lit(column.Int(math.MaxInt64)), Lit(column.Int(math.MinInt64 + 1)),
		Lit(column.Int(math.MaxInt64 - 1)), Lit(column.Int(0)), Lit(column.Int(-1)),
		Lit(column.Float(math.Inf(1))), Lit(column.Float(math.Inf(-1))), Lit(column.Float(math.NaN())),
		Lit(column.Float(9.223372036854775807e18)), Lit(column.Float(-9.223372036854775808e18)), Lit(column.Float(20.5)),
		Lit(column.Int(9007199254740993)), Lit(column.Float(math.Copysign(0, -1))), Lit{}}
	for _, col := range []string{"i", "f", "pid", "absent", "allnull"} {
		for op := Eq; op <= Ge; op++ {
			for _, k := range ints {
				check(t, tt, Cmp{Col: col, Op: op, Val: k}, s)
				check(t, tt, Not{Cmp{Col: col, Op: op, Val: k}}, s)
			}
		}
		for _, lo := range ints {
			for _, hi := range ints {
				check(t, tt, Between{Col: col, Lo: lo, Hi: hi}, s)
				check(t, tt, Between{Col: col, Lo: lo, Hi: hi, Not: true}, s)
			}
		}
		check(t, tt, In{Col: col, Vals: ints}, s)
		check(t, tt, In{Col: col, Vals: ints[:6], Not: true}, s)
		check(t, tt, In{Col: col, Vals: ints, Not: true}, s) // has NULL: never true
	}
	for _, k := range []Const{Lit(column.Micros(math.MinInt64)), Lit(column.Micros(math.MaxInt64)), Ago(0), Ago(time.Hour)} {
		for op := Eq; op <= Ge; op++ {
			check(t, tt, Cmp{Col: "ts", Op: op, Val: k}, s)
		}
	}
	for _, p := range likePatterns {
		for _, fold := range []bool{false, true} {
			check(t, tt, Like{Col: "s", Pattern: p, Fold: fold}, s)
			check(t, tt, Like{Col: "s", Pattern: p, Fold: fold, Not: true}, s)
		}
	}
}

// TestFullChunk covers a sealed dense chunk of exactly ChunkRows rows and a
// wide tail chunk of the same size, for selective ANDs that switch to
// refine mode.
func TestFullChunk(t *testing.T) {
	s := newSchema()
	for _, seal := range []bool{true, false} {
		b := []*column.Builder{column.NewBuilder(column.TypeInt), column.NewBuilder(column.TypeFloat), column.NewBuilder(column.TypeString)}
		g := newGen(7)
		for r := 0; r < column.ChunkRows; r++ {
			b[0].AppendInt(int64(r % 1000))
			if r%7 == 0 {
				b[1].AppendNull()
			} else {
				b[1].AppendFloat(float64(r%300) + 0.5)
			}
			b[2].AppendCode(s.Cols[cStr].Dict.Intern(vocab[g.pick(len(vocab))]))
		}
		c := &column.Chunk{Rows: column.ChunkRows, Cols: make([]*column.Vec, nCols)}
		for i, ci := range []int{cInt, cFloat, cStr} {
			if seal {
				c.Cols[ci] = b[i].Seal(column.ChunkRows)
			} else {
				c.Cols[ci] = b[i].View(column.ChunkRows)
			}
		}
		tt := &testTable{schema: s, chunks: []*column.Chunk{c}}
		sc := NewScratch()
		check(t, tt, And{Cmp{"i", Eq, Lit(column.Int(5))}, Cmp{"f", Gt, Lit(column.Int(3))}, Like{Col: "s", Pattern: "%an%"}}, sc)
		check(t, tt, And{Cmp{"i", Lt, Lit(column.Int(30))}, Or{Cmp{"f", Gt, Lit(column.Float(100))}, Cmp{"s", Eq, Lit(column.String("es"))}}}, sc)
		check(t, tt, And{Cmp{"i", Lt, Lit(column.Int(30))}, Not{In{Col: "s", Vals: []Const{Lit(column.String("es")), Lit(column.String("ab"))}}}}, sc)
		check(t, tt, Or{Cmp{"i", Ge, Lit(column.Int(990))}, IsNull{Col: "f"}}, sc)
	}
}

func TestEmptyChunk(t *testing.T) {
	tt := &testTable{schema: newSchema(), chunks: []*column.Chunk{{Rows: 0}, {Rows: 3}}}
	s := NewScratch()
	for _, e := range []Expr{True, False, IsNull{Col: "i"}, Cmp{"i", Ne, Lit(column.Int(1))}, Not{IsNull{Col: "s"}}} {
		check(t, tt, e, s)
	}
}

func TestCompileErrors(t *testing.T) {
	s := newSchema()
	cases := []struct {
		e    Expr
		want string
		is   error
	}{
		{Cmp{"nope", Eq, Lit(column.Int(1))}, `column "nope"`, ErrUnknownColumn},
		{Cmp{"i", Eq, Lit(column.String("x"))}, `column "i": int column compared with string constant`, ErrType},
		{Cmp{"ts", Gt, Lit(column.Float(1))}, `column "ts": timestamp column compared with float constant`, ErrType},
		{Like{Col: "i", Pattern: "x%"}, `column "i"`, ErrType},
		{Contains{Col: "s", Val: Lit(column.String("x"))}, `column "s"`, ErrType},
		{InBitmap{Col: "f"}, `column "f"`, ErrType},
		{In{Col: "b", Vals: []Const{Lit(column.Int(1))}}, `column "b"`, ErrType},
		{And{True, Not{Or{Cmp{"s", Lt, Lit(column.Int(3))}}}}, `column "s": string column compared with int constant`, ErrType},
	}
	for _, tc := range cases {
		_, err := Compile(tc.e, s, testNow)
		if err == nil || !strings.Contains(err.Error(), tc.want) || !errors.Is(err, tc.is) {
			t.Errorf("Compile(%s) = %v, want error containing %q wrapping %v", tc.e, err, tc.want, tc.is)
		}
	}
}

func TestColumns(t *testing.T) {
	p, err := Compile(And{Cmp{"s", Eq, Lit(column.String("es"))}, Not{IsNull{Col: "i"}}, Or{True, Cmp{"f", Gt, Lit(column.Int(1))}}}, newSchema(), testNow)
	if err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(p.Columns()); got != "[0 1 4]" {
		t.Fatalf("Columns() = %s", got)
	}
}

// TestNormalForm checks NOT is pushed to the leaves and constants fold.
func TestNormalForm(t *testing.T) {
	s := newSchema()
	p, err := Compile(Not{And{Cmp{"i", Gt, Lit(column.Int(5))}, Or{False, IsNull{Col: "f"}}}}, s, testNow)
	if err != nil {
		t.Fatal(err)
	}
	r := p.root
	if r.kind != kOr || len(r.kids) != 2 {
		t.Fatalf("root = %+v, want OR of two leaves", r)
	}
	for _, k := range r.kids {
		switch k.kind {
		case kNull:
			if !k.neg {
				t.Errorf("NOT IS NULL compiled to %+v", k)
			}
		case kRange:
			if !k.neg || k.lo != 6 {
				t.Errorf("NOT i > 5 compiled to %+v", k)
			}
		default:
			t.Errorf("unexpected kid %+v", k)
		}
	}
	// A NULL in NOT IN makes it never true.
	p, _ = Compile(In{Col: "i", Vals: []Const{Lit(column.Int(1)), Lit{}}, Not: true}, s, testNow)
	if p.root.kind != kFalse {
		t.Errorf("NOT IN (1, NULL) = %+v, want FALSE", p.root)
	}
	// age > 20.5 is age >= 21.
	p, _ = Compile(Cmp{"i", Gt, Lit(column.Float(20.5))}, s, testNow)
	if p.root.kind != kRange || p.root.lo != 21 || p.root.hi != math.MaxInt64 {
		t.Errorf("i > 20.5 = %+v", p.root)
	}
}

// TestDictionaryGrowth: codes added after compile never satisfy a positive
// string predicate, and = / IN with known constants stay exact.
func TestDictionaryGrowth(t *testing.T) {
	s := newSchema()
	d := s.Cols[cStr].Dict
	eq, _ := Compile(Cmp{"s", Ne, Lit(column.String("es"))}, s, testNow)
	like, _ := Compile(Like{Col: "s", Pattern: "new%"}, s, testNow)
	b := column.NewBuilder(column.TypeString)
	b.AppendCode(d.Intern("es"))
	b.AppendCode(d.Intern("new-string")) // past the programs' snapshot
	c := &column.Chunk{Rows: 2, Cols: []*column.Vec{cStr: b.Seal(2)}}
	out := column.NewBitmap(2)
	eq.Eval(c, out, NewScratch())
	if out[0] != 0b10 {
		t.Errorf("s != 'es' = %b, want 10", out[0])
	}
	like.Eval(c, out, NewScratch())
	if out[0] != 0 {
		t.Errorf("s LIKE 'new%%' on a newer code = %b, want 0 (bound to snapshot)", out[0])
	}
}

func TestEvalAllocs(t *testing.T) {
	g := newGen(3)
	tt := g.table(6)
	p, err := Compile(And{
		Cmp{"s", Eq, Lit(column.String("es"))},
		Or{Cmp{"i", Gt, Lit(column.Int(3))}, Like{Col: "s", Pattern: "%an%", Fold: true}},
		Not{Between{Col: "f", Lo: Lit(column.Float(-1)), Hi: Lit(column.Float(50))}},
		Contains{Col: "sl", Val: Lit(column.String("apple"))},
		InBitmap{Col: "pid", Bits: column.NewBitmap(100)},
		Not{IsNull{Col: "b"}},
	}, tt.schema, testNow)
	if err != nil {
		t.Fatal(err)
	}
	s := NewScratch()
	out := column.NewBitmap(column.ChunkRows)
	run := func() {
		for _, c := range tt.chunks {
			p.Eval(c, out, s)
		}
	}
	run()
	if n := testing.AllocsPerRun(20, run); n != 0 {
		t.Fatalf("Eval allocates %v times per run after warm-up", n)
	}
}

// TestConcurrentEval runs one Program on many goroutines (go test -race).
func TestConcurrentEval(t *testing.T) {
	g := newGen(9)
	tt := g.table(4)
	e := And{Cmp{"i", Ge, Lit(column.Int(0))}, Like{Col: "s", Pattern: "%p%"}}
	p, err := Compile(e, tt.schema, testNow)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan column.Bitmap, 4)
	for range 4 {
		go func() {
			s := NewScratch()
			var all column.Bitmap
			for _, c := range tt.chunks {
				out := column.NewBitmap(c.Rows)
				p.Eval(c, out, s)
				all = append(all, out...)
			}
			done <- all
		}()
	}
	first := <-done
	for range 3 {
		if got := <-done; fmt.Sprint(got) != fmt.Sprint(first) {
			t.Fatal("concurrent Evals disagree")
		}
	}
}

func TestLikeParse(t *testing.T) {
	cases := []struct {
		pat  string
		kind likeKind
		lit  string
	}{
		{"abc", likeExact, "abc"}, {"abc%", likePrefix, "abc"}, {"%abc", likeSuffix, "abc"},
		{"%%abc%%", likeContains, "abc"}, {"%", likeAny, ""}, {"a_c", likeGeneral, ""},
		{`a\%c`, likeExact, "a%c"}, {`a\_c%`, likePrefix, "a_c"}, {`ab\`, likeExact, `ab\`},
	}
	for _, tc := range cases {
		p := parseLike(tc.pat, false)
		if p.kind != tc.kind || (tc.kind != likeGeneral && p.lit != tc.lit) {
			t.Errorf("parseLike(%q) = kind %d lit %q, want %d %q", tc.pat, p.kind, p.lit, tc.kind, tc.lit)
		}
	}
}
