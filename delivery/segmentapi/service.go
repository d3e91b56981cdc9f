// Package segmentapi serves api/segment/v1's SegmentService over the
// segment managers of engine/segment and the durable side of segments in
// delivery/segstore:
//
//	CreateSegment   compile the SQL (Options.Compile: the SQL frontend),
//	                then Manager.Define; invalid SQL is InvalidArgument with
//	                the compiler's message, an existing name without replace
//	                AlreadyExists
//	GetSegment,     Manager.Get / List (paged by name) / Drop
//	ListSegments,
//	DeleteSegment
//	CountSegment    the real-time membership's size
//	PreviewSegment  the first members (ascending person id) with profile
//	                attributes read from the workspace's latest snapshot
//	StreamMembers   a frozen copy of the membership (a bitmap: 1 bit per
//	                person, never a list of ids) walked with Members.Next,
//	                one batch of packed ids per message; the cursor is the
//	                last id sent, so a stream resumes after it
//	WatchSegment    segment.entered / segment.exited events from the
//	                JetStream stream (segstore.Watch); the sequence is
//	                segstore.Position.Uint64
//
// Authentication and scopes are the transport's (delivery/apiserver);
// this package answers every call it gets. Errors are gRPC statuses:
// InvalidArgument, NotFound (workspace or segment), AlreadyExists,
// FailedPrecondition (WatchSegment without a store), Unavailable (the
// segment manager stopped), Canceled/DeadlineExceeded, Internal.
//
// Memberships adapts the registry to profile.Memberships, for the
// segments shown in a profile.
package segmentapi

import (
	"context"
	"encoding/base64"
	"errors"
	"log/slog"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	profilev1 "github.com/cohortdb/cohort/api/profile/v1"
	segmentv1 "github.com/cohortdb/cohort/api/segment/v1"
	"github.com/cohortdb/cohort/delivery/profile"
	"github.com/cohortdb/cohort/delivery/segstore"
	"github.com/cohortdb/cohort/engine"
	"github.com/cohortdb/cohort/engine/segment"
)

// CompileFunc compiles a segment definition of a workspace (sqlfront's
// Server.CompileSegment). Its error's message is shown to the caller as
// the reason of the rejection.
type CompileFunc func(ctx context.Context, workspace, sql string) (engine.Cond, error)

// Options configure a Service.
type Options struct {
	// Engine holds the workspaces (required).
	Engine *engine.Engine
	// Registry holds the segment managers (required); it must be running
	// (Registry.Run) for CreateSegment and DeleteSegment.
	Registry *segment.Registry
	// Compile compiles definitions (required for CreateSegment; nil:
	// CreateSegment answers FailedPrecondition).
	Compile CompileFunc
	// Store serves WatchSegment; nil: WatchSegment answers
	// FailedPrecondition.
	Store *segstore.Store
	// Logger; default slog.Default().
	Logger *slog.Logger
}

// Limits of the requests' sizes: default and maximum.
const (
	DefaultPageSize  = 100
	MaxPageSize      = 1000
	DefaultPreview   = 10
	MaxPreview       = 1000
	DefaultBatchSize = 10_000
	MaxBatchSize     = 100_000
)

// Service implements segmentv1.SegmentServiceServer.
type Service struct {
	segmentv1.UnimplementedSegmentServiceServer
	opts Options
}

var _ segmentv1.SegmentServiceServer = (*Service)(nil)

// New returns a service.
func New(opts Options) (*Service, error) {
	if opts.Engine == nil || opts.Registry == nil {
		return nil, errors.New("cannot create the segment service: an engine and a segment registry are required")
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	return &Service{opts: opts}, nil
}

// Memberships returns the segments of a person from reg, for
// profile.Options.Memberships.
func Memberships(reg *segment.Registry) profile.Memberships { return memberships{reg} }

type memberships struct{ reg *segment.Registry }

func (m memberships) Of(ws string, p uint32) []string {
	mgr, ok := m.reg.Lookup(ws)
	if !ok {
		return nil
	}
	return mgr.Of(p)
}

// workspace returns the engine's workspace ws.
func (s *Service) workspace(ws string) (*engine.Workspace, error) {
	if ws == "" {
		return nil, status.Error(codes.InvalidArgument, "workspace is required")
	}
	w, err := s.opts.Engine.Workspace(ws)
	if errors.Is(err, engine.ErrNoWorkspace) {
		return nil, status.Errorf(codes.NotFound, "no workspace %q", ws)
	}
	if err != nil {
		return nil, status.Errorf(codes.Internal, "cannot open workspace %q: %v", ws, err)
	}
	return w, nil
}

// manager returns ws's segment manager; ok is false when the workspace
// exists but has never had a segment manager (so no segments).
func (s *Service) manager(ws string) (m *segment.Manager, ok bool, err error) {
	if _, err := s.workspace(ws); err != nil {
		return nil, false, err
	}
	m, ok = s.opts.Registry.Lookup(ws)
	return m, ok, nil
}

// lookup returns the manager of a segment that must exist.
func (s *Service) lookup(ws, name string) (*segment.Manager, segment.Info, error) {
	if name == "" {
		return nil, segment.Info{}, status.Error(codes.InvalidArgument, "name is required")
	}
	m, ok, err := s.manager(ws)
	if err != nil {
		return nil, segment.Info{}, err
	}
	if ok {
		if info, found := m.Get(name); found {
			return m, info, nil
		}
	}
	return nil, segment.Info{}, notFound(ws, name)
}

func notFound(ws, name string) error {
	return status.Errorf(codes.NotFound, "no segment %q in workspace %q", name, ws)
}

// statusOf maps an error of the segment manager to a status: the
// context's if it ended.
func statusOf(ctx context.Context, err error) error {
	if err == nil {
		return nil
	}
	if _, ok := status.FromError(err); ok {
		return err
	}
	switch {
	case ctx.Err() != nil:
		return status.FromContextError(ctx.Err()).Err()
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return status.FromContextError(err).Err()
	case errors.Is(err, segment.ErrNotFound):
		return status.Error(codes.NotFound, err.Error())
	case errors.Is(err, segment.ErrInvalidName):
		return status.Error(codes.InvalidArgument, err.Error())
	case errors.Is(err, segment.ErrStopped):
		return status.Error(codes.Unavailable, err.Error())
	case errors.Is(err, engine.ErrNoWorkspace):
		return status.Error(codes.NotFound, err.Error())
	}
	return status.Error(codes.Internal, err.Error())
}

// segmentOf converts a segment's Info.
func segmentOf(ws string, info segment.Info) *segmentv1.Segment {
	return &segmentv1.Segment{
		Workspace:   ws,
		Name:        info.Name,
		Sql:         info.SQL,
		Description: info.Description,
		Version:     uint32(info.Version),
		CreatedAt:   timestamp(info.CreatedAt),
		UpdatedAt:   timestamp(info.UpdatedAt),
	}
}

func timestamp(t time.Time) *timestamppb.Timestamp {
	if t.IsZero() {
		return nil
	}
	return timestamppb.New(t)
}

// CreateSegment implements SegmentService.CreateSegment.
func (s *Service) CreateSegment(ctx context.Context, r *segmentv1.CreateSegmentRequest) (*segmentv1.Segment, error) {
	ws, name := r.GetWorkspace(), r.GetName()
	w, err := s.workspace(ws)
	if err != nil {
		return nil, err
	}
	if name == "" {
		return nil, status.Error(codes.InvalidArgument, "name is required")
	}
	if r.GetSql() == "" {
		return nil, status.Error(codes.InvalidArgument, "sql is required: SELECT person_id FROM profiles WHERE ...")
	}
	if s.opts.Compile == nil {
		return nil, status.Error(codes.FailedPrecondition, "segments cannot be defined: the server has no SQL frontend (mysql_addr is empty)")
	}
	m := s.opts.Registry.Manager(w)
	// A cheap early answer; Define checks again in the same step as the
	// definition (Create), so concurrent creators (API or SQL) cannot both
	// win.
	if old, ok := m.Get(name); ok && !r.GetReplace() {
		return nil, alreadyExists(ws, name, old.Version)
	}
	cond, err := s.opts.Compile(ctx, ws, r.GetSql())
	if err != nil {
		if ctx.Err() != nil || errors.Is(err, engine.ErrNoWorkspace) {
			return nil, statusOf(ctx, err)
		}
		return nil, status.Errorf(codes.InvalidArgument, "invalid definition of segment %q: %v", name, err)
	}
	// What the compiler accepted must also compile for point evaluation
	// (the real-time path); check before the full evaluation so that a
	// definition the engine cannot keep current is the caller's error.
	if _, err := w.Snapshot().CompilePoints([]engine.Cond{cond}, time.Now(), nil); err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "invalid definition of segment %q: %v", name, err)
	}
	info, err := m.Define(ctx, segment.Definition{Name: name, SQL: r.GetSql(), Description: r.GetDescription(), Cond: cond, Create: !r.GetReplace()})
	if errors.Is(err, segment.ErrExists) {
		old, _ := m.Get(name)
		return nil, alreadyExists(ws, name, old.Version)
	}
	if err != nil {
		return nil, statusOf(ctx, err)
	}
	s.opts.Logger.Info("segment created", "workspace", ws, "segment", name, "version", info.Version, "members", info.Members)
	return segmentOf(ws, info), nil
}

// GetSegment implements SegmentService.GetSegment.
func (s *Service) GetSegment(_ context.Context, r *segmentv1.GetSegmentRequest) (*segmentv1.Segment, error) {
	_, info, err := s.lookup(r.GetWorkspace(), r.GetName())
	if err != nil {
		return nil, err
	}
	return segmentOf(r.GetWorkspace(), info), nil
}

// ListSegments implements SegmentService.ListSegments: segments by name,
// a page after the name its token holds.
func (s *Service) ListSegments(_ context.Context, r *segmentv1.ListSegmentsRequest) (*segmentv1.ListSegmentsResponse, error) {
	after := ""
	if t := r.GetPageToken(); t != "" {
		b, err := base64.RawURLEncoding.DecodeString(t)
		if err != nil || len(b) == 0 {
			return nil, status.Errorf(codes.InvalidArgument, "bad page_token %q", t)
		}
		after = string(b)
	}
	size := DefaultPageSize
	if n := r.GetPageSize(); n > 0 {
		size = min(int(n), MaxPageSize)
	}
	m, ok, err := s.manager(r.GetWorkspace())
	if err != nil {
		return nil, err
	}
	out := &segmentv1.ListSegmentsResponse{Segments: []*segmentv1.Segment{}}
	if !ok {
		return out, nil
	}
	all := m.List() // by name
	more := false
	for _, info := range all {
		if info.Name <= after {
			continue
		}
		if len(out.Segments) == size {
			more = true
			break
		}
		out.Segments = append(out.Segments, segmentOf(r.GetWorkspace(), info))
	}
	if more {
		out.NextPageToken = base64.RawURLEncoding.EncodeToString([]byte(out.Segments[len(out.Segments)-1].Name))
	}
	return out, nil
}

// DeleteSegment implements SegmentService.DeleteSegment.
func (s *Service) DeleteSegment(ctx context.Context, r *segmentv1.DeleteSegmentRequest) (*segmentv1.DeleteSegmentResponse, error) {
	m, _, err := s.lookup(r.GetWorkspace(), r.GetName())
	if err != nil {
		return nil, err
	}
	if err := m.Drop(ctx, r.GetName()); err != nil {
		if errors.Is(err, segment.ErrNotFound) {
			return nil, notFound(r.GetWorkspace(), r.GetName())
		}
		return nil, statusOf(ctx, err)
	}
	s.opts.Logger.Info("segment deleted", "workspace", r.GetWorkspace(), "segment", r.GetName())
	return &segmentv1.DeleteSegmentResponse{}, nil
}

// CountSegment implements SegmentService.CountSegment.
func (s *Service) CountSegment(_ context.Context, r *segmentv1.CountSegmentRequest) (*segmentv1.CountSegmentResponse, error) {
	_, info, err := s.lookup(r.GetWorkspace(), r.GetName())
	if err != nil {
		return nil, err
	}
	return &segmentv1.CountSegmentResponse{Count: uint64(max(info.Members, 0)), Version: uint32(info.Version)}, nil
}

// PreviewSegment implements SegmentService.PreviewSegment: the members
// with the lowest person ids, with the asked attributes of their profile
// in the workspace's latest snapshot.
func (s *Service) PreviewSegment(_ context.Context, r *segmentv1.PreviewSegmentRequest) (*segmentv1.PreviewSegmentResponse, error) {
	m, _, err := s.lookup(r.GetWorkspace(), r.GetName())
	if err != nil {
		return nil, err
	}
	w, err := s.workspace(r.GetWorkspace())
	if err != nil {
		return nil, err
	}
	limit := DefaultPreview
	if n := r.GetLimit(); n > 0 {
		limit = min(int(n), MaxPreview)
	}
	snap := w.Snapshot()
	schema := snap.Profiles.Schema
	attrs := r.GetAttributes()
	for _, a := range attrs {
		if _, ok := schema.Lookup(a); !ok {
			return nil, status.Errorf(codes.InvalidArgument, "no profile attribute %q in workspace %q", a, r.GetWorkspace())
		}
	}
	ms, err := m.Members(r.GetName())
	if err != nil {
		if errors.Is(err, segment.ErrNotFound) {
			return nil, notFound(r.GetWorkspace(), r.GetName())
		}
		return nil, status.Error(codes.Internal, err.Error())
	}
	ids := ms.Next(0, limit, make([]uint32, 0, limit))
	out := &segmentv1.PreviewSegmentResponse{Members: make([]*segmentv1.Member, len(ids)), Version: uint32(ms.Info.Version)}
	for i, p := range ids {
		mem := &segmentv1.Member{PersonId: p, Attributes: map[string]*profilev1.Value{}}
		out.Members[i] = mem
		if len(attrs) == 0 {
			continue
		}
		chunk, row := snap.ProfileRow(p)
		if chunk == nil {
			continue // erased or merged since the membership was copied
		}
		for _, a := range attrs {
			d, _ := schema.Lookup(a)
			if v := profile.ValueOf(chunk.Col(d.Index).Value(row, d)); v != nil {
				mem.Attributes[a] = v
			}
		}
	}
	return out, nil
}

func alreadyExists(ws, name string, version int64) error {
	return status.Errorf(codes.AlreadyExists, "segment %q already exists in workspace %q (version %d); set replace to define a new version", name, ws, version)
}
