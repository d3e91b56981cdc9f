package apiserver

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/cohortdb/cohort/api"
	profilev1 "github.com/cohortdb/cohort/api/profile/v1"
	segmentv1 "github.com/cohortdb/cohort/api/segment/v1"
)

// RESTPrefix is the path prefix of the REST mapping of ProfileService and
// SegmentService.
const RESTPrefix = "/api/v1/workspaces/"

// ndjson is the gateway's JSON marshaler (protojson, lowerCamelCase
// names, unset fields emitted) whose streams are labelled
// application/x-ndjson: one JSON object per line. (A stream that fails
// before its first message answers the HTTP status of its code with one
// line {"error": <google.rpc.Status>}.)
type ndjson struct{ runtime.Marshaler }

func (ndjson) StreamContentType(any) string { return "application/x-ndjson" }

// decodeSlashes is a gateway middleware that turns "%2F" back into "/"
// in the id and name path parameters. The mux matches routes on the raw
// path, so an encoded slash stays inside its segment; in
// UnescapingModeAllExceptSlash every other escape is already decoded
// (so a literal "%2F" in an identifier cannot be told from "/": such
// identifiers are not reachable over REST).
func decodeSlashes(next runtime.HandlerFunc) runtime.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request, params map[string]string) {
		for _, k := range [...]string{"id", "name"} {
			if v, ok := params[k]; ok && strings.Contains(v, "%2") {
				params[k] = strings.NewReplacer("%2F", "/", "%2f", "/").Replace(v)
			}
		}
		next(w, r, params)
	}
}

// gateway builds the REST mapping, calling the gRPC server through the
// in-memory connection.
func (s *Server) gateway() (http.Handler, error) {
	mux := runtime.NewServeMux(
		runtime.WithMarshalerOption(runtime.MIMEWildcard, ndjson{&runtime.HTTPBodyMarshaler{Marshaler: &runtime.JSONPb{
			MarshalOptions:   protojson.MarshalOptions{EmitUnpopulated: true},
			UnmarshalOptions: protojson.UnmarshalOptions{DiscardUnknown: true},
		}}}),
		runtime.WithIncomingHeaderMatcher(func(k string) (string, bool) {
			if strings.EqualFold(k, RequestIDHeader) {
				return RequestIDHeader, true
			}
			return runtime.DefaultHeaderMatcher(k)
		}),
		runtime.WithOutgoingHeaderMatcher(func(k string) (string, bool) {
			if k == RequestIDHeader { // the REST middleware sets X-Request-Id
				return "", false
			}
			return runtime.MetadataHeaderPrefix + k, true
		}),
		// An identifier in a path segment may hold any character
		// percent-encoded ("@" as %40, "/" as %2F).
		runtime.WithUnescapingMode(runtime.UnescapingModeAllExceptSlash),
		runtime.WithMiddlewares(decodeSlashes),
	)
	ctx := context.Background() // only used by the generated code's registration
	if err := profilev1.RegisterProfileServiceHandlerClient(ctx, mux, profilev1.NewProfileServiceClient(s.conn)); err != nil {
		return nil, fmt.Errorf("cannot register the ProfileService gateway: %w", err)
	}
	if err := segmentv1.RegisterSegmentServiceHandlerClient(ctx, mux, segmentv1.NewSegmentServiceClient(s.conn)); err != nil {
		return nil, fmt.Errorf("cannot register the SegmentService gateway: %w", err)
	}
	return mux, nil
}

// Register adds to mux:
//
//	/api/v1/workspaces/...                      the REST mapping of ProfileService
//	                                            and SegmentService (api/*/v1/*.yaml)
//	GET /openapi.json                           the OpenAPI 2 document of every service
//	GET    /v1/admin/workspaces/{ws}/tokens     list API tokens       } server admin token,
//	POST   /v1/admin/workspaces/{ws}/tokens     create {"scope","label"} } or an admin-scope
//	DELETE /v1/admin/workspaces/{ws}/tokens/{id} revoke               } token of ws
//
// Every route answers with X-Request-Id and writes an access log line.
func (s *Server) Register(mux *http.ServeMux) {
	mux.Handle(RESTPrefix, s.Middleware(s.gw))
	mux.Handle("GET /openapi.json", s.Middleware(http.HandlerFunc(serveOpenAPI)))
	if s.opts.Tokens != nil {
		mux.Handle("GET /v1/admin/workspaces/{ws}/tokens", s.Middleware(http.HandlerFunc(s.handleListTokens)))
		mux.Handle("POST /v1/admin/workspaces/{ws}/tokens", s.Middleware(http.HandlerFunc(s.handleCreateToken)))
		mux.Handle("DELETE /v1/admin/workspaces/{ws}/tokens/{id}", s.Middleware(http.HandlerFunc(s.handleRevokeToken)))
	}
}

func serveOpenAPI(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Write(api.OpenAPI)
}

// statusWriter records the status for the access log; Unwrap lets
// http.ResponseController flush streamed answers.
type statusWriter struct {
	http.ResponseWriter
	status int
	bytes  int64
	rest   bool // a route of the REST mapping
}

// WriteHeader records the status and, on a 401 of the REST mapping, sets
// a Bearer challenge (grpc-gateway puts the status message there).
func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	if code == http.StatusUnauthorized && w.rest {
		w.Header().Set("WWW-Authenticate", `Bearer realm="cohort"`)
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(b)
	w.bytes += int64(n)
	return n, err
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// streaming reports whether a REST path is a server stream.
func streaming(path string) bool {
	return strings.HasPrefix(path, RESTPrefix) && (strings.HasSuffix(path, "/members") || strings.HasSuffix(path, "/watch"))
}

// workspaceOf returns the {workspace} segment of a path, "" if none.
func workspaceOf(path string) string {
	_, rest, ok := strings.Cut(path, "/workspaces/")
	if !ok {
		return ""
	}
	ws, _, _ := strings.Cut(rest, "/")
	return ws
}

// Middleware gives a request its id (X-Request-Id, accepted from the
// client or generated, echoed in the answer and passed on to gRPC as
// x-request-id metadata), ends streamed answers at shutdown, and writes
// the access log line.
func (s *Server) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		id := r.Header.Get("X-Request-Id")
		if !validRequestID(id) {
			id = newRequestID()
			r.Header.Set("X-Request-Id", id)
		}
		w.Header().Set("X-Request-Id", id)
		if streaming(r.URL.Path) {
			ctx, cancel := context.WithCancel(r.Context())
			defer cancel()
			stop := context.AfterFunc(s.closing, cancel)
			defer stop()
			r = r.WithContext(ctx)
		}
		sw := &statusWriter{ResponseWriter: w, rest: strings.HasPrefix(r.URL.Path, RESTPrefix)}
		next.ServeHTTP(sw, r)
		if sw.status == 0 {
			sw.status = http.StatusOK
		}
		level := slog.LevelInfo
		if sw.status >= 500 && sw.status != http.StatusNotImplemented {
			level = slog.LevelError
		}
		s.log.LogAttrs(r.Context(), level, "http",
			slog.String("method", r.Method),
			slog.String("path", r.URL.Path),
			slog.Int("status", sw.status),
			slog.Duration("took", time.Since(start)),
			slog.String("workspace", workspaceOf(r.URL.Path)),
			slog.String("request_id", id),
			slog.Int64("bytes", sw.bytes),
			slog.String("remote", r.RemoteAddr),
		)
	})
}
