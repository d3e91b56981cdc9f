package engine

import (
	"github.com/cohortdb/cohort/engine/column"
	"github.com/cohortdb/cohort/engine/identity"
)

// OpKind is the kind of a normalised operation.
type OpKind uint8

const (
	// OpIdentify resolves the identifiers to a person and sets traits.
	OpIdentify OpKind = iota + 1
	// OpTrack records an event for the person the identifiers resolve to
	// (and sets Traits on the profile, if any).
	OpTrack
	// OpAlias links IDs[0] (the previous identifier) with IDs[1].
	OpAlias
	// OpDelete erases the person the identifiers resolve to: profile, events
	// and identities.
	OpDelete
)

var opNames = [...]string{"", "identify", "track", "alias", "delete"}

func (k OpKind) String() string {
	if int(k) < len(opNames) {
		return opNames[k]
	}
	return "op?"
}

// Field is one named value: a trait, an event property or a context field.
type Field struct {
	Name  string
	Value column.Value
}

// Op is one normalised operation. Frontends (ingest, SQL) build Ops; the
// engine validates and applies them in order.
type Op struct {
	Kind       OpKind
	IDs        []identity.ID
	Traits     []Field // profile attributes to set (identify; optional on track)
	Event      string  // track: event name
	Props      []Field // track: properties and flattened context
	At         int64   // µs since epoch: when it happened
	ReceivedAt int64   // µs since epoch: when Cohort received it (0 = At)
	Source     string  // message id, recorded in merge logs
}

// OpError reports why one operation of a batch was not applied.
type OpError struct {
	Index int // position in the batch
	Err   error
}

func (e OpError) Error() string { return e.Err.Error() }

// Result says what a batch did.
type Result struct {
	Applied  int
	Rejected []OpError
	Created  int // persons created
	Merged   int // persons merged into others
	Seq      uint64
}
