package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync/atomic"
	"time"

	"github.com/cohortdb/cohort/delivery/segstore"
	"github.com/cohortdb/cohort/engine"
	"github.com/cohortdb/cohort/engine/segment"
)

// segmentParts is the segment side of a running server: every workspace's
// real-time membership (engine/segment) and its durable side in JetStream
// (definitions, enter/exit events, size samples).
type segmentParts struct {
	reg    *segment.Registry
	store  *segstore.Store
	cancel context.CancelFunc
	done   chan struct{}

	published atomic.Int64 // enter/exit events made durable
	lost      atomic.Int64 // enter/exit events JetStream did not take
}

// publishTimeout bounds how long the manager of a workspace retries
// making a batch of enter/exit events durable before giving up on it.
const publishTimeout = 30 * time.Second

// openSegments creates the registry of segment managers, attached to
// every workspace (restored ones now, new ones as they are created), with
// JetStream for their durable side. It runs before the ingest log is
// replayed, so replayed batches keep memberships current.
func (s *server) openSegments() (*segmentParts, error) {
	if s.ingest == nil {
		return nil, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	store, err := segstore.Open(ctx, s.ingest.svc.Log().JetStream(), segstore.Options{})
	if err != nil {
		return nil, err
	}
	p := &segmentParts{store: store}
	p.reg = segment.NewRegistry(func(ws string) segment.Options {
		return segment.Options{
			Logger:      s.log,
			SampleEvery: sampleEvery(s.cfg.SegmentSampleInterval), // segments_sql.go
			OnTransitions: func(ts []segment.Transition) {
				p.publish(ws, ts, s)
			},
			OnSample: func(ss []segment.Sample) {
				sctx, cancel := context.WithTimeout(context.Background(), publishTimeout)
				defer cancel()
				if err := store.PublishSamples(sctx, ws, ss); err != nil {
					s.log.Warn("cannot record segment sizes", "workspace", ws, "err", err)
				}
			},
			OnDefine: func(info segment.Info) error {
				sctx, cancel := context.WithTimeout(context.Background(), publishTimeout)
				defer cancel()
				return store.SaveDefinition(sctx, ws, info)
			},
			OnDrop: func(name string) error {
				sctx, cancel := context.WithTimeout(context.Background(), publishTimeout)
				defer cancel()
				return store.DeleteDefinition(sctx, ws, name)
			},
		}
	})
	s.eng.OnCreate(func(w *engine.Workspace) { p.reg.Manager(w) })
	for _, name := range s.eng.Workspaces() {
		w, err := s.eng.Workspace(name)
		if err != nil {
			return nil, fmt.Errorf("cannot attach segments to %s: %w", name, err)
		}
		p.reg.Manager(w)
	}
	return p, nil
}

// publish makes a batch of enter/exit events durable, retrying while
// JetStream is unavailable for up to publishTimeout.
func (p *segmentParts) publish(ws string, ts []segment.Transition, s *server) {
	ctx, cancel := context.WithTimeout(context.Background(), publishTimeout)
	defer cancel()
	backoff := 50 * time.Millisecond
	for {
		err := p.store.PublishTransitions(ctx, ws, ts)
		if err == nil {
			p.published.Add(int64(len(ts)))
			return
		}
		if ctx.Err() != nil || errors.Is(err, context.Canceled) {
			p.lost.Add(int64(len(ts)))
			s.log.Error("segment events lost: JetStream did not take them", "workspace", ws, "events", len(ts), "err", err)
			return
		}
		s.log.Warn("cannot publish segment events, retrying", "workspace", ws, "events", len(ts), "err", err)
		select {
		case <-time.After(backoff):
		case <-ctx.Done():
		}
		backoff = min(2*backoff, 2*time.Second)
	}
}

// restoreSegments defines every stored segment again (compiled from its
// SQL, with its stored version), on the restored data, before the log
// replay: the replay then moves memberships as it did before the restart.
func (s *server) restoreSegments(ctx context.Context) error {
	if s.segments == nil || s.sql == nil {
		return nil
	}
	defs, err := s.segments.store.Definitions(ctx)
	if err != nil {
		return err
	}
	for _, d := range defs {
		w, err := s.eng.Workspace(d.Workspace)
		if err != nil {
			if w, err = s.eng.CreateWorkspace(d.Workspace); err != nil {
				return fmt.Errorf("cannot restore segment %s.%s: %w", d.Workspace, d.Name, err)
			}
		}
		m := s.segments.reg.Manager(w)
		cond, err := s.sql.srv.CompileSegment(ctx, d.Workspace, d.SQL)
		if err != nil {
			// A definition that no longer compiles is kept in the store and
			// reported, not dropped: an operator decides.
			s.log.Error("cannot restore segment", "workspace", d.Workspace, "segment", d.Name, "err", err)
			continue
		}
		if _, err := m.Define(ctx, segment.Definition{Name: d.Name, SQL: d.SQL, Description: d.Description, Cond: cond, Version: d.Version, CreatedAt: d.CreatedAt}); err != nil {
			s.log.Error("cannot restore segment", "workspace", d.Workspace, "segment", d.Name, "err", err)
		}
	}
	if len(defs) > 0 {
		s.log.Info("segments restored", "segments", len(defs))
	}
	return nil
}

// startSegments runs the managers until closeSegments.
func (s *server) startSegments() {
	if s.segments == nil {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	s.segments.cancel, s.segments.done = cancel, make(chan struct{})
	go func() {
		defer close(s.segments.done)
		s.segments.reg.Run(ctx)
	}()
}

// closeSegments stops the managers (before the log closes: they publish
// into it).
func (s *server) closeSegments(ctx context.Context) error {
	if s.segments == nil || s.segments.cancel == nil {
		return nil
	}
	s.segments.cancel()
	select {
	case <-s.segments.done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("cannot stop segment managers: %w", ctx.Err())
	}
}

// refreshSegments re-evaluates w's segments after a bulk load.
func (s *server) refreshSegments(ctx context.Context, w *engine.Workspace) {
	if s.segments == nil {
		return
	}
	if m, ok := s.segments.reg.Lookup(w.Name()); ok {
		if err := m.Refresh(ctx); err != nil {
			s.log.Error("cannot refresh segments", "workspace", w.Name(), "err", err)
		}
	}
}

// writeSegmentMetrics adds the segment families to /metrics.
func (s *server) writeSegmentMetrics(w io.Writer) {
	if s.segments == nil {
		return
	}
	fmt.Fprintf(w, "# HELP cohort_segment_members Members of each segment (real-time membership).\n# TYPE cohort_segment_members gauge\n")
	var st segment.Stats
	for _, name := range s.eng.Workspaces() {
		m, ok := s.segments.reg.Lookup(name)
		if !ok {
			continue
		}
		for _, info := range m.List() {
			fmt.Fprintf(w, "cohort_segment_members{workspace=\"%s\",segment=\"%s\"} %d\n", labelValue(name), labelValue(info.Name), info.Members)
		}
		x := m.Stats()
		st.Evaluated += x.Evaluated
		st.Transitions += x.Transitions
		st.Busy += x.Busy
	}
	counter := func(name, help string, v float64) {
		fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s counter\n%s %s\n", name, help, name, name, fmtFloat(v))
	}
	counter("cohort_segment_evaluations_total", "Persons touched by a change or a moving time window: re-evaluated against every segment, or exited when merged into another.", float64(st.Evaluated))
	counter("cohort_segment_transitions_total", "segment.entered and segment.exited events computed.", float64(st.Transitions))
	counter("cohort_segment_busy_seconds_total", "Time spent keeping segment membership current.", st.Busy.Seconds())
	counter("cohort_segment_events_published_total", "segment.entered and segment.exited events made durable in JetStream.", float64(s.segments.published.Load()))
	counter("cohort_segment_events_lost_total", "segment.entered and segment.exited events JetStream did not take within the retry time.", float64(s.segments.lost.Load()))
}
