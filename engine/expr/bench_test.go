package expr

import (
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/cohortdb/cohort/engine/column"
)

// benchTable is a profiles-like table of sealed chunks:
//
//	country string (24 values, "ES" ~5%), age int 0..99 (uint8), ltv float
//	0..1000, last_seen timestamp at second granularity over 60 days
//	(uint32 after narrowing), score int 0..2^30 (uint32), city string (5000
//	values, uint16 codes).
type benchTable struct {
	schema *column.Schema
	chunks []*column.Chunk
	rows   int
	// decoded copies for the fused reference loop
	country []uint8
	age     []uint8
	ltv     []float64
	seen    []int64
}

var benchNow = time.Date(2024, 6, 1, 0, 0, 0, 0, time.UTC)

var (
	benchMu     sync.Mutex
	benchTables = map[string]*benchTable{}
)

// getBenchTable builds (once per key) rows rows with nullPct% NULLs in every
// column but country.
func getBenchTable(rows, nullPct int) *benchTable {
	key := fmt.Sprint(rows, nullPct)
	benchMu.Lock()
	defer benchMu.Unlock()
	if t := benchTables[key]; t != nil {
		return t
	}
	s := column.NewSchema(
		column.ColumnDef{Name: "country", Type: column.TypeString},
		column.ColumnDef{Name: "age", Type: column.TypeInt},
		column.ColumnDef{Name: "ltv", Type: column.TypeFloat},
		column.ColumnDef{Name: "last_seen", Type: column.TypeTimestamp},
		column.ColumnDef{Name: "score", Type: column.TypeInt},
		column.ColumnDef{Name: "city", Type: column.TypeString},
	)
	countries := []string{"ES", "FR", "DE", "IT", "PT", "GB", "US", "MX", "AR", "BR", "NL", "BE",
		"CH", "AT", "PL", "SE", "NO", "DK", "FI", "IE", "CA", "AU", "JP", "KR"}
	for _, c := range countries {
		s.Cols[0].Dict.Intern(c)
	}
	for i := range 5000 {
		s.Cols[5].Dict.Intern("city-" + strconv.Itoa(i*7919%100000))
	}
	t := &benchTable{schema: s, rows: rows}
	r := rand.New(rand.NewPCG(1, 2))
	nowS := benchNow.Unix()
	for start := 0; start < rows; start += column.ChunkRows {
		n := min(column.ChunkRows, rows-start)
		bs := []*column.Builder{column.NewBuilder(column.TypeString), column.NewBuilder(column.TypeInt),
			column.NewBuilder(column.TypeFloat), column.NewBuilder(column.TypeTimestamp),
			column.NewBuilder(column.TypeInt), column.NewBuilder(column.TypeString)}
		null := func() bool { return nullPct > 0 && r.IntN(100) < nullPct }
		for range n {
			var cc uint8
			if r.IntN(20) == 0 {
				cc = 0 // ES: ~5% plus its share of the rest
			} else {
				cc = uint8(1 + r.IntN(len(countries)-1))
			}
			bs[0].AppendCode(uint32(cc))
			t.country = append(t.country, cc)
			age := uint8(r.IntN(100))
			ltv := r.Float64() * 1000
			seen := (nowS - int64(r.IntN(60*86400))) * 1_000_000
			if null() {
				bs[1].AppendNull()
				age = 255 // never in range in the reference loop
			} else {
				bs[1].AppendInt(int64(age))
			}
			if null() {
				bs[2].AppendNull()
				ltv = -1
			} else {
				bs[2].AppendFloat(ltv)
			}
			if null() {
				bs[3].AppendNull()
				seen = 0
			} else {
				bs[3].AppendInt(seen)
			}
			t.age, t.ltv, t.seen = append(t.age, age), append(t.ltv, ltv), append(t.seen, seen)
			if null() {
				bs[4].AppendNull()
			} else {
				bs[4].AppendInt(int64(r.IntN(1 << 30)))
			}
			if null() {
				bs[5].AppendNull()
			} else {
				bs[5].AppendCode(uint32(r.IntN(5000)))
			}
		}
		c := &column.Chunk{Slot: start >> column.ChunkBits, Rows: n}
		for _, b := range bs {
			c.Cols = append(c.Cols, b.Seal(n))
		}
		t.chunks = append(t.chunks, c)
	}
	benchTables[key] = t
	return t
}

// runBench evaluates e over every chunk per op; bytes is the scanned bytes
// per row.
func runBench(b *testing.B, t *benchTable, e Expr, bytesPerRow int) {
	p, err := Compile(e, t.schema, benchNow)
	if err != nil {
		b.Fatal(err)
	}
	s := NewScratch()
	out := column.NewBitmap(column.ChunkRows)
	sel := 0
	for _, c := range t.chunks {
		p.Eval(c, out, s)
		sel += out[:column.Words(c.Rows)].Count()
	}
	b.SetBytes(int64(t.rows * bytesPerRow))
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		for _, c := range t.chunks {
			p.Eval(c, out, s)
		}
	}
	b.ReportMetric(float64(sel)/float64(t.rows)*100, "%sel")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(t.rows), "ns/row")
}

const benchRows = 1 << 20

func forNulls(b *testing.B, f func(b *testing.B, t *benchTable)) {
	for _, np := range []int{0, 20} {
		b.Run("nulls="+strconv.Itoa(np), func(b *testing.B) { f(b, getBenchTable(benchRows, np)) })
	}
}

func BenchmarkEqCode8(b *testing.B) {
	for _, c := range []string{"ES", "FR", "XX"} {
		b.Run("country="+c, func(b *testing.B) {
			runBench(b, getBenchTable(benchRows, 0), Cmp{"country", Eq, Lit(column.String(c))}, 1)
		})
	}
}

func BenchmarkIntRange8(b *testing.B) {
	forNulls(b, func(b *testing.B, t *benchTable) {
		for _, hi := range []int64{0, 9, 49} {
			b.Run(fmt.Sprintf("sel=%d%%", hi+1), func(b *testing.B) {
				runBench(b, t, Between{Col: "age", Lo: Lit(column.Int(0)), Hi: Lit(column.Int(hi))}, 1)
			})
		}
	})
}

func BenchmarkIntRange32(b *testing.B) {
	forNulls(b, func(b *testing.B, t *benchTable) {
		for _, pct := range []int64{1, 10, 50} {
			b.Run(fmt.Sprintf("sel=%d%%", pct), func(b *testing.B) {
				runBench(b, t, Cmp{"score", Lt, Lit(column.Int((1 << 30) * pct / 100))}, 4)
			})
		}
	})
}

func BenchmarkFloatRange(b *testing.B) {
	forNulls(b, func(b *testing.B, t *benchTable) {
		for _, pct := range []int{1, 10, 50} {
			b.Run(fmt.Sprintf("sel=%d%%", pct), func(b *testing.B) {
				runBench(b, t, Cmp{"ltv", Gt, Lit(column.Float(1000 - 10*float64(pct)))}, 8)
			})
		}
	})
}

func BenchmarkTimestampRange(b *testing.B) {
	forNulls(b, func(b *testing.B, t *benchTable) {
		for _, days := range []int{1, 7, 30} {
			b.Run(fmt.Sprintf("days=%d", days), func(b *testing.B) {
				runBench(b, t, Cmp{"last_seen", Gt, Ago(time.Duration(days) * 24 * time.Hour)}, 4)
			})
		}
	})
}

func BenchmarkInCodes(b *testing.B) {
	for _, n := range []int{3, 12} {
		b.Run(fmt.Sprintf("n=%d", n), func(b *testing.B) {
			t := getBenchTable(benchRows, 0)
			var vals []Const
			for _, c := range []string{"FR", "DE", "IT", "PT", "GB", "US", "MX", "AR", "BR", "NL", "BE", "CH"}[:n] {
				vals = append(vals, Lit(column.String(c)))
			}
			runBench(b, t, In{Col: "country", Vals: vals}, 1)
		})
	}
}

func BenchmarkLikeContains(b *testing.B) {
	forNulls(b, func(b *testing.B, t *benchTable) {
		for _, pat := range []string{"%-12%", "%9%"} {
			b.Run("pattern="+pat, func(b *testing.B) {
				runBench(b, t, Like{Col: "city", Pattern: pat}, 2)
			})
		}
	})
}

// q1 is country='ES' AND age BETWEEN 20 AND 30 AND ltv > 100 AND
// last_seen > now-7d.
var q1 = And{
	Cmp{"country", Eq, Lit(column.String("ES"))},
	Between{Col: "age", Lo: Lit(column.Int(20)), Hi: Lit(column.Int(30))},
	Cmp{"ltv", Gt, Lit(column.Float(100))},
	Cmp{"last_seen", Gt, Ago(7 * 24 * time.Hour)},
}

// fusedQ1 is the hand-written reference: one loop over decoded slices, the
// same output bitmap per chunk.
func fusedQ1(t *benchTable, out column.Bitmap) int {
	since := benchNow.Add(-7 * 24 * time.Hour).UnixMicro()
	n := 0
	for start := 0; start < t.rows; start += column.ChunkRows {
		end := min(start+column.ChunkRows, t.rows)
		country, age, ltv, seen := t.country[start:end], t.age[start:end], t.ltv[start:end], t.seen[start:end]
		age, ltv, seen = age[:len(country)], ltv[:len(country)], seen[:len(country)]
		clear(out)
		for i, c := range country {
			if c == 0 && age[i]-20 <= 10 && ltv[i] > 100 && seen[i] > since {
				out[i>>6] |= 1 << (i & 63)
			}
		}
		n += out.Count()
	}
	return n
}

func BenchmarkQ1(b *testing.B) {
	for _, rows := range []int{benchRows, 10_000_000} {
		if rows > benchRows && testing.Short() {
			continue
		}
		t := getBenchTable(rows, 0)
		b.Run(fmt.Sprintf("rows=%d/expr", rows), func(b *testing.B) { runBench(b, t, q1, 14) })
		b.Run(fmt.Sprintf("rows=%d/fused", rows), func(b *testing.B) {
			out := column.NewBitmap(column.ChunkRows)
			b.SetBytes(int64(rows * 14))
			b.ReportAllocs()
			for b.Loop() {
				fusedQ1(t, out)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(rows), "ns/row")
		})
	}
}

// TestQ1MatchesFused keeps the benchmark honest: both sides select the same
// rows.
func TestQ1MatchesFused(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a 1M-row table")
	}
	bt := getBenchTable(3*column.ChunkRows+100, 0)
	p, err := Compile(q1, bt.schema, benchNow)
	if err != nil {
		t.Fatal(err)
	}
	s := NewScratch()
	out := column.NewBitmap(column.ChunkRows)
	got := 0
	for _, c := range bt.chunks {
		p.Eval(c, out, s)
		got += out[:column.Words(c.Rows)].Count()
	}
	if want := fusedQ1(bt, out); got != want || got == 0 {
		t.Fatalf("expr selects %d rows, fused loop %d", got, want)
	}
}

// BenchmarkRangeSorted compares the two kernels for an equality on a
// sorted 8-bit column of one chunk (an events chunk clustered by name):
// the per-row test against the binary-searched run.
func BenchmarkRangeSorted(b *testing.B) {
	vals := make([]uint8, column.ChunkRows)
	for i := range vals {
		vals[i] = uint8(i * 20 / len(vals)) // 20 names, ~3.3k rows each
	}
	valid := column.NewBitmap(len(vals))
	for i := range len(vals) {
		valid.Set(i)
	}
	out := column.NewBitmap(len(vals))
	b.Run("dense", func(b *testing.B) {
		b.SetBytes(int64(len(vals)))
		for b.Loop() {
			rangeDense(vals, 7, 0, 0, valid, out, len(vals), mSet)
		}
	})
	b.Run("sorted", func(b *testing.B) {
		b.SetBytes(int64(len(vals)))
		for b.Loop() {
			rangeSorted(vals, 7, 7, 0, valid, out, len(vals), mSet)
		}
	})
}
