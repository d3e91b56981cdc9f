package snapshot

import (
	"context"
	"os"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/cohortdb/cohort/engine"
	"github.com/cohortdb/cohort/engine/column"
	"github.com/cohortdb/cohort/engine/identity"
)

// benchSize reads COHORT_BENCH_PROFILES / COHORT_BENCH_EVENTS (defaults:
// 1M profiles, 10M events).
func benchSize() (profiles, events int) {
	profiles, events = 1_000_000, 10_000_000
	if v, err := strconv.Atoi(os.Getenv("COHORT_BENCH_PROFILES")); err == nil {
		profiles = v
	}
	if v, err := strconv.Atoi(os.Getenv("COHORT_BENCH_EVENTS")); err == nil {
		events = v
	}
	return
}

var (
	benchOnce sync.Once
	benchWS   *engine.Workspace
)

// benchWorkspace builds (once) a workspace of realistic shape: profiles
// with email, plan, age, vip; events with a name and two properties.
func benchWorkspace(b *testing.B) *engine.Workspace {
	benchOnce.Do(func() {
		np, ne := benchSize()
		ctx := context.Background()
		w := engine.NewWorkspace("bench", identity.DefaultRules())
		plans := []string{"free", "pro", "team", "enterprise"}
		names := []string{"page", "signup", "purchase", "login", "add_to_cart", "search", "share", "logout"}
		const batch = 20000
		ops := make([]engine.Op, 0, batch)
		flush := func() {
			if _, err := w.Apply(ctx, ops); err != nil {
				b.Fatal(err)
			}
			ops = ops[:0]
		}
		id := func(i int) []identity.ID {
			return []identity.ID{{Type: identity.TypeUserID, Value: "user-" + strconv.Itoa(i)}}
		}
		for i := range np {
			ops = append(ops, engine.Op{Kind: engine.OpIdentify, IDs: id(i), At: t0 + int64(i), Traits: []engine.Field{
				{Name: "email", Value: column.String("user" + strconv.Itoa(i) + "@example.com")},
				{Name: "plan", Value: column.String(plans[i%4])},
				{Name: "age", Value: column.Int(int64(18 + i%60))},
				{Name: "vip", Value: column.Bool(i%10 == 0)},
			}})
			if len(ops) == batch {
				flush()
			}
		}
		for i := range ne {
			ops = append(ops, engine.Op{Kind: engine.OpTrack, IDs: id(i * 7919 % np), At: t0 + int64(np) + int64(i)*1000, Event: names[i%8], Props: []engine.Field{
				{Name: "amount", Value: column.Float(float64(i%1000) / 10)},
				{Name: "currency", Value: column.String([]string{"EUR", "USD", "GBP"}[i%3])},
			}})
			if len(ops) == batch {
				flush()
			}
		}
		flush()
		benchWS = w
	})
	return benchWS
}

// BenchmarkSnapshot writes and reads back a snapshot of 1M profiles and
// 10M events (see benchSize). MB/s is snapshot bytes per second.
//
//	go test -run XXX -bench Snapshot -benchtime 1x ./storage/snapshot/
func BenchmarkSnapshot(b *testing.B) {
	w := benchWorkspace(b)
	ctx := context.Background()
	dir := b.TempDir()
	var m *Manifest
	size := func() (n int64) {
		for _, f := range m.Files {
			n += f.Size
		}
		return n
	}
	b.Run("write", func(b *testing.B) {
		b.ReportAllocs()
		defer reportCPU(b)()
		for b.Loop() {
			var err error
			if m, err = Write(ctx, dir, w.Export()); err != nil {
				b.Fatal(err)
			}
		}
		b.SetBytes(size())
		b.ReportMetric(float64(m.Files[0].Rows), "profiles")
		b.ReportMetric(float64(m.Files[1].Rows), "events")
	})
	b.Run("read", func(b *testing.B) {
		b.ReportAllocs()
		defer reportCPU(b)()
		for b.Loop() {
			if _, _, err := Read(ctx, dir+"/"+DirName(m.Seq), engine.New(engine.Options{})); err != nil {
				b.Fatal(err)
			}
		}
		b.SetBytes(size())
	})
}

// reportCPU reports the process CPU time (user+system) per operation: on a
// shared machine wall time depends on the neighbours, CPU time much less.
func reportCPU(b *testing.B) func() {
	cpu := func() time.Duration {
		var ru syscall.Rusage
		syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
		return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	start := cpu()
	return func() { b.ReportMetric((cpu()-start).Seconds()/float64(b.N), "cpu-s/op") }
}
