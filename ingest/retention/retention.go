// Package retention trims the durable ingest log behind the snapshots, so
// that the log's disk use does not grow without bound.
//
// A message may be purged once nothing can need it again:
//
//   - every workspace's state up to it is in that workspace's OLDEST kept
//     snapshot (storage.Store.TrimPoint), so recovering from any kept
//     snapshot still finds the log after it. A workspace whose log position
//     is above its trim point (no snapshot yet, or changed since) holds the
//     trim there: with no snapshot, nothing is trimmed at all;
//   - the applier applied it (never purge what it has not read);
//   - it was stored more than the de-duplication window ago: the applier
//     rebuilds its message-id state by replaying the log, so the log must
//     keep the whole window before the point replay starts from;
//   - it is not the stream's last message: a replay then always has
//     something to read up to the last sequence (ingest.Service.Caught
//     waits for it).
//
// Idle workspaces: a workspace whose engine log position still equals its
// trim point has applied nothing from the log since its oldest kept
// snapshot, so none of its messages lie between that point and the
// applier's position; it does not hold the trim back (otherwise one idle
// workspace, or the demo workspace filled without the log, would stop
// retention for good).
package retention

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/cohortdb/cohort/engine"
	ilog "github.com/cohortdb/cohort/ingest/log"
)

// Workspace is what the policy knows of one workspace.
type Workspace struct {
	// TrimPoint is the log sequence held by the workspace's oldest kept
	// snapshot; 0 without a snapshot.
	TrimPoint uint64
	// LogSeq is the engine's log position for the workspace (the last log
	// sequence applied to it), read after Input.Applied.
	LogSeq uint64
}

// Input is everything the policy decides from.
type Input struct {
	Workspaces map[string]Workspace // every workspace known to the engine
	Applied    uint64               // the applier's position (lowest applied sequence)
	WindowSeq  uint64               // first sequence stored within the dedup window (Log.SeqAt)
	FirstSeq   uint64               // the stream's first and last sequence
	LastSeq    uint64
}

// Decision is the policy's answer: purge every message below Before.
type Decision struct {
	Before uint64
	// Limit names what held the trim point: "workspace", "applier",
	// "dedup window" or "last message".
	Limit     string
	Workspace string // the workspace, when Limit is "workspace"
}

// Trim reports whether the decision purges anything.
func (d Decision) Trim(firstSeq uint64) bool { return d.Before > firstSeq }

// Plan computes the trim point. It is pure: see the package comment for
// the rules.
func Plan(in Input) Decision {
	d := Decision{Before: in.Applied + 1, Limit: "applier"}
	lower := func(before uint64, limit, ws string) {
		if before < d.Before || (before == d.Before && limit == "workspace" && d.Limit == "workspace" && ws < d.Workspace) {
			d = Decision{Before: before, Limit: limit, Workspace: ws}
		}
	}
	for name, w := range in.Workspaces {
		covered := w.TrimPoint
		if w.LogSeq == w.TrimPoint {
			// Idle since its oldest kept snapshot: nothing of it lies
			// between there and the applier's position.
			covered = max(covered, in.Applied)
		}
		lower(covered+1, "workspace", name)
	}
	lower(in.WindowSeq, "dedup window", "")
	lower(in.LastSeq, "last message", "")
	if d.Before < in.FirstSeq {
		d.Before = in.FirstSeq
	}
	return d
}

// Snapshots gives the trim points of the snapshots (storage.Store).
type Snapshots interface {
	TrimPoint() map[string]uint64
}

// Applier is what retention needs of the log applier (applier.Applier).
type Applier interface {
	Applied() uint64
	DedupWindow() time.Duration
}

// Options configure a Retainer; zero values mean the defaults.
type Options struct {
	// Window is how much of the log (by store time) is always kept; default
	// the applier's DedupWindow.
	Window time.Duration
	// Interval of Run's passes; default 5 minutes (the snapshot interval).
	Interval time.Duration
	// Logger; default slog.Default().
	Logger *slog.Logger
	// Now is the clock; default time.Now.
	Now func() time.Time
	// Paused, when set and true, makes Run skip its passes (the server is
	// shutting down and the log may be closing under it).
	Paused func() bool
}

// Retainer trims the log.
type Retainer struct {
	l    *ilog.Log
	eng  *engine.Engine
	snap Snapshots
	app  Applier
	opts Options
	log  *slog.Logger
}

// New returns a retainer of l for the workspaces of eng.
func New(l *ilog.Log, eng *engine.Engine, snap Snapshots, app Applier, opts Options) *Retainer {
	if opts.Interval <= 0 {
		opts.Interval = 5 * time.Minute
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Retainer{l: l, eng: eng, snap: snap, app: app, opts: opts, log: opts.Logger}
}

// Result is the outcome of one pass.
type Result struct {
	Decision
	Purged      uint64
	FirstSeq    uint64 // before the pass
	BytesBefore uint64
	BytesAfter  uint64
}

func (r *Retainer) window() time.Duration {
	if r.opts.Window > 0 {
		return r.opts.Window
	}
	return r.app.DedupWindow()
}

// Gather reads the policy's input. The order matters: the applier's
// position first, then the engine's workspaces and their log positions,
// then the trim points (see Plan).
func (r *Retainer) Gather(ctx context.Context) (Input, error) {
	in := Input{Applied: r.app.Applied(), Workspaces: map[string]Workspace{}}
	for _, name := range r.eng.Workspaces() {
		w, err := r.eng.Workspace(name)
		if err != nil {
			continue // dropped meanwhile
		}
		in.Workspaces[name] = Workspace{LogSeq: w.Snapshot().LogSeq}
	}
	tp := r.snap.TrimPoint()
	for name, w := range in.Workspaces {
		w.TrimPoint = tp[name]
		in.Workspaces[name] = w
	}
	seq, err := r.l.SeqAt(ctx, r.opts.Now().Add(-r.window()))
	if err != nil {
		return Input{}, err
	}
	in.WindowSeq = seq
	st, err := r.l.State(ctx)
	if err != nil {
		return Input{}, err
	}
	in.FirstSeq, in.LastSeq = st.FirstSeq, st.LastSeq
	return in, nil
}

// Pass trims the log once, as far as Plan allows.
func (r *Retainer) Pass(ctx context.Context) (Result, error) {
	in, err := r.Gather(ctx)
	if err != nil {
		return Result{}, fmt.Errorf("cannot plan log retention: %w", err)
	}
	res := Result{Decision: Plan(in), FirstSeq: in.FirstSeq}
	if !res.Trim(in.FirstSeq) {
		return res, nil
	}
	before, err := r.l.State(ctx)
	if err != nil {
		return res, err
	}
	res.BytesBefore = before.Bytes
	if res.Purged, err = r.l.TrimBefore(ctx, res.Before); err != nil {
		return res, err
	}
	after, err := r.l.State(ctx)
	if err != nil {
		return res, err
	}
	res.BytesAfter = after.Bytes
	return res, nil
}

// Run makes a pass every Interval until ctx ends, logging what it purged.
func (r *Retainer) Run(ctx context.Context) {
	tick := time.NewTicker(r.opts.Interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		if r.opts.Paused != nil && r.opts.Paused() {
			continue
		}
		res, err := r.Pass(ctx)
		switch {
		case err != nil && (ctx.Err() != nil || (r.opts.Paused != nil && r.opts.Paused())):
			return
		case err != nil:
			r.log.Error("log retention failed", "err", err)
		case res.Purged > 0:
			r.log.Info("log trimmed", "purged", res.Purged, "first_seq", res.Before, "limit", res.Limit, "workspace", res.Workspace,
				"bytes_before", res.BytesBefore, "bytes_after", res.BytesAfter)
		default:
			r.log.Debug("log retention: nothing to trim", "first_seq", res.FirstSeq, "trim_before", res.Before, "limit", res.Limit, "workspace", res.Workspace)
		}
	}
}
