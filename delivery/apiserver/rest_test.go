package apiserver_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/cohortdb/cohort/delivery/internal/fixture"
)

// statusBody is the JSON of a google.rpc.Status.
type statusBody struct {
	Code    *int             `json:"code"`
	Message *string          `json:"message"`
	Details []map[string]any `json:"details"`
}

// checkError asserts the HTTP status and a google.rpc.Status JSON body
// with the gRPC code.
func checkError(t *testing.T, what string, resp *http.Response, body []byte, httpStatus, grpcCode int) {
	t.Helper()
	if resp.StatusCode != httpStatus {
		t.Errorf("%s: HTTP %d, want %d: %s", what, resp.StatusCode, httpStatus, body)
		return
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("%s: Content-Type %q", what, ct)
	}
	var st statusBody
	if err := json.Unmarshal(body, &st); err != nil || st.Code == nil || st.Message == nil || st.Details == nil {
		t.Errorf("%s: body is not a google.rpc.Status: %s (%v)", what, body, err)
		return
	}
	if *st.Code != grpcCode || *st.Message == "" {
		t.Errorf("%s: code %d message %q, want code %d", what, *st.Code, *st.Message, grpcCode)
	}
}

// TestRESTAuth covers authentication, scopes and workspace isolation on
// the REST gateway, with plain net/http.
func TestRESTAuth(t *testing.T) {
	e := newEnv(t, envOptions{})
	profile := "/api/v1/workspaces/acme/profiles/u1"
	segments := "/api/v1/workspaces/acme/segments"
	create := `{"name": "buyers", "sql": "SELECT person_id FROM events WHERE name = 'checkout'"}`
	for _, tc := range []struct {
		name, method, path, token, body string
		status, code                    int
	}{
		{"no token", "GET", profile, "", "", 401, 16},
		{"unknown token", "GET", profile, "ct_0000000000000000_000000000000000000000000000000000000000000000000", "", 401, 16},
		{"garbage token", "GET", profile, "nope", "", 401, 16},
		{"read on acme", "GET", profile, e.read, "", 200, 0},
		{"write on acme", "GET", profile, e.write, "", 200, 0},
		{"server admin", "GET", profile, adminToken, "", 200, 0},
		{"beta token on acme", "GET", profile, e.betaTok, "", 403, 7},
		{"acme admin on beta", "GET", "/api/v1/workspaces/beta/profiles/u1", e.admin, "", 403, 7},
		{"acme token on beta segments", "GET", "/api/v1/workspaces/beta/segments", e.read, "", 403, 7},
		{"read lists segments", "GET", segments, e.read, "", 200, 0},
		{"read counts", "GET", segments + "/vip/count", e.read, "", 200, 0},
		{"read cannot create", "POST", segments, e.read, create, 403, 7},
		{"read cannot delete", "DELETE", segments + "/vip", e.read, "", 403, 7},
		{"write creates", "POST", segments, e.write, create, 200, 0},
		{"create twice", "POST", segments, e.write, create, 409, 6},
		{"invalid definition", "POST", segments, e.write, `{"name": "bad", "sql": "syntax error"}`, 400, 3},
		{"write deletes", "DELETE", segments + "/buyers", e.write, "", 200, 0},
		{"admin creates", "POST", segments, e.admin, create, 200, 0},
		{"server admin on beta", "GET", "/api/v1/workspaces/beta/segments", adminToken, "", 200, 0},
		{"server admin, unknown person", "GET", "/api/v1/workspaces/beta/profiles/u1", adminToken, "", 404, 5},
		{"no such segment", "GET", segments + "/nope", e.read, "", 404, 5},
		{"no such route", "GET", "/api/v1/workspaces/acme/nothing", e.read, "", 404, 5},
	} {
		resp, body := e.do(t, tc.method, tc.path, tc.token, tc.body)
		if tc.code != 0 {
			checkError(t, tc.name, resp, body, tc.status, tc.code)
		} else if resp.StatusCode != tc.status {
			t.Errorf("%s: HTTP %d, want %d: %s", tc.name, resp.StatusCode, tc.status, body)
		}
		if resp.StatusCode == 401 && resp.Header.Get("WWW-Authenticate") != `Bearer realm="cohort"` {
			t.Errorf("%s: WWW-Authenticate %q", tc.name, resp.Header.Get("WWW-Authenticate"))
		}
	}
	// A revoked token stops working at once.
	toks := e.store.List("acme")
	if err := e.store.Revoke(t.Context(), "acme", toks[0].ID); err != nil {
		t.Fatal(err)
	}
	resp, body := e.do(t, "GET", profile, e.read, "")
	checkError(t, "revoked", resp, body, 401, 16)

	// Without a segment manager every SegmentService RPC is 501 after
	// authentication.
	e2 := newEnv(t, envOptions{noSegments: true})
	resp, body = e2.do(t, "GET", segments, e2.read, "")
	checkError(t, "unimplemented", resp, body, 501, 12)
	resp, body = e2.do(t, "GET", segments, "", "")
	checkError(t, "unimplemented, no token", resp, body, 401, 16)
}

// TestRESTProfile reads a profile, its events and history over REST and
// checks them against the engine; request ids are echoed.
func TestRESTProfile(t *testing.T) {
	e := newEnv(t, envOptions{})
	u1 := e.f.Person(t, fixture.UID("u1"))
	resp, body := e.do(t, "GET", "/api/v1/workspaces/acme/profiles/Ann%40Example.com?eventsPageSize=2", e.read, "", "X-Request-Id", "req-42")
	if resp.StatusCode != 200 {
		t.Fatalf("HTTP %d: %s", resp.StatusCode, body)
	}
	if got := resp.Header.Get("X-Request-Id"); got != "req-42" {
		t.Errorf("X-Request-Id %q, want the client's", got)
	}
	var p struct {
		PersonID    uint32                       `json:"personId"`
		Matched     struct{ Type, Value string } `json:"matched"`
		Identifiers []struct{ Type, Value string }
		Merges      []map[string]any
		MemberIDs   []uint32 `json:"memberIds"`
		Traits      map[string]map[string]any
		Segments    []string
		Events      []struct {
			EventID    string `json:"eventId"`
			Name       string
			PersonID   uint32 `json:"personId"`
			Properties map[string]map[string]any
		}
		Next string `json:"nextEventsPageToken"`
	}
	if err := json.Unmarshal(body, &p); err != nil {
		t.Fatalf("%v: %s", err, body)
	}
	want := e.f.EventsOf(t, u1)
	if p.PersonID != u1 || p.Matched.Type != "email" || len(p.Identifiers) != 4 || len(p.Merges) != 1 || len(p.MemberIDs) != 2 {
		t.Errorf("profile: %s", body)
	}
	if p.Traits["plan"]["stringValue"] != "enterprise" || p.Traits["age"]["intValue"] != "42" || p.Traits["vip"]["boolValue"] != true {
		t.Errorf("traits: %v", p.Traits)
	}
	if len(p.Events) != 2 || p.Events[0].EventID != strconv.FormatInt(want[0].ID, 10) || p.Events[1].EventID != strconv.FormatInt(want[1].ID, 10) || p.Next == "" {
		t.Errorf("events %+v next %q, engine %v", p.Events, p.Next, want)
	}
	if p.Segments == nil {
		t.Error("segments: want [] (emitted when empty), got absent")
	}
	// The rest of the events through ListEvents.
	resp, body = e.do(t, "GET", "/api/v1/workspaces/acme/profiles/u1/events?pageSize=10&pageToken="+p.Next, e.read, "")
	var page struct {
		Events []struct {
			EventID string `json:"eventId"`
		}
		Next string `json:"nextPageToken"`
	}
	if err := json.Unmarshal(body, &page); err != nil || resp.StatusCode != 200 {
		t.Fatalf("HTTP %d %v: %s", resp.StatusCode, err, body)
	}
	if len(page.Events) != len(want)-2 || page.Next != "" || page.Events[0].EventID != strconv.FormatInt(want[2].ID, 10) {
		t.Errorf("second page %+v, engine %v", page, want)
	}
	// History with repeated attribute filters and a time range.
	resp, body = e.do(t, "GET", "/api/v1/workspaces/acme/profiles/u1/history?attributes=plan&attributes=age&startTime=2025-11-01T09:00:00Z", e.read, "")
	var hist struct {
		Changes []struct {
			Attribute string
			NewValue  map[string]any `json:"newValue"`
		}
	}
	if err := json.Unmarshal(body, &hist); err != nil || resp.StatusCode != 200 {
		t.Fatalf("HTTP %d %v: %s", resp.StatusCode, err, body)
	}
	var attrs []string
	for _, c := range hist.Changes {
		attrs = append(attrs, c.Attribute+"="+strings.Trim(string(mustJSON(c.NewValue)), "{}"))
	}
	if wantAttrs := []string{`plan="stringValue":"enterprise"`, `plan="stringValue":"pro"`, `age="intValue":"42"`, `plan="stringValue":"free"`}; !slices.Equal(attrs, wantAttrs) {
		t.Errorf("history %v, want %v", attrs, wantAttrs)
	}

	// Errors: bad token, a "/" in an identifier (percent-encoded),
	// a generated request id.
	resp, body = e.do(t, "GET", "/api/v1/workspaces/acme/profiles/u1/events?pageToken=zz", e.read, "")
	checkError(t, "bad page token", resp, body, 400, 3)
	resp, body = e.do(t, "GET", "/api/v1/workspaces/acme/profiles/x%2Fy?type=external:crm", e.read, "")
	checkError(t, "unknown id with a slash", resp, body, 404, 5)
	if !strings.Contains(string(body), `\"x/y\"`) {
		t.Errorf("the identifier x/y is not decoded: %s", body)
	}
	if id := resp.Header.Get("X-Request-Id"); !regexp.MustCompile(`^[0-9a-f]{24}$`).MatchString(id) {
		t.Errorf("generated X-Request-Id %q", id)
	}
	if h := resp.Header.Get("Grpc-Metadata-X-Request-Id"); h != "" {
		t.Errorf("request id also sent as gRPC metadata header %q", h)
	}
}

func mustJSON(v any) []byte {
	b, _ := json.Marshal(v)
	return b
}

// TestRESTStreamMembers reads a member stream as newline-delimited JSON
// and resumes it from a cursor.
func TestRESTStreamMembers(t *testing.T) {
	e := newEnv(t, envOptions{members: 1000})
	read := func(path string) (ids []uint32, cursors []string) {
		t.Helper()
		resp, body := e.do(t, "GET", path, e.read, "")
		if resp.StatusCode != 200 {
			t.Fatalf("HTTP %d: %s", resp.StatusCode, body)
		}
		if ct := resp.Header.Get("Content-Type"); ct != "application/x-ndjson" {
			t.Errorf("Content-Type %q", ct)
		}
		sc := bufio.NewScanner(bytes.NewReader(body))
		for sc.Scan() {
			var line struct {
				Result *struct {
					PersonIDs []uint32 `json:"personIds"`
					Cursor    string
					Version   uint32
				}
				Error map[string]any
			}
			if err := json.Unmarshal(sc.Bytes(), &line); err != nil || line.Result == nil {
				t.Fatalf("line %q: %v", sc.Text(), err)
			}
			ids = append(ids, line.Result.PersonIDs...)
			cursors = append(cursors, line.Result.Cursor)
		}
		return ids, cursors
	}
	ids, cursors := read("/api/v1/workspaces/acme/segments/vip/members?batchSize=300")
	if len(ids) != 1000 || len(cursors) != 4 || ids[0] != 1 || ids[999] != 1000 {
		t.Fatalf("%d ids in %d batches", len(ids), len(cursors))
	}
	rest, _ := read("/api/v1/workspaces/acme/segments/vip/members?batchSize=300&cursor=" + cursors[1])
	if !slices.Equal(rest, ids[600:]) {
		t.Errorf("resumed after batch 2: %d ids from %d", len(rest), rest[0])
	}
	// An error before the first message: the HTTP status of the code and
	// one {"error": status} line.
	for _, tc := range []struct {
		path, token  string
		status, code int
	}{
		{"/api/v1/workspaces/acme/segments/nope/members", e.read, 404, 5},
		{"/api/v1/workspaces/beta/segments/vip/members", e.read, 403, 7},
		{"/api/v1/workspaces/acme/segments/vip/watch", "", 401, 16},
	} {
		resp, body := e.do(t, "GET", tc.path, tc.token, "")
		var line struct{ Error statusBody }
		if err := json.Unmarshal(body, &line); err != nil || resp.StatusCode != tc.status || line.Error.Code == nil || *line.Error.Code != tc.code {
			t.Errorf("%s: HTTP %d %s, want %d and code %d", tc.path, resp.StatusCode, body, tc.status, tc.code)
		}
		if tc.status == 401 && resp.Header.Get("WWW-Authenticate") != `Bearer realm="cohort"` {
			t.Errorf("%s: WWW-Authenticate %q", tc.path, resp.Header.Get("WWW-Authenticate"))
		}
	}
}

// TestOpenAPI checks /openapi.json: valid swagger 2 JSON listing every
// service's paths.
func TestOpenAPI(t *testing.T) {
	e := newEnv(t, envOptions{})
	resp, body := e.do(t, "GET", "/openapi.json", "", "")
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("HTTP %d %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	var doc struct {
		Swagger string                    `json:"swagger"`
		Paths   map[string]map[string]any `json:"paths"`
		Tags    []struct{ Name string }   `json:"tags"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		t.Fatalf("not JSON: %v", err)
	}
	if doc.Swagger != "2.0" {
		t.Errorf("swagger %q", doc.Swagger)
	}
	for path, method := range map[string]string{
		"/api/v1/track": "post",
		"/api/v1/workspaces/{workspace}/profiles/{id}":           "get",
		"/api/v1/workspaces/{workspace}/profiles/{id}/events":    "get",
		"/api/v1/workspaces/{workspace}/profiles/{id}/history":   "get",
		"/api/v1/workspaces/{workspace}/segments":                "post",
		"/api/v1/workspaces/{workspace}/segments/{name}":         "delete",
		"/api/v1/workspaces/{workspace}/segments/{name}/count":   "get",
		"/api/v1/workspaces/{workspace}/segments/{name}/preview": "get",
		"/api/v1/workspaces/{workspace}/segments/{name}/members": "get",
		"/api/v1/workspaces/{workspace}/segments/{name}/watch":   "get",
	} {
		if _, ok := doc.Paths[path][method]; !ok {
			t.Errorf("no %s %s in /openapi.json", method, path)
		}
	}
	var tags []string
	for _, tg := range doc.Tags {
		tags = append(tags, tg.Name)
	}
	if !slices.Equal(tags, []string{"IngestService", "ProfileService", "SegmentService"}) {
		t.Errorf("tags %v", tags)
	}
}

// TestTokenAdminAPI creates, lists and revokes tokens over HTTP with the
// server's admin token and a workspace's admin token.
func TestTokenAdminAPI(t *testing.T) {
	e := newEnv(t, envOptions{})
	base := "/v1/admin/workspaces/acme/tokens"
	resp, body := e.do(t, "POST", base, adminToken, `{"scope": "read", "label": "bi"}`)
	if resp.StatusCode != 201 {
		t.Fatalf("HTTP %d: %s", resp.StatusCode, body)
	}
	var created struct {
		ID, Workspace, Scope, Label, Token string
	}
	if err := json.Unmarshal(body, &created); err != nil || created.Scope != "read" || created.Workspace != "acme" || !strings.HasPrefix(created.Token, "ct_"+created.ID+"_") {
		t.Fatalf("created %s (%v)", body, err)
	}
	if r, b := e.do(t, "GET", "/api/v1/workspaces/acme/profiles/u1", created.Token, ""); r.StatusCode != 200 {
		t.Errorf("new token: HTTP %d %s", r.StatusCode, b)
	}
	// A workspace admin token manages its workspace's tokens only.
	resp, body = e.do(t, "GET", base, e.admin, "")
	var list []map[string]any
	if err := json.Unmarshal(body, &list); err != nil || resp.StatusCode != 200 || len(list) != 4 {
		t.Errorf("list: HTTP %d, %s", resp.StatusCode, body)
	}
	if strings.Contains(string(body), "sha256") || strings.Contains(string(body), created.Token) {
		t.Errorf("list leaks secrets: %s", body)
	}
	for _, tc := range []struct {
		name, method, path, token, body string
		status                          int
	}{
		{"no token", "GET", base, "", "", 401},
		{"read token", "GET", base, e.read, "", 403},
		{"write token creates", "POST", base, e.write, `{"scope":"admin"}`, 403},
		{"acme admin on beta", "GET", "/v1/admin/workspaces/beta/tokens", e.admin, "", 403},
		{"bad scope", "POST", base, e.admin, `{"scope":"root"}`, 400},
		{"bad JSON", "POST", base, e.admin, `{`, 400},
		{"unknown workspace", "GET", "/v1/admin/workspaces/nope/tokens", adminToken, "", 404},
		{"revoke unknown", "DELETE", base + "/0123456789abcdef", e.admin, "", 404},
		{"revoke beta's through acme", "DELETE", base + "/" + e.store.List("beta")[0].ID, adminToken, "", 404},
		{"revoke", "DELETE", base + "/" + created.ID, e.admin, "", 200},
	} {
		resp, body := e.do(t, tc.method, tc.path, tc.token, tc.body)
		if resp.StatusCode != tc.status {
			t.Errorf("%s: HTTP %d, want %d: %s", tc.name, resp.StatusCode, tc.status, body)
		}
		var eb struct{ Error string }
		if tc.status >= 400 && (json.Unmarshal(body, &eb) != nil || eb.Error == "") {
			t.Errorf("%s: error body %s", tc.name, body)
		}
		if resp.Header.Get("X-Request-Id") == "" {
			t.Errorf("%s: no X-Request-Id", tc.name)
		}
	}
	if r, _ := e.do(t, "GET", "/api/v1/workspaces/acme/profiles/u1", created.Token, ""); r.StatusCode != 401 {
		t.Errorf("revoked token: HTTP %d", r.StatusCode)
	}
}

// TestAccessLogs checks the access log lines of REST and gRPC calls.
func TestAccessLogs(t *testing.T) {
	e := newEnv(t, envOptions{})
	e.do(t, "GET", "/api/v1/workspaces/acme/profiles/u1", e.read, "", "X-Request-Id", "log-1")
	e.do(t, "GET", "/api/v1/workspaces/beta/profiles/u1", e.read, "", "X-Request-Id", "log-2")
	var httpLine, grpcLine, deniedLine map[string]any
	for _, l := range e.logs.lines("http") {
		if l["request_id"] == "log-1" {
			httpLine = l
		}
	}
	for _, l := range e.logs.lines("grpc") {
		switch l["request_id"] {
		case "log-1":
			grpcLine = l
		case "log-2":
			deniedLine = l
		}
	}
	if httpLine == nil || httpLine["method"] != "GET" || httpLine["path"] != "/api/v1/workspaces/acme/profiles/u1" ||
		httpLine["status"] != float64(200) || httpLine["workspace"] != "acme" || httpLine["level"] != "INFO" || httpLine["took"] == nil {
		t.Errorf("http access line %v", httpLine)
	}
	// The gateway's inner gRPC call carries the same request id, at debug.
	if grpcLine == nil || grpcLine["rpc"] != "/cohort.profile.v1.ProfileService/GetProfile" || grpcLine["code"] != "OK" ||
		grpcLine["workspace"] != "acme" || grpcLine["level"] != "DEBUG" || !strings.HasPrefix(grpcLine["subject"].(string), "token:") {
		t.Errorf("grpc access line %v", grpcLine)
	}
	if deniedLine == nil || deniedLine["code"] != "PermissionDenied" || deniedLine["workspace"] != "beta" || deniedLine["err"] == nil {
		t.Errorf("denied access line %v", deniedLine)
	}
}
