package importer

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/cohortdb/cohort/ingest/keys"
)

// TestImportDirect writes to the log of a stopped server; the server
// applies it when it starts again.
func TestImportDirect(t *testing.T) {
	dir := t.TempDir()
	s := startStack(t, dir)
	s.stop()

	var b strings.Builder
	for i := range 1000 {
		fmt.Fprintf(&b, `{"type":"track","userId":"d%d","event":"Imported"}`+"\n", i%10)
	}
	b.WriteString(`{"type":"track","event":"no id"}` + "\n")
	path := writeFile(t, "direct.ndjson", b.String())

	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	if _, err := OpenLogSink(ctx, dir, "nope"); !errors.Is(err, keys.ErrNoWorkspace) {
		t.Fatalf("unknown workspace: %v", err)
	}
	sink, err := OpenLogSink(ctx, dir, "acme")
	if err != nil {
		t.Fatal(err)
	}
	opts, rejs := collect("acme", path)
	res, err := Run(ctx, sink, opts)
	if cerr := sink.Close(ctx); cerr != nil {
		t.Fatal(cerr)
	}
	if err != nil {
		t.Fatal(err)
	}
	if res.Imported != 1000 || len(*rejs) != 1 || (*rejs)[0].Line != 1001 {
		t.Errorf("imported %d, rejects %v", res.Imported, *rejs)
	}

	s2 := startStack(t, dir)
	if got := s2.sync().Events.Live; got != 1000 {
		t.Errorf("events after restart = %d, want 1000", got)
	}
}
