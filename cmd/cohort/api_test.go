package main

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/cohortdb/cohort/api/client"
	"github.com/cohortdb/cohort/engine"
	"github.com/cohortdb/cohort/engine/column"
	"github.com/cohortdb/cohort/engine/identity"
)

// TestServeAPI: `cohort token` issues, lists and revokes API tokens
// against a running server; the token reads profiles over REST and gRPC
// (the same server as IngestService); /openapi.json is served.
func TestServeAPI(t *testing.T) {
	cfg := testConfig(t)
	s, stop := start(t, cfg, nil)
	defer stop()
	ctx := t.Context()
	if err := s.ingest.svc.WaitCaughtUp(ctx); err != nil {
		t.Fatal(err)
	}
	base := []string{"--url", s.URL(), "--data-dir", cfg.DataDir}
	runCmd := func(args ...string) (int, string, string) {
		var out, errb bytes.Buffer
		code := run(ctx, append(append([]string{"token"}, args...), base...), nil, &out, &errb)
		return code, out.String(), errb.String()
	}
	for _, bad := range [][]string{{"create", "--scope", "read"}, {"create", "--workspace", "demo", "--scope", "root"}, {"revoke", "--workspace", "demo"}, {}} {
		if code, _, errs := runCmd(bad...); code != exitUsage {
			t.Errorf("token %q: exit %d, %s", bad, code, errs)
		}
	}
	if code, _, errs := runCmd("create", "--workspace", "nope", "--scope", "read"); code != exitFailure || !strings.Contains(errs, "no such workspace") {
		t.Errorf("unknown workspace: %d %q", code, errs)
	}
	code, out, errs := runCmd("create", "--workspace", "demo", "--scope", "read", "--label", "dashboards")
	m := regexp.MustCompile(`token (ct_([0-9a-f]{16})_[0-9a-f]{48}) `).FindStringSubmatch(out)
	if code != exitOK || m == nil {
		t.Fatalf("create: %d %q %q", code, out, errs)
	}
	token, id := m[1], m[2]
	if code, out, _ := runCmd("list", "--workspace", "demo"); code != exitOK || !strings.Contains(out, id) || !strings.Contains(out, "dashboards") || strings.Contains(out, token) {
		t.Errorf("list: %d %q", code, out)
	}

	at := time.Date(2026, 5, 1, 9, 0, 0, 0, time.UTC).UnixMicro()
	ops := []engine.Op{
		{Kind: engine.OpTrack, IDs: []identity.ID{{Type: "anonymous_id", Value: "dev-1"}}, Event: "page_viewed", At: at, Source: "e1"},
		{Kind: engine.OpIdentify, IDs: []identity.ID{{Type: "user_id", Value: "zoe"}, {Type: "email", Value: "zoe@example.com"}}, At: at + 1e6, Source: "i1",
			Traits: []engine.Field{{Name: "plan", Value: column.String("pro")}}},
		{Kind: engine.OpAlias, IDs: []identity.ID{{Type: "anonymous_id", Value: "dev-1"}, {Type: "user_id", Value: "zoe"}}, At: at + 2e6, Source: "a1"},
		{Kind: engine.OpTrack, IDs: []identity.ID{{Type: "user_id", Value: "zoe"}}, Event: "checkout", At: at + 3e6, Source: "e2"},
	}
	if err := s.ingest.svc.Append(ctx, demoWorkspace, ops); err != nil {
		t.Fatal(err)
	}
	if err := s.ingest.svc.Sync(ctx); err != nil {
		t.Fatal(err)
	}

	getJSON := func(path, tok string, v any) int {
		t.Helper()
		req, _ := http.NewRequest("GET", s.URL()+path, nil)
		if tok != "" {
			req.Header.Set("Authorization", "Bearer "+tok)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if v != nil && json.Unmarshal(b, v) != nil {
			t.Errorf("GET %s: not JSON: %s", path, b)
		}
		if resp.Header.Get("X-Request-Id") == "" {
			t.Errorf("GET %s: no X-Request-Id", path)
		}
		return resp.StatusCode
	}
	var p struct {
		PersonID uint32 `json:"personId"`
		Merges   []any
		Events   []struct{ Name string }
		Traits   map[string]map[string]any
	}
	if code := getJSON("/api/v1/workspaces/demo/profiles/zoe%40example.com", token, &p); code != 200 || len(p.Merges) != 1 || len(p.Events) != 2 || p.Events[0].Name != "checkout" || p.Traits["plan"]["stringValue"] != "pro" {
		t.Errorf("REST profile: %d %+v", code, p)
	}
	if code := getJSON("/api/v1/workspaces/demo/profiles/zoe", "", nil); code != 401 {
		t.Errorf("no token: %d", code)
	}
	var hist struct{ Changes []struct{ Attribute string } }
	if code := getJSON("/api/v1/workspaces/demo/profiles/zoe/history?attributes=plan", token, &hist); code != 200 || len(hist.Changes) != 1 {
		t.Errorf("history: %d %+v", code, hist)
	}
	if code := getJSON("/api/v1/workspaces/demo/segments", token, nil); code != 200 && code != 501 {
		t.Errorf("segments: %d", code)
	}
	var doc struct{ Paths map[string]any }
	if code := getJSON("/openapi.json", "", &doc); code != 200 || doc.Paths["/api/v1/workspaces/{workspace}/profiles/{id}"] == nil {
		t.Errorf("/openapi.json: %d", code)
	}

	c, err := client.Dial(s.GRPCAddr().String(), token)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	gp, err := c.GetProfile(ctx, demoWorkspace, client.ByID("dev-1"))
	if err != nil || gp.PersonId != p.PersonID || len(gp.Identifiers) != 3 {
		t.Errorf("gRPC profile: %v, %v", gp, err)
	}

	if code, out, errs := runCmd("revoke", "--workspace", "demo", id); code != exitOK || !strings.Contains(out, "revoked") {
		t.Errorf("revoke: %d %q %q", code, out, errs)
	}
	if _, err := c.GetProfile(ctx, demoWorkspace, client.ByID("zoe")); status.Code(err) != codes.Unauthenticated {
		t.Errorf("revoked token over gRPC: %v", err)
	}
	if code, _, errs := runCmd("revoke", "--workspace", "demo", id); code != exitFailure || !strings.Contains(errs, "no such token") {
		t.Errorf("second revoke: %d %q", code, errs)
	}
}
