package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/cohortdb/cohort/cmd/cohort/internal/config"
	"github.com/cohortdb/cohort/engine"
)

// demoWorkspace is the workspace `serve` always creates and, with demo on,
// fills with generated data.
const demoWorkspace = "demo"

func writeServeHelp(w io.Writer) {
	fmt.Fprint(w, `Usage: cohort serve [flags]

Starts Cohort: creates the data directory, the engine and the "demo"
workspace, fills it with generated data in the background (unless
--demo=false), and serves HTTP health, stats and metrics endpoints until
SIGINT or SIGTERM.

`)
	config.WriteHelp(w)
}

func cmdServe(ctx context.Context, args, env []string, stdout, stderr io.Writer) int {
	fs := config.NewFlagSet("serve")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			writeServeHelp(stdout)
			return exitOK
		}
		fmt.Fprintf(stderr, "cohort serve: %v\nRun 'cohort serve --help' for the settings.\n", err)
		return exitUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "cohort serve: unexpected argument %q (booleans take the form --demo=false)\n", fs.Arg(0))
		return exitUsage
	}
	res, err := config.Load(fs, env)
	if err != nil {
		fmt.Fprintf(stderr, "cohort serve: %v\n", err)
		return exitUsage
	}
	cfg := res.Config
	log := newLogger(&cfg, stderr)
	for _, name := range res.UnknownEnv {
		log.Warn("ignoring environment variable that names no setting", "name", name)
	}
	if res.File != "" {
		log.Debug("read configuration file", "path", res.File)
	}
	for _, s := range config.Settings() {
		log.Debug("setting", "name", s.Name, "source", string(res.Origin[s.Name]))
	}

	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		stop() // a second signal kills the process
	}()

	s, err := newServer(cfg, log)
	if err != nil {
		log.Error("cannot start", "err", err)
		return exitFailure
	}
	s.writeBanner(stdout)
	if err := s.run(ctx); err != nil {
		log.Error("stopped with an error", "err", err)
		return exitFailure
	}
	log.Info("stopped")
	return exitOK
}

func newLogger(cfg *config.Config, w io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: cfg.SlogLevel()}
	if cfg.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// demoLoader has the signature of loadDemo; tests substitute their own.
type demoLoader func(ctx context.Context, ws *engine.Workspace, profiles, events int, seed uint64) error

// server is a running `cohort serve`: the engine and the HTTP server.
type server struct {
	cfg     config.Config
	log     *slog.Logger
	dataDir string // absolute
	eng     *engine.Engine
	demo    *engine.Workspace
	ln      net.Listener
	http    *http.Server
	debugLn net.Listener // debug.go; nil without debug_addr

	loadDemo demoLoader
	ingest   *ingestParts  // ingest.go
	sql      *sqlParts     // sql.go
	grpc     *grpcParts    // grpc.go
	storage  *storageParts // storage.go
	segments *segmentParts // segments.go
	ready    atomic.Bool   // the demo workspace is loaded (or demo is off)
	// demoComplete: the demo workspace holds all its data (loaded, restored
	// or demo off), so it may be snapshotted (storage.go).
	demoComplete atomic.Bool
	draining     atomic.Bool // shutting down
}

// newServer creates the data directory, the engine and the demo workspace,
// and listens on cfg.HTTPAddr; run serves.
func newServer(cfg config.Config, log *slog.Logger) (*server, error) {
	dir, err := filepath.Abs(cfg.DataDir)
	if err != nil {
		return nil, fmt.Errorf("cannot resolve data directory %q: %w", cfg.DataDir, err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("cannot create data directory: %w", err)
	}
	eng := engine.New(engine.Options{})
	s := &server{
		cfg:      cfg,
		log:      log,
		dataDir:  dir,
		eng:      eng,
		loadDemo: loadDemo,
	}
	if s.storage, err = s.openStorage(); err != nil {
		return nil, err
	}
	if s.demo, err = eng.Workspace(demoWorkspace); err != nil {
		if s.demo, err = eng.CreateWorkspace(demoWorkspace); err != nil {
			return nil, fmt.Errorf("cannot create the demo workspace: %w", err)
		}
	}
	ln, err := net.Listen("tcp", cfg.HTTPAddr)
	if err != nil {
		return nil, fmt.Errorf("cannot listen for HTTP (http_addr): %w", err)
	}
	s.ln = ln
	// One cleanup for every failure below: each close is a no-op for a
	// part not opened yet.
	defer func() {
		if err == nil {
			return
		}
		ln.Close()
		if s.debugLn != nil {
			s.debugLn.Close()
		}
		_ = s.closeSegments(context.Background())
		_ = s.closeSQL(context.Background())
		_ = s.closeIngest(context.Background())
	}()
	if s.debugLn, err = listenDebug(cfg.DebugAddr); err != nil {
		return nil, err
	}
	if s.ingest, err = s.openIngest(); err != nil {
		return nil, err
	}
	// Segments before SQL: the SQL endpoint's views are the segments
	// (segments_sql.go).
	if s.segments, err = s.openSegments(); err != nil { // segments.go
		return nil, err
	}
	if s.sql, err = s.openSQL(); err != nil {
		return nil, err
	}
	s.startSegments()
	if err = s.restoreSegments(context.Background()); err != nil {
		return nil, err
	}
	s.startIngest()
	if s.grpc, err = s.openGRPC(); err != nil {
		return nil, err
	}
	s.http = &http.Server{
		Handler:           s.withGRPCGateway(s.withIngest(s.routes())),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	return s, nil
}

// Addr returns the address the HTTP server listens on, with the port
// chosen by the system if http_addr had port 0.
func (s *server) Addr() net.Addr { return s.ln.Addr() }

// URL returns the base URL of the HTTP server, with a loopback host if it
// listens on all interfaces.
func (s *server) URL() string { return "http://" + dialable(s.ln.Addr().String()) }

// dialable replaces an unspecified host (0.0.0.0, ::, "") by the loopback
// address of the same family, so the address can be dialled locally.
func dialable(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	ip := net.ParseIP(host)
	switch {
	case host == "":
		host = "127.0.0.1"
	case ip != nil && ip.IsUnspecified() && ip.To4() != nil:
		host = "127.0.0.1"
	case ip != nil && ip.IsUnspecified():
		host = "::1"
	}
	return net.JoinHostPort(host, port)
}

func (s *server) writeBanner(w io.Writer) {
	ver, rev, gov := buildInfo()
	url := s.URL()
	demo := "off (--demo=false): the demo workspace is empty"
	switch {
	case s.storage != nil && s.demoRestored():
		snap := s.demo.Snapshot()
		demo = fmt.Sprintf("restored from its snapshot in %s/snapshots: %d profiles, %d events", s.dataDir, snap.Profiles.Live, snap.Events.Live)
	case s.cfg.Demo:
		demo = fmt.Sprintf("loading %d profiles and %d events in the background; %s/readyz answers 200 when done",
			s.cfg.DemoProfiles, s.cfg.DemoEvents, url)
	}
	fmt.Fprintf(w, `
Cohort %s (commit %s, %s)

  data     %s
  HTTP     %s   (/healthz /readyz /metrics /v1/workspaces)
  stats    %s/v1/workspaces/%s/stats
  demo     %s
  MySQL    %s
  ingest   %s
  gRPC     %s

Press Ctrl-C to stop.

`, ver, rev, gov, s.dataDir, url, url, demoWorkspace, demo, s.sqlBanner(), s.ingestBanner(), s.grpcBanner())
}

// run serves HTTP and loads the demo workspace in the background until ctx
// is done, then shuts down gracefully within cfg.ShutdownTimeout.
func (s *server) run(ctx context.Context) error {
	loadCtx, cancelLoad := context.WithCancel(ctx)
	defer cancelLoad()
	demoDone := make(chan struct{})
	s.startStorage()
	if s.cfg.Demo && !s.demoRestored() {
		go s.fillDemo(loadCtx, demoDone)
	} else {
		s.demoComplete.Store(true)
		s.ready.Store(true)
		close(demoDone)
	}

	serveErr := make(chan error, 1)
	go func() { serveErr <- s.http.Serve(s.ln) }()
	s.startSQL()
	s.startGRPC()
	defer s.serveDebug()()
	s.log.Info("serving HTTP", "addr", s.ln.Addr().String(), "data_dir", s.dataDir, "demo", s.cfg.Demo)

	var err error
	select {
	case <-ctx.Done():
		s.log.Info("shutting down", "timeout", s.cfg.ShutdownTimeout)
	case err = <-serveErr:
		err = fmt.Errorf("cannot serve HTTP: %w", err)
	}
	s.draining.Store(true)
	cancelLoad()
	shutCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.ShutdownTimeout)
	defer cancel()
	if serr := s.http.Shutdown(shutCtx); serr != nil {
		_ = s.http.Close()
		err = errors.Join(err, fmt.Errorf("cannot shut down HTTP gracefully: %w", serr))
	}
	if gerr := s.closeGRPC(shutCtx); gerr != nil {
		err = errors.Join(err, gerr)
	}
	if serr := s.closeSQL(shutCtx); serr != nil {
		err = errors.Join(err, serr)
	}
	if serr := s.closeSegments(shutCtx); serr != nil {
		err = errors.Join(err, serr)
	}
	if ierr := s.closeIngest(shutCtx); ierr != nil {
		err = errors.Join(err, ierr)
	}
	// The final snapshot has a deadline of its own (finalSnapshotTimeout).
	snapTimeout := s.finalSnapshotTimeout()
	s.log.Info("taking the final snapshot", "timeout", snapTimeout)
	snapCtx, cancelSnap := context.WithTimeout(context.WithoutCancel(ctx), snapTimeout)
	defer cancelSnap()
	if serr := s.closeStorage(snapCtx); serr != nil {
		err = errors.Join(err, serr)
	}
	select {
	case <-demoDone:
	default: // (shutCtx may have ended during a long final snapshot)
		select {
		case <-demoDone:
		case <-shutCtx.Done():
			s.log.Warn("the demo loader did not stop within the shutdown timeout")
		}
	}
	return err
}

func (s *server) fillDemo(ctx context.Context, done chan<- struct{}) {
	defer close(done)
	defer s.ready.Store(true)
	start := time.Now()
	s.log.Info("loading demo workspace", "profiles", s.cfg.DemoProfiles, "events", s.cfg.DemoEvents, "seed", s.cfg.DemoSeed)
	err := s.loadDemo(ctx, s.demo, s.cfg.DemoProfiles, s.cfg.DemoEvents, s.cfg.DemoSeed)
	switch {
	case err != nil && ctx.Err() != nil:
		s.log.Info("demo loading stopped", "err", err)
	case err != nil:
		s.log.Error("cannot load demo workspace; continuing without demo data", "err", err)
	default:
		s.demoComplete.Store(true)
		s.refreshSegments(ctx, s.demo) // segments.go: the bulk load bypassed them
		snap := s.demo.Snapshot()
		s.log.Info("demo workspace loaded", "took", time.Since(start).Round(time.Millisecond),
			"profiles", snap.Profiles.Live, "events", snap.Events.Live, "identities", snap.Identities.Live)
	}
}
