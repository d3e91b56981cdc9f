// Package apiserver is the transport of Cohort's API: one gRPC server
// carrying ProfileService, SegmentService (and any other service
// registered on it, such as IngestService), and the REST gateway that
// maps the same RPCs to JSON over HTTP.
//
// Every call, gRPC or REST, goes through the same interceptors:
//
//   - request id: the x-request-id metadata (REST: the X-Request-Id
//     header), or a generated one; echoed in the response headers and
//     written in every access log line;
//   - authentication of ProfileService and SegmentService calls: an API
//     token of the workspace (delivery/tokens) or the server's admin
//     token, as "authorization: Bearer <token>"; no or an unknown token
//     is Unauthenticated (HTTP 401), a token of another workspace or
//     without the RPC's scope (Scopes) is PermissionDenied (HTTP 403);
//   - access logs (slog): rpc, code, duration, workspace, request id,
//     subject (admin or token:<id>) and peer.
//
// The REST gateway is grpc-gateway's mux calling the gRPC server through
// an in-memory connection, so the interceptors and streaming work for
// REST exactly as for gRPC. Errors are a JSON google.rpc.Status
// ({"code","message","details"}) with the HTTP status of the gRPC code;
// server-streaming RPCs answer newline-delimited JSON
// (application/x-ndjson), one {"result": ...} per message. The merged
// OpenAPI document (api.OpenAPI) is served at GET /openapi.json.
//
// Usage:
//
//	srv, err := apiserver.New(apiserver.Options{Auth: auth, Tokens: store, Profiles: profile.New(...)})
//	ingestAPI.Register(srv.GRPC())        // more services, before Start
//	srv.Register(httpMux)                  // REST, /openapi.json, token admin API
//	srv.Start()                            // the gateway's in-memory listener
//	go srv.Serve(grpcListener)             // gRPC clients
//	defer srv.Shutdown(ctx)
package apiserver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/test/bufconn"

	profilev1 "github.com/cohortdb/cohort/api/profile/v1"
	segmentv1 "github.com/cohortdb/cohort/api/segment/v1"
	"github.com/cohortdb/cohort/delivery/tokens"
)

// Options configure a Server.
type Options struct {
	// Auth authenticates bearer tokens (required).
	Auth *tokens.Authenticator
	// Tokens serves the token admin API (/v1/admin/workspaces/{ws}/tokens);
	// nil: no token routes.
	Tokens *tokens.Store
	// WorkspaceExists reports whether a workspace exists, for the token
	// admin API; nil: every name exists.
	WorkspaceExists func(string) bool
	// Profiles implements ProfileService; nil: Unimplemented.
	Profiles profilev1.ProfileServiceServer
	// Segments implements SegmentService; nil: every RPC answers
	// Unimplemented (HTTP 501) after authentication.
	Segments segmentv1.SegmentServiceServer
	// Logger receives the access logs; default slog.Default().
	Logger *slog.Logger
	// ServerOptions are added to the gRPC server's (after the
	// interceptors).
	ServerOptions []grpc.ServerOption
}

// Server is the API's gRPC server and REST gateway.
type Server struct {
	opts Options
	log  *slog.Logger
	grpc *grpc.Server
	mem  *bufconn.Listener
	conn *grpc.ClientConn
	gw   http.Handler

	// closing ends every open stream (gRPC and REST) at shutdown.
	closing      context.Context
	closeStreams context.CancelFunc

	startOnce sync.Once
	closeOnce sync.Once
}

// New builds the server: the gRPC server with ProfileService and
// SegmentService registered, and the gateway. Register more services on
// GRPC() before Start.
func New(opts Options) (*Server, error) {
	if opts.Auth == nil {
		return nil, errors.New("cannot create the API server: no authenticator")
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	s := &Server{opts: opts, log: opts.Logger, mem: bufconn.Listen(1 << 20)}
	s.closing, s.closeStreams = context.WithCancel(context.Background())
	so := append([]grpc.ServerOption{
		grpc.ChainUnaryInterceptor(s.unary),
		grpc.ChainStreamInterceptor(s.stream),
	}, opts.ServerOptions...)
	s.grpc = grpc.NewServer(so...)
	var prof profilev1.ProfileServiceServer = profilev1.UnimplementedProfileServiceServer{}
	if opts.Profiles != nil {
		prof = opts.Profiles
	}
	var seg segmentv1.SegmentServiceServer = segmentv1.UnimplementedSegmentServiceServer{}
	if opts.Segments != nil {
		seg = opts.Segments
	}
	profilev1.RegisterProfileServiceServer(s.grpc, prof)
	segmentv1.RegisterSegmentServiceServer(s.grpc, seg)

	conn, err := grpc.NewClient("passthrough:///cohort-api-gateway",
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return s.mem.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(64<<20)),
	)
	if err != nil {
		return nil, fmt.Errorf("cannot create the API gateway's connection: %w", err)
	}
	s.conn = conn
	if s.gw, err = s.gateway(); err != nil {
		conn.Close()
		return nil, err
	}
	return s, nil
}

// GRPC returns the gRPC server, to register more services before Start.
func (s *Server) GRPC() *grpc.Server { return s.grpc }

// Start serves the gateway's in-memory listener in the background.
func (s *Server) Start() {
	s.startOnce.Do(func() {
		go func() {
			if err := s.grpc.Serve(s.mem); err != nil && !errors.Is(err, grpc.ErrServerStopped) {
				s.log.Error("cannot serve the API gateway's connection", "err", err)
			}
		}()
	})
}

// Serve serves gRPC clients on ln until Shutdown; it returns nil after a
// shutdown.
func (s *Server) Serve(ln net.Listener) error {
	if err := s.grpc.Serve(ln); err != nil && !errors.Is(err, grpc.ErrServerStopped) {
		return fmt.Errorf("cannot serve gRPC: %w", err)
	}
	return nil
}

// CloseStreams ends every open server stream (StreamMembers, WatchSegment
// and their REST forms), so that a graceful shutdown does not wait for
// clients that would watch for ever. http.Server.RegisterOnShutdown is
// the place to call it.
func (s *Server) CloseStreams() { s.closeStreams() }

// Shutdown ends open streams, lets unary calls finish until ctx ends,
// then stops the server and the gateway's connection. Calling it again
// is harmless.
func (s *Server) Shutdown(ctx context.Context) error {
	s.CloseStreams()
	done := make(chan struct{})
	go func() {
		s.grpc.GracefulStop()
		close(done)
	}()
	var err error
	select {
	case <-done:
	case <-ctx.Done():
		s.grpc.Stop()
		<-done
		err = fmt.Errorf("cannot stop the API server gracefully: %w", ctx.Err())
	}
	s.closeOnce.Do(func() {
		if cerr := s.conn.Close(); cerr != nil {
			err = errors.Join(err, fmt.Errorf("cannot close the API gateway's connection: %w", cerr))
		}
	})
	return err
}
