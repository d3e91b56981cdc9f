package engine

import "slices"

// Applied describes one applied batch, after it was published.
//
// The slices are sorted ascending, deduplicated, owned by the engine and
// reused once the hook returns: a hook that needs them later copies them.
type Applied struct {
	Snap    *Snapshot
	Persons []uint32 // canonical persons (in Snap) whose profile, events or identities changed in the batch, deduplicated
	Gone    []uint32 // persons that stopped being canonical in this batch: merged into another person, or erased
	Erased  []uint32 // every person id erased in this batch (members included)
	LogSeq  uint64   // Snap.LogSeq: the durable-log position the batch brings the workspace to (unchanged by a batch not from the log)
}

// appliedLog holds the OnApplied hooks and what the batch being applied
// changed. It records nothing while there is no hook.
type appliedLog struct {
	fns     []func(Applied)
	persons []uint32 // touched persons, as they were when touched
	gone    []uint32
	erased  []uint32
}

// OnApplied adds fn to the functions called after every applied batch,
// in order, under the writer lock, after publish: fn must be quick
// (copy what it needs and hand it to a goroutine) and must not call back
// into the workspace.
//
// Every batch that Apply or ApplyLogged applies fires the hooks, one whose
// operations were all rejected included (with empty sets); a batch skipped
// as already applied (ApplyLogged) does not, nor do restores and bulk
// loads, which bypass Apply. Persons includes the person a merge went into
// and persons whose first_seen/last_seen moved; it leaves out persons that
// are not canonical at the end of the batch (see Gone and Erased). Gone
// also lists persons created and then merged or erased within the batch.
func (w *Workspace) OnApplied(fn func(Applied)) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.applied.fns = append(w.applied.fns, fn)
}

// touched notes that person p's profile, events or identities changed.
func (w *Workspace) touched(p uint32) {
	a := &w.applied
	if len(a.fns) > 0 && (len(a.persons) == 0 || a.persons[len(a.persons)-1] != p) {
		a.persons = append(a.persons, p)
	}
}

// merged notes that from was merged into into.
func (w *Workspace) merged(from, into uint32) {
	if len(w.applied.fns) > 0 {
		w.applied.persons = append(w.applied.persons, into)
		w.applied.gone = append(w.applied.gone, from)
	}
}

// erasedPerson notes that person q was erased; canonical says it was the
// canonical person of its group until then.
func (w *Workspace) erasedPerson(q uint32, canonical bool) {
	if len(w.applied.fns) > 0 {
		w.applied.erased = append(w.applied.erased, q)
		if canonical {
			w.applied.gone = append(w.applied.gone, q)
		}
	}
}

// fireApplied calls the hooks with the batch just published and resets the
// batch's sets.
func (w *Workspace) fireApplied() {
	a := &w.applied
	if len(a.fns) == 0 {
		return
	}
	slices.Sort(a.erased)
	a.erased = slices.Compact(a.erased)
	slices.Sort(a.gone)
	a.gone = slices.Compact(a.gone)
	persons := a.persons[:0] // filtered in place
	for _, p := range a.persons {
		c := w.graph.Canonical(p)
		if c == 0 {
			continue
		}
		if _, erased := slices.BinarySearch(a.erased, c); erased {
			continue
		}
		persons = append(persons, c)
	}
	slices.Sort(persons)
	persons = slices.Compact(persons)
	ev := Applied{Snap: w.snap.Load(), Persons: persons, Gone: a.gone, Erased: a.erased, LogSeq: w.logSeq}
	for _, fn := range a.fns {
		fn(ev)
	}
	a.persons, a.gone, a.erased = persons[:0], a.gone[:0], a.erased[:0]
}
