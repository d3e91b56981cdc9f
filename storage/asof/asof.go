package asof

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/cohortdb/cohort/engine"
	"github.com/cohortdb/cohort/engine/column"
	"github.com/cohortdb/cohort/engine/expr"
	"github.com/cohortdb/cohort/storage/history"
)

// Source reads profile history: every record with from <= At < to, in the
// order the changes were applied, each record fn's to keep. It should not
// open stored files whose time range misses [from, to).
//
// *history.Writer (files plus the records not yet flushed: what a server
// uses) and *history.Reader (files only) are Sources; SourceFunc adapts a
// function such as storage.Store.ScanHistory bound to a workspace.
type Source interface {
	Scan(ctx context.Context, from, to time.Time, fn func(history.Record) error) error
}

// SourceFunc adapts a function to Source.
type SourceFunc func(ctx context.Context, from, to time.Time, fn func(history.Record) error) error

// Scan calls f.
func (f SourceFunc) Scan(ctx context.Context, from, to time.Time, fn func(history.Record) error) error {
	return f(ctx, from, to, fn)
}

// ProjectedSource is the upgrade a Source may offer, found by type
// assertion: a scan that decodes only the parts of records Evaluate reads
// (person, attribute, old and new value, time), column by column. Several
// times faster on files than Scan. *history.Writer and *history.Reader
// have it; ProjectedSourceFunc adapts a function.
type ProjectedSource interface {
	Source
	ScanProjected(ctx context.Context, from, to time.Time, p history.Projection, fn func(history.Record) error) error
}

// ProjectedSourceFunc adapts a function (such as a Store method wrapping
// history.Writer.ScanProjected for a workspace) to ProjectedSource.
type ProjectedSourceFunc func(ctx context.Context, from, to time.Time, p history.Projection, fn func(history.Record) error) error

// Scan calls f asking for every part of the records.
func (f ProjectedSourceFunc) Scan(ctx context.Context, from, to time.Time, fn func(history.Record) error) error {
	return f(ctx, from, to, history.Projection{Seq: true, Old: true, New: true, Source: true}, fn)
}

// ScanProjected calls f.
func (f ProjectedSourceFunc) ScanProjected(ctx context.Context, from, to time.Time, p history.Projection, fn func(history.Record) error) error {
	return f(ctx, from, to, p, fn)
}

var (
	_ ProjectedSource = (*history.Writer)(nil)
	_ ProjectedSource = (*history.Reader)(nil)
	_ ProjectedSource = ProjectedSourceFunc(nil)
)

// ErrNotRecorded is wrapped by the error for a condition over a profile
// column the history does not record (first_seen, last_seen, updated_at).
var ErrNotRecorded = errors.New("column not recorded in profile history")

// Stats says what an evaluation read and what it could not reconstruct.
type Stats struct {
	Records  int64 // history records read: the changes after at
	Profiles int   // profiles rebuilt as they were at at (changes after at to a column the condition reads)
	// Unattached counts the person ids with changes after at, to columns
	// the condition reads, whose profile no longer exists: folded into
	// another profile by a merge, or erased. They are not reported.
	Unattached int
	Unknown    int64 // records of attributes absent from the snapshot's schema (ignored)
	// EventsIncomplete is set when a behavioural predicate's window starts
	// before the snapshot's in-memory event window (Snapshot.EventsFrom):
	// it was answered from the events in memory only.
	EventsIncomplete bool
}

// Result is the membership at a past time.
type Result struct {
	// Members is indexed by person id and sized for every person of the
	// snapshot (as Snapshot.PersonSet): the persons, as they were
	// identified at at, whose profile satisfied the condition then.
	Members column.Bitmap
	Stats
}

// Members returns the persons who satisfied cond at time at: Evaluate's
// Members.
func Members(ctx context.Context, snap *engine.Snapshot, cond engine.Cond, at time.Time, src Source) (column.Bitmap, error) {
	r, err := Evaluate(ctx, snap, cond, at, src)
	if err != nil {
		return nil, err
	}
	return r.Members, nil
}

// maxMicros is "no upper bound" for history scans.
const maxMicros = 1 << 62

// Evaluate returns the persons who satisfied cond at time at, with
// statistics. snap is the current snapshot (any snapshot at or after at);
// src must hold every change applied up to snap (for a server: the
// workspace's history Writer, whose Scan includes unflushed records);
// changes of later batches (Record.Seq > snap.Seq) are ignored.
// See the package documentation for the semantics and the limits.
func Evaluate(ctx context.Context, snap *engine.Snapshot, cond engine.Cond, at time.Time, src Source) (Result, error) {
	if snap == nil || src == nil {
		return Result{}, errors.New("cannot evaluate membership as of a past time: nil snapshot or history source")
	}
	ts := at.UTC().Format(time.RFC3339Nano)
	if err := checkRecorded(cond); err != nil {
		return Result{}, fmt.Errorf("cannot evaluate membership of %s as of %s: %w", snap.Workspace, ts, err)
	}
	atUS := at.UnixMicro()
	created := expr.Cmp{Col: engine.ColCreatedAt, Op: expr.Le, Val: expr.Lit(column.Micros(atUS))}
	var res Result

	// Two independent halves, one goroutine each: the snapshot side
	// (behavioural predicates, then every profile as it is now) and the
	// history side (the profiles changed after at, as they were at at).
	g, gctx := errgroup.WithContext(ctx)
	dids := collectDids(cond, nil)
	bits := make([]column.Bitmap, len(dids))
	var live column.Bitmap
	g.Go(func() error {
		for i, d := range dids {
			b, err := snap.PersonSet(gctx, restrict(d, atUS), at)
			if err != nil {
				return fmt.Errorf("cannot evaluate behavioural predicate %q: %w", d.Event, err)
			}
			bits[i] = b
			res.EventsIncomplete = res.EventsIncomplete || beforeWindow(snap, d, at)
		}
		i := 0
		e, err := lower(cond, engine.ColPersonID, bits, &i)
		if err != nil {
			return err
		}
		live, err = snap.PersonSet(gctx, engine.Where{Expr: expr.And{e, created}}, at)
		return err
	})
	var past *rebuilt
	f := newFold(snap.Profiles.Schema, needed(snap.Profiles.Schema, cond))
	g.Go(func() error {
		from, to := time.UnixMicro(atUS+1), time.UnixMicro(maxMicros)
		add := func(r history.Record) error {
			if r.Seq <= snap.Seq { // not a batch applied after snap
				f.add(&r)
			}
			return nil
		}
		var err error
		if ps, ok := src.(ProjectedSource); ok {
			// New is read for person-id moves only (see fold.add).
			err = ps.ScanProjected(gctx, from, to, history.Projection{Seq: true, Old: true, New: true}, add)
		} else {
			err = src.Scan(gctx, from, to, add)
		}
		if err != nil {
			return fmt.Errorf("cannot read profile history after %s: %w", ts, err)
		}
		if past, err = f.rebuild(gctx, snap); err != nil {
			return fmt.Errorf("cannot rebuild profiles: %w", err)
		}
		return nil
	})
	if err := g.Wait(); err != nil {
		return Result{}, fmt.Errorf("cannot evaluate membership of %s as of %s: %w", snap.Workspace, ts, err)
	}
	res.Records, res.Unknown = f.ord, f.unknown
	res.Profiles, res.Unattached = len(past.owners), past.unattached

	// Take the rebuilt profiles' current rows out, and put them in as they
	// were.
	n := len(live) * 64
	for _, p := range past.owners {
		if int(p) < n {
			live.Clear(int(p))
		}
	}
	if len(past.owners) > 0 {
		i := 0
		e, err := lower(cond, ownerCol, bits, &i)
		if err == nil {
			err = past.eval(ctx, expr.And{e, created}, at, live)
		}
		if err != nil {
			return Result{}, fmt.Errorf("cannot evaluate membership of %s as of %s: %w", snap.Workspace, ts, err)
		}
	}
	res.Members = live
	return res, nil
}

// needed returns the profile columns whose past values matter for cond:
// those its profile predicates read, person_id and created_at.
func needed(s *column.Schema, cond engine.Cond) column.Bitmap {
	need := column.NewBitmap(len(s.Cols))
	mark := func(name string) {
		if d, ok := s.Lookup(name); ok {
			need.Set(d.Index)
		}
	}
	mark(engine.ColPersonID)
	mark(engine.ColCreatedAt)
	walkWhere(cond, func(e expr.Expr) {
		if col := columnOf(e); col != "" {
			mark(col)
		}
	})
	return need
}

// walkWhere calls fn for every expression of cond's profile predicates.
func walkWhere(c engine.Cond, fn func(expr.Expr)) {
	switch c := c.(type) {
	case engine.Where:
		if c.Expr != nil {
			expr.Walk(c.Expr, fn)
		}
	case engine.AllOf:
		for _, a := range c {
			walkWhere(a, fn)
		}
	case engine.AnyOf:
		for _, a := range c {
			walkWhere(a, fn)
		}
	case engine.Negate:
		walkWhere(c.Cond, fn)
	}
}

// collectDids appends the behavioural predicates of c in lowering order.
func collectDids(c engine.Cond, dst []engine.Did) []engine.Did {
	switch c := c.(type) {
	case engine.Did:
		dst = append(dst, c)
	case engine.AllOf:
		for _, a := range c {
			dst = collectDids(a, dst)
		}
	case engine.AnyOf:
		for _, a := range c {
			dst = collectDids(a, dst)
		}
	case engine.Negate:
		dst = collectDids(c.Cond, dst)
	}
	return dst
}

// restrict limits a behavioural predicate to the events known at atUS.
func restrict(d engine.Did, atUS int64) engine.Did {
	lim := expr.Lit(column.Micros(atUS))
	w := expr.And{
		expr.Cmp{Col: engine.ColTS, Op: expr.Le, Val: lim},
		expr.Or{expr.IsNull{Col: engine.ColReceivedAt}, expr.Cmp{Col: engine.ColReceivedAt, Op: expr.Le, Val: lim}},
	}
	if d.Where != nil {
		w = append(expr.And{d.Where}, w...)
	}
	d.Where = w
	return d
}

// beforeWindow reports whether d's window at now = at starts before the
// events kept in memory.
func beforeWindow(snap *engine.Snapshot, d engine.Did, at time.Time) bool {
	if snap.EventsFrom == 0 {
		return false
	}
	since := int64(math.MinInt64)
	if d.Since != nil {
		if v := expr.Resolve(d.Since, at); !v.Null() {
			since = v.I
		}
	}
	return since < snap.EventsFrom
}

// lower turns c into one predicate over profiles, as the engine lowers a
// condition (Where → its expression, AllOf → And, AnyOf → Or, Negate →
// Not), with the i-th behavioural predicate replaced by "col IN bits[i]".
func lower(c engine.Cond, col string, bits []column.Bitmap, i *int) (expr.Expr, error) {
	switch c := c.(type) {
	case engine.Where:
		if c.Expr == nil {
			return expr.True, nil
		}
		return c.Expr, nil
	case engine.AllOf:
		out := make(expr.And, len(c))
		for j, a := range c {
			e, err := lower(a, col, bits, i)
			if err != nil {
				return nil, err
			}
			out[j] = e
		}
		return out, nil
	case engine.AnyOf:
		out := make(expr.Or, len(c))
		for j, a := range c {
			e, err := lower(a, col, bits, i)
			if err != nil {
				return nil, err
			}
			out[j] = e
		}
		return out, nil
	case engine.Negate:
		e, err := lower(c.Cond, col, bits, i)
		if err != nil {
			return nil, err
		}
		return expr.Not{Arg: e}, nil
	case engine.Did:
		if *i >= len(bits) {
			panic("BUG: asof: behavioural predicates out of step")
		}
		b := bits[*i]
		*i++
		return expr.InBitmap{Col: col, Bits: b}, nil
	case nil:
		return expr.True, nil
	}
	return nil, fmt.Errorf("unknown condition %T", c)
}

// checkRecorded rejects conditions over profile columns the history does
// not record.
func checkRecorded(c engine.Cond) error {
	var err error
	walkWhere(c, func(e expr.Expr) {
		if col := columnOf(e); err == nil && notRecorded(col) {
			err = fmt.Errorf("%w: %s", ErrNotRecorded, col)
		}
	})
	return err
}

func notRecorded(col string) bool {
	return col == engine.ColFirstSeen || col == engine.ColLastSeen || col == engine.ColUpdatedAt
}

// columnOf returns the column a leaf predicate reads ("" for others).
func columnOf(e expr.Expr) string {
	switch e := e.(type) {
	case expr.Cmp:
		return e.Col
	case expr.In:
		return e.Col
	case expr.Between:
		return e.Col
	case expr.IsNull:
		return e.Col
	case expr.Like:
		return e.Col
	case expr.Contains:
		return e.Col
	case expr.InBitmap:
		return e.Col
	}
	return ""
}
