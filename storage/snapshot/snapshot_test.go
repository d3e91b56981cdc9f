package snapshot

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cohortdb/cohort/engine"
	"github.com/cohortdb/cohort/engine/enginetest"
	"github.com/cohortdb/cohort/storage/durable"
)

var t0 = time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC).UnixMicro()

// randomWorkspace builds a workspace from n random operations.
func randomWorkspace(t testing.TB, seed uint64, n int) (*engine.Workspace, *enginetest.Pool, uint64) {
	t.Helper()
	r := rand.New(rand.NewPCG(seed, 3))
	pool := enginetest.NewPool(max(n/40, 5))
	w, err := engine.New(engine.Options{}).CreateWorkspace("acme")
	if err != nil {
		t.Fatal(err)
	}
	logSeq, err := enginetest.Apply(context.Background(), r, w, enginetest.Ops(r, pool, n, t0, 150), 0)
	if err != nil {
		t.Fatal(err)
	}
	return w, pool, logSeq
}

func dump(t testing.TB, w *engine.Workspace, p *enginetest.Pool) []string {
	t.Helper()
	d, err := enginetest.Dump(context.Background(), w, p)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func quietLog() *slog.Logger { return slog.New(slog.NewTextHandler(&bytes.Buffer{}, nil)) }

func TestWriteReadRoundTrip(t *testing.T) {
	ctx := context.Background()
	for _, n := range []int{0, 2000, 70000} {
		if testing.Short() && n > 2000 {
			continue
		}
		w, pool, logSeq := randomWorkspace(t, uint64(n)+1, n)
		dir := t.TempDir()
		m, err := Write(ctx, dir, w.Export())
		if err != nil {
			t.Fatal(err)
		}
		if m.Seq != w.Snapshot().Seq || m.LogSeq != logSeq {
			t.Fatalf("manifest seq %d log %d, want %d %d", m.Seq, m.LogSeq, w.Snapshot().Seq, logSeq)
		}
		e2 := engine.New(engine.Options{})
		got, err := Load(ctx, dir, e2, quietLog())
		if err != nil || got == nil {
			t.Fatalf("Load = %v, %v", got, err)
		}
		w2, err := e2.Workspace("acme")
		if err != nil {
			t.Fatal(err)
		}
		if d := enginetest.Diff(dump(t, w2, pool), dump(t, w, pool)); d != "" {
			t.Fatalf("n=%d: restored workspace differs: %s", n, d)
		}
		// Same future, same state.
		later := enginetest.Ops(rand.New(rand.NewPCG(9, 9)), pool, 3000, t0+int64(n+1)*1000, 100)
		for _, x := range []*engine.Workspace{w, w2} {
			if _, err := enginetest.Apply(ctx, rand.New(rand.NewPCG(5, 5)), x, later, logSeq); err != nil {
				t.Fatal(err)
			}
		}
		if d := enginetest.Diff(dump(t, w2, pool), dump(t, w, pool)); d != "" {
			t.Fatalf("n=%d: after the same operations the restored workspace differs: %s", n, d)
		}
	}
}

// twoSnapshots writes snapshots of w before and after more operations and
// returns their directories (older, newer) and the older one's dump.
func twoSnapshots(t *testing.T) (dir string, older, newer Info, want []string, pool *enginetest.Pool) {
	ctx := context.Background()
	w, pool, logSeq := randomWorkspace(t, 11, 3000)
	dir = t.TempDir()
	if _, err := Write(ctx, dir, w.Export()); err != nil {
		t.Fatal(err)
	}
	want = dump(t, w, pool)
	r := rand.New(rand.NewPCG(1, 1))
	if _, err := enginetest.Apply(ctx, r, w, enginetest.Ops(r, pool, 500, t0+1e10, 0), logSeq); err != nil {
		t.Fatal(err)
	}
	if _, err := Write(ctx, dir, w.Export()); err != nil {
		t.Fatal(err)
	}
	list, err := List(dir)
	if err != nil || len(list) != 2 {
		t.Fatalf("List = %v, %v", list, err)
	}
	return dir, list[1], list[0], want, pool
}

func TestCorruptSnapshotFallsBackToPrevious(t *testing.T) {
	ctx := context.Background()
	cases := []struct {
		name    string
		file    string
		damage  func(t *testing.T, p string)
		wantOff func(size int64) int64
	}{
		{"flipped byte", "events.parquet", func(t *testing.T, p string) {
			b, _ := os.ReadFile(p)
			b[len(b)/2] ^= 0x40
			os.WriteFile(p, b, 0o644)
		}, func(int64) int64 { return -1 }},
		{"truncated parquet", "profiles.parquet", func(t *testing.T, p string) {
			fi, _ := os.Stat(p)
			os.Truncate(p, fi.Size()-100)
		}, func(size int64) int64 { return size - 100 }},
		{"missing file", "identifiers.parquet", func(t *testing.T, p string) { os.Remove(p) }, func(int64) int64 { return 0 }},
		{"manifest flipped byte", ManifestName, func(t *testing.T, p string) {
			b, _ := os.ReadFile(p)
			b[len(b)-5] ^= 1
			os.WriteFile(p, b, 0o644)
		}, func(int64) int64 { return headerSize }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir, older, newer, want, pool := twoSnapshots(t)
			p := filepath.Join(newer.Path, c.file)
			fi, err := os.Stat(p)
			if err != nil {
				t.Fatal(err)
			}
			c.damage(t, p)

			_, _, err = Read(ctx, newer.Path, engine.New(engine.Options{}))
			var ce *durable.CorruptionError
			if !errors.As(err, &ce) || !errors.Is(err, durable.ErrCorrupt) {
				t.Fatalf("Read of a damaged snapshot = %v, want a CorruptionError", err)
			}
			if ce.File != p || ce.Offset != c.wantOff(fi.Size()) {
				t.Errorf("CorruptionError names %s at %d, want %s at %d", ce.File, ce.Offset, p, c.wantOff(fi.Size()))
			}

			var logged bytes.Buffer
			e := engine.New(engine.Options{})
			m, err := Load(ctx, filepath.Dir(newer.Path), e, slog.New(slog.NewTextHandler(&logged, nil)))
			if err != nil || m == nil || m.Seq != older.Seq {
				t.Fatalf("Load = %+v, %v; want the older snapshot %d", m, err, older.Seq)
			}
			if !strings.Contains(logged.String(), "corrupt file "+p) {
				t.Errorf("log does not name the corrupt file: %s", logged.String())
			}
			w, _ := e.Workspace("acme")
			if d := enginetest.Diff(dump(t, w, pool), want); d != "" {
				t.Fatalf("fallback snapshot restored wrongly: %s", d)
			}
			if _, err := os.Stat(newer.Path + corruptSuffix); err != nil {
				t.Errorf("corrupt snapshot not set aside: %v", err)
			}
			if list, _ := List(dir); len(list) != 1 {
				t.Errorf("after Load, %d snapshots listed, want 1", len(list))
			}
		})
	}
}

func TestTornWriteIsIgnored(t *testing.T) {
	ctx := context.Background()
	dir, _, newer, _, _ := twoSnapshots(t)
	// A crash in the middle of writing a newer snapshot: its temporary
	// directory holds some files and no manifest; also a half-written file
	// inside the newest complete snapshot's directory is ignored.
	torn := filepath.Join(dir, DirName(newer.Seq+10)+durable.TempSuffix)
	if err := os.Mkdir(torn, 0o755); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(torn, "profiles.parquet"), []byte("PAR1 half"), 0o644)
	os.WriteFile(filepath.Join(newer.Path, "events.parquet"+durable.TempSuffix), []byte("junk"), 0o644)
	m, err := Load(ctx, dir, engine.New(engine.Options{}), quietLog())
	if err != nil || m == nil || m.Seq != newer.Seq {
		t.Fatalf("Load = %+v, %v; want snapshot %d", m, err, newer.Seq)
	}
	if _, err := os.Stat(torn); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("torn temporary snapshot not cleaned: %v", err)
	}
}

func TestPruneKeepsNewest(t *testing.T) {
	ctx := context.Background()
	w, pool, logSeq := randomWorkspace(t, 2, 200)
	dir := t.TempDir()
	r := rand.New(rand.NewPCG(1, 1))
	for i := range 5 {
		if _, err := Write(ctx, dir, w.Export()); err != nil {
			t.Fatal(err)
		}
		var err error
		logSeq, err = enginetest.Apply(ctx, r, w, enginetest.Ops(r, pool, 10, t0+int64(i+1)*1e9, 0), logSeq)
		if err != nil {
			t.Fatal(err)
		}
	}
	kept, err := Prune(dir, 3)
	if err != nil || len(kept) != 3 {
		t.Fatalf("Prune = %v, %v", kept, err)
	}
	list, _ := List(dir)
	if len(list) != 3 || list[0].Seq < list[1].Seq {
		t.Fatalf("after Prune: %v", list)
	}
}

var updateFixture = flag.Bool("update-fixture", false, "rewrite testdata/v1 (never for an existing format version)")

// TestFixtureV1StillLoads loads the committed format-1 snapshot and checks
// it against the committed dump of the workspace it was made from
// (testdata/v1/acme.dump): a change that breaks it breaks every existing
// deployment. Never regenerate it; add testdata/v2 for a new format and
// keep this test.
func TestFixtureV1StillLoads(t *testing.T) {
	dir := filepath.Join("testdata", "v1", "acme")
	dumpFile := filepath.Join("testdata", "v1", "acme.dump")
	if *updateFixture {
		w, _, _ := randomWorkspace(t, 42, 400)
		os.RemoveAll(dir)
		if _, err := Write(context.Background(), dir, w.Export()); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(dumpFile, []byte(strings.Join(dump(t, w, nil), "\n")+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	e := engine.New(engine.Options{})
	// Load from a copy: Load may clean or set aside directories.
	tmp := t.TempDir()
	if err := os.CopyFS(tmp, os.DirFS(dir)); err != nil {
		t.Fatal(err)
	}
	m, err := Load(context.Background(), tmp, e, quietLog())
	if err != nil || m == nil {
		t.Fatalf("Load fixture = %v, %v", m, err)
	}
	w, err := e.Workspace("acme")
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(dumpFile)
	if err != nil {
		t.Fatal(err)
	}
	want := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
	if d := enginetest.Diff(dump(t, w, nil), want); d != "" {
		t.Fatalf("fixture restores differently from the workspace it was made from: %s", d)
	}
}

// TestSnapshotWhileApplying writes snapshots while another goroutine keeps
// applying batches: each snapshot restores to exactly the state it was
// exported at (run with -race).
func TestSnapshotWhileApplying(t *testing.T) {
	ctx := context.Background()
	w, pool, logSeq := randomWorkspace(t, 5, 2000)
	more := enginetest.Ops(rand.New(rand.NewPCG(8, 8)), pool, 20000, t0+1e10, 300)
	done := make(chan error, 1)
	go func() {
		_, err := enginetest.Apply(ctx, rand.New(rand.NewPCG(2, 2)), w, more, logSeq)
		done <- err
	}()
	for i := 0; i < 3; i++ {
		x := w.Export()
		dir := t.TempDir()
		if _, err := Write(ctx, dir, x); err != nil {
			t.Fatal(err)
		}
		e := engine.New(engine.Options{})
		if _, _, err := Read(ctx, filepath.Join(dir, DirName(x.Seq)), e); err != nil {
			t.Fatal(err)
		}
		w2, _ := e.Workspace("acme")
		want, err := enginetest.DumpExport(ctx, x, pool)
		if err != nil {
			t.Fatal(err)
		}
		if d := enginetest.Diff(dump(t, w2, pool), want); d != "" {
			t.Fatalf("snapshot %d (seq %d) restores differently from its export: %s", i, x.Seq, d)
		}
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
