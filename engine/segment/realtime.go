package segment

import (
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/cohortdb/cohort/engine"
)

// process brings every segment up to date: the batches applied since the
// last call (coalesced and evaluated against the newest of their
// snapshots), the persons whose time windows moved, and the size sample.
func (m *Manager) process() {
	began := time.Now()
	defer func() { m.busy.Add(int64(time.Since(began))) }()
	m.qmu.Lock()
	q := m.queue
	m.queue = pending{persons: q.persons[:0:0], gone: q.gone[:0:0], erased: q.erased[:0:0]}
	m.qmu.Unlock()

	now := m.opts.Now()
	if m.dirty || m.order == nil {
		m.mu.RLock()
		m.order = m.order[:0]
		for _, s := range m.segs {
			m.order = append(m.order, s)
		}
		m.mu.RUnlock()
		slices.SortFunc(m.order, func(a, b *segment) int { return strings.Compare(a.info.Name, b.info.Name) })
	}
	segs := m.order
	m.trans = m.trans[:0]

	snap := q.snap
	if snap == nil {
		snap = m.ws.Snapshot()
	}
	due := m.wheel.due(now.UnixMicro())
	if len(segs) > 0 && (len(q.persons) > 0 || len(q.gone) > 0 || len(due) > 0) {
		if err := m.compile(segs, snap, now); err != nil {
			m.opts.Logger.Error("cannot compile segments", "workspace", m.ws.Name(), "err", err)
		} else {
			m.evaluate(segs, snap, now, q, due)
		}
	}
	m.transitions.Add(int64(len(m.trans)))
	if len(m.trans) > 0 && m.opts.OnTransitions != nil {
		m.opts.OnTransitions(m.trans)
	}
	m.sample(segs, now)
}

// compile recompiles the point set when segments changed or it went stale
// for snap and now (dictionaries grew, now moved by Resolution).
func (m *Manager) compile(segs []*segment, snap *engine.Snapshot, now time.Time) error {
	if !m.dirty && m.fresh > 0 && !m.sets[0].Stale(snap, now, m.opts.Resolution) {
		return nil
	}
	m.conds = m.conds[:0]
	for _, s := range segs {
		m.conds = append(m.conds, s.cond)
	}
	if len(m.sets) == 0 {
		m.sets = make([]*engine.PointSet, engine.Workers())
	}
	set, err := snap.CompilePoints(m.conds, now, m.sets[0])
	if err != nil {
		m.fresh = 0
		return err
	}
	m.sets[0], m.fresh, m.cnow, m.dirty = set, 1, now, false
	return nil
}

// moreSets compiles the sets of workers up to want, for snap (which
// sets[0] is not stale for) and the time sets[0] was compiled at, and
// returns how many are ready.
func (m *Manager) moreSets(snap *engine.Snapshot, want int) int {
	for ; m.fresh < want; m.fresh++ {
		set, err := snap.CompilePoints(m.conds, m.cnow, m.sets[m.fresh])
		if err != nil { // compiled once already: not expected
			m.opts.Logger.Error("cannot compile segments for another worker", "workspace", m.ws.Name(), "err", err)
			break
		}
		m.sets[m.fresh] = set
	}
	return m.fresh
}

// minPerWorker is the fewest persons worth handing to another worker.
var minPerWorker = 64

// evalAll evaluates every queued person against every segment, on all
// cores: persons are independent, and each worker has its own set.
func (m *Manager) evalAll(snap *engine.Snapshot, segs int) {
	n := len(m.work)
	if cap(m.ins) < n*segs {
		m.ins = make([]bool, n*segs)
	}
	m.ins = m.ins[:n*segs]
	if cap(m.nexts) < n {
		m.nexts = make([]int64, n)
	}
	m.nexts = m.nexts[:n]
	workers := min(len(m.sets), n/minPerWorker)
	if workers > 1 {
		workers = m.moreSets(snap, workers)
	}
	if workers <= 1 {
		m.evalRange(m.sets[0], snap, segs, 0, n)
		return
	}
	var wg sync.WaitGroup
	for k := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Contiguous ranges: workers write apart in ins and nexts.
			m.evalRange(m.sets[k], snap, segs, k*n/workers, (k+1)*n/workers)
		}()
	}
	wg.Wait()
}

func (m *Manager) evalRange(set *engine.PointSet, snap *engine.Snapshot, segs, lo, hi int) {
	for i := lo; i < hi; i++ {
		m.nexts[i] = set.Eval(snap, m.work[i].p, m.ins[i*segs:(i+1)*segs])
	}
}

func (m *Manager) evaluate(segs []*segment, snap *engine.Snapshot, now time.Time, q pending, due []uint32) {
	n := snap.Graph.Persons() + 1
	m.seen = m.seen.Resize(n)
	clear(m.seen)
	for _, p := range q.gone {
		if int(p) >= n || m.seen.Get(int(p)) {
			continue
		}
		m.seen.Set(int(p))
		cause := CauseMerge
		for _, e := range q.erased {
			if e == p {
				cause = CauseErase
				break
			}
		}
		for _, s := range segs {
			m.exit(s, p, cause, q.logSeq, now)
		}
	}
	touch := func(p uint32, cause Cause, seq uint64) {
		if int(p) >= n || m.seen.Get(int(p)) {
			return
		}
		m.seen.Set(int(p))
		m.evaluated.Add(1)
		if snap.Graph.Canonical(p) != p {
			for _, s := range segs {
				m.exit(s, p, CauseMerge, seq, now)
			}
			return
		}
		m.work = append(m.work, work{p: p, cause: cause, seq: seq})
	}
	for _, p := range q.persons {
		touch(p, CauseIngest, q.logSeq)
	}
	for _, p := range due {
		touch(p, CauseTime, 0)
	}
	m.evalAll(snap, len(segs))
	for i, w := range m.work {
		in := m.ins[i*len(segs) : (i+1)*len(segs)]
		for j, s := range segs {
			m.setMember(s, w.p, in[j], w.cause, w.seq, now)
		}
		if m.nexts[i] != 0 {
			m.wheel.schedule(w.p, m.nexts[i])
		}
	}
	m.work = m.work[:0]
	m.apply(segs)
}

// work is one person to re-evaluate and why.
type work struct {
	p     uint32
	cause Cause
	seq   uint64
}

// exit records that p left s, if it was a member.
func (m *Manager) exit(s *segment, p uint32, cause Cause, seq uint64, now time.Time) {
	m.setMember(s, p, false, cause, seq, now)
}

// setMember records p's new membership of s as a pending transition when it
// differs from the current one; apply makes them visible.
func (m *Manager) setMember(s *segment, p uint32, in bool, cause Cause, seq uint64, now time.Time) {
	was := int(p) < len(s.members)*64 && s.members.Get(int(p))
	if was == in {
		return
	}
	s.pend = append(s.pend, int32(len(m.trans)))
	m.trans = append(m.trans, Transition{Segment: s.info.Name, Version: s.info.Version, Person: p, Entered: in, At: now, Cause: cause, LogSeq: seq})
}

// apply writes the pending transitions into the membership bitmaps, one
// lock per segment.
func (m *Manager) apply(segs []*segment) {
	for _, s := range segs {
		if len(s.pend) == 0 {
			continue
		}
		s.mu.Lock()
		for _, i := range s.pend {
			t := &m.trans[i]
			if t.Entered {
				if int(t.Person) >= len(s.members)*64 {
					s.members = s.members.Clone(max(int(t.Person)+1, len(s.members)*64*5/4))
				}
				s.members.Set(int(t.Person))
				s.count++
			} else {
				s.members.Clear(int(t.Person))
				s.count--
			}
		}
		s.mu.Unlock()
		s.pend = s.pend[:0]
	}
}

// sample reports every segment's size once per SampleEvery.
func (m *Manager) sample(segs []*segment, now time.Time) {
	if m.opts.SampleEvery < 0 || m.opts.OnSample == nil || now.Sub(m.sampled) < m.opts.SampleEvery {
		return
	}
	m.sampled = now.Truncate(m.opts.SampleEvery)
	out := make([]Sample, 0, len(segs))
	for _, s := range segs {
		info := s.snapshotInfo()
		out = append(out, Sample{Segment: info.Name, Version: info.Version, At: now, Members: info.Members})
	}
	if len(out) > 0 {
		m.opts.OnSample(out)
	}
}
