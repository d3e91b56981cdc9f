package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/cohortdb/cohort/delivery/tokens"
)

func writeTokenHelp(w io.Writer) {
	fmt.Fprint(w, `Usage:
  cohort token create --workspace W --scope read|write|admin [--label L]
                                       issue an API token; its secret is printed once
  cohort token list --workspace W      list the workspace's tokens (never their secrets)
  cohort token revoke --workspace W ID revoke a token at once, on every node

API tokens authenticate the gRPC API and its REST gateway (profiles and
segments) as "Authorization: Bearer <token>". A token works only on its
workspace. Scopes: read (profiles, segment reads and streams), write (read,
and defining and dropping segments), admin (write, and managing the
workspace's tokens through /v1/admin/workspaces/W/tokens).

The commands talk to a running server's admin API.

Flags (before or after the arguments):
  --workspace W       the workspace (required)
  --scope S           read, write or admin (create)
  --label L           a note shown by list (create)
  --url URL           the server (default http://<http_addr>; env COHORT_HTTP_ADDR, else 127.0.0.1:8080)
  --admin-token T     the server's admin token, or an admin-scope token of the
                      workspace (env COHORT_ADMIN_TOKEN; default: the file
                      <data-dir>/admin_token the server created)
  --data-dir DIR      the server's data directory (env COHORT_DATA_DIR; default ./cohort-data)
`)
}

// createdToken is the admin API's answer to a creation.
type createdToken struct {
	tokens.Token
	Secret string `json:"token"`
}

func cmdToken(ctx context.Context, args, env []string, stdout, stderr io.Writer) int {
	envMap := map[string]string{}
	for _, kv := range env {
		if k, v, ok := strings.Cut(kv, "="); ok {
			envMap[k] = v
		}
	}
	var ws, scope, label, base, token, dataDir string
	fs := flag.NewFlagSet("token", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&ws, "workspace", "", "")
	fs.StringVar(&scope, "scope", "", "")
	fs.StringVar(&label, "label", "", "")
	fs.StringVar(&base, "url", "", "")
	fs.StringVar(&token, "admin-token", envMap["COHORT_ADMIN_TOKEN"], "")
	fs.StringVar(&dataDir, "data-dir", envMap["COHORT_DATA_DIR"], "")
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			writeTokenHelp(stdout)
			return exitOK
		}
		fmt.Fprintf(stderr, "cohort token: %v\n", err)
		return exitUsage
	}
	if len(pos) == 0 {
		writeTokenHelp(stderr)
		return exitUsage
	}
	if ws == "" {
		fmt.Fprintf(stderr, "cohort token %s: --workspace is required\n", pos[0])
		return exitUsage
	}
	if base == "" {
		addr := envMap["COHORT_HTTP_ADDR"]
		if addr == "" {
			addr = "127.0.0.1:8080"
		}
		base = "http://" + dialable(addr)
	}
	base = strings.TrimRight(base, "/")
	if token == "" {
		dir := dataDir
		if dir == "" {
			dir = "./cohort-data"
		}
		b, err := os.ReadFile(filepath.Join(dir, adminTokenFile))
		if err != nil {
			fmt.Fprintf(stderr, "cohort token: no admin token: set --admin-token or COHORT_ADMIN_TOKEN, or --data-dir to the server's data directory (%v)\n", err)
			return exitUsage
		}
		token = strings.TrimSpace(string(b))
	}
	c := adminClient{url: base, token: token, http: &http.Client{Timeout: 30 * time.Second}}
	path := "/v1/admin/workspaces/" + url.PathEscape(ws) + "/tokens"
	switch {
	case pos[0] == "create" && len(pos) == 1:
		if _, perr := tokens.ParseScope(scope); perr != nil {
			fmt.Fprintf(stderr, "cohort token create: --scope: %v\n", perr)
			return exitUsage
		}
		var t createdToken
		if err = c.do(ctx, "POST", path, map[string]string{"scope": scope, "label": label}, &t); err == nil {
			fmt.Fprintf(stdout, "token %s (id %s, workspace %s, scope %s)\nStore it now: it is not shown again.\n", t.Secret, t.ID, t.Workspace, t.Scope)
		}
	case pos[0] == "list" && len(pos) == 1:
		var list []tokens.Token
		if err = c.do(ctx, "GET", path, nil, &list); err == nil {
			tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tSCOPE\tLABEL\tCREATED")
			for _, t := range list {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", t.ID, t.Scope, t.Label, t.CreatedAt.Format(time.RFC3339))
			}
			tw.Flush()
		}
	case pos[0] == "revoke" && len(pos) == 2:
		var out map[string]string
		if err = c.do(ctx, "DELETE", path+"/"+url.PathEscape(pos[1]), nil, &out); err == nil {
			fmt.Fprintf(stdout, "token %s revoked\n", pos[1])
		}
	default:
		fmt.Fprintf(stderr, "cohort token: unexpected arguments %q\n\n", pos)
		writeTokenHelp(stderr)
		return exitUsage
	}
	if err != nil {
		fmt.Fprintf(stderr, "cohort token: %v\n", err)
		return exitFailure
	}
	return exitOK
}
