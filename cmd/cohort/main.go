// Command cohort is the Cohort server and its command-line tools.
//
//	cohort serve     start the server
//	cohort version   print the version, commit and Go version
//	cohort workspace create, list workspaces and write keys
//	cohort token     create, list, revoke API tokens of a workspace
//	cohort import    bulk-import NDJSON, CSV or Parquet files
//	cohort help      show help
package main

import (
	"context"
	"fmt"
	"io"
	"os"
)

func main() {
	os.Exit(run(context.Background(), os.Args[1:], os.Environ(), os.Stdout, os.Stderr))
}

// Exit statuses.
const (
	exitOK      = 0
	exitFailure = 1 // a runtime error: cannot listen, cannot create the data directory…
	exitUsage   = 2 // a bad command line or configuration
)

// run executes the command line args with the environment env and returns
// the exit status.
func run(ctx context.Context, args, env []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		writeUsage(stderr)
		return exitUsage
	}
	switch args[0] {
	case "serve":
		return cmdServe(ctx, args[1:], env, stdout, stderr)
	case "version":
		return cmdVersion(args[1:], stdout, stderr)
	case "workspace":
		return cmdWorkspace(ctx, args[1:], env, stdout, stderr)
	case "token":
		return cmdToken(ctx, args[1:], env, stdout, stderr)
	case "import":
		return cmdImport(ctx, args[1:], env, stdout, stderr)
	case "help", "-h", "-help", "--help":
		return cmdHelp(args[1:], stdout, stderr)
	}
	fmt.Fprintf(stderr, "cohort: unknown command %q\n\n", args[0])
	writeUsage(stderr)
	return exitUsage
}

func writeUsage(w io.Writer) {
	fmt.Fprint(w, `Cohort is a real-time customer data platform.

Usage:
  cohort <command> [flags]

Commands:
  serve     start the server: HTTP health, stats and metrics, and a demo workspace
  version   print the version, commit and Go version
  workspace create, list workspaces and their write keys (cohort help workspace)
  token     create, list, revoke API tokens for the gRPC/REST API (cohort help token)
  import    bulk-import an NDJSON, CSV or Parquet file, resumably (cohort help import)
  help      show help for a command (cohort help serve)

Run 'cohort serve --help' for every setting.
`)
}

func cmdHelp(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		writeUsage(stdout)
		return exitOK
	}
	switch args[0] {
	case "serve":
		writeServeHelp(stdout)
		return exitOK
	case "version":
		writeVersionHelp(stdout)
		return exitOK
	case "workspace":
		writeWorkspaceHelp(stdout)
		return exitOK
	case "token":
		writeTokenHelp(stdout)
		return exitOK
	case "import":
		writeImportHelp(stdout)
		return exitOK
	case "help":
		writeUsage(stdout)
		return exitOK
	}
	fmt.Fprintf(stderr, "cohort help: unknown command %q\n\n", args[0])
	writeUsage(stderr)
	return exitUsage
}
