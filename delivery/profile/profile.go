// Package profile serves api/profile/v1's ProfileService: the 360° view
// of one person, read from the engine's latest snapshot of a workspace.
//
//	GetProfile  person by any identifier: identifiers, merge log, member
//	            ids, traits as typed values, segment memberships
//	            (Options.Memberships) and the newest events
//	ListEvents  the person's events (merged members' included), newest
//	            first, paged by an opaque token holding (time, event id)
//	GetHistory  the person's attribute changes from profile_history
//	            (Options.History), newest first, paged likewise
//
// Authentication and scopes are the transport's (delivery/apiserver);
// this package answers every call it gets. Errors are gRPC statuses:
// InvalidArgument (no id, a bad page token), NotFound (no such workspace
// or person; an erased person included), FailedPrecondition (history
// without a history source), Canceled/DeadlineExceeded, Internal.
package profile

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	profilev1 "github.com/cohortdb/cohort/api/profile/v1"
	"github.com/cohortdb/cohort/engine"
	"github.com/cohortdb/cohort/engine/column"
	"github.com/cohortdb/cohort/engine/expr"
	"github.com/cohortdb/cohort/engine/identity"
)

// Memberships tells which segments a person belongs to; the segment
// manager implements it.
type Memberships interface {
	// Of returns the names of the segments of workspace ws that canonical
	// person p is a member of now, in any order.
	Of(ws string, p uint32) []string
}

// Change is one profile attribute change as a HistorySource delivers it.
type Change struct {
	Seq       uint64       // the workspace batch that made it (engine.Snapshot.Seq once applied)
	Person    uint32       // the person it was recorded for (before later merges)
	Attribute string       // profile column
	Old, New  column.Value // TypeNull: absent
	At        int64        // µs since the epoch: the time of the operation
	Source    string       // the operation's message id; "" if none
}

// HistorySource reads profile_history (cmd/cohort adapts storage's
// history files, as for the SQL table).
type HistorySource interface {
	// Scan calls fn for every change of workspace ws with from <= At < to,
	// in the order the changes were applied, including changes not yet
	// written to files. An error of fn stops the scan and is returned
	// (possibly wrapped).
	Scan(ctx context.Context, ws string, from, to time.Time, fn func(Change) error) error
}

// Options configure a Service.
type Options struct {
	// Engine holds the workspaces (required).
	Engine *engine.Engine
	// History serves GetHistory; nil: GetHistory answers
	// FailedPrecondition.
	History HistorySource
	// Memberships fills Profile.segments; nil: no memberships.
	Memberships Memberships
	// Logger; default slog.Default().
	Logger *slog.Logger
}

// Page sizes: default and maximum.
const (
	DefaultProfileEvents = 20
	DefaultEventsPage    = 50
	DefaultHistoryPage   = 100
	MaxPage              = 1000
)

// Service implements profilev1.ProfileServiceServer.
type Service struct {
	profilev1.UnimplementedProfileServiceServer
	opts Options
}

var _ profilev1.ProfileServiceServer = (*Service)(nil)

// New returns a service.
func New(opts Options) *Service {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	return &Service{opts: opts}
}

// TypePersonID is the identifier type that names a person by its numeric
// id.
const TypePersonID = "person_id"

// lookupOrder is the order in which an identifier without a type is
// tried, before external ids.
var lookupOrder = [...]string{identity.TypeUserID, identity.TypeEmail, identity.TypeAnonymousID, identity.TypePhone}

// person is a resolved request subject.
type person struct {
	snap    *engine.Snapshot
	id      uint32 // canonical
	matched identity.ID
	merges  []identity.Merge // into id's group, oldest first
	members []uint32         // id and every person merged into it, ascending
}

// find resolves (ws, id, typ) to a person with a profile in the latest
// snapshot.
func (s *Service) find(ctx context.Context, ws, id, typ string) (*person, error) {
	if ws == "" {
		return nil, status.Error(codes.InvalidArgument, "workspace is required")
	}
	if strings.TrimSpace(id) == "" {
		return nil, status.Error(codes.InvalidArgument, "id is required: an identifier value (user id, email, anonymous id, phone, external id) or, with type person_id, a person id")
	}
	w, err := s.opts.Engine.Workspace(ws)
	if errors.Is(err, engine.ErrNoWorkspace) {
		return nil, status.Errorf(codes.NotFound, "no workspace %q", ws)
	}
	if err != nil {
		return nil, status.Errorf(codes.Internal, "cannot open workspace %q: %v", ws, err)
	}
	snap := w.Snapshot()
	p := &person{snap: snap}
	switch typ {
	case TypePersonID:
		n, err := strconv.ParseUint(strings.TrimSpace(id), 10, 32)
		if err != nil || n == 0 {
			return nil, status.Errorf(codes.InvalidArgument, "id %q is not a person id (type person_id wants a positive integer)", id)
		}
		p.id = snap.Graph.Canonical(uint32(n))
		p.matched = identity.ID{Type: TypePersonID, Value: strconv.FormatUint(n, 10)}
	case "":
		for _, t := range lookupOrder {
			if c, ok := snap.Graph.Lookup(identity.ID{Type: t, Value: id}); ok {
				p.id, p.matched = c, identity.ID{Type: t, Value: id}
				break
			}
		}
		if p.id == 0 {
			if p.id, p.matched, err = external(ctx, snap, id); err != nil {
				return nil, err
			}
		}
	default:
		if c, ok := snap.Graph.Lookup(identity.ID{Type: typ, Value: id}); ok {
			p.id, p.matched = c, identity.ID{Type: typ, Value: id}
		}
	}
	if p.id == 0 {
		return nil, notFound(ws, id, typ)
	}
	if c, _ := snap.ProfileRow(p.id); c == nil {
		return nil, notFound(ws, id, typ) // erased
	}
	p.merges, p.members = group(snap.Graph, p.id)
	return p, nil
}

func notFound(ws, id, typ string) error {
	if typ == "" {
		return status.Errorf(codes.NotFound, "no person in workspace %q has the identifier %q (tried user_id, email, anonymous_id, phone and external ids)", ws, id)
	}
	return status.Errorf(codes.NotFound, "no person in workspace %q has the identifier %s %q", ws, typ, id)
}

// external finds the oldest attached external id (type "external:*")
// with value id, and its canonical person.
func external(ctx context.Context, snap *engine.Snapshot, id string) (uint32, identity.ID, error) {
	v := strings.TrimSpace(id)
	q := engine.Query{Table: engine.Identities, Where: engine.Where{Expr: expr.And{
		expr.Cmp{Col: engine.ColValue, Op: expr.Eq, Val: expr.Lit(column.String(v))},
		expr.Like{Col: engine.ColType, Pattern: `external:%`},
	}}}
	rows, err := snap.Select(ctx, q, []string{engine.ColType})
	if err != nil {
		return 0, identity.ID{}, statusOf(ctx, fmt.Errorf("cannot look up external ids: %w", err))
	}
	defer rows.Close()
	for rows.Next() {
		cand := identity.ID{Type: rows.Values()[0].S, Value: v}
		if c, ok := snap.Graph.Lookup(cand); ok {
			return c, cand, nil
		}
	}
	if err := rows.Err(); err != nil {
		return 0, identity.ID{}, statusOf(ctx, fmt.Errorf("cannot look up external ids: %w", err))
	}
	return 0, identity.ID{}, nil
}

// group returns the merges into canonical person c's group, oldest
// first, and its members in ascending order.
func group(g *identity.View, c uint32) ([]identity.Merge, []uint32) {
	var merges []identity.Merge
	members := []uint32{c}
	for _, m := range g.MergeLog() {
		if g.Canonical(m.Into) == c {
			merges = append(merges, m)
			members = append(members, m.From)
		}
	}
	slices.Sort(members)
	return merges, slices.Compact(members)
}

// statusOf maps an internal error to a status: the context's if it ended.
func statusOf(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return status.FromContextError(ctx.Err()).Err()
	}
	if _, ok := status.FromError(err); ok {
		return err
	}
	return status.Error(codes.Internal, err.Error())
}

// pageSize applies a default and the maximum.
func pageSize(n uint32, def int) int {
	if n == 0 {
		return def
	}
	return min(int(n), MaxPage)
}

// GetProfile implements ProfileService.GetProfile.
func (s *Service) GetProfile(ctx context.Context, r *profilev1.GetProfileRequest) (*profilev1.Profile, error) {
	p, err := s.find(ctx, r.GetWorkspace(), r.GetId(), r.GetType())
	if err != nil {
		return nil, err
	}
	out := &profilev1.Profile{
		Workspace: r.GetWorkspace(),
		PersonId:  p.id,
		Matched:   &profilev1.Identifier{Type: p.matched.Type, Value: p.matched.Value},
		MemberIds: p.members,
		Traits:    map[string]*profilev1.Value{},
	}
	for _, id := range p.snap.Graph.Identifiers(p.id) {
		out.Identifiers = append(out.Identifiers, &profilev1.Identifier{Type: id.Type, Value: id.Value})
	}
	for _, m := range p.merges {
		out.Merges = append(out.Merges, &profilev1.Merge{
			FromPerson: m.From, IntoPerson: m.Into, Time: micros(m.At),
			Reason: m.Reason, Source: m.Source, Via: &profilev1.Identifier{Type: m.Via.Type, Value: m.Via.Value},
		})
	}
	chunk, row := p.snap.ProfileRow(p.id)
	for _, d := range p.snap.Profiles.Schema.Cols {
		v := chunk.Col(d.Index).Value(row, d)
		switch d.Name {
		case engine.ColPersonID:
		case engine.ColCreatedAt:
			out.CreatedAt = timeOf(v)
		case engine.ColFirstSeen:
			out.FirstSeen = timeOf(v)
		case engine.ColLastSeen:
			out.LastSeen = timeOf(v)
		case engine.ColUpdatedAt:
			out.UpdatedAt = timeOf(v)
		default:
			if pv := ValueOf(v); pv != nil {
				out.Traits[d.Name] = pv
			}
		}
	}
	if m := s.opts.Memberships; m != nil {
		out.Segments = slices.Sorted(slices.Values(m.Of(r.GetWorkspace(), p.id)))
	}
	evs, next, err := events(ctx, p, "", nil, pageSize(r.GetEventsPageSize(), DefaultProfileEvents))
	if err != nil {
		return nil, err
	}
	out.Events, out.NextEventsPageToken = evs, next
	return out, nil
}

// ListEvents implements ProfileService.ListEvents.
func (s *Service) ListEvents(ctx context.Context, r *profilev1.ListEventsRequest) (*profilev1.ListEventsResponse, error) {
	var after *eventKey
	if r.GetPageToken() != "" {
		k, err := decodeEventToken(r.GetPageToken())
		if err != nil {
			return nil, status.Errorf(codes.InvalidArgument, "bad page_token: %v", err)
		}
		after = &k
	}
	p, err := s.find(ctx, r.GetWorkspace(), r.GetId(), r.GetType())
	if err != nil {
		return nil, err
	}
	evs, next, err := events(ctx, p, r.GetName(), after, pageSize(r.GetPageSize(), DefaultEventsPage))
	if err != nil {
		return nil, err
	}
	return &profilev1.ListEventsResponse{PersonId: p.id, Events: evs, NextPageToken: next}, nil
}

// micros converts µs since the epoch to a Timestamp.
func micros(us int64) *timestamppb.Timestamp { return timestamppb.New(time.UnixMicro(us)) }

// timeOf returns a timestamp value as a Timestamp, nil for NULL.
func timeOf(v column.Value) *timestamppb.Timestamp {
	if v.Type != column.TypeTimestamp {
		return nil
	}
	return micros(v.I)
}

// ValueOf converts an engine value; nil for NULL. The segment service
// uses it for previews.
func ValueOf(v column.Value) *profilev1.Value {
	switch v.Type {
	case column.TypeString:
		return &profilev1.Value{Kind: &profilev1.Value_StringValue{StringValue: v.S}}
	case column.TypeInt:
		return &profilev1.Value{Kind: &profilev1.Value_IntValue{IntValue: v.I}}
	case column.TypeFloat:
		return &profilev1.Value{Kind: &profilev1.Value_FloatValue{FloatValue: v.F}}
	case column.TypeBool:
		return &profilev1.Value{Kind: &profilev1.Value_BoolValue{BoolValue: v.B}}
	case column.TypeTimestamp:
		return &profilev1.Value{Kind: &profilev1.Value_TimestampValue{TimestampValue: micros(v.I)}}
	case column.TypeStringList:
		return &profilev1.Value{Kind: &profilev1.Value_StringListValue{StringListValue: &profilev1.StringList{Values: slices.Clone(v.L)}}}
	}
	return nil
}
