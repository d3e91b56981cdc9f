package segmentapi_test

import (
	"context"
	"fmt"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cohortdb/cohort/api/client"
)

// BenchmarkStreamMembers exports a segment of 10M members through the Go
// client over gRPC on loopback TCP (client and server in this process),
// per batch size. It reports person ids/s and the heap found live by
// each garbage collection during the stream (runtime/metrics
// /gc/heap/live:bytes, sampled every 10 ms, no stop-the-world): its
// maximum minus the live heap before the stream, which stays flat — a
// stream holds one membership bitmap (1.25 MB) and a batch or two, never
// the ids. (The heap including not yet collected garbage grows up to
// GOGC's 100% whatever the stream holds; it is not the measure.) The
// number of GCs during the stream says how many samples there were:
// with gogc=5 a collection runs every ~15 MB allocated, dozens per
// stream.
//
//	go test -run XXX -bench StreamMembers -benchtime 5x ./delivery/segmentapi/
func BenchmarkStreamMembers(b *testing.B) {
	const n = 10_000_000
	e := newEnv(b, n)
	c := dial(b, e, adminToken)
	ctx := context.Background()
	if _, err := c.CreateSegment(ctx, "big", "all", "SELECT person_id FROM profiles"); err != nil {
		b.Fatal(err)
	}
	for _, tc := range []struct{ size, gogc int }{{10_000, 100}, {100_000, 100}, {10_000, 5}} {
		size := tc.size
		b.Run(fmt.Sprintf("batch=%d/gogc=%d", size, tc.gogc), func(b *testing.B) {
			defer debug.SetGCPercent(debug.SetGCPercent(tc.gogc))
			runtime.GC()
			before, gcs := heapLive()
			var peak atomic.Uint64
			stop := make(chan struct{})
			sampled := make(chan struct{})
			go func() {
				defer close(sampled)
				tick := time.NewTicker(10 * time.Millisecond)
				defer tick.Stop()
				for {
					select {
					case <-stop:
						return
					case <-tick.C:
						if h, _ := heapLive(); h > peak.Load() {
							peak.Store(h)
						}
					}
				}
			}()
			b.ResetTimer()
			var total int64
			for range b.N {
				got := 0
				if _, err := c.StreamMembers(ctx, "big", "all", client.MembersOptions{BatchSize: size}, func(ids []uint32, _ string) error {
					got += len(ids)
					return nil
				}); err != nil {
					b.Fatal(err)
				}
				if got != n {
					b.Fatalf("%d ids", got)
				}
				total += int64(got)
			}
			b.StopTimer()
			close(stop)
			<-sampled
			b.SetBytes(4 * n) // of ids, as uint32
			b.ReportMetric(float64(total)/b.Elapsed().Seconds(), "ids/s")
			b.ReportMetric(float64(before)/1e6, "live-heap-before-MB")
			b.ReportMetric(float64(max(peak.Load(), before)-before)/1e6, "live-heap-growth-max-MB")
			_, gcs2 := heapLive()
			b.ReportMetric(float64(gcs2-gcs)/float64(b.N), "GCs/op")
		})
	}
}

// heapLive returns the heap bytes marked live by the last GC and the
// number of GCs so far.
func heapLive() (live, gcs uint64) {
	s := []metrics.Sample{{Name: "/gc/heap/live:bytes"}, {Name: "/gc/cycles/total:gc-cycles"}}
	metrics.Read(s)
	return s[0].Value.Uint64(), s[1].Value.Uint64()
}
