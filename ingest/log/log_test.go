package log

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/cohortdb/cohort/engine"
	"github.com/cohortdb/cohort/engine/column"
	"github.com/cohortdb/cohort/engine/identity"
)

func openTest(t testing.TB, opts Options) *Log {
	t.Helper()
	if opts.Dir == "" {
		opts.Dir = t.TempDir()
	}
	l, err := Open(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		l.Close(ctx)
	})
	return l
}

func trackOps(client, req, n int) []engine.Op {
	ops := make([]engine.Op, n)
	for i := range ops {
		ops[i] = engine.Op{Kind: engine.OpTrack, IDs: []identity.ID{{Type: identity.TypeUserID, Value: fmt.Sprintf("u%d-%d", client, i)}},
			Event: "Product Viewed", At: 1, ReceivedAt: 2, Source: fmt.Sprintf("m%d-%d-%d", client, req, i),
			Props: []engine.Field{{Name: "price", Value: column.Float(19.99)}, {Name: "category", Value: column.String("shoes")},
				{Name: "context_os_name", Value: column.String("iOS")}, {Name: "context_app_version", Value: column.String("3.2.1")}}}
	}
	return ops
}

// TestAppendSubscribe checks that concurrent appends all arrive, each
// client's operations in order, and that the log survives a reopen.
func TestAppendSubscribe(t *testing.T) {
	dir := t.TempDir()
	l := openTest(t, Options{Dir: dir, Partitions: 3})
	const clients, reqs, per = 8, 20, 7
	var wg sync.WaitGroup
	for c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for r := range reqs {
				if err := l.Append(t.Context(), "acme", trackOps(c, r, per)); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	check := func(l *Log) {
		t.Helper()
		sub, err := l.Subscribe(t.Context(), 1)
		if err != nil {
			t.Fatal(err)
		}
		defer sub.Stop()
		seen := map[string]bool{}
		last := map[string]int{} // user → last request seen
		var prev uint64
		for len(seen) < clients*reqs*per {
			select {
			case m := <-sub.C:
				if m.Seq <= prev {
					t.Fatalf("sequence %d after %d", m.Seq, prev)
				}
				prev = m.Seq
				ws, ops, err := Decode(m.Data, nil)
				if err != nil || ws != "acme" {
					t.Fatalf("decode: %q %v", ws, err)
				}
				for _, op := range ops {
					if seen[op.Source] {
						t.Fatalf("%s twice", op.Source)
					}
					seen[op.Source] = true
					var c, r, i int
					fmt.Sscanf(op.Source, "m%d-%d-%d", &c, &r, &i)
					u := op.IDs[0].Value
					if r < last[u] {
						t.Fatalf("user %s: request %d after %d", u, r, last[u])
					}
					last[u] = r
				}
			case <-time.After(10 * time.Second):
				t.Fatalf("only %d of %d operations", len(seen), clients*reqs*per)
			}
		}
	}
	check(l)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := l.Close(ctx); err != nil {
		t.Fatal(err)
	}
	check(openTest(t, Options{Dir: dir, Partitions: 3}))
}

// BenchmarkAppend measures group commit: concurrent appends of 100
// operations, each returning when durable.
func BenchmarkAppend(b *testing.B) {
	for _, cfg := range []struct {
		linger   time.Duration
		inflight int
	}{{time.Millisecond, 4}, {time.Nanosecond, 4}, {time.Nanosecond, 1}, {time.Nanosecond, 16}} {
		b.Run(fmt.Sprintf("linger=%s/inflight=%d", cfg.linger, cfg.inflight), func(b *testing.B) {
			l := openTest(b, Options{Linger: cfg.linger, MaxInFlight: cfg.inflight})
			ops := trackOps(0, 0, 100)
			b.SetParallelism(16)
			b.ReportAllocs()
			start := time.Now()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if err := l.Append(context.Background(), "acme", ops); err != nil {
						b.Error(err)
						return
					}
				}
			})
			el := time.Since(start)
			st := l.Stats()
			b.ReportMetric(float64(st.Records)/el.Seconds(), "ops/s")
			b.ReportMetric(float64(st.Messages)/el.Seconds(), "msgs/s")
		})
	}
}

// TestExternalCluster runs the log against a separate NATS server by URL,
// as with --nats-url.
func TestExternalCluster(t *testing.T) {
	ns, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: t.TempDir(), NoLog: true, NoSigs: true})
	if err != nil {
		t.Fatal(err)
	}
	ns.Start()
	defer ns.Shutdown()
	if !ns.ReadyForConnections(10 * time.Second) {
		t.Fatal("NATS server not ready")
	}
	l := openTest(t, Options{URL: ns.ClientURL(), Dir: "unused"})
	if err := l.Append(t.Context(), "acme", trackOps(0, 0, 10)); err != nil {
		t.Fatal(err)
	}
	sub, err := l.Subscribe(t.Context(), 1)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Stop()
	n := 0
	for n < 10 {
		select {
		case m := <-sub.C:
			_, ops, err := Decode(m.Data, nil)
			if err != nil {
				t.Fatal(err)
			}
			n += len(ops)
		case <-time.After(10 * time.Second):
			t.Fatalf("%d of 10 operations", n)
		}
	}
}
