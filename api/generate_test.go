package api

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// generated reports whether a file under api/ is generator output.
func generated(path string) bool {
	return strings.HasSuffix(path, ".pb.go") || strings.HasSuffix(path, ".pb.gw.go") || strings.HasSuffix(path, ".swagger.json")
}

func listGenerated(t *testing.T, root string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && generated(p) {
			rel, _ := filepath.Rel(root, p)
			out = append(out, rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(out)
	return out
}

// TestGeneratedFresh regenerates api/ with the pinned tools into a
// temporary directory and compares every file with the committed one.
func TestGeneratedFresh(t *testing.T) {
	if _, err := exec.LookPath("bash"); err != nil {
		t.Skip("cannot check generated code: no bash")
	}
	out := t.TempDir()
	cmd := exec.Command("bash", "gen.sh", "-o", out)
	msg, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if errors.As(err, &ee) && ee.ExitCode() == 3 {
		if os.Getenv("COHORT_REQUIRE_GENERATE") != "" {
			t.Fatalf("cannot check generated code (COHORT_REQUIRE_GENERATE is set): %s", msg)
		}
		t.Skipf("cannot check generated code, a pinned tool is missing (make generate-check installs them): %s", bytes.TrimSpace(msg))
	}
	if err != nil {
		t.Fatalf("api/gen.sh: %v\n%s", err, msg)
	}
	fresh, committed := listGenerated(t, out), listGenerated(t, ".")
	if !slices.Equal(fresh, committed) {
		t.Fatalf("generated files %q, committed %q: run make generate", fresh, committed)
	}
	for _, rel := range fresh {
		want, err := os.ReadFile(filepath.Join(out, rel))
		if err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(rel)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("api/%s is stale: run make generate", rel)
		}
	}
}
