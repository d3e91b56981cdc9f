package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/cohortdb/cohort/ingest"
)

// adminTokenFile is the file in the data directory that holds the admin
// token when admin_token is not set.
const adminTokenFile = "admin_token"

// ingestParts is the ingest side of a running server.
type ingestParts struct {
	svc        *ingest.Service
	demoKey    string
	adminToken string // of the admin API and the token store (api.go)
	tokenFrom  string // where the admin token came from, for the banner
}

// openIngest starts the ingest service (log, keys, applier), makes sure
// the demo workspace has a write key, and returns the parts.
func (s *server) openIngest() (*ingestParts, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	token, from, err := adminToken(s.cfg.AdminToken, s.dataDir)
	if err != nil {
		return nil, err
	}
	svc, err := ingest.New(ctx, s.eng, ingest.Options{
		DataDir:    s.dataDir,
		NATSURL:    s.cfg.NATSURL,
		Partitions: s.cfg.IngestPartitions,
		AdminToken: token,
		Logger:     s.log,
	})
	if err != nil {
		return nil, err
	}
	key, err := svc.EnsureWorkspaceKey(ctx, demoWorkspace, "demo")
	if err != nil {
		svc.Shutdown(ctx)
		return nil, fmt.Errorf("cannot create the demo write key: %w", err)
	}
	// startIngest starts the applier once everything that watches applied
	// batches (segments) is attached.
	return &ingestParts{svc: svc, demoKey: key, adminToken: token, tokenFrom: from}, nil
}

// startIngest starts replaying and applying the log.
func (s *server) startIngest() {
	if s.ingest != nil {
		s.ingest.svc.Start(context.Background())
	}
}

// adminToken returns the configured token, or the one in
// <dataDir>/admin_token, creating that file with a random token.
func adminToken(configured, dataDir string) (token, from string, _ error) {
	if configured != "" {
		return configured, "admin_token setting", nil
	}
	path := filepath.Join(dataDir, adminTokenFile)
	b, err := os.ReadFile(path)
	if err == nil && len(strings.TrimSpace(string(b))) > 0 {
		return strings.TrimSpace(string(b)), path, nil
	}
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return "", "", fmt.Errorf("cannot read admin token: %w", err)
	}
	var r [24]byte
	if _, err := rand.Read(r[:]); err != nil {
		return "", "", fmt.Errorf("cannot create admin token: %w", err)
	}
	token = hex.EncodeToString(r[:])
	if err := writeFileAtomic(path, []byte(token+"\n"), 0o600); err != nil {
		return "", "", fmt.Errorf("cannot write admin token: %w", err)
	}
	return token, path, nil
}

// writeFileAtomic writes temp → fsync → rename → fsync dir.
func writeFileAtomic(path string, data []byte, perm os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(perm); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	d, err := os.Open(filepath.Dir(path))
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// withIngest serves the ingest and admin routes in front of next (the
// server's own routes), appends the ingest metrics to GET /metrics, and
// answers GET /readyz with 503 while the log is being replayed.
func (s *server) withIngest(next http.Handler) http.Handler {
	if s.ingest == nil {
		return next
	}
	mux := http.NewServeMux()
	s.ingest.svc.Register(mux)
	mux.Handle("/", next)
	mux.HandleFunc("GET /metrics", func(w http.ResponseWriter, r *http.Request) {
		next.ServeHTTP(w, r)
		bw := bufio.NewWriter(w)
		s.ingest.svc.WriteMetrics(bw)
		bw.Flush()
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		if !s.ingest.svc.Caught() && !s.draining.Load() {
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			w.WriteHeader(http.StatusServiceUnavailable)
			io.WriteString(w, "replaying the ingest log\n")
			return
		}
		next.ServeHTTP(w, r)
	})
	return mux
}

// ingestBanner is the ingest line of the startup banner.
func (s *server) ingestBanner() string {
	if s.ingest == nil {
		return "off"
	}
	url := s.URL()
	return fmt.Sprintf(`Segment API %s/v1/batch (and /v1/track, /v1/identify…)   CleverTap %s/1/upload
           demo write key %s
           admin token in %s (cohort workspace create|list|keys)`, url, url, s.ingest.demoKey, s.ingest.tokenFrom)
}

// closeIngest flushes and closes the log after HTTP has stopped.
func (s *server) closeIngest(ctx context.Context) error {
	if s.ingest == nil {
		return nil
	}
	if err := s.ingest.svc.Shutdown(ctx); err != nil {
		return fmt.Errorf("cannot shut down ingest: %w", err)
	}
	return nil
}
