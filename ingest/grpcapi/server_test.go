package grpcapi

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	ingestv1 "github.com/cohortdb/cohort/api/ingest/v1"
	"github.com/cohortdb/cohort/engine"
	"github.com/cohortdb/cohort/engine/column"
	"github.com/cohortdb/cohort/engine/identity"
	"github.com/cohortdb/cohort/ingest"
)

// stack is an in-process ingest service (embedded NATS) with the gRPC
// server on a free port and the gateway on an httptest server.
type stack struct {
	t      *testing.T
	eng    *engine.Engine
	svc    *ingest.Service
	client ingestv1.IngestServiceClient
	http   *httptest.Server
	keyA   string
	keyB   string
}

func startStack(t *testing.T) *stack {
	t.Helper()
	ctx := t.Context()
	eng := engine.New(engine.Options{})
	svc, err := ingest.New(ctx, eng, ingest.Options{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	svc.Start(ctx)
	t.Cleanup(func() {
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := svc.Shutdown(sctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	})
	if err := svc.WaitCaughtUp(ctx); err != nil {
		t.Fatal(err)
	}
	s := &stack{t: t, eng: eng, svc: svc}
	if s.keyA, err = svc.EnsureWorkspaceKey(ctx, "alpha", "test"); err != nil {
		t.Fatal(err)
	}
	if s.keyB, err = svc.EnsureWorkspaceKey(ctx, "beta", "test"); err != nil {
		t.Fatal(err)
	}
	srv := New(Options{Keys: svc.Keys(), Sink: svc, Schema: svc.Schema})

	g := grpc.NewServer()
	srv.Register(g)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go g.Serve(ln)
	t.Cleanup(g.Stop)
	conn, err := grpc.NewClient(ln.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	s.client = ingestv1.NewIngestServiceClient(conn)

	gw, err := srv.Gateway(ctx)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/api/v1/", gw)
	s.http = httptest.NewServer(mux)
	t.Cleanup(s.http.Close)
	return s
}

func (s *stack) auth(key string) context.Context {
	return metadata.AppendToOutgoingContext(s.t.Context(), "authorization", "Bearer "+key)
}

func (s *stack) sync() {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(s.t.Context(), 10*time.Second)
	defer cancel()
	if err := s.svc.Sync(ctx); err != nil {
		s.t.Fatal(err)
	}
}

func (s *stack) snap(ws string) *engine.Snapshot {
	s.t.Helper()
	w, err := s.eng.Workspace(ws)
	if err != nil {
		s.t.Fatal(err)
	}
	return w.Snapshot()
}

// trait returns a profile attribute of the person holding user id uid.
func (s *stack) trait(ws, uid, name string) column.Value {
	s.t.Helper()
	snap := s.snap(ws)
	p, ok := snap.Graph.Lookup(identity.ID{Type: identity.TypeUserID, Value: uid})
	if !ok {
		s.t.Fatalf("%s: no person with user id %q", ws, uid)
	}
	c, off := snap.ProfileRow(p)
	if c == nil {
		s.t.Fatalf("%s: no profile row for %q", ws, uid)
	}
	d, ok := snap.Profiles.Schema.Lookup(name)
	if !ok || d.Index >= len(c.Cols) {
		return column.Value{}
	}
	return c.Col(d.Index).Value(off, d)
}

func (s *stack) post(path, body string, hdr ...string) (int, map[string]any) {
	s.t.Helper()
	req, err := http.NewRequest("POST", s.http.URL+path, strings.NewReader(body))
	if err != nil {
		s.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		s.t.Fatalf("POST %s: %d, body not JSON: %q", path, resp.StatusCode, b)
	}
	return resp.StatusCode, m
}

func mustStruct(t *testing.T, m map[string]any) *structpb.Struct {
	t.Helper()
	st, err := structpb.NewStruct(m)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func TestGRPCCalls(t *testing.T) {
	s := startStack(t)
	ctx := s.auth(s.keyA)
	ts := timestamppb.New(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))

	resp, err := s.client.Identify(ctx, &ingestv1.IdentifyRequest{
		UserId: "u1", AnonymousId: "anon1", MessageId: "m-id-1", Timestamp: ts,
		Traits: mustStruct(t, map[string]any{"email": "u1@example.com", "plan": "pro", "seats": 3}),
	})
	if err != nil || resp.Accepted != 1 {
		t.Fatalf("Identify: %v %v", resp, err)
	}
	if _, err := s.client.Track(ctx, &ingestv1.TrackRequest{
		UserId: "u1", Event: "Order Completed", MessageId: "m-tr-1", Timestamp: ts,
		Properties: mustStruct(t, map[string]any{"total": 12.5}),
	}); err != nil {
		t.Fatalf("Track: %v", err)
	}
	if _, err := s.client.Alias(ctx, &ingestv1.AliasRequest{PreviousId: "anon2", UserId: "u1", MessageId: "m-al-1"}); err != nil {
		t.Fatalf("Alias: %v", err)
	}
	if _, err := s.client.Page(ctx, &ingestv1.PageRequest{AnonymousId: "anon2", Name: "Home", MessageId: "m-pg-1"}); err != nil {
		t.Fatalf("Page: %v", err)
	}
	if _, err := s.client.Group(ctx, &ingestv1.GroupRequest{UserId: "u1", GroupId: "g7", MessageId: "m-gr-1",
		Traits: mustStruct(t, map[string]any{"name": "Acme"})}); err != nil {
		t.Fatalf("Group: %v", err)
	}
	// A retry of an acknowledged message is dropped by the log's dedup.
	if _, err := s.client.Track(ctx, &ingestv1.TrackRequest{UserId: "u1", Event: "Order Completed", MessageId: "m-tr-1"}); err != nil {
		t.Fatalf("Track retry: %v", err)
	}

	// Batch with one bad record: the good ones are kept.
	bresp, err := s.client.Batch(ctx, &ingestv1.BatchRequest{Records: []*ingestv1.Record{
		{Kind: &ingestv1.Record_Track{Track: &ingestv1.TrackRequest{UserId: "u2", Event: "Signed Up", MessageId: "b1"}}},
		{Kind: &ingestv1.Record_Identify{Identify: &ingestv1.IdentifyRequest{UserId: "u2", MessageId: "b2",
			Traits: mustStruct(t, map[string]any{"created_at": "yesterday"})}}},
		{Kind: &ingestv1.Record_Track{Track: &ingestv1.TrackRequest{MessageId: "b3", Event: "x"}}},
		{Kind: &ingestv1.Record_Identify{Identify: &ingestv1.IdentifyRequest{UserId: "u2", MessageId: "b4",
			Traits: mustStruct(t, map[string]any{"plan": "free"})}}},
	}})
	if err != nil {
		t.Fatalf("Batch: %v", err)
	}
	if bresp.Accepted != 2 || len(bresp.Rejected) != 2 {
		t.Fatalf("Batch: accepted %d rejected %v", bresp.Accepted, bresp.Rejected)
	}
	if r := bresp.Rejected[0]; r.Index != 1 || r.Field != "traits.created_at" || r.MessageId != "b2" {
		t.Errorf("rejected[0] = %v", r)
	}
	if r := bresp.Rejected[1]; r.Index != 2 || r.Field != "userId" {
		t.Errorf("rejected[1] = %v", r)
	}

	// Upload: two streamed batches.
	up, err := s.client.Upload(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for b := range 2 {
		var recs []*ingestv1.Record
		for i := range 50 {
			recs = append(recs, &ingestv1.Record{Kind: &ingestv1.Record_Track{Track: &ingestv1.TrackRequest{
				UserId: "u3", Event: "Tick", MessageId: fmt.Sprintf("up-%d-%d", b, i)}}})
		}
		if b == 1 {
			recs[10] = &ingestv1.Record{}
		}
		if err := up.Send(&ingestv1.BatchRequest{Records: recs}); err != nil {
			t.Fatal(err)
		}
	}
	uresp, err := up.CloseAndRecv()
	if err != nil {
		t.Fatalf("Upload: %v", err)
	}
	if uresp.Accepted != 99 || len(uresp.Rejected) != 1 || uresp.Rejected[0].Index != 60 || uresp.Rejected[0].Field != "type" {
		t.Fatalf("Upload: %v", uresp)
	}

	s.sync()
	snap := s.snap("alpha")
	// Events: track, page, signed up, 99 ticks (the retry was dropped).
	if got := snap.Events.Live; got != 1+1+1+99 {
		t.Errorf("events = %d, want 102", got)
	}
	if v := s.trait("alpha", "u1", "plan"); v.S != "pro" {
		t.Errorf("u1 plan = %v", v)
	}
	if v := s.trait("alpha", "u1", "seats"); v.Type != column.TypeInt || v.I != 3 {
		t.Errorf("u1 seats = %#v", v)
	}
	if v := s.trait("alpha", "u1", "group_name"); v.S != "Acme" {
		t.Errorf("u1 group_name = %v", v)
	}
	if v := s.trait("alpha", "u2", "plan"); v.S != "free" {
		t.Errorf("u2 plan = %v", v)
	}
	// The alias linked anon2 to u1.
	p1, _ := snap.Graph.Lookup(identity.ID{Type: identity.TypeUserID, Value: "u1"})
	p2, ok := snap.Graph.Lookup(identity.ID{Type: identity.TypeAnonymousID, Value: "anon2"})
	if !ok || snap.Graph.Canonical(p1) != snap.Graph.Canonical(p2) {
		t.Errorf("anon2 not linked to u1")
	}
	// Nothing leaked into the other workspace.
	if got := s.snap("beta").Events.Live; got != 0 {
		t.Errorf("beta has %d events", got)
	}
}

func TestGRPCErrors(t *testing.T) {
	s := startStack(t)
	tr := &ingestv1.TrackRequest{UserId: "u", Event: "e"}
	cases := []struct {
		name string
		md   []string
		code codes.Code
	}{
		{"no key", nil, codes.Unauthenticated},
		{"unknown bearer", []string{"authorization", "Bearer nope"}, codes.Unauthenticated},
		{"unknown x-write-key", []string{"x-write-key", "nope"}, codes.Unauthenticated},
		{"empty bearer", []string{"authorization", "Bearer "}, codes.Unauthenticated},
		{"bearer", []string{"authorization", "Bearer " + s.keyA}, codes.OK},
		{"x-write-key", []string{"x-write-key", s.keyA}, codes.OK},
		{"basic", []string{"authorization", "Basic " + base64.StdEncoding.EncodeToString([]byte(s.keyA+":"))}, codes.OK},
	}
	for _, c := range cases {
		ctx := metadata.AppendToOutgoingContext(t.Context(), c.md...)
		_, err := s.client.Track(ctx, tr)
		if got := status.Code(err); got != c.code {
			t.Errorf("%s: code %v, want %v (%v)", c.name, got, c.code, err)
		}
	}

	// A single bad record: InvalidArgument naming the field.
	_, err := s.client.Identify(s.auth(s.keyA), &ingestv1.IdentifyRequest{UserId: "u",
		Traits: mustStruct(t, map[string]any{"last_seen": "soon"})})
	st := status.Convert(err)
	if st.Code() != codes.InvalidArgument {
		t.Fatalf("bad identify: %v", err)
	}
	var fields []string
	for _, d := range st.Details() {
		if br, ok := d.(*errdetails.BadRequest); ok {
			for _, v := range br.FieldViolations {
				fields = append(fields, v.Field)
			}
		}
	}
	if len(fields) != 1 || fields[0] != "traits.last_seen" {
		t.Errorf("field violations = %v", fields)
	}
	// A batch with no valid record.
	_, err = s.client.Batch(s.auth(s.keyA), &ingestv1.BatchRequest{Records: []*ingestv1.Record{
		{Kind: &ingestv1.Record_Alias{Alias: &ingestv1.AliasRequest{UserId: "u"}}},
	}})
	st = status.Convert(err)
	if st.Code() != codes.InvalidArgument || len(st.Details()) != 1 {
		t.Fatalf("bad batch: %v", err)
	}
	if br := st.Details()[0].(*errdetails.BadRequest); br.FieldViolations[0].Field != "records[0].previousId" {
		t.Errorf("bad batch field = %q", br.FieldViolations[0].Field)
	}
	// Oversized batch.
	big := strings.Repeat("x", 10<<10)
	var recs []*ingestv1.Record
	for range 60 {
		recs = append(recs, &ingestv1.Record{Kind: &ingestv1.Record_Track{Track: &ingestv1.TrackRequest{UserId: big, Event: "e"}}})
	}
	if _, err := s.client.Batch(s.auth(s.keyA), &ingestv1.BatchRequest{Records: recs}); status.Code(err) != codes.InvalidArgument {
		t.Errorf("600 KB batch: %v", err)
	}
	s.sync()
	if got := s.snap("alpha").Events.Live; got != 3 {
		t.Errorf("events = %d, want 3 (the three authenticated tracks)", got)
	}
}

func TestGateway(t *testing.T) {
	s := startStack(t)
	bearer := "Bearer " + s.keyA

	code, body := s.post("/api/v1/identify", `{"userId":"g1","messageId":"gw-1","traits":{"name":"Ada","age":36},"timestamp":"2026-01-02T03:04:05Z"}`, "Authorization", bearer)
	if code != 200 || body["accepted"] != 1.0 {
		t.Fatalf("identify: %d %v", code, body)
	}
	code, body = s.post("/api/v1/track", `{"userId":"g1","event":"Viewed","properties":{"n":1}}`, "X-Write-Key", s.keyB)
	if code != 200 {
		t.Fatalf("track with X-Write-Key: %d %v", code, body)
	}
	code, body = s.post("/api/v1/alias", `{"userId":"g1","previousId":"a-9"}`, "Authorization", bearer)
	if code != 200 {
		t.Fatalf("alias: %d %v", code, body)
	}
	code, body = s.post("/api/v1/batch", `{"records":[
		{"track":{"userId":"g1","event":"One","messageId":"gw-b1"}},
		{"track":{"userId":"g1","messageId":"gw-b2"}},
		{"identify":{"anonymousId":"a-9","traits":{"city":"Paris"}}}]}`, "Authorization", bearer)
	if code != 200 || body["accepted"] != 2.0 {
		t.Fatalf("batch: %d %v", code, body)
	}
	rej := body["rejected"].([]any)[0].(map[string]any)
	if rej["index"] != 1.0 || rej["field"] != "event" || rej["messageId"] != "gw-b2" {
		t.Errorf("batch rejected = %v", rej)
	}

	// Errors: status codes and a JSON google.rpc.Status body.
	for _, c := range []struct {
		name, path, body string
		hdr              []string
		code             int
		field            string
	}{
		{"no key", "/api/v1/track", `{"userId":"g1","event":"e"}`, nil, 401, ""},
		{"bad key", "/api/v1/track", `{"userId":"g1","event":"e"}`, []string{"Authorization", "Bearer zzz"}, 401, ""},
		{"bad record", "/api/v1/identify", `{"userId":"g1","traits":{"created_at":"nope"}}`, []string{"Authorization", bearer}, 400, "traits.created_at"},
		{"malformed JSON", "/api/v1/track", `{"userId":`, []string{"Authorization", bearer}, 400, ""},
		{"wrong JSON type", "/api/v1/track", `{"userId":5,"event":"e"}`, []string{"Authorization", bearer}, 400, ""},
		{"no valid record", "/api/v1/batch", `{"records":[{"track":{"event":"e"}}]}`, []string{"Authorization", bearer}, 400, "records[0].userId"},
		{"too large", "/api/v1/batch", `{"records":[{"track":{"userId":"` + strings.Repeat("x", 1200<<10) + `","event":"e"}}]}`, []string{"Authorization", bearer}, 400, ""},
	} {
		code, body := s.post(c.path, c.body, c.hdr...)
		if code != c.code {
			t.Errorf("%s: HTTP %d, want %d: %v", c.name, code, c.code, body)
			continue
		}
		if _, ok := body["message"].(string); !ok {
			t.Errorf("%s: no message in %v", c.name, body)
		}
		if c.field != "" {
			b, _ := json.Marshal(body["details"])
			if !strings.Contains(string(b), `"field":"`+c.field+`"`) {
				t.Errorf("%s: details %s do not name %s", c.name, b, c.field)
			}
		}
	}

	s.sync()
	if v := s.trait("alpha", "g1", "name"); v.S != "Ada" {
		t.Errorf("g1 name = %v", v)
	}
	if v := s.trait("alpha", "g1", "city"); v.S != "Paris" {
		t.Errorf("g1 city (via aliased anonymous id) = %v", v)
	}
	if got := s.snap("alpha").Events.Live; got != 1 {
		t.Errorf("alpha events = %d, want 1", got)
	}
	if got := s.snap("beta").Events.Live; got != 1 {
		t.Errorf("beta events = %d, want 1", got)
	}
}
