package engine

import (
	"github.com/cohortdb/cohort/engine/column"
	"github.com/cohortdb/cohort/engine/table"
)

// Change is one profile attribute change: the rows of profile_history.
type Change struct {
	Person    uint32
	Attribute string
	Old, New  column.Value
	At        int64  // µs: the time of the operation that made it
	Source    string // the operation's message id
}

// OnChanges registers fn to receive every profile attribute change, once
// per applied batch, in order, before the batch is published (so a history
// writer never lags behind what readers can see). first_seen, last_seen and
// updated_at move with every event and are not reported. fn runs under the
// writer lock: it must be quick (append to a buffer) and must not call back
// into the workspace. Set it before the first Apply.
func (w *Workspace) OnChanges(fn func([]Change)) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.onChanges = fn
}

// PauseChanges stops reporting changes to the OnChanges sink until resume
// is called: for bulk loads that are nobody's change log (the generated
// demo data set). Changes applied meanwhile are not reported later.
func (w *Workspace) PauseChanges() (resume func()) {
	w.mu.Lock()
	w.changesPaused = true
	w.mu.Unlock()
	return func() {
		w.mu.Lock()
		w.changesPaused = false
		w.mu.Unlock()
	}
}

func (w *Workspace) recordChange(p uint32, old uint64, d *column.ColumnDef, v column.Value, at int64) {
	if w.changesPaused {
		return
	}
	if d == w.pc.first || d == w.pc.last || d == w.pc.updated {
		return
	}
	var prev column.Value
	if old != 0 {
		prev = w.profiles.Get(table.RowID(old-1), d)
	}
	if prev.Equal(v) {
		return
	}
	w.changes = append(w.changes, Change{Person: p, Attribute: d.Name, Old: prev, New: v, At: at, Source: w.source})
}
