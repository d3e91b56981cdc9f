package segmentapi

import (
	"errors"
	"strconv"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	segmentv1 "github.com/cohortdb/cohort/api/segment/v1"
	"github.com/cohortdb/cohort/delivery/segstore"
	"github.com/cohortdb/cohort/engine/segment"
)

// StreamMembers implements SegmentService.StreamMembers. The membership
// is copied once (a bitmap of one bit per person of the workspace: 1.25
// MB for 10M persons) and walked batch by batch; only one batch of ids
// exists at a time. A batch's cursor is its last person id: a stream
// resumed from it continues with the members above it in the membership
// of that moment (no gap and no repetition while the membership is
// unchanged). Cancellation is checked once per batch.
func (s *Service) StreamMembers(r *segmentv1.StreamMembersRequest, st grpc.ServerStreamingServer[segmentv1.MembersBatch]) error {
	ctx := st.Context()
	var after uint32
	if c := r.GetCursor(); c != "" {
		n, err := strconv.ParseUint(c, 10, 32)
		if err != nil {
			return status.Errorf(codes.InvalidArgument, "bad cursor %q: want the cursor of a MembersBatch", c)
		}
		after = uint32(n)
	}
	size := DefaultBatchSize
	if n := r.GetBatchSize(); n > 0 {
		size = min(int(n), MaxBatchSize)
	}
	m, _, err := s.lookup(r.GetWorkspace(), r.GetName())
	if err != nil {
		return err
	}
	ms, err := m.Members(r.GetName())
	if err != nil {
		if errors.Is(err, segment.ErrNotFound) {
			return notFound(r.GetWorkspace(), r.GetName())
		}
		return statusOf(ctx, err)
	}
	version := uint32(ms.Info.Version)
	for {
		if err := ctx.Err(); err != nil {
			return status.FromContextError(err).Err()
		}
		// A new slice per batch: a sent message must not be modified
		// (grpc.ServerStream.SendMsg), and the garbage is one batch.
		ids := ms.Next(after, size, make([]uint32, 0, size))
		if len(ids) == 0 {
			return nil
		}
		after = ids[len(ids)-1]
		if err := st.Send(&segmentv1.MembersBatch{PersonIds: ids, Cursor: strconv.FormatUint(uint64(after), 10), Version: version}); err != nil {
			return statusOf(ctx, err)
		}
		if len(ids) < size {
			return nil
		}
	}
}

// WatchSegment implements SegmentService.WatchSegment: the events of the
// workspace's stream from from_sequence (inclusive; 0: those published
// after the call started), filtered by segment unless the name is "-".
// The response header is sent once the start position is fixed: a client
// that waits for it (ClientStream.Header) then misses no event it causes.
func (s *Service) WatchSegment(r *segmentv1.WatchSegmentRequest, st grpc.ServerStreamingServer[segmentv1.MembershipEvent]) error {
	ctx := st.Context()
	ws, name := r.GetWorkspace(), r.GetName()
	if s.opts.Store == nil {
		return status.Error(codes.FailedPrecondition, "segment events are not available: the server has no durable log")
	}
	filter := name
	switch name {
	case "":
		return status.Error(codes.InvalidArgument, `name is required: a segment, or "-" for every segment of the workspace`)
	case "-":
		filter = ""
		if _, err := s.workspace(ws); err != nil {
			return err
		}
	default:
		if _, _, err := s.lookup(ws, name); err != nil {
			return err
		}
	}
	var from segstore.Position
	if x := r.GetFromSequence(); x != 0 {
		from = segstore.PositionOf(x)
		if from.Seq == 0 {
			from = segstore.Position{Seq: 1} // before the first message: from the start
		}
	} else {
		tail, err := s.opts.Store.Tail(ctx)
		if err != nil {
			return statusOf(ctx, err)
		}
		from = tail
	}
	if err := st.SendHeader(nil); err != nil {
		return statusOf(ctx, err)
	}
	err := s.opts.Store.Watch(ctx, ws, filter, from, func(pos segstore.Position, e segstore.Event) error {
		return st.Send(&segmentv1.MembershipEvent{
			Sequence:  pos.Uint64(),
			Workspace: ws,
			Segment:   e.Segment,
			Version:   uint32(e.Version),
			PersonId:  e.Person,
			Entered:   e.Entered,
			Time:      timestamppb.New(e.At),
			Cause:     e.Cause,
		})
	})
	if ctx.Err() != nil {
		return status.FromContextError(ctx.Err()).Err()
	}
	if err != nil {
		return statusOf(ctx, err)
	}
	return nil
}
