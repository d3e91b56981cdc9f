package importer

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/cohortdb/cohort/ingest/norm"
	"github.com/cohortdb/cohort/ingest/segment"
)

// maxLine bounds how much of one NDJSON line is buffered; longer lines
// are skipped and rejected.
const maxLine = 1 << 20

// DecodeNDJSONLine decodes one NDJSON line: a Segment message (identify,
// track, page, screen, group or alias), at most 32 KB. It returns nil, nil
// for a blank line. The message's meaning is checked later by
// segment.Convert, like every other record.
func DecodeNDJSONLine(line []byte) (map[string]any, error) {
	line = bytes.TrimSpace(line)
	if len(line) == 0 {
		return nil, nil
	}
	if len(line) > segment.MaxEventBytes {
		return nil, norm.Errf("", "message larger than %d KB", segment.MaxEventBytes>>10)
	}
	m, err := segment.ParseObject(line)
	if err != nil {
		return nil, err
	}
	return m, nil
}

// ndjsonReader reads NDJSON from a byte offset.
type ndjsonReader struct {
	f    *os.File
	br   *bufio.Reader
	off  int64 // byte offset of the next line
	line int64 // lines before off
	buf  []byte
	rec  Record
	err  error
}

func openNDJSON(path string, off, line int64) (*ndjsonReader, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("cannot open %s: %w", path, err)
	}
	if _, err := f.Seek(off, io.SeekStart); err != nil {
		f.Close()
		return nil, fmt.Errorf("cannot seek %s to %d: %w", path, off, err)
	}
	return &ndjsonReader{f: f, br: bufio.NewReaderSize(f, 256<<10), off: off, line: line}, nil
}

func (r *ndjsonReader) Next() bool {
	for r.err == nil {
		r.buf = r.buf[:0]
		n, long := 0, false
		var err error
		for {
			var b []byte
			b, err = r.br.ReadSlice('\n')
			n += len(b)
			if len(r.buf)+len(b) <= maxLine {
				r.buf = append(r.buf, b...)
			} else {
				long = true
			}
			if !errors.Is(err, bufio.ErrBufferFull) {
				break
			}
		}
		if err != nil && !errors.Is(err, io.EOF) {
			r.err = fmt.Errorf("cannot read line %d: %w", r.line+1, err)
			return false
		}
		if n == 0 {
			return false // EOF
		}
		r.off += int64(n)
		r.line++
		r.rec = Record{Line: r.line, End: r.off, EndLine: r.line}
		if long {
			r.rec.Err = norm.Errf("", "line longer than %d bytes", maxLine)
			return true
		}
		m, derr := DecodeNDJSONLine(r.buf)
		if derr == nil && m == nil {
			if errors.Is(err, io.EOF) {
				return false
			}
			continue // blank line
		}
		r.rec.Msg, r.rec.Err = m, derr
		return true
	}
	return false
}

func (r *ndjsonReader) At() *Record  { return &r.rec }
func (r *ndjsonReader) Err() error   { return r.err }
func (r *ndjsonReader) Close() error { return r.f.Close() }
func (r *ndjsonReader) Total() int64 {
	st, err := r.f.Stat()
	if err != nil {
		return 0
	}
	return st.Size()
}
