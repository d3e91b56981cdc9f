package history

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/cohortdb/cohort/storage/durable"
	"github.com/cohortdb/cohort/storage/internal/pqtable"
)

// EraseStats is what an erasure removed from one workspace's history.
type EraseStats struct {
	Files     int   // history files looked at
	Scanned   int   // files whose person_id column had to be read (not pruned by statistics)
	Rewritten int   // files rewritten without the persons' rows
	Removed   int   // files removed: they held nothing but those rows
	Rows      int64 // rows removed from files
	Buffered  int   // records dropped before reaching a file
}

// personCol is the index of person_id in Columns.
const personCol = 1

// Erase removes every record of the given persons (person ids, merged
// members included) from w: from the buffer and from every file, each
// file that holds such rows being rewritten without them (a file left
// empty is removed). Person ids are never reused, so the result stays
// true: the engine produces no further record for an erased person.
//
// A file is rewritten crash-safely: the new file (same batch and time
// range, new checksum, so a new name) is written and fsynced under a
// temporary name, renamed into place, then the old one is removed and the
// directory fsynced. A crash between the rename and the removal leaves
// both; the next Erase (the storage's erasure queue runs it again until it
// completes) removes the stale copy before it rewrites the old file again.
//
// Flushes wait while Erase runs. A Scan that listed the files before a
// rewrite was published fails with a not-found error on the replaced file;
// running it again succeeds.
func (w *Writer) Erase(ctx context.Context, persons []uint32) (EraseStats, error) {
	w.flushMu.Lock()
	defer w.flushMu.Unlock()
	set := pqtable.NewIntSet(persons)
	w.mu.Lock()
	kept := make([]Record, 0, len(w.buf))
	for _, r := range w.buf {
		if !set.Has(int64(r.Person)) {
			kept = append(kept, r)
		}
	}
	buffered := len(w.buf) - len(kept)
	w.buf = kept
	w.mu.Unlock()
	st, err := eraseFiles(ctx, w.dir, set, func(fn func()) {
		w.pub.Lock()
		defer w.pub.Unlock()
		fn()
	})
	st.Buffered = buffered
	return st, err
}

// EraseDir is Writer.Erase for a history directory no writer has open
// (profile history off, or a workspace not loaded).
func EraseDir(ctx context.Context, dir string, persons []uint32) (EraseStats, error) {
	if err := durable.Clean(dir); err != nil {
		return EraseStats{}, err
	}
	return eraseFiles(ctx, dir, pqtable.NewIntSet(persons), func(fn func()) { fn() })
}

// eraseFiles rewrites the files of dir holding rows of set; publish runs
// its argument (which makes a rewrite visible) under the writer's
// publication lock.
func eraseFiles(ctx context.Context, dir string, set *pqtable.IntSet, publish func(func())) (EraseStats, error) {
	var st EraseStats
	if set.Len() == 0 {
		return st, nil
	}
	files, err := list(dir)
	if err != nil {
		return st, err
	}
	for _, f := range files {
		if err := ctx.Err(); err != nil {
			return st, err
		}
		if _, err := os.Stat(filepath.Join(dir, f.name)); errors.Is(err, os.ErrNotExist) {
			continue // a stale copy removed by an earlier rewrite of this loop
		}
		st.Files++
		hit, read, err := containsPersons(ctx, filepath.Join(dir, f.name), set)
		if err != nil {
			return st, err
		}
		if read {
			st.Scanned++
		}
		if !hit {
			continue
		}
		rows, removed, err := rewriteFile(ctx, dir, f, files, set, publish)
		if err != nil {
			return st, err
		}
		st.Rows += rows
		if removed {
			st.Removed++
		} else {
			st.Rewritten++
		}
	}
	return st, nil
}

// containsPersons reports whether the file holds a row of set, and
// whether its person_id column had to be read to know (the statistics did
// not rule the set out).
func containsPersons(ctx context.Context, p string, set *pqtable.IntSet) (found, read bool, err error) {
	fh, err := os.Open(p)
	if err != nil {
		return false, false, fmt.Errorf("cannot open history file %s: %w", p, err)
	}
	defer fh.Close()
	fi, err := fh.Stat()
	if err != nil {
		return false, false, fmt.Errorf("cannot open history file %s: %w", p, err)
	}
	rd, err := pqtable.Open(fh, fi.Size(), Columns)
	if err != nil {
		return false, false, durable.Corrupt(p, -1, "%v", err)
	}
	found, read, err = rd.ContainsAny(ctx, personCol, set)
	if err != nil {
		if ctx.Err() != nil {
			return false, read, ctx.Err()
		}
		return false, read, durable.Corrupt(p, -1, "%v", err)
	}
	return found, read, nil
}

// rewriteFile replaces f by a copy without the rows of set. It reports the
// rows dropped and whether the file was removed (nothing left).
func rewriteFile(ctx context.Context, dir string, f fileInfo, files []fileInfo, set *pqtable.IntSet, publish func(func())) (int64, bool, error) {
	old := filepath.Join(dir, f.name)
	size, crc, err := durable.FileCRC(old)
	if err != nil {
		return 0, false, err
	}
	if crc != f.crc {
		// Never launder a damaged file into one with a valid checksum.
		return 0, false, durable.Corrupt(old, -1, "checksum %08x, name says %08x: cannot erase from it", crc, f.crc)
	}
	fh, err := os.Open(old)
	if err != nil {
		return 0, false, fmt.Errorf("cannot open history file %s: %w", old, err)
	}
	defer fh.Close()
	rd, err := pqtable.Open(fh, size, Columns)
	if err != nil {
		return 0, false, durable.Corrupt(old, -1, "%v", err)
	}
	tmp := old + ".rewrite" + durable.TempSuffix
	var kept, dropped int64
	_, ncrc, err := durable.WriteFile(tmp, func(out io.Writer) error {
		pw, err := pqtable.NewWriter(out, Columns, map[string]string{"cohort.table": "profile_history"})
		if err != nil {
			return err
		}
		kept, dropped, err = pqtable.CopyRowsExcept(ctx, rd, pw, personCol, set)
		if err != nil {
			return err
		}
		return pw.Close()
	})
	if err != nil {
		os.Remove(tmp)
		return 0, false, fmt.Errorf("cannot erase from history file %s: %w", old, err)
	}
	nf := f
	nf.crc = ncrc
	final := filepath.Join(dir, nf.fileName())
	stale := samePrefix(files, f)
	var perr error
	publish(func() {
		// Copies left by an interrupted earlier rewrite of this file.
		for _, name := range stale {
			if p := filepath.Join(dir, name); p != final {
				if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
					perr = err
					return
				}
			}
		}
		if kept == 0 {
			if err := os.Remove(tmp); err != nil {
				perr = err
				return
			}
		} else if err := os.Rename(tmp, final); err != nil {
			perr = err
			return
		}
		if final != old || kept == 0 {
			if err := os.Remove(old); err != nil && !errors.Is(err, os.ErrNotExist) {
				perr = err
			}
		}
	})
	if perr != nil {
		os.Remove(tmp)
		return 0, false, fmt.Errorf("cannot erase from history file %s: %w", old, perr)
	}
	if err := durable.SyncDir(dir); err != nil {
		return 0, false, err
	}
	return dropped, kept == 0, nil
}

// samePrefix lists the other files (of the directory's listing at the
// start of the pass) with f's batch and time range: copies of f left by a
// rewrite interrupted between its rename and the removal of the original.
func samePrefix(files []fileInfo, f fileInfo) []string {
	prefix := f.name[:strings.LastIndexByte(f.name, '-')+1]
	var out []string
	for _, g := range files {
		if g.name != f.name && strings.HasPrefix(g.name, prefix) {
			out = append(out, g.name)
		}
	}
	return slices.Clip(out)
}
