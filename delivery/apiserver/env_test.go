package apiserver_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	segmentv1 "github.com/cohortdb/cohort/api/segment/v1"
	"github.com/cohortdb/cohort/delivery/apiserver"
	"github.com/cohortdb/cohort/delivery/internal/fixture"
	"github.com/cohortdb/cohort/delivery/internal/natstest"
	"github.com/cohortdb/cohort/delivery/profile"
	"github.com/cohortdb/cohort/delivery/tokens"
)

const adminToken = "server-admin-token"

// fakeSegments is a SegmentService over an in-memory map whose every
// segment has the members 1..n, streamed in ascending order with the
// last id as cursor, and whose watch sends events 1..3 then waits.
type fakeSegments struct {
	segmentv1.UnimplementedSegmentServiceServer
	n int

	mu   sync.Mutex
	segs map[string]*segmentv1.Segment
}

func (f *fakeSegments) CreateSegment(_ context.Context, r *segmentv1.CreateSegmentRequest) (*segmentv1.Segment, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	key := r.Workspace + "/" + r.Name
	old, ok := f.segs[key]
	if ok && !r.Replace {
		return nil, status.Errorf(codes.AlreadyExists, "segment %q exists", r.Name)
	}
	if strings.Contains(r.Sql, "syntax error") {
		return nil, status.Error(codes.InvalidArgument, "syntax error at position 7")
	}
	s := &segmentv1.Segment{Workspace: r.Workspace, Name: r.Name, Sql: r.Sql, Version: 1, CreatedAt: timestamppb.Now(), UpdatedAt: timestamppb.Now()}
	if ok {
		s.Version, s.CreatedAt = old.Version+1, old.CreatedAt
	}
	f.segs[key] = s
	return s, nil
}

func (f *fakeSegments) get(ws, name string) (*segmentv1.Segment, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	s, ok := f.segs[ws+"/"+name]
	if !ok {
		return nil, status.Errorf(codes.NotFound, "no segment %q in %q", name, ws)
	}
	return s, nil
}

func (f *fakeSegments) GetSegment(_ context.Context, r *segmentv1.GetSegmentRequest) (*segmentv1.Segment, error) {
	return f.get(r.Workspace, r.Name)
}

func (f *fakeSegments) ListSegments(_ context.Context, r *segmentv1.ListSegmentsRequest) (*segmentv1.ListSegmentsResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := &segmentv1.ListSegmentsResponse{}
	for _, s := range f.segs {
		if s.Workspace == r.Workspace {
			out.Segments = append(out.Segments, s)
		}
	}
	return out, nil
}

func (f *fakeSegments) DeleteSegment(_ context.Context, r *segmentv1.DeleteSegmentRequest) (*segmentv1.DeleteSegmentResponse, error) {
	if _, err := f.get(r.Workspace, r.Name); err != nil {
		return nil, err
	}
	f.mu.Lock()
	delete(f.segs, r.Workspace+"/"+r.Name)
	f.mu.Unlock()
	return &segmentv1.DeleteSegmentResponse{}, nil
}

func (f *fakeSegments) CountSegment(_ context.Context, r *segmentv1.CountSegmentRequest) (*segmentv1.CountSegmentResponse, error) {
	s, err := f.get(r.Workspace, r.Name)
	if err != nil {
		return nil, err
	}
	return &segmentv1.CountSegmentResponse{Count: uint64(f.n), Version: s.Version}, nil
}

func (f *fakeSegments) StreamMembers(r *segmentv1.StreamMembersRequest, st grpc.ServerStreamingServer[segmentv1.MembersBatch]) error {
	s, err := f.get(r.Workspace, r.Name)
	if err != nil {
		return err
	}
	next := 1
	if r.Cursor != "" {
		c, err := strconv.Atoi(r.Cursor)
		if err != nil {
			return status.Errorf(codes.InvalidArgument, "bad cursor %q", r.Cursor)
		}
		next = c + 1
	}
	size := int(r.BatchSize)
	if size == 0 {
		size = 10000
	}
	ids := make([]uint32, 0, size)
	for next <= f.n {
		ids = ids[:0]
		for ; next <= f.n && len(ids) < size; next++ {
			ids = append(ids, uint32(next))
		}
		if err := st.Send(&segmentv1.MembersBatch{PersonIds: ids, Cursor: strconv.Itoa(next - 1), Version: s.Version}); err != nil {
			return err
		}
	}
	return nil
}

func (f *fakeSegments) WatchSegment(r *segmentv1.WatchSegmentRequest, st grpc.ServerStreamingServer[segmentv1.MembershipEvent]) error {
	for seq := max(r.FromSequence, 1); seq <= 3; seq++ {
		if err := st.Send(&segmentv1.MembershipEvent{Sequence: seq, Workspace: r.Workspace, Segment: r.Name, Version: 1, PersonId: uint32(seq), Entered: seq%2 == 1, Time: timestamppb.Now(), Cause: "event checkout"}); err != nil {
			return err
		}
	}
	<-st.Context().Done()
	return status.FromContextError(st.Context().Err()).Err()
}

// logBuffer collects JSON log lines.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// lines returns the log records whose message is msg.
func (b *logBuffer) lines(msg string) []map[string]any {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []map[string]any
	sc := bufio.NewScanner(bytes.NewReader(b.buf.Bytes()))
	for sc.Scan() {
		var m map[string]any
		if json.Unmarshal(sc.Bytes(), &m) == nil && m["msg"] == msg {
			out = append(out, m)
		}
	}
	return out
}

// env is a running API server over the fixture workspace "acme" (and an
// empty "beta"), with tokens of every scope.
type env struct {
	f       *fixture.Fixture
	store   *tokens.Store
	srv     *apiserver.Server
	http    *httptest.Server
	grpc    string // address
	logs    *logBuffer
	read    string // tokens of acme
	write   string
	admin   string
	betaTok string // a read token of beta
	segs    *fakeSegments
}

type envOptions struct {
	noSegments bool
	members    int
}

func newEnv(t testing.TB, o envOptions) *env {
	t.Helper()
	f := fixture.New(t)
	if _, err := f.Eng.CreateWorkspace("beta"); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	store, err := tokens.Open(ctx, natstest.JetStream(t, ""), "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(store.Close)
	e := &env{f: f, store: store, logs: &logBuffer{}}
	mk := func(ws string, s tokens.Scope) string {
		_, sec, err := store.Create(ctx, ws, s, "test")
		if err != nil {
			t.Fatal(err)
		}
		return sec
	}
	e.read, e.write, e.admin, e.betaTok = mk("acme", tokens.ScopeRead), mk("acme", tokens.ScopeWrite), mk("acme", tokens.ScopeAdmin), mk("beta", tokens.ScopeRead)
	opts := apiserver.Options{
		Auth:            tokens.NewAuthenticator(store, adminToken),
		Tokens:          store,
		WorkspaceExists: func(ws string) bool { _, err := f.Eng.Workspace(ws); return err == nil },
		Profiles:        profile.New(profile.Options{Engine: f.Eng, History: f.History}),
		Logger:          slog.New(slog.NewJSONHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	if !o.noSegments {
		e.segs = &fakeSegments{n: o.members, segs: map[string]*segmentv1.Segment{}}
		if o.members == 0 {
			e.segs.n = 25
		}
		e.segs.segs["acme/vip"] = &segmentv1.Segment{Workspace: "acme", Name: "vip", Sql: "SELECT person_id FROM profiles WHERE vip", Version: 1}
		opts.Segments = e.segs
	}
	e.srv, err = apiserver.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	e.grpc = ln.Addr().String()
	e.srv.Start()
	served := make(chan error, 1)
	go func() { served <- e.srv.Serve(ln) }()
	mux := http.NewServeMux()
	e.srv.Register(mux)
	e.http = httptest.NewServer(mux)
	t.Cleanup(func() {
		e.http.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := e.srv.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		if err := <-served; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	return e
}

// do sends a request with a bearer token ("" for none) and returns the
// response with its body read.
func (e *env) do(t testing.TB, method, path, token string, body string, hdr ...string) (*http.Response, []byte) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(context.Background(), method, e.http.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, b
}
