package segmentapi_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/cohortdb/cohort/api/client"
	segmentv1 "github.com/cohortdb/cohort/api/segment/v1"
	"github.com/cohortdb/cohort/delivery/internal/fixture"
	"github.com/cohortdb/cohort/engine"
	"github.com/cohortdb/cohort/engine/column"
	"github.com/cohortdb/cohort/engine/identity"
)

// TestGRPCStreamMembersResume exports a segment of one million members
// through the Go client, interrupts the export after some batches, and
// resumes it from the cursor: every member arrives exactly once, in
// ascending order; then the same with the iterator form and a segment
// with gaps.
func TestGRPCStreamMembersResume(t *testing.T) {
	const n = 1_000_000
	e := newEnv(t, n)
	c := dial(t, e, adminToken)
	ctx := t.Context()
	if s, err := c.CreateSegment(ctx, "big", "all", "SELECT person_id FROM profiles WHERE n >= 1"); err != nil || s.Version != 1 {
		t.Fatalf("create: %v, %v", s, err)
	}
	if got, err := c.CountSegment(ctx, "big", "all"); err != nil || got != n {
		t.Fatalf("count %d, %v", got, err)
	}
	got := make([]uint32, 0, n)
	errStop := errors.New("interrupted")
	batches := 0
	cursor, err := c.StreamMembers(ctx, "big", "all", client.MembersOptions{BatchSize: 7919}, func(ids []uint32, _ string) error {
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
	cursor, err = c.StreamMembers(ctx, "big", "all", client.MembersOptions{Cursor: cursor}, func(ids []uint32, _ string) error {
		if len(ids) > 10_000 {
			t.Fatalf("batch of %d ids, default is 10000", len(ids))
		}
		got = append(got, ids...)
		return nil
	})
	if err != nil || cursor != itoa(n) {
		t.Fatalf("resumed stream: cursor %q, %v", cursor, err)
	}
	if len(got) != n {
		t.Fatalf("%d ids, want %d", len(got), n)
	}
	for i, id := range got {
		if id != uint32(i+1) {
			t.Fatalf("id %d at %d", id, i)
		}
	}

	// A segment with gaps, through the iterator form, interrupted by a
	// broken loop and resumed.
	if _, err := c.CreateSegment(ctx, "big", "upper", "SELECT person_id FROM profiles WHERE n > 600000"); err != nil {
		t.Fatal(err)
	}
	var upper []uint32
	last := ""
	for b, err := range c.Members(ctx, "big", "upper", client.MembersOptions{BatchSize: 100_000}) {
		if err != nil {
			t.Fatal(err)
		}
		if b.Version != 1 {
			t.Fatalf("version %d", b.Version)
		}
		upper = append(upper, b.PersonIds...)
		last = b.Cursor
		break
	}
	for b, err := range c.Members(ctx, "big", "upper", client.MembersOptions{Cursor: last, BatchSize: 1 << 30}) {
		if err != nil {
			t.Fatal(err)
		}
		if len(b.PersonIds) > 100_000 {
			t.Fatalf("batch of %d ids, the maximum is 100000", len(b.PersonIds))
		}
		upper = append(upper, b.PersonIds...)
	}
	if len(upper) != 400_000 || upper[0] != 600_001 || upper[len(upper)-1] != n || !slices.IsSorted(upper) {
		t.Fatalf("upper: %d ids, %d..%d", len(upper), upper[0], upper[len(upper)-1])
	}
	// Resuming after the last member, or past the end, is an empty stream.
	for _, cur := range []string{itoa(n), "4294967295"} {
		if _, err := c.StreamMembers(ctx, "big", "all", client.MembersOptions{Cursor: cur}, func(ids []uint32, _ string) error {
			t.Errorf("cursor %s: %d ids", cur, len(ids))
			return nil
		}); err != nil {
			t.Errorf("cursor %s: %v", cur, err)
		}
	}
}

// TestGRPCStreamMembersCancel: a client that cancels mid-export ends the
// server's stream at once.
func TestGRPCStreamMembersCancel(t *testing.T) {
	e := newEnv(t, 200_000)
	c := dial(t, e, adminToken)
	if _, err := c.CreateSegment(t.Context(), "big", "all", "SELECT person_id FROM profiles"); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	st, err := c.Segments.StreamMembers(ctx, &segmentv1.StreamMembersRequest{Workspace: "big", Name: "all", BatchSize: 10})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Recv(); err != nil {
		t.Fatal(err)
	}
	cancel()
	// 200k members in batches of 10 would take far longer than the wait
	// if the server kept sending.
	waitFor(t, "the server to end the stream", func() bool {
		return slices.ContainsFunc(e.logs.lines("grpc"), func(l map[string]any) bool {
			return l["rpc"] == segmentv1.SegmentService_StreamMembers_FullMethodName && l["code"] == codes.Canceled.String()
		})
	})
}

// TestGRPCErrors: status codes of the segment service through the Go
// client.
func TestGRPCErrors(t *testing.T) {
	e := newEnv(t, 0)
	c := dial(t, e, e.write)
	ctx := t.Context()
	if _, err := c.CreateSegment(ctx, "acme", "pros", "SELECT person_id FROM profiles WHERE plan = 'pro'"); err != nil {
		t.Fatal(err)
	}
	noop := func([]uint32, string) error { return nil }
	for _, tc := range []struct {
		name string
		err  error
		want codes.Code
	}{
		{"create twice", func() error {
			_, err := c.CreateSegment(ctx, "acme", "pros", "SELECT person_id FROM profiles")
			return err
		}(), codes.AlreadyExists},
		{"invalid sql", func() error { _, err := c.CreateSegment(ctx, "acme", "x", "SELECT email FROM profiles"); return err }(), codes.InvalidArgument},
		{"get unknown", func() error { _, err := c.GetSegment(ctx, "acme", "nope"); return err }(), codes.NotFound},
		{"get without name", func() error { _, err := c.GetSegment(ctx, "acme", ""); return err }(), codes.InvalidArgument},
		{"delete unknown", c.DeleteSegment(ctx, "acme", "nope"), codes.NotFound},
		{"count unknown", func() error { _, err := c.CountSegment(ctx, "acme", "nope"); return err }(), codes.NotFound},
		{"preview unknown", func() error { _, err := c.PreviewSegment(ctx, "acme", "nope", 1); return err }(), codes.NotFound},
		{"stream unknown", func() error {
			_, err := c.StreamMembers(ctx, "acme", "nope", client.MembersOptions{}, noop)
			return err
		}(), codes.NotFound},
		{"stream bad cursor", func() error {
			_, err := c.StreamMembers(ctx, "acme", "pros", client.MembersOptions{Cursor: "-1"}, noop)
			return err
		}(), codes.InvalidArgument},
		{"watch unknown", func() error {
			_, err := c.WatchSegment(ctx, "acme", "nope", 0, func(*segmentv1.MembershipEvent) error { return nil })
			return err
		}(), codes.NotFound},
		{"watch without name", func() error {
			_, err := c.WatchSegment(ctx, "acme", "", 0, func(*segmentv1.MembershipEvent) error { return nil })
			return err
		}(), codes.InvalidArgument},
	} {
		if got := status.Code(tc.err); got != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, tc.err, tc.want)
		}
	}
	_, err := c.CreateSegment(ctx, "acme", "x", "SELECT email FROM profiles")
	if st, _ := status.FromError(err); st.Message() != `invalid definition of segment "x": syntax error at position 1 near "SELECT email FROM profiles"` {
		t.Errorf("invalid sql message %q", st.Message())
	}
	// Profiles show memberships.
	p, err := c.GetProfile(ctx, "acme", client.ByID("u2"))
	if err != nil || !slices.Equal(p.Segments, []string{"pros"}) {
		t.Errorf("profile of u2: segments %v, %v", p.GetSegments(), err)
	}
}

// TestGRPCCreateRace: concurrent creations of one name: one succeeds,
// the others are AlreadyExists, and the segment has version 1.
func TestGRPCCreateRace(t *testing.T) {
	e := newEnv(t, 0)
	c := dial(t, e, e.write)
	ctx := t.Context()
	var wg sync.WaitGroup
	codesSeen := make([]codes.Code, 8)
	for i := range codesSeen {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := c.CreateSegment(ctx, "acme", "race", "SELECT person_id FROM profiles")
			codesSeen[i] = status.Code(err)
		}()
	}
	wg.Wait()
	slices.Sort(codesSeen)
	if codesSeen[0] != codes.OK || codesSeen[1] != codes.AlreadyExists || codesSeen[7] != codes.AlreadyExists {
		t.Errorf("codes %v", codesSeen)
	}
	if s, err := c.GetSegment(ctx, "acme", "race"); err != nil || s.Version != 1 {
		t.Errorf("race: %v, %v", s, err)
	}
}

// TestWatchSegment: entries and exits caused by ingest arrive on
// WatchSegment (one segment, and "-" for all) once the manager processed
// the batch, with their sequence; a watch resumes from a sequence
// (inclusive), and REST streams the same events as NDJSON.
func TestWatchSegment(t *testing.T) {
	e := newEnv(t, 0)
	c := dial(t, e, e.read)
	w := dial(t, e, e.write)
	ctx := t.Context()
	for name, sql := range map[string]string{
		"pros":  "SELECT person_id FROM profiles WHERE plan = 'pro'",
		"frees": "SELECT person_id FROM profiles WHERE plan = 'free'",
	} {
		if _, err := w.CreateSegment(ctx, "acme", name, sql); err != nil {
			t.Fatal(err)
		}
	}
	wctx, stop := context.WithCancel(ctx)
	defer stop()
	open := func(name string) chan *segmentv1.MembershipEvent {
		st, err := c.Segments.WatchSegment(wctx, &segmentv1.WatchSegmentRequest{Workspace: "acme", Name: name})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := st.Header(); err != nil { // sent once the start is fixed
			t.Fatal(err)
		}
		out := make(chan *segmentv1.MembershipEvent, 100)
		go func() {
			defer close(out)
			for {
				ev, err := st.Recv()
				if err != nil {
					if !errors.Is(err, io.EOF) && status.Code(err) != codes.Canceled {
						t.Errorf("watch %s: %v", name, err)
					}
					return
				}
				out <- ev
			}
		}()
		return out
	}
	pros, all := open("pros"), open("-")

	// u2 (pro) becomes free; u3 arrives as pro.
	u2 := e.f.Person(t, fixture.UID("u2"))
	e.f.Apply(t, identify("u2", "free"), identify("u3", "pro"))
	if err := e.manager(t, "acme").Flush(ctx); err != nil {
		t.Fatal(err)
	}
	u3 := e.f.Person(t, fixture.UID("u3"))
	recv := func(ch chan *segmentv1.MembershipEvent, n int) []*segmentv1.MembershipEvent {
		t.Helper()
		var out []*segmentv1.MembershipEvent
		timeout := time.After(10 * time.Second)
		for len(out) < n {
			select {
			case ev := <-ch:
				out = append(out, ev)
			case <-timeout:
				t.Fatalf("%d of %d events", len(out), n)
			}
		}
		return out
	}
	type ev struct {
		seg     string
		person  uint32
		entered bool
	}
	key := func(e *segmentv1.MembershipEvent) ev { return ev{e.Segment, e.PersonId, e.Entered} }
	evs := recv(pros, 2)
	var got []ev
	for _, x := range evs {
		got = append(got, key(x))
		if x.Workspace != "acme" || x.Version != 1 || x.Cause != "ingest" || x.Time == nil || x.Sequence == 0 {
			t.Errorf("event %+v", x)
		}
	}
	want := []ev{{"pros", u2, false}, {"pros", u3, true}}
	sortEv := func(s []ev) {
		slices.SortFunc(s, func(a, b ev) int {
			if a.seg != b.seg {
				return map[bool]int{true: -1, false: 1}[a.seg < b.seg]
			}
			return int(a.person) - int(b.person)
		})
	}
	sortEv(got)
	if !slices.Equal(got, want) {
		t.Errorf("pros events %v, want %v", got, want)
	}
	allEvs := recv(all, 3)
	got = got[:0]
	for _, x := range allEvs {
		got = append(got, key(x))
	}
	sortEv(got)
	if want := []ev{{"frees", u2, true}, {"pros", u2, false}, {"pros", u3, true}}; !slices.Equal(got, want) {
		t.Errorf("all events %v, want %v", got, want)
	}
	if !slices.IsSortedFunc(allEvs, func(a, b *segmentv1.MembershipEvent) int { return int(a.Sequence) - int(b.Sequence) }) {
		t.Errorf("sequences not ascending")
	}

	// Resume: from the first event's sequence (inclusive), and after it.
	first := allEvs[0].Sequence
	resumed := func(from uint64, n int) []ev {
		t.Helper()
		var out []ev
		errEnough := errors.New("enough")
		rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		next, err := c.WatchSegment(rctx, "acme", "-", from, func(x *segmentv1.MembershipEvent) error {
			out = append(out, key(x))
			if len(out) == n {
				return errEnough
			}
			return nil
		})
		if !errors.Is(err, errEnough) || next <= from {
			t.Fatalf("watch from %d: next %d, %v", from, next, err)
		}
		return out
	}
	if got := resumed(first, 3); !slices.Equal(got, []ev{key(allEvs[0]), key(allEvs[1]), key(allEvs[2])}) {
		t.Errorf("from %d: %v", first, got)
	}
	if got := resumed(first+1, 2); !slices.Equal(got, []ev{key(allEvs[1]), key(allEvs[2])}) {
		t.Errorf("from %d: %v", first+1, got)
	}
	if got := resumed(1, 3); !slices.Equal(got, []ev{key(allEvs[0]), key(allEvs[1]), key(allEvs[2])}) {
		t.Errorf("from 1 (the start): %v", got)
	}

	// REST: NDJSON from a sequence; the stream stays open, so read the
	// expected lines and hang up.
	rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	lines, err := ndjson(rctx, e.http.URL+"/api/v1/workspaces/acme/segments/pros/watch?fromSequence="+itoa64(first), e.read, 2)
	if err != nil {
		t.Fatal(err)
	}
	for i, l := range lines {
		r := l["result"].(map[string]any)
		if r["segment"] != "pros" || r["sequence"] != itoa64(evs[i].Sequence) || r["personId"] != float64(evs[i].PersonId) {
			t.Errorf("REST line %d: %v, want %v", i, l, evs[i])
		}
	}
}

// identify sets the plan of user uid.
func identify(uid, plan string) engine.Op {
	return engine.Op{Kind: engine.OpIdentify, IDs: []identity.ID{fixture.UID(uid)}, At: fixture.At(20), Source: "t-" + uid + "-" + plan,
		Traits: []engine.Field{{Name: "plan", Value: column.String(plan)}}}
}

func itoa64(x uint64) string { return strconv.FormatUint(x, 10) }

// ndjson reads n lines of a streamed REST answer and hangs up.
func ndjson(ctx context.Context, url, token string, n int) ([]map[string]any, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, "GET", url, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/x-ndjson" {
		b, _ := io.ReadAll(resp.Body)
		return nil, fmt.Errorf("HTTP %d %q: %s", resp.StatusCode, resp.Header.Get("Content-Type"), b)
	}
	var out []map[string]any
	sc := bufio.NewScanner(resp.Body)
	for len(out) < n && sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			return nil, fmt.Errorf("line %q: %w", sc.Text(), err)
		}
		out = append(out, m)
	}
	if len(out) < n {
		return out, fmt.Errorf("%d of %d lines: %v", len(out), n, sc.Err())
	}
	return out, nil
}
