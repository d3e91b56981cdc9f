package segmentapi_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"net/url"
	"slices"
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

// restSegment is a Segment as the gateway writes it (protojson).
type restSegment struct {
	Workspace, Name, SQL, Description string
	Version                           uint32
	CreatedAt, UpdatedAt              string
}

// TestREST drives the segment API with plain net/http, as curl would:
// create, replace, get, list (paged), count, preview, members (NDJSON)
// and delete, and the errors of each (400 with the compiler's message,
// 404, 409) as a google.rpc.Status body with the HTTP status of its code.
func TestREST(t *testing.T) {
	e := newEnv(t, 0)
	base := "/api/v1/workspaces/acme/segments"
	u1 := e.f.Person(t, fixture.UID("u1"))
	u2 := e.f.Person(t, fixture.UID("u2"))

	expectError := func(what string, status, code int, body []byte, gotStatus int, msg string) {
		t.Helper()
		var st statusBody
		if err := json.Unmarshal(body, &st); err != nil || gotStatus != status || st.Code == nil || *st.Code != code || st.Message == nil {
			t.Errorf("%s: HTTP %d %s, want %d with code %d", what, gotStatus, body, status, code)
			return
		}
		if !strings.Contains(*st.Message, msg) {
			t.Errorf("%s: message %q does not say %q", what, *st.Message, msg)
		}
	}
	post := func(body string) (int, []byte) {
		t.Helper()
		resp, b := e.do(t, "POST", base, e.write, body)
		return resp.StatusCode, b
	}
	get := func(path string) (int, []byte) {
		t.Helper()
		resp, b := e.do(t, "GET", path, e.read, "")
		return resp.StatusCode, b
	}

	// Create.
	code, body := post(`{"name": "pros", "sql": "SELECT person_id FROM profiles WHERE plan = 'pro'", "description": "paying"}`)
	var s restSegment
	if err := json.Unmarshal(body, &s); code != 200 || err != nil || s.Name != "pros" || s.Version != 1 || s.Workspace != "acme" ||
		s.SQL != "SELECT person_id FROM profiles WHERE plan = 'pro'" || s.Description != "paying" || s.CreatedAt == "" || s.UpdatedAt == "" {
		t.Fatalf("create: HTTP %d %s", code, body)
	}
	for name, sql := range map[string]string{
		"everyone": "SELECT person_id FROM profiles",
		"vips":     "SELECT person_id FROM profiles WHERE vip = true",
		"old":      "SELECT person_id FROM profiles WHERE age > 99",
	} {
		if code, body := post(`{"name": "` + name + `", "sql": "` + sql + `"}`); code != 200 {
			t.Fatalf("create %s: HTTP %d %s", name, code, body)
		}
	}
	// Errors of CreateSegment.
	code, body = post(`{"name": "pros", "sql": "SELECT person_id FROM profiles"}`)
	expectError("create twice", 409, 6, body, code, `segment "pros" already exists`)
	code, body = post(`{"name": "bad", "sql": "SELECT person_id FROM profiles WHERE"}`)
	expectError("syntax error", 400, 3, body, code, "syntax error at position 37 near 'WHERE'")
	code, body = post(`{"name": "bad", "sql": "SELECT person_id FROM profiles WHERE nope = 1"}`)
	expectError("unknown column", 400, 3, body, code, `column "nope" could not be found`)
	code, body = post(`{"name": "9lives", "sql": "SELECT person_id FROM profiles"}`)
	expectError("bad name", 400, 3, body, code, "invalid segment name")
	code, body = post(`{"name": "empty"}`)
	expectError("no sql", 400, 3, body, code, "sql is required")
	resp, body := e.do(t, "POST", "/api/v1/workspaces/nowhere/segments", adminToken, `{"name": "x", "sql": "SELECT person_id FROM profiles"}`)
	expectError("unknown workspace", 404, 5, body, resp.StatusCode, `no workspace "nowhere"`)
	if code, body := get(base + "/bad"); code != 404 {
		t.Errorf("a rejected definition exists: HTTP %d %s", code, body)
	}

	// Replace: a new version, same creation time.
	code, body = post(`{"name": "pros", "sql": "SELECT person_id FROM profiles WHERE plan = 'pro'", "description": "paying, v2", "replace": true}`)
	var s2 restSegment
	if err := json.Unmarshal(body, &s2); code != 200 || err != nil || s2.Version != 2 || s2.CreatedAt != s.CreatedAt || s2.Description != "paying, v2" {
		t.Fatalf("replace: HTTP %d %s (was %+v)", code, body, s)
	}

	// Get.
	code, body = get(base + "/pros")
	if err := json.Unmarshal(body, &s); code != 200 || err != nil || s.Version != 2 || s.Name != "pros" {
		t.Errorf("get: HTTP %d %s", code, body)
	}
	code, body = get(base + "/nope")
	expectError("get unknown", 404, 5, body, code, `no segment "nope" in workspace "acme"`)

	// List, one page at a time.
	var names []string
	token := ""
	for pages := 0; ; pages++ {
		if pages > 10 {
			t.Fatal("list does not end")
		}
		code, body = get(base + "?pageSize=3&pageToken=" + url.QueryEscape(token))
		var page struct {
			Segments      []restSegment
			NextPageToken string
		}
		if err := json.Unmarshal(body, &page); code != 200 || err != nil || len(page.Segments) > 3 {
			t.Fatalf("list: HTTP %d %s", code, body)
		}
		for _, s := range page.Segments {
			names = append(names, s.Name)
		}
		if token = page.NextPageToken; token == "" {
			break
		}
	}
	if want := []string{"everyone", "old", "pros", "vips"}; !slices.Equal(names, want) {
		t.Errorf("list: %v, want %v", names, want)
	}
	code, body = get(base + "?pageToken=%25%25")
	expectError("bad page token", 400, 3, body, code, "bad page_token")

	// Count: the real-time membership (protojson writes uint64 as a string).
	for name, want := range map[string]string{"pros": "1", "everyone": "2", "vips": "1", "old": "0"} {
		code, body = get(base + "/" + name + "/count")
		var c struct {
			Count   string
			Version uint32
		}
		if err := json.Unmarshal(body, &c); code != 200 || err != nil || c.Count != want {
			t.Errorf("count %s: HTTP %d %s, want %s", name, code, body, want)
		}
	}
	code, body = get(base + "/nope/count")
	expectError("count unknown", 404, 5, body, code, `no segment "nope"`)

	// Preview: members by person id with the chosen attributes, NULL ones
	// omitted, typed.
	code, body = get(base + "/everyone/preview?limit=5&attributes=plan&attributes=age&attributes=tags&attributes=signup")
	var pv struct {
		Members []struct {
			PersonID   uint32 `json:"personId"`
			Attributes map[string]map[string]any
		}
		Version uint32
	}
	if err := json.Unmarshal(body, &pv); code != 200 || err != nil || len(pv.Members) != 2 || pv.Version != 1 {
		t.Fatalf("preview: HTTP %d %s", code, body)
	}
	if m := pv.Members[0]; m.PersonID != u1 || m.Attributes["plan"]["stringValue"] != "enterprise" || m.Attributes["age"]["intValue"] != "42" ||
		m.Attributes["signup"]["timestampValue"] == nil || m.Attributes["tags"]["stringListValue"] == nil {
		t.Errorf("preview of u1: %+v", m)
	}
	if m := pv.Members[1]; m.PersonID != u2 || m.Attributes["plan"]["stringValue"] != "pro" || len(m.Attributes) != 1 {
		t.Errorf("preview of u2 (age, tags, signup NULL): %+v", m)
	}
	code, body = get(base + "/everyone/preview?limit=1")
	pv.Members = nil
	if err := json.Unmarshal(body, &pv); code != 200 || err != nil || len(pv.Members) != 1 || len(pv.Members[0].Attributes) != 0 {
		t.Errorf("preview limit 1, no attributes: HTTP %d %s", code, body)
	}
	code, body = get(base + "/everyone/preview?attributes=nope")
	expectError("preview unknown attribute", 400, 3, body, code, `no profile attribute "nope"`)

	// Members as NDJSON.
	resp, body = e.do(t, "GET", base+"/everyone/members?batchSize=1", e.read, "")
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/x-ndjson" {
		t.Fatalf("members: HTTP %d %q %s", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
	var ids []uint32
	var cursors []string
	sc := bufio.NewScanner(bytes.NewReader(body))
	for sc.Scan() {
		var line struct {
			Result *struct {
				PersonIDs []uint32 `json:"personIds"`
				Cursor    string
			}
		}
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil || line.Result == nil {
			t.Fatalf("members line %q: %v", sc.Text(), err)
		}
		ids = append(ids, line.Result.PersonIDs...)
		cursors = append(cursors, line.Result.Cursor)
	}
	if !slices.Equal(ids, []uint32{u1, u2}) || len(cursors) != 2 {
		t.Errorf("members %v, cursors %v", ids, cursors)
	}
	resp, body = e.do(t, "GET", base+"/everyone/members?cursor="+cursors[0], e.read, "")
	if resp.StatusCode != 200 || !bytes.Contains(body, []byte(`"personIds":[`+itoa(u2)+`]`)) || bytes.Count(body, []byte("\n")) != 1 {
		t.Errorf("members after %s: HTTP %d %s", cursors[0], resp.StatusCode, body)
	}
	resp, body = e.do(t, "GET", base+"/everyone/members?cursor=x", e.read, "")
	var line struct{ Error statusBody }
	if err := json.Unmarshal(body, &line); err != nil || resp.StatusCode != 400 || line.Error.Code == nil || *line.Error.Code != 3 {
		t.Errorf("members with a bad cursor: HTTP %d %s", resp.StatusCode, body)
	}

	// Delete.
	resp, body = e.do(t, "DELETE", base+"/pros", e.write, "")
	if resp.StatusCode != 200 || strings.TrimSpace(string(body)) != "{}" {
		t.Errorf("delete: HTTP %d %s", resp.StatusCode, body)
	}
	resp, body = e.do(t, "DELETE", base+"/pros", e.write, "")
	expectError("delete twice", 404, 5, body, resp.StatusCode, `no segment "pros"`)
	code, body = get(base + "/pros")
	expectError("get deleted", 404, 5, body, code, `no segment "pros"`)
	defs, err := e.store.Definitions(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	var stored []string
	for _, d := range defs {
		stored = append(stored, d.Name)
	}
	slices.Sort(stored)
	if !slices.Equal(stored, []string{"everyone", "old", "vips"}) {
		t.Errorf("stored definitions %v", stored)
	}
	// Scopes are the transport's: a read token cannot create.
	resp, body = e.do(t, "POST", base, e.read, `{"name": "x", "sql": "SELECT person_id FROM profiles"}`)
	expectError("read token creates", 403, 7, body, resp.StatusCode, "")
}

func itoa(p uint32) string {
	b, _ := json.Marshal(p)
	return string(b)
}
