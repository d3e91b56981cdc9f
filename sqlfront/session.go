package sqlfront

import (
	"sync"

	"github.com/dolthub/go-mysql-server/sql"

	"github.com/cohortdb/cohort/engine"
)

// session is a GMS session that pins one engine snapshot per workspace for
// the duration of a query (identified by the context's process id), so
// every table a query reads, subqueries included, sees the same state.
type session struct {
	*sql.BaseSession
	mu    sync.Mutex
	pid   uint64
	snaps map[string]*engine.Snapshot
}

func newSession(base *sql.BaseSession) *session {
	return &session{BaseSession: base, snaps: make(map[string]*engine.Snapshot, 1)}
}

// snapshot returns the snapshot of ws pinned for the query running in ctx.
func snapshot(ctx *sql.Context, ws *engine.Workspace) *engine.Snapshot {
	s, ok := ctx.Session.(*session)
	if !ok {
		return ws.Snapshot()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if pid := ctx.Pid(); pid != s.pid {
		s.pid = pid
		clear(s.snaps)
	}
	snap := s.snaps[ws.Name()]
	if snap == nil {
		snap = ws.Snapshot()
		s.snaps[ws.Name()] = snap
	}
	return snap
}

// unpin forgets the pinned snapshots, so that a write's effects are
// visible to the next statement even if it runs under the same pid.
func unpin(ctx *sql.Context) {
	if s, ok := ctx.Session.(*session); ok {
		s.mu.Lock()
		clear(s.snaps)
		s.pid = 0
		s.mu.Unlock()
	}
}
