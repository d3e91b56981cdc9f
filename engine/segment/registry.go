package segment

import (
	"context"
	"sync"

	"github.com/cohortdb/cohort/engine"
)

// Registry holds the segment Manager of every workspace and runs them.
type Registry struct {
	opts func(ws string) Options

	mu   sync.Mutex
	mgrs map[string]*Manager
	ctx  context.Context // set by Run; managers created later start at once
	wg   sync.WaitGroup
}

// NewRegistry returns an empty registry; opts gives each workspace's
// manager its options (callbacks know their workspace through it).
func NewRegistry(opts func(ws string) Options) *Registry {
	return &Registry{opts: opts, mgrs: make(map[string]*Manager)}
}

// Manager returns ws's manager, creating (and, once Run was called,
// starting) it on first use.
func (r *Registry) Manager(ws *engine.Workspace) *Manager {
	r.mu.Lock()
	defer r.mu.Unlock()
	if m, ok := r.mgrs[ws.Name()]; ok {
		return m
	}
	m := New(ws, r.opts(ws.Name()))
	r.mgrs[ws.Name()] = m
	if r.ctx != nil {
		r.start(m)
	}
	return m
}

// Lookup returns ws's manager if it exists.
func (r *Registry) Lookup(ws string) (*Manager, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	m, ok := r.mgrs[ws]
	return m, ok
}

// Run runs every manager, present and future, until ctx ends, and waits
// for them to stop.
func (r *Registry) Run(ctx context.Context) {
	r.mu.Lock()
	r.ctx = ctx
	for _, m := range r.mgrs {
		r.start(m)
	}
	r.mu.Unlock()
	<-ctx.Done()
	r.wg.Wait()
}

func (r *Registry) start(m *Manager) {
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		if err := m.Run(r.ctx); err != nil {
			m.opts.Logger.Error("segment manager stopped", "workspace", m.Workspace(), "err", err)
		}
	}()
}
