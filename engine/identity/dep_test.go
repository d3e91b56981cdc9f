package identity

import (
	"go/build"
	"strings"
	"testing"
)

// TestDependencies keeps the identity graph free of tables, SQL, HTTP and
// RPC: it may import the standard library and engine/column only.
func TestDependencies(t *testing.T) {
	pkg, err := build.ImportDir(".", 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, imp := range pkg.Imports {
		if !strings.Contains(imp, ".") || imp == "github.com/cohortdb/cohort/engine/column" {
			if imp == "net/http" || imp == "database/sql" || strings.HasPrefix(imp, "net/") {
				t.Errorf("identity imports %s", imp)
			}
			continue
		}
		t.Errorf("identity imports %s; allowed: the standard library (no net, no database/sql) and engine/column", imp)
	}
}
