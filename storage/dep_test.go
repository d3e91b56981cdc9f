package storage

import (
	"os/exec"
	"strings"
	"testing"
)

// TestNoUpwardImports keeps dependencies pointing one way: storage sits
// beside the engine, below the frontends; it never imports them, the
// durable log or a network protocol.
func TestNoUpwardImports(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "./...").Output()
	if err != nil {
		t.Fatalf("cannot list dependencies: %v", err)
	}
	forbidden := []string{
		"github.com/cohortdb/cohort/sqlfront", "github.com/cohortdb/cohort/ingest",
		"github.com/cohortdb/cohort/delivery", "github.com/cohortdb/cohort/cmd",
		"github.com/dolthub/", "google.golang.org/grpc", "github.com/nats-io/",
	}
	for _, dep := range strings.Fields(string(out)) {
		for _, f := range forbidden {
			if strings.HasPrefix(dep, f) {
				t.Errorf("storage depends on %s", dep)
			}
		}
	}
	// net/http arrives through parquet-go's brotli codec; our own packages
	// must not import it.
	out, err = exec.Command("go", "list", "-f", "{{.ImportPath}} {{join .Imports \" \"}}", "./...").Output()
	if err != nil {
		t.Fatalf("cannot list imports: %v", err)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		for _, imp := range f[1:] {
			if strings.HasPrefix(imp, "net/http") {
				t.Errorf("%s imports %s", f[0], imp)
			}
		}
	}
}
