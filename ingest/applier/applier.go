// Package applier applies the durable ingest log to the engine: one ordered
// consumer reads the stream in sequence order, decodes each message,
// drops operations whose message id was already seen within the dedup
// window, and applies the rest per workspace in micro-batches with
// Workspace.ApplyLogged, passing the stream sequence so that a replay is
// idempotent.
//
// Order: the stream sequence is global, so one consumer for the stream
// keeps every workspace's operations in log order (one consumer per
// partition would let a workspace's last applied sequence overtake
// messages of another partition; see DESIGN.md "Scale" for partition
// ownership across nodes, which will filter this consumer by subject).
//
// De-duplication: message ids are remembered per workspace for
// Options.DedupWindow (24h) of received_at time, as 64-bit hashes. The
// state is a pure function of the log, rebuilt by replaying it: a replay
// sees the same messages in the same order and drops the same duplicates.
// With snapshots, startup must replay (without applying) at least the
// window before the snapshot's sequence to rebuild it; Feed does that.
package applier

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cohortdb/cohort/engine"
	ilog "github.com/cohortdb/cohort/ingest/log"
)

// Options configure an Applier; zero values mean the defaults.
type Options struct {
	// MaxBatchOps bounds the operations of one ApplyLogged call; default 20000.
	MaxBatchOps int
	// DedupWindow is how long a message id is remembered; default 24h.
	DedupWindow time.Duration
	// FreshnessSamples is the size of the freshness sample ring; default 8192.
	FreshnessSamples int
	// From is the first stream sequence to read; default 1 (the whole
	// stream). With snapshots, pass a sequence at least DedupWindow older
	// than the oldest snapshot's, so the de-duplication state is rebuilt.
	From uint64
	// MaxLag is how far (ack → applied) the applier may fall behind before
	// Throttle makes writers wait (backpressure.go); default 250ms,
	// negative: never.
	MaxLag time.Duration
	// Logger; default slog.Default().
	Logger *slog.Logger
}

func (o *Options) fill() {
	if o.MaxBatchOps <= 0 {
		o.MaxBatchOps = 20000
	}
	if o.DedupWindow <= 0 {
		o.DedupWindow = 24 * time.Hour
	}
	if o.MaxLag == 0 {
		o.MaxLag = defaultMaxLag
	}
	if o.FreshnessSamples <= 0 {
		o.FreshnessSamples = 8192
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
}

// Applier applies the log to an engine.
type Applier struct {
	opts  Options
	eng   *engine.Engine
	l     *ilog.Log
	log   *slog.Logger
	start time.Time

	dedup map[string]*dedup // per workspace; only the Run goroutine
	seed  maphash.Seed
	names ilog.Interner // only the Run goroutine
	// logLimit bounds rejection warnings (only the Run goroutine).
	logLimit limiter

	applied    atomic.Uint64 // last stream sequence applied (or skipped)
	ops        atomic.Uint64
	duplicates atomic.Uint64
	rejected   atomic.Uint64
	corrupt    atomic.Uint64
	lag        atomic.Int64 // backpressure.go
	throttled  atomic.Int64 // ns writers waited in Throttle
	stopped    atomic.Bool  // Run returned

	watch watches // rejection watches (watch.go)

	mu     sync.Mutex
	notify chan struct{} // closed and replaced when applied advances
	fresh  ring
}

// New returns an applier of l to eng; Run starts it.
func New(eng *engine.Engine, l *ilog.Log, opts Options) *Applier {
	opts.fill()
	return &Applier{
		opts:   opts,
		eng:    eng,
		l:      l,
		log:    opts.Logger,
		start:  time.Now(),
		dedup:  make(map[string]*dedup),
		seed:   maphash.MakeSeed(),
		notify: make(chan struct{}),
		fresh:  ring{buf: make([]time.Duration, opts.FreshnessSamples)},
	}
}

// Micro-batch bounds (Run).
const (
	liveBatchBytes = 2 << 20
	liveBatchMsgs  = 256
	replayPending  = 1000 // messages behind the stream's end
)

// Run applies the log from its start until ctx is done.
func (a *Applier) Run(ctx context.Context) error {
	defer a.stop()
	sub, err := a.l.Subscribe(ctx, max(a.opts.From, 1))
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("cannot start applier: %w", err)
	}
	defer sub.Stop()
	var msgs []ilog.Msg
	for {
		msgs = msgs[:0]
		select {
		case <-ctx.Done():
			return nil
		case m := <-sub.C:
			msgs = append(msgs, m)
		}
		// Live, a micro-batch is a few MB (tens of milliseconds to apply):
		// its messages become queryable, and count as applied, together.
		// A replay (thousands of messages pending) takes large ones.
		maxSize, maxMsgs := liveBatchBytes, liveBatchMsgs
		if msgs[0].Pending > replayPending {
			maxSize, maxMsgs = 16<<20, 4096
		}
		size := len(msgs[0].Data)
	drain:
		for size < maxSize && len(msgs) < maxMsgs {
			select {
			case m := <-sub.C:
				msgs = append(msgs, m)
				size += len(m.Data)
			default:
				break drain
			}
		}
		if err := a.apply(ctx, msgs); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
	}
}

// pendingWS is the micro-batch of one workspace.
type pendingWS struct {
	ws     *engine.Workspace
	ops    []engine.Op
	maxSeq uint64
}

// apply decodes, de-duplicates and applies a run of consecutive messages.
func (a *Applier) apply(ctx context.Context, msgs []ilog.Msg) error {
	a.noteLag(msgs)
	batches := make(map[string]*pendingWS)
	var order []string
	flush := func(name string) error {
		p := batches[name]
		if p == nil || p.maxSeq == 0 {
			return nil
		}
		res, err := p.ws.ApplyLogged(ctx, p.ops, p.maxSeq)
		if err != nil {
			return fmt.Errorf("cannot apply log batch to %s: %w", name, err)
		}
		a.ops.Add(uint64(res.Applied))
		for _, r := range res.Rejected {
			a.rejected.Add(1)
			op := &p.ops[r.Index]
			a.watch.reject(op.Source, r.Err)
			if a.logLimit.allow(time.Now()) {
				a.log.Warn("operation rejected by the engine", "workspace", name, "message_id", op.Source, "kind", op.Kind.String(), "err", r.Err,
					"not_logged_since_last", a.logLimit.takeSuppressed())
			}
		}
		p.ops, p.maxSeq = p.ops[:0], 0
		return nil
	}
	var ops []engine.Op
	for _, m := range msgs {
		var name string
		var err error
		var mops []engine.Op
		if ws, kept, ok := a.l.TakeOps(m.Data); ok {
			name, mops = ws, kept // published by this process: no decoding
		} else {
			name, ops, err = ilog.DecodeInterned(m.Data, ops[:0], &a.names)
			mops = ops
		}
		if err != nil {
			// Nothing good can come from stopping: the message can never
			// be applied. It stays in the log for inspection.
			a.corrupt.Add(1)
			a.log.Error("skipping undecodable log message", "seq", m.Seq, "err", err)
			continue
		}
		p := batches[name]
		if p == nil {
			ws, err := a.workspace(name)
			if err != nil {
				a.log.Error("skipping log message", "seq", m.Seq, "err", err)
				continue
			}
			p = &pendingWS{ws: ws}
			batches[name] = p
			order = append(order, name)
		}
		d := a.dedup[name]
		if d == nil {
			d = &dedup{window: a.opts.DedupWindow.Microseconds(), ids: make(map[uint64]int64)}
			a.dedup[name] = d
		}
		skip := m.Seq <= p.ws.Snapshot().LogSeq // already in the engine (a snapshot)
		for i := range mops {
			op := &mops[i]
			if op.Source != "" && d.seen(maphash.String(a.seed, op.Source), op.ReceivedAt) {
				a.duplicates.Add(1)
				continue
			}
			if !skip {
				p.ops = append(p.ops, *op)
			}
		}
		if !skip {
			p.maxSeq = m.Seq
		}
		if len(p.ops) >= a.opts.MaxBatchOps {
			if err := flush(name); err != nil {
				return err
			}
		}
	}
	for _, name := range order {
		if err := flush(name); err != nil {
			return err
		}
	}
	now := time.Now()
	a.mu.Lock()
	for _, m := range msgs {
		if m.Time.After(a.start) {
			a.fresh.add(max(now.Sub(m.Time), 0))
		}
	}
	a.applied.Store(msgs[len(msgs)-1].Seq)
	close(a.notify)
	a.notify = make(chan struct{})
	a.mu.Unlock()
	return nil
}

func (a *Applier) workspace(name string) (*engine.Workspace, error) {
	ws, err := a.eng.Workspace(name)
	if errors.Is(err, engine.ErrNoWorkspace) {
		ws, err = a.eng.CreateWorkspace(name)
		if err != nil { // created concurrently?
			if ws2, err2 := a.eng.Workspace(name); err2 == nil {
				return ws2, nil
			}
		}
	}
	return ws, err
}

// stop marks the applier stopped and wakes every waiter.
func (a *Applier) stop() {
	a.stopped.Store(true)
	a.mu.Lock()
	close(a.notify)
	a.notify = make(chan struct{})
	a.mu.Unlock()
}

// Applied returns the last stream sequence applied.
func (a *Applier) Applied() uint64 { return a.applied.Load() }

// WaitFor waits until the log is applied up to seq.
func (a *Applier) WaitFor(ctx context.Context, seq uint64) error {
	for {
		a.mu.Lock()
		ch := a.notify
		a.mu.Unlock()
		if a.applied.Load() >= seq {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("cannot wait for log sequence %d: %w", seq, ctx.Err())
		}
	}
}

// Stats are the applier's counters.
type Stats struct {
	Applied    uint64 // last stream sequence applied
	Ops        uint64 // operations applied
	Duplicates uint64 // operations dropped as duplicate message ids
	Rejected   uint64 // operations the engine rejected
	Corrupt    uint64 // undecodable messages skipped
}

// Stats returns the applier's counters.
func (a *Applier) Stats() Stats {
	return Stats{a.applied.Load(), a.ops.Load(), a.duplicates.Load(), a.rejected.Load(), a.corrupt.Load()}
}

// Freshness returns quantiles (e.g. 0.5, 0.99) of the time from a
// message's acknowledgement (its store time in the stream) to its
// operations being queryable, over the most recent samples, and the
// number of samples. Messages stored before the applier started (replay)
// are not sampled.
func (a *Applier) Freshness(qs ...float64) ([]time.Duration, int) {
	a.mu.Lock()
	s := a.fresh.snapshot()
	a.mu.Unlock()
	out := make([]time.Duration, len(qs))
	if len(s) == 0 {
		return out, 0
	}
	slices.Sort(s)
	for i, q := range qs {
		k := int(q * float64(len(s)-1))
		out[i] = s[min(max(k, 0), len(s)-1)]
	}
	return out, len(s)
}

type ring struct {
	buf  []time.Duration
	next int
	full bool
}

func (r *ring) add(d time.Duration) {
	r.buf[r.next] = d
	r.next++
	if r.next == len(r.buf) {
		r.next, r.full = 0, true
	}
}

func (r *ring) snapshot() []time.Duration {
	if r.full {
		return slices.Clone(r.buf)
	}
	return slices.Clone(r.buf[:r.next])
}

// dedup remembers message-id hashes by received_at (µs) for window µs.
type dedup struct {
	window int64
	ids    map[uint64]int64 // hash → received_at of its first sighting
	hours  []hourBucket     // ascending
}

type hourBucket struct {
	hour   int64
	hashes []uint64
}

const hourMicros = int64(time.Hour / time.Microsecond)

// seen reports whether h was seen within the window before at, and
// remembers it otherwise.
func (d *dedup) seen(h uint64, at int64) bool {
	if t, ok := d.ids[h]; ok && at-t < d.window {
		return true
	}
	d.ids[h] = at
	hr := at / hourMicros
	if n := len(d.hours); n == 0 || d.hours[n-1].hour < hr {
		d.hours = append(d.hours, hourBucket{hour: hr})
		d.expire(at)
	}
	// Out-of-order received_at (clock steps, other nodes) goes to the
	// newest bucket: it expires a little later, never earlier.
	b := &d.hours[len(d.hours)-1]
	b.hashes = append(b.hashes, h)
	return false
}

func (d *dedup) expire(now int64) {
	cut := 0
	for cut < len(d.hours)-1 && (d.hours[cut].hour+1)*hourMicros <= now-d.window {
		for _, h := range d.hours[cut].hashes {
			if t, ok := d.ids[h]; ok && now-t >= d.window {
				delete(d.ids, h)
			}
		}
		cut++
	}
	d.hours = d.hours[cut:]
}

// limiter allows up to 10 log records per second and counts the others.
type limiter struct {
	second     int64
	n          int
	suppressed int
}

func (l *limiter) allow(now time.Time) bool {
	if s := now.Unix(); s != l.second {
		l.second, l.n = s, 0
	}
	if l.n >= 10 {
		l.suppressed++
		return false
	}
	l.n++
	return true
}

func (l *limiter) takeSuppressed() int {
	n := l.suppressed
	l.suppressed = 0
	return n
}
