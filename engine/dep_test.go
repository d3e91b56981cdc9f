package engine

import (
	"os/exec"
	"strings"
	"testing"
)

// TestNoFrontendImports keeps dependencies pointing one way: the engine
// never imports a frontend, a network protocol or a storage format.
func TestNoFrontendImports(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "./...").Output()
	if err != nil {
		t.Fatalf("cannot list dependencies: %v", err)
	}
	forbidden := []string{
		"github.com/cohortdb/cohort/sqlfront", "github.com/cohortdb/cohort/ingest",
		"github.com/cohortdb/cohort/delivery", "github.com/cohortdb/cohort/storage",
		"github.com/cohortdb/cohort/cmd", "github.com/dolthub/", "google.golang.org/grpc",
		"github.com/nats-io/", "github.com/parquet-go/", "net/http",
	}
	for _, dep := range strings.Fields(string(out)) {
		for _, f := range forbidden {
			if strings.HasPrefix(dep, f) {
				t.Errorf("engine depends on %s", dep)
			}
		}
	}
}
