package apiserver

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	"github.com/cohortdb/cohort/delivery/tokens"
)

// RequestIDHeader is the metadata key (and, as X-Request-Id, the HTTP
// header) carrying a call's request id.
const RequestIDHeader = "x-request-id"

type ctxKey struct{}

// call is what the access log says about one call; the interceptor
// creates it, authorization fills it in.
type call struct {
	mu        sync.Mutex
	reqID     string
	workspace string
	subject   string
}

func (c *call) set(ws, subject string) {
	c.mu.Lock()
	c.workspace, c.subject = ws, subject
	c.mu.Unlock()
}

func (c *call) get() (ws, subject string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.workspace, c.subject
}

// RequestID returns the request id of the call ctx belongs to, "" outside
// a call.
func RequestID(ctx context.Context) string {
	if c, ok := ctx.Value(ctxKey{}).(*call); ok {
		return c.reqID
	}
	return ""
}

// Principal returns who the call authenticated as (ok false for calls
// that need no token).
func Principal(ctx context.Context) (tokens.Principal, bool) {
	p, ok := ctx.Value(principalKey{}).(tokens.Principal)
	return p, ok
}

type principalKey struct{}

// validRequestID accepts client request ids of 1 to 128 printable ASCII
// characters without spaces.
func validRequestID(id string) bool {
	if id == "" || len(id) > 128 {
		return false
	}
	for i := 0; i < len(id); i++ {
		if id[i] <= ' ' || id[i] > '~' {
			return false
		}
	}
	return true
}

func newRequestID() string {
	var b [12]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand, Go ≥ 1.24)
	return hex.EncodeToString(b[:])
}

// incomingRequestID returns the call's x-request-id if valid, else a new
// one.
func incomingRequestID(ctx context.Context) string {
	md, _ := metadata.FromIncomingContext(ctx)
	if v := md.Get(RequestIDHeader); len(v) > 0 && validRequestID(v[0]) {
		return v[0]
	}
	return newRequestID()
}

// bearer extracts the token of "authorization: Bearer <token>".
func bearer(ctx context.Context) string {
	md, _ := metadata.FromIncomingContext(ctx)
	for _, v := range md.Get("authorization") {
		if tok := bearerToken(v); tok != "" {
			return tok
		}
	}
	return ""
}

// bearerToken returns the token of an "Authorization: Bearer <token>"
// value (scheme case-insensitive), or "".
func bearerToken(header string) string {
	scheme, tok, ok := strings.Cut(strings.TrimSpace(header), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return ""
	}
	return strings.TrimSpace(tok)
}

// authenticate checks the call's token for a protected method.
func (s *Server) authenticate(ctx context.Context, method string, need tokens.Scope) (tokens.Principal, error) {
	if need == 0 {
		return tokens.Principal{}, status.Errorf(codes.PermissionDenied, "method %s has no scope: refused", method)
	}
	p, err := s.opts.Auth.Authenticate(bearer(ctx))
	if err != nil {
		return tokens.Principal{}, status.Error(codes.Unauthenticated, err.Error())
	}
	return p, nil
}

// workspaced is every request of a protected service.
type workspaced interface{ GetWorkspace() string }

// authorize checks that p may call a method needing need on the
// request's workspace, and records both in c.
func authorize(p tokens.Principal, req any, need tokens.Scope, c *call) error {
	r, ok := req.(workspaced)
	if !ok {
		return status.Errorf(codes.Internal, "BUG: request %T names no workspace", req)
	}
	ws := r.GetWorkspace()
	c.set(ws, p.Subject())
	if ws == "" {
		return status.Error(codes.InvalidArgument, "workspace is required")
	}
	if err := p.Authorize(ws, need); err != nil {
		return status.Error(codes.PermissionDenied, err.Error())
	}
	return nil
}

// unary is the unary interceptor: request id, authentication and
// authorization of protected methods, access log.
func (s *Server) unary(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	start := time.Now()
	c := &call{reqID: incomingRequestID(ctx)}
	ctx = context.WithValue(ctx, ctxKey{}, c)
	_ = grpc.SetHeader(ctx, metadata.Pairs(RequestIDHeader, c.reqID))
	var resp any
	var err error
	if need, ok := protected(info.FullMethod); ok {
		var p tokens.Principal
		if p, err = s.authenticate(ctx, info.FullMethod, need); err == nil {
			err = authorize(p, req, need, c)
			ctx = context.WithValue(ctx, principalKey{}, p)
		}
	}
	if err == nil {
		resp, err = handler(ctx, req)
	}
	s.logCall(ctx, info.FullMethod, c, err, start)
	return resp, err
}

// serverStream carries the call's context and authorizes the request
// when the handler reads it.
type serverStream struct {
	grpc.ServerStream
	ctx   context.Context
	check func(m any) error // nil: nothing to check
}

func (w *serverStream) Context() context.Context { return w.ctx }

func (w *serverStream) RecvMsg(m any) error {
	if err := w.ServerStream.RecvMsg(m); err != nil {
		return err
	}
	if w.check != nil {
		return w.check(m)
	}
	return nil
}

// stream is the stream interceptor: as unary, with the request
// authorized when the handler receives it, and the stream ended at
// shutdown (CloseStreams).
func (s *Server) stream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	start := time.Now()
	ctx := ss.Context()
	c := &call{reqID: incomingRequestID(ctx)}
	ctx = context.WithValue(ctx, ctxKey{}, c)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(s.closing, cancel)
	defer stop()
	_ = ss.SetHeader(metadata.Pairs(RequestIDHeader, c.reqID))
	w := &serverStream{ServerStream: ss, ctx: ctx}
	var err error
	if need, ok := protected(info.FullMethod); ok {
		var p tokens.Principal
		if p, err = s.authenticate(ctx, info.FullMethod, need); err == nil {
			w.ctx = context.WithValue(ctx, principalKey{}, p)
			first := true
			w.check = func(m any) error {
				if !first {
					return nil
				}
				first = false
				return authorize(p, m, need, c)
			}
		}
	}
	if err == nil {
		err = handler(srv, w)
	}
	if err != nil && s.closing.Err() != nil && status.Code(err) == codes.Canceled {
		err = status.Error(codes.Unavailable, "the server is shutting down; resume the stream")
	}
	s.logCall(ctx, info.FullMethod, c, err, start)
	return err
}

// logCall writes the access log line of a gRPC call. Calls through the
// REST gateway (peer on the in-memory listener) are logged at debug
// level: their HTTP access line is the one at info.
func (s *Server) logCall(ctx context.Context, method string, c *call, err error, start time.Time) {
	level := slog.LevelInfo
	addr := ""
	if p, ok := peer.FromContext(ctx); ok && p.Addr != nil {
		if p.Addr.Network() == "bufconn" {
			level = slog.LevelDebug
		}
		addr = p.Addr.String()
	}
	if !s.log.Enabled(ctx, level) {
		return
	}
	ws, subject := c.get()
	code := status.Code(err)
	attrs := []slog.Attr{
		slog.String("rpc", method),
		slog.String("code", code.String()),
		slog.Duration("took", time.Since(start)),
		slog.String("workspace", ws),
		slog.String("request_id", c.reqID),
		slog.String("subject", subject),
		slog.String("peer", addr),
	}
	if err != nil {
		msg := err.Error()
		if st, ok := status.FromError(err); ok {
			msg = st.Message()
		}
		attrs = append(attrs, slog.String("err", msg))
		if code == codes.Internal || code == codes.Unknown || code == codes.DataLoss {
			level = slog.LevelError
		}
	}
	s.log.LogAttrs(ctx, level, "grpc", attrs...)
}
