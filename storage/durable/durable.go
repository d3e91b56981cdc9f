package durable

import (
	"errors"
	"fmt"
	"hash"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// ErrCorrupt is wrapped by every CorruptionError: errors.Is(err, ErrCorrupt)
// tells a damaged file from an I/O failure.
var ErrCorrupt = errors.New("corrupt file")

// CorruptionError reports a damaged durable file: which file, at what byte
// offset (-1 when unknown), and why.
type CorruptionError struct {
	File   string
	Offset int64
	Err    error
}

func (e *CorruptionError) Error() string {
	if e.Offset >= 0 {
		return fmt.Sprintf("corrupt file %s at offset %d: %v", e.File, e.Offset, e.Err)
	}
	return fmt.Sprintf("corrupt file %s: %v", e.File, e.Err)
}

func (e *CorruptionError) Unwrap() []error { return []error{ErrCorrupt, e.Err} }

// Corrupt returns a *CorruptionError.
func Corrupt(file string, off int64, format string, args ...any) error {
	return &CorruptionError{File: file, Offset: off, Err: fmt.Errorf(format, args...)}
}

// Castagnoli is the CRC32C table.
var Castagnoli = crc32.MakeTable(crc32.Castagnoli)

// TempSuffix ends the name of every file or directory being written. Readers
// ignore such names; a crash leaves them behind and Clean removes them.
const TempSuffix = ".tmp"

// CountingWriter counts and checksums (CRC32C) what passes through it.
type CountingWriter struct {
	W   io.Writer
	N   int64
	crc hash.Hash32
}

// NewCountingWriter wraps w.
func NewCountingWriter(w io.Writer) *CountingWriter {
	return &CountingWriter{W: w, crc: crc32.New(Castagnoli)}
}

func (c *CountingWriter) Write(p []byte) (int, error) {
	n, err := c.W.Write(p)
	c.N += int64(n)
	c.crc.Write(p[:n])
	return n, err
}

// Sum returns the CRC32C of what was written.
func (c *CountingWriter) Sum() uint32 { return c.crc.Sum32() }

// WriteFile creates path atomically: fn writes the contents into a temporary
// file in the same directory, which is fsynced, renamed to path, and the
// directory fsynced. It returns the size and CRC32C of what fn wrote. On any
// error the temporary file is removed and path is untouched.
func WriteFile(path string, fn func(w io.Writer) error) (size int64, crc uint32, err error) {
	tmp := path + TempSuffix
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o644)
	if err != nil {
		return 0, 0, fmt.Errorf("cannot create %s: %w", path, err)
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	cw := NewCountingWriter(f)
	if err = fn(cw); err != nil {
		return 0, 0, fmt.Errorf("cannot write %s: %w", path, err)
	}
	if err = f.Sync(); err != nil {
		return 0, 0, fmt.Errorf("cannot sync %s: %w", path, err)
	}
	if err = f.Close(); err != nil {
		return 0, 0, fmt.Errorf("cannot close %s: %w", path, err)
	}
	if err = os.Rename(tmp, path); err != nil {
		return 0, 0, fmt.Errorf("cannot rename %s: %w", tmp, err)
	}
	if err = SyncDir(filepath.Dir(path)); err != nil {
		return 0, 0, err
	}
	return cw.N, cw.Sum(), nil
}

// SyncDir fsyncs a directory, making renames and creations in it durable.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("cannot open directory %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("cannot sync directory %s: %w", dir, err)
	}
	return nil
}

// FileCRC returns the size and CRC32C of a file's contents.
func FileCRC(path string) (int64, uint32, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, 0, fmt.Errorf("cannot open %s: %w", path, err)
	}
	defer f.Close()
	h := crc32.New(Castagnoli)
	n, err := io.CopyBuffer(h, f, make([]byte, 1<<20))
	if err != nil {
		return n, 0, fmt.Errorf("cannot read %s: %w", path, err)
	}
	return n, h.Sum32(), nil
}

// IsTemp reports whether name is a temporary file or directory name.
func IsTemp(name string) bool { return strings.HasSuffix(name, TempSuffix) }

// Clean removes temporary files and directories left in dir by a crash.
func Clean(dir string) error {
	ents, err := os.ReadDir(dir)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil
		}
		return fmt.Errorf("cannot clean %s: %w", dir, err)
	}
	for _, e := range ents {
		if IsTemp(e.Name()) {
			if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
				return fmt.Errorf("cannot clean %s: %w", dir, err)
			}
		}
	}
	return nil
}
