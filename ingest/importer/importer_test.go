package importer

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/parquet-go/parquet-go"

	"github.com/cohortdb/cohort/engine"
	"github.com/cohortdb/cohort/engine/column"
	"github.com/cohortdb/cohort/engine/identity"
	"github.com/cohortdb/cohort/ingest"
)

// stack is an in-process server: ingest service (embedded NATS) and the
// Segment API on an httptest server.
type stack struct {
	t   *testing.T
	dir string
	eng *engine.Engine
	svc *ingest.Service
	srv *httptest.Server
	key string
}

func startStack(t *testing.T, dir string) *stack {
	t.Helper()
	ctx := t.Context()
	eng := engine.New(engine.Options{})
	svc, err := ingest.New(ctx, eng, ingest.Options{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	svc.Start(ctx)
	s := &stack{t: t, dir: dir, eng: eng, svc: svc}
	t.Cleanup(s.stop)
	if err := svc.WaitCaughtUp(ctx); err != nil {
		t.Fatal(err)
	}
	if s.key, err = svc.EnsureWorkspaceKey(ctx, "acme", "test"); err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	svc.Register(mux)
	s.srv = httptest.NewServer(mux)
	return s
}

func (s *stack) stop() {
	if s.svc == nil {
		return
	}
	if s.srv != nil {
		s.srv.Close()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.svc.Shutdown(ctx); err != nil {
		s.t.Errorf("shutdown: %v", err)
	}
	s.svc = nil
}

func (s *stack) sink() *HTTPSink { return &HTTPSink{URL: s.srv.URL, WriteKey: s.key} }

func (s *stack) sync() *engine.Snapshot {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(s.t.Context(), 20*time.Second)
	defer cancel()
	if err := s.svc.Sync(ctx); err != nil {
		s.t.Fatal(err)
	}
	w, err := s.eng.Workspace("acme")
	if err != nil {
		s.t.Fatal(err)
	}
	return w.Snapshot()
}

func trait(t *testing.T, snap *engine.Snapshot, uid, name string) column.Value {
	t.Helper()
	p, ok := snap.Graph.Lookup(identity.ID{Type: identity.TypeUserID, Value: uid})
	if !ok {
		t.Fatalf("no person with user id %q", uid)
	}
	c, off := snap.ProfileRow(p)
	if c == nil {
		t.Fatalf("no profile row for %q", uid)
	}
	d, ok := snap.Profiles.Schema.Lookup(name)
	if !ok || d.Index >= len(c.Cols) {
		return column.Value{}
	}
	return c.Col(d.Index).Value(off, d)
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// collect returns Options that gather rejects.
func collect(ws, path string) (Options, *[]Reject) {
	var mu sync.Mutex
	var rejs []Reject
	return Options{Workspace: ws, Path: path, OnReject: func(r Reject) {
		mu.Lock()
		rejs = append(rejs, r)
		mu.Unlock()
	}}, &rejs
}

func wantRejects(t *testing.T, got []Reject, want map[int64]string) {
	t.Helper()
	seen := map[int64]bool{}
	for _, r := range got {
		if seen[r.Line] {
			t.Errorf("line %d reported twice", r.Line)
		}
		seen[r.Line] = true
		f, ok := want[r.Line]
		if !ok {
			t.Errorf("unexpected reject %v", r)
			continue
		}
		if f != r.Field {
			t.Errorf("line %d: field %q, want %q (%s)", r.Line, r.Field, f, r.Reason)
		}
		if r.Reason == "" {
			t.Errorf("line %d: no reason", r.Line)
		}
	}
	for l := range want {
		if !seen[l] {
			t.Errorf("line %d not rejected", l)
		}
	}
}

const ndjsonFile = `{"type":"identify","userId":"u1","traits":{"email":"u1@example.com","plan":"pro","created_at":"2025-01-01T00:00:00Z"}}
{"type":"track","userId":"u1","event":"Order Completed","properties":{"total":10.5},"timestamp":"2026-01-01T10:00:00Z"}
{"type":"page","anonymousId":"a1","name":"Home"}

{"type":"screen","userId":"u1","name":"Settings"}
{"type":"group","userId":"u1","groupId":"g1","traits":{"name":"Acme"}}
{"type":"alias","previousId":"a1","userId":"u1"}
{"type":"track","userId":"u1"
{"type":"track","event":"No Id"}
{"type":"identify","userId":"u2","traits":{"created_at":"last tuesday"}}
{"type":"teleport","userId":"u2"}
[1,2,3]
{"type":"track","userId":"u2","event":"Signed Up","messageId":"own-id-1"}
`

func TestImportNDJSON(t *testing.T) {
	s := startStack(t, t.TempDir())
	path := writeFile(t, "events.ndjson", ndjsonFile)
	opts, rejs := collect("acme", path)
	res, err := Run(t.Context(), s.sink(), opts)
	if err != nil {
		t.Fatal(err)
	}
	if res.Rows != 12 || res.Imported != 7 || res.Rejected != 5 {
		t.Errorf("rows %d imported %d rejected %d, want 12 7 5", res.Rows, res.Imported, res.Rejected)
	}
	wantRejects(t, *rejs, map[int64]string{8: "", 9: "userId", 10: "traits.created_at", 11: "type", 12: ""})
	snap := s.sync()
	if got := snap.Events.Live; got != 4 { // track, page, screen, signed up
		t.Errorf("events = %d, want 4", got)
	}
	if v := trait(t, snap, "u1", "plan"); v.S != "pro" {
		t.Errorf("plan = %v", v)
	}
	if v := trait(t, snap, "u1", "group_name"); v.S != "Acme" {
		t.Errorf("group_name = %v", v)
	}
	// The state says done; a second run does nothing.
	if _, err := Run(t.Context(), s.sink(), opts); !errors.Is(err, ErrAlreadyDone) {
		t.Errorf("second run: %v", err)
	}
	// --restart imports again; the derived message ids make it a no-op.
	opts.Restart = true
	if _, err := Run(t.Context(), s.sink(), opts); err != nil {
		t.Fatal(err)
	}
	if got := s.sync().Events.Live; got != 4 {
		t.Errorf("events after a re-import = %d, want 4", got)
	}
}

func TestImportCSV(t *testing.T) {
	s := startStack(t, t.TempDir())
	path := writeFile(t, "users.csv", "id,email,age,score,vip,zip,signup_at,note\n"+
		"c1,c1@example.com,31,1.5,true,02139,2024-05-01,hello\n"+
		"c2,c2@example.com,42,2,false,10001,2024-05-02T10:00:00Z,\"multi\nline\"\n"+
		"c3,,abc,3,true,10002,2024-05-03,x\n"+ // line 5: age not an int
		",c4@example.com,40,4,true,10003,2024-05-04,x\n"+ // line 6: no id
		"c5,c5@example.com,50\n"+ // line 7: field count
		"c6,c6@example.com,60,6,maybe,10006,2024-05-06,x\n"+ // line 8: vip
		"c7,c7@example.com,70,7,false,10007,yesterday,x\n"+ // line 9: signup_at
		"c8,\"bad\"quote,80,8,true,10008,2024-05-08,x\n"+ // line 10: malformed
		"c9,c9@example.com,,,,,,\n")
	opts, rejs := collect("acme", path)
	opts.Types = map[string]ColType{"age": Int, "vip": Bool, "zip": String, "signup_at": Timestamp}
	res, err := Run(t.Context(), s.sink(), opts)
	if err != nil {
		t.Fatal(err)
	}
	if res.Imported != 3 || res.Rejected != 6 {
		t.Errorf("imported %d rejected %d, want 3 6", res.Imported, res.Rejected)
	}
	wantRejects(t, *rejs, map[int64]string{5: "age", 6: "userId", 7: "", 8: "vip", 9: "signup_at", 10: ""})
	snap := s.sync()
	if got := snap.Profiles.Live; got != 3 {
		t.Errorf("profiles = %d, want 3", got)
	}
	if v := trait(t, snap, "c1", "age"); v.Type != column.TypeInt || v.I != 31 {
		t.Errorf("c1 age = %#v", v)
	}
	if v := trait(t, snap, "c2", "score"); v.Type != column.TypeFloat || v.F != 2 {
		t.Errorf("c2 score = %#v (inferred float)", v)
	}
	if v := trait(t, snap, "c1", "zip"); v.S != "02139" {
		t.Errorf("c1 zip = %#v", v)
	}
	if v := trait(t, snap, "c1", "vip"); v.Type != column.TypeBool || !v.B {
		t.Errorf("c1 vip = %#v", v)
	}
	if v := trait(t, snap, "c2", "signup_at"); v.Type != column.TypeTimestamp {
		t.Errorf("c2 signup_at = %#v", v)
	}
	if v := trait(t, snap, "c2", "note"); v.S != "multi\nline" {
		t.Errorf("c2 note = %#v", v)
	}
	if _, ok := snap.Graph.Lookup(identity.ID{Type: identity.TypeEmail, Value: "c9@example.com"}); !ok {
		t.Errorf("c9's email is not an identifier")
	}
}

func TestImportCSVInference(t *testing.T) {
	h := []string{"user_id", "n", "f", "b", "t", "s", "z"}
	ps, err := NewProfileSchema(h, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	ps.Infer([][]string{
		{"1", "1", "1.5", "true", "2024-01-01", "x", "007"},
		{"2", "-3", "2", "FALSE", "2024-01-02T00:00:00Z", "1", "1"},
		{"3", "", "", "", "", "", ""},
	})
	want := []ColType{String, Int, Float, Bool, Timestamp, String, String}
	if !slices.Equal(ps.Types, want) {
		t.Errorf("types = %v, want %v", ps.Types, want)
	}
	if _, err := NewProfileSchema([]string{"email", "name"}, "", nil); err == nil {
		t.Error("no id column accepted")
	}
	if _, err := NewProfileSchema([]string{"id", "id"}, "", nil); err == nil {
		t.Error("duplicate column accepted")
	}
	if _, err := ParseTypes("age:int,x:blob"); err == nil {
		t.Error("bad type accepted")
	}
}

type profileRow struct {
	ID    string  `parquet:"id"`
	Email string  `parquet:"email,optional"`
	Age   int64   `parquet:"age"`
	Score float64 `parquet:"score"`
	VIP   bool    `parquet:"vip"`
}

type messageRow struct {
	Type       string `parquet:"type"`
	UserID     string `parquet:"userId,optional"`
	Event      string `parquet:"event,optional"`
	Properties string `parquet:"properties,optional"`
	Timestamp  string `parquet:"timestamp,optional"`
}

func writeParquet[T any](t *testing.T, name string, rows []T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	w := parquet.NewGenericWriter[T](f, parquet.MaxRowsPerRowGroup(64))
	if _, err := w.Write(rows); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestImportParquet(t *testing.T) {
	s := startStack(t, t.TempDir())
	var profiles []profileRow
	for i := range 300 {
		profiles = append(profiles, profileRow{ID: fmt.Sprintf("p%d", i), Email: fmt.Sprintf("p%d@example.com", i), Age: int64(i), Score: float64(i) / 2, VIP: i%2 == 0})
	}
	profiles[7].ID = "" // row 8: no id
	path := writeParquet(t, "profiles.parquet", profiles)
	opts, rejs := collect("acme", path)
	res, err := Run(t.Context(), s.sink(), opts)
	if err != nil {
		t.Fatal(err)
	}
	if res.Imported != 299 || res.Rejected != 1 {
		t.Errorf("imported %d rejected %d", res.Imported, res.Rejected)
	}
	wantRejects(t, *rejs, map[int64]string{8: "userId"})
	snap := s.sync()
	if v := trait(t, snap, "p9", "age"); v.Type != column.TypeInt || v.I != 9 {
		t.Errorf("p9 age = %#v", v)
	}
	if v := trait(t, snap, "p10", "score"); v.Type != column.TypeFloat || v.F != 5 {
		t.Errorf("p10 score = %#v", v)
	}

	msgs := []messageRow{
		{Type: "track", UserID: "p1", Event: "Bought", Properties: `{"price":3}`, Timestamp: "2026-02-01T00:00:00Z"},
		{Type: "track", UserID: "p2", Event: "Bought", Properties: `{"price":`},
		{Type: "track", UserID: "p3", Event: "Bought"},
	}
	path = writeParquet(t, "events.parquet", msgs)
	opts, rejs = collect("acme", path)
	if res, err = Run(t.Context(), s.sink(), opts); err != nil {
		t.Fatal(err)
	}
	wantRejects(t, *rejs, map[int64]string{2: "properties"})
	if got := s.sync().Events.Live; got != 2 {
		t.Errorf("events = %d, want 2", got)
	}
}

// cancelSink passes batches on and cancels after n acknowledged ones.
type cancelSink struct {
	Sink
	n      int64
	sent   atomic.Int64
	cancel context.CancelFunc
	state  string
	early  []byte
}

func (c *cancelSink) Send(ctx context.Context, ws string, b *Batch) ([]SinkReject, error) {
	r, err := c.Sink.Send(ctx, ws, b)
	switch c.sent.Add(1) {
	case c.n / 2:
		// An early checkpoint, restored after the run as if a kill -9
		// had lost the later ones.
		c.early, _ = os.ReadFile(c.state)
	case c.n:
		c.cancel()
	}
	return r, err
}

func TestImportResume(t *testing.T) {
	for _, format := range []Format{NDJSON, CSV, Parquet} {
		t.Run(string(format), func(t *testing.T) {
			s := startStack(t, t.TempDir())
			const n = 20000
			bad := map[int64]string{}
			var path string
			switch format {
			case NDJSON:
				var b strings.Builder
				for i := range n {
					if i%997 == 5 {
						fmt.Fprintf(&b, `{"type":"track","event":"E%d"}`+"\n", i)
						bad[int64(i+1)] = "userId"
						continue
					}
					fmt.Fprintf(&b, `{"type":"track","userId":"u%d","event":"E","properties":{"i":%d}}`+"\n", i%500, i)
				}
				path = writeFile(t, "big.ndjson", b.String())
			case CSV:
				var b strings.Builder
				b.WriteString("id,i,note\n")
				for i := range n {
					if i%997 == 5 {
						fmt.Fprintf(&b, "u%d,notanumber,x\n", i)
						bad[int64(i+2)] = "i"
						continue
					}
					fmt.Fprintf(&b, "u%d,%d,\"a\nb\"\n", i, i) // two lines per row
				}
				path = writeFile(t, "big.csv", b.String())
				// Line numbers shift with the two-line rows before.
				shifted := map[int64]string{}
				for l, f := range bad {
					i := l - 2
					shifted[2+2*i-i/997-boolInt(i%997 > 5)] = f
				}
				bad = shifted
			case Parquet:
				rows := make([]profileRow, n)
				for i := range rows {
					rows[i] = profileRow{ID: fmt.Sprintf("u%d", i), Age: int64(i)}
					if i%997 == 5 {
						rows[i].ID = ""
						bad[int64(i+1)] = "userId"
					}
				}
				path = writeParquet(t, "big.parquet", rows)
			}
			opts, rejs := collect("acme", path)
			opts.BatchRecords = 500
			opts.CheckpointEvery = time.Nanosecond
			opts.StatePath = path + ".state"
			if format == CSV {
				opts.Types = map[string]ColType{"i": Int}
			}

			// Run 1: interrupted after 8 batches.
			ctx, cancel := context.WithCancel(t.Context())
			cs := &cancelSink{Sink: s.sink(), n: 8, cancel: cancel, state: opts.StatePath}
			_, err := Run(ctx, cs, opts)
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("run 1: %v", err)
			}
			st, err := LoadState(opts.StatePath)
			if err != nil || st == nil || st.Done || st.Offset == 0 {
				t.Fatalf("state after run 1: %+v %v", st, err)
			}
			t.Logf("interrupted at offset %d line %d, %d imported", st.Offset, st.Line, st.Imported)
			// Restore the early checkpoint: the rows acknowledged after it
			// are sent again by run 2 and must be dropped as duplicates.
			if err := os.WriteFile(opts.StatePath, cs.early, 0o644); err != nil {
				t.Fatal(err)
			}
			early, err := LoadState(opts.StatePath)
			if err != nil || early == nil || early.Offset >= st.Offset {
				t.Fatalf("early state %+v (%v), final %+v", early, err, st)
			}
			var kept []Reject
			for _, r := range *rejs {
				if r.Line <= early.Line {
					kept = append(kept, r)
				}
			}
			*rejs = kept

			// Run 2: resumes (from the start after the rollback) and finishes.
			res, err := Run(t.Context(), s.sink(), opts)
			if err != nil {
				t.Fatalf("run 2: %v", err)
			}
			if !res.Resumed && early.Offset > 0 {
				t.Error("run 2 did not resume")
			}
			if res.State.Imported+res.State.Rejected != n || res.State.Rejected != int64(len(bad)) {
				t.Errorf("state: imported %d rejected %d, want %d %d", res.State.Imported, res.State.Rejected, n-len(bad), len(bad))
			}
			wantRejects(t, *rejs, bad)
			snap := s.sync()
			switch format {
			case NDJSON:
				if got := snap.Events.Live; got != int64(n-len(bad)) {
					t.Errorf("events = %d, want %d (no loss, no duplicate)", got, n-len(bad))
				}
			default:
				if got := snap.Profiles.Live; got != int64(n-len(bad)) {
					t.Errorf("profiles = %d, want %d", got, n-len(bad))
				}
			}
		})
	}
}

func boolInt(b bool) int64 {
	if b {
		return 1
	}
	return 0
}
