package history

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strconv"
	"testing"
	"time"

	"github.com/cohortdb/cohort/engine/column"
)

// TestScanProjected checks that a projected scan returns the records of
// Scan, in the same order, with exactly the asked parts: over files of
// several chunks (NULL-only chunks included) and unflushed records, for
// the writer and a reader, and with time bounds inside files.
func TestScanProjected(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	w, err := NewWriter(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(3, 4))
	base := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC).UnixMicro()
	value := func(k int, at int64) column.Value {
		if r.IntN(8) == 0 {
			return column.Value{}
		}
		switch k {
		case 0:
			return column.String("s" + strconv.Itoa(r.IntN(50)))
		case 1:
			return column.Int(r.Int64N(1000) - 500)
		case 2:
			return column.Float(float64(r.IntN(1000)) / 8)
		case 3:
			return column.Bool(r.IntN(2) == 0)
		case 4:
			return column.Micros(at - r.Int64N(1e9))
		}
		l := make([]string, r.IntN(3))
		for i := range l {
			l[i] = "t" + strconv.Itoa(r.IntN(5))
		}
		return column.StringList(l)
	}
	names := []string{"name", "age", "score", "vip", "renewal", "tags"}
	at := base
	var seq uint64
	records := func(n int, mixed bool) []Record {
		out := make([]Record, n)
		for i := range out {
			at += 1000
			if i%100 == 0 {
				seq++
			}
			// Until mixed, only strings: the other typed columns are NULL
			// in whole chunks.
			k := 0
			if mixed && i > column.ChunkRows+100 {
				k = r.IntN(len(names))
			}
			out[i] = Record{Seq: seq, Person: uint32(1 + r.IntN(3000)), Attribute: names[k], Old: value(k, at), New: value(k, at), At: at}
			if r.IntN(3) > 0 {
				out[i].Source = fmt.Sprintf("m%d", at)
			}
		}
		return out
	}
	// A file of two chunks, a small one, and unflushed records.
	for _, n := range []int{column.ChunkRows + 4000, 3000} {
		if err := w.write(ctx, records(n, true), func() {}); err != nil {
			t.Fatal(err)
		}
	}
	w.buf = records(500, true)
	type scanFn func(ctx context.Context, from, to time.Time, fn func(Record) error) error
	collect := func(scan scanFn, from, to time.Time) []Record {
		var out []Record
		if err := scan(ctx, from, to, func(rec Record) error { out = append(out, rec); return nil }); err != nil {
			t.Fatal(err)
		}
		return out
	}
	rd := NewReader(dir)
	ranges := [][2]time.Time{
		{time.UnixMicro(0), time.UnixMicro(1 << 62)},
		{time.UnixMicro(base + 50_000_000), time.UnixMicro(base + 67_000_000)},
		{time.UnixMicro(at - 200_000), time.UnixMicro(1 << 62)},
	}
	for _, src := range []struct {
		name      string
		scan      scanFn
		projected func(ctx context.Context, from, to time.Time, p Projection, fn func(Record) error) error
	}{
		{"writer", w.Scan, w.ScanProjected},
		{"reader", rd.Scan, rd.ScanProjected},
	} {
		for _, rg := range ranges {
			want := collect(src.scan, rg[0], rg[1])
			for _, pj := range []Projection{{Seq: true, Old: true, New: true, Source: true}, {Old: true}, {New: true, Seq: true}, {}} {
				got := collect(func(ctx context.Context, from, to time.Time, fn func(Record) error) error {
					return src.projected(ctx, from, to, pj, fn)
				}, rg[0], rg[1])
				if len(want) == 0 && src.name == "writer" {
					t.Fatalf("%s %v: no records", src.name, rg)
				}
				if len(got) != len(want) {
					t.Fatalf("%s %+v %v: %d records, want %d", src.name, pj, rg, len(got), len(want))
				}
				for i := range want {
					e := want[i]
					if !pj.Seq {
						e.Seq = 0
					}
					if !pj.Old {
						e.Old = column.Value{}
					}
					if !pj.New {
						e.New = column.Value{}
					}
					if !pj.Source {
						e.Source = ""
					}
					g := got[i]
					if g.Seq != e.Seq || g.Person != e.Person || g.Attribute != e.Attribute || g.At != e.At || g.Source != e.Source ||
						!g.Old.Equal(e.Old) || !g.New.Equal(e.New) {
						t.Fatalf("%s %+v: record %d = %+v, want %+v", src.name, pj, i, g, e)
					}
				}
			}
		}
	}
}
