package ingest

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// batchTemplate is a /v1/batch body of n track events of ~300 bytes; the
// request number in every message id is a 12-digit field at the offsets
// returned, so a client makes each body unique without re-encoding it.
func batchTemplate(n int) ([]byte, []int) {
	var b bytes.Buffer
	var offs []int
	b.WriteString(`{"batch":[`)
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"type":"track","userId":"user-%d","event":"Product Viewed","messageId":"bench-`, (i*7919)%100000)
		offs = append(offs, b.Len())
		fmt.Fprintf(&b, `000000000000-%d","timestamp":"2024-05-01T10:00:00.000Z",`+
			`"properties":{"product_id":"p-%d","price":19.99,"category":"shoes","quantity":2},`+
			`"context":{"os":{"name":"iOS","version":"17.1"},"app":{"version":"3.2.1"},"ip":"10.1.2.3"}}`, i, i%500)
	}
	b.WriteString(`]}`)
	return b.Bytes(), offs
}

// stamp writes req as 12 digits at every offset.
func stamp(body []byte, offs []int, req int64) {
	var d [12]byte
	for i := 11; i >= 0; i-- {
		d[i] = byte('0' + req%10)
		req /= 10
	}
	for _, o := range offs {
		copy(body[o:], d[:])
	}
}

// BenchmarkBatch measures /v1/batch with batches of 100 events, each
// request answered only after the log acknowledged it (fsync always), and
// reports events/s and the freshness (ack → queryable) quantiles.
func BenchmarkBatch(b *testing.B) {
	for _, clients := range []int{8, 32, 64} {
		b.Run(fmt.Sprintf("clients=%d", clients), func(b *testing.B) {
			h := startBenchHarness(b)
			key := h.key("bench")
			var seq atomic.Int64
			tr := &http.Transport{MaxIdleConnsPerHost: clients * 2}
			hc := &http.Client{Transport: tr}
			sample, _ := batchTemplate(100)
			b.SetBytes(int64(len(sample)))
			b.ReportAllocs()
			b.SetParallelism((clients + 1) / 2)
			start, cpu0 := time.Now(), cpuTime()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				body, offs := batchTemplate(100)
				for pb.Next() {
					stamp(body, offs, seq.Add(1))
					req, _ := http.NewRequest("POST", h.srv.URL+"/v1/batch", bytes.NewReader(body))
					req.SetBasicAuth(key, "")
					resp, err := hc.Do(req)
					if err != nil {
						b.Error(err)
						return
					}
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode != 200 {
						b.Errorf("status %d", resp.StatusCode)
						return
					}
				}
			})
			b.StopTimer()
			h.sync()
			el, cpu := time.Since(start), cpuTime()-cpu0
			q, n := h.svc.Applier().Freshness(0.5, 0.99)
			b.ReportMetric(float64(seq.Load()*100)/el.Seconds(), "events/s")
			b.ReportMetric(float64(q[0].Microseconds())/1000, "fresh_p50_ms")
			b.ReportMetric(float64(q[1].Microseconds())/1000, "fresh_p99_ms")
			b.ReportMetric(float64(cpu.Microseconds())/float64(seq.Load()*100), "cpu_us/event")
			ls := h.svc.Log().Stats()
			b.ReportMetric(float64(ls.Records)/float64(max(ls.Messages, 1)), "ops/msg")
			b.ReportMetric(float64(ls.Messages)/el.Seconds(), "msgs/s")
			_ = n
			tr.CloseIdleConnections()
		})
	}
}

// cpuTime returns the CPU time (user + system) of the process so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkReplay measures startup replay: a log of b.N × 1000 track
// events written through the service, then a new engine and service on
// the same directory applying it all.
func BenchmarkReplay(b *testing.B) {
	dir := b.TempDir()
	h := startHarnessTB(b, dir)
	key := h.key("replay")
	body, offs := batchTemplate(100)
	const perIter = 10 // requests of 100 events
	n := int64(0)
	for range b.N * perIter {
		n++
		stamp(body, offs, n)
		if status, resp := h.do("POST", "/v1/batch", "Basic "+basicUser(key), string(body)); status != 200 {
			b.Fatalf("%d %s", status, resp)
		}
	}
	h.stop()
	b.ResetTimer()
	start := time.Now()
	h2 := startHarnessTB(b, dir) // returns once caught up
	el := time.Since(start)
	b.StopTimer()
	if got := h2.snap("replay").Events.Live; got != n*100 {
		b.Fatalf("%d events after replay, want %d", got, n*100)
	}
	b.ReportMetric(float64(n*100)/el.Seconds(), "events/s")
}
