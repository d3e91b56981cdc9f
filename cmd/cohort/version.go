package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
)

// Set at build time by the Makefile:
//
//	go build -ldflags "-X main.version=v0.1.0 -X main.commit=4f5fa25" ./cmd/cohort
var (
	version = "dev"
	commit  = "" // "" means: from the module's VCS build info, if any
)

// buildInfo returns the version, the commit and the Go version.
func buildInfo() (ver, rev, goVersion string) {
	ver, rev = version, commit
	if rev == "" {
		rev = "unknown"
		if bi, ok := debug.ReadBuildInfo(); ok {
			var modified bool
			for _, s := range bi.Settings {
				switch s.Key {
				case "vcs.revision":
					rev = s.Value
					if len(rev) > 12 {
						rev = rev[:12]
					}
				case "vcs.modified":
					modified = s.Value == "true"
				}
			}
			if modified && rev != "unknown" {
				rev += "-dirty"
			}
		}
	}
	return ver, rev, runtime.Version()
}

func writeVersionHelp(w io.Writer) {
	fmt.Fprint(w, `Usage: cohort version

Prints the version, the commit and the Go version the binary was built with.
`)
}

func cmdVersion(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("version", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			writeVersionHelp(stdout)
			return exitOK
		}
		fmt.Fprintf(stderr, "cohort version: %v\n", err)
		return exitUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "cohort version: unexpected argument %q\n", fs.Arg(0))
		return exitUsage
	}
	ver, rev, gov := buildInfo()
	fmt.Fprintf(stdout, "cohort %s\ncommit %s\ngo     %s %s/%s\n", ver, rev, gov, runtime.GOOS, runtime.GOARCH)
	return exitOK
}
