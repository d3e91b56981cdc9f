package snapshot

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/cohortdb/cohort/engine"
	"github.com/cohortdb/cohort/engine/column"
	"github.com/cohortdb/cohort/engine/identity"
	"github.com/cohortdb/cohort/storage/durable"
	"github.com/cohortdb/cohort/storage/internal/pqtable"
)

// Names of the identity graph's files (pseudo-tables in the manifest).
const (
	TableIdentifiers = "identifiers"
	TableMerges      = "merges"
)

// corruptSuffix marks a snapshot directory found unusable at startup.
const corruptSuffix = ".corrupt"

var identifierCols = []pqtable.Column{{Name: "type", Type: "string"}, {Name: "value", Type: "string"}, {Name: "person", Type: "int"}, {Name: "state", Type: "int"}}

var mergeCols = []pqtable.Column{{Name: "from", Type: "int"}, {Name: "into", Type: "int"}, {Name: "at", Type: "timestamp"},
	{Name: "reason", Type: "string"}, {Name: "source", Type: "string"}, {Name: "via_type", Type: "string"}, {Name: "via_value", Type: "string"}}

// DirName returns the directory name of the snapshot at batch sequence seq.
func DirName(seq uint64) string { return fmt.Sprintf("%020d", seq) }

// Info is a snapshot directory found on disk.
type Info struct {
	Seq  uint64
	Path string
}

// List returns the snapshot directories in dir, newest first. Temporary
// and quarantined directories are not listed.
func List(dir string) ([]Info, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, nil
		}
		return nil, fmt.Errorf("cannot list snapshots in %s: %w", dir, err)
	}
	var out []Info
	for _, e := range ents {
		if !e.IsDir() || len(e.Name()) != 20 {
			continue
		}
		seq, err := strconv.ParseUint(e.Name(), 10, 64)
		if err != nil {
			continue
		}
		out = append(out, Info{Seq: seq, Path: filepath.Join(dir, e.Name())})
	}
	slices.SortFunc(out, func(a, b Info) int { return -cmpU(a.Seq, b.Seq) })
	return out, nil
}

func cmpU(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// Write writes a snapshot of x into dir (one directory per workspace) as
// DirName(x.Seq): every file is written in a temporary directory and
// fsynced, the manifest last; the directory is then renamed into place and
// dir fsynced. A snapshot of that sequence that exists already is replaced.
func Write(ctx context.Context, dir string, x *engine.Export) (*Manifest, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("cannot write snapshot of %s: %w", x.Workspace, err)
	}
	final := filepath.Join(dir, DirName(x.Seq))
	tmp := final + durable.TempSuffix
	if err := os.RemoveAll(tmp); err != nil {
		return nil, fmt.Errorf("cannot write snapshot %s: %w", final, err)
	}
	if err := os.Mkdir(tmp, 0o755); err != nil {
		return nil, fmt.Errorf("cannot write snapshot %s: %w", final, err)
	}
	m, err := writeFiles(ctx, tmp, x)
	if err != nil {
		os.RemoveAll(tmp)
		return nil, fmt.Errorf("cannot write snapshot %s: %w", final, err)
	}
	if err := durable.SyncDir(tmp); err != nil {
		os.RemoveAll(tmp)
		return nil, fmt.Errorf("cannot write snapshot %s: %w", final, err)
	}
	if _, err := os.Stat(final); err == nil {
		if err := os.RemoveAll(final); err != nil {
			return nil, fmt.Errorf("cannot replace snapshot %s: %w", final, err)
		}
	}
	if err := os.Rename(tmp, final); err != nil {
		os.RemoveAll(tmp)
		return nil, fmt.Errorf("cannot write snapshot %s: %w", final, err)
	}
	if err := durable.SyncDir(dir); err != nil {
		return nil, fmt.Errorf("cannot write snapshot %s: %w", final, err)
	}
	return m, nil
}

func writeFiles(ctx context.Context, dir string, x *engine.Export) (*Manifest, error) {
	m := &Manifest{
		Format: FormatVersion, Workspace: x.Workspace, Seq: x.Seq, LogSeq: x.LogSeq,
		NextEvent: x.NextEvent, Persons: x.Persons, Created: time.Now().UTC().Format(time.RFC3339Nano),
		EventsFrom: x.EventsFrom, EventsThrough: x.EventsThrough,
	}
	// The five files are independent: write them concurrently.
	files := make([]File, 5)
	g, gctx := errgroup.WithContext(ctx)
	for i, t := range x.Tables() {
		g.Go(func() error {
			cols := make([]pqtable.Column, len(t.Schema.Cols))
			for i, d := range t.Schema.Cols {
				cols[i] = pqtable.Column{Name: d.Name, Type: d.Type.String()}
			}
			f, err := writeTable(filepath.Join(dir, t.Name+".parquet"), t.Name, cols, func(w *pqtable.Writer) error {
				return writeRows(gctx, t, w)
			})
			files[i] = f
			return err
		})
	}
	gv := x.Graph()
	g.Go(func() error {
		f, err := writeTable(filepath.Join(dir, TableIdentifiers+".parquet"), TableIdentifiers, identifierCols, func(w *pqtable.Writer) error {
			vals := make([]column.Value, 4)
			n := 0
			return gv.ExportAll(func(id identity.ID, p uint32, st identity.IDState) error {
				if n++; n&4095 == 0 {
					if err := gctx.Err(); err != nil {
						return err
					}
				}
				vals[0], vals[1], vals[2], vals[3] = column.String(id.Type), column.String(id.Value), column.Int(int64(p)), column.Int(int64(st))
				return w.Append(vals) // decoded identifiers are stable strings
			})
		})
		files[3] = f
		return err
	})
	g.Go(func() error {
		f, err := writeTable(filepath.Join(dir, TableMerges+".parquet"), TableMerges, mergeCols, func(w *pqtable.Writer) error {
			vals := make([]column.Value, len(mergeCols))
			for _, mg := range gv.MergeLog() {
				vals[0], vals[1], vals[2] = column.Int(int64(mg.From)), column.Int(int64(mg.Into)), column.Micros(mg.At)
				vals[3], vals[4], vals[5], vals[6] = column.String(mg.Reason), column.String(mg.Source), column.String(mg.Via.Type), column.String(mg.Via.Value)
				if err := w.Append(vals); err != nil {
					return err
				}
			}
			return nil
		})
		files[4] = f
		return err
	})
	if err := g.Wait(); err != nil {
		return nil, err
	}
	m.Files = files
	b, err := EncodeManifest(m)
	if err != nil {
		return nil, err
	}
	if _, _, err := durable.WriteFile(filepath.Join(dir, ManifestName), func(w io.Writer) error {
		_, err := w.Write(b)
		return err
	}); err != nil {
		return nil, err
	}
	return m, nil
}

func writeTable(path, tbl string, cols []pqtable.Column, fill func(w *pqtable.Writer) error) (File, error) {
	var rows int64
	size, crc, err := durable.WriteFile(path, func(out io.Writer) error {
		w, err := pqtable.NewWriter(out, cols, map[string]string{"cohort.table": tbl})
		if err != nil {
			return err
		}
		if err := fill(w); err != nil {
			return err
		}
		rows = w.Rows()
		return w.Close()
	})
	if err != nil {
		return File{}, fmt.Errorf("cannot write %s: %w", tbl, err)
	}
	return File{Name: filepath.Base(path), Table: tbl, Rows: rows, Size: size, CRC32C: crc, Columns: cols}, nil
}

// ReadManifest reads and decodes the manifest of snapshot directory dir.
func ReadManifest(dir string) (*Manifest, error) {
	p := filepath.Join(dir, ManifestName)
	b, err := os.ReadFile(p)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, durable.Corrupt(p, 0, "manifest missing")
		}
		return nil, fmt.Errorf("cannot read manifest %s: %w", p, err)
	}
	return DecodeManifest(p, b)
}

// Verify checks every file of a snapshot against its manifest: size and
// CRC32C. A mismatch is a *durable.CorruptionError.
func Verify(dir string, m *Manifest) error {
	for _, f := range m.Files {
		p := filepath.Join(dir, f.Name)
		size, crc, err := durable.FileCRC(p)
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				return durable.Corrupt(p, 0, "file missing")
			}
			return err
		}
		if size != f.Size {
			return durable.Corrupt(p, min(size, f.Size), "size %d, manifest says %d (torn or truncated)", size, f.Size)
		}
		if crc != f.CRC32C {
			return durable.Corrupt(p, -1, "checksum %08x, manifest says %08x", crc, f.CRC32C)
		}
	}
	return nil
}

// Read verifies the snapshot in directory dir and restores it into e
// (installing the workspace). Nothing is installed on error.
func Read(ctx context.Context, dir string, e *engine.Engine) (*Manifest, *engine.Workspace, error) {
	m, err := ReadManifest(dir)
	if err != nil {
		return nil, nil, err
	}
	if err := Verify(dir, m); err != nil {
		return m, nil, err
	}
	r, err := e.NewRestorer(m.Workspace, engine.Counters{Seq: m.Seq, LogSeq: m.LogSeq, NextEvent: m.NextEvent, Persons: m.Persons,
		EventsFrom: m.EventsFrom, EventsThrough: m.EventsThrough})
	if err != nil {
		return m, nil, err
	}
	// Tables and the graph are independent: restore them concurrently
	// (the Restorer allows one goroutine per table and one for the graph).
	// Each table's columns are decoded in parallel, GOMAXPROCS at a time.
	g, gctx := errgroup.WithContext(ctx)
	sem := make(chan struct{}, runtime.GOMAXPROCS(0))
	for _, tbl := range []string{engine.Events, engine.Profiles, engine.Identities} {
		g.Go(func() error {
			f, _ := m.File(tbl)
			return restoreTable(gctx, dir, f, r, tbl, sem)
		})
	}
	g.Go(func() error {
		f, _ := m.File(TableMerges)
		if err := readFile(gctx, dir, f, func(v []column.Value) error {
			return r.Merge(identity.Merge{From: uint32(v[0].I), Into: uint32(v[1].I), At: v[2].I, Reason: strings.Clone(v[3].S),
				Source: strings.Clone(v[4].S), Via: identity.ID{Type: strings.Clone(v[5].S), Value: strings.Clone(v[6].S)}})
		}); err != nil {
			return err
		}
		f, _ = m.File(TableIdentifiers)
		r.ReserveIDs(int(min(f.Rows, f.Size))) // a hint; capped so a bogus row count cannot allocate much
		return readFile(gctx, dir, f, func(v []column.Value) error {
			return r.NextID(identity.ID{Type: v[0].S, Value: v[1].S}, uint32(v[2].I), identity.IDState(v[3].I))
		})
	})
	if err := g.Wait(); err != nil {
		if ctx.Err() != nil {
			return m, nil, ctx.Err()
		}
		return m, nil, err
	}
	w, err := r.Finish()
	if err != nil {
		return m, nil, err
	}
	return m, w, nil
}

func readFile(ctx context.Context, dir string, f *File, fn func([]column.Value) error) error {
	p := filepath.Join(dir, f.Name)
	fh, err := os.Open(p)
	if err != nil {
		return fmt.Errorf("cannot open %s: %w", p, err)
	}
	defer fh.Close()
	rd, err := pqtable.Open(fh, f.Size, f.Columns)
	if err != nil {
		return durable.Corrupt(p, -1, "%v", err)
	}
	if rd.NumRows() != f.Rows {
		return durable.Corrupt(p, -1, "%d rows, manifest says %d", rd.NumRows(), f.Rows)
	}
	if err := rd.Each(ctx, fn); err != nil {
		if ctx.Err() != nil {
			return err
		}
		return durable.Corrupt(p, -1, "%v", err)
	}
	return nil
}

// Load restores the newest usable snapshot in dir into e. A snapshot that
// is torn or corrupt is logged, renamed aside (DirName + ".corrupt") so it
// never shadows a newer one, and the previous one is tried. It returns nil
// (and no error) when there is no usable snapshot. Errors that are not
// corruption (I/O, a workspace that exists already) stop the load. Temporary directories
// left by a crash are removed.
func Load(ctx context.Context, dir string, e *engine.Engine, log *slog.Logger) (*Manifest, error) {
	if err := durable.Clean(dir); err != nil {
		return nil, err
	}
	list, err := List(dir)
	if err != nil {
		return nil, err
	}
	for _, s := range list {
		m, _, err := Read(ctx, s.Path, e)
		if err == nil {
			return m, nil
		}
		if ctx.Err() != nil {
			return nil, fmt.Errorf("cannot load snapshot %s: %w", s.Path, ctx.Err())
		}
		if !errors.Is(err, durable.ErrCorrupt) {
			return nil, fmt.Errorf("cannot load snapshot %s: %w", s.Path, err)
		}
		log.Error("snapshot unusable; trying the previous one", "snapshot", s.Path, "err", err)
		if qerr := quarantine(s.Path); qerr != nil {
			log.Error("cannot set the unusable snapshot aside", "snapshot", s.Path, "err", qerr)
		}
	}
	return nil, nil
}

func quarantine(p string) error {
	q := p + corruptSuffix
	if err := os.RemoveAll(q); err != nil {
		return err
	}
	if err := os.Rename(p, q); err != nil {
		return err
	}
	return durable.SyncDir(filepath.Dir(p))
}

// Prune removes all but the newest keep snapshots in dir, and quarantined
// snapshots older than the oldest one kept. It returns the snapshots kept,
// newest first.
func Prune(dir string, keep int) ([]Info, error) {
	list, err := List(dir)
	if err != nil {
		return nil, err
	}
	if keep < 1 {
		keep = 1
	}
	if len(list) <= keep {
		return list, nil
	}
	for _, s := range list[keep:] {
		if err := os.RemoveAll(s.Path); err != nil {
			return nil, fmt.Errorf("cannot remove snapshot %s: %w", s.Path, err)
		}
	}
	oldest := list[keep-1].Seq
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		name, ok := strings.CutSuffix(e.Name(), corruptSuffix)
		if !ok {
			continue
		}
		if seq, err := strconv.ParseUint(name, 10, 64); err == nil && seq < oldest {
			os.RemoveAll(filepath.Join(dir, e.Name()))
		}
	}
	return list[:keep], durable.SyncDir(dir)
}
