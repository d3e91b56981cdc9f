package events

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/cohortdb/cohort/engine"
	"github.com/cohortdb/cohort/storage/durable"
	"github.com/cohortdb/cohort/storage/internal/pqtable"
)

// EraseStats is what an erasure removed from one workspace's partitions.
type EraseStats struct {
	Files     int   // partition files looked at
	Scanned   int   // files whose person_id column had to be read (not pruned by statistics)
	Rewritten int   // files rewritten without the persons' events
	Rows      int64 // events removed
}

// Erase removes the events of the given persons (person ids, merged
// members included) from every sealed partition: each file holding such
// events is rewritten without them. Files are found by reading their
// person_id column only (row groups whose statistics miss the ids are
// skipped); only files that hold an erased person's event are rewritten.
//
// A rewritten file keeps its event-id range in its name (only the checksum
// changes), even when no event is left in it, so the per-day watermark
// recovered from names does not move and Seal never seals a day twice.
// Crash safety is the history's: temp file, fsync, rename, removal of the
// original, fsync of the day directory; a crash between the rename and the
// removal leaves a stale copy that the next Erase removes before it
// rewrites the original again. Erase must not run concurrently with Seal
// (storage runs both under its snapshot lock). A Scan that listed a file
// before it was replaced fails with a not-found error; running it again
// succeeds.
func (s *Store) Erase(ctx context.Context, persons []uint32) (EraseStats, error) {
	var st EraseStats
	set := pqtable.NewIntSet(persons)
	if set.Len() == 0 {
		return st, nil
	}
	parts, err := s.parts(time.Time{}, time.Unix(1<<40, 0))
	if err != nil {
		return st, err
	}
	for _, p := range parts {
		if err := ctx.Err(); err != nil {
			return st, err
		}
		if _, err := os.Stat(p.path); errors.Is(err, os.ErrNotExist) {
			continue // a stale copy removed by an earlier rewrite of this loop
		}
		st.Files++
		hit, read, err := partHolds(ctx, p.path, set)
		if err != nil {
			return st, err
		}
		if read {
			st.Scanned++
		}
		if !hit {
			continue
		}
		n, err := rewritePart(ctx, p, set)
		if err != nil {
			return st, err
		}
		st.Rows += n
		st.Rewritten++
	}
	return st, nil
}

func personIndex(path string, cols []pqtable.Column) (int, error) {
	i := slices.IndexFunc(cols, func(c pqtable.Column) bool { return c.Name == engine.ColPersonID })
	if i < 0 {
		return 0, durable.Corrupt(path, -1, "no %s column", engine.ColPersonID)
	}
	return i, nil
}

func partHolds(ctx context.Context, path string, set *pqtable.IntSet) (found, read bool, err error) {
	fh, err := os.Open(path)
	if err != nil {
		return false, false, fmt.Errorf("cannot open event partition %s: %w", path, err)
	}
	defer fh.Close()
	fi, err := fh.Stat()
	if err != nil {
		return false, false, fmt.Errorf("cannot open event partition %s: %w", path, err)
	}
	rd, err := pqtable.Open(fh, fi.Size(), nil)
	if err != nil {
		return false, false, durable.Corrupt(path, -1, "%v", err)
	}
	pi, err := personIndex(path, rd.Columns())
	if err != nil {
		return false, false, err
	}
	found, read, err = rd.ContainsAny(ctx, pi, set)
	if err != nil {
		if ctx.Err() != nil {
			return false, read, ctx.Err()
		}
		return false, read, durable.Corrupt(path, -1, "%v", err)
	}
	return found, read, nil
}

// rewritePart replaces p by a copy without the events of set and returns
// how many it dropped.
func rewritePart(ctx context.Context, p part, set *pqtable.IntSet) (int64, error) {
	size, crc, err := durable.FileCRC(p.path)
	if err != nil {
		return 0, err
	}
	if crc != p.crc {
		// Never launder a damaged file into one with a valid checksum.
		return 0, durable.Corrupt(p.path, -1, "checksum %08x, name says %08x: cannot erase from it", crc, p.crc)
	}
	fh, err := os.Open(p.path)
	if err != nil {
		return 0, fmt.Errorf("cannot open event partition %s: %w", p.path, err)
	}
	defer fh.Close()
	rd, err := pqtable.Open(fh, size, nil)
	if err != nil {
		return 0, durable.Corrupt(p.path, -1, "%v", err)
	}
	cols := rd.Columns()
	pi, err := personIndex(p.path, cols)
	if err != nil {
		return 0, err
	}
	meta := map[string]string{"cohort.table": "events", "cohort.day": p.day.Format(dayLayout)}
	dd := filepath.Dir(p.path)
	prefix := fmt.Sprintf("e-%d-%d-", p.minID, p.maxID)
	tmp := filepath.Join(dd, prefix+"rewrite"+durable.TempSuffix)
	var dropped int64
	_, ncrc, err := durable.WriteFile(tmp, func(out io.Writer) error {
		w, err := pqtable.NewWriter(out, cols, meta)
		if err != nil {
			return err
		}
		_, dropped, err = pqtable.CopyRowsExcept(ctx, rd, w, pi, set)
		if err != nil {
			return err
		}
		return w.Close()
	})
	if err != nil {
		os.Remove(tmp)
		return 0, fmt.Errorf("cannot erase from event partition %s: %w", p.path, err)
	}
	final := filepath.Join(dd, fmt.Sprintf("%s%08x.parquet", prefix, ncrc))
	// Copies left by an interrupted earlier rewrite of this file.
	ents, err := os.ReadDir(dd)
	if err != nil {
		os.Remove(tmp)
		return 0, fmt.Errorf("cannot erase from event partition %s: %w", p.path, err)
	}
	for _, e := range ents {
		name := e.Name()
		if q := filepath.Join(dd, name); q != p.path && q != final && strings.HasPrefix(name, prefix) && strings.HasSuffix(name, ".parquet") {
			if err := os.Remove(q); err != nil && !errors.Is(err, os.ErrNotExist) {
				os.Remove(tmp)
				return 0, fmt.Errorf("cannot erase from event partition %s: %w", p.path, err)
			}
		}
	}
	if err := os.Rename(tmp, final); err != nil {
		os.Remove(tmp)
		return 0, fmt.Errorf("cannot erase from event partition %s: %w", p.path, err)
	}
	if final != p.path {
		if err := os.Remove(p.path); err != nil && !errors.Is(err, os.ErrNotExist) {
			return 0, fmt.Errorf("cannot erase from event partition %s: %w", p.path, err)
		}
	}
	if err := durable.SyncDir(dd); err != nil {
		return 0, err
	}
	return dropped, nil
}
