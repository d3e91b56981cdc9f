// Package keys stores workspaces and their write keys in a JetStream KV
// bucket (default "cohort_keys") beside the ingest log: on the embedded
// server it shares the log's fsync-always file storage, and with an
// external cluster every node sees the same keys with no other change.
//
// Entries: "ws.<workspace>" → {"created_at"} and "wk.<key>" →
// {"workspace","label","created_at"}. A key belongs to exactly one
// workspace, fixed at creation; Workspace(key) is the only lookup ingest
// uses, so a key of workspace A can never write into B. Every node keeps
// a copy in memory, kept current by a KV watcher.
package keys

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// DefaultBucket is the KV bucket name.
const DefaultBucket = "cohort_keys"

// Sentinel errors.
var (
	ErrExists      = errors.New("workspace exists")
	ErrNoWorkspace = errors.New("no such workspace")
	ErrBadName     = errors.New("invalid workspace name")
)

var nameRE = regexp.MustCompile(`^[a-z][a-z0-9_]{0,63}$`)

// Key is a write key.
type Key struct {
	Key       string    `json:"key"`
	Workspace string    `json:"workspace"`
	Label     string    `json:"label,omitempty"`
	CreatedAt time.Time `json:"created_at"`
}

// Workspace is a workspace entry.
type Workspace struct {
	Name      string    `json:"name"`
	CreatedAt time.Time `json:"created_at"`
}

// Store is the key store.
type Store struct {
	kv jetstream.KeyValue
	w  jetstream.KeyWatcher

	mu   sync.RWMutex
	keys map[string]Key
	ws   map[string]Workspace
	// OnWorkspace is called (outside locks) when a workspace appears.
	onWS func(name string)
	done chan struct{}
}

// Open opens (creating) the bucket and loads it. onWorkspace, if not nil,
// is called for every workspace, loaded or created later.
func Open(ctx context.Context, js jetstream.JetStream, bucket string, onWorkspace func(string)) (*Store, error) {
	if bucket == "" {
		bucket = DefaultBucket
	}
	kv, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:      bucket,
		Description: "Cohort workspaces and write keys",
		History:     1,
		Storage:     jetstream.FileStorage,
	})
	if err != nil {
		return nil, fmt.Errorf("cannot open key bucket %s: %w", bucket, err)
	}
	w, err := kv.WatchAll(context.WithoutCancel(ctx))
	if err != nil {
		return nil, fmt.Errorf("cannot watch key bucket %s: %w", bucket, err)
	}
	s := &Store{kv: kv, w: w, keys: map[string]Key{}, ws: map[string]Workspace{}, onWS: onWorkspace, done: make(chan struct{})}
	// The initial values end with a nil entry.
	for {
		select {
		case e, ok := <-w.Updates():
			if !ok {
				return nil, fmt.Errorf("cannot load key bucket %s: watcher closed", bucket)
			}
			if e == nil {
				go s.watch()
				return s, nil
			}
			s.apply(e)
		case <-ctx.Done():
			w.Stop()
			return nil, fmt.Errorf("cannot load key bucket %s: %w", bucket, ctx.Err())
		}
	}
}

func (s *Store) watch() {
	defer close(s.done)
	for e := range s.w.Updates() {
		if e != nil {
			s.apply(e)
		}
	}
}

func (s *Store) apply(e jetstream.KeyValueEntry) {
	k := e.Key()
	del := e.Operation() != jetstream.KeyValuePut
	var newWS string
	s.mu.Lock()
	switch {
	case strings.HasPrefix(k, "wk."):
		if del {
			delete(s.keys, k[3:])
			break
		}
		var v Key
		if json.Unmarshal(e.Value(), &v) == nil {
			v.Key = k[3:]
			s.keys[v.Key] = v
		}
	case strings.HasPrefix(k, "ws."):
		if del {
			delete(s.ws, k[3:])
			break
		}
		var v Workspace
		if json.Unmarshal(e.Value(), &v) == nil {
			v.Name = k[3:]
			if _, ok := s.ws[v.Name]; !ok {
				newWS = v.Name
			}
			s.ws[v.Name] = v
		}
	}
	s.mu.Unlock()
	if newWS != "" && s.onWS != nil {
		s.onWS(newWS)
	}
}

// Close stops the watcher.
func (s *Store) Close() {
	s.w.Stop()
}

// Workspace returns the workspace of a write key.
func (s *Store) Workspace(key string) (string, bool) {
	s.mu.RLock()
	k, ok := s.keys[key]
	s.mu.RUnlock()
	return k.Workspace, ok
}

// Exists reports whether a workspace exists.
func (s *Store) Exists(name string) bool {
	s.mu.RLock()
	_, ok := s.ws[name]
	s.mu.RUnlock()
	return ok
}

// Workspaces returns the workspaces, sorted by name.
func (s *Store) Workspaces() []Workspace {
	s.mu.RLock()
	out := make([]Workspace, 0, len(s.ws))
	for _, w := range s.ws {
		out = append(out, w)
	}
	s.mu.RUnlock()
	slices.SortFunc(out, func(a, b Workspace) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// Keys returns the keys of a workspace, oldest first.
func (s *Store) Keys(ws string) []Key {
	s.mu.RLock()
	var out []Key
	for _, k := range s.keys {
		if k.Workspace == ws {
			out = append(out, k)
		}
	}
	s.mu.RUnlock()
	slices.SortFunc(out, func(a, b Key) int {
		if c := a.CreatedAt.Compare(b.CreatedAt); c != 0 {
			return c
		}
		return strings.Compare(a.Key, b.Key)
	})
	return out
}

// CreateWorkspace creates a workspace; ErrExists if it exists.
func (s *Store) CreateWorkspace(ctx context.Context, name string) (Workspace, error) {
	if !nameRE.MatchString(name) {
		return Workspace{}, fmt.Errorf("cannot create workspace %q: %w: must match %s", name, ErrBadName, nameRE)
	}
	w := Workspace{Name: name, CreatedAt: time.Now().UTC()}
	b, _ := json.Marshal(w)
	if _, err := s.kv.Create(ctx, "ws."+name, b); err != nil {
		if errors.Is(err, jetstream.ErrKeyExists) {
			return Workspace{}, fmt.Errorf("cannot create workspace %q: %w", name, ErrExists)
		}
		return Workspace{}, fmt.Errorf("cannot create workspace %q: %w", name, err)
	}
	s.apply(entry{key: "ws." + name, val: b})
	return w, nil
}

// CreateKey creates a write key for an existing workspace.
func (s *Store) CreateKey(ctx context.Context, ws, label string) (Key, error) {
	if !s.Exists(ws) {
		return Key{}, fmt.Errorf("cannot create key: %w: %q", ErrNoWorkspace, ws)
	}
	var r [16]byte
	if _, err := rand.Read(r[:]); err != nil {
		return Key{}, fmt.Errorf("cannot create key: %w", err)
	}
	k := Key{Key: hex.EncodeToString(r[:]), Workspace: ws, Label: label, CreatedAt: time.Now().UTC()}
	b, _ := json.Marshal(k)
	if _, err := s.kv.Create(ctx, "wk."+k.Key, b); err != nil {
		return Key{}, fmt.Errorf("cannot create key: %w", err)
	}
	s.apply(entry{key: "wk." + k.Key, val: b})
	return k, nil
}

// entry is a local KeyValueEntry for applying our own writes at once.
type entry struct {
	jetstream.KeyValueEntry
	key string
	val []byte
}

func (e entry) Key() string                     { return e.key }
func (e entry) Value() []byte                   { return e.val }
func (e entry) Operation() jetstream.KeyValueOp { return jetstream.KeyValuePut }
