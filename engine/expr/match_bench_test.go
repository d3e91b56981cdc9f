package expr

import (
	"math/rand/v2"
	"strconv"
	"testing"
	"time"

	"github.com/cohortdb/cohort/engine/column"
)

// matchPreds are typical segment predicates of 1, 3 and 5 leaves over the
// profiles-like bench table.
var matchPreds = []struct {
	name string
	e    Expr
}{
	{"leaves=1", Cmp{"country", Eq, Lit(column.String("ES"))}},
	{"leaves=3", And{
		Cmp{"country", Eq, Lit(column.String("ES"))},
		Between{Col: "age", Lo: Lit(column.Int(25)), Hi: Lit(column.Int(40))},
		Cmp{"last_seen", Ge, Ago(7 * 24 * time.Hour)},
	}},
	{"leaves=5", And{
		In{Col: "country", Vals: []Const{Lit(column.String("ES")), Lit(column.String("FR")), Lit(column.String("DE"))}},
		Between{Col: "age", Lo: Lit(column.Int(25)), Hi: Lit(column.Int(40))},
		Cmp{"ltv", Gt, Lit(column.Float(100))},
		Cmp{"last_seen", Ge, Ago(30 * 24 * time.Hour)},
		Like{Col: "city", Pattern: "city-1%"},
	}},
}

type chunkRow struct {
	c   *column.Chunk
	row int
}

// BenchmarkMatch times one Match call. rows=hot cycles over 64 selected
// rows (the first rows when none is selected), so every leaf of an AND runs
// and the data is in cache: the compute cost. rows=random
// draws rows uniformly from the 1Mi-row table: short-circuiting and cache
// misses as a real-time stream of people sees them. nulls=95 makes every
// column but country sparse (binary search of Pos).
func BenchmarkMatch(b *testing.B) {
	for _, np := range []int{0, 20, 95} {
		for _, pr := range matchPreds {
			for _, mode := range []string{"hot", "random"} {
				b.Run("nulls="+strconv.Itoa(np)+"/"+pr.name+"/rows="+mode, func(b *testing.B) {
					t := getBenchTable(benchRows, np)
					p, err := Compile(pr.e, t.schema, benchNow)
					if err != nil {
						b.Fatal(err)
					}
					rows := matchRows(p, t, mode)
					hits := 0
					b.ReportAllocs()
					i := 0
					for b.Loop() {
						r := rows[i&(len(rows)-1)]
						if p.Match(r.c, r.row) {
							hits++
						}
						i++
					}
					b.ReportMetric(float64(hits)/float64(i)*100, "%match")
				})
			}
		}
	}
}

// matchRows returns a power-of-two number of rows to probe.
func matchRows(p *Program, t *benchTable, mode string) []chunkRow {
	r := rand.New(rand.NewPCG(3, 4))
	if mode == "random" {
		rows := make([]chunkRow, 4096)
		for i := range rows {
			c := t.chunks[r.IntN(len(t.chunks))]
			rows[i] = chunkRow{c, r.IntN(c.Rows)}
		}
		return rows
	}
	var sel []chunkRow
	for _, c := range t.chunks {
		for row := 0; row < c.Rows && len(sel) < 64; row++ {
			if p.Match(c, row) {
				sel = append(sel, chunkRow{c, row})
			}
		}
	}
	if len(sel) == 0 { // nothing selected: the first rows
		for row := range 64 {
			sel = append(sel, chunkRow{t.chunks[0], row})
		}
	}
	for i := 0; len(sel) < 64; i++ {
		sel = append(sel, sel[i])
	}
	return sel
}

// BenchmarkMatchEval is the chunk-at-a-time baseline for BenchmarkMatch:
// one Eval of a full 64Ki-row chunk per op, with ns/row to compare with
// Match's ns/op.
func BenchmarkMatchEval(b *testing.B) {
	for _, np := range []int{0, 20, 95} {
		for _, pr := range matchPreds {
			b.Run("nulls="+strconv.Itoa(np)+"/"+pr.name, func(b *testing.B) {
				t := getBenchTable(benchRows, np)
				p, err := Compile(pr.e, t.schema, benchNow)
				if err != nil {
					b.Fatal(err)
				}
				s := NewScratch()
				out := column.NewBitmap(column.ChunkRows)
				c := t.chunks[0]
				p.Eval(c, out, s)
				b.ReportAllocs()
				for b.Loop() {
					p.Eval(c, out, s)
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(c.Rows), "ns/row")
			})
		}
	}
}
