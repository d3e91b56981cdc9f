package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/cohortdb/cohort/ingest"
	"github.com/cohortdb/cohort/ingest/keys"
)

func writeWorkspaceHelp(w io.Writer) {
	fmt.Fprint(w, `Usage:
  cohort workspace create NAME           create a workspace and its first write key
  cohort workspace list                  list workspaces and their write keys
  cohort workspace keys NAME             list the write keys of a workspace
  cohort workspace keys NAME --new [--label L]   create another write key

The commands talk to a running server's admin API.

Flags (before or after the arguments):
  --url URL           the server (default http://<http_addr>; env COHORT_HTTP_ADDR, else 127.0.0.1:8080)
  --admin-token T     the admin token (env COHORT_ADMIN_TOKEN; default: the file
                      <data-dir>/admin_token the server created)
  --data-dir DIR      the server's data directory (env COHORT_DATA_DIR; default ./cohort-data)
`)
}

type workspaceFlags struct {
	url, token, dataDir, label string
	newKey                     bool
}

func cmdWorkspace(ctx context.Context, args, env []string, stdout, stderr io.Writer) int {
	envMap := map[string]string{}
	for _, kv := range env {
		if k, v, ok := strings.Cut(kv, "="); ok {
			envMap[k] = v
		}
	}
	var f workspaceFlags
	fs := flag.NewFlagSet("workspace", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&f.url, "url", "", "")
	fs.StringVar(&f.token, "admin-token", envMap["COHORT_ADMIN_TOKEN"], "")
	fs.StringVar(&f.dataDir, "data-dir", envMap["COHORT_DATA_DIR"], "")
	fs.StringVar(&f.label, "label", "", "")
	fs.BoolVar(&f.newKey, "new", false, "")
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			writeWorkspaceHelp(stdout)
			return exitOK
		}
		fmt.Fprintf(stderr, "cohort workspace: %v\n", err)
		return exitUsage
	}
	if len(pos) == 0 {
		writeWorkspaceHelp(stderr)
		return exitUsage
	}
	if f.url == "" {
		addr := envMap["COHORT_HTTP_ADDR"]
		if addr == "" {
			addr = "127.0.0.1:8080"
		}
		f.url = "http://" + dialable(addr)
	}
	f.url = strings.TrimRight(f.url, "/")
	if f.token == "" {
		dir := f.dataDir
		if dir == "" {
			dir = "./cohort-data"
		}
		b, err := os.ReadFile(filepath.Join(dir, adminTokenFile))
		if err != nil {
			fmt.Fprintf(stderr, "cohort workspace: no admin token: set --admin-token or COHORT_ADMIN_TOKEN, or --data-dir to the server's data directory (%v)\n", err)
			return exitUsage
		}
		f.token = strings.TrimSpace(string(b))
	}
	c := adminClient{url: f.url, token: f.token, http: &http.Client{Timeout: 30 * time.Second}}
	switch {
	case pos[0] == "create" && len(pos) == 2:
		var info ingest.WorkspaceInfo
		if err = c.do(ctx, "POST", "/v1/admin/workspaces", map[string]string{"name": pos[1], "label": f.label}, &info); err == nil {
			fmt.Fprintf(stdout, "workspace %s created\nwrite key %s\n", info.Name, info.Keys[0].Key)
		}
	case pos[0] == "list" && len(pos) == 1:
		var list []ingest.WorkspaceInfo
		if err = c.do(ctx, "GET", "/v1/admin/workspaces", nil, &list); err == nil {
			tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "WORKSPACE\tCREATED\tWRITE KEYS")
			for _, w := range list {
				ks := make([]string, len(w.Keys))
				for i, k := range w.Keys {
					ks[i] = k.Key
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\n", w.Name, w.CreatedAt.Format(time.RFC3339), strings.Join(ks, ","))
			}
			tw.Flush()
		}
	case pos[0] == "keys" && len(pos) == 2 && f.newKey:
		var k keys.Key
		if err = c.do(ctx, "POST", "/v1/admin/workspaces/"+pos[1]+"/keys", map[string]string{"label": f.label}, &k); err == nil {
			fmt.Fprintf(stdout, "write key %s\n", k.Key)
		}
	case pos[0] == "keys" && len(pos) == 2:
		var ks []keys.Key
		if err = c.do(ctx, "GET", "/v1/admin/workspaces/"+pos[1]+"/keys", nil, &ks); err == nil {
			tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "WRITE KEY\tLABEL\tCREATED")
			for _, k := range ks {
				fmt.Fprintf(tw, "%s\t%s\t%s\n", k.Key, k.Label, k.CreatedAt.Format(time.RFC3339))
			}
			tw.Flush()
		}
	default:
		fmt.Fprintf(stderr, "cohort workspace: unexpected arguments %q\n\n", pos)
		writeWorkspaceHelp(stderr)
		return exitUsage
	}
	if err != nil {
		fmt.Fprintf(stderr, "cohort workspace: %v\n", err)
		return exitFailure
	}
	return exitOK
}

type adminClient struct {
	url, token string
	http       *http.Client
}

func (c adminClient) do(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, _ := json.Marshal(in)
		body = strings.NewReader(string(b))
	}
	req, err := http.NewRequestWithContext(ctx, method, c.url+path, body)
	if err != nil {
		return fmt.Errorf("cannot build request: %w", err)
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("cannot reach the server (is `cohort serve` running?): %w", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if resp.StatusCode >= 300 {
		var e struct {
			Error string `json:"error"`
		}
		if json.Unmarshal(b, &e) == nil && e.Error != "" {
			return fmt.Errorf("%s (HTTP %d)", e.Error, resp.StatusCode)
		}
		return fmt.Errorf("HTTP %d: %s", resp.StatusCode, strings.TrimSpace(string(b)))
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("cannot decode the answer: %w", err)
	}
	return nil
}
