// Package grpcapi serves api/ingest/v1's IngestService over gRPC and, via
// grpc-gateway, as REST under /api/v1/ on the HTTP mux.
//
// Every record is turned into the Segment message it mirrors and decoded by
// ingest/segment (segment.Convert), so gRPC, REST and the Segment HTTP API
// store the same record identically and report the same field-named
// errors. The one difference: google.protobuf.Struct carries every number
// as a double, so an integral number (2.0) in traits or properties becomes
// an int column where JSON "2.0" would be a float.
//
// Status codes (and the HTTP codes the gateway answers with, as a JSON
// google.rpc.Status body):
//
//	Unauthenticated (401)  missing or unknown write key
//	InvalidArgument (400)  a single record rejected, every record of a batch
//	                       rejected, or a batch over 500 KB; details carry
//	                       a google.rpc.BadRequest naming each field
//	Unavailable (503)      the log could not acknowledge; retry
//	OK (200)               accepted records are durable; a batch's
//	                       rejected records are listed in the response
//
// Usage:
//
//	srv := grpcapi.New(grpcapi.Options{Keys: svc.Keys(), Sink: svc})
//	g := grpc.NewServer()
//	srv.Register(g)
//	gw, err := srv.Gateway(ctx)
//	mux.Handle("/api/v1/", gw)
package grpcapi

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	ingestv1 "github.com/cohortdb/cohort/api/ingest/v1"
	"github.com/cohortdb/cohort/engine"
	"github.com/cohortdb/cohort/ingest/norm"
	"github.com/cohortdb/cohort/ingest/segment"
)

// Options configure a Server.
type Options struct {
	// Keys authenticates write keys (required).
	Keys norm.Keys
	// Sink is the durable log (required).
	Sink norm.Sink
	// Schema returns a workspace's column lookup (optional).
	Schema func(workspace string) norm.Schema
	// Now returns the receive time; default time.Now.
	Now func() time.Time
	// Logger; default slog.Default().
	Logger *slog.Logger
}

// Server implements ingestv1.IngestServiceServer.
type Server struct {
	ingestv1.UnimplementedIngestServiceServer
	opts Options
}

// New returns a server.
func New(opts Options) *Server {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	return &Server{opts: opts}
}

// Register registers the service on g.
func (s *Server) Register(g grpc.ServiceRegistrar) { ingestv1.RegisterIngestServiceServer(g, s) }

// WriteKeyHeader is the metadata key (and HTTP header) that may carry the
// write key instead of Authorization.
const WriteKeyHeader = "x-write-key"

// Gateway returns the REST mapping (routes under /api/v1/, see
// api/ingest/v1/ingest.yaml), calling s in process. Authorization and
// X-Write-Key headers are passed on as metadata; request bodies are
// limited to 1 MB (a batch's records still to 500 KB of protobuf).
func (s *Server) Gateway(ctx context.Context) (http.Handler, error) {
	mux := runtime.NewServeMux(
		runtime.WithIncomingHeaderMatcher(func(k string) (string, bool) {
			if strings.EqualFold(k, WriteKeyHeader) {
				return WriteKeyHeader, true
			}
			return runtime.DefaultHeaderMatcher(k)
		}),
	)
	if err := ingestv1.RegisterIngestServiceHandlerServer(ctx, mux, s); err != nil {
		return nil, fmt.Errorf("cannot register the ingest gateway: %w", err)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, 2*segment.MaxBatchBytes)
		mux.ServeHTTP(w, r)
	}), nil
}

// workspace authenticates the call's write key.
func (s *Server) workspace(ctx context.Context) (string, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	key := ""
	if v := md.Get(WriteKeyHeader); len(v) > 0 {
		key = strings.TrimSpace(v[0])
	}
	if v := md.Get("authorization"); key == "" && len(v) > 0 {
		scheme, cred, _ := strings.Cut(strings.TrimSpace(v[0]), " ")
		switch {
		case strings.EqualFold(scheme, "Bearer"):
			key = strings.TrimSpace(cred)
		case strings.EqualFold(scheme, "Basic"):
			if b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(cred)); err == nil {
				key, _, _ = strings.Cut(string(b), ":")
			}
		}
	}
	if key == "" {
		return "", status.Error(codes.Unauthenticated, "missing write key: send \"authorization: Bearer <key>\" or \"x-write-key: <key>\"")
	}
	ws, ok := s.opts.Keys.Workspace(key)
	if !ok {
		return "", status.Error(codes.Unauthenticated, "unknown write key")
	}
	return ws, nil
}

func (s *Server) envelope(ctx context.Context, ws string, sentAt *timestamppb.Timestamp) *segment.Envelope {
	env := &segment.Envelope{ReceivedAt: s.opts.Now(), ClientIP: clientIP(ctx)}
	if sentAt != nil {
		env.SentAt = formatTime(sentAt)
	}
	if s.opts.Schema != nil {
		env.Schema = s.opts.Schema(ws)
	}
	return env
}

// clientIP is the gateway's X-Forwarded-For, else the peer's address.
func clientIP(ctx context.Context) string {
	md, _ := metadata.FromIncomingContext(ctx)
	if v := md.Get("x-forwarded-for"); len(v) > 0 && v[0] != "" {
		ip, _, _ := strings.Cut(v[0], ",")
		return strings.TrimSpace(ip)
	}
	if p, ok := peer.FromContext(ctx); ok && p.Addr != nil {
		if host, _, err := net.SplitHostPort(p.Addr.String()); err == nil {
			return host
		}
		return p.Addr.String()
	}
	return ""
}

func formatTime(t *timestamppb.Timestamp) string {
	return t.AsTime().UTC().Format(time.RFC3339Nano)
}

// Identify implements IngestService.Identify.
func (s *Server) Identify(ctx context.Context, r *ingestv1.IdentifyRequest) (*ingestv1.IngestResponse, error) {
	return s.one(ctx, &ingestv1.Record{Kind: &ingestv1.Record_Identify{Identify: r}})
}

// Track implements IngestService.Track.
func (s *Server) Track(ctx context.Context, r *ingestv1.TrackRequest) (*ingestv1.IngestResponse, error) {
	return s.one(ctx, &ingestv1.Record{Kind: &ingestv1.Record_Track{Track: r}})
}

// Page implements IngestService.Page.
func (s *Server) Page(ctx context.Context, r *ingestv1.PageRequest) (*ingestv1.IngestResponse, error) {
	return s.one(ctx, &ingestv1.Record{Kind: &ingestv1.Record_Page{Page: r}})
}

// Screen implements IngestService.Screen.
func (s *Server) Screen(ctx context.Context, r *ingestv1.PageRequest) (*ingestv1.IngestResponse, error) {
	return s.one(ctx, &ingestv1.Record{Kind: &ingestv1.Record_Screen{Screen: r}})
}

// Group implements IngestService.Group.
func (s *Server) Group(ctx context.Context, r *ingestv1.GroupRequest) (*ingestv1.IngestResponse, error) {
	return s.one(ctx, &ingestv1.Record{Kind: &ingestv1.Record_Group{Group: r}})
}

// Alias implements IngestService.Alias.
func (s *Server) Alias(ctx context.Context, r *ingestv1.AliasRequest) (*ingestv1.IngestResponse, error) {
	return s.one(ctx, &ingestv1.Record{Kind: &ingestv1.Record_Alias{Alias: r}})
}

func (s *Server) one(ctx context.Context, rec *ingestv1.Record) (*ingestv1.IngestResponse, error) {
	ws, err := s.workspace(ctx)
	if err != nil {
		return nil, err
	}
	env := s.envelope(ctx, ws, nil)
	op, err := convert(rec, env)
	if err != nil {
		return nil, invalid(err.Error(), []*ingestv1.Rejected{rejected(0, rec, err)}, "")
	}
	if err := s.append(ctx, ws, []engine.Op{op}); err != nil {
		return nil, err
	}
	return &ingestv1.IngestResponse{Accepted: 1}, nil
}

// Batch implements IngestService.Batch.
func (s *Server) Batch(ctx context.Context, r *ingestv1.BatchRequest) (*ingestv1.IngestResponse, error) {
	ws, err := s.workspace(ctx)
	if err != nil {
		return nil, err
	}
	if n := proto.Size(r); n > segment.MaxBatchBytes {
		return nil, status.Errorf(codes.InvalidArgument, "batch larger than %d KB", segment.MaxBatchBytes>>10)
	}
	ops, rej := s.convertBatch(ctx, ws, r, 0)
	if len(ops) == 0 && len(rej) > 0 {
		return nil, invalid("no valid record in the batch", rej, "records")
	}
	if err := s.append(ctx, ws, ops); err != nil {
		return nil, err
	}
	return &ingestv1.IngestResponse{Accepted: int32(len(ops)), Rejected: rej}, nil
}

// Upload implements IngestService.Upload.
func (s *Server) Upload(stream grpc.ClientStreamingServer[ingestv1.BatchRequest, ingestv1.IngestResponse]) error {
	ctx := stream.Context()
	ws, err := s.workspace(ctx)
	if err != nil {
		return err
	}
	resp := &ingestv1.IngestResponse{}
	base := 0
	for {
		r, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return stream.SendAndClose(resp)
		}
		if err != nil {
			return err
		}
		if n := proto.Size(r); n > segment.MaxBatchBytes {
			return status.Errorf(codes.InvalidArgument, "batch at record %d larger than %d KB", base, segment.MaxBatchBytes>>10)
		}
		ops, rej := s.convertBatch(ctx, ws, r, base)
		if err := s.append(ctx, ws, ops); err != nil {
			return err
		}
		base += len(r.Records)
		resp.Accepted += int32(len(ops))
		resp.Rejected = append(resp.Rejected, rej...)
	}
}

func (s *Server) convertBatch(ctx context.Context, ws string, r *ingestv1.BatchRequest, base int) ([]engine.Op, []*ingestv1.Rejected) {
	env := s.envelope(ctx, ws, r.SentAt)
	ops := make([]engine.Op, 0, len(r.Records))
	var rej []*ingestv1.Rejected
	for i, rec := range r.Records {
		if n := proto.Size(rec); n > segment.MaxEventBytes {
			rej = append(rej, rejected(base+i, rec, norm.Errf("", "record larger than %d KB", segment.MaxEventBytes>>10)))
			continue
		}
		op, err := convert(rec, env)
		if err != nil {
			rej = append(rej, rejected(base+i, rec, err))
			continue
		}
		ops = append(ops, op)
	}
	return ops, rej
}

func (s *Server) append(ctx context.Context, ws string, ops []engine.Op) error {
	if len(ops) == 0 {
		return nil
	}
	if err := s.opts.Sink.Append(ctx, ws, ops); err != nil {
		if ctx.Err() != nil {
			return status.FromContextError(ctx.Err()).Err()
		}
		s.opts.Logger.Error("cannot write to the ingest log", "workspace", ws, "err", err)
		return status.Errorf(codes.Unavailable, "cannot write to the log; retry: %v", err)
	}
	return nil
}

// rejected describes a rejected record.
func rejected(i int, rec *ingestv1.Record, err error) *ingestv1.Rejected {
	rj := &ingestv1.Rejected{Index: int32(i), MessageId: messageID(rec), Error: err.Error()}
	var fe *norm.FieldError
	if errors.As(err, &fe) {
		rj.Field, rj.Error = fe.Field, fe.Reason
	}
	return rj
}

// invalid is an InvalidArgument status whose details name every rejected
// field (google.rpc.BadRequest). prefix names the repeated field holding
// the records ("records"), empty for a single record.
func invalid(msg string, rej []*ingestv1.Rejected, prefix string) error {
	br := &errdetails.BadRequest{}
	for _, r := range rej {
		f := r.Field
		if prefix != "" {
			p := prefix + "[" + strconv.Itoa(int(r.Index)) + "]"
			if f == "" {
				f = p
			} else {
				f = p + "." + f
			}
		}
		br.FieldViolations = append(br.FieldViolations, &errdetails.BadRequest_FieldViolation{Field: f, Description: r.Error})
	}
	st, err := status.New(codes.InvalidArgument, msg).WithDetails(br)
	if err != nil {
		return status.Error(codes.InvalidArgument, msg)
	}
	return st.Err()
}

func messageID(rec *ingestv1.Record) string {
	switch k := rec.GetKind().(type) {
	case *ingestv1.Record_Identify:
		return k.Identify.GetMessageId()
	case *ingestv1.Record_Track:
		return k.Track.GetMessageId()
	case *ingestv1.Record_Page:
		return k.Page.GetMessageId()
	case *ingestv1.Record_Screen:
		return k.Screen.GetMessageId()
	case *ingestv1.Record_Group:
		return k.Group.GetMessageId()
	case *ingestv1.Record_Alias:
		return k.Alias.GetMessageId()
	}
	return ""
}

// convert turns a record into the Segment message it mirrors and decodes
// that with segment.Convert.
func convert(rec *ingestv1.Record, env *segment.Envelope) (engine.Op, error) {
	m, typ := Message(rec)
	if typ == "" {
		return engine.Op{}, norm.Errf("type", "record has no kind (identify, track, page, screen, group or alias)")
	}
	return segment.Convert(m, typ, env)
}

// common holds the fields every record has.
type common interface {
	GetMessageId() string
	GetUserId() string
	GetAnonymousId() string
	GetContext() *structpb.Struct
	GetTimestamp() *timestamppb.Timestamp
	GetSentAt() *timestamppb.Timestamp
}

// Message returns the Segment message a record mirrors and its type ("" if
// the record has no kind).
func Message(rec *ingestv1.Record) (map[string]any, string) {
	var c common
	m := map[string]any{}
	typ := ""
	switch k := rec.GetKind().(type) {
	case *ingestv1.Record_Identify:
		typ, c = "identify", k.Identify
		putStruct(m, "traits", k.Identify.GetTraits())
	case *ingestv1.Record_Track:
		typ, c = "track", k.Track
		putString(m, "event", k.Track.GetEvent())
		putStruct(m, "properties", k.Track.GetProperties())
	case *ingestv1.Record_Page:
		typ, c = "page", k.Page
		putPage(m, k.Page)
	case *ingestv1.Record_Screen:
		typ, c = "screen", k.Screen
		putPage(m, k.Screen)
	case *ingestv1.Record_Group:
		typ, c = "group", k.Group
		putString(m, "groupId", k.Group.GetGroupId())
		putStruct(m, "traits", k.Group.GetTraits())
	case *ingestv1.Record_Alias:
		typ, c = "alias", k.Alias
		putString(m, "previousId", k.Alias.GetPreviousId())
	default:
		return m, ""
	}
	m["type"] = typ
	putString(m, "messageId", c.GetMessageId())
	putString(m, "userId", c.GetUserId())
	putString(m, "anonymousId", c.GetAnonymousId())
	putStruct(m, "context", c.GetContext())
	if t := c.GetTimestamp(); t != nil {
		m["timestamp"] = formatTime(t)
	}
	if t := c.GetSentAt(); t != nil {
		m["sentAt"] = formatTime(t)
	}
	return m, typ
}

func putPage(m map[string]any, p *ingestv1.PageRequest) {
	putString(m, "name", p.GetName())
	putString(m, "category", p.GetCategory())
	putStruct(m, "properties", p.GetProperties())
}

func putString(m map[string]any, k, v string) {
	if v != "" {
		m[k] = v
	}
}

func putStruct(m map[string]any, k string, v *structpb.Struct) {
	if v != nil {
		m[k] = v.AsMap()
	}
}
