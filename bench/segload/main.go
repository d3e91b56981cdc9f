// Command segload measures the segment API of a running (or self-started)
// `cohort serve` against issue 5's targets, and prints one table per mode:
//
//   - stream: StreamMembers of a segment over every profile, through the Go
//     client (api/client) over gRPC, -runs times: person ids/s per run
//     (median reported), every id checked (ascending, count = the
//     segment's), and the server's RSS sampled every 50 ms during each
//     stream (from /proc when this command started the server, else its
//     /metrics), with the Go heap from /metrics every 500 ms.
//   - latency: enter/exit latency from ingest acknowledgement to the event
//     on JetStream, under background /v1/batch load at -rate events/s.
//     A probe segment (profiles whose trait segload_probe is 'in') is
//     watched with WatchSegment (gRPC; the watch is ready when its
//     response header arrives); probes run one at a time: a /v1/batch
//     identify setting segload_probe='in' for a fresh user, timed from
//     its HTTP 200 (durable in the ingest log) to the segment.entered
//     event, then segload_probe='out' for the same user, timed to its
//     segment.exited. -segments more segments of the demo's shapes
//     (profile predicates, behaviour in windows, negation) are defined
//     too, so every background event is re-evaluated against them.
//
// Usage:
//
//	go build -o /tmp/cohort ./cmd/cohort
//	go run ./bench/segload -serve /tmp/cohort -mode stream -demo-profiles 10000000 -demo-events 1000000
//	go run ./bench/segload -serve /tmp/cohort -mode latency -rate 50000 -probes 200
//	go run ./bench/segload -url http://127.0.0.1:8080 -grpc 127.0.0.1:9090 -token TOKEN -key KEY -mode latency
//
// With -serve the command starts `BIN serve` on a fresh data directory
// and free ports (demo workspace of -demo-profiles / -demo-events), waits
// for /readyz, reads the demo write key from the banner and the admin
// token from the data directory, and stops the server (SIGTERM) at the
// end. Both processes share the machine: the load generator's and the
// client's CPU is taken from the server's.
package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/cohortdb/cohort/api/client"
	segmentv1 "github.com/cohortdb/cohort/api/segment/v1"
	"github.com/cohortdb/cohort/bench/internal/loadgen"
)

type config struct {
	url, grpc, key, token, ws string
	serve, serveArgs          string
	demoProfiles, demoEvents  int
	keep                      bool
	mode                      string

	// stream
	runs, batch int

	// latency
	rate, reqEvents, clients, users int
	probes, segments                int
	probeGap, warmup, timeout       time.Duration
}

func main() {
	var c config
	flag.StringVar(&c.url, "url", "", "base URL of a running server (with -grpc, -token, -key); empty: start one with -serve")
	flag.StringVar(&c.grpc, "grpc", "", "gRPC address of the running server")
	flag.StringVar(&c.key, "key", "", "write key of the workspace (latency mode)")
	flag.StringVar(&c.token, "token", "", "API token with write scope on the workspace, or the admin token")
	flag.StringVar(&c.ws, "workspace", "demo", "workspace")
	flag.StringVar(&c.serve, "serve", "", "cohort binary to start (`BIN serve`) on a fresh data directory and free ports")
	flag.StringVar(&c.serveArgs, "serve-args", "", "extra arguments of `serve`, space separated")
	flag.IntVar(&c.demoProfiles, "demo-profiles", 1_000_000, "with -serve: demo workspace profiles")
	flag.IntVar(&c.demoEvents, "demo-events", 1_000_000, "with -serve: demo workspace events")
	flag.BoolVar(&c.keep, "keep", false, "with -serve: keep the data directory")
	flag.StringVar(&c.mode, "mode", "stream", "stream, latency or both")
	flag.IntVar(&c.runs, "runs", 5, "stream: full exports timed")
	flag.IntVar(&c.batch, "batch", 10_000, "stream: ids per batch (0: the server's default)")
	flag.IntVar(&c.rate, "rate", 50_000, "latency: background events/s through /v1/batch")
	flag.IntVar(&c.reqEvents, "req-events", 100, "latency: events per background request")
	flag.IntVar(&c.clients, "clients", 32, "latency: concurrent background HTTP clients")
	flag.IntVar(&c.users, "users", 1_000_000, "latency: background events go to userId u1…uN (the demo's users)")
	flag.IntVar(&c.probes, "probes", 200, "latency: probes (each one entry and one exit)")
	flag.IntVar(&c.segments, "segments", 20, "latency: extra segments of the demo's shapes defined during the load")
	flag.DurationVar(&c.probeGap, "probe-gap", 100*time.Millisecond, "latency: random pause of up to this between probes")
	flag.DurationVar(&c.warmup, "warmup", 5*time.Second, "latency: background load before the first probe")
	flag.DurationVar(&c.timeout, "timeout", 10*time.Second, "latency: a probe whose event has not arrived after this is lost")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, c); err != nil {
		fmt.Fprintln(os.Stderr, "segload:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, c config) error {
	var srv *server
	if c.url == "" {
		if c.serve == "" {
			return errors.New("give -url (with -grpc and -token) or -serve")
		}
		var err error
		if srv, err = startServer(ctx, c); err != nil {
			return err
		}
		defer srv.stop()
		c.url, c.grpc, c.key, c.token = srv.url, srv.grpc, srv.key, srv.token
	}
	if c.grpc == "" || c.token == "" {
		return errors.New("no gRPC address (-grpc) or token (-token)")
	}
	cl, err := client.Dial(c.grpc, c.token)
	if err != nil {
		return err
	}
	defer cl.Close()
	m := &monitor{url: c.url, hc: &http.Client{Timeout: 5 * time.Second}}
	if srv != nil {
		m.pid = srv.cmd.Process.Pid
	}
	if c.mode == "stream" || c.mode == "both" {
		if err := streamBench(ctx, c, cl, m); err != nil {
			return err
		}
	}
	if c.mode == "latency" || c.mode == "both" {
		if c.key == "" {
			return errors.New("latency mode needs the write key (-key)")
		}
		if err := latencyBench(ctx, c, cl, m); err != nil {
			return err
		}
	}
	return nil
}

// streamBench exports a segment over every profile -runs times.
func streamBench(ctx context.Context, c config, cl *client.Client, m *monitor) error {
	const name = "segload_all"
	if _, err := cl.ReplaceSegment(ctx, c.ws, name, "SELECT person_id FROM profiles"); err != nil {
		return fmt.Errorf("cannot define %s: %w", name, err)
	}
	n, err := cl.CountSegment(ctx, c.ws, name)
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "segload: streaming %s (%d members) %d times, batches of %d\n", name, n, c.runs, c.batch)
	type result struct {
		secs                      float64
		rssBefore, rssMax, rssEnd float64
		heapBefore, heapMax       float64
		batches                   int
	}
	var res []result
	loadStart := loadavg()
	for r := range c.runs {
		time.Sleep(time.Second) // let the previous stream's garbage settle
		var rr result
		rr.rssBefore, rr.heapBefore = m.rss(), m.heap()
		stop := m.sample(50*time.Millisecond, 500*time.Millisecond)
		t0 := time.Now()
		var got uint64
		var last uint32
		ordered := true
		_, err := cl.StreamMembers(ctx, c.ws, name, client.MembersOptions{BatchSize: c.batch}, func(ids []uint32, _ string) error {
			for _, id := range ids {
				if id <= last {
					ordered = false
				}
				last = id
			}
			got += uint64(len(ids))
			rr.batches++
			return nil
		})
		rr.secs = time.Since(t0).Seconds()
		rr.rssMax, rr.heapMax = stop()
		rr.rssEnd = m.rss()
		if err != nil {
			return fmt.Errorf("run %d: %w", r+1, err)
		}
		if got != n || !ordered {
			return fmt.Errorf("run %d: %d ids (want %d), ascending %v", r+1, got, n, ordered)
		}
		fmt.Fprintf(os.Stderr, "  run %d: %d ids in %.2fs = %.2fM ids/s, server RSS %.0f → max %.0f MB, heap %.0f → max %.0f MB, load %s\n",
			r+1, got, rr.secs, float64(got)/rr.secs/1e6, rr.rssBefore/1e6, rr.rssMax/1e6, rr.heapBefore/1e6, rr.heapMax/1e6, loadavg())
		res = append(res, rr)
	}
	rates := make([]float64, len(res))
	var growth, heapGrowth []float64
	for i, r := range res {
		rates[i] = float64(n) / r.secs
		growth = append(growth, r.rssMax-r.rssBefore)
		heapGrowth = append(heapGrowth, r.heapMax-r.heapBefore)
	}
	fmt.Printf("\nStreamMembers over gRPC (api/client), %d members, batches of %d ids, %d runs\n", n, c.batch, len(res))
	fmt.Printf("| metric | value |\n| --- | --- |\n")
	fmt.Printf("| ids/s (median of runs) | %.2fM (min %.2fM, max %.2fM) |\n", quantile(rates, 0.5)/1e6, quantile(rates, 0)/1e6, quantile(rates, 1)/1e6)
	fmt.Printf("| seconds per export (median) | %.2f |\n", float64(n)/quantile(rates, 0.5))
	fmt.Printf("| server RSS before the streams | %.0f MB |\n", res[0].rssBefore/1e6)
	fmt.Printf("| server RSS growth during a stream (max sample − sample before; median / max of runs) | %.1f / %.1f MB |\n", quantile(growth, 0.5)/1e6, quantile(growth, 1)/1e6)
	fmt.Printf("| server Go heap growth during a stream (/metrics go_memstats_heap_alloc_bytes; median / max) | %.1f / %.1f MB |\n", quantile(heapGrowth, 0.5)/1e6, quantile(heapGrowth, 1)/1e6)
	fmt.Printf("| (the ids of one export as []uint32, for scale) | %.0f MB |\n", float64(n)*4/1e6)
	fmt.Printf("| load average (start → end) | %s → %s |\n", loadStart, loadavg())
	return nil
}

// latencyBench runs the background load and the probes.
func latencyBench(ctx context.Context, c config, cl *client.Client, m *monitor) error {
	const probeSeg = "segload_probe"
	runID := strconv.FormatInt(time.Now().UnixNano()%1e12, 36)
	tr := &http.Transport{MaxIdleConnsPerHost: c.clients + 4, MaxConnsPerHost: c.clients + 4,
		DialContext: (&net.Dialer{Timeout: 5 * time.Second}).DialContext}
	hc := &http.Client{Transport: tr, Timeout: 30 * time.Second}
	defer tr.CloseIdleConnections()
	ing := &ingester{url: c.url, key: c.key, hc: hc}

	// The probe trait must exist before the segment compiles.
	if _, err := ing.identify(ctx, "segload-setup-"+runID, "no", runID+"-setup"); err != nil {
		return err
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, err := cl.ReplaceSegment(ctx, c.ws, probeSeg, "SELECT person_id FROM profiles WHERE segload_probe = 'in'")
		if err == nil {
			break
		}
		if status.Code(err) != codes.InvalidArgument || time.Now().After(deadline) {
			return fmt.Errorf("cannot define %s: %w", probeSeg, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	defined := 0
	for i := 0; i < c.segments; i++ {
		sql := demoSegment(i)
		if _, err := cl.ReplaceSegment(ctx, c.ws, fmt.Sprintf("segload_%02d", i), sql); err != nil {
			fmt.Fprintf(os.Stderr, "segload: cannot define segment %q (%v): not a demo workspace? continuing\n", sql, err)
			continue
		}
		defined++
	}

	// The watch, ready once its header arrived.
	wctx, stopWatch := context.WithCancel(ctx)
	defer stopWatch()
	st, err := cl.Segments.WatchSegment(wctx, &segmentv1.WatchSegmentRequest{Workspace: c.ws, Name: probeSeg})
	if err != nil {
		return err
	}
	if _, err := st.Header(); err != nil {
		return fmt.Errorf("cannot watch %s: %w", probeSeg, err)
	}
	type arrival struct {
		ev *segmentv1.MembershipEvent
		at time.Time
	}
	events := make(chan arrival, 1024)
	go func() {
		for {
			ev, err := st.Recv()
			if err != nil {
				close(events)
				return
			}
			events <- arrival{ev, time.Now()}
		}
	}()

	// Background load: -rate events/s in requests of -req-events, paced
	// on a fixed schedule; a request that finds every client busy is
	// counted as missed, not queued.
	loadCtx, stopLoad := context.WithCancel(ctx)
	defer stopLoad()
	var acked, httpErrs, missed atomic.Int64
	var firstErr atomic.Pointer[string]
	tokens := make(chan int64, c.clients)
	var wg sync.WaitGroup
	var reqSeq atomic.Int64
	for g := range c.clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(g), 42))
			bodies := make([]*loadgen.Template, 4)
			for i := range bodies {
				bodies[i] = loadgen.NewTemplate(rng, c.reqEvents, c.users, "sl", runID)
			}
			i := 0
			for range tokens {
				t := bodies[i%len(bodies)]
				i++
				t.Stamp(reqSeq.Add(1), rng)
				if err := ing.post(loadCtx, t.Body); err != nil {
					if loadCtx.Err() == nil {
						httpErrs.Add(1)
						m := err.Error()
						firstErr.CompareAndSwap(nil, &m)
					}
					continue
				}
				acked.Add(int64(c.reqEvents))
			}
		}()
	}
	go func() {
		defer close(tokens)
		interval := time.Duration(float64(time.Second) * float64(c.reqEvents) / float64(c.rate))
		next := time.Now()
		for k := int64(0); ; k++ {
			next = next.Add(interval)
			if d := time.Until(next); d > 0 {
				select {
				case <-time.After(d):
				case <-loadCtx.Done():
					return
				}
			} else if loadCtx.Err() != nil {
				return
			}
			select {
			case tokens <- k:
			default:
				missed.Add(1)
			}
		}
	}()
	var rates []float64
	var rssMax float64
	rateDone := make(chan struct{})
	measuring := make(chan struct{})
	go func() {
		defer close(rateDone)
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		last := acked.Load()
		on := false
		start := measuring
		for {
			select {
			case <-loadCtx.Done():
				return
			case <-start:
				on, start = true, nil
				last = acked.Load()
			case <-tick.C:
				n := acked.Load()
				if on {
					rates = append(rates, float64(n-last))
					rssMax = max(rssMax, m.rss())
					fmt.Fprintf(os.Stderr, "  %3ds %7.0f events/s  load %s\n", len(rates), float64(n-last), loadavg())
				}
				last = n
			}
		}
	}()
	fmt.Fprintf(os.Stderr, "segload: background load %d events/s (%d per request, %d clients), %d extra segments; warm-up %s\n",
		c.rate, c.reqEvents, c.clients, defined, c.warmup)
	select {
	case <-time.After(c.warmup):
	case <-ctx.Done():
		return ctx.Err()
	}
	loadStart := loadavg()
	close(measuring)
	t0 := time.Now()

	// Probes, one at a time.
	var enter, exit, ackMS []float64
	lost := 0
	rng := rand.New(rand.NewPCG(7, 7))
	wait := func(entered bool, person uint32, sent time.Time) (time.Time, uint32, bool) {
		timeout := time.After(c.timeout)
		for {
			select {
			case a, ok := <-events:
				if !ok {
					return time.Time{}, 0, false
				}
				if a.at.Before(sent) || a.ev.Entered != entered || (person != 0 && a.ev.PersonId != person) {
					continue // a late event of a lost probe
				}
				return a.at, a.ev.PersonId, true
			case <-timeout:
				return time.Time{}, 0, false
			case <-ctx.Done():
				return time.Time{}, 0, false
			}
		}
	}
	for i := 0; i < c.probes && ctx.Err() == nil; i++ {
		uid := fmt.Sprintf("segload-%s-%d", runID, i)
		sent := time.Now()
		ack, err := ing.identify(ctx, uid, "in", fmt.Sprintf("%s-p%d-in", runID, i))
		if err != nil {
			return fmt.Errorf("probe %d: %w", i, err)
		}
		ackMS = append(ackMS, ms(ack.Sub(sent)))
		at, person, ok := wait(true, 0, sent)
		if !ok {
			lost++
			fmt.Fprintf(os.Stderr, "  probe %d: no segment.entered after %s\n", i, c.timeout)
			continue
		}
		enter = append(enter, ms(max(at.Sub(ack), 0)))
		sent = time.Now()
		ack, err = ing.identify(ctx, uid, "out", fmt.Sprintf("%s-p%d-out", runID, i))
		if err != nil {
			return fmt.Errorf("probe %d: %w", i, err)
		}
		ackMS = append(ackMS, ms(ack.Sub(sent)))
		at, _, ok = wait(false, person, sent)
		if !ok {
			lost++
			fmt.Fprintf(os.Stderr, "  probe %d: no segment.exited after %s\n", i, c.timeout)
			continue
		}
		exit = append(exit, ms(max(at.Sub(ack), 0)))
		if (i+1)%25 == 0 {
			fmt.Fprintf(os.Stderr, "  probe %d: entered p50 %.0f ms, exited p50 %.0f ms, lost %d\n", i+1, quantile(enter, 0.5), quantile(exit, 0.5), lost)
		}
		time.Sleep(time.Duration(rng.Int64N(int64(c.probeGap) + 1)))
	}
	secs := time.Since(t0).Seconds()
	loadEnd := loadavg()
	stopLoad()
	wg.Wait()
	<-rateDone
	all := append(slices.Clone(enter), exit...)
	fmt.Printf("\nEnter/exit latency (ingest ack → event on WatchSegment), background /v1/batch at %d events/s target, %d extra segments, %.0fs\n",
		c.rate, defined, secs)
	fmt.Printf("| metric | value |\n| --- | --- |\n")
	fmt.Printf("| background events/s achieved (median of 1 s rates) | %.0f (p10 %.0f, p90 %.0f; %d HTTP errors, %d requests missed: every client busy) |\n",
		quantile(rates, 0.5), quantile(rates, 0.1), quantile(rates, 0.9), httpErrs.Load(), missed.Load())
	fmt.Printf("| segment.entered latency p50 / p99 / max (n=%d) | %.0f / %.0f / %.0f ms |\n", len(enter), quantile(enter, 0.5), quantile(enter, 0.99), quantile(enter, 1))
	fmt.Printf("| segment.exited latency p50 / p99 / max (n=%d) | %.0f / %.0f / %.0f ms |\n", len(exit), quantile(exit, 0.5), quantile(exit, 0.99), quantile(exit, 1))
	fmt.Printf("| all probes p50 / p99 (n=%d) | %.0f / %.0f ms |\n", len(all), quantile(all, 0.5), quantile(all, 0.99))
	fmt.Printf("| probe events lost (none after %s) | %d |\n", c.timeout, lost)
	fmt.Printf("| probe request → ack (durable) p50 / p99 | %.0f / %.0f ms |\n", quantile(ackMS, 0.5), quantile(ackMS, 0.99))
	fmt.Printf("| server RSS (max) | %.0f MB |\n", rssMax/1e6)
	fmt.Printf("| load average (start → end) | %s → %s |\n", loadStart, loadEnd)
	if p := firstErr.Load(); p != nil {
		fmt.Printf("first HTTP error: %s\n", *p)
	}
	if lost > 0 {
		return fmt.Errorf("%d probe events lost", lost)
	}
	return nil
}

// demoSegment returns the i-th extra segment: the shapes marketers write,
// over the demo workspace's attributes (bench/gen) and the background
// load's events.
func demoSegment(i int) string {
	countries := []string{"ES", "US", "DE", "FR", "GB", "BR", "IN", "JP"}
	cc := countries[i%len(countries)]
	switch i % 5 {
	case 0:
		return fmt.Sprintf("SELECT person_id FROM profiles WHERE country = '%s' AND ltv > %d", cc, 50+10*i)
	case 1:
		return fmt.Sprintf("SELECT person_id FROM profiles WHERE `plan` = 'pro' AND age BETWEEN %d AND %d", 18+i%20, 30+i%20)
	case 2:
		return fmt.Sprintf("SELECT person_id FROM profiles WHERE country = '%s' AND person_id IN "+
			"(SELECT person_id FROM events WHERE name = 'Product Viewed' AND ts > NOW() - INTERVAL %d HOUR)", cc, 1+i%24)
	case 3:
		return fmt.Sprintf("SELECT person_id FROM profiles WHERE person_id IN "+
			"(SELECT person_id FROM events WHERE name = 'Order Completed' GROUP BY person_id HAVING COUNT(*) >= %d)", 2+i%3)
	default:
		return fmt.Sprintf("SELECT person_id FROM profiles WHERE is_vip = true AND NOT EXISTS "+
			"(SELECT 1 FROM events WHERE events.person_id = profiles.person_id AND name = 'Checkout Started' AND ts > NOW() - INTERVAL %d MINUTE)", 10+i)
	}
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// ingester posts Segment-format batches with the write key.
type ingester struct {
	url, key string
	hc       *http.Client
}

func (in *ingester) post(ctx context.Context, body []byte) error {
	req, err := http.NewRequestWithContext(ctx, "POST", in.url+"/v1/batch", bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.SetBasicAuth(in.key, "")
	req.Header.Set("Content-Type", "application/json")
	resp, err := in.hc.Do(req)
	if err != nil {
		return err
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || bytes.Contains(b, []byte(`"rejected"`)) {
		return fmt.Errorf("status %d: %.200s", resp.StatusCode, b)
	}
	return nil
}

// identify sets the probe trait of user uid and returns when the server
// acknowledged it (durable).
func (in *ingester) identify(ctx context.Context, uid, probe, msgID string) (time.Time, error) {
	body := fmt.Sprintf(`{"batch":[{"type":"identify","userId":%q,"messageId":%q,"timestamp":%q,"traits":{"segload_probe":%q}}]}`,
		uid, msgID, time.Now().UTC().Format(time.RFC3339Nano), probe)
	if err := in.post(ctx, []byte(body)); err != nil {
		return time.Time{}, fmt.Errorf("cannot identify %s: %w", uid, err)
	}
	return time.Now(), nil
}

// monitor reads the server's memory: RSS from /proc when the server is
// this command's child, else process_resident_memory_bytes of /metrics;
// the Go heap from /metrics.
type monitor struct {
	url string
	hc  *http.Client
	pid int
}

func (m *monitor) rss() float64 {
	if m.pid != 0 {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", m.pid))
		if err == nil {
			for _, l := range strings.Split(string(b), "\n") {
				if f := strings.Fields(l); len(f) >= 2 && f[0] == "VmRSS:" {
					kb, _ := strconv.ParseFloat(f[1], 64)
					return kb * 1024
				}
			}
		}
	}
	return m.metric("process_resident_memory_bytes")
}

func (m *monitor) heap() float64 { return m.metric("go_memstats_heap_alloc_bytes") }

func (m *monitor) metric(name string) float64 {
	v, err := scrape(m.hc, m.url)
	if err != nil {
		return 0
	}
	return v[name]
}

// sample samples RSS every rssEvery and the heap every heapEvery until
// the returned function is called, which returns their maxima.
func (m *monitor) sample(rssEvery, heapEvery time.Duration) func() (rss, heap float64) {
	var mu sync.Mutex
	var maxRSS, maxHeap float64
	done := make(chan struct{})
	var wg sync.WaitGroup
	loop := func(every time.Duration, read func() float64, into *float64) {
		defer wg.Done()
		tick := time.NewTicker(every)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-tick.C:
				v := read()
				mu.Lock()
				*into = max(*into, v)
				mu.Unlock()
			}
		}
	}
	maxRSS, maxHeap = m.rss(), m.heap()
	wg.Add(2)
	go loop(rssEvery, m.rss, &maxRSS)
	go loop(heapEvery, m.heap, &maxHeap)
	return func() (float64, float64) {
		close(done)
		wg.Wait()
		return max(maxRSS, m.rss()), max(maxHeap, m.heap())
	}
}

func quantile(v []float64, q float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	return s[min(int(q*float64(len(s)-1)+0.5), len(s)-1)]
}

func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

// scrape reads the Prometheus text of /metrics into name{labels} → value.
func scrape(hc *http.Client, base string) (map[string]float64, error) {
	resp, err := hc.Get(base + "/metrics")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		l := sc.Text()
		if l == "" || l[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(l, ' ')
		if i < 0 {
			continue
		}
		if v, err := strconv.ParseFloat(l[i+1:], 64); err == nil {
			out[l[:i]] = v
		}
	}
	return out, sc.Err()
}

// server is a `cohort serve` started by this command.
type server struct {
	cmd                   *exec.Cmd
	dir                   string
	keep                  bool
	url, grpc, key, token string
	stderr                *os.File
	exited                chan struct{}
	waitErr               error
}

var keyLine = regexp.MustCompile(`demo write key ([0-9a-f]+)`)

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

func startServer(ctx context.Context, c config) (*server, error) {
	dir, err := os.MkdirTemp("", "segload-")
	if err != nil {
		return nil, err
	}
	var ports [3]int
	for i := range ports {
		if ports[i], err = freePort(); err != nil {
			return nil, err
		}
	}
	args := []string{"serve", "--data-dir", filepath.Join(dir, "data"),
		"--http-addr", fmt.Sprintf("127.0.0.1:%d", ports[0]),
		"--mysql-addr", fmt.Sprintf("127.0.0.1:%d", ports[1]),
		"--grpc-addr", fmt.Sprintf("127.0.0.1:%d", ports[2]),
		"--demo-profiles", strconv.Itoa(c.demoProfiles), "--demo-events", strconv.Itoa(c.demoEvents),
		"--shutdown-timeout", "2m"}
	args = append(args, strings.Fields(c.serveArgs)...)
	cmd := exec.Command(c.serve, args...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	errf, err := os.Create(filepath.Join(dir, "serve.log"))
	if err != nil {
		return nil, err
	}
	cmd.Stderr = errf
	s := &server{cmd: cmd, dir: dir, keep: c.keep, url: fmt.Sprintf("http://127.0.0.1:%d", ports[0]),
		grpc: fmt.Sprintf("127.0.0.1:%d", ports[2]), stderr: errf, exited: make(chan struct{})}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("cannot start %s: %w", c.serve, err)
	}
	go func() { s.waitErr = cmd.Wait(); close(s.exited) }()
	keyc := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if m := keyLine.FindStringSubmatch(sc.Text()); m != nil {
				select {
				case keyc <- m[1]:
				default:
				}
			}
		}
	}()
	fmt.Fprintf(os.Stderr, "segload: started %s %s (log %s)\n", c.serve, strings.Join(args, " "), errf.Name())
	select {
	case s.key = <-keyc:
	case <-s.exited:
		return nil, fmt.Errorf("server exited: %v (see %s)", s.waitErr, errf.Name())
	case <-time.After(time.Minute):
		s.stop()
		return nil, errors.New("no write key in the server's banner after 1 min")
	}
	tok, err := os.ReadFile(filepath.Join(dir, "data", "admin_token"))
	if err != nil {
		s.stop()
		return nil, err
	}
	s.token = strings.TrimSpace(string(tok))
	hc := &http.Client{Timeout: 5 * time.Second}
	for {
		resp, err := hc.Get(s.url + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		select {
		case <-s.exited:
			return nil, fmt.Errorf("server exited: %v (see %s)", s.waitErr, errf.Name())
		case <-ctx.Done():
			s.stop()
			return nil, ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
	fmt.Fprintf(os.Stderr, "segload: server ready after %s\n", time.Since(start).Round(time.Millisecond))
	return s, nil
}

func (s *server) stop() {
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
	case <-time.After(5 * time.Minute):
		_ = s.cmd.Process.Kill()
		<-s.exited
	}
	s.stderr.Close()
	if !s.keep {
		os.RemoveAll(s.dir)
	} else {
		fmt.Fprintf(os.Stderr, "segload: kept %s\n", s.dir)
	}
}
