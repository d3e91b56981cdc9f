package ingest

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/cohortdb/cohort/engine/column"
	"github.com/cohortdb/cohort/engine/identity"
)

// TestAnalyticsNode drives the server with the official npm client
// @segment/analytics-node (testdata/node). It needs node and npm; the
// dependencies are installed with `npm ci` (also done by .ci/run).
func TestAnalyticsNode(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node is not installed")
	}
	dir, _ := filepath.Abs(filepath.Join("testdata", "node"))
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "@segment", "analytics-node")); err != nil {
		npm, err := exec.LookPath("npm")
		if err != nil {
			t.Skip("npm is not installed")
		}
		cmd := exec.CommandContext(t.Context(), npm, "ci", "--no-audit", "--no-fund")
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("npm ci: %v\n%s", err, out)
		}
	}
	h := startHarness(t, t.TempDir())
	key := h.key("nodeshop")
	cmd := exec.CommandContext(t.Context(), node, "client.mjs")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "COHORT_URL="+h.srv.URL, "COHORT_WRITE_KEY="+key)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("node client: %v\n%s", err, out)
	} else {
		t.Logf("node client: %s", out)
	}
	deadline := time.Now().Add(10 * time.Second)
	for h.svc.Status().Ops < 5 && time.Now().Before(deadline) {
		h.sync()
		time.Sleep(5 * time.Millisecond)
	}
	p := h.profile("nodeshop", identity.ID{Type: identity.TypeUserID, Value: "node-1"})
	for k, v := range map[string]column.Value{"email": column.String("node@example.com"), "name": column.String("Noddy"),
		"group_id": column.String("org-node"), "group_name": column.String("Node Inc"), "group_employees": column.Int(5)} {
		if !p[k].Equal(v) {
			t.Errorf("profile %s = %v, want %v", k, p[k], v)
		}
	}
	s := h.snap("nodeshop")
	pu, _ := s.Graph.Lookup(identity.ID{Type: identity.TypeUserID, Value: "node-1"})
	for _, id := range []identity.ID{{Type: identity.TypeAnonymousID, Value: "anon-node"}, {Type: identity.TypeAnonymousID, Value: "anon-node-old"}} {
		if q, ok := s.Graph.Lookup(id); !ok || s.Graph.Canonical(q) != s.Graph.Canonical(pu) {
			t.Errorf("%v not linked to node-1", id)
		}
	}
	names := map[string]map[string]column.Value{}
	for _, e := range h.events("nodeshop") {
		names[e["name"].S] = e
	}
	if e := names["Item Purchased"]; e == nil || !e["price"].Equal(column.Float(19.5)) || !e["qty"].Equal(column.Int(2)) || e["context_library_name"].S != "@segment/analytics-node" {
		t.Errorf("track event %v", e)
	}
	if e := names["page_viewed"]; e == nil || e["prop_name"].S != "Docs" || e["category"].S != "Help" {
		t.Errorf("page event %v", e)
	}
}
