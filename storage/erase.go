package storage

// Erasure on disk.
//
// When the engine erases a person (engine.OpDelete, from SQL DELETE or the
// ingest APIs), the engine's memory forgets them at once. On disk they
// remain in profile_history files, sealed event partitions, every snapshot
// taken before, and the durable log. The erasure queue removes them from
// all four:
//
//  1. Every batch that erases persons reaches the queue through the
//     workspace's OnApplied hook (the person ids, merged members included,
//     and the log position of the batch). The hook only notes it in memory;
//     the queue file (<dataDir>/erasure/queue) is written before any
//     snapshot that contains the erasure (snapshotOne syncs it), so a crash
//     either keeps the entry or restarts from a snapshot before the
//     erasure, whose log replay erases the person again and queues it again.
//  2. An erasure pass (EraseNow; the storage loop runs one EraseDelay after
//     an erasure arrives, then retries at every SnapshotInterval until the
//     queue is empty) takes, per workspace, the entries whose erasure the
//     engine has applied (after a restart: once the log replay is past it)
//     and, recording its progress in the queue file after each step:
//     a. rewrites every profile_history file that holds a row of those
//     persons without those rows, and drops their buffered records
//     (history.Writer.Erase);
//     b. rewrites every sealed event partition that holds one of their
//     events without them (events.Store.Erase);
//     c. writes a snapshot of the workspace (after the erasure, so without
//     them), verifies it, and deletes every older snapshot of the
//     workspace, quarantined ones included (snapshot.PruneBefore);
//     d. asks the durable log (LogEraser, set by the server) to purge the
//     workspace's messages up to that snapshot's log position.
//     An interrupted pass (crash, error, shutdown) resumes at the first step
//     not recorded as done; every step is idempotent. If the log replays an
//     erasure after a restart (the snapshot step had not run), its entry is
//     reset and every step runs again: the replay may have rewritten the
//     person's history or events before reaching the erasure.
//
// Bound: an erasure is off the disk EraseDelay (default 10 s) plus the
// time of one pass after the engine applied it (the pass rewrites only the
// files that hold the persons; see the package tests for timings), or
// after the next start and log replay if the node stopped first. The log
// step may wait longer: the stream's last message is never purged (a
// startup replay waits for it), so if the erasure's own message is the
// last one it stays until any later message arrives, and the pass after
// that purges it.
//
// What remains by design: the erased identifiers themselves, as
// suppressed entries of the identity graph in the snapshot (that is how a
// suppressed identity is refused until lifted), person ids in the merge log
// (values redacted), and, in the log, messages after the snapshot: they
// hold no data of the erased persons except operations that name the
// erased identifiers again (a later erasure op, or writes the engine
// rejected as suppressed), which regular retention removes.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/cohortdb/cohort/engine"
	"github.com/cohortdb/cohort/storage/durable"
	"github.com/cohortdb/cohort/storage/events"
	"github.com/cohortdb/cohort/storage/history"
	"github.com/cohortdb/cohort/storage/snapshot"
)

// LogEraser removes from the durable log the messages of workspace ws
// with a sequence below before. It reports how many it purged and whether
// no such message is left (false: some had to stay for now, e.g. the
// stream's last message; it is called again at a later pass).
type LogEraser func(ctx context.Context, ws string, before uint64) (purged uint64, done bool, err error)

// ErasureStats are the erasure counters since the store was opened.
type ErasureStats struct {
	Pending      int    // erasures queued and not complete
	Completed    uint64 // erasures completed
	Persons      uint64 // person ids of the completed erasures
	HistoryRows  uint64 // profile_history rows removed (files and buffer)
	HistoryFiles uint64 // history files rewritten or removed
	EventRows    uint64 // events removed from sealed partitions
	EventFiles   uint64 // partition files rewritten
	Snapshots    uint64 // snapshots deleted
	LogMessages  uint64 // durable-log messages purged
	Failures     uint64 // passes that stopped on an error
}

const (
	erasureDirName = "erasure"
	queueName      = "queue"
	queueMagic     = "cohort-erasure-queue 1"
)

// eraseEntry is one erasure in the queue.
type eraseEntry struct {
	ID        uint64    `json:"id"`
	Workspace string    `json:"workspace"`
	Persons   []uint32  `json:"persons"` // sorted, merged members included
	Seq       uint64    `json:"seq"`     // the workspace batch that erased them (informational)
	LogSeq    uint64    `json:"log_seq"` // the log position that batch brought the workspace to
	Enqueued  time.Time `json:"enqueued"`

	// Progress, step by step. A replay of the erasure resets it.
	History        bool   `json:"history_done,omitempty"`
	Events         bool   `json:"events_done,omitempty"`
	SnapshotSeq    uint64 `json:"snapshot_seq,omitempty"` // snapshot written after the erasure; 0: not yet
	SnapshotLogSeq uint64 `json:"snapshot_log_seq,omitempty"`
	Log            bool   `json:"log_done,omitempty"`

	gen uint64 // bumped on reset: a pass's result for an older gen is dropped
}

func (e *eraseEntry) done() bool { return e.History && e.Events && e.SnapshotSeq != 0 && e.Log }

// eraser is the erasure queue of a Store.
type eraser struct {
	path  string
	delay time.Duration
	log   *slog.Logger

	writeMu sync.Mutex // one queue-file write at a time

	mu       sync.Mutex
	entries  []*eraseEntry
	nextID   uint64
	version  uint64 // bumped on every change
	written  uint64 // version of the queue file on disk
	armed    bool
	kick     chan struct{}
	logErase LogEraser
	stats    ErasureStats

	// afterStep, when set (tests), runs after each recorded step; an
	// error stops the pass there, as a crash would.
	afterStep func(ws, step string) error
}

func (e *eraser) stepDone(ws, step string) error {
	if e.afterStep == nil {
		return nil
	}
	return e.afterStep(ws, step)
}

func openEraser(dataDir string, delay time.Duration, log *slog.Logger) (*eraser, error) {
	dir := filepath.Join(dataDir, erasureDirName)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("cannot open the erasure queue: %w", err)
	}
	if err := durable.Clean(dir); err != nil {
		return nil, err
	}
	e := &eraser{path: filepath.Join(dir, queueName), delay: delay, log: log, nextID: 1, kick: make(chan struct{}, 1)}
	b, err := os.ReadFile(e.path)
	if errors.Is(err, os.ErrNotExist) {
		return e, nil
	}
	if err != nil {
		return nil, fmt.Errorf("cannot read the erasure queue: %w", err)
	}
	if e.entries, err = decodeQueue(e.path, b); err != nil {
		// Refuse to start: forgetting queued erasures would leave erased
		// persons on disk for good. The operator can inspect the file.
		return nil, fmt.Errorf("cannot read the erasure queue (move it aside to start without it, which leaves its erasures undone on disk): %w", err)
	}
	for _, en := range e.entries {
		e.nextID = max(e.nextID, en.ID+1)
	}
	return e, nil
}

func encodeQueue(entries []*eraseEntry) ([]byte, error) {
	if entries == nil {
		entries = []*eraseEntry{}
	}
	body, err := json.MarshalIndent(entries, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("cannot encode the erasure queue: %w", err)
	}
	head := fmt.Sprintf("%s crc32c=%08x\n", queueMagic, crc32.Checksum(body, durable.Castagnoli))
	return append([]byte(head), body...), nil
}

func decodeQueue(file string, b []byte) ([]*eraseEntry, error) {
	nl := bytes.IndexByte(b, '\n')
	if nl < 0 {
		return nil, durable.Corrupt(file, 0, "no header line")
	}
	var crc uint32
	if _, err := fmt.Sscanf(string(b[:nl]), queueMagic+" crc32c=%08x", &crc); err != nil {
		return nil, durable.Corrupt(file, 0, "bad header %q", b[:nl])
	}
	body := b[nl+1:]
	if got := crc32.Checksum(body, durable.Castagnoli); got != crc {
		return nil, durable.Corrupt(file, int64(nl+1), "checksum %08x, header says %08x", got, crc)
	}
	var entries []*eraseEntry
	if err := json.Unmarshal(body, &entries); err != nil {
		return nil, durable.Corrupt(file, int64(nl+1), "%v", err)
	}
	for _, en := range entries {
		if en == nil || en.Workspace == "" || len(en.Persons) == 0 {
			return nil, durable.Corrupt(file, int64(nl+1), "bad entry %+v", en)
		}
	}
	return entries, nil
}

// add queues the erasure of persons in ws, applied by batch seq at log
// position logSeq. The same erasure replayed from the log (same workspace
// and log position) resets the existing entry instead. It does no I/O:
// it runs on the engine's apply path.
func (e *eraser) add(ws string, persons []uint32, seq, logSeq uint64) {
	persons = slices.Clone(persons)
	slices.Sort(persons)
	persons = slices.Compact(persons)
	e.mu.Lock()
	defer e.mu.Unlock()
	var en *eraseEntry
	if logSeq != 0 {
		for _, x := range e.entries {
			if x.Workspace == ws && x.LogSeq == logSeq {
				en = x
				break
			}
		}
	}
	if en != nil {
		en.Persons = slices.Compact(slices.Sorted(slices.Values(append(en.Persons, persons...))))
		en.Seq = seq
		en.History, en.Events, en.SnapshotSeq, en.SnapshotLogSeq, en.Log = false, false, 0, 0, false
		en.gen++
	} else {
		e.entries = append(e.entries, &eraseEntry{ID: e.nextID, Workspace: ws, Persons: persons, Seq: seq, LogSeq: logSeq, Enqueued: time.Now().UTC()})
		e.nextID++
	}
	e.version++
	e.armLocked(e.delay)
}

// armLocked makes the storage loop run a pass after d, unless one is
// already due.
func (e *eraser) armLocked(d time.Duration) {
	if e.armed {
		return
	}
	e.armed = true
	time.AfterFunc(d, func() {
		e.mu.Lock()
		e.armed = false
		e.mu.Unlock()
		select {
		case e.kick <- struct{}{}:
		default:
		}
	})
}

// sync writes the queue file if it changed since it was last written.
func (e *eraser) sync() error {
	e.writeMu.Lock()
	defer e.writeMu.Unlock()
	e.mu.Lock()
	if e.version == e.written {
		e.mu.Unlock()
		return nil
	}
	v := e.version
	b, err := encodeQueue(e.entries)
	e.mu.Unlock()
	if err != nil {
		return err
	}
	if _, _, err := durable.WriteFile(e.path, func(w io.Writer) error {
		_, err := w.Write(b)
		return err
	}); err != nil {
		return fmt.Errorf("cannot write the erasure queue: %w", err)
	}
	e.mu.Lock()
	e.written = max(e.written, v)
	e.mu.Unlock()
	return nil
}

// job is one entry as a pass sees it.
type job struct {
	id, gen uint64
	en      eraseEntry // copy
}

// jobs returns copies of the entries, grouped by workspace in queue order.
func (e *eraser) jobs() map[string][]job {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := map[string][]job{}
	for _, en := range e.entries {
		out[en.Workspace] = append(out[en.Workspace], job{id: en.ID, gen: en.gen, en: *en})
	}
	return out
}

// mark applies fn to the entries of js that were not reset since the pass
// read them, and writes the queue file.
func (e *eraser) mark(js []job, fn func(*eraseEntry)) error {
	e.mu.Lock()
	for _, j := range js {
		for _, en := range e.entries {
			if en.ID == j.id && en.gen == j.gen {
				fn(en)
			}
		}
	}
	e.version++
	e.mu.Unlock()
	return e.sync()
}

// finish removes the completed entries of js and returns them.
func (e *eraser) finish(js []job) ([]eraseEntry, error) {
	var done []eraseEntry
	e.mu.Lock()
	e.entries = slices.DeleteFunc(e.entries, func(en *eraseEntry) bool {
		for _, j := range js {
			if en.ID == j.id && en.gen == j.gen && en.done() {
				done = append(done, *en)
				return true
			}
		}
		return false
	})
	for _, en := range done {
		e.stats.Completed++
		e.stats.Persons += uint64(len(en.Persons))
	}
	e.version++
	e.mu.Unlock()
	return done, e.sync()
}

func (e *eraser) pending() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.entries)
}

func (e *eraser) count(fn func(*ErasureStats)) {
	e.mu.Lock()
	fn(&e.stats)
	e.mu.Unlock()
}

// watchErasures queues the erasures w applies. It runs from attach, before
// w applies anything.
func (s *Store) watchErasures(w *engine.Workspace) {
	name := w.Name()
	w.OnApplied(func(a engine.Applied) {
		if len(a.Erased) > 0 {
			s.er.add(name, a.Erased, a.Snap.Seq, a.LogSeq)
		}
	})
}

// SetLogEraser sets the function that purges erased persons' messages from
// the durable log (the log belongs to ingest; without one the log step is
// skipped). Call it before Run.
func (s *Store) SetLogEraser(fn LogEraser) {
	s.er.mu.Lock()
	s.er.logErase = fn
	s.er.mu.Unlock()
}

// Erase queues the erasure of persons (every person id of the group:
// merged members included) of workspace ws, which the engine applied at
// log position logSeq (0 when not from the log), and returns once the
// queue file holds it. The storage loop carries it out (see the top of
// this file); EraseNow does it at once. Erasures the engine applies are
// queued by themselves: this is for callers that erase by other means.
func (s *Store) Erase(ctx context.Context, ws string, persons []uint32, logSeq uint64) error {
	if len(persons) == 0 {
		return nil
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("cannot queue an erasure: %w", err)
	}
	var seq uint64
	s.mu.Lock()
	e := s.eng
	s.mu.Unlock()
	if e != nil {
		if w, err := e.Workspace(ws); err == nil {
			seq = w.Snapshot().Seq
		}
	}
	s.er.add(ws, persons, seq, logSeq)
	return s.er.sync()
}

// ErasureStats returns the erasure counters.
func (s *Store) ErasureStats() ErasureStats {
	var st ErasureStats
	s.er.count(func(x *ErasureStats) { st = *x })
	st.Pending = s.er.pending()
	return st
}

// eraseTick runs a pass if erasures are queued (the storage loop).
func (s *Store) eraseTick(ctx context.Context) {
	if s.er.pending() == 0 {
		return
	}
	if err := s.EraseNow(ctx); err != nil && ctx.Err() == nil {
		s.log.Error("erasure pass failed; retried at the next snapshot interval", "err", err)
	}
}

// EraseNow runs an erasure pass: it carries out, as far as it can, every
// queued erasure the engine has applied (see the top of this file). It
// returns the first error, having tried every workspace. Erasures that
// must wait (log replay not past them yet, the log's last message) stay
// queued and a later pass is scheduled.
func (s *Store) EraseNow(ctx context.Context) error {
	s.snapMu.Lock()
	defer s.snapMu.Unlock()
	s.mu.Lock()
	e := s.eng
	s.mu.Unlock()
	if e == nil {
		return errors.New("cannot erase: Restore was not called")
	}
	if err := s.er.sync(); err != nil {
		return err
	}
	groups := s.er.jobs()
	names := make([]string, 0, len(groups))
	for name := range groups {
		names = append(names, name)
	}
	sort.Strings(names)
	var first error
	wait := false
	for _, name := range names {
		w, err := s.eraseWorkspace(ctx, e, name, groups[name])
		wait = wait || w
		if err != nil {
			s.er.count(func(st *ErasureStats) { st.Failures++ })
			s.log.Error("erasure failed", "workspace", name, "err", err)
			if first == nil {
				first = err
			}
		}
	}
	if wait && ctx.Err() == nil {
		s.er.mu.Lock()
		s.er.armLocked(s.er.delay)
		s.er.mu.Unlock()
	}
	return first
}

// eraseReport is what one pass removed from one workspace.
type eraseReport struct {
	history       history.EraseStats
	events        events.EraseStats
	snapshot      uint64 // snapshot written (or found) after the erasure
	snapshotsGone []string
	logPurged     uint64
}

// eraseWorkspace runs the pending steps of ws's ready entries. wait
// reports entries left for a later pass for a reason that is not an error.
func (s *Store) eraseWorkspace(ctx context.Context, e *engine.Engine, ws string, all []job) (wait bool, err error) {
	start := time.Now()
	w, err := e.Workspace(ws)
	if err != nil {
		// Not loaded (yet): the log replay creates it.
		s.log.Warn("erasure waits for its workspace", "workspace", ws, "err", err)
		return true, nil
	}
	cur := w.Snapshot()
	var js []job
	for _, j := range all {
		if j.en.LogSeq == 0 || cur.LogSeq >= j.en.LogSeq {
			js = append(js, j)
		} else {
			wait = true // the log replay has not erased them yet
		}
	}
	if len(js) == 0 {
		return wait, nil
	}
	var rep eraseReport
	defer func() { s.reportErasure(ws, js, &rep, start, err) }()
	persons := func(pick func(*eraseEntry) bool) ([]uint32, []job) {
		var ps []uint32
		var sel []job
		for _, j := range js {
			if pick(&j.en) {
				ps = append(ps, j.en.Persons...)
				sel = append(sel, j)
			}
		}
		slices.Sort(ps)
		return slices.Compact(ps), sel
	}

	// a. Profile history: buffer and files.
	if ps, sel := persons(func(en *eraseEntry) bool { return !en.History }); len(sel) > 0 {
		s.mu.Lock()
		h := s.hist[ws]
		s.mu.Unlock()
		if h != nil {
			rep.history, err = h.Erase(ctx, ps)
		} else {
			rep.history, err = history.EraseDir(ctx, s.historyDir(ws), ps)
		}
		s.er.count(func(st *ErasureStats) {
			st.HistoryRows += uint64(rep.history.Rows) + uint64(rep.history.Buffered)
			st.HistoryFiles += uint64(rep.history.Rewritten + rep.history.Removed)
		})
		if err != nil {
			return wait, fmt.Errorf("cannot erase from profile history: %w", err)
		}
		if err := s.er.mark(sel, func(en *eraseEntry) { en.History = true }); err != nil {
			return wait, err
		}
		if err := s.er.stepDone(ws, "history"); err != nil {
			return wait, err
		}
	}

	// b. Sealed event partitions.
	if ps, sel := persons(func(en *eraseEntry) bool { return !en.Events }); len(sel) > 0 {
		p, err := s.Events(ws)
		if err != nil {
			return wait, err
		}
		rep.events, err = p.Erase(ctx, ps)
		s.er.count(func(st *ErasureStats) {
			st.EventRows += uint64(rep.events.Rows)
			st.EventFiles += uint64(rep.events.Rewritten)
		})
		if err != nil {
			return wait, fmt.Errorf("cannot erase from event partitions: %w", err)
		}
		if err := s.er.mark(sel, func(en *eraseEntry) { en.Events = true }); err != nil {
			return wait, err
		}
		if err := s.er.stepDone(ws, "events"); err != nil {
			return wait, err
		}
	}

	// c. A snapshot after the erasure; every older one goes.
	if _, sel := persons(func(en *eraseEntry) bool { return en.SnapshotSeq == 0 }); len(sel) > 0 {
		m, gone, err := s.snapshotAfter(ctx, e, ws, cur.Seq)
		rep.snapshotsGone = gone
		s.er.count(func(st *ErasureStats) { st.Snapshots += uint64(len(gone)) })
		if err != nil {
			return wait, err
		}
		rep.snapshot = m.Seq
		if err := s.er.mark(sel, func(en *eraseEntry) { en.SnapshotSeq, en.SnapshotLogSeq = m.Seq, m.LogSeq }); err != nil {
			return wait, err
		}
		for i := range js {
			if slices.ContainsFunc(sel, func(j job) bool { return j.id == js[i].id }) {
				js[i].en.SnapshotSeq, js[i].en.SnapshotLogSeq = m.Seq, m.LogSeq
			}
		}
		if err := s.er.stepDone(ws, "snapshot"); err != nil {
			return wait, err
		}
	}

	// d. The durable log, up to the snapshot. Every snapshot older than
	// the newest erasure snapshot is gone (step c), so recovery never
	// needs a message at or below its log position.
	if _, sel := persons(func(en *eraseEntry) bool { return !en.Log }); len(sel) > 0 {
		var upTo uint64
		for _, j := range js {
			upTo = max(upTo, j.en.SnapshotLogSeq)
		}
		s.er.mu.Lock()
		fn := s.er.logErase
		s.er.mu.Unlock()
		done := true
		if fn != nil && upTo > 0 {
			var purged uint64
			purged, done, err = fn(ctx, ws, upTo+1)
			rep.logPurged = purged
			s.er.count(func(st *ErasureStats) { st.LogMessages += purged })
			if err != nil {
				return wait, fmt.Errorf("cannot erase from the durable log: %w", err)
			}
		}
		if done {
			if err := s.er.mark(sel, func(en *eraseEntry) { en.Log = true }); err != nil {
				return wait, err
			}
		} else {
			wait = true
		}
	}
	done, err := s.er.finish(js)
	for _, en := range done {
		s.log.Info("erasure complete", "workspace", ws, "persons", len(en.Persons), "log_seq", en.LogSeq,
			"snapshot_seq", en.SnapshotSeq, "queued_for", time.Since(en.Enqueued).Round(time.Millisecond))
	}
	return wait, err
}

// snapshotAfter makes sure the newest snapshot of ws holds the workspace
// at or after batch seq (writing one if needed), verifies it, and deletes
// every older one. It returns the newest snapshot's manifest and the
// snapshots deleted. The caller holds snapMu.
func (s *Store) snapshotAfter(ctx context.Context, e *engine.Engine, ws string, seq uint64) (*snapshot.Manifest, []string, error) {
	if err := s.snapshotOne(ctx, e, ws); err != nil {
		return nil, nil, err
	}
	dir := s.snapDir(ws)
	list, err := snapshot.List(dir)
	if err != nil {
		return nil, nil, err
	}
	if len(list) == 0 || list[0].Seq < seq {
		return nil, nil, fmt.Errorf("cannot erase from snapshots of %s: no snapshot at or after batch %d", ws, seq)
	}
	m, err := snapshot.ReadManifest(list[0].Path)
	if err != nil {
		return nil, nil, fmt.Errorf("cannot erase from snapshots of %s: %w", ws, err)
	}
	// Older snapshots are about to go: the newest must be sound.
	if err := snapshot.Verify(list[0].Path, m); err != nil {
		return nil, nil, fmt.Errorf("cannot erase from snapshots of %s: %w", ws, err)
	}
	gone, err := snapshot.PruneBefore(dir, m.Seq)
	if err != nil {
		return m, gone, err
	}
	return m, gone, s.updateTrim(ws)
}

func (s *Store) reportErasure(ws string, js []job, rep *eraseReport, start time.Time, err error) {
	n := 0
	for _, j := range js {
		n += len(j.en.Persons)
	}
	attrs := []any{"workspace", ws, "erasures", len(js), "persons", n,
		"history_rows", rep.history.Rows + int64(rep.history.Buffered), "history_files_rewritten", rep.history.Rewritten,
		"history_files_removed", rep.history.Removed, "history_files_scanned", rep.history.Scanned, "history_files", rep.history.Files,
		"event_rows", rep.events.Rows, "event_files_rewritten", rep.events.Rewritten, "event_files_scanned", rep.events.Scanned,
		"snapshot", rep.snapshot, "snapshots_deleted", len(rep.snapshotsGone), "log_messages_purged", rep.logPurged,
		"elapsed", time.Since(start).Round(time.Millisecond)}
	if err != nil {
		s.log.Error("erasure pass stopped", append(attrs, "err", err)...)
		return
	}
	s.log.Info("erasure pass", attrs...)
}

// eraseResume schedules a pass for erasures left in the queue file by the
// previous run (Run calls it).
func (s *Store) eraseResume() {
	s.er.mu.Lock()
	defer s.er.mu.Unlock()
	if len(s.er.entries) > 0 {
		s.log.Info("erasures left by the previous run will resume", "pending", len(s.er.entries))
		s.er.armLocked(s.er.delay)
	}
}
