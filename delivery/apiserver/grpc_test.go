package apiserver_test

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/cohortdb/cohort/api/client"
	profilev1 "github.com/cohortdb/cohort/api/profile/v1"
	segmentv1 "github.com/cohortdb/cohort/api/segment/v1"
	"github.com/cohortdb/cohort/delivery/apiserver"
	"github.com/cohortdb/cohort/delivery/internal/fixture"
	"github.com/cohortdb/cohort/delivery/tokens"
)

func dial(t testing.TB, e *env, token string) *client.Client {
	t.Helper()
	c, err := client.Dial(e.grpc, token)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// TestGRPCAuth: the Go client against a real listener, every scope and
// workspace combination, request ids echoed in the response header.
func TestGRPCAuth(t *testing.T) {
	e := newEnv(t, envOptions{})
	ctx := t.Context()
	for _, tc := range []struct {
		name  string
		token string
		call  func(c *client.Client) error
		want  codes.Code
	}{
		{"no token", "", func(c *client.Client) error { _, err := c.GetProfile(ctx, "acme", client.ByID("u1")); return err }, codes.Unauthenticated},
		{"unknown token", "nope", func(c *client.Client) error { _, err := c.CountSegment(ctx, "acme", "vip"); return err }, codes.Unauthenticated},
		{"read profile", e.read, func(c *client.Client) error { _, err := c.GetProfile(ctx, "acme", client.ByID("u1")); return err }, codes.OK},
		{"read on beta", e.read, func(c *client.Client) error { _, err := c.GetProfile(ctx, "beta", client.ByID("u1")); return err }, codes.PermissionDenied},
		{"beta on acme", e.betaTok, func(c *client.Client) error { _, err := c.ListSegments(ctx, "acme"); return err }, codes.PermissionDenied},
		{"read creates", e.read, func(c *client.Client) error { _, err := c.CreateSegment(ctx, "acme", "s1", "SELECT 1"); return err }, codes.PermissionDenied},
		{"read deletes", e.read, func(c *client.Client) error { return c.DeleteSegment(ctx, "acme", "vip") }, codes.PermissionDenied},
		{"write creates", e.write, func(c *client.Client) error { _, err := c.CreateSegment(ctx, "acme", "s1", "SELECT 1"); return err }, codes.OK},
		{"write replaces", e.write, func(c *client.Client) error {
			s, err := c.ReplaceSegment(ctx, "acme", "s1", "SELECT 2")
			if err == nil && s.Version != 2 {
				return errors.New("version not bumped")
			}
			return err
		}, codes.OK},
		{"admin deletes", e.admin, func(c *client.Client) error { return c.DeleteSegment(ctx, "acme", "s1") }, codes.OK},
		{"server admin on beta", adminToken, func(c *client.Client) error { _, err := c.ListSegments(ctx, "beta"); return err }, codes.OK},
		{"empty workspace", adminToken, func(c *client.Client) error { _, err := c.CountSegment(ctx, "", "vip"); return err }, codes.InvalidArgument},
		{"read streams", e.read, func(c *client.Client) error {
			_, err := c.StreamMembers(ctx, "acme", "vip", client.MembersOptions{}, func([]uint32, string) error { return nil })
			return err
		}, codes.OK},
		{"beta streams acme", e.betaTok, func(c *client.Client) error {
			_, err := c.StreamMembers(ctx, "acme", "vip", client.MembersOptions{}, func([]uint32, string) error { return nil })
			return err
		}, codes.PermissionDenied},
		{"no token watches", "", func(c *client.Client) error {
			_, err := c.WatchSegment(ctx, "acme", "vip", 0, func(*segmentv1.MembershipEvent) error { return nil })
			return err
		}, codes.Unauthenticated},
	} {
		c := dial(t, e, tc.token)
		if got := status.Code(tc.call(c)); got != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}

	// Request ids: the client's is echoed; a missing one is generated.
	c := dial(t, e, e.read)
	var hdr metadata.MD
	if _, err := c.Profiles.GetProfile(client.WithRequestID(ctx, "grpc-7"), &profilev1.GetProfileRequest{Workspace: "acme", Id: "u1"}, grpc.Header(&hdr)); err != nil {
		t.Fatal(err)
	}
	if got := hdr.Get(apiserver.RequestIDHeader); !slices.Equal(got, []string{"grpc-7"}) {
		t.Errorf("x-request-id %v", got)
	}
	hdr = nil
	if _, err := c.Profiles.GetProfile(ctx, &profilev1.GetProfileRequest{Workspace: "acme", Id: "u1"}, grpc.Header(&hdr)); err != nil {
		t.Fatal(err)
	}
	if got := hdr.Get(apiserver.RequestIDHeader); len(got) != 1 || len(got[0]) != 24 {
		t.Errorf("generated x-request-id %v", got)
	}
	lines := e.logs.lines("grpc")
	if !slices.ContainsFunc(lines, func(l map[string]any) bool {
		return l["request_id"] == "grpc-7" && l["level"] == "INFO" && l["workspace"] == "acme" && l["code"] == "OK"
	}) {
		t.Errorf("no INFO access line for request grpc-7 in %v", lines)
	}
}

// TestGRPCProfile reads a profile, all events and the history through
// the client and compares them with the engine.
func TestGRPCProfile(t *testing.T) {
	e := newEnv(t, envOptions{})
	c := dial(t, e, e.read)
	ctx := t.Context()
	u1 := e.f.Person(t, fixture.UID("u1"))
	for _, who := range []client.Person{client.ByID("a1"), client.ByType("email", "ann@example.com"), client.ByPersonID(u1), client.ByID("C-9")} {
		p, err := c.GetProfile(ctx, "acme", who)
		if err != nil || p.PersonId != u1 {
			t.Errorf("GetProfile(%+v) = %v, %v", who, p.GetPersonId(), err)
		}
	}
	want := e.f.EventsOf(t, u1)
	var got []fixture.Event
	for ev, err := range c.Events(ctx, "acme", client.ByID("u1")) {
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, fixture.Event{ID: ev.EventId, Name: ev.Name, TS: ev.Time.AsTime().UnixMicro(), Person: ev.PersonId})
	}
	if !slices.Equal(got, want) {
		t.Errorf("events %v, engine %v", got, want)
	}
	evs, next, err := c.ListEvents(ctx, "acme", client.ByID("u1"), 2, "")
	if err != nil || len(evs) != 2 || next == "" {
		t.Errorf("first page: %d events, next %q, %v", len(evs), next, err)
	}
	h, err := c.GetHistory(ctx, "acme", client.ByID("u1"), &client.HistoryOptions{Attributes: []string{"plan"}})
	if err != nil || len(h.Changes) != 3 || h.Changes[0].NewValue.GetStringValue() != "enterprise" {
		t.Errorf("history: %v, %v", h, err)
	}
	if _, err := c.GetProfile(ctx, "acme", client.ByID("nobody")); status.Code(err) != codes.NotFound {
		t.Errorf("unknown person: %v", err)
	}
}

// TestGRPCStreamMembersResume exports one million members, interrupts the
// export after some batches, and resumes it from the cursor: every id
// arrives exactly once, in order.
func TestGRPCStreamMembersResume(t *testing.T) {
	const n = 1_000_000
	e := newEnv(t, envOptions{members: n})
	c := dial(t, e, e.read)
	ctx := t.Context()
	var got []uint32
	errStop := errors.New("interrupted")
	batches := 0
	cursor, err := c.StreamMembers(ctx, "acme", "vip", client.MembersOptions{BatchSize: 7919}, func(ids []uint32, _ string) error {
		if batches == 37 {
			return errStop
		}
		batches++
		got = append(got, ids...)
		return nil
	})
	if !errors.Is(err, errStop) || cursor == "" {
		t.Fatalf("interrupted stream: cursor %q, %v", cursor, err)
	}
	if len(got) != 37*7919 {
		t.Fatalf("%d ids before the interruption", len(got))
	}
	// The iterator form, from the cursor.
	for b, err := range c.Members(ctx, "acme", "vip", client.MembersOptions{Cursor: cursor, BatchSize: 50000}) {
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, b.PersonIds...)
	}
	if len(got) != n {
		t.Fatalf("%d ids, want %d", len(got), n)
	}
	for i, id := range got {
		if id != uint32(i+1) {
			t.Fatalf("id %d at %d", id, i)
		}
	}
}

// TestGRPCWatchResume watches from a sequence and resumes after the last
// one received.
func TestGRPCWatchResume(t *testing.T) {
	e := newEnv(t, envOptions{})
	c := dial(t, e, e.read)
	var seqs []uint64
	stop := errors.New("enough")
	next, err := c.WatchSegment(t.Context(), "acme", "vip", 1, func(ev *segmentv1.MembershipEvent) error {
		seqs = append(seqs, ev.Sequence)
		if ev.Sequence == 2 {
			return stop
		}
		return nil
	})
	if !errors.Is(err, stop) || next != 2 || !slices.Equal(seqs, []uint64{1, 2}) {
		t.Fatalf("watch: next %d, seqs %v, %v", next, seqs, err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	next, err = c.WatchSegment(ctx, "acme", "vip", 3, func(ev *segmentv1.MembershipEvent) error {
		seqs = append(seqs, ev.Sequence)
		return nil
	})
	if status.Code(err) != codes.DeadlineExceeded || next != 4 || !slices.Equal(seqs, []uint64{1, 2, 3}) {
		t.Fatalf("resumed watch: next %d, seqs %v, %v", next, seqs, err)
	}
}

// TestShutdownEndsStreams: open watch streams (gRPC and REST) do not hold
// a graceful shutdown.
func TestShutdownEndsStreams(t *testing.T) {
	e := newEnv(t, envOptions{})
	c := dial(t, e, e.read)
	grpcDone := make(chan error, 1)
	started := make(chan struct{}, 2)
	go func() {
		_, err := c.WatchSegment(context.Background(), "acme", "vip", 3, func(*segmentv1.MembershipEvent) error {
			started <- struct{}{}
			return nil
		})
		grpcDone <- err
	}()
	restDone := make(chan int, 1)
	go func() {
		req, _ := http.NewRequest("GET", e.http.URL+"/api/v1/workspaces/acme/segments/vip/watch?fromSequence=3", nil)
		req.Header.Set("Authorization", "Bearer "+e.read)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			restDone <- -1
			return
		}
		started <- struct{}{}
		buf := make([]byte, 4096)
		for {
			if _, err := resp.Body.Read(buf); err != nil {
				break
			}
		}
		resp.Body.Close()
		restDone <- resp.StatusCode
	}()
	<-started
	<-started
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	start := time.Now()
	e.srv.CloseStreams()
	if code := <-restDone; code != 200 {
		t.Errorf("REST watch: HTTP %d", code)
	}
	if err := e.srv.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-grpcDone; status.Code(err) != codes.Unavailable {
		t.Errorf("gRPC watch ended with %v, want Unavailable", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("shutdown took %v", d)
	}
}

// TestScopesCoverEveryMethod: every RPC of the protected services has a
// scope, write exactly for Create/Delete.
func TestScopesCoverEveryMethod(t *testing.T) {
	for _, sd := range []protoreflect.ServiceDescriptor{
		profilev1.File_profile_v1_profile_proto.Services().ByName("ProfileService"),
		segmentv1.File_segment_v1_segment_proto.Services().ByName("SegmentService"),
	} {
		for i := 0; i < sd.Methods().Len(); i++ {
			m := sd.Methods().Get(i)
			full := "/" + string(sd.FullName()) + "/" + string(m.Name())
			want := tokens.ScopeRead
			if m.Name() == "CreateSegment" || m.Name() == "DeleteSegment" {
				want = tokens.ScopeWrite
			}
			if got := apiserver.Scopes[full]; got != want {
				t.Errorf("%s: scope %v, want %v", full, got, want)
			}
		}
	}
}
