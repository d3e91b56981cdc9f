package main

import (
	"bytes"
	"net/http"
	"regexp"
	"strings"
	"testing"
)

// TestWorkspaceCommands creates a workspace and keys through `cohort
// workspace` against a running server, then ingests with the key.
func TestWorkspaceCommands(t *testing.T) {
	cfg := testConfig(t)
	s, stop := start(t, cfg, nil)
	defer stop()
	base := []string{"--url", s.URL(), "--data-dir", cfg.DataDir} // the token comes from <data-dir>/admin_token
	runCmd := func(args ...string) (int, string, string) {
		var out, errb bytes.Buffer
		code := run(t.Context(), append(append([]string{"workspace"}, args...), base...), nil, &out, &errb)
		return code, out.String(), errb.String()
	}
	code, out, errs := runCmd("create", "acme")
	if code != exitOK || !strings.Contains(out, "workspace acme created") {
		t.Fatalf("create: %d %q %q", code, out, errs)
	}
	key := regexp.MustCompile(`write key ([0-9a-f]{32})`).FindStringSubmatch(out)
	if key == nil {
		t.Fatalf("no key in %q", out)
	}
	if code, _, errs := runCmd("create", "acme"); code != exitFailure || !strings.Contains(errs, "exists") {
		t.Errorf("second create: %d %q", code, errs)
	}
	if code, out, _ := runCmd("keys", "acme", "--new", "--label", "backend"); code != exitOK || !strings.Contains(out, "write key ") {
		t.Errorf("keys --new: %d %q", code, out)
	}
	code, out, _ = runCmd("keys", "acme")
	if code != exitOK || strings.Count(out, "\n") != 3 || !strings.Contains(out, "backend") {
		t.Errorf("keys: %d %q", code, out)
	}
	code, out, _ = runCmd("list")
	if code != exitOK || !strings.Contains(out, "acme") || !strings.Contains(out, "demo") {
		t.Errorf("list: %d %q", code, out)
	}
	if code := run(t.Context(), []string{"workspace", "list", "--url", s.URL(), "--admin-token", "wrong"}, nil, &bytes.Buffer{}, &bytes.Buffer{}); code != exitFailure {
		t.Errorf("wrong token: %d", code)
	}
	// The key works on the server's Segment API.
	req, _ := http.NewRequest("POST", s.URL()+"/v1/track", strings.NewReader(`{"userId":"u","event":"e"}`))
	req.SetBasicAuth(key[1], "")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("track with the new key: %d", resp.StatusCode)
	}
}
