package applier

import (
	"strings"
	"sync"
	"sync/atomic"
)

// Watches let a writer that appended operations to the log learn which of
// them the engine rejected when the applier applied them (the SQL frontend
// returns them as errors). A watched operation's message id (Op.Source) is
// the watch id, a '/', and anything (e.g. the operation's index).

// Rejection is one rejected operation of a watch.
type Rejection struct {
	Source string // the operation's message id
	Err    error
}

// Watch collects the rejections of one watch id until Close.
type Watch struct {
	a  *Applier
	id string

	mu       sync.Mutex
	rejected []Rejection
}

// watches is the applier's registry of open watches.
type watches struct {
	n  atomic.Int32 // open watches: the applier skips the lookup at 0
	mu sync.Mutex
	m  map[string]*Watch
}

// Watch starts collecting rejections of operations whose message id is
// id + "/…". Call it before appending them; Close it when done. Rejections
// of a log position are recorded before WaitFor of that position returns.
func (a *Applier) Watch(id string) *Watch {
	w := &Watch{a: a, id: id}
	a.watch.mu.Lock()
	if a.watch.m == nil {
		a.watch.m = make(map[string]*Watch)
	}
	a.watch.m[id] = w
	a.watch.n.Add(1)
	a.watch.mu.Unlock()
	return w
}

// Rejected returns the rejections recorded so far.
func (w *Watch) Rejected() []Rejection {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]Rejection(nil), w.rejected...)
}

// Close stops the watch.
func (w *Watch) Close() {
	w.a.watch.mu.Lock()
	if w.a.watch.m[w.id] == w {
		delete(w.a.watch.m, w.id)
		w.a.watch.n.Add(-1)
	}
	w.a.watch.mu.Unlock()
}

// reject records a rejected operation for its watch, if any.
func (ws *watches) reject(source string, err error) {
	if ws.n.Load() == 0 {
		return
	}
	i := strings.LastIndexByte(source, '/')
	if i < 0 {
		return
	}
	ws.mu.Lock()
	w := ws.m[source[:i]]
	ws.mu.Unlock()
	if w == nil {
		return
	}
	w.mu.Lock()
	w.rejected = append(w.rejected, Rejection{Source: source, Err: err})
	w.mu.Unlock()
}
