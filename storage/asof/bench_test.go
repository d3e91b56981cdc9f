//go:build unix

package asof

import (
	"context"
	"math/rand/v2"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/cohortdb/cohort/engine"
	"github.com/cohortdb/cohort/engine/column"
	"github.com/cohortdb/cohort/engine/expr"
	"github.com/cohortdb/cohort/engine/identity"
	"github.com/cohortdb/cohort/storage/history"
)

// benchData is a workspace of benchPersons profiles created before benchAt
// and benchChanges profile changes after it (plan and country, two per
// operation), with their history in files of about 100k records.
type benchData struct {
	ws  *engine.Workspace
	w   *history.Writer
	dir string
	at  time.Time
}

const (
	benchPersons = 200_000
	benchChanges = 1_000_000
)

var (
	benchOnce sync.Once
	bench     *benchData
	benchErr  error
)

func loadBench(b *testing.B) *benchData {
	benchOnce.Do(func() { bench, benchErr = makeBench(b.TempDir()) })
	if benchErr != nil {
		b.Fatal(benchErr)
	}
	return bench
}

func makeBench(dir string) (*benchData, error) {
	ctx := context.Background()
	w, err := history.NewWriter(dir, history.Options{})
	if err != nil {
		return nil, err
	}
	ws := engine.NewWorkspace("bench", identity.DefaultRules())
	w.Attach(ws)
	r := rand.New(rand.NewPCG(42, 7))
	at := t0.AddDate(0, 0, 10)
	step := int64(time.Second / time.Microsecond)
	ops := make([]engine.Op, 0, 10_000)
	flush := func() error {
		if _, err := ws.Apply(ctx, ops); err != nil {
			return err
		}
		ops = ops[:0]
		if w.Buffered() >= 100_000 {
			return w.Flush(ctx, 0)
		}
		return nil
	}
	clock := t0.UnixMicro()
	for p := range benchPersons {
		clock += step
		ops = append(ops, identifyOp(clock, user(p),
			fld("plan", column.String(plans[r.IntN(len(plans))])),
			fld("country", column.String(countries[r.IntN(len(countries))])),
			fld("age", column.Int(int64(18+r.IntN(60))))))
		if len(ops) == cap(ops) {
			if err := flush(); err != nil {
				return nil, err
			}
		}
	}
	if err := flush(); err != nil {
		return nil, err
	}
	if err := w.Flush(ctx, 0); err != nil {
		return nil, err
	}
	clock = at.UnixMicro()
	for range benchChanges / 2 {
		clock += step
		// Each op changes both attributes (the values differ from the
		// current ones), so it records exactly two changes.
		p := r.IntN(benchPersons)
		ops = append(ops, identifyOp(clock, user(p),
			fld("plan", column.String(plans[r.IntN(len(plans))]+"-"+strconv.FormatInt(clock, 36))),
			fld("country", column.String(countries[r.IntN(len(countries))]+"-"+strconv.FormatInt(clock, 36)))))
		if len(ops) == cap(ops) {
			if err := flush(); err != nil {
				return nil, err
			}
		}
	}
	if err := flush(); err != nil {
		return nil, err
	}
	if err := w.Flush(ctx, 0); err != nil {
		return nil, err
	}
	return &benchData{ws: ws, w: w, dir: dir, at: at}, nil
}

// BenchmarkMembers measures Members for a time followed by 1M profile
// changes (over ~170k of 200k profiles): reading the history after it
// (files), rebuilding the changed profiles and the two evaluations.
// "files" and "writer" read the files column by column (ProjectedSource);
// "files-rowwise" through Scan, row by row; "records" is a Source over
// records held in memory: the cost without reading files.
func BenchmarkMembers(b *testing.B) {
	d := loadBench(b)
	ctx := context.Background()
	snap := d.ws.Snapshot()
	cond := engine.AllOf{
		engine.Where{Expr: expr.In{Col: "plan", Vals: []expr.Const{str("pro"), str("team")}}},
		engine.Where{Expr: expr.Cmp{Col: "country", Op: expr.Eq, Val: str("ES")}},
		engine.Where{Expr: expr.Cmp{Col: "age", Op: expr.Ge, Val: expr.Lit(column.Int(30))}},
	}
	mem, err := loadAll(ctx, d.w)
	if err != nil {
		b.Fatal(err)
	}
	// A condition over a column none of the changes touch: no profile is
	// rebuilt, the history is only read.
	untouched := engine.Where{Expr: expr.Cmp{Col: "age", Op: expr.Ge, Val: expr.Lit(column.Int(30))}}
	for _, c := range []struct {
		name string
		src  Source
		cond engine.Cond
	}{
		{"source=files", history.NewReader(d.dir), cond},
		{"source=writer", d.w, cond},
		{"source=files-rowwise", SourceFunc(history.NewReader(d.dir).Scan), cond},
		{"source=records", mem, cond},
		{"source=files/cond=untouched", history.NewReader(d.dir), untouched},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			var res Result
			cpu0 := cpuTime()
			for b.Loop() {
				if res, err = Evaluate(ctx, snap, c.cond, d.at, c.src); err != nil {
					b.Fatal(err)
				}
			}
			// On a shared machine wall time says little: CPU time of the
			// process (every goroutine, GC included) per operation.
			b.ReportMetric((cpuTime()-cpu0).Seconds()*1e3/float64(b.N), "cpu-ms/op")
			if res.Records != benchChanges {
				b.Fatalf("read %d records, want %d", res.Records, benchChanges)
			}
			b.ReportMetric(float64(res.Records)/b.Elapsed().Seconds()*float64(b.N), "records/s")
			b.ReportMetric(float64(res.Profiles), "profiles")
			b.ReportMetric(float64(res.Members.Count()), "members")
		})
	}
}

// BenchmarkPersonSet is the live evaluation of the same condition over
// the snapshot, for comparison.
func BenchmarkPersonSet(b *testing.B) {
	d := loadBench(b)
	ctx := context.Background()
	snap := d.ws.Snapshot()
	cond := engine.Where{Expr: expr.Cmp{Col: "age", Op: expr.Ge, Val: expr.Lit(column.Int(30))}}
	b.ReportAllocs()
	cpu0 := cpuTime()
	for b.Loop() {
		if _, err := snap.PersonSet(ctx, cond, d.at); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric((cpuTime()-cpu0).Seconds()*1e3/float64(b.N), "cpu-ms/op")
}

// cpuTime returns the user and system CPU time of the process.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
