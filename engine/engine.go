package engine

import (
	"fmt"
	"regexp"
	"slices"
	"sync"

	"github.com/cohortdb/cohort/engine/identity"
)

// Options configures an Engine. The zero value is usable: identity rules
// default to identity.DefaultRules().
type Options struct {
	// Rules for identity resolution in new workspaces; nil Limits and
	// Blocked mean identity.DefaultRules().
	Rules *identity.Rules
}

// Engine holds the workspaces of one node.
type Engine struct {
	opts     Options
	mu       sync.RWMutex
	ws       map[string]*Workspace
	onCreate []func(*Workspace) // see OnCreate (restore.go)
}

// New returns an engine with no workspaces.
func New(opts Options) *Engine {
	if opts.Rules == nil {
		r := identity.DefaultRules()
		opts.Rules = &r
	}
	return &Engine{opts: opts, ws: make(map[string]*Workspace)}
}

var workspaceName = regexp.MustCompile(`^[a-z][a-z0-9_]{0,63}$`)

// CreateWorkspace creates a workspace; it is an error if it exists.
func (e *Engine) CreateWorkspace(name string) (*Workspace, error) {
	if !workspaceName.MatchString(name) {
		return nil, fmt.Errorf("cannot create workspace %q: name must match %s", name, workspaceName)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if _, ok := e.ws[name]; ok {
		return nil, fmt.Errorf("cannot create workspace %q: it exists", name)
	}
	w := NewWorkspace(name, *e.opts.Rules)
	for _, fn := range e.onCreate {
		fn(w)
	}
	e.ws[name] = w
	return w, nil
}

// Workspace returns the named workspace.
func (e *Engine) Workspace(name string) (*Workspace, error) {
	e.mu.RLock()
	defer e.mu.RUnlock()
	w, ok := e.ws[name]
	if !ok {
		return nil, fmt.Errorf("%w: %q", ErrNoWorkspace, name)
	}
	return w, nil
}

// Workspaces returns the workspace names, sorted.
func (e *Engine) Workspaces() []string {
	e.mu.RLock()
	defer e.mu.RUnlock()
	names := make([]string, 0, len(e.ws))
	for n := range e.ws {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}
