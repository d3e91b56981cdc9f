package importer

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// State is the resumable progress of one import, kept in a JSON file
// (default FILE.cohort-import) rewritten atomically (temp, fsync, rename,
// fsync dir) as acknowledged batches advance. Offset and Line describe a
// prefix of the file every record of which is in the log (or rejected);
// a re-run continues after it.
type State struct {
	Version     int    `json:"version"`
	File        string `json:"file"`
	Fingerprint string `json:"fingerprint"`
	Format      string `json:"format"`
	Workspace   string `json:"workspace"`
	// Offset is the byte offset (NDJSON, CSV) or row index (Parquet) of
	// the first record not yet done.
	Offset int64 `json:"offset"`
	// Line is the number of lines (rows for Parquet) before Offset.
	Line     int64     `json:"line"`
	Imported int64     `json:"imported"`
	Rejected int64     `json:"rejected"`
	Done     bool      `json:"done"`
	Updated  time.Time `json:"updated_at"`
}

const stateVersion = 1

// fingerprintSpan is how much of the file's head and tail the
// fingerprint reads.
const fingerprintSpan = 1 << 20

// Fingerprint identifies a file's content cheaply: SHA-256 over its size
// and its first and last MiB. Message ids derive from it, so a re-import
// of the same file is de-duplicated by the log even without a state file.
func Fingerprint(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("cannot open %s: %w", path, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return "", fmt.Errorf("cannot stat %s: %w", path, err)
	}
	h := sha256.New()
	fmt.Fprintf(h, "size=%d\n", st.Size())
	if _, err := io.Copy(h, io.LimitReader(f, fingerprintSpan)); err != nil {
		return "", fmt.Errorf("cannot read %s: %w", path, err)
	}
	if st.Size() > fingerprintSpan {
		off := max(st.Size()-fingerprintSpan, fingerprintSpan)
		if _, err := io.Copy(h, io.NewSectionReader(f, off, st.Size()-off)); err != nil {
			return "", fmt.Errorf("cannot read %s: %w", path, err)
		}
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// LoadState reads a state file; a missing file is (nil, nil).
func LoadState(path string) (*State, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("cannot read import state: %w", err)
	}
	var s State
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("cannot decode import state %s: %w", path, err)
	}
	if s.Version != stateVersion {
		return nil, fmt.Errorf("cannot use import state %s: version %d, want %d", path, s.Version, stateVersion)
	}
	return &s, nil
}

// Save writes the state atomically.
func (s *State) Save(path string) error {
	s.Version = stateVersion
	s.Updated = time.Now().UTC()
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return fmt.Errorf("cannot encode import state: %w", err)
	}
	if err := writeFileAtomic(path, append(b, '\n')); err != nil {
		return fmt.Errorf("cannot write import state: %w", err)
	}
	return nil
}

func writeFileAtomic(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	d, err := os.Open(filepath.Dir(path))
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
