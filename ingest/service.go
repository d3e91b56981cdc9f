// Package ingest is Cohort's durable real-time ingest: the HTTP APIs
// (Segment in ingest/segment, CleverTap in ingest/clevertap) validate and
// normalise requests into engine operations, the durable log (ingest/log,
// NATS JetStream) group-commits and acknowledges them, and the applier
// (ingest/applier) applies the log to the engine in order. Write keys live
// in ingest/keys. Service wires them together:
//
//	svc, err := ingest.New(ctx, eng, ingest.Options{DataDir: dir, AdminToken: tok})
//	svc.Start(ctx)
//	svc.Register(mux) // Segment, CleverTap and admin routes
//	defer svc.Shutdown(ctx)
//
// Durability: a request is answered 2xx only after JetStream acknowledged
// the messages holding its operations. The embedded server fsyncs every
// write before acknowledging it (sync_interval always), so neither a
// kill -9 of the process nor a power loss loses an acknowledged request,
// as long as the disk honours fsync. With an external cluster
// (Options.NATSURL), durability is the cluster's: a JetStream server with
// the default sync_interval (2 min) can lose acknowledged writes on a
// power loss of a majority of its replicas (nats-server issue 7564).
package ingest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"time"

	"github.com/cohortdb/cohort/engine"
	"github.com/cohortdb/cohort/engine/column"
	"github.com/cohortdb/cohort/ingest/applier"
	"github.com/cohortdb/cohort/ingest/clevertap"
	"github.com/cohortdb/cohort/ingest/keys"
	ilog "github.com/cohortdb/cohort/ingest/log"
	"github.com/cohortdb/cohort/ingest/norm"
	"github.com/cohortdb/cohort/ingest/segment"
)

// Options configure the ingest service. Zero values mean the defaults of
// the component they configure.
type Options struct {
	// DataDir is Cohort's data directory; the embedded NATS server stores
	// in DataDir/nats.
	DataDir string
	// NATSURL selects an external NATS cluster instead of the embedded
	// server.
	NATSURL string
	// Partitions per workspace in the log; default 4.
	Partitions int
	// Linger and MaxBatchBytes tune group commit; defaults 1ms and 1 MiB.
	Linger        time.Duration
	MaxBatchBytes int
	// AdminToken authenticates the admin API (Bearer token). Empty
	// disables the admin API.
	AdminToken string
	// DedupWindow for message ids; default 24h.
	DedupWindow time.Duration
	Logger      *slog.Logger
}

// Service is the running ingest pipeline.
type Service struct {
	opts Options
	eng  *engine.Engine
	log  *slog.Logger
	l    *ilog.Log
	keys *keys.Store
	app  *applier.Applier

	startSeq uint64 // log's last sequence at startup: replay target

	mu     sync.Mutex
	cancel context.CancelFunc
	done   chan error
}

// New opens the log and the key store and creates the engine workspaces
// the key store knows. Start applies the log.
func New(ctx context.Context, eng *engine.Engine, opts Options) (*Service, error) {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	s := &Service{opts: opts, eng: eng, log: opts.Logger}
	lo := ilog.Options{
		URL:           opts.NATSURL,
		Partitions:    opts.Partitions,
		Linger:        opts.Linger,
		MaxBatchBytes: opts.MaxBatchBytes,
		KeepOps:       true, // for s.app, which takes them (applier.apply)
		Logger:        opts.Logger,
	}
	if opts.NATSURL == "" {
		if opts.DataDir == "" {
			return nil, errors.New("cannot start ingest: no data directory")
		}
		lo.Dir = filepath.Join(opts.DataDir, "nats")
	}
	l, err := ilog.Open(ctx, lo)
	if err != nil {
		return nil, fmt.Errorf("cannot start ingest: %w", err)
	}
	s.l = l
	ks, err := keys.Open(ctx, l.JetStream(), "", s.ensureWorkspace)
	if err != nil {
		l.Close(ctx)
		return nil, fmt.Errorf("cannot start ingest: %w", err)
	}
	s.keys = ks
	if s.startSeq, err = l.LastSeq(ctx); err != nil {
		ks.Close()
		l.Close(ctx)
		return nil, fmt.Errorf("cannot start ingest: %w", err)
	}
	s.app = applier.New(eng, l, applier.Options{DedupWindow: opts.DedupWindow, Logger: opts.Logger})
	return s, nil
}

func (s *Service) ensureWorkspace(name string) {
	if _, err := s.eng.Workspace(name); err == nil {
		return
	}
	if _, err := s.eng.CreateWorkspace(name); err != nil {
		if _, err2 := s.eng.Workspace(name); err2 != nil {
			s.log.Error("cannot create engine workspace", "workspace", name, "err", err)
		}
	}
}

// Start applies the log to the engine in the background, replaying it
// from the start.
func (s *Service) Start(ctx context.Context) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.done != nil {
		return
	}
	ctx, s.cancel = context.WithCancel(context.WithoutCancel(ctx))
	s.done = make(chan error, 1)
	go func() {
		err := s.app.Run(ctx)
		if err != nil {
			s.log.Error("the log applier stopped", "err", err)
		}
		s.done <- err
	}()
}

// Caught reports whether the applier has replayed the log as it was at
// startup.
func (s *Service) Caught() bool { return s.app.Applied() >= s.startSeq }

// WaitCaughtUp waits until the startup replay is done.
func (s *Service) WaitCaughtUp(ctx context.Context) error { return s.app.WaitFor(ctx, s.startSeq) }

// Log returns the durable log.
func (s *Service) Log() *ilog.Log { return s.l }

// Applier returns the applier.
func (s *Service) Applier() *applier.Applier { return s.app }

// Keys returns the key store.
func (s *Service) Keys() *keys.Store { return s.keys }

// Append writes ops to the log (norm.Sink). While the applier lags more
// than its MaxLag behind the log, it first waits (applier.Throttle), so
// that an overloaded node slows its writers down instead of letting
// freshness degrade without bound. The log keeps ops for the applier
// (ilog.Options.KeepOps): they must not be modified once Append returned.
func (s *Service) Append(ctx context.Context, ws string, ops []engine.Op) error {
	if err := s.app.Throttle(ctx, s.l.Stats().LastAck); err != nil {
		return err
	}
	return s.l.Append(ctx, ws, ops)
}

// Sync waits until everything acknowledged so far is queryable.
func (s *Service) Sync(ctx context.Context) error {
	return s.app.WaitFor(ctx, s.l.Stats().LastAck)
}

// EnsureWorkspaceKey creates the workspace (if missing) and a write key
// (if it has none) and returns its oldest key.
func (s *Service) EnsureWorkspaceKey(ctx context.Context, ws, label string) (string, error) {
	if !s.keys.Exists(ws) {
		if _, err := s.keys.CreateWorkspace(ctx, ws); err != nil && !errors.Is(err, keys.ErrExists) {
			return "", err
		}
	}
	if ks := s.keys.Keys(ws); len(ks) > 0 {
		return ks[0].Key, nil
	}
	k, err := s.keys.CreateKey(ctx, ws, label)
	if err != nil {
		return "", err
	}
	return k.Key, nil
}

// schema returns a column-type lookup over a workspace's latest snapshot.
func (s *Service) schema(ws string) norm.Schema {
	w, err := s.eng.Workspace(ws)
	if err != nil {
		return nil
	}
	snap := w.Snapshot()
	return func(table, col string) (column.Type, bool) {
		t, err := snap.Table(table)
		if err != nil {
			return 0, false
		}
		d, ok := t.Schema.Lookup(col)
		if !ok {
			return 0, false
		}
		return d.Type, true
	}
}

// Segment returns the Segment API handler.
func (s *Service) Segment() *segment.Handler {
	return &segment.Handler{Keys: s.keys, Sink: s, Schema: s.schema, Log: s.log}
}

// CleverTap returns the CleverTap API handler.
func (s *Service) CleverTap() *clevertap.Handler {
	return &clevertap.Handler{Keys: s.keys, Exists: s.keys.Exists, Sink: s, Schema: s.schema, Log: s.log}
}

// Shutdown stops the applier, flushes the log and closes it.
func (s *Service) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	cancel, done := s.cancel, s.done
	s.mu.Unlock()
	var err error
	if cancel != nil {
		cancel()
		select {
		case err = <-done:
		case <-ctx.Done():
			err = fmt.Errorf("cannot stop the applier: %w", ctx.Err())
		}
	}
	s.keys.Close()
	return errors.Join(err, s.l.Close(ctx))
}
