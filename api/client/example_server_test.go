package client_test

import (
	"context"
	"io"
	"log/slog"
	"net"
	"strconv"
	"time"

	"google.golang.org/grpc"

	segmentv1 "github.com/cohortdb/cohort/api/segment/v1"
	"github.com/cohortdb/cohort/delivery/apiserver"
	"github.com/cohortdb/cohort/delivery/profile"
	"github.com/cohortdb/cohort/delivery/tokens"
	"github.com/cohortdb/cohort/engine"
	"github.com/cohortdb/cohort/engine/column"
	"github.com/cohortdb/cohort/engine/identity"
)

// members is a SegmentService whose segments have the members 1..n.
type members struct {
	segmentv1.UnimplementedSegmentServiceServer
	n int
}

func (m members) StreamMembers(r *segmentv1.StreamMembersRequest, st grpc.ServerStreamingServer[segmentv1.MembersBatch]) error {
	next := 1
	if r.Cursor != "" {
		c, _ := strconv.Atoi(r.Cursor)
		next = c + 1
	}
	for next <= m.n {
		var ids []uint32
		for ; next <= m.n && len(ids) < int(r.BatchSize); next++ {
			ids = append(ids, uint32(next))
		}
		if err := st.Send(&segmentv1.MembersBatch{PersonIds: ids, Cursor: strconv.Itoa(next - 1), Version: 1}); err != nil {
			return err
		}
	}
	return nil
}

// startServer runs Cohort's API in process (the server's admin token as
// the only credential, no NATS) over a workspace "acme" holding Ann,
// who browsed anonymously before signing up, and returns its address
// and token.
func startServer() (addr, token string, stop func()) {
	eng := engine.New(engine.Options{})
	ws, _ := eng.CreateWorkspace("acme")
	at := time.Date(2025, 11, 1, 9, 0, 0, 0, time.UTC).UnixMicro()
	anon := identity.ID{Type: identity.TypeAnonymousID, Value: "d-1"}
	ann := identity.ID{Type: identity.TypeUserID, Value: "ann"}
	ws.Apply(context.Background(), []engine.Op{
		{Kind: engine.OpTrack, IDs: []identity.ID{anon}, Event: "page_viewed", At: at},
		{Kind: engine.OpIdentify, IDs: []identity.ID{ann, {Type: identity.TypeEmail, Value: "ann@example.com"}}, At: at + 1e6,
			Traits: []engine.Field{{Name: "plan", Value: column.String("pro")}}},
		{Kind: engine.OpAlias, IDs: []identity.ID{anon, ann}, At: at + 2e6},
		{Kind: engine.OpTrack, IDs: []identity.ID{ann}, Event: "checkout", At: at + 3e6},
	})
	token = "example-admin-token"
	srv, err := apiserver.New(apiserver.Options{
		Auth:     tokens.NewAuthenticator(nil, token),
		Profiles: profile.New(profile.Options{Engine: eng}),
		Segments: members{n: 25},
		Logger:   slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		panic(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	go srv.Serve(ln)
	return ln.Addr().String(), token, func() { srv.Shutdown(context.Background()) }
}
