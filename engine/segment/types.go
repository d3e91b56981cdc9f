package segment

import (
	"time"

	"github.com/cohortdb/cohort/engine"
)

// Definition is a segment as its author wrote it.
type Definition struct {
	Name        string
	SQL         string      // the definition as written, kept for display and restore
	Description string      // free text for people
	Cond        engine.Cond // the definition compiled over profiles
	// Version and CreatedAt are set when restoring a stored definition;
	// zero for a new one (version = previous + 1, created = now).
	Version   int64
	CreatedAt time.Time
	// Create makes the definition fail with ErrExists when the segment is
	// defined already (CREATE without OR REPLACE): checked in the same
	// step as the definition, so two creators cannot both win.
	Create bool
}

// Info describes a defined segment.
type Info struct {
	Name          string
	SQL           string
	Description   string
	Version       int64
	CreatedAt     time.Time // first version
	UpdatedAt     time.Time // this version
	Members       int64
	TimeDependent bool // membership changes with time alone (relative windows)
}

// Cause says why a person entered or left a segment.
type Cause string

// Causes of transitions.
const (
	CauseIngest Cause = "ingest" // data of the person changed (profile, event, identity)
	CauseMerge  Cause = "merge"  // the person was merged into another one
	CauseErase  Cause = "erase"  // the person was erased
	CauseTime   Cause = "time"   // a relative time window moved past the person's data
)

// Transition is one membership change: a segment.entered or
// segment.exited event.
type Transition struct {
	Segment string
	Version int64
	Person  uint32
	Entered bool
	At      time.Time
	Cause   Cause
	LogSeq  uint64 // the durable-log position of the data that caused it (0: time)
}

// Sample is the size of a segment at a moment.
type Sample struct {
	Segment string
	Version int64
	At      time.Time
	Members int64
}
