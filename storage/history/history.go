package history

import (
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/cohortdb/cohort/engine"
	"github.com/cohortdb/cohort/engine/column"
	"github.com/cohortdb/cohort/storage/durable"
	"github.com/cohortdb/cohort/storage/internal/pqtable"
)

// Record is one row of profile_history: one attribute of one person
// changed from Old to New at At by the operation Source. Seq is the
// workspace batch that made it (used to cut history back to a snapshot).
type Record struct {
	Seq       uint64
	Person    uint32
	Attribute string
	Old, New  column.Value
	At        int64 // µs since the epoch
	Source    string
}

// Columns is the profile_history schema, in order. Old and new values are
// typed: exactly one old_* (resp. new_*) column is set, the one of the
// attribute's type (named in type); both NULL means NULL.
var Columns = []pqtable.Column{
	{Name: "seq", Type: "int"},
	{Name: "person_id", Type: "int"},
	{Name: "attribute", Type: "string"},
	{Name: "type", Type: "string"},
	{Name: "old_string", Type: "string"}, {Name: "new_string", Type: "string"},
	{Name: "old_int", Type: "int"}, {Name: "new_int", Type: "int"},
	{Name: "old_float", Type: "float"}, {Name: "new_float", Type: "float"},
	{Name: "old_bool", Type: "bool"}, {Name: "new_bool", Type: "bool"},
	{Name: "old_timestamp", Type: "timestamp"}, {Name: "new_timestamp", Type: "timestamp"},
	{Name: "old_string_list", Type: "string_list"}, {Name: "new_string_list", Type: "string_list"},
	{Name: "at", Type: "timestamp"},
	{Name: "source", Type: "string"},
}

// typedCol is the index of the old_* column of each value type (new_* is +1).
var typedCol = map[column.Type]int{
	column.TypeString: 4, column.TypeInt: 6, column.TypeFloat: 8, column.TypeBool: 10,
	column.TypeTimestamp: 12, column.TypeStringList: 14,
}

// Options configures a Writer; zero values mean the defaults.
type Options struct {
	// RollRows flushes a file once this many records are buffered;
	// default 1<<20.
	RollRows int
	// RollInterval flushes buffered records older than this on Tick;
	// default 5 minutes.
	RollInterval time.Duration
	// MaxBuffered bounds the records held in memory: past it, the apply path
	// itself writes the published batches' records to a file before it goes
	// on (backpressure), so a burst of profile changes slows ingest instead
	// of exhausting memory; default 2*RollRows.
	MaxBuffered int
	// Logger; default slog.Default().
	Logger *slog.Logger
}

func (o *Options) fill() {
	if o.RollRows <= 0 {
		o.RollRows = 1 << 20
	}
	if o.RollInterval <= 0 {
		o.RollInterval = 5 * time.Minute
	}
	if o.MaxBuffered <= 0 {
		o.MaxBuffered = 2 * o.RollRows
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
}

// fileInfo is one history file, described by its name:
// h-<minSeq>-<maxSeq>-<minAt>-<maxAt>-<crc32c>.parquet (decimal, fixed
// width; times in µs since the epoch, offset by 1<<62 so they sort).
type fileInfo struct {
	name           string
	minSeq, maxSeq uint64
	minAt, maxAt   int64
	crc            uint32
}

const atBias = 1 << 62

func (f fileInfo) fileName() string {
	return fmt.Sprintf("h-%020d-%020d-%019d-%019d-%08x.parquet", f.minSeq, f.maxSeq, uint64(f.minAt+atBias), uint64(f.maxAt+atBias), f.crc)
}

func parseName(name string) (fileInfo, bool) {
	s, ok := strings.CutPrefix(name, "h-")
	if !ok {
		return fileInfo{}, false
	}
	s, ok = strings.CutSuffix(s, ".parquet")
	if !ok {
		return fileInfo{}, false
	}
	p := strings.Split(s, "-")
	if len(p) != 5 {
		return fileInfo{}, false
	}
	var u [4]uint64
	for i := range 4 {
		var err error
		if u[i], err = strconv.ParseUint(p[i], 10, 64); err != nil {
			return fileInfo{}, false
		}
	}
	crc, err := strconv.ParseUint(p[4], 16, 32)
	if err != nil {
		return fileInfo{}, false
	}
	return fileInfo{name: name, minSeq: u[0], maxSeq: u[1], minAt: int64(u[2]) - atBias, maxAt: int64(u[3]) - atBias, crc: uint32(crc)}, true
}

// list returns the history files of dir ordered by sequence.
func list(dir string) ([]fileInfo, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, nil
		}
		return nil, fmt.Errorf("cannot list history in %s: %w", dir, err)
	}
	var out []fileInfo
	for _, e := range ents {
		if f, ok := parseName(e.Name()); ok {
			out = append(out, f)
		}
	}
	slices.SortFunc(out, func(a, b fileInfo) int {
		if a.minSeq != b.minSeq {
			if a.minSeq < b.minSeq {
				return -1
			}
			return 1
		}
		return strings.Compare(a.name, b.name)
	})
	return out, nil
}

// Writer persists the profile history of one workspace into dir.
type Writer struct {
	dir  string
	opts Options

	flushMu sync.Mutex // one Flush at a time: Tick, snapshots and backpressure
	mu      sync.Mutex
	buf     []Record // ordered by Seq
	oldest  time.Time
	err     error // last flush error, reported by Flush

	// pub is held exclusively while a flush makes its file visible and
	// drops its records from buf, and shared while Scan lists the files
	// and copies buf: a scan sees every record exactly once.
	pub sync.RWMutex
}

// NewWriter returns a writer for dir (created if needed). Temporary files
// left by a crash are removed.
func NewWriter(dir string, opts Options) (*Writer, error) {
	opts.fill()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("cannot open history %s: %w", dir, err)
	}
	if err := durable.Clean(dir); err != nil {
		return nil, err
	}
	return &Writer{dir: dir, opts: opts}, nil
}

// Attach makes w receive every profile change of ws. Call it before ws
// applies its first batch after startup (restore, or creation).
func (w *Writer) Attach(ws *engine.Workspace) {
	ws.OnChanges(func(cs []engine.Change) {
		// Runs under the workspace's writer lock, before publication: the
		// batch being applied is the published one plus one.
		seq := ws.Snapshot().Seq + 1
		w.mu.Lock()
		if len(w.buf) == 0 {
			w.oldest = time.Now()
		}
		for _, c := range cs {
			w.buf = append(w.buf, Record{Seq: seq, Person: c.Person, Attribute: c.Attribute, Old: c.Old, New: c.New, At: c.At, Source: c.Source})
		}
		full := len(w.buf) >= w.opts.MaxBuffered
		w.mu.Unlock()
		if full {
			// Backpressure, on the writer's goroutine: write what is
			// published (not this batch, which a crash could replay) so no
			// file straddles a snapshot.
			if err := w.Flush(context.Background(), seq-1); err != nil {
				w.opts.Logger.Error("cannot flush profile history under backpressure", "dir", w.dir, "err", err)
			}
		}
	})
}

// Buffered returns the number of records not yet in a file.
func (w *Writer) Buffered() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.buf)
}

// Flush writes the buffered records of batches up to seq (all of them if
// seq is 0) into a new file. Snapshots call it with their sequence before
// they are written, so no history file straddles a snapshot.
func (w *Writer) Flush(ctx context.Context, seq uint64) error {
	w.flushMu.Lock()
	defer w.flushMu.Unlock()
	w.mu.Lock()
	n := len(w.buf)
	if seq != 0 {
		n, _ = slices.BinarySearchFunc(w.buf, seq+1, func(r Record, s uint64) int {
			if r.Seq < s {
				return -1
			}
			return 1
		})
	}
	recs := w.buf[:n:n]
	w.mu.Unlock()
	if len(recs) == 0 {
		return nil
	}
	return w.write(ctx, recs, func() {
		w.mu.Lock()
		w.buf = slices.Clone(w.buf[n:])
		if len(w.buf) > 0 {
			w.oldest = time.Now()
		}
		w.mu.Unlock()
	})
}

// Tick flushes everything if the buffer is past RollRows or older than
// RollInterval. The storage loop calls it periodically.
func (w *Writer) Tick(ctx context.Context, now time.Time) error {
	w.mu.Lock()
	due := len(w.buf) >= w.opts.RollRows || (len(w.buf) > 0 && now.Sub(w.oldest) >= w.opts.RollInterval)
	w.mu.Unlock()
	if !due {
		return nil
	}
	return w.Flush(ctx, 0)
}

// write writes recs into a new file; published runs once the file is in
// place, together with it for Scan.
func (w *Writer) write(ctx context.Context, recs []Record, published func()) error {
	fi := fileInfo{minSeq: recs[0].Seq, maxSeq: recs[len(recs)-1].Seq, minAt: recs[0].At, maxAt: recs[0].At}
	for _, r := range recs {
		fi.minAt, fi.maxAt = min(fi.minAt, r.At), max(fi.maxAt, r.At)
	}
	tmp := filepath.Join(w.dir, fmt.Sprintf("h-%020d-%020d", fi.minSeq, fi.maxSeq)+durable.TempSuffix) // renamed below, once the CRC is known
	_, crc, err := durable.WriteFile(tmp, func(out io.Writer) error {
		pw, err := pqtable.NewWriter(out, Columns, map[string]string{"cohort.table": "profile_history"})
		if err != nil {
			return err
		}
		vals := make([]column.Value, len(Columns))
		for i := range recs {
			if i&4095 == 0 {
				if err := ctx.Err(); err != nil {
					return err
				}
			}
			encode(&recs[i], vals)
			if err := pw.Append(vals); err != nil {
				return err
			}
		}
		return pw.Close()
	})
	if err != nil {
		return fmt.Errorf("cannot write history file: %w", err)
	}
	fi.crc = crc
	final := filepath.Join(w.dir, fi.fileName())
	w.pub.Lock()
	err = os.Rename(tmp, final)
	if err == nil {
		published()
	}
	w.pub.Unlock()
	if err != nil {
		return fmt.Errorf("cannot write history file %s: %w", final, err)
	}
	return durable.SyncDir(w.dir)
}

// Scan is Reader.Scan over the files and the records not yet flushed
// (after the files' ones): a change is visible as soon as the engine
// reported it, each exactly once even while a flush runs.
func (w *Writer) Scan(ctx context.Context, from, to time.Time, fn func(Record) error) error {
	r := NewReader(w.dir)
	lo, hi := from.UnixMicro(), to.UnixMicro()
	w.pub.RLock()
	names, err := r.Files(from, to)
	var buffered []Record
	if err == nil {
		w.mu.Lock()
		for _, rec := range w.buf {
			if rec.At >= lo && rec.At < hi {
				buffered = append(buffered, rec)
			}
		}
		w.mu.Unlock()
	}
	w.pub.RUnlock()
	if err != nil {
		return err
	}
	if err := r.scanNames(ctx, names, lo, hi, fn); err != nil {
		return err
	}
	for i, rec := range buffered {
		if i&4095 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		rec.Old, rec.New = clone(rec.Old), clone(rec.New)
		if err := fn(rec); err != nil {
			return err
		}
	}
	return nil
}

func encode(r *Record, vals []column.Value) {
	clear(vals)
	vals[0], vals[1], vals[2] = column.Int(int64(r.Seq)), column.Int(int64(r.Person)), column.String(r.Attribute)
	t := r.New.Type
	if t == column.TypeNull {
		t = r.Old.Type
	}
	if i, ok := typedCol[t]; ok {
		vals[3] = column.String(t.String())
		vals[i], vals[i+1] = r.Old, r.New
	}
	vals[16], vals[17] = column.Micros(r.At), column.String(r.Source)
}

func decode(vals []column.Value) (Record, error) {
	r := Record{Seq: uint64(vals[0].I), Person: uint32(vals[1].I), Attribute: strings.Clone(vals[2].S), At: vals[16].I, Source: strings.Clone(vals[17].S)}
	if vals[3].Null() {
		return r, nil
	}
	t, err := column.ParseType(vals[3].S)
	if err != nil {
		return r, err
	}
	i, ok := typedCol[t]
	if !ok {
		return r, fmt.Errorf("history value of type %s", t)
	}
	r.Old, r.New = clone(vals[i]), clone(vals[i+1])
	return r, nil
}

func clone(v column.Value) column.Value {
	switch v.Type {
	case column.TypeString:
		v.S = strings.Clone(v.S)
	case column.TypeStringList:
		l := make([]string, len(v.L))
		for i, s := range v.L {
			l[i] = strings.Clone(s)
		}
		v.L = l
	}
	return v
}

// TruncateAfter removes the history files holding changes of batches after
// seq: at startup, after the workspace was restored from the snapshot of
// batch seq, the log replay makes those changes again. Buffered records
// are dropped too.
func (w *Writer) TruncateAfter(seq uint64) error {
	w.mu.Lock()
	w.buf = nil
	w.mu.Unlock()
	files, err := list(w.dir)
	if err != nil {
		return err
	}
	removed := false
	for _, f := range files {
		switch {
		case f.minSeq > seq:
			if err := os.Remove(filepath.Join(w.dir, f.name)); err != nil {
				return fmt.Errorf("cannot truncate history: %w", err)
			}
			removed = true
		case f.maxSeq > seq:
			w.opts.Logger.Error("history file straddles the restored snapshot; its later records will repeat", "file", f.name, "snapshot_seq", seq)
		}
	}
	if removed {
		return durable.SyncDir(w.dir)
	}
	return nil
}

// Reader reads the profile history of one workspace.
type Reader struct{ dir string }

// NewReader returns a reader of the history in dir.
func NewReader(dir string) *Reader { return &Reader{dir: dir} }

// Files returns the names of the files a scan of [from, to) opens: the
// others are skipped by their names alone.
func (r *Reader) Files(from, to time.Time) ([]string, error) {
	files, err := list(r.dir)
	if err != nil {
		return nil, err
	}
	lo, hi := from.UnixMicro(), to.UnixMicro()
	var out []string
	for _, f := range files {
		if f.maxAt >= lo && f.minAt < hi {
			out = append(out, f.name)
		}
	}
	return out, nil
}

// Scan calls fn for every record with from <= At < to, file by file in
// batch order (within a file, in order of application). Files whose time
// range misses [from, to) are not opened. A file whose checksum does not
// match its name is a *durable.CorruptionError. Records passed to fn are
// fn's to keep.
func (r *Reader) Scan(ctx context.Context, from, to time.Time, fn func(Record) error) error {
	names, err := r.Files(from, to)
	if err != nil {
		return err
	}
	return r.scanNames(ctx, names, from.UnixMicro(), to.UnixMicro(), fn)
}

func (r *Reader) scanNames(ctx context.Context, names []string, lo, hi int64, fn func(Record) error) error {
	for _, name := range names {
		if err := r.scanFile(ctx, name, lo, hi, fn); err != nil {
			return err
		}
	}
	return nil
}

func (r *Reader) scanFile(ctx context.Context, name string, lo, hi int64, fn func(Record) error) error {
	f, _ := parseName(name)
	p := filepath.Join(r.dir, name)
	size, crc, err := durable.FileCRC(p)
	if err != nil {
		return err
	}
	if crc != f.crc {
		return durable.Corrupt(p, -1, "checksum %08x, name says %08x", crc, f.crc)
	}
	fh, err := os.Open(p)
	if err != nil {
		return fmt.Errorf("cannot open history file %s: %w", p, err)
	}
	defer fh.Close()
	rd, err := pqtable.Open(fh, size, Columns)
	if err != nil {
		return durable.Corrupt(p, -1, "%v", err)
	}
	var stop error
	err = rd.Each(ctx, func(vals []column.Value) error {
		if at := vals[16].I; at < lo || at >= hi {
			return nil
		}
		rec, err := decode(vals)
		if err != nil {
			return durable.Corrupt(p, -1, "%v", err)
		}
		if err := fn(rec); err != nil {
			stop = err
			return err
		}
		return nil
	})
	if err != nil && stop == nil && ctx.Err() == nil && !errors.Is(err, durable.ErrCorrupt) {
		return durable.Corrupt(p, -1, "%v", err)
	}
	return err
}

// Records returns the records of Scan as an iterator (for range-over-func
// and iter.Pull2); iteration stops at the first error, which is yielded.
func (r *Reader) Records(ctx context.Context, from, to time.Time) iter.Seq2[Record, error] {
	return func(yield func(Record, error) bool) {
		errStop := errors.New("stop")
		err := r.Scan(ctx, from, to, func(rec Record) error {
			if !yield(rec, nil) {
				return errStop
			}
			return nil
		})
		if err != nil && !errors.Is(err, errStop) {
			yield(Record{}, err)
		}
	}
}

// Iterator is a pull iterator over history records, in the Next/At/Err/
// Close style SQL table scans use.
type Iterator struct {
	next func() (Record, error, bool)
	stop func()
	cur  Record
	err  error
}

// Iter returns an iterator over the records with from <= At < to. Close it.
func (r *Reader) Iter(ctx context.Context, from, to time.Time) *Iterator {
	next, stop := iter.Pull2(r.Records(ctx, from, to))
	return &Iterator{next: next, stop: stop}
}

// Next advances to the next record.
func (it *Iterator) Next() bool {
	if it.err != nil {
		return false
	}
	rec, err, ok := it.next()
	if !ok {
		return false
	}
	if err != nil {
		it.err = err
		return false
	}
	it.cur = rec
	return true
}

// At returns the current record.
func (it *Iterator) At() Record { return it.cur }

// Err returns the error that stopped iteration, if any.
func (it *Iterator) Err() error { return it.err }

// Close releases the iterator.
func (it *Iterator) Close() error { it.stop(); return nil }
