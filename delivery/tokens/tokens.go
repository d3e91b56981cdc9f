// Package tokens stores API tokens in a JetStream KV bucket (default
// "cohort_tokens") beside the ingest log and the write keys
// (ingest/keys): on the embedded server it shares the log's fsync-always
// storage, and with an external cluster every node sees the same tokens.
//
// A token belongs to one workspace, fixed at creation, and carries one
// scope: read (profiles, segment reads and streams), write (read plus
// defining and dropping segments) or admin (write plus managing the
// workspace's tokens). The secret is shown once, at creation; the bucket
// keeps only its SHA-256:
//
//	"tk.<id>" → {"workspace","scope","label","created_at","sha256"}
//
// A token reads "ct_<id>_<secret>" (id: 16 hex digits, secret: 48). Every
// node keeps the entries in memory, kept current by a KV watcher, so an
// authentication is a map lookup and a constant-time hash comparison,
// and a revocation reaches every node within the watcher's latency.
package tokens

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// DefaultBucket is the KV bucket name.
const DefaultBucket = "cohort_tokens"

// Sentinel errors.
var (
	// ErrNotFound: no such token in the workspace.
	ErrNotFound = errors.New("no such token")
	// ErrBadScope: a scope name other than read, write or admin.
	ErrBadScope = errors.New("invalid scope (want read, write or admin)")
	// ErrUnauthenticated: no token, or one nobody issued (or revoked).
	ErrUnauthenticated = errors.New("unauthenticated")
	// ErrPermissionDenied: a valid token of another workspace, or
	// without the scope the call needs.
	ErrPermissionDenied = errors.New("permission denied")
)

// Scope is what a token may do; each scope includes the ones below it.
type Scope uint8

// Scopes, weakest first.
const (
	ScopeRead Scope = iota + 1
	ScopeWrite
	ScopeAdmin
)

var scopeNames = [...]string{"", "read", "write", "admin"}

func (s Scope) String() string {
	if int(s) < len(scopeNames) && s != 0 {
		return scopeNames[s]
	}
	return fmt.Sprintf("scope(%d)", uint8(s))
}

// ParseScope parses "read", "write" or "admin".
func ParseScope(name string) (Scope, error) {
	for i, n := range scopeNames {
		if i > 0 && strings.EqualFold(n, strings.TrimSpace(name)) {
			return Scope(i), nil
		}
	}
	return 0, fmt.Errorf("%w: %q", ErrBadScope, name)
}

// Allows reports whether a token of scope s may do what need requires.
func (s Scope) Allows(need Scope) bool { return s >= need }

// MarshalText renders the scope name.
func (s Scope) MarshalText() ([]byte, error) {
	if s < ScopeRead || s > ScopeAdmin {
		return nil, fmt.Errorf("cannot encode %v: %w", s, ErrBadScope)
	}
	return []byte(s.String()), nil
}

// UnmarshalText parses a scope name.
func (s *Scope) UnmarshalText(b []byte) error {
	v, err := ParseScope(string(b))
	if err != nil {
		return err
	}
	*s = v
	return nil
}

// Token describes an issued token (never its secret).
type Token struct {
	ID        string    `json:"id"`
	Workspace string    `json:"workspace"`
	Scope     Scope     `json:"scope"`
	Label     string    `json:"label,omitempty"`
	CreatedAt time.Time `json:"created_at"`
}

// record is a bucket entry.
type record struct {
	Token
	SHA256 string `json:"sha256"` // of the secret part, hex
}

// Store is the token store.
type Store struct {
	kv jetstream.KeyValue
	w  jetstream.KeyWatcher

	mu     sync.RWMutex
	byID   map[string]record
	hashes map[string][sha256.Size]byte // id → decoded SHA256
}

// Open opens (creating) the bucket and loads it.
func Open(ctx context.Context, js jetstream.JetStream, bucket string) (*Store, error) {
	if bucket == "" {
		bucket = DefaultBucket
	}
	kv, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:      bucket,
		Description: "Cohort API tokens",
		History:     1,
		Storage:     jetstream.FileStorage,
	})
	if err != nil {
		return nil, fmt.Errorf("cannot open token bucket %s: %w", bucket, err)
	}
	w, err := kv.WatchAll(context.WithoutCancel(ctx))
	if err != nil {
		return nil, fmt.Errorf("cannot watch token bucket %s: %w", bucket, err)
	}
	s := &Store{kv: kv, w: w, byID: map[string]record{}, hashes: map[string][sha256.Size]byte{}}
	// The initial values end with a nil entry.
	for {
		select {
		case e, ok := <-w.Updates():
			if !ok {
				return nil, fmt.Errorf("cannot load token bucket %s: watcher closed", bucket)
			}
			if e == nil {
				go s.watch()
				return s, nil
			}
			s.apply(e.Key(), e.Value(), e.Operation() != jetstream.KeyValuePut)
		case <-ctx.Done():
			w.Stop()
			return nil, fmt.Errorf("cannot load token bucket %s: %w", bucket, ctx.Err())
		}
	}
}

func (s *Store) watch() {
	for e := range s.w.Updates() {
		if e != nil {
			s.apply(e.Key(), e.Value(), e.Operation() != jetstream.KeyValuePut)
		}
	}
}

// apply records one bucket entry; malformed entries are ignored (a token
// that cannot be read cannot authenticate).
func (s *Store) apply(key string, val []byte, del bool) {
	id, ok := strings.CutPrefix(key, "tk.")
	if !ok {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if del {
		delete(s.byID, id)
		delete(s.hashes, id)
		return
	}
	var r record
	if json.Unmarshal(val, &r) != nil {
		return
	}
	h, err := hex.DecodeString(r.SHA256)
	if err != nil || len(h) != sha256.Size {
		return
	}
	r.ID = id
	s.byID[id] = r
	s.hashes[id] = [sha256.Size]byte(h)
}

// Close stops the watcher.
func (s *Store) Close() { s.w.Stop() }

// Create issues a token for workspace ws and returns it with its secret
// form (the only time the secret is available). The caller checks that
// the workspace exists.
func (s *Store) Create(ctx context.Context, ws string, scope Scope, label string) (Token, string, error) {
	if scope < ScopeRead || scope > ScopeAdmin {
		return Token{}, "", fmt.Errorf("cannot create token: %w", ErrBadScope)
	}
	if ws == "" {
		return Token{}, "", errors.New("cannot create token: no workspace")
	}
	var id [8]byte
	var secret [24]byte
	if _, err := rand.Read(id[:]); err != nil {
		return Token{}, "", fmt.Errorf("cannot create token: %w", err)
	}
	if _, err := rand.Read(secret[:]); err != nil {
		return Token{}, "", fmt.Errorf("cannot create token: %w", err)
	}
	sec := hex.EncodeToString(secret[:])
	sum := sha256.Sum256([]byte(sec))
	r := record{
		Token:  Token{ID: hex.EncodeToString(id[:]), Workspace: ws, Scope: scope, Label: label, CreatedAt: time.Now().UTC()},
		SHA256: hex.EncodeToString(sum[:]),
	}
	b, err := json.Marshal(r)
	if err != nil {
		return Token{}, "", fmt.Errorf("cannot create token: %w", err)
	}
	if _, err := s.kv.Create(ctx, "tk."+r.ID, b); err != nil {
		return Token{}, "", fmt.Errorf("cannot create token: %w", err)
	}
	s.apply("tk."+r.ID, b, false)
	return r.Token, "ct_" + r.ID + "_" + sec, nil
}

// List returns the tokens of workspace ws, oldest first.
func (s *Store) List(ws string) []Token {
	s.mu.RLock()
	var out []Token
	for _, r := range s.byID {
		if r.Workspace == ws {
			out = append(out, r.Token)
		}
	}
	s.mu.RUnlock()
	slices.SortFunc(out, func(a, b Token) int {
		if c := a.CreatedAt.Compare(b.CreatedAt); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return out
}

// Revoke deletes token id of workspace ws; ErrNotFound if ws has no such
// token (a token of another workspace included).
func (s *Store) Revoke(ctx context.Context, ws, id string) error {
	s.mu.RLock()
	r, ok := s.byID[id]
	s.mu.RUnlock()
	if !ok || r.Workspace != ws {
		return fmt.Errorf("cannot revoke token %q of %s: %w", id, ws, ErrNotFound)
	}
	if err := s.kv.Delete(ctx, "tk."+id); err != nil {
		return fmt.Errorf("cannot revoke token %q of %s: %w", id, ws, err)
	}
	s.apply("tk."+id, nil, true)
	return nil
}

// Lookup returns the token a secret form ("ct_<id>_<secret>") stands for.
func (s *Store) Lookup(secret string) (Token, bool) {
	id, sec, ok := ParseSecret(secret)
	if !ok {
		return Token{}, false
	}
	sum := sha256.Sum256([]byte(sec))
	s.mu.RLock()
	r, ok := s.byID[id]
	h := s.hashes[id]
	s.mu.RUnlock()
	if !ok || subtle.ConstantTimeCompare(sum[:], h[:]) != 1 {
		return Token{}, false
	}
	return r.Token, true
}

// ParseSecret splits a token's secret form into its id and secret part.
func ParseSecret(token string) (id, secret string, ok bool) {
	rest, ok := strings.CutPrefix(token, "ct_")
	if !ok {
		return "", "", false
	}
	id, secret, ok = strings.Cut(rest, "_")
	if !ok || len(id) != 16 || len(secret) != 48 {
		return "", "", false
	}
	return id, secret, true
}
