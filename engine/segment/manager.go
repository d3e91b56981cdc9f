package segment

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cohortdb/cohort/engine"
	"github.com/cohortdb/cohort/engine/column"
)

// Errors callers map to their protocol's codes.
var (
	ErrNotFound    = errors.New("no such segment")
	ErrExists      = errors.New("segment exists")
	ErrInvalidName = errors.New("invalid segment name")
	ErrStopped     = errors.New("segment manager stopped")
)

var nameRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,63}$`)

// Options configures a Manager. The callbacks run on the manager's own
// goroutine, in order; they must not call back into the Manager.
type Options struct {
	Now  func() time.Time // default time.Now
	Tick time.Duration    // how often due time windows are processed; default 1s
	// Resolution is how precisely a person leaves a moving time window:
	// default Tick. A finer one costs more wheel buckets, not more work.
	Resolution time.Duration
	// SampleEvery is the interval of size samples; default 1 minute,
	// negative: no samples.
	SampleEvery time.Duration
	// OnTransitions receives every membership change of a processed batch;
	// ts is reused after it returns.
	OnTransitions func(ts []Transition)
	// OnSample receives the sizes of every segment at each sample.
	OnSample func(ss []Sample)
	// OnDefine is called with a new or replaced definition (Cond unused)
	// before it becomes visible, and OnDrop before a drop: persistence. An
	// error aborts the change. Not called when restoring.
	OnDefine func(Info) error
	OnDrop   func(name string) error
	Logger   *slog.Logger
}

func (o *Options) fill() {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Tick <= 0 {
		o.Tick = time.Second
	}
	if o.Resolution <= 0 {
		o.Resolution = o.Tick
	}
	if o.SampleEvery == 0 {
		o.SampleEvery = time.Minute
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
}

// Manager keeps the segments of one workspace. Readers (List, Get,
// Members, Of) run concurrently with the goroutine that keeps membership
// current (Run); definitions change on that goroutine too, so a
// definition's full evaluation and the batches around it never race.
type Manager struct {
	ws   *engine.Workspace
	opts Options

	mu   sync.RWMutex // segs
	segs map[string]*segment

	qmu     sync.Mutex // the queue of applied batches
	queue   pending
	wake    chan struct{}
	reqs    chan func()
	done    chan struct{}
	running bool

	evaluated   atomic.Int64 // persons touched: re-evaluated against every segment, or exited (merged away)
	transitions atomic.Int64 // transitions reported
	busy        atomic.Int64 // ns spent processing batches and windows

	// owned by the run goroutine
	// sets[0] holds every segment's condition, in order; the others are
	// its copies for more workers (a set's scratch is its own), compiled
	// from conds and cnow when a batch first needs them (evalAll).
	sets    []*engine.PointSet
	fresh   int // sets compiled for the current conds
	conds   []engine.Cond
	cnow    time.Time
	order   []*segment // the segments of sets[0], in its order
	dirty   bool       // segments changed since sets[0] was compiled
	work    []work     // persons to evaluate in this pass
	ins     []bool     // their answers, len(order) per person
	nexts   []int64    // their next time-window crossings
	wheel   wheel
	seen    column.Bitmap
	lastRun time.Time
	sampled time.Time
	trans   []Transition
}

// segment is one defined segment. mu guards members and count against
// readers; everything else belongs to the run goroutine.
type segment struct {
	info Info
	cond engine.Cond

	mu      sync.RWMutex
	members column.Bitmap
	count   int64

	pend []int32 // indexes in Manager.trans of this segment's transitions
}

// pending accumulates applied batches until the run goroutine takes them.
type pending struct {
	snap    *engine.Snapshot
	persons []uint32
	gone    []uint32
	erased  []uint32
	logSeq  uint64
}

// New returns the manager of ws's segments and registers it for ws's
// applied batches. Run must be running for Define, Drop and real-time
// membership.
func New(ws *engine.Workspace, opts Options) *Manager {
	opts.fill()
	m := &Manager{
		ws:   ws,
		opts: opts,
		segs: make(map[string]*segment),
		wake: make(chan struct{}, 1),
		reqs: make(chan func()),
		done: make(chan struct{}),
	}
	m.wheel = newWheel(opts.Resolution, opts.Now())
	ws.OnApplied(m.onApplied)
	return m
}

// Workspace returns the workspace's name.
func (m *Manager) Workspace() string { return m.ws.Name() }

// onApplied queues a batch's touched persons; it runs under the engine's
// writer lock, so it only copies.
func (m *Manager) onApplied(a engine.Applied) {
	m.qmu.Lock()
	q := &m.queue
	q.snap = a.Snap
	q.persons = append(q.persons, a.Persons...)
	q.gone = append(q.gone, a.Gone...)
	q.erased = append(q.erased, a.Erased...)
	if a.LogSeq != 0 {
		q.logSeq = a.LogSeq
	}
	m.qmu.Unlock()
	select {
	case m.wake <- struct{}{}:
	default:
	}
}

// Run keeps membership current until ctx ends: it processes applied
// batches as they come (coalescing those that arrive while it works),
// due time windows every Tick, and size samples.
func (m *Manager) Run(ctx context.Context) error {
	m.qmu.Lock()
	if m.running {
		m.qmu.Unlock()
		return errors.New("segment manager already running")
	}
	m.running = true
	m.qmu.Unlock()
	defer close(m.done)
	tick := time.NewTicker(m.opts.Tick)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case f := <-m.reqs:
			f()
		case <-m.wake:
			m.process()
		case <-tick.C:
			m.process()
		}
	}
}

// do runs f on the run goroutine and waits for it.
func (m *Manager) do(ctx context.Context, f func()) error {
	ran := make(chan struct{})
	select {
	case m.reqs <- func() { f(); close(ran) }:
	case <-m.done:
		return ErrStopped
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case <-ran:
		return nil
	case <-ctx.Done():
		// f still runs to completion on the run goroutine.
		return ctx.Err()
	}
}

// Define creates or replaces a segment: the condition is evaluated over the
// whole workspace, then kept current. It returns the new version's Info.
func (m *Manager) Define(ctx context.Context, def Definition) (Info, error) {
	if !nameRE.MatchString(def.Name) {
		return Info{}, fmt.Errorf("segment %q: %w: letters, digits and _, up to 64, not starting with a digit", def.Name, ErrInvalidName)
	}
	if def.Cond == nil {
		return Info{}, fmt.Errorf("segment %q: empty condition", def.Name)
	}
	var (
		info Info
		err  error
	)
	if derr := m.do(ctx, func() { info, err = m.define(ctx, def) }); derr != nil {
		return Info{}, fmt.Errorf("cannot define segment %q: %w", def.Name, derr)
	}
	return info, err
}

func (m *Manager) define(ctx context.Context, def Definition) (Info, error) {
	// Batches queued before this definition must not be lost for the
	// segments that exist already: process them first.
	m.process()
	m.mu.RLock()
	old := m.segs[def.Name]
	m.mu.RUnlock()
	if old != nil && def.Create {
		return Info{}, fmt.Errorf("segment %q (version %d): %w", def.Name, old.info.Version, ErrExists)
	}
	snap := m.ws.Snapshot()
	now := m.opts.Now()
	began := time.Now()
	plan, err := snap.CompilePoints([]engine.Cond{def.Cond}, now, nil)
	if err != nil {
		return Info{}, fmt.Errorf("segment %q: %w", def.Name, err)
	}
	members, err := snap.PersonSet(ctx, def.Cond, now)
	if err != nil {
		return Info{}, fmt.Errorf("segment %q: %w", def.Name, err)
	}
	restoring := def.Version != 0
	info := Info{Name: def.Name, SQL: def.SQL, Description: def.Description, Version: def.Version, CreatedAt: def.CreatedAt, UpdatedAt: now,
		Members: int64(members.Count()), TimeDependent: plan.TimeDependent(0)}
	if !restoring {
		info.Version, info.CreatedAt = 1, now
		if old != nil {
			info.Version, info.CreatedAt = old.info.Version+1, old.info.CreatedAt
		}
		if m.opts.OnDefine != nil {
			if err := m.opts.OnDefine(info); err != nil {
				return Info{}, fmt.Errorf("cannot store segment %q: %w", def.Name, err)
			}
		}
	} else if info.CreatedAt.IsZero() {
		info.CreatedAt = now
	}
	if info.TimeDependent {
		err := plan.Crossings(ctx, snap, 0, func(p uint32, at int64) { m.wheel.schedule(p, at) })
		if err != nil {
			return Info{}, fmt.Errorf("segment %q: %w", def.Name, err)
		}
	}
	seg := &segment{info: info, cond: def.Cond, members: members, count: info.Members}
	m.mu.Lock()
	m.segs[def.Name] = seg
	m.mu.Unlock()
	m.dirty = true
	m.opts.Logger.Info("segment defined", "workspace", m.ws.Name(), "segment", def.Name, "version", info.Version,
		"members", info.Members, "time_dependent", info.TimeDependent, "took", time.Since(began).Round(time.Microsecond))
	return info, nil
}

// Drop deletes a segment.
func (m *Manager) Drop(ctx context.Context, name string) error {
	var err error
	derr := m.do(ctx, func() {
		m.mu.RLock()
		_, ok := m.segs[name]
		m.mu.RUnlock()
		if !ok {
			err = fmt.Errorf("segment %q: %w", name, ErrNotFound)
			return
		}
		if m.opts.OnDrop != nil {
			if err = m.opts.OnDrop(name); err != nil {
				err = fmt.Errorf("cannot drop segment %q: %w", name, err)
				return
			}
		}
		m.mu.Lock()
		delete(m.segs, name)
		m.mu.Unlock()
		m.dirty = true
	})
	if derr != nil {
		return fmt.Errorf("cannot drop segment %q: %w", name, derr)
	}
	return err
}

// List returns every segment, by name.
func (m *Manager) List() []Info {
	m.mu.RLock()
	out := make([]Info, 0, len(m.segs))
	for _, s := range m.segs {
		out = append(out, s.snapshotInfo())
	}
	m.mu.RUnlock()
	slices.SortFunc(out, func(a, b Info) int {
		if a.Name < b.Name {
			return -1
		}
		if a.Name > b.Name {
			return 1
		}
		return 0
	})
	return out
}

// Get returns one segment.
func (m *Manager) Get(name string) (Info, bool) {
	m.mu.RLock()
	s, ok := m.segs[name]
	m.mu.RUnlock()
	if !ok {
		return Info{}, false
	}
	return s.snapshotInfo(), true
}

// Cond returns a segment's compiled condition.
func (m *Manager) Cond(name string) (engine.Cond, bool) {
	m.mu.RLock()
	s, ok := m.segs[name]
	m.mu.RUnlock()
	if !ok {
		return nil, false
	}
	return s.cond, true
}

func (s *segment) snapshotInfo() Info {
	s.mu.RLock()
	info := s.info
	info.Members = s.count
	s.mu.RUnlock()
	return info
}

// Members returns a frozen copy of a segment's membership.
func (m *Manager) Members(name string) (*Members, error) {
	m.mu.RLock()
	s, ok := m.segs[name]
	m.mu.RUnlock()
	if !ok {
		return nil, fmt.Errorf("segment %q: %w", name, ErrNotFound)
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	return &Members{Info: s.infoLocked(), bits: s.members.Clone(len(s.members) * 64)}, nil
}

func (s *segment) infoLocked() Info {
	info := s.info
	info.Members = s.count
	return info
}

// Of returns the names of the segments person p is a member of.
func (m *Manager) Of(p uint32) []string {
	m.mu.RLock()
	defer m.mu.RUnlock()
	var out []string
	for name, s := range m.segs {
		s.mu.RLock()
		in := int(p) < len(s.members)*64 && s.members.Get(int(p))
		s.mu.RUnlock()
		if in {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out
}

// Members is an immutable copy of a segment's membership.
type Members struct {
	Info Info
	bits column.Bitmap
}

// Count returns the number of members.
func (ms *Members) Count() int64 { return ms.Info.Members }

// Contains reports whether person p is a member.
func (ms *Members) Contains(p uint32) bool {
	return int(p) < len(ms.bits)*64 && ms.bits.Get(int(p))
}

// Next appends to dst up to n member ids above after (0: from the start),
// in increasing order, and returns dst. A cursor is the last id returned.
func (ms *Members) Next(after uint32, n int, dst []uint32) []uint32 {
	for i := ms.bits.Next(int(after) + 1); i >= 0 && n > 0; i = ms.bits.Next(i + 1) {
		dst = append(dst, uint32(i))
		n--
	}
	return dst
}

// Flush processes everything applied so far and every time window due now,
// and returns once the membership reflects them.
func (m *Manager) Flush(ctx context.Context) error {
	return m.do(ctx, m.process)
}

// Refresh evaluates every segment again over the whole workspace, with no
// transitions: for data that arrived without the applied-batch hook (a
// bulk load or a restore into the workspace).
func (m *Manager) Refresh(ctx context.Context) error {
	var err error
	derr := m.do(ctx, func() {
		m.process()
		snap := m.ws.Snapshot()
		now := m.opts.Now()
		m.mu.RLock()
		segs := make([]*segment, 0, len(m.segs))
		for _, s := range m.segs {
			segs = append(segs, s)
		}
		m.mu.RUnlock()
		for _, s := range segs {
			members, e := snap.PersonSet(ctx, s.cond, now)
			if e != nil {
				err = fmt.Errorf("cannot refresh segment %q: %w", s.info.Name, e)
				return
			}
			if s.info.TimeDependent {
				set, e := snap.CompilePoints([]engine.Cond{s.cond}, now, nil)
				if e == nil {
					e = set.Crossings(ctx, snap, 0, func(p uint32, at int64) { m.wheel.schedule(p, at) })
				}
				if e != nil {
					err = fmt.Errorf("cannot refresh segment %q: %w", s.info.Name, e)
					return
				}
			}
			s.mu.Lock()
			s.members, s.count = members, int64(members.Count())
			s.mu.Unlock()
		}
	})
	if derr != nil {
		return fmt.Errorf("cannot refresh segments: %w", derr)
	}
	return err
}

// Stats are a manager's counters since it started.
type Stats struct {
	Evaluated   int64         // persons touched: re-evaluated against every segment, or exited when merged into another
	Transitions int64         // entered/exited events reported
	Busy        time.Duration // time spent keeping membership current
}

// Stats returns the manager's counters.
func (m *Manager) Stats() Stats {
	return Stats{Evaluated: m.evaluated.Load(), Transitions: m.transitions.Load(), Busy: time.Duration(m.busy.Load())}
}
