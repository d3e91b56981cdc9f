package engine

import (
	"fmt"
	"sync/atomic"

	"github.com/cohortdb/cohort/engine/column"
	"github.com/cohortdb/cohort/engine/identity"
	"github.com/cohortdb/cohort/engine/table"
)

// ColumnSpec names and types one column of an exported table.
type ColumnSpec struct {
	Name string
	Type column.Type
}

// Restorer rebuilds a workspace from an Export, piece by piece, so that a
// storage layer can stream it from disk:
//
//	r, err := e.NewRestorer("acme", counters)
//	r.Columns(engine.Profiles, specs)   // per table, before its rows
//	r.Row(engine.Profiles, vals)        // every live row, in table order
//	r.Merge(m)                          // the merge log, in order
//	r.Identifier(id, person)            // attached identifiers
//	r.Suppressed(id)                    // erased identifiers
//	w, err := r.Finish()                // checks, publishes, installs
//
// The first error sticks: every later call returns it. Different tables
// (Columns and Row of profiles, events, identities) and the graph (Merge,
// Identifier, Suppressed, Detached, ID) may be restored concurrently, one
// goroutine each; NewRestorer and Build/Finish may not overlap anything.
type Restorer struct {
	e    *Engine
	w    *Workspace
	c    Counters
	g    *identity.Restorer
	cols [3]bool  // by tableIndex; each written only by its table's goroutine
	rows [3]int64 // rows restored, by tableIndex
	err  atomic.Pointer[error]
}

func tableIndex(name string) int {
	switch name {
	case Profiles:
		return 0
	case Events:
		return 1
	case Identities:
		return 2
	}
	return -1
}

// failed returns the sticky error, if any.
func (r *Restorer) failed() error {
	if p := r.err.Load(); p != nil {
		return *p
	}
	return nil
}

// NewRestorer starts restoring workspace name with the given counters,
// under the engine's identity rules. Nothing is visible until Finish.
func (e *Engine) NewRestorer(name string, c Counters) (*Restorer, error) {
	if !workspaceName.MatchString(name) {
		return nil, fmt.Errorf("cannot restore workspace %q: name must match %s", name, workspaceName)
	}
	if c.Persons < 0 || c.NextEvent < 1 || c.EventsThrough < 0 || c.EventsThrough >= c.NextEvent {
		return nil, fmt.Errorf("cannot restore workspace %s: bad counters %+v", name, c)
	}
	r := &Restorer{e: e, w: NewWorkspace(name, *e.opts.Rules), c: c, g: identity.NewRestorer(*e.opts.Rules)}
	if err := r.g.Persons(c.Persons); err != nil {
		return nil, fmt.Errorf("cannot restore workspace %s: %w", name, err)
	}
	for r.w.rowOf.Len() <= c.Persons {
		r.w.rowOf.Append(0)
	}
	return r, nil
}

func (r *Restorer) fail(format string, args ...any) error {
	err := fmt.Errorf("cannot restore workspace %s: "+format, append([]any{r.w.name}, args...)...)
	if r.err.CompareAndSwap(nil, &err) {
		return err
	}
	return r.failed()
}

func (r *Restorer) table(name string) *table.Table {
	switch name {
	case Profiles:
		return r.w.profiles
	case Events:
		return r.w.events
	case Identities:
		return r.w.identities
	}
	return nil
}

// Columns declares the columns of table tbl, in schema order. The core
// columns must come first, as the engine creates them.
func (r *Restorer) Columns(tbl string, cols []ColumnSpec) error {
	if err := r.failed(); err != nil {
		return err
	}
	t := r.table(tbl)
	if t == nil {
		return r.fail("%w: %q", ErrNoTable, tbl)
	}
	if r.cols[tableIndex(tbl)] {
		return r.fail("columns of %s declared twice", tbl)
	}
	core := t.Schema().Cols
	if len(cols) < len(core) {
		return r.fail("%s has %d columns, fewer than its %d core columns", tbl, len(cols), len(core))
	}
	for i, d := range core {
		if cols[i].Name != d.Name || cols[i].Type != d.Type {
			return r.fail("%s column %d is %s %s, want core column %s %s", tbl, i, cols[i].Name, cols[i].Type, d.Name, d.Type)
		}
	}
	for _, c := range cols[len(core):] {
		if _, ok := t.Schema().Lookup(c.Name); ok {
			return r.fail("%s column %s declared twice", tbl, c.Name)
		}
		if _, err := t.Column(c.Name, c.Type); err != nil {
			return r.fail("%w", err)
		}
	}
	r.cols[tableIndex(tbl)] = true
	return nil
}

// Row appends one live row to table tbl: one value per declared column,
// each NULL or of its column's type.
func (r *Restorer) Row(tbl string, vals []column.Value) error {
	if err := r.failed(); err != nil {
		return err
	}
	t := r.table(tbl)
	if t == nil {
		return r.fail("%w: %q", ErrNoTable, tbl)
	}
	ti := tableIndex(tbl)
	if !r.cols[ti] {
		return r.fail("row of %s before its columns", tbl)
	}
	cols := t.Schema().Cols
	if len(vals) != len(cols) {
		return r.fail("row %d of %s has %d values for %d columns", r.rows[ti], tbl, len(vals), len(cols))
	}
	var person, eventPerson int64
	switch tbl {
	case Profiles:
		p := &vals[r.w.pc.person.Index]
		if p.Type != column.TypeInt || p.I <= 0 || p.I > int64(r.c.Persons) {
			return r.fail("profile row %d: bad person_id %s", r.rows[ti], p)
		}
		if r.w.rowOf.Get(int(p.I)) != 0 {
			return r.fail("profile row %d: person %d has two profiles", r.rows[ti], p.I)
		}
		person = p.I
	case Events:
		id := &vals[r.w.ec.id.Index]
		if id.Type != column.TypeInt || id.I <= 0 || id.I >= r.c.NextEvent {
			return r.fail("event row %d: event_id %s not in [1, %d)", r.rows[ti], id, r.c.NextEvent)
		}
		if p := &vals[r.w.ec.person.Index]; p.Type == column.TypeInt && p.I > 0 && p.I <= int64(r.c.Persons) {
			eventPerson = p.I
		}
	}
	row := t.Begin()
	if eventPerson != 0 {
		r.w.pidx.add(uint32(eventPerson), row)
	}
	for i, d := range cols {
		v := &vals[i]
		if v.Type == column.TypeNull {
			continue
		}
		if v.Type != d.Type {
			t.End() // any error discards the whole restore
			return r.fail("row %d of %s: %w", r.rows[ti], tbl, &table.TypeError{Table: tbl, Column: d.Name, Expected: d.Type, Given: v.Type})
		}
		t.Set(d, *v)
	}
	t.End()
	if person != 0 {
		r.w.rowOf.Set(int(person), uint64(row)+1)
	}
	r.rows[ti]++
	return nil
}

// Merge replays one merge log entry (in log order).
func (r *Restorer) Merge(m identity.Merge) error {
	if err := r.failed(); err != nil {
		return err
	}
	if err := r.g.Merge(m); err != nil {
		return r.fail("%w", err)
	}
	return nil
}

// Identifier attaches an identifier to a person.
func (r *Restorer) Identifier(id identity.ID, person uint32) error {
	if err := r.failed(); err != nil {
		return err
	}
	if err := r.g.Identifier(id, person); err != nil {
		return r.fail("%w", err)
	}
	return nil
}

// Suppressed restores an erased identifier's suppression.
func (r *Restorer) Suppressed(id identity.ID) error {
	if err := r.failed(); err != nil {
		return err
	}
	if err := r.g.Suppressed(id); err != nil {
		return r.fail("%w", err)
	}
	return nil
}

// Detached restores an identifier known to the graph but attached to
// nobody (erased, then unsuppressed).
func (r *Restorer) Detached(id identity.ID) error {
	if err := r.failed(); err != nil {
		return err
	}
	if err := r.g.Detached(id); err != nil {
		return r.fail("%w", err)
	}
	return nil
}

// ID restores one identifier as exported by identity.View.ExportAll.
func (r *Restorer) ID(id identity.ID, person uint32, st identity.IDState) error {
	switch st {
	case identity.IDAttached:
		return r.Identifier(id, person)
	case identity.IDSuppressed:
		return r.Suppressed(id)
	case identity.IDDetached:
		return r.Detached(id)
	}
	return r.fail("identifier %s: unknown state %d", id, st)
}

// Build checks the restored state and returns the workspace, published but
// not installed in the engine (for tests and tools).
func (r *Restorer) Build() (*Workspace, error) {
	if err := r.failed(); err != nil {
		return nil, err
	}
	for _, tbl := range []string{Profiles, Events, Identities} {
		ti := tableIndex(tbl)
		if !r.cols[ti] {
			return nil, r.fail("table %s missing", tbl)
		}
	}
	g, err := r.g.Graph()
	if err != nil {
		return nil, r.fail("%w", err)
	}
	w := r.w
	for p := 1; p < w.rowOf.Len(); p++ {
		if w.rowOf.Get(p) != 0 && g.Canonical(uint32(p)) != uint32(p) {
			return nil, r.fail("person %d has a profile but was merged into %d", p, g.Canonical(uint32(p)))
		}
	}
	w.graph = g
	w.pidx.restoreGroups(g)
	w.seq, w.logSeq, w.nextEvent = r.c.Seq, r.c.LogSeq, r.c.NextEvent
	w.eventsFrom, w.eventsThrough = r.c.EventsFrom, r.c.EventsThrough
	w.publish()
	done := fmt.Errorf("cannot restore workspace %s: restorer already finished", w.name)
	r.err.Store(&done)
	return w, nil
}

// Finish builds the workspace and installs it in the engine. A workspace of
// that name that exists already is replaced only if it never applied a
// batch (one created by a client before recovery ran).
func (r *Restorer) Finish() (*Workspace, error) {
	w, err := r.Build()
	if err != nil {
		return nil, err
	}
	e := r.e
	e.mu.Lock()
	defer e.mu.Unlock()
	if old, ok := e.ws[w.name]; ok {
		if s := old.Snapshot(); s.Seq != 0 || s.LogSeq != 0 {
			return nil, fmt.Errorf("cannot restore workspace %s: it exists and has applied %d batches", w.name, s.Seq)
		}
	}
	e.ws[w.name] = w
	return w, nil
}

// OnCreate adds fn to the functions called with every workspace
// CreateWorkspace makes from now on, before it is returned or visible, so
// hooks such as profile history (Workspace.OnChanges) or real-time segments
// (Workspace.OnApplied) are in place before its first batch. fn runs under
// the engine lock: it must not call the Engine.
func (e *Engine) OnCreate(fn func(*Workspace)) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.onCreate = append(e.onCreate, fn)
}
