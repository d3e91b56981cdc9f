package engine

import (
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/cohortdb/cohort/engine/column"
	"github.com/cohortdb/cohort/engine/identity"
	"github.com/cohortdb/cohort/engine/table"
)

// Names of the core columns. Custom attributes and properties may not use them.
const (
	ColPersonID   = "person_id"
	ColCreatedAt  = "created_at"
	ColFirstSeen  = "first_seen"
	ColLastSeen   = "last_seen"
	ColUpdatedAt  = "updated_at"
	ColEventID    = "event_id"
	ColName       = "name"
	ColTS         = "ts"
	ColReceivedAt = "received_at"
	ColType       = "type"
	ColValue      = "value"
)

// Table names.
const (
	Profiles   = "profiles"
	Events     = "events"
	Identities = "identities"
)

// Workspace is one tenant: its profiles, events and identities. One writer
// applies batches in order (Apply); any number of readers query the latest
// published Snapshot concurrently.
type Workspace struct {
	name string

	mu            sync.Mutex // the writer
	profiles      *table.Table
	events        *table.Table
	identities    *table.Table
	graph         *identity.Graph
	rowOf         column.Paged[uint64] // person → profile RowID+1 (0: none)
	seq           uint64
	logSeq        uint64 // last durable-log position applied
	nextEvent     int64
	pc            profileCols
	ec            eventCols
	ic            identityCols
	scratch       applyScratch
	source        string         // message id of the op being applied
	onChanges     func([]Change) // profile_history sink; nil when history is off
	changes       []Change
	changesPaused bool        // PauseChanges
	pidx          personIndex // person → event rows (personindex.go)
	applied       appliedLog  // OnApplied hooks and the batch's changes (applied.go)
	eventsFrom    int64       // in-memory event window (window.go)
	eventsThrough int64

	snap atomic.Pointer[Snapshot]
}

type profileCols struct{ person, created, first, last, updated *column.ColumnDef }
type eventCols struct{ id, person, name, ts, received *column.ColumnDef }
type identityCols struct{ typ, value, person, created *column.ColumnDef }

// NewWorkspace returns an empty workspace with the given identity rules.
func NewWorkspace(name string, rules identity.Rules) *Workspace {
	w := &Workspace{
		name: name,
		profiles: table.New(Profiles, column.NewSchema(
			column.ColumnDef{Name: ColPersonID, Type: column.TypeInt},
			column.ColumnDef{Name: ColCreatedAt, Type: column.TypeTimestamp},
			column.ColumnDef{Name: ColFirstSeen, Type: column.TypeTimestamp},
			column.ColumnDef{Name: ColLastSeen, Type: column.TypeTimestamp},
			column.ColumnDef{Name: ColUpdatedAt, Type: column.TypeTimestamp},
		)),
		events: table.New(Events, column.NewSchema(
			column.ColumnDef{Name: ColEventID, Type: column.TypeInt},
			column.ColumnDef{Name: ColPersonID, Type: column.TypeInt},
			column.ColumnDef{Name: ColName, Type: column.TypeString},
			column.ColumnDef{Name: ColTS, Type: column.TypeTimestamp},
			column.ColumnDef{Name: ColReceivedAt, Type: column.TypeTimestamp},
		)),
		identities: table.New(Identities, column.NewSchema(
			column.ColumnDef{Name: ColType, Type: column.TypeString},
			column.ColumnDef{Name: ColValue, Type: column.TypeString},
			column.ColumnDef{Name: ColPersonID, Type: column.TypeInt},
			column.ColumnDef{Name: ColCreatedAt, Type: column.TypeTimestamp},
		)),
		graph:     identity.NewGraph(rules),
		nextEvent: 1,
	}
	ps, es, is := w.profiles.Schema(), w.events.Schema(), w.identities.Schema()
	w.pc = profileCols{ps.Cols[0], ps.Cols[1], ps.Cols[2], ps.Cols[3], ps.Cols[4]}
	w.ec = eventCols{es.Cols[0], es.Cols[1], es.Cols[2], es.Cols[3], es.Cols[4]}
	w.ic = identityCols{is.Cols[0], is.Cols[1], is.Cols[2], is.Cols[3]}
	// Events of one name sit together in each sealed chunk: a behavioural
	// predicate reads that event's persons and times sequentially.
	w.events.ClusterBy(w.ec.name)
	w.pidx.init()
	w.events.OnSeal(w.pidx.onSeal)
	w.rowOf.Append(0) // person ids start at 1
	w.publish()
	return w
}

// Name returns the workspace name.
func (w *Workspace) Name() string { return w.name }

// Snapshot returns the latest published, immutable state.
func (w *Workspace) Snapshot() *Snapshot { return w.snap.Load() }

// Snapshot is a consistent, immutable view of a workspace after one batch.
type Snapshot struct {
	Workspace  string
	Seq        uint64 // sequence of the last applied batch
	LogSeq     uint64 // durable-log position of the last applied batch (ApplyLogged)
	Profiles   *table.Snapshot
	Events     *table.Snapshot
	Identities *table.Snapshot
	Graph      *identity.View
	rowOf      column.PagedView[uint64]
	pevents    personView // PersonEvents

	// EventsFrom and EventsThrough say which events are in Events (see
	// window.go). EventsFrom 0: all of them. Otherwise the events with
	// ts < EventsFrom (µs) and event_id <= EventsThrough were dropped
	// from memory (DropEventsBefore) and are kept on disk only; every
	// other event is in Events.
	EventsFrom, EventsThrough int64
}

// Table returns the snapshot of the named table.
func (s *Snapshot) Table(name string) (*table.Snapshot, error) {
	switch name {
	case Profiles:
		return s.Profiles, nil
	case Events:
		return s.Events, nil
	case Identities:
		return s.Identities, nil
	}
	return nil, fmt.Errorf("workspace %s: %w: %q", s.Workspace, ErrNoTable, name)
}

// ProfileRow returns the chunk and offset of person p's profile row (after
// resolving merges), or nil if the person has no profile.
func (s *Snapshot) ProfileRow(p uint32) (*column.Chunk, int) {
	p = s.Graph.Canonical(p)
	if int(p) >= s.rowOf.Len() {
		return nil, 0
	}
	r := s.rowOf.Get(int(p))
	if r == 0 {
		return nil, 0
	}
	return s.Profiles.Row(table.RowID(r - 1))
}

func (w *Workspace) publish() {
	ev := w.events.Publish()
	w.snap.Store(&Snapshot{
		Workspace:  w.name,
		Seq:        w.seq,
		LogSeq:     w.logSeq,
		Profiles:   w.profiles.Publish(),
		Events:     ev,
		Identities: w.identities.Publish(),
		Graph:      w.graph.Freeze(),
		rowOf:      w.rowOf.Freeze(),
		pevents:    w.pidx.freeze(ev),

		EventsFrom:    w.eventsFrom,
		EventsThrough: w.eventsThrough,
	})
}

// Memory reports bytes per table and per column, plus the identity graph
// and per-person indexes.
func (w *Workspace) Memory() map[string]map[string]int64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	m := map[string]map[string]int64{
		Profiles:   w.profiles.Bytes(),
		Events:     w.events.Bytes(),
		Identities: w.identities.Bytes(),
	}
	m[Profiles]["_person_index"] = w.rowOf.Bytes(8)
	m[Events]["_person_index"] = w.pidx.bytes()
	m[Identities]["_graph"] = w.graph.Bytes()
	return m
}
