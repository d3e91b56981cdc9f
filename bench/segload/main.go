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
	"os/signal"
	"slices"
	"strconv"
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
	var srv *loadgen.Server
	if c.url == "" {
		if c.serve == "" {
			return errors.New("give -url (with -grpc and -token) or -serve")
		}
		var err error
		srv, err = loadgen.StartServer(ctx, loadgen.ServeOptions{Bin: c.serve, Name: "segload",
			DemoProfiles: c.demoProfiles, DemoEvents: c.demoEvents, ExtraArgs: c.serveArgs, Keep: c.keep,
			AdminToken: true})
		if err != nil {
			return err
		}
		defer srv.Stop()
		c.url, c.grpc, c.key, c.token = srv.URL, srv.GRPCAddr, srv.Key, srv.AdminToken
	}
	if c.grpc == "" || c.token == "" {
		return errors.New("no gRPC address (-grpc) or token (-token)")
	}
	cl, err := client.Dial(c.grpc, c.token)
	if err != nil {
		return err
	}
	defer cl.Close()
	m := &loadgen.Monitor{URL: c.url, HC: &http.Client{Timeout: 5 * time.Second}}
	if srv != nil {
		m.PID = srv.Pid()
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
func streamBench(ctx context.Context, c config, cl *client.Client, m *loadgen.Monitor) error {
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
	loadStart := loadgen.LoadAvg()
	for r := range c.runs {
		time.Sleep(time.Second) // let the previous stream's garbage settle
		var rr result
		rr.rssBefore, rr.heapBefore = m.RSS(), m.Heap()
		stop := m.Sample(50*time.Millisecond, 500*time.Millisecond)
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
		rr.rssEnd = m.RSS()
		if err != nil {
			return fmt.Errorf("run %d: %w", r+1, err)
		}
		if got != n || !ordered {
			return fmt.Errorf("run %d: %d ids (want %d), ascending %v", r+1, got, n, ordered)
		}
		fmt.Fprintf(os.Stderr, "  run %d: %d ids in %.2fs = %.2fM ids/s, server RSS %.0f → max %.0f MB, heap %.0f → max %.0f MB, load %s\n",
			r+1, got, rr.secs, float64(got)/rr.secs/1e6, rr.rssBefore/1e6, rr.rssMax/1e6, rr.heapBefore/1e6, rr.heapMax/1e6, loadgen.LoadAvg())
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
	fmt.Printf("| ids/s (median of runs) | %.2fM (min %.2fM, max %.2fM) |\n", loadgen.Quantile(rates, 0.5)/1e6, loadgen.Quantile(rates, 0)/1e6, loadgen.Quantile(rates, 1)/1e6)
	fmt.Printf("| seconds per export (median) | %.2f |\n", float64(n)/loadgen.Quantile(rates, 0.5))
	fmt.Printf("| server RSS before the streams | %.0f MB |\n", res[0].rssBefore/1e6)
	fmt.Printf("| server RSS growth during a stream (max sample − sample before; median / max of runs) | %.1f / %.1f MB |\n", loadgen.Quantile(growth, 0.5)/1e6, loadgen.Quantile(growth, 1)/1e6)
	fmt.Printf("| server Go heap growth during a stream (/metrics go_memstats_heap_alloc_bytes; median / max) | %.1f / %.1f MB |\n", loadgen.Quantile(heapGrowth, 0.5)/1e6, loadgen.Quantile(heapGrowth, 1)/1e6)
	fmt.Printf("| (the ids of one export as []uint32, for scale) | %.0f MB |\n", float64(n)*4/1e6)
	fmt.Printf("| load average (start → end) | %s → %s |\n", loadStart, loadgen.LoadAvg())
	return nil
}

// latencyBench runs the background load and the probes.
func latencyBench(ctx context.Context, c config, cl *client.Client, m *loadgen.Monitor) error {
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
					rssMax = max(rssMax, m.RSS())
					fmt.Fprintf(os.Stderr, "  %3ds %7.0f events/s  load %s\n", len(rates), float64(n-last), loadgen.LoadAvg())
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
	loadStart := loadgen.LoadAvg()
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
			fmt.Fprintf(os.Stderr, "  probe %d: entered p50 %.0f ms, exited p50 %.0f ms, lost %d\n", i+1, loadgen.Quantile(enter, 0.5), loadgen.Quantile(exit, 0.5), lost)
		}
		time.Sleep(time.Duration(rng.Int64N(int64(c.probeGap) + 1)))
	}
	secs := time.Since(t0).Seconds()
	loadEnd := loadgen.LoadAvg()
	stopLoad()
	wg.Wait()
	<-rateDone
	all := append(slices.Clone(enter), exit...)
	fmt.Printf("\nEnter/exit latency (ingest ack → event on WatchSegment), background /v1/batch at %d events/s target, %d extra segments, %.0fs\n",
		c.rate, defined, secs)
	fmt.Printf("| metric | value |\n| --- | --- |\n")
	fmt.Printf("| background events/s achieved (median of 1 s rates) | %.0f (p10 %.0f, p90 %.0f; %d HTTP errors, %d requests missed: every client busy) |\n",
		loadgen.Quantile(rates, 0.5), loadgen.Quantile(rates, 0.1), loadgen.Quantile(rates, 0.9), httpErrs.Load(), missed.Load())
	fmt.Printf("| segment.entered latency p50 / p99 / max (n=%d) | %.0f / %.0f / %.0f ms |\n", len(enter), loadgen.Quantile(enter, 0.5), loadgen.Quantile(enter, 0.99), loadgen.Quantile(enter, 1))
	fmt.Printf("| segment.exited latency p50 / p99 / max (n=%d) | %.0f / %.0f / %.0f ms |\n", len(exit), loadgen.Quantile(exit, 0.5), loadgen.Quantile(exit, 0.99), loadgen.Quantile(exit, 1))
	fmt.Printf("| all probes p50 / p99 (n=%d) | %.0f / %.0f ms |\n", len(all), loadgen.Quantile(all, 0.5), loadgen.Quantile(all, 0.99))
	fmt.Printf("| probe events lost (none after %s) | %d |\n", c.timeout, lost)
	fmt.Printf("| probe request → ack (durable) p50 / p99 | %.0f / %.0f ms |\n", loadgen.Quantile(ackMS, 0.5), loadgen.Quantile(ackMS, 0.99))
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
