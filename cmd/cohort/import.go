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
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/cohortdb/cohort/ingest/importer"
	"github.com/cohortdb/cohort/ingest/keys"
)

func writeImportHelp(w io.Writer) {
	fmt.Fprint(w, `Usage: cohort import --workspace W [flags] FILE

Imports FILE into workspace W through the ingest log:
  NDJSON   one Segment message per line (identify, track, page, screen,
           group, alias), as the HTTP Tracking API takes them
  CSV      profiles with a header row: the id column (id, user_id or
           userId, or --id-column) is the user id, an anonymous_id column
           the anonymous id, every other column a trait
  Parquet  either shape: rows with a "type" column are Segment messages
           (traits, properties, context as groups or JSON strings), others
           are profiles like CSV rows with the columns' Parquet types

By default it talks to a running server (the Segment /v1/batch endpoint)
with W's write key, so every row is checked exactly as live traffic is.
With --direct it appends to the log in --data-dir of a STOPPED server,
which applies the rows when it starts.

Every rejected row is reported as "line N: field: reason" and the others
are still imported. Progress is checkpointed in a state file (FILE.cohort-import);
after Ctrl-C or a crash, run the same command again to continue: rows sent
twice are dropped by the log's message-id de-duplication (24 h window).

Flags:
  --workspace W       the workspace (required)
  --format F          ndjson, csv or parquet (default: from the extension)
  --url URL           the server (default http://<http_addr>; env COHORT_HTTP_ADDR, else 127.0.0.1:8080)
  --write-key K       W's write key (env COHORT_WRITE_KEY; default: asked from
                      the admin API with the admin token)
  --admin-token T     the admin token (env COHORT_ADMIN_TOKEN; default: <data-dir>/admin_token)
  --data-dir DIR      the server's data directory (env COHORT_DATA_DIR; default ./cohort-data)
  --direct            write to the log in --data-dir of a stopped server
  --state FILE        the progress file (default FILE.cohort-import)
  --restart           ignore the progress file and start over
  --id-column C       the user id column of profile files
  --types T           column types of profile files: age:int,vip:bool,zip:string,
                      signup:timestamp,secret:skip (default: inferred from the
                      first 1000 rows: bool, int, float, timestamp, else string)
  --errors FILE       write rejected rows there (JSON lines) instead of stderr
  --batch N           rows per batch (default 2000; batches also stop at 400 KB)
  --concurrency N     batches in flight (default 4; 1 keeps file order)
  --progress B        draw a progress bar on stderr (default true; a line every
                      10 s when stderr is not a terminal)
`)
}

type importFlags struct {
	workspace, format, url, writeKey, token, dataDir, state, idColumn, types, errors string
	direct, restart, progress                                                        bool
	batch, concurrency                                                               int
}

func cmdImport(ctx context.Context, args, env []string, stdout, stderr io.Writer) int {
	envMap := map[string]string{}
	for _, kv := range env {
		if k, v, ok := strings.Cut(kv, "="); ok {
			envMap[k] = v
		}
	}
	var f importFlags
	fs := flag.NewFlagSet("import", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&f.workspace, "workspace", "", "")
	fs.StringVar(&f.format, "format", "", "")
	fs.StringVar(&f.url, "url", "", "")
	fs.StringVar(&f.writeKey, "write-key", envMap["COHORT_WRITE_KEY"], "")
	fs.StringVar(&f.token, "admin-token", envMap["COHORT_ADMIN_TOKEN"], "")
	fs.StringVar(&f.dataDir, "data-dir", envMap["COHORT_DATA_DIR"], "")
	fs.StringVar(&f.state, "state", "", "")
	fs.StringVar(&f.idColumn, "id-column", "", "")
	fs.StringVar(&f.types, "types", "", "")
	fs.StringVar(&f.errors, "errors", "", "")
	fs.BoolVar(&f.direct, "direct", false, "")
	fs.BoolVar(&f.restart, "restart", false, "")
	fs.BoolVar(&f.progress, "progress", true, "")
	fs.IntVar(&f.batch, "batch", 0, "")
	fs.IntVar(&f.concurrency, "concurrency", 0, "")
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			writeImportHelp(stdout)
			return exitOK
		}
		fmt.Fprintf(stderr, "cohort import: %v\nRun 'cohort import --help' for the flags.\n", err)
		return exitUsage
	}
	usage := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "cohort import: "+format+"\nRun 'cohort import --help' for the flags.\n", a...)
		return exitUsage
	}
	if len(pos) != 1 {
		return usage("want exactly one FILE, got %d", len(pos))
	}
	if f.workspace == "" {
		return usage("--workspace is required")
	}
	types, err := importer.ParseTypes(f.types)
	if err != nil {
		return usage("--types: %v", err)
	}
	if f.dataDir == "" {
		f.dataDir = "./cohort-data"
	}
	if f.url == "" {
		addr := envMap["COHORT_HTTP_ADDR"]
		if addr == "" {
			addr = "127.0.0.1:8080"
		}
		f.url = "http://" + dialable(addr)
	}
	f.url = strings.TrimRight(f.url, "/")
	opts := importer.Options{
		Workspace:    f.workspace,
		Path:         pos[0],
		Format:       importer.Format(f.format),
		StatePath:    f.state,
		Restart:      f.restart,
		IDColumn:     f.idColumn,
		Types:        types,
		BatchRecords: f.batch,
		Concurrency:  f.concurrency,
	}
	if opts.Format == "" {
		if opts.Format, err = importer.DetectFormat(opts.Path); err != nil {
			return usage("%v", err)
		}
	}
	switch opts.Format {
	case importer.NDJSON, importer.CSV, importer.Parquet:
	default:
		return usage("--format %q: want ndjson, csv or parquet", f.format)
	}

	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		stop() // a second signal kills the process
	}()

	var sink importer.Sink
	target := f.url
	if f.direct {
		if err := refuseRunningServer(ctx, f.url); err != nil {
			fmt.Fprintf(stderr, "cohort import: %v\n", err)
			return exitFailure
		}
		ls, err := importer.OpenLogSink(ctx, f.dataDir, f.workspace)
		if err != nil {
			fmt.Fprintf(stderr, "cohort import: %v\n", err)
			return exitFailure
		}
		defer func() {
			cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
			defer cancel()
			if err := ls.Close(cctx); err != nil {
				fmt.Fprintf(stderr, "cohort import: cannot close the log: %v\n", err)
			}
		}()
		sink, target = ls, filepath.Join(f.dataDir, "nats")
	} else {
		key := f.writeKey
		if key == "" {
			if key, err = workspaceKey(ctx, f); err != nil {
				fmt.Fprintf(stderr, "cohort import: %v\n", err)
				return exitUsage
			}
		}
		sink = &importer.HTTPSink{URL: f.url, WriteKey: key}
	}

	bar := &importer.Bar{W: stderr, Interactive: isTerminal(stderr), Label: filepath.Base(opts.Path)}
	if f.progress {
		opts.Progress = bar.Update
	}
	var errw io.Writer
	var enc *json.Encoder
	if f.errors != "" {
		ef, err := os.OpenFile(f.errors, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			fmt.Fprintf(stderr, "cohort import: cannot open --errors file: %v\n", err)
			return exitFailure
		}
		defer ef.Close()
		enc = json.NewEncoder(ef)
	} else {
		errw = stderr
	}
	opts.OnReject = func(r importer.Reject) {
		if enc != nil {
			enc.Encode(r)
			return
		}
		if bar.Interactive && f.progress {
			fmt.Fprint(errw, "\r\x1b[K")
		}
		fmt.Fprintf(errw, "%s: %s\n", opts.Path, r)
	}

	fmt.Fprintf(stderr, "importing %s (%s) into workspace %s via %s\n", opts.Path, opts.Format, f.workspace, target)
	res, err := importer.Run(ctx, sink, opts)
	if f.progress {
		bar.Finish()
	}
	switch {
	case errors.Is(err, importer.ErrAlreadyDone):
		fmt.Fprintf(stderr, "cohort import: %s %v\n", opts.Path, err)
		return exitOK
	case err != nil && ctx.Err() != nil:
		fmt.Fprintf(stderr, "cohort import: %v\nRun the same command again to continue.\n", err)
		return exitFailure
	case err != nil:
		fmt.Fprintf(stderr, "cohort import: %v\n", err)
		if res != nil && res.State.Offset > 0 {
			fmt.Fprintln(stderr, "Progress is saved; run the same command again to continue.")
		}
		return exitFailure
	}
	rate := float64(res.Rows) / max(res.Elapsed.Seconds(), 1e-9)
	resumed := ""
	if res.Resumed {
		resumed = " (resumed)"
	}
	fmt.Fprintf(stdout, "imported %d rows, rejected %d, in %s (%.0f rows/s)%s; total for the file: %d imported, %d rejected\n",
		res.Imported, res.Rejected, res.Elapsed.Round(time.Millisecond), rate, resumed, res.State.Imported, res.State.Rejected)
	return exitOK
}

// workspaceKey asks the admin API for the workspace's oldest write key.
func workspaceKey(ctx context.Context, f importFlags) (string, error) {
	token := f.token
	if token == "" {
		b, err := os.ReadFile(filepath.Join(f.dataDir, adminTokenFile))
		if err != nil {
			return "", fmt.Errorf("no write key: pass --write-key (or COHORT_WRITE_KEY), or --admin-token, or --data-dir of the server to read its admin token (%w)", err)
		}
		token = strings.TrimSpace(string(b))
	}
	c := adminClient{url: f.url, token: token, http: &http.Client{Timeout: 30 * time.Second}}
	var ks []keys.Key
	if err := c.do(ctx, "GET", "/v1/admin/workspaces/"+f.workspace+"/keys", nil, &ks); err != nil {
		return "", fmt.Errorf("cannot get the write key of %s: %w", f.workspace, err)
	}
	if len(ks) == 0 {
		return "", fmt.Errorf("workspace %s has no write key (cohort workspace keys %s --new)", f.workspace, f.workspace)
	}
	return ks[0].Key, nil
}

// refuseRunningServer fails if a server answers at url: --direct must not
// write to a log another process has open. It cannot see a server on
// another address; the help says the server must be stopped.
func refuseRunningServer(ctx context.Context, url string) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url+"/healthz", nil)
	if err != nil {
		return nil
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil
	}
	resp.Body.Close()
	return fmt.Errorf("a server answers at %s: --direct needs the server stopped (or import without --direct)", url)
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
