package ingest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	analytics "gopkg.in/segmentio/analytics-go.v3"

	"github.com/cohortdb/cohort/engine"
	"github.com/cohortdb/cohort/engine/column"
	"github.com/cohortdb/cohort/engine/identity"
)

const testAdminToken = "test-admin-token"

type harness struct {
	t   testing.TB
	eng *engine.Engine
	svc *Service
	srv *httptest.Server
	dir string
}

func startHarness(t *testing.T, dir string) *harness { return startHarnessTB(t, dir) }

func startBenchHarness(b *testing.B) *harness { return startHarnessTB(b, b.TempDir()) }

func startHarnessTB(t testing.TB, dir string) *harness {
	t.Helper()
	ctx := t.Context()
	eng := engine.New(engine.Options{})
	svc, err := New(ctx, eng, Options{DataDir: dir, AdminToken: testAdminToken})
	if err != nil {
		t.Fatal(err)
	}
	svc.Start(ctx)
	mux := http.NewServeMux()
	svc.Register(mux)
	srv := httptest.NewServer(mux)
	h := &harness{t: t, eng: eng, svc: svc, srv: srv, dir: dir}
	t.Cleanup(h.stop)
	if err := svc.WaitCaughtUp(ctx); err != nil {
		t.Fatal(err)
	}
	return h
}

func (h *harness) stop() {
	if h.srv == nil {
		return
	}
	h.srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := h.svc.Shutdown(ctx); err != nil {
		h.t.Errorf("shutdown: %v", err)
	}
	h.srv = nil
}

// key creates a workspace through the admin API and returns its key.
func (h *harness) key(ws string) string {
	h.t.Helper()
	status, body := h.do("POST", "/v1/admin/workspaces", "Bearer "+testAdminToken, `{"name":"`+ws+`"}`)
	if status != http.StatusCreated {
		h.t.Fatalf("create workspace: %d %s", status, body)
	}
	var info WorkspaceInfo
	if err := json.Unmarshal([]byte(body), &info); err != nil {
		h.t.Fatal(err)
	}
	return info.Keys[0].Key
}

func (h *harness) do(method, path, auth, body string, hdr ...string) (int, string) {
	h.t.Helper()
	req, err := http.NewRequest(method, h.srv.URL+path, strings.NewReader(body))
	if err != nil {
		h.t.Fatal(err)
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func (h *harness) sync() {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(h.t.Context(), 10*time.Second)
	defer cancel()
	if err := h.svc.Sync(ctx); err != nil {
		h.t.Fatal(err)
	}
}

func (h *harness) snap(ws string) *engine.Snapshot {
	h.t.Helper()
	w, err := h.eng.Workspace(ws)
	if err != nil {
		h.t.Fatal(err)
	}
	return w.Snapshot()
}

// profile returns the profile of the person holding id as a map.
func (h *harness) profile(ws string, id identity.ID) map[string]column.Value {
	h.t.Helper()
	s := h.snap(ws)
	p, ok := s.Graph.Lookup(id)
	if !ok {
		h.t.Fatalf("no person with %v", id)
	}
	c, off := s.ProfileRow(p)
	if c == nil {
		h.t.Fatalf("no profile row for %v", id)
	}
	out := map[string]column.Value{}
	for _, d := range s.Profiles.Schema.Cols {
		out[d.Name] = rowValue(c, off, d)
	}
	return out
}

// events returns the events of the workspace as maps.
func (h *harness) events(ws string) []map[string]column.Value {
	h.t.Helper()
	s := h.snap(ws)
	rows, err := s.Select(h.t.Context(), engine.Query{Table: engine.Events}, nil)
	if err != nil {
		h.t.Fatal(err)
	}
	defer rows.Close()
	var out []map[string]column.Value
	for rows.Next() {
		m := map[string]column.Value{}
		for i, v := range rows.Values() {
			m[rows.Columns()[i].Name] = v
		}
		out = append(out, m)
	}
	if err := rows.Err(); err != nil {
		h.t.Fatal(err)
	}
	return out
}

func TestSegmentHTTP(t *testing.T) {
	h := startHarness(t, t.TempDir())
	key := h.key("acme")
	basic := "Basic " + basicUser(key)

	status, body := h.do("POST", "/v1/identify", basic, `{"userId":"u1","anonymousId":"a1","traits":{"email":"U1@Example.com","firstName":"Ada","plan":"pro","createdAt":"2024-01-02T03:04:05Z","age":36,"score":1.5,"tags":["a","b"],"address":{"city":"Paris"}},"messageId":"m1","timestamp":"2024-05-01T10:00:00Z"}`)
	if status != 200 {
		t.Fatalf("identify: %d %s", status, body)
	}
	status, body = h.do("POST", "/v1/t", "", `{"writeKey":"`+key+`","anonymousId":"a1","event":"Order Completed","properties":{"revenue":12.5,"items":3,"coupon":null},"context":{"os":{"name":"iOS"},"app":{"version":"1.2"},"ip":"1.2.3.4"},"messageId":"m2","originalTimestamp":"2024-05-01T10:00:00Z","sentAt":"2024-05-01T10:00:10Z"}`, "Content-Type", "text/plain")
	if status != 200 {
		t.Fatalf("track: %d %s", status, body)
	}
	h.sync()
	p := h.profile("acme", identity.ID{Type: identity.TypeUserID, Value: "u1"})
	want := map[string]column.Value{
		"email":        column.String("U1@Example.com"),
		"first_name":   column.String("Ada"),
		"plan":         column.String("pro"),
		"created_at":   column.Timestamp(time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)),
		"age":          column.Int(36),
		"score":        column.Float(1.5),
		"tags":         column.StringList([]string{"a", "b"}),
		"address_city": column.String("Paris"),
	}
	for k, v := range want {
		if !p[k].Equal(v) {
			t.Errorf("profile %s = %v, want %v", k, p[k], v)
		}
	}
	if _, ok := h.snap("acme").Graph.Lookup(identity.ID{Type: identity.TypeEmail, Value: "u1@example.com"}); !ok {
		t.Errorf("traits.email is not an identifier")
	}
	evs := h.events("acme")
	if len(evs) != 1 {
		t.Fatalf("%d events, want 1", len(evs))
	}
	e := evs[0]
	if e["name"].S != "Order Completed" || !e["revenue"].Equal(column.Float(12.5)) || !e["items"].Equal(column.Int(3)) ||
		e["context_os_name"].S != "iOS" || e["context_app_version"].S != "1.2" || e["context_ip"].S != "1.2.3.4" || e["message_id"].S != "m2" {
		t.Errorf("event = %v", e)
	}
	// Skew correction: the client was 10 s late sending; the event happened
	// 10 s before it was received.
	if d := e["received_at"].I - e["ts"].I; d != 10_000_000 {
		t.Errorf("received_at - ts = %dµs, want 10s", d)
	}
	// The anonymous event belongs to u1's person.
	up, _ := h.snap("acme").Graph.Lookup(identity.ID{Type: identity.TypeUserID, Value: "u1"})
	if e["person_id"].I != int64(up) {
		t.Errorf("event person %d, want %d", e["person_id"].I, up)
	}

	// Duplicate message ids are dropped, also across requests.
	status, body = h.do("POST", "/v1/batch", basic, `{"batch":[
		{"type":"track","userId":"u1","event":"Dup","messageId":"m2"},
		{"type":"track","userId":"u1","event":"New","messageId":"m3"},
		{"type":"track","userId":"u1","event":"New","messageId":"m3"}]}`)
	if status != 200 {
		t.Fatalf("batch: %d %s", status, body)
	}
	h.sync()
	if n := len(h.events("acme")); n != 2 {
		t.Errorf("%d events after duplicates, want 2", n)
	}
	if st := h.svc.Status(); st.Duplicates != 2 {
		t.Errorf("duplicates = %d, want 2", st.Duplicates)
	}
}

func basicUser(key string) string {
	req, _ := http.NewRequest("GET", "/", nil)
	req.SetBasicAuth(key, "")
	return strings.TrimPrefix(req.Header.Get("Authorization"), "Basic ")
}

func TestSegmentErrors(t *testing.T) {
	h := startHarness(t, t.TempDir())
	keyA := h.key("alpha")
	h.key("beta")
	basic := "Basic " + basicUser(keyA)
	big := strings.Repeat("x", 33<<10)
	for _, tc := range []struct {
		name, path, auth, body string
		status                 int
		contains               string
	}{
		{"malformed", "/v1/track", basic, `{"userId":`, 400, "malformed JSON"},
		{"not object", "/v1/track", basic, `[1]`, 400, "expected a JSON object"},
		{"no key", "/v1/track", "", `{"userId":"u","event":"e"}`, 401, "missing write key"},
		{"bad key", "/v1/track", "Basic " + basicUser("nope"), `{"userId":"u","event":"e"}`, 401, "unknown write key"},
		{"no id", "/v1/track", basic, `{"event":"e"}`, 400, "userId or anonymousId"},
		{"no event", "/v1/track", basic, `{"userId":"u"}`, 400, `"field":"event"`},
		{"wrong type", "/v1/track", basic, `{"userId":"u","event":"e","properties":"x"}`, 400, `"field":"properties"`},
		{"bad timestamp", "/v1/track", basic, `{"userId":"u","event":"e","timestamp":"yesterday"}`, 400, `"field":"timestamp"`},
		{"bad created_at", "/v1/identify", basic, `{"userId":"u","traits":{"createdAt":"soon"}}`, 400, `"field":"traits.createdAt"`},
		{"oversized event", "/v1/track", basic, `{"userId":"u","event":"e","properties":{"x":"` + big + `"}}`, 400, "larger than 32 KB"},
		{"oversized batch", "/v1/batch", basic, `{"batch":[` + strings.Repeat(`{"type":"track","userId":"u","event":"e","properties":{"x":"`+strings.Repeat("y", 20<<10)+`"}},`, 26) + `{}]}`, 400, "larger than 500 KB"},
		{"batch all bad", "/v1/batch", basic, `{"batch":[{"type":"nope"}]}`, 400, "unknown message type"},
		{"unknown type", "/v1/batch", basic, `{"batch":[{"type":"track","userId":"u","event":"ok"},{"type":"nope","userId":"u"}]}`, 200, `"index":1`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, body := h.do("POST", tc.path, tc.auth, tc.body)
			if status != tc.status || !strings.Contains(body, tc.contains) {
				t.Errorf("got %d %s, want %d containing %q", status, body, tc.status, tc.contains)
			}
		})
	}
	// One bad record never drops the good ones; the bad one is named.
	status, body := h.do("POST", "/v1/batch", basic, `{"batch":[
		{"type":"identify","userId":"g1","traits":{"n":1}},
		{"type":"identify","userId":"g2","traits":{"createdAt":"never"}},
		{"type":"track","userId":"g3","event":"e","properties":{"big":1e400}},
		{"type":"track","userId":"g4","event":"ok"}]}`)
	if status != 200 {
		t.Fatalf("batch: %d %s", status, body)
	}
	var resp struct {
		Accepted int `json:"accepted"`
		Rejected []struct {
			Index int
			Field string
			Error string
		}
	}
	json.Unmarshal([]byte(body), &resp)
	if resp.Accepted != 2 || len(resp.Rejected) != 2 || resp.Rejected[0].Field != "traits.createdAt" || resp.Rejected[1].Field != "properties.big" {
		t.Errorf("batch answer %s", body)
	}
	// A key of alpha cannot write into beta, even naming beta.
	h.do("POST", "/v1/track", basic, `{"userId":"x","event":"e","writeKey":"ignored"}`)
	h.sync()
	if n := h.snap("beta").Events.Live; n != 0 {
		t.Errorf("beta has %d events", n)
	}
	// Type conflicts with existing columns are caught at ingest.
	status, body = h.do("POST", "/v1/identify", basic, `{"userId":"g9","traits":{"n":"a string"}}`)
	if status != 400 || !strings.Contains(body, "traits.n") {
		t.Errorf("conflicting type: %d %s", status, body)
	}
	// CORS and settings.
	status, body = h.do("OPTIONS", "/v1/t", "", "", "Origin", "https://shop.example")
	if status != 204 {
		t.Errorf("preflight: %d %s", status, body)
	}
	status, body = h.do("GET", "/v1/projects/"+keyA+"/settings", "", "")
	if status != 200 || !strings.Contains(body, `"Segment.io"`) {
		t.Errorf("settings: %d %s", status, body)
	}
	if status, _ := h.do("GET", "/v1/projects/nope/settings", "", ""); status != 404 {
		t.Errorf("settings of an unknown key: %d", status)
	}
	// Admin API needs the token.
	if status, _ := h.do("GET", "/v1/admin/workspaces", "Bearer wrong", ""); status != 401 {
		t.Errorf("admin with a wrong token: %d", status)
	}
}

func TestAnalyticsGo(t *testing.T) {
	h := startHarness(t, t.TempDir())
	key := h.key("shop")
	client, err := analytics.NewWithConfig(key, analytics.Config{Endpoint: h.srv.URL, BatchSize: 3, Interval: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	msgs := []analytics.Message{
		analytics.Identify{UserId: "go-1", AnonymousId: "anon-go", Traits: analytics.NewTraits().SetEmail("go@example.com").SetName("Gopher").Set("plan", "team")},
		analytics.Track{AnonymousId: "anon-go", Event: "Signed Up", Properties: analytics.NewProperties().Set("plan", "team").SetRevenue(9.99)},
		analytics.Page{UserId: "go-1", Name: "Pricing", Properties: analytics.NewProperties().SetURL("https://example.com/pricing")},
		analytics.Alias{PreviousId: "anon-old", UserId: "go-1"},
		analytics.Group{UserId: "go-1", GroupId: "org-7", Traits: analytics.NewTraits().SetName("Initech").Set("employees", 120)},
	}
	for _, m := range msgs {
		if err := client.Enqueue(m); err != nil {
			t.Fatal(err)
		}
	}
	if err := client.Close(); err != nil { // flushes
		t.Fatal(err)
	}
	// Poll: the client's last batch may still be in flight on the server.
	deadline := time.Now().Add(10 * time.Second)
	for h.svc.Status().Ops < uint64(len(msgs)) && time.Now().Before(deadline) {
		h.sync()
		time.Sleep(5 * time.Millisecond)
	}
	p := h.profile("shop", identity.ID{Type: identity.TypeUserID, Value: "go-1"})
	for k, v := range map[string]column.Value{"email": column.String("go@example.com"), "name": column.String("Gopher"), "plan": column.String("team"),
		"group_id": column.String("org-7"), "group_name": column.String("Initech"), "group_employees": column.Int(120)} {
		if !p[k].Equal(v) {
			t.Errorf("profile %s = %v, want %v", k, p[k], v)
		}
	}
	s := h.snap("shop")
	pu, _ := s.Graph.Lookup(identity.ID{Type: identity.TypeUserID, Value: "go-1"})
	for _, id := range []identity.ID{{Type: identity.TypeAnonymousID, Value: "anon-go"}, {Type: identity.TypeAnonymousID, Value: "anon-old"}} {
		if q, ok := s.Graph.Lookup(id); !ok || s.Graph.Canonical(q) != s.Graph.Canonical(pu) {
			t.Errorf("%v not linked to go-1", id)
		}
	}
	names := map[string]bool{}
	for _, e := range h.events("shop") {
		names[e["name"].S] = true
		if e["name"].S == "page_viewed" && (e["prop_name"].S != "Pricing" || e["url"].S != "https://example.com/pricing") {
			t.Errorf("page event %v", e)
		}
		if e["context_library_name"].S != "analytics-go" {
			t.Errorf("event without context_library_name: %v", e)
		}
	}
	if !names["Signed Up"] || !names["page_viewed"] {
		t.Errorf("events %v", names)
	}
}

func TestCleverTapUpload(t *testing.T) {
	h := startHarness(t, t.TempDir())
	key := h.key("ct")
	other := h.key("other")
	body := `{"d":[
		{"type":"profile","identity":"ct-1","ts":1700000000,"profileData":{"Name":"Jo","Email":"jo@example.com","Customer Type":"Silver","DOB":"$D_631152000"}},
		{"type":"event","identity":"ct-1","ts":1700000100,"evtName":"Product viewed","evtData":{"Product name":"Casio","Price":59.99}},
		{"type":"event","identity":"ct-1","evtData":{}},
		{"type":"profile","profileData":{"Name":"nobody"}},
		{"type":"thing","identity":"x"},
		{"type":"event","objectId":"dev-9","ts":"yesterday","evtName":"x"},
		{"type":"event","objectId":"dev-9","evtName":"Charged","evtData":{"Amount":10}}
	]}`
	status, resp := h.do("POST", "/1/upload", "", body, "X-CleverTap-Account-Id", "ct", "X-CleverTap-Passcode", key, "Content-Type", "application/json")
	if status != 200 {
		t.Fatalf("upload: %d %s", status, resp)
	}
	var r struct {
		Status      string
		Processed   int
		Unprocessed []struct {
			Status string
			Code   int
			Error  string
			Record map[string]any
		}
	}
	if err := json.Unmarshal([]byte(resp), &r); err != nil {
		t.Fatal(err)
	}
	if r.Status != "success" || r.Processed != 3 || len(r.Unprocessed) != 4 {
		t.Fatalf("answer %s", resp)
	}
	wantCodes := []int{513, 512, 511, 514}
	wantField := []string{"evtName", "identity", "type", "ts"}
	for i, u := range r.Unprocessed {
		if u.Status != "fail" || u.Code != wantCodes[i] || !strings.HasPrefix(u.Error, wantField[i]) || u.Record == nil {
			t.Errorf("unprocessed[%d] = %+v, want code %d on %s", i, u, wantCodes[i], wantField[i])
		}
	}
	h.sync()
	p := h.profile("ct", identity.ID{Type: identity.TypeUserID, Value: "ct-1"})
	if p["name"].S != "Jo" || p["customer_type"].S != "Silver" || !p["dob"].Equal(column.Timestamp(time.Unix(631152000, 0))) {
		t.Errorf("profile %v", p)
	}
	evs := h.events("ct")
	byName := map[string]map[string]column.Value{}
	for _, e := range evs {
		byName[e["name"].S] = e
	}
	if pv := byName["Product viewed"]; len(evs) != 2 || pv["product_name"].S != "Casio" || pv["ts"].I != 1700000100_000000 || !byName["Charged"]["amount"].Equal(column.Int(10)) {
		t.Errorf("events %v", evs)
	}
	// Request-level errors.
	for _, tc := range []struct {
		account, pass, body string
		status              int
	}{
		{"ct", key, `{"d":`, 400},
		{"ct", key, `{"x":[]}`, 400},
		{"ct", key, `{"d":[` + strings.Repeat(`{},`, 1000) + `{}]}`, 400},
		{"", key, `{"d":[]}`, 401},
		{"ct", "wrong", `{"d":[]}`, 401},
		{"ct", other, `{"d":[]}`, 403},
		{"nope", key, `{"d":[]}`, 404},
	} {
		status, resp := h.do("POST", "/1/upload", "", tc.body, "X-CleverTap-Account-Id", tc.account, "X-CleverTap-Passcode", tc.pass)
		if status != tc.status {
			t.Errorf("%s/%s %.20s: %d %s, want %d", tc.account, tc.pass, tc.body, status, resp, tc.status)
		}
	}
}

func TestReplayAfterRestart(t *testing.T) {
	dir := t.TempDir()
	h := startHarness(t, dir)
	key := h.key("acme")
	var batch bytes.Buffer
	batch.WriteString(`{"batch":[`)
	for i := range 50 {
		if i > 0 {
			batch.WriteByte(',')
		}
		fmt.Fprintf(&batch, `{"type":"track","userId":"u%d","event":"e","messageId":"m%d"}`, i%7, i)
	}
	batch.WriteString(`]}`)
	if status, body := h.do("POST", "/v1/batch", "Basic "+basicUser(key), batch.String()); status != 200 {
		t.Fatalf("%d %s", status, body)
	}
	h.stop()

	h2 := startHarness(t, dir)
	if n := h2.snap("acme").Events.Live; n != 50 {
		t.Errorf("%d events after restart, want 50", n)
	}
	// The key survived; the same batch again is all duplicates.
	if status, body := h2.do("POST", "/v1/batch", "Basic "+basicUser(key), batch.String()); status != 200 {
		t.Fatalf("%d %s", status, body)
	}
	h2.sync()
	if n := h2.snap("acme").Events.Live; n != 50 {
		t.Errorf("%d events after a duplicate batch, want 50", n)
	}
}

// TestRejectedAfterAck: two first writes of a new attribute with different
// types in one batch pass the ingest check (the column does not exist
// yet); the engine rejects the second, which is counted, and keeps the
// first.
func TestRejectedAfterAck(t *testing.T) {
	h := startHarness(t, t.TempDir())
	key := h.key("acme")
	status, body := h.do("POST", "/v1/batch", "Basic "+basicUser(key), `{"batch":[
		{"type":"identify","userId":"r1","traits":{"fresh":1}},
		{"type":"identify","userId":"r2","traits":{"fresh":"text"}}]}`)
	if status != 200 {
		t.Fatalf("%d %s", status, body)
	}
	h.sync()
	if st := h.svc.Status(); st.Rejected != 1 || st.Ops != 1 {
		t.Errorf("status %+v, want 1 applied and 1 rejected", st)
	}
	if p := h.profile("acme", identity.ID{Type: identity.TypeUserID, Value: "r1"}); !p["fresh"].Equal(column.Int(1)) {
		t.Errorf("r1 fresh = %v", p["fresh"])
	}
}
