package expr

import (
	"go/build"
	"strings"
	"testing"
)

// TestDependencies keeps expr a leaf of the engine: the standard library and
// engine/column only (no SQL, HTTP, gRPC or engine tables).
func TestDependencies(t *testing.T) {
	pkg, err := build.ImportDir(".", 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, imp := range pkg.Imports {
		if strings.Contains(imp, ".") && imp != "github.com/cohortdb/cohort/engine/column" {
			t.Errorf("engine/expr imports %s", imp)
		}
	}
}
