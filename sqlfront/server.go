package sqlfront

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"path/filepath"
	"sync"
	"time"

	sqle "github.com/dolthub/go-mysql-server"
	"github.com/dolthub/go-mysql-server/server"
	"github.com/dolthub/go-mysql-server/sql"
	"github.com/dolthub/go-mysql-server/sql/analyzer"
	"github.com/dolthub/vitess/go/mysql"
	"github.com/sirupsen/logrus"

	"github.com/cohortdb/cohort/engine"
	"github.com/cohortdb/cohort/engine/segment"
)

// Applier applies SQL writes. The default applies directly to the engine
// workspace; the ingest path plugs in the durable log.
type Applier interface {
	Apply(ctx context.Context, workspace string, ops []engine.Op) (engine.Result, error)
}

// Options configures a Server. The zero value serves on 127.0.0.1:3306 and
// requires RootPassword (or InsecureNoAuth).
type Options struct {
	// Addr is the TCP address to listen on; "" means 127.0.0.1:3306. Port 0
	// picks a free port (see Server.Addr).
	Addr string
	// RootPassword is the password of the superuser root (any host). It is
	// required unless InsecureNoAuth is set.
	RootPassword string
	// InsecureNoAuth accepts every user and password and disables
	// privileges (and so CREATE USER / GRANT). For local experiments only.
	InsecureNoAuth bool
	// TLSCert and TLSKey are PEM files. When both are empty a self-signed
	// certificate is generated into DataDir once and reused (in memory if
	// DataDir is empty).
	TLSCert, TLSKey string
	// RequireTLS refuses connections without TLS.
	RequireTLS bool
	// DataDir holds the user database (mysql.db) and the generated
	// certificate; "" keeps users in memory only.
	DataDir string
	// MaxConnections caps concurrent connections; 0 means unlimited.
	MaxConnections uint64
	// ConnReadTimeout and ConnWriteTimeout bound network reads and writes
	// of a connection; 0 means none.
	ConnReadTimeout, ConnWriteTimeout time.Duration
	// Applier applies INSERT/UPDATE/DELETE; nil applies to the engine.
	Applier Applier
	// History, when set, adds the read-only profile_history table to every
	// workspace (history.go); nil: no such table.
	History HistorySource
	// Segments, when set, makes the views of every workspace its segments
	// and adds the read-only tables segments and segment_members
	// (segment_views.go, segment_tables.go); nil: no views, no such tables.
	Segments *segment.Registry
	// SegmentSizes, when set, adds the read-only table segment_sizes (the
	// recorded size samples of segments) to every workspace
	// (segment_history.go); nil: no such table.
	SegmentSizes SegmentSizesFunc
	// MembersAsOf, when set with Segments, adds the read-only table
	// segment_members_as_of (the members of a segment at a past time,
	// from the profile history) to every workspace (segment_history.go);
	// nil: no such table.
	MembersAsOf MembersAsOfFunc
	// EventArchive, when set, serves the events the engine no longer holds
	// in memory (its event window) as part of the events table
	// (events_cold.go); nil: a scan reaching them fails.
	EventArchive EventArchive
	// DisablePushdown makes GMS evaluate every predicate and aggregate (the
	// oracle of the differential test).
	DisablePushdown bool
	// Logger receives the server's logs; nil means slog.Default().
	Logger *slog.Logger
	// Version is reported as the server version.
	Version string
}

// DefaultOptions returns the defaults.
func DefaultOptions() Options { return Options{Addr: "127.0.0.1:3306"} }

// Server serves the engine's workspaces over the MySQL protocol.
type Server struct {
	eng  *engine.Engine
	opts Options
	log  *slog.Logger
	gms  *sqle.Engine
	srv  *server.Server
	ln   net.Listener
	tls  *tls.Config

	startOnce sync.Once
	done      chan struct{} // closed when the listener stops
	identMu   sync.Mutex
	ident     map[string]*identIndex // per workspace
	stopOnce  sync.Once
	stop      chan struct{} // closed by Shutdown
	segViews  sync.Map      // workspace + "\x00" + segment SQL -> view text
}

type directApplier struct{ eng *engine.Engine }

func (a directApplier) Apply(ctx context.Context, workspace string, ops []engine.Op) (engine.Result, error) {
	ws, err := a.eng.Workspace(workspace)
	if err != nil {
		return engine.Result{}, err
	}
	return ws.Apply(ctx, ops)
}

func init() {
	// GMS logs through logrus at info level per query; keep warnings.
	logrus.SetLevel(logrus.WarnLevel)
}

// New creates a server listening on opts.Addr; Start serves.
func New(e *engine.Engine, opts Options) (*Server, error) {
	if opts.Addr == "" {
		opts.Addr = DefaultOptions().Addr
	}
	if opts.RootPassword == "" && !opts.InsecureNoAuth {
		return nil, errors.New("cannot start the SQL server: a root password is required (or insecure_no_auth)")
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Applier == nil {
		opts.Applier = directApplier{eng: e}
	}
	if opts.Version == "" {
		opts.Version = "8.0.33-cohort"
	}
	s := &Server{eng: e, opts: opts, log: opts.Logger, done: make(chan struct{}), stop: make(chan struct{})}

	tlsCfg, err := s.tlsConfig()
	if err != nil {
		return nil, err
	}
	s.tls = tlsCfg

	pro := &provider{srv: s}
	b := s.segmentRules(analyzer.NewBuilder(pro)) // segment_views.go
	if !opts.DisablePushdown {
		b = b.AddPreAnalyzeRule(ruleBehaviour, s.behaviourRule).
			AddPostAnalyzeRule(ruleAggregate, s.aggregateRule).
			AddPostAnalyzeRule(ruleHistory, s.historyRule).              // history.go
			AddPostAnalyzeRule(ruleSegmentHistory, s.segmentHistoryRule) // segment_history.go
	}
	a := b.Build()
	a.Coster = newCoster() // coster.go
	s.gms = sqle.New(a, &sqle.Config{})
	if err := s.setupUsers(); err != nil {
		return nil, err
	}

	ln, err := net.Listen("tcp", opts.Addr)
	if err != nil {
		return nil, fmt.Errorf("cannot listen for MySQL on %s: %w", opts.Addr, err)
	}
	s.ln = ln
	cfg := server.Config{
		Protocol:               "tcp",
		Address:                ln.Addr().String(),
		Listener:               ln,
		Version:                opts.Version,
		ConnReadTimeout:        opts.ConnReadTimeout,
		ConnWriteTimeout:       opts.ConnWriteTimeout,
		MaxConnections:         opts.MaxConnections,
		TLSConfig:              tlsCfg,
		RequireSecureTransport: opts.RequireTLS,
	}
	srv, err := server.NewServerWithHandler(cfg, s.gms, sql.NewContext, s.newSession, nil, withoutOKInfo)
	if err != nil {
		ln.Close()
		return nil, fmt.Errorf("cannot create the SQL server: %w", err)
	}
	s.srv = srv
	return s, nil
}

// Analyzer rule ids of Cohort's rules (above GMS's).
const (
	ruleBehaviour analyzer.RuleId = 10001
	ruleAggregate analyzer.RuleId = 10002
	ruleHistory   analyzer.RuleId = 10003
	ruleScope     analyzer.RuleId = 10004 // table ids of the plan's tables (table.go)
)

func (s *Server) newSession(_ context.Context, conn *mysql.Conn, addr string) (sql.Session, error) {
	host, user := "", ""
	if u, ok := conn.UserData.(sql.MysqlConnectionUser); ok {
		host, user = u.Host, u.User
	}
	client := sql.Client{Address: host, User: user, Capabilities: conn.Capabilities}
	go s.watchDisconnect(conn.ConnectionID, conn.Conn)
	return newSession(sql.NewBaseSessionWithClientServer(addr, client, conn.ConnectionID)), nil
}

// Start serves connections in the background.
func (s *Server) Start() error {
	s.startOnce.Do(func() {
		go func() {
			defer close(s.done)
			if err := s.srv.Start(); err != nil {
				s.log.Error("SQL server stopped", "err", err)
			}
		}()
		s.log.Info("serving MySQL", "addr", s.Addr().String(), "tls", s.tls != nil, "auth", !s.opts.InsecureNoAuth)
	})
	return nil
}

// Addr returns the address the server listens on.
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// TLS reports whether the server offers TLS.
func (s *Server) TLS() bool { return s.tls != nil }

// Shutdown stops accepting connections and waits, until ctx is done, for
// the open ones to end.
func (s *Server) Shutdown(ctx context.Context) error {
	err := s.srv.Close()
	s.stopOnce.Do(func() { close(s.stop) })
	waited := make(chan struct{})
	go func() {
		s.srv.SessionManager().WaitForClosedConnections()
		close(waited)
	}()
	select {
	case <-waited:
	case <-ctx.Done():
		err = errors.Join(err, fmt.Errorf("cannot shut down the SQL server gracefully: %w", ctx.Err()))
	}
	if cerr := s.gms.Close(); cerr != nil && !errors.Is(cerr, context.Canceled) {
		err = errors.Join(err, cerr)
	}
	return err
}

func (s *Server) dataPath(name string) string {
	if s.opts.DataDir == "" {
		return ""
	}
	return filepath.Join(s.opts.DataDir, name)
}
