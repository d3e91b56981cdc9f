package storage

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/cohortdb/cohort/engine"
	"github.com/cohortdb/cohort/storage/events"
	"github.com/cohortdb/cohort/storage/history"
	"github.com/cohortdb/cohort/storage/snapshot"
)

// Options configures a Store. The zero value of every field means its
// default (DefaultOptions).
type Options struct {
	// SnapshotInterval is the period of Run's snapshots; default 5 minutes.
	SnapshotInterval time.Duration
	// Keep is how many snapshots per workspace are kept; default 3.
	Keep int
	// ShutdownTimeout bounds the final snapshot Run takes when its context
	// ends; default 2 minutes.
	ShutdownTimeout time.Duration
	// NoHistory turns profile_history off.
	NoHistory bool
	// History configures the history writers.
	History history.Options
	// EventWindow, when positive, keeps only the recent events in memory:
	// at each snapshot tick the events of every UTC day that ended before
	// now − EventWindow are sealed into Parquet day partitions (Events)
	// and dropped from the engine's memory (engine DropEventsBefore).
	// Default 0: every event stays in memory.
	EventWindow time.Duration
	// EraseDelay is how long after an erasure is applied the storage loop
	// removes it from disk (erase.go); default 10 seconds.
	EraseDelay time.Duration
	// Skip, when set, is asked before each workspace's snapshot (periodic
	// and final): true leaves the workspace out of that pass. For data that
	// is not in the log yet incomplete (cohort serve's demo workspace while
	// it loads), whose snapshot would later be restored as if complete.
	Skip func(workspace string) bool
	// Logger; default slog.Default().
	Logger *slog.Logger
	// Now is the clock; default time.Now.
	Now func() time.Time
}

// DefaultOptions returns the options with every default filled in.
func DefaultOptions() Options {
	o := Options{}
	o.fill()
	return o
}

func (o *Options) fill() {
	if o.SnapshotInterval <= 0 {
		o.SnapshotInterval = 5 * time.Minute
	}
	if o.Keep <= 0 {
		o.Keep = 3
	}
	if o.ShutdownTimeout <= 0 {
		o.ShutdownTimeout = 2 * time.Minute
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.EraseDelay <= 0 {
		o.EraseDelay = 10 * time.Second
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.History.Logger == nil {
		o.History.Logger = o.Logger
	}
}

// Store is the durable state of one node under a data directory:
//
//	<dataDir>/snapshots/<workspace>/<seq>/   snapshots (storage/snapshot)
//	<dataDir>/history/<workspace>/           profile_history files (storage/history)
//	<dataDir>/events/<workspace>/<day>/      sealed event partitions (storage/events)
type Store struct {
	dir  string
	opts Options
	log  *slog.Logger

	mu     sync.Mutex // guards the maps and eng
	eng    *engine.Engine
	hist   map[string]*history.Writer
	parts  map[string]*events.Store
	last   map[string]uint64 // workspace → Seq of its newest snapshot
	trim   map[string]uint64 // workspace → LogSeq of the oldest kept snapshot
	snapMu sync.Mutex        // one snapshot pass at a time
	er     *eraser           // the erasure queue (erase.go)
}

// Open opens (creating) the storage under dataDir.
func Open(dataDir string, opts Options) (*Store, error) {
	opts.fill()
	for _, d := range []string{"snapshots", "history", "events"} {
		if err := os.MkdirAll(filepath.Join(dataDir, d), 0o755); err != nil {
			return nil, fmt.Errorf("cannot open storage %s: %w", dataDir, err)
		}
	}
	er, err := openEraser(dataDir, opts.EraseDelay, opts.Logger)
	if err != nil {
		return nil, err
	}
	return &Store{dir: dataDir, opts: opts, log: opts.Logger,
		hist: map[string]*history.Writer{}, parts: map[string]*events.Store{},
		last: map[string]uint64{}, trim: map[string]uint64{}, er: er}, nil
}

func (s *Store) snapDir(ws string) string    { return filepath.Join(s.dir, "snapshots", ws) }
func (s *Store) historyDir(ws string) string { return filepath.Join(s.dir, "history", ws) }
func (s *Store) eventsDir(ws string) string  { return filepath.Join(s.dir, "events", ws) }

// Restore loads the newest valid snapshot of every workspace found on disk
// into e and returns, per workspace, the log sequence it contains: the log
// replay must start after it (ApplyLogged skips what is already in). Call
// it once, before the log replay starts and before e applies anything.
// It also cuts each workspace's profile history back to its snapshot (the
// replay writes the rest again) and hooks history into every workspace
// created later.
func (s *Store) Restore(ctx context.Context, e *engine.Engine) (map[string]uint64, error) {
	s.mu.Lock()
	if s.eng != nil {
		s.mu.Unlock()
		return nil, errors.New("cannot restore: storage already restored an engine")
	}
	s.eng = e
	s.mu.Unlock()
	names, err := dirNames(filepath.Join(s.dir, "snapshots"))
	if err != nil {
		return nil, err
	}
	hnames, err := dirNames(filepath.Join(s.dir, "history"))
	if err != nil {
		return nil, err
	}
	logSeqs := map[string]uint64{}
	restored := map[string]uint64{} // workspace → Seq
	for _, name := range names {
		start := time.Now()
		m, err := snapshot.Load(ctx, s.snapDir(name), e, s.log)
		if err != nil {
			return nil, fmt.Errorf("cannot restore workspace %s: %w", name, err)
		}
		if m == nil {
			s.log.Warn("no usable snapshot; the workspace will be rebuilt from the log", "workspace", name)
			continue
		}
		logSeqs[name], restored[name] = m.LogSeq, m.Seq
		s.log.Info("workspace restored", "workspace", name, "seq", m.Seq, "log_seq", m.LogSeq,
			"persons", m.Persons, "elapsed", time.Since(start))
		s.mu.Lock()
		s.last[name] = m.Seq
		s.mu.Unlock()
		if err := s.updateTrim(name); err != nil {
			return nil, err
		}
	}
	// History: cut back to the restored snapshot (or to nothing).
	for _, name := range hnames {
		h, err := s.historyWriter(name)
		if err != nil {
			return nil, err
		}
		if err := h.TruncateAfter(restored[name]); err != nil {
			return nil, fmt.Errorf("cannot restore history of %s: %w", name, err)
		}
	}
	for name := range restored {
		w, err := e.Workspace(name)
		if err != nil {
			return nil, err
		}
		s.attach(w)
	}
	for _, name := range e.Workspaces() { // created before Restore: empty
		if _, ok := restored[name]; !ok {
			if w, err := e.Workspace(name); err == nil {
				s.attach(w)
			}
		}
	}
	e.OnCreate(s.attach)
	return logSeqs, nil
}

func dirNames(dir string) ([]string, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("cannot list %s: %w", dir, err)
	}
	var out []string
	for _, e := range ents {
		if e.IsDir() {
			out = append(out, e.Name())
		}
	}
	return out, nil
}

func (s *Store) historyWriter(name string) (*history.Writer, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if h, ok := s.hist[name]; ok {
		return h, nil
	}
	h, err := history.NewWriter(s.historyDir(name), s.opts.History)
	if err != nil {
		return nil, err
	}
	s.hist[name] = h
	return h, nil
}

// attach hooks profile history into w. It runs under the engine lock for
// new workspaces (Engine.OnCreate): it must not call the engine.
func (s *Store) attach(w *engine.Workspace) {
	s.watchErasures(w)
	if s.opts.NoHistory {
		return
	}
	h, err := s.historyWriter(w.Name())
	if err != nil {
		s.log.Error("profile history off for workspace", "workspace", w.Name(), "err", err)
		return
	}
	h.Attach(w)
}

// History returns a reader of workspace ws's profile history.
func (s *Store) History(ws string) *history.Reader { return history.NewReader(s.historyDir(ws)) }

// ScanHistory calls fn for every profile_history record of workspace ws
// with from <= At < to, in the order applied: the files whose time range
// meets [from, to) (the others are not opened), then the changes not yet
// flushed, so a change is visible as soon as it is applied.
func (s *Store) ScanHistory(ctx context.Context, ws string, from, to time.Time, fn func(history.Record) error) error {
	s.mu.Lock()
	h := s.hist[ws]
	s.mu.Unlock()
	if h == nil {
		return s.History(ws).Scan(ctx, from, to, fn)
	}
	return h.Scan(ctx, from, to, fn)
}

// Events returns the sealed event partitions of workspace ws.
func (s *Store) Events(ws string) (*events.Store, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if p, ok := s.parts[ws]; ok {
		return p, nil
	}
	p, err := events.Open(s.eventsDir(ws))
	if err != nil {
		return nil, err
	}
	s.parts[ws] = p
	return p, nil
}

// Run takes a snapshot of every workspace every SnapshotInterval (and
// flushes history when due) until ctx ends, then takes a final snapshot
// (bounded by ShutdownTimeout) and returns.
func (s *Store) Run(ctx context.Context) error {
	tick := time.NewTicker(s.opts.SnapshotInterval)
	defer tick.Stop()
	hist := time.NewTicker(min(s.opts.SnapshotInterval, 10*time.Second))
	defer hist.Stop()
	s.eraseResume()
	for {
		select {
		case <-ctx.Done():
			fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.opts.ShutdownTimeout)
			defer cancel()
			if err := s.SnapshotNow(fctx); err != nil {
				return fmt.Errorf("cannot take the shutdown snapshot: %w", err)
			}
			return nil
		case <-tick.C:
			if err := s.SnapshotNow(ctx); err != nil && ctx.Err() == nil {
				s.log.Error("snapshot failed", "err", err)
			}
			s.eraseTick(ctx)
		case <-s.er.kick:
			s.eraseTick(ctx)
		case <-hist.C:
			s.tickHistory(ctx)
		}
	}
}

func (s *Store) tickHistory(ctx context.Context) {
	s.mu.Lock()
	hs := make(map[string]*history.Writer, len(s.hist))
	for k, v := range s.hist {
		hs[k] = v
	}
	s.mu.Unlock()
	for name, h := range hs {
		if err := h.Tick(ctx, s.opts.Now()); err != nil && ctx.Err() == nil {
			s.log.Error("cannot flush profile history", "workspace", name, "err", err)
		}
	}
}

// SnapshotNow snapshots every workspace that changed since its last
// snapshot: history is flushed through the snapshot's batch first, then
// the snapshot is written and old ones pruned; with an EventWindow, days
// past the window are sealed and dropped from memory (also for workspaces
// with nothing new to snapshot). It returns the first error, having tried
// every workspace.
func (s *Store) SnapshotNow(ctx context.Context) error {
	s.snapMu.Lock()
	defer s.snapMu.Unlock()
	s.mu.Lock()
	e := s.eng
	s.mu.Unlock()
	if e == nil {
		return errors.New("cannot snapshot: Restore was not called")
	}
	var first error
	for _, name := range e.Workspaces() {
		if err := s.snapshotOne(ctx, e, name); err != nil {
			s.log.Error("snapshot failed", "workspace", name, "err", err)
			if first == nil {
				first = err
			}
		}
	}
	return first
}

func (s *Store) snapshotOne(ctx context.Context, e *engine.Engine, name string) error {
	if s.opts.Skip != nil && s.opts.Skip(name) {
		return nil
	}
	w, err := e.Workspace(name)
	if err != nil {
		return err
	}
	x := w.Export()
	// Erasures in x must be in the queue file before a snapshot holds
	// them: the log replay after it will not erase them again.
	if err := s.er.sync(); err != nil {
		return fmt.Errorf("cannot write snapshot of %s: %w", name, err)
	}
	s.mu.Lock()
	last, seen := s.last[name]
	h := s.hist[name]
	s.mu.Unlock()
	if x.Seq == 0 || (seen && x.Seq == last) {
		return s.moveWindow(ctx, w, x) // nothing new to write; the window may still move
	}
	if h != nil {
		if err := h.Flush(ctx, x.Seq); err != nil {
			return fmt.Errorf("cannot write snapshot of %s: %w", name, err)
		}
	}
	start := time.Now()
	m, err := snapshot.Write(ctx, s.snapDir(name), x)
	if err != nil {
		return err
	}
	var bytes int64
	for _, f := range m.Files {
		bytes += f.Size
	}
	s.log.Info("snapshot written", "workspace", name, "seq", m.Seq, "log_seq", m.LogSeq, "bytes", bytes, "elapsed", time.Since(start))
	s.mu.Lock()
	s.last[name] = x.Seq
	s.mu.Unlock()
	if _, err := snapshot.Prune(s.snapDir(name), s.opts.Keep); err != nil {
		return err
	}
	if err := s.updateTrim(name); err != nil {
		return err
	}
	return s.moveWindow(ctx, w, x)
}

// updateTrim sets the trim point of ws: the log sequence of the oldest
// snapshot kept, so that falling back to any kept snapshot still finds the
// log after it.
func (s *Store) updateTrim(ws string) error {
	list, err := snapshot.List(s.snapDir(ws))
	if err != nil {
		return err
	}
	if len(list) == 0 {
		return nil
	}
	m, err := snapshot.ReadManifest(list[len(list)-1].Path)
	if err != nil {
		return nil // unreadable: keep the previous trim point
	}
	s.mu.Lock()
	s.trim[ws] = m.LogSeq
	s.mu.Unlock()
	return nil
}

// TrimPoint returns, per workspace of the engine, the log sequence up to
// which the durable log may be trimmed for it: the LogSeq of the oldest
// snapshot kept (Options.Keep), so a fallback to any kept snapshot can
// still replay. A workspace without a snapshot has 0: keep its whole log.
// The log is shared, so trim to the minimum over workspaces (minus the
// applier's dedup window, if it rebuilds de-duplication state by replay).
func (s *Store) TrimPoint() map[string]uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]uint64, len(s.trim))
	if s.eng != nil {
		for _, name := range s.eng.Workspaces() {
			out[name] = 0
		}
	}
	for k, v := range s.trim {
		out[k] = v
	}
	return out
}
