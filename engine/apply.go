package engine

import (
	"context"
	"fmt"
	"math"
	"strings"

	"github.com/cohortdb/cohort/engine/column"
	"github.com/cohortdb/cohort/engine/identity"
	"github.com/cohortdb/cohort/engine/table"
)

// maxNameLen bounds attribute and property names.
const maxNameLen = 128

type seenRange struct{ lo, hi int64 }

type applyScratch struct {
	defs []*column.ColumnDef
	vals []column.Value
	skip column.Bitmap
	seen map[uint32]seenRange
}

// Apply validates and applies a batch of operations in order. Operations
// that fail validation are reported in Result.Rejected and leave no trace;
// the others become visible to readers together, when Apply returns.
func (w *Workspace) Apply(ctx context.Context, ops []Op) (Result, error) {
	return w.ApplyLogged(ctx, ops, 0)
}

// ApplyLogged is Apply for batches read from the durable log: logSeq (the
// log position of the batch's last message; 0 = not from the log) is
// published with the snapshot, so a snapshot says how much of the log it
// contains. A batch whose logSeq is not above the last one applied is
// skipped: replaying the log after a snapshot is idempotent.
func (w *Workspace) ApplyLogged(ctx context.Context, ops []Op, logSeq uint64) (Result, error) {
	if err := ctx.Err(); err != nil {
		return Result{}, fmt.Errorf("cannot apply batch to %s: %w", w.name, err)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if logSeq != 0 {
		if logSeq <= w.logSeq {
			return Result{Seq: w.seq}, nil
		}
		w.logSeq = logSeq
	}
	var res Result
	if w.scratch.seen == nil {
		w.scratch.seen = make(map[uint32]seenRange)
	}
	for i := range ops {
		w.source = ops[i].Source
		if err := w.applyOne(&ops[i], &res); err != nil {
			res.Rejected = append(res.Rejected, OpError{Index: i, Err: err})
			continue
		}
		res.Applied++
	}
	w.flushSeen()
	w.compactProfiles(1)
	if w.onChanges != nil && len(w.changes) > 0 {
		w.onChanges(w.changes)
		w.changes = w.changes[:0]
	}
	w.seq++
	res.Seq = w.seq
	w.publish()
	w.fireApplied()
	return res, nil
}

func (w *Workspace) applyOne(op *Op, res *Result) error {
	if op.At == 0 {
		return fmt.Errorf("%s: %w: missing timestamp", op.Kind, ErrInvalidOp)
	}
	switch op.Kind {
	case OpIdentify:
		defs, vals, err := w.fields(w.profiles, op.Traits, true)
		if err != nil {
			return fmt.Errorf("identify: %w", err)
		}
		p, err := w.resolve(op, res, true)
		if err != nil {
			return fmt.Errorf("identify: %w", err)
		}
		w.writeProfile(p, defs, vals, op.At)
		w.touched(p)
	case OpTrack:
		if op.Event == "" {
			return fmt.Errorf("track: %w: event name is empty", ErrInvalidOp)
		}
		if len(op.Event) > 512 {
			return fmt.Errorf("track: %w: event name longer than 512 bytes", ErrInvalidOp)
		}
		tdefs, tvals, err := w.fields(w.profiles, op.Traits, true)
		if err != nil {
			return fmt.Errorf("track: %w", err)
		}
		tdefs = append([]*column.ColumnDef(nil), tdefs...) // the next call reuses scratch
		tvals = append([]column.Value(nil), tvals...)
		pdefs, pvals, err := w.fields(w.events, op.Props, false)
		if err != nil {
			return fmt.Errorf("track %s: %w", op.Event, err)
		}
		p, err := w.resolve(op, res, len(tdefs) > 0)
		if err != nil {
			return fmt.Errorf("track %s: %w", op.Event, err)
		}
		w.appendEvent(p, op, pdefs, pvals)
		w.touched(p)
		if len(tdefs) > 0 {
			w.writeProfile(p, tdefs, tvals, op.At)
		} else {
			w.noteSeen(p, op.At)
		}
	case OpAlias:
		if len(op.IDs) != 2 {
			return fmt.Errorf("alias: %w: needs exactly two identifiers, got %d", ErrInvalidOp, len(op.IDs))
		}
		r, err := w.graph.Link(op.IDs[0], op.IDs[1], op.At, op.Source)
		if err != nil {
			return fmt.Errorf("alias: %w", err)
		}
		w.afterResolve(r, op, res, false)
		w.noteSeen(r.Person, op.At)
	case OpDelete:
		return w.erase(op)
	default:
		return fmt.Errorf("%w: unknown kind %d", ErrInvalidOp, op.Kind)
	}
	return nil
}

// fields resolves the columns of fs in t, creating new ones typed by their
// first value, and returns them with values coerced to the column types.
func (w *Workspace) fields(t *table.Table, fs []Field, profile bool) ([]*column.ColumnDef, []column.Value, error) {
	defs, vals := w.scratch.defs[:0], w.scratch.vals[:0]
	for _, f := range fs {
		name := f.Name
		if err := checkName(name); err != nil {
			return nil, nil, err
		}
		if profile {
			if name == ColPersonID || name == ColUpdatedAt {
				return nil, nil, fmt.Errorf("%s.%s: %w: set by the engine", t.Name(), name, ErrReserved)
			}
		} else if isEventCore(name) {
			name = "prop_" + name // keep the core column's meaning; the property stays queryable
		}
		d, ok := t.Schema().Lookup(name)
		if !ok && f.Value.Null() {
			continue // clearing an attribute nobody has set
		}
		v := f.Value
		if ok {
			var err error
			if v, err = coerce(t.Name(), d, v); err != nil {
				return nil, nil, err
			}
		} else {
			if v.Type == column.TypeFloat && (math.IsNaN(v.F) || math.IsInf(v.F, 0)) {
				return nil, nil, fmt.Errorf("%s.%s: %w: float value must be finite", t.Name(), name, ErrInvalidOp)
			}
			var err error
			if d, err = t.Column(name, v.Type); err != nil {
				return nil, nil, err
			}
		}
		if profile && (name == ColCreatedAt || name == ColFirstSeen || name == ColLastSeen) && v.Type != column.TypeTimestamp {
			return nil, nil, &table.TypeError{Table: t.Name(), Column: name, Expected: column.TypeTimestamp, Given: v.Type}
		}
		dup := false
		for i, e := range defs {
			if e == d { // the last value of a repeated name wins
				vals[i], dup = v, true
			}
		}
		if !dup {
			defs, vals = append(defs, d), append(vals, v)
		}
	}
	w.scratch.defs, w.scratch.vals = defs, vals
	return defs, vals, nil
}

func checkName(name string) error {
	switch {
	case name == "":
		return fmt.Errorf("%w: empty attribute name", ErrInvalidOp)
	case len(name) > maxNameLen:
		return fmt.Errorf("%w: attribute name %.32q… longer than %d bytes", ErrInvalidOp, name, maxNameLen)
	case strings.HasPrefix(name, "_"):
		return fmt.Errorf("%w: attribute name %q: names starting with '_' are reserved", ErrInvalidOp, name)
	}
	return nil
}

func isEventCore(name string) bool {
	switch name {
	case ColEventID, ColPersonID, ColName, ColTS, ColReceivedAt:
		return true
	}
	return false
}

// coerce converts v to d's type where that loses nothing (int ↔ float with
// an integral value), and otherwise reports a TypeError.
func coerce(tbl string, d *column.ColumnDef, v column.Value) (column.Value, error) {
	if v.Type == d.Type || v.Null() {
		if v.Type == column.TypeFloat && (math.IsNaN(v.F) || math.IsInf(v.F, 0)) {
			return v, fmt.Errorf("%s.%s: %w: float value must be finite", tbl, d.Name, ErrInvalidOp)
		}
		return v, nil
	}
	switch {
	case d.Type == column.TypeFloat && v.Type == column.TypeInt:
		return column.Float(float64(v.I)), nil
	case d.Type == column.TypeInt && v.Type == column.TypeFloat && v.F == math.Trunc(v.F) && math.Abs(v.F) < 1<<53:
		return column.Int(int64(v.F)), nil
	}
	return v, &table.TypeError{Table: tbl, Column: d.Name, Expected: d.Type, Given: v.Type}
}

// resolve attributes op to a person. writeLater says the caller writes the
// person's profile next, so a new person's row is created then, once.
func (w *Workspace) resolve(op *Op, res *Result, writeLater bool) (uint32, error) {
	r, err := w.graph.Resolve(op.IDs, op.At, op.Source)
	if err != nil {
		return 0, err
	}
	w.afterResolve(r, op, res, writeLater)
	return r.Person, nil
}

// afterResolve applies what identity resolution decided: a new profile,
// merged profiles and identity rows.
func (w *Workspace) afterResolve(r identity.Resolution, op *Op, res *Result, writeLater bool) {
	for w.rowOf.Len() <= int(r.Person) {
		w.rowOf.Append(0)
	}
	if r.Created || len(r.Attached) > 0 {
		w.touched(r.Person)
	}
	if r.Created {
		res.Created++
		if !writeLater {
			w.writeProfile(r.Person, nil, nil, op.At)
		}
	}
	for _, m := range r.Merges {
		res.Merged++
		w.mergeProfiles(m.From, m.Into, op.At)
		w.pidx.merge(m.From, m.Into)
		w.merged(m.From, m.Into)
	}
	for _, id := range r.Attached {
		w.identities.Begin()
		w.identities.SetString(w.ic.typ, id.Type)
		w.identities.SetString(w.ic.value, id.Value)
		w.identities.SetInt(w.ic.person, int64(r.Person))
		w.identities.SetInt(w.ic.created, op.At)
		w.identities.End()
	}
}

func (w *Workspace) appendEvent(p uint32, op *Op, defs []*column.ColumnDef, vals []column.Value) {
	t := w.events
	w.pidx.add(p, t.Begin())
	t.SetInt(w.ec.id, w.nextEvent)
	w.nextEvent++
	t.SetInt(w.ec.person, int64(p))
	t.SetString(w.ec.name, op.Event)
	t.SetInt(w.ec.ts, op.At)
	recv := op.ReceivedAt
	if recv == 0 {
		recv = op.At
	}
	t.SetInt(w.ec.received, recv)
	for i, d := range defs {
		t.Set(d, vals[i])
	}
	t.End()
}

// noteSeen records that person p was active at ts; first_seen/last_seen are
// compared and written once per batch, at flushSeen (reading them here as
// well would cost two more cache misses per event).
func (w *Workspace) noteSeen(p uint32, ts int64) {
	r, ok := w.scratch.seen[p]
	if !ok {
		if w.rowOf.Get(int(p)) == 0 {
			return // no profile (yet): whether one is made later in the batch must not matter
		}
		r = seenRange{lo: ts, hi: ts}
	}
	w.scratch.seen[p] = seenRange{lo: min(r.lo, ts), hi: max(r.hi, ts)}
}

func (w *Workspace) flushSeen() {
	for p, r := range w.scratch.seen {
		delete(w.scratch.seen, p)
		w.writeSeen(p, r)
	}
}

// settleSeen writes p's pending first_seen/last_seen now, before an op
// writes p's profile: an explicit first_seen/last_seen trait later in the
// batch must win, as it does when the log is cut into batches between the
// two ops (replay cuts it differently from live ingest).
func (w *Workspace) settleSeen(p uint32) {
	if r, ok := w.scratch.seen[p]; ok {
		delete(w.scratch.seen, p)
		w.writeSeen(p, r)
	}
}

// writeSeen widens p's first_seen/last_seen to include r.
func (w *Workspace) writeSeen(p uint32, r seenRange) {
	p = w.graph.Canonical(p)
	row := w.rowOf.Get(int(p))
	if row == 0 {
		return
	}
	first := w.profiles.Get(table.RowID(row-1), w.pc.first)
	last := w.profiles.Get(table.RowID(row-1), w.pc.last)
	var defs []*column.ColumnDef
	var vals []column.Value
	if first.Null() || r.lo < first.I {
		defs, vals = append(defs, w.pc.first), append(vals, column.Micros(r.lo))
	}
	if last.Null() || r.hi > last.I {
		defs, vals = append(defs, w.pc.last), append(vals, column.Micros(r.hi))
	}
	if len(defs) > 0 {
		if !w.updateSeen(table.RowID(row-1), defs, vals) {
			w.rewrite(p, defs, vals, 0)
		}
		w.touched(p)
	}
}

// updateSeen writes first_seen/last_seen into profile row r in place, which
// spares copying every other column of the row for each active person;
// it reports false when r is in the tail, which needs a new row version.
func (w *Workspace) updateSeen(r table.RowID, defs []*column.ColumnDef, vals []column.Value) bool {
	for i, d := range defs {
		if !w.profiles.UpdateInt(r, d, vals[i].I) {
			return false // only the first can fail: every def is of row r
		}
	}
	return true
}

// writeProfile sets traits on p's profile (creating it) and widens its
// first_seen/last_seen to include at.
func (w *Workspace) writeProfile(p uint32, defs []*column.ColumnDef, vals []column.Value, at int64) {
	w.settleSeen(p)
	row := w.rowOf.Get(int(p))
	lo, hi := at, at
	if row != 0 {
		if f := w.profiles.Get(table.RowID(row-1), w.pc.first); !f.Null() {
			lo = min(lo, f.I)
		}
		if l := w.profiles.Get(table.RowID(row-1), w.pc.last); !l.Null() {
			hi = max(hi, l.I)
		}
	}
	// An explicit trait wins over the derived value.
	setFirst, setLast := true, true
	for _, d := range defs {
		setFirst = setFirst && d != w.pc.first
		setLast = setLast && d != w.pc.last
	}
	if setFirst {
		defs, vals = append(defs, w.pc.first), append(vals, column.Micros(lo))
	}
	if setLast {
		defs, vals = append(defs, w.pc.last), append(vals, column.Micros(hi))
	}
	w.rewrite(p, defs, vals, at)
}

// rewrite writes a new version of p's profile row: the old row's values,
// overridden by defs/vals, with updated_at = at (kept if at is 0).
func (w *Workspace) rewrite(p uint32, defs []*column.ColumnDef, vals []column.Value, at int64) {
	t := w.profiles
	old := w.rowOf.Get(int(p))
	skip := w.scratch.skip.Resize(len(t.Schema().Cols))
	for _, d := range defs {
		skip.Set(d.Index)
	}
	if at != 0 || old == 0 {
		skip.Set(w.pc.updated.Index)
	}
	w.scratch.skip = skip
	r := t.Begin()
	if old != 0 {
		t.CopyRow(table.RowID(old-1), skip)
	} else {
		t.SetInt(w.pc.person, int64(p))
		t.SetInt(w.pc.created, createdAt(defs, vals, at, w.pc.created))
		skip.Set(w.pc.created.Index)
	}
	for i, d := range defs {
		if old == 0 && d == w.pc.created {
			continue
		}
		if w.onChanges != nil {
			w.recordChange(p, old, d, vals[i], at)
		}
		t.Set(d, vals[i])
	}
	if at != 0 || old == 0 {
		t.SetInt(w.pc.updated, at)
	}
	t.End()
	if old != 0 {
		t.Delete(table.RowID(old - 1))
	}
	w.rowOf.Set(int(p), uint64(r)+1)
}

func createdAt(defs []*column.ColumnDef, vals []column.Value, at int64, created *column.ColumnDef) int64 {
	for i, d := range defs {
		if d == created && !vals[i].Null() {
			return vals[i].I
		}
	}
	return at
}

// mergeProfiles folds from's profile into into's: for every attribute the
// value of the more recently updated profile wins, the other fills gaps;
// created_at/first_seen take the minimum and last_seen the maximum.
func (w *Workspace) mergeProfiles(from, into uint32, at int64) {
	for w.rowOf.Len() <= int(max(from, into)) {
		w.rowOf.Append(0)
	}
	w.settleSeen(from)
	w.settleSeen(into)
	rf, ri := w.rowOf.Get(int(from)), w.rowOf.Get(int(into))
	if rf == 0 {
		return
	}
	if ri == 0 {
		// Nothing to combine: the row moves to its new owner.
		w.rewrite(from, []*column.ColumnDef{w.pc.person}, []column.Value{column.Int(int64(into))}, at)
		w.rowOf.Set(int(into), w.rowOf.Get(int(from)))
		w.rowOf.Set(int(from), 0)
		return
	}
	t := w.profiles
	a, b := table.RowID(ri-1), table.RowID(rf-1) // a: into, b: from
	newer, older := a, b
	if ua, ub := t.Get(a, w.pc.updated), t.Get(b, w.pc.updated); !ub.Null() && (ua.Null() || ub.I > ua.I) {
		newer, older = b, a
	}
	var defs []*column.ColumnDef
	var vals []column.Value
	for _, d := range t.Schema().Cols {
		if d == w.pc.person || d == w.pc.updated {
			continue
		}
		vn, vo := t.Get(newer, d), t.Get(older, d)
		v := vn
		switch {
		case d == w.pc.created || d == w.pc.first:
			v = minTime(vn, vo)
		case d == w.pc.last:
			v = maxTime(vn, vo)
		case vn.Null():
			v = vo
		}
		if !v.Null() {
			defs, vals = append(defs, d), append(vals, v)
		}
	}
	w.rewrite(into, defs, vals, at)
	t.Delete(b)
	w.rowOf.Set(int(from), 0)
}

func minTime(a, b column.Value) column.Value {
	if a.Null() || (!b.Null() && b.I < a.I) {
		return b
	}
	return a
}

func maxTime(a, b column.Value) column.Value {
	if a.Null() || (!b.Null() && b.I > a.I) {
		return b
	}
	return a
}

// erase removes the person the identifiers resolve to: profile, events,
// identity rows, and the identifiers themselves (which the identity graph
// then suppresses).
func (w *Workspace) erase(op *Op) error {
	var p uint32
	for _, id := range op.IDs {
		if q, ok := w.graph.Lookup(id); ok {
			p = q
			break
		}
	}
	if p == 0 {
		return fmt.Errorf("delete: %w", ErrUnknownPerson)
	}
	members := column.NewBitmap(w.rowOf.Len())
	for _, q := range w.graph.Members(p) {
		members.Set(int(q))
		w.erasedPerson(q, q == p)
	}
	w.graph.Erase(p)
	for q := members.Next(0); q >= 0; q = members.Next(q + 1) {
		if r := w.rowOf.Get(q); r != 0 {
			w.profiles.Delete(table.RowID(r - 1))
			w.rowOf.Set(q, 0)
		}
	}
	w.deleteWhere(w.events, w.ec.person, members)
	w.deleteWhere(w.identities, w.ic.person, members)
	w.scratch.seen = clearSeen(w.scratch.seen, members)
	return nil
}

func clearSeen(m map[uint32]seenRange, members column.Bitmap) map[uint32]seenRange {
	for p := range m {
		if int(p) < len(members)*64 && members.Get(int(p)) {
			delete(m, p)
		}
	}
	return m
}

// deleteWhere deletes every row of t whose int column d is set in persons.
func (w *Workspace) deleteWhere(t *table.Table, d *column.ColumnDef, persons column.Bitmap) {
	for _, c := range t.WriterChunks() {
		v := c.Col(d.Index)
		for row := 0; row < c.Rows; row++ {
			if c.Del != nil && c.Del.Get(row) {
				continue
			}
			if p, ok := v.Int(row); ok && int(p) < len(persons)*64 && persons.Get(int(p)) {
				t.Delete(table.RowID(c.Slot)<<column.ChunkBits | table.RowID(row))
			}
		}
	}
}

// compactProfiles rewrites up to n sealed profile chunks whose rows are
// mostly dead: their live rows move to the tail and the chunk is dropped.
func (w *Workspace) compactProfiles(n int) {
	for _, c := range w.profiles.Sparse(0.5) {
		if n == 0 {
			return
		}
		n--
		pv := c.Col(w.pc.person.Index)
		for row := 0; row < c.Rows; row++ {
			if c.Del != nil && c.Del.Get(row) {
				continue
			}
			p, ok := pv.Int(row)
			if !ok {
				continue
			}
			w.rewrite(uint32(p), nil, nil, 0)
		}
		if err := w.profiles.Drop(c.Slot); err != nil {
			panic("BUG: " + err.Error())
		}
	}
}
