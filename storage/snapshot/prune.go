package snapshot

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/cohortdb/cohort/storage/durable"
)

// PruneBefore removes every snapshot in dir older than the snapshot of
// batch seq, every quarantined (".corrupt") snapshot whatever its
// sequence, and temporary directories left by a crash: after an erasure,
// all of them may hold the erased persons, and the snapshot of seq (which
// the caller verified) is the only one recovery needs. It returns the
// paths removed. The directory is fsynced.
func PruneBefore(dir string, seq uint64) ([]string, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		if os.IsNotExist(err) {
			return nil, nil
		}
		return nil, fmt.Errorf("cannot prune snapshots in %s: %w", dir, err)
	}
	var removed []string
	for _, e := range ents {
		name := e.Name()
		drop := durable.IsTemp(name)
		if base, ok := strings.CutSuffix(name, corruptSuffix); ok {
			_, err := strconv.ParseUint(base, 10, 64)
			drop = err == nil
		} else if s, err := strconv.ParseUint(name, 10, 64); err == nil && len(name) == len(DirName(0)) && e.IsDir() {
			drop = s < seq
		}
		if !drop {
			continue
		}
		p := filepath.Join(dir, name)
		if err := os.RemoveAll(p); err != nil {
			return removed, fmt.Errorf("cannot remove snapshot %s: %w", p, err)
		}
		removed = append(removed, p)
	}
	if len(removed) > 0 {
		if err := durable.SyncDir(dir); err != nil {
			return removed, err
		}
	}
	return removed, nil
}
