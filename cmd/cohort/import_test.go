package main

import (
	"bytes"
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"

	ingestv1 "github.com/cohortdb/cohort/api/ingest/v1"
	"github.com/cohortdb/cohort/engine"
)

func demoSnapshot(t *testing.T, s *server) *engine.Snapshot {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	if err := s.ingest.svc.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	return s.demo.Snapshot()
}

// TestCmdImport runs `cohort import` against a running server, with the
// write key given and with the key asked from the admin API.
func TestCmdImport(t *testing.T) {
	cfg := testConfig(t)
	s, _ := start(t, cfg, nil)
	path := filepath.Join(t.TempDir(), "events.ndjson")
	if err := os.WriteFile(path, []byte(`{"type":"track","userId":"i1","event":"A"}
{"type":"track","event":"B"}
{"type":"identify","userId":"i1","traits":{"plan":"pro"}}
`), 0o644); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	code := run(t.Context(), []string{"import", "--workspace", demoWorkspace, "--url", s.URL(), "--write-key", s.ingest.demoKey, path}, nil, &stdout, &stderr)
	if code != exitOK {
		t.Fatalf("exit %d; stderr:\n%s", code, stderr.String())
	}
	if !strings.Contains(stdout.String(), "imported 2 rows, rejected 1") {
		t.Errorf("stdout: %s", stdout.String())
	}
	if !strings.Contains(stderr.String(), "line 2: userId: ") {
		t.Errorf("stderr lacks the rejected line:\n%s", stderr.String())
	}
	if got := demoSnapshot(t, s).Events.Live; got != 1 {
		t.Errorf("events = %d, want 1", got)
	}

	// Same file again: done. With --restart and the key from the admin
	// API (token read from the data directory): de-duplicated.
	stdout.Reset()
	stderr.Reset()
	if code := run(t.Context(), []string{"import", "--workspace", demoWorkspace, "--url", s.URL(), "--write-key", s.ingest.demoKey, path}, nil, &stdout, &stderr); code != exitOK || !strings.Contains(stderr.String(), "already imported") {
		t.Errorf("second run: exit %d, stderr %s", code, stderr.String())
	}
	code = run(t.Context(), []string{"import", "--workspace", demoWorkspace, "--restart", "--progress=false", path},
		[]string{"COHORT_HTTP_ADDR=" + s.Addr().String(), "COHORT_DATA_DIR=" + cfg.DataDir}, &stdout, &stderr)
	if code != exitOK {
		t.Fatalf("restart: exit %d; stderr:\n%s", code, stderr.String())
	}
	if got := demoSnapshot(t, s).Events.Live; got != 1 {
		t.Errorf("events after re-import = %d, want 1", got)
	}

	// Usage errors.
	for _, args := range [][]string{
		{"import", path},
		{"import", "--workspace", "demo"},
		{"import", "--workspace", "demo", "--types", "a:blob", path},
		{"import", "--workspace", "demo", "file.xyz"},
	} {
		stderr.Reset()
		if code := run(t.Context(), args, nil, &stdout, &stderr); code != exitUsage {
			t.Errorf("%q: exit %d, want %d; stderr %s", args, code, exitUsage, stderr.String())
		}
	}
	// --direct refuses while the server runs.
	stderr.Reset()
	if code := run(t.Context(), []string{"import", "--workspace", "demo", "--direct", "--url", s.URL(), "--data-dir", cfg.DataDir, "--restart", path}, nil, &stdout, &stderr); code != exitFailure || !strings.Contains(stderr.String(), "server answers") {
		t.Errorf("--direct beside a server: exit %d, stderr %s", code, stderr.String())
	}
}

// TestServeGRPC checks that serve exposes IngestService on grpc_addr and
// its REST mapping on the HTTP port.
func TestServeGRPC(t *testing.T) {
	s, _ := start(t, testConfig(t), nil)
	conn, err := grpc.NewClient(s.GRPCAddr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx := metadata.AppendToOutgoingContext(t.Context(), "x-write-key", s.ingest.demoKey)
	if _, err := ingestv1.NewIngestServiceClient(conn).Track(ctx, &ingestv1.TrackRequest{UserId: "g", Event: "Via gRPC"}); err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest("POST", s.URL()+"/api/v1/track", strings.NewReader(`{"userId":"g","event":"Via REST"}`))
	req.Header.Set("Authorization", "Bearer "+s.ingest.demoKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("REST track: %d", resp.StatusCode)
	}
	if code, _ := get(t, s.URL()+"/healthz"); code != 200 {
		t.Errorf("/healthz behind the gateway mux: %d", code)
	}
	if got := demoSnapshot(t, s).Events.Live; got != 2 {
		t.Errorf("events = %d, want 2", got)
	}
}
