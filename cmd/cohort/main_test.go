package main

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cohortdb/cohort/cmd/cohort/internal/config"
)

func TestRun(t *testing.T) {
	tests := []struct {
		name     string
		args     []string
		env      []string
		code     int
		stdout   []string
		stderr   []string
		emptyOut bool
	}{
		{name: "no command", code: 2, stderr: []string{"Usage:", "serve", "version"}, emptyOut: true},
		{name: "unknown command", args: []string{"frobnicate"}, code: 2, stderr: []string{`unknown command "frobnicate"`, "Usage:"}, emptyOut: true},
		{name: "help", args: []string{"help"}, code: 0, stdout: []string{"Usage:", "serve", "version", "help"}},
		{name: "--help", args: []string{"--help"}, code: 0, stdout: []string{"Usage:"}},
		{name: "help serve", args: []string{"help", "serve"}, code: 0, stdout: []string{"cohort serve", "--data-dir", "COHORT_DATA_DIR"}},
		{name: "help version", args: []string{"help", "version"}, code: 0, stdout: []string{"cohort version"}},
		{name: "help unknown", args: []string{"help", "x"}, code: 2, stderr: []string{`unknown command "x"`}},
		{name: "version", args: []string{"version"}, code: 0, stdout: []string{"cohort dev", "commit ", runtime.Version()}},
		{name: "version extra", args: []string{"version", "x"}, code: 2, stderr: []string{`unexpected argument "x"`}},
		{name: "version bad flag", args: []string{"version", "--json"}, code: 2, stderr: []string{"-json"}},
		{name: "serve --help", args: []string{"serve", "--help"}, code: 0, stdout: []string{"Usage: cohort serve", "--demo-profiles"}},
		{name: "serve -h", args: []string{"serve", "-h"}, code: 0, stdout: []string{"Usage: cohort serve"}},
		{name: "serve unknown flag", args: []string{"serve", "--bogus"}, code: 2, stderr: []string{"-bogus", "cohort serve --help"}, emptyOut: true},
		{name: "serve positional", args: []string{"serve", "--demo", "false"}, code: 2, stderr: []string{`unexpected argument "false"`, "--demo=false"}},
		{name: "serve bad flag value", args: []string{"serve", "--demo-profiles=many"}, code: 2,
			stderr: []string{"flag --demo-profiles", `"many"`, "not an integer"}, emptyOut: true},
		{name: "serve bad env value", args: []string{"serve"}, env: []string{"COHORT_LOG_LEVEL=loud"}, code: 2,
			stderr: []string{"env COHORT_LOG_LEVEL", "log_level"}, emptyOut: true},
		{name: "serve missing config", args: []string{"serve", "--config", "/nonexistent/cohort.yaml"}, code: 2,
			stderr: []string{"flag --config", "cannot read config file"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(t.Context(), tt.args, tt.env, &stdout, &stderr)
			if code != tt.code {
				t.Errorf("exit status %d, want %d\nstdout: %s\nstderr: %s", code, tt.code, stdout.String(), stderr.String())
			}
			for _, w := range tt.stdout {
				if !strings.Contains(stdout.String(), w) {
					t.Errorf("stdout lacks %q:\n%s", w, stdout.String())
				}
			}
			for _, w := range tt.stderr {
				if !strings.Contains(stderr.String(), w) {
					t.Errorf("stderr lacks %q:\n%s", w, stderr.String())
				}
			}
			if tt.emptyOut && stdout.Len() > 0 {
				t.Errorf("stdout not empty:\n%s", stdout.String())
			}
			if tt.code == 0 && stderr.Len() > 0 {
				t.Errorf("stderr not empty on success:\n%s", stderr.String())
			}
		})
	}
}

// buildBinary builds cmd/cohort with the given version and commit.
func buildBinary(t *testing.T, ver, rev string) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds the binary; skipped in -short mode")
	}
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command on PATH")
	}
	bin := filepath.Join(t.TempDir(), "cohort")
	cmd := exec.CommandContext(t.Context(), gobin, "build", "-o", bin,
		"-ldflags", "-X main.version="+ver+" -X main.commit="+rev, ".")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// TestBinary builds the binary once and runs it.
func TestBinary(t *testing.T) {
	bin := buildBinary(t, "v0.0.0-test", "0123456789ab")
	t.Run("version and help", func(t *testing.T) { testBinaryVersionHelp(t, bin) })
	t.Run("serve until SIGTERM", func(t *testing.T) { testBinaryServeSIGTERM(t, bin) })
}

func testBinaryVersionHelp(t *testing.T, bin string) {
	out, err := exec.CommandContext(t.Context(), bin, "version").Output()
	if err != nil {
		t.Fatalf("cohort version: %v", err)
	}
	for _, w := range []string{"cohort v0.0.0-test", "commit 0123456789ab", runtime.Version()} {
		if !strings.Contains(string(out), w) {
			t.Errorf("cohort version lacks %q:\n%s", w, out)
		}
	}

	out, err = exec.CommandContext(t.Context(), bin, "serve", "--help").Output()
	if err != nil {
		t.Fatalf("cohort serve --help: %v", err)
	}
	help := string(out)
	settings := config.Settings()
	if len(settings) < 10 {
		t.Fatalf("only %d settings", len(settings))
	}
	for _, s := range settings {
		for _, w := range []string{"--" + s.Flag + " ", s.Env, "yaml: " + s.Name, "default: " + s.Default} {
			if w == "--"+s.Flag+" " && strings.Contains(help, "--"+s.Flag+"[=bool]") {
				w = "--" + s.Flag + "[=" // boolean flags
			}
			if !strings.Contains(help, w) {
				t.Errorf("cohort serve --help lacks %q", w)
			}
		}
	}
	for _, w := range []string{"--config", "COHORT_CONFIG", "./cohort-data", "127.0.0.1:8080", "127.0.0.1:3306", "1000000", "10000000"} {
		if !strings.Contains(help, w) {
			t.Errorf("cohort serve --help lacks %q", w)
		}
	}

	cmd := exec.CommandContext(t.Context(), bin, "nope")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err = cmd.Run()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 2 || !strings.Contains(stderr.String(), "Usage:") {
		t.Errorf("cohort nope: %v, stderr %q; want exit 2 with usage", err, stderr.String())
	}
}

// testBinaryServeSIGTERM starts the binary, reads the URL from its banner,
// checks /healthz and stops it with SIGTERM.
func testBinaryServeSIGTERM(t *testing.T, bin string) {
	if runtime.GOOS == "windows" {
		t.Skip("no SIGTERM")
	}
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "serve", "--http-addr=127.0.0.1:0", "--grpc-addr=127.0.0.1:0", "--demo=false", "--data-dir", filepath.Join(t.TempDir(), "data"))
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr syncBuffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	urls := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if m := bannerURL.FindStringSubmatch(sc.Text()); m != nil {
				urls <- m[1]
			}
		}
		io.Copy(io.Discard, stdout)
	}()
	var url string
	select {
	case url = <-urls:
	case <-time.After(30 * time.Second):
		t.Fatalf("no banner; stderr:\n%s", stderr.String())
	}
	if code, body := get(t, url+"/healthz"); code != 200 || body != "ok\n" {
		t.Errorf("/healthz = %d %q", code, body)
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("cohort serve after SIGTERM: %v; stderr:\n%s", err, stderr.String())
	}
	if !strings.Contains(stderr.String(), "shutting down") {
		t.Errorf("stderr lacks the shutdown log:\n%s", stderr.String())
	}
}
