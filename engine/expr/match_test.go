package expr

import (
	"math"
	"slices"
	"testing"
	"time"

	"github.com/cohortdb/cohort/engine/column"
)

// checkMatch compiles e over tt and checks, chunk by chunk, that Match
// agrees with the Eval bit of every row, that rows outside the chunk are
// never selected, and that EvalWithin over random candidates (a single row
// and random subsets of varying density) keeps exactly the candidates Match
// selects.
func checkMatch(t *testing.T, g *gen, tt *testTable, e Expr, s *Scratch) {
	t.Helper()
	p, err := Compile(e, tt.schema, testNow)
	if err != nil {
		t.Fatalf("compile %s: %v", e, err)
	}
	for _, c := range tt.chunks {
		out := column.NewBitmap(c.Rows)
		p.Eval(c, out, s)
		for row := 0; row < c.Rows; row++ {
			if got, want := p.Match(c, row), out.Get(row); got != want {
				t.Fatalf("%s\nchunk slot %d rows %d dead %d: Match(row %d) = %v, Eval bit %v: %s",
					e, c.Slot, c.Rows, c.Dead, row, got, want, describeRow(tt, c, row))
			}
		}
		for _, row := range []int{-1, c.Rows, c.Rows + 1, math.MinInt, math.MaxInt} {
			if p.Match(c, row) {
				t.Fatalf("%s: Match(row %d) of a %d-row chunk = true", e, row, c.Rows)
			}
		}
		if c.Rows == 0 {
			continue
		}
		// One candidate: EvalWithin refines it exactly as Match decides.
		cand := column.NewBitmap(c.Rows)
		for range 4 {
			row := g.pick(c.Rows)
			clear(cand)
			cand.Set(row)
			p.EvalWithin(c, cand, s)
			want := column.NewBitmap(c.Rows)
			if p.Match(c, row) {
				want.Set(row)
			}
			if !slices.Equal(cand, want) {
				t.Fatalf("%s\nchunk slot %d rows %d: EvalWithin({%d}) = %v, Match %v: %s",
					e, c.Slot, c.Rows, row, cand.Get(row), want.Get(row), describeRow(tt, c, row))
			}
		}
		// A random candidate set, sparse (refine mode) or dense.
		pct := []int{1, 5, 50, 100}[g.pick(4)]
		for r := 0; r < c.Rows; r++ {
			if g.r.IntN(100) < pct {
				cand.Set(r)
			} else {
				cand.Clear(r)
			}
		}
		orig := cand.Clone(c.Rows)
		p.EvalWithin(c, cand, s)
		for row := 0; row < c.Rows; row++ {
			if want := orig.Get(row) && p.Match(c, row); cand.Get(row) != want {
				t.Fatalf("%s\nchunk slot %d rows %d (candidates %d%%): EvalWithin bit of row %d = %v, candidate && Match = %v: %s",
					e, c.Slot, c.Rows, pct, row, cand.Get(row), want, describeRow(tt, c, row))
			}
		}
	}
}

// shorten adds variants of some chunks of tt whose vectors do not cover
// exactly c.Rows rows: a column re-sealed (or viewed) over a prefix, as a
// tail chunk published before a column caught up, and a chunk whose Rows is
// below its vectors' N.
func shorten(g *gen, tt *testTable) {
	for _, c := range tt.chunks {
		if c.Rows < 2 || g.pick(2) == 0 {
			continue
		}
		short := &column.Chunk{Slot: c.Slot + 100, Rows: c.Rows, Cols: make([]*column.Vec, len(c.Cols)), Del: c.Del, Dead: c.Dead}
		for ci, v := range c.Cols {
			if v == nil || g.pick(2) == 0 {
				short.Cols[ci] = v
				continue
			}
			k := g.pick(c.Rows)
			b := column.NewBuilder(v.Type)
			for r := 0; r < k; r++ {
				b.AppendFrom(v, r)
			}
			if g.coin() {
				short.Cols[ci] = b.Seal(k)
			} else {
				short.Cols[ci] = b.View(k)
			}
		}
		tt.chunks = append(tt.chunks, short)
		cut := *c
		cut.Slot += 200
		cut.Rows = 1 + g.pick(c.Rows-1)
		cut.Del, cut.Dead = nil, 0
		tt.chunks = append(tt.chunks, &cut)
	}
}

// TestMatchAgainstEval is the differential test of Match: random predicates
// over random chunks (sealed and tail, dense, sparse, null-heavy, narrowed
// to every width, deleted rows, short vectors).
func TestMatchAgainstEval(t *testing.T) {
	iters := 200
	if testing.Short() {
		iters = 40
	}
	for seed := range iters {
		g := newGen(uint64(seed) + 1<<32)
		tt := g.table(1 + g.pick(4))
		shorten(g, tt)
		s := NewScratch()
		for range 12 {
			checkMatch(t, g, tt, g.expr(3), s)
		}
	}
}

// TestMatchEdges runs the edge constants of TestEdgeConstants through Match:
// ±Inf, NaN, int64 extremes, mixed int/float comparisons, NULL constants,
// every LIKE pattern, string_list and bitmap predicates.
func TestMatchEdges(t *testing.T) {
	g := newGen(4242)
	tt := g.table(8)
	shorten(g, tt)
	s := NewScratch()
	ks := []Const{Lit(column.Int(math.MinInt64)), Lit(column.Int(math.MaxInt64)), Lit(column.Int(0)), Lit(column.Int(-1)),
		Lit(column.Float(math.Inf(1))), Lit(column.Float(math.Inf(-1))), Lit(column.Float(math.NaN())),
		Lit(column.Float(-9.223372036854775808e18)), Lit(column.Float(20.5)), Lit(column.Int(9007199254740993)),
		Lit(column.Float(math.Copysign(0, -1))), Lit{}}
	for _, col := range []string{"i", "f", "pid", "absent", "allnull"} {
		for op := Eq; op <= Ge; op++ {
			for _, k := range ks {
				checkMatch(t, g, tt, Cmp{Col: col, Op: op, Val: k}, s)
				checkMatch(t, g, tt, Not{Cmp{Col: col, Op: op, Val: k}}, s)
			}
		}
		for _, lo := range ks[:8] {
			checkMatch(t, g, tt, Between{Col: col, Lo: lo, Hi: Lit(column.Float(100))}, s)
			checkMatch(t, g, tt, Between{Col: col, Lo: lo, Hi: Lit(column.Int(100)), Not: true}, s)
		}
		checkMatch(t, g, tt, In{Col: col, Vals: ks}, s)
		checkMatch(t, g, tt, In{Col: col, Vals: ks[:6], Not: true}, s)
		checkMatch(t, g, tt, IsNull{Col: col}, s)
		checkMatch(t, g, tt, IsNull{Col: col, Not: true}, s)
	}
	for _, k := range []Const{Lit(column.Micros(math.MinInt64)), Ago(0), Ago(48 * time.Hour)} {
		for op := Eq; op <= Ge; op++ {
			checkMatch(t, g, tt, Cmp{Col: "ts", Op: op, Val: k}, s)
		}
	}
	for _, p := range likePatterns {
		for _, fold := range []bool{false, true} {
			checkMatch(t, g, tt, Like{Col: "s", Pattern: p, Fold: fold}, s)
			checkMatch(t, g, tt, Like{Col: "s", Pattern: p, Fold: fold, Not: true}, s)
		}
	}
	for _, w := range append(vocab[:4:4], absent[0]) {
		checkMatch(t, g, tt, Contains{Col: "sl", Val: Lit(column.String(w))}, s)
		checkMatch(t, g, tt, Not{Contains{Col: "sl", Val: Lit(column.String(w))}}, s)
		checkMatch(t, g, tt, In{Col: "s", Vals: []Const{Lit(column.String(w)), Lit(column.String("es"))}, Not: true}, s)
	}
	for _, v := range []bool{false, true} {
		checkMatch(t, g, tt, Cmp{Col: "b", Op: Ne, Val: Lit(column.Bool(v))}, s)
		checkMatch(t, g, tt, Cmp{Col: "b", Op: Ge, Val: Lit(column.Bool(v))}, s)
	}
	bits := column.NewBitmap(64)
	for i := 0; i < 64; i += 3 {
		bits.Set(i)
	}
	checkMatch(t, g, tt, InBitmap{Col: "pid", Bits: bits}, s)
	checkMatch(t, g, tt, Not{InBitmap{Col: "pid", Bits: bits}}, s)
	checkMatch(t, g, tt, InBitmap{Col: "pid", Bits: nil}, s)
	checkMatch(t, g, tt, Truth(true), s)
	checkMatch(t, g, tt, Truth(false), s)
}

// TestMatchWidths pins every FOR width, dense and sparse, with and without
// Valid bitmaps, including a scale that is negative as int64.
func TestMatchWidths(t *testing.T) {
	schema := newSchema()
	g := newGen(77)
	s := NewScratch()
	domains := [][]int64{
		{-3, 7, 250},                      // 8 bits
		{-1000, 5, 60000},                 // 16 bits
		{0, 1 << 20, 1 << 31},             // 32 bits
		{math.MinInt64, 0, math.MaxInt64}, // 64 bits
		{math.MinInt64, 0, 1 << 62},       // scale 2^62
		{math.MinInt64, 0},                // scale 2^63: negative as int64
		{-20, 0, 40, 100},                 // scale 20
		{1_700_000_000_000_000, 1_700_000_000_000_000 + 86_400_000_000},
	}
	for _, dom := range domains {
		for _, nullPct := range []int{0, 30, 95} {
			for _, seal := range []bool{true, false} {
				const rows = 500
				b := column.NewBuilder(column.TypeInt)
				for r := 0; r < rows; r++ {
					if g.pick(100) < nullPct {
						b.AppendNull()
					} else {
						b.AppendInt(dom[g.pick(len(dom))])
					}
				}
				c := &column.Chunk{Rows: rows, Cols: make([]*column.Vec, nCols)}
				if seal {
					c.Cols[cInt] = b.Seal(rows)
				} else {
					c.Cols[cInt] = b.View(rows)
				}
				tt := &testTable{schema: schema, chunks: []*column.Chunk{c}}
				for _, x := range dom {
					for _, d := range []int64{-1, 0, 1} {
						k := Lit(column.Int(x + d))
						for op := Eq; op <= Ge; op++ {
							checkMatch(t, g, tt, Cmp{Col: "i", Op: op, Val: k}, s)
						}
					}
				}
				checkMatch(t, g, tt, In{Col: "i", Vals: []Const{Lit(column.Int(dom[0])), Lit(column.Int(dom[len(dom)-1]))}}, s)
			}
		}
	}
}

// TestMatchAllocs: Match never allocates.
func TestMatchAllocs(t *testing.T) {
	g := newGen(3)
	tt := g.table(6)
	p, err := Compile(And{
		Cmp{"s", Ne, Lit(column.String("es"))},
		Or{Cmp{"i", Gt, Lit(column.Int(3))}, Like{Col: "s", Pattern: "%an%", Fold: true}},
		Not{Between{Col: "f", Lo: Lit(column.Float(-1)), Hi: Lit(column.Float(50))}},
		Contains{Col: "sl", Val: Lit(column.String("apple"))},
		InBitmap{Col: "pid", Bits: column.NewBitmap(100)},
		Not{IsNull{Col: "b"}},
	}, tt.schema, testNow)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	run := func() {
		for _, c := range tt.chunks {
			for row := 0; row < c.Rows; row += 7 {
				if p.Match(c, row) {
					n++
				}
			}
		}
	}
	if a := testing.AllocsPerRun(20, run); a != 0 {
		t.Fatalf("Match allocates %v times per run", a)
	}
}

// TestMatchConstant: constant programs, the zero Program and deleted rows.
func TestMatchConstant(t *testing.T) {
	s := newSchema()
	c := &column.Chunk{Rows: 3, Cols: make([]*column.Vec, nCols), Del: column.Bitmap{0b010}, Dead: 1}
	for _, tc := range []struct {
		e    Expr
		want [3]bool
	}{
		{Truth(true), [3]bool{true, false, true}},
		{Truth(false), [3]bool{}},
		{IsNull{Col: "i"}, [3]bool{true, false, true}},
		{Or{Truth(false), Not{IsNull{Col: "absent"}}}, [3]bool{}},
		{And{Truth(true), IsNull{Col: "absent"}, IsNull{Col: "f"}}, [3]bool{true, false, true}},
	} {
		p, err := Compile(tc.e, s, testNow)
		if err != nil {
			t.Fatal(err)
		}
		for row, want := range tc.want {
			if got := p.Match(c, row); got != want {
				t.Errorf("%s: Match(row %d) = %v, want %v", tc.e, row, got, want)
			}
		}
	}
	if (&Program{}).Match(c, 0) {
		t.Error("zero Program matches")
	}
	// A hand-built vector claiming no values is NULL everywhere, as Eval
	// sees it.
	c.Cols[cInt] = &column.Vec{Type: column.TypeInt, N: 3, Width: 8, U8: []uint8{1, 2, 3}, Scale: 1, MinI: 1, MaxI: 3}
	tt := &testTable{schema: s, chunks: []*column.Chunk{c}}
	g := newGen(1)
	for _, e := range []Expr{IsNull{Col: "i"}, IsNull{Col: "i", Not: true}, Cmp{"i", Gt, Lit(column.Int(0))}, Cmp{"i", Le, Lit(column.Int(0))}} {
		checkMatch(t, g, tt, e, NewScratch())
	}
}

// FuzzMatch decodes the input into a small random table and predicate as
// FuzzCompile does and checks Match against Eval and EvalWithin on every
// row. Its seed corpus (testdata/fuzz/FuzzMatch) runs with go test.
func FuzzMatch(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{1, 2, 3, 4, 5, 6, 7, 8})
	f.Add([]byte("\x00\x03\x05\x02\x01\x07\x04\x09\x0b\x02\x02\x06\x00"))
	f.Fuzz(func(t *testing.T, data []byte) {
		g := newByteGen(data)
		e := g.expr(4)
		tt := g.table(1 + g.pick(3))
		shorten(g, tt)
		checkMatch(t, g, tt, e, NewScratch())
	})
}
