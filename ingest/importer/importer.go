// Package importer is Cohort's bulk import: it reads a file of NDJSON
// (Segment messages: identify, track, page, screen, group, alias), CSV
// (profiles with a header row) or Parquet (either shape), decodes every
// row into a Segment message, checks it with the same decoder as the HTTP
// API (segment.Convert), and writes the good ones in batches through a
// Sink: the Segment /v1/batch endpoint of a running server (HTTPSink) or
// the durable log of a stopped one (LogSink). Bad rows are reported with
// their line (row) number, field and reason; they never stop the import.
//
// Resuming: after every acknowledged batch the progress (byte offset or
// row index, line number, counts) and the file's fingerprint are
// checkpointed in a state file. A re-run after Ctrl-C or kill -9 starts
// after the last checkpoint. Rows sent after it but not checkpointed are
// sent again; they are not duplicated because their message ids are
// derived from the file fingerprint and the line (row) number
// ("imp-<fingerprint[:16]>-<line>"; a message's own messageId is kept),
// and the log drops message ids it saw within 24 h.
//
// Order: with Concurrency > 1, batches are acknowledged out of order, so
// two rows about the same person in different batches may be applied in
// a different order than the file's; Concurrency 1 keeps file order.
//
//	st, err := importer.Run(ctx, sink, importer.Options{Workspace: "acme", Path: "users.csv"})
package importer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/cohortdb/cohort/engine"
	"github.com/cohortdb/cohort/ingest/norm"
	"github.com/cohortdb/cohort/ingest/segment"
)

// Format of an import file.
type Format string

// Formats.
const (
	NDJSON  Format = "ndjson"
	CSV     Format = "csv"
	Parquet Format = "parquet"
)

// DetectFormat guesses a file's format from its extension: .ndjson,
// .jsonl, .json → NDJSON; .csv → CSV; .parquet, .parq → Parquet.
func DetectFormat(path string) (Format, error) {
	switch strings.ToLower(filepath.Ext(path)) {
	case ".ndjson", ".jsonl", ".json":
		return NDJSON, nil
	case ".csv":
		return CSV, nil
	case ".parquet", ".parq":
		return Parquet, nil
	}
	return "", fmt.Errorf("cannot tell the format of %s from its extension: pass --format ndjson|csv|parquet", path)
}

// Record is one row of the file.
type Record struct {
	Line    int64          // 1-based line (row for Parquet) where it starts
	End     int64          // byte offset (row index) after it
	EndLine int64          // lines (rows) up to and including it
	Msg     map[string]any // the Segment message; nil if Err is set
	Err     error
}

// source reads records in file order.
type source interface {
	Next() bool
	At() *Record
	Err() error
	Close() error
	Total() int64 // bytes (rows for Parquet)
}

// Reject is one rejected row.
type Reject struct {
	Line      int64  `json:"line"`
	MessageID string `json:"messageId,omitempty"`
	Field     string `json:"field,omitempty"`
	Reason    string `json:"error"`
}

func (r Reject) String() string {
	if r.Field == "" {
		return fmt.Sprintf("line %d: %s", r.Line, r.Reason)
	}
	return fmt.Sprintf("line %d: %s: %s", r.Line, r.Field, r.Reason)
}

// Batch is what a Sink writes: the encoded messages and their operations.
type Batch struct {
	Seq     int
	Raw     []json.RawMessage // Segment messages
	Ops     []engine.Op       // the same, decoded
	Lines   []int64           // line of each message
	Rejects []Reject          // rows rejected before sending
	End     int64
	EndLine int64
	Rows    int64 // rows read, rejects included
	bytes   int
	ok      int64 // accepted by the sink
}

// SinkReject is a message a Sink's server rejected.
type SinkReject struct {
	Index  int // into Batch.Raw
	Field  string
	Reason string
}

// Sink writes batches of one workspace durably.
type Sink interface {
	// Send returns once the accepted messages of b are durable, with the
	// messages that were rejected.
	Send(ctx context.Context, workspace string, b *Batch) ([]SinkReject, error)
}

// Options of an import. Zero values mean the defaults.
type Options struct {
	Workspace string
	Path      string
	// Format; default from the extension.
	Format Format
	// StatePath is the state file; default Path + ".cohort-import".
	StatePath string
	// Restart ignores an existing state file and starts over.
	Restart bool
	// IDColumn names the user id column of profile files; default the
	// first of id, user_id, userId.
	IDColumn string
	// Types declares column types of profile files (see ParseTypes).
	Types map[string]ColType
	// BatchBytes bounds a batch's encoded messages; default 400 KB (the
	// Segment batch limit is 500 KB).
	BatchBytes int
	// BatchRecords bounds a batch's messages; default 2000.
	BatchRecords int
	// Concurrency is the number of batches in flight; default 4.
	Concurrency int
	// CheckpointEvery bounds how often the state file is rewritten;
	// default 200ms. The final state is always written.
	CheckpointEvery time.Duration
	// Progress, if set, is called after each acknowledged batch.
	Progress func(Progress)
	// OnReject, if set, is called for each rejected row, in file order,
	// once its batch is done.
	OnReject func(Reject)
	Logger   *slog.Logger
}

// Progress of a running import.
type Progress struct {
	Done, Total int64 // bytes (rows for Parquet)
	Rows        int64 // rows done, this run
	Imported    int64 // this run
	Rejected    int64 // this run
	Elapsed     time.Duration
	Unit        string // "B" or "rows"
}

// Result of an import.
type Result struct {
	State    State // as last saved
	Resumed  bool  // continued from a state file
	Rows     int64 // rows read this run
	Imported int64 // this run
	Rejected int64 // this run
	Elapsed  time.Duration
}

// ErrAlreadyDone is returned when the state file says the file was
// imported completely.
var ErrAlreadyDone = errors.New("already imported (the state file says done; pass --restart to import again)")

// ErrStateMismatch is returned when the state file belongs to another
// file content or workspace.
var ErrStateMismatch = errors.New("the state file belongs to a different file content or workspace")

func (o *Options) fill() error {
	if o.Workspace == "" {
		return errors.New("no workspace")
	}
	if o.Format == "" {
		f, err := DetectFormat(o.Path)
		if err != nil {
			return err
		}
		o.Format = f
	}
	if o.StatePath == "" {
		o.StatePath = o.Path + ".cohort-import"
	}
	if o.BatchBytes <= 0 {
		o.BatchBytes = 400 << 10
	}
	if o.BatchRecords <= 0 {
		o.BatchRecords = 2000
	}
	if o.Concurrency <= 0 {
		o.Concurrency = 4
	}
	if o.CheckpointEvery <= 0 {
		o.CheckpointEvery = 200 * time.Millisecond
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return nil
}

// Run imports opts.Path into opts.Workspace through sink. On a cancelled
// ctx it saves the progress and returns an error wrapping ctx.Err(); a
// re-run with the same options continues.
func Run(ctx context.Context, sink Sink, opts Options) (*Result, error) {
	if err := opts.fill(); err != nil {
		return nil, fmt.Errorf("cannot import: %w", err)
	}
	fp, err := Fingerprint(opts.Path)
	if err != nil {
		return nil, fmt.Errorf("cannot import: %w", err)
	}
	res := &Result{}
	st := State{File: opts.Path, Fingerprint: fp, Format: string(opts.Format), Workspace: opts.Workspace}
	if !opts.Restart {
		old, err := LoadState(opts.StatePath)
		if err != nil {
			return nil, fmt.Errorf("cannot import: %w", err)
		}
		if old != nil {
			if old.Fingerprint != fp || old.Workspace != opts.Workspace || old.Format != string(opts.Format) {
				return nil, fmt.Errorf("cannot resume from %s (workspace %s, format %s): %w; pass --restart to start over",
					opts.StatePath, old.Workspace, old.Format, ErrStateMismatch)
			}
			if old.Done {
				res.State = *old
				return res, ErrAlreadyDone
			}
			st, res.Resumed = *old, old.Offset > 0
		}
	}
	var src source
	switch opts.Format {
	case NDJSON:
		src, err = openNDJSON(opts.Path, st.Offset, st.Line)
	case CSV:
		src, err = openCSV(opts.Path, st.Offset, st.Line, opts.IDColumn, opts.Types)
	case Parquet:
		src, err = openParquet(opts.Path, st.Offset, opts.IDColumn, opts.Types)
	default:
		err = fmt.Errorf("unknown format %q", opts.Format)
	}
	if err != nil {
		return nil, fmt.Errorf("cannot import: %w", err)
	}
	defer src.Close()
	unit := "B"
	if opts.Format == Parquet {
		unit = "rows"
	}
	if err := st.Save(opts.StatePath); err != nil {
		return nil, fmt.Errorf("cannot import: %w", err)
	}
	r := &run{opts: opts, sink: sink, src: src, fp: fp, st: st, res: res, start: time.Now(), total: src.Total(), unit: unit}
	err = r.run(ctx)
	res.State = r.st
	res.Elapsed = time.Since(r.start)
	return res, err
}

type run struct {
	opts  Options
	sink  Sink
	src   source
	fp    string
	st    State
	res   *Result
	start time.Time
	total int64
	unit  string

	mu       sync.Mutex
	done     map[int]*Batch
	next     int
	lastSave time.Time
}

func (r *run) run(ctx context.Context) error {
	g, gctx := errgroup.WithContext(ctx)
	batches := make(chan *Batch, r.opts.Concurrency)
	r.done = map[int]*Batch{}
	g.Go(func() error {
		defer close(batches)
		return r.produce(gctx, batches)
	})
	for range r.opts.Concurrency {
		g.Go(func() error {
			for b := range batches {
				rejs, err := r.sink.Send(gctx, r.opts.Workspace, b)
				if err != nil {
					return fmt.Errorf("cannot send the batch of lines ..%d: %w", b.EndLine, err)
				}
				r.finish(b, rejs)
			}
			return nil
		})
	}
	err := g.Wait()
	r.mu.Lock()
	defer r.mu.Unlock()
	if err == nil {
		r.st.Done = true
	}
	if serr := r.st.Save(r.opts.StatePath); serr != nil {
		err = errors.Join(err, serr)
	}
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("import interrupted at line %d (progress saved in %s): %w", r.st.Line, r.opts.StatePath, ctx.Err())
		}
		return fmt.Errorf("cannot import %s: %w", r.opts.Path, err)
	}
	return nil
}

// produce reads the file and cuts batches.
func (r *run) produce(ctx context.Context, out chan<- *Batch) error {
	seq := 0
	b := &Batch{Seq: seq}
	env := &segment.Envelope{ReceivedAt: time.Now()}
	emit := func() error {
		select {
		case out <- b:
		case <-ctx.Done():
			return ctx.Err()
		}
		seq++
		b = &Batch{Seq: seq}
		env = &segment.Envelope{ReceivedAt: time.Now()}
		return nil
	}
	prefix := "imp-" + r.fp[:16] + "-"
	for r.src.Next() {
		rec := r.src.At()
		b.Rows++
		b.End, b.EndLine = rec.End, rec.EndLine
		err := rec.Err
		var mid string
		if err == nil {
			mid, err = r.encode(b, rec, env, prefix)
		}
		if err != nil {
			rj := Reject{Line: rec.Line, MessageID: mid, Reason: err.Error()}
			var fe *norm.FieldError
			if errors.As(err, &fe) {
				rj.Field, rj.Reason = fe.Field, fe.Reason
			}
			b.Rejects = append(b.Rejects, rj)
		}
		if b.bytes >= r.opts.BatchBytes || len(b.Raw) >= r.opts.BatchRecords || len(b.Rejects) >= r.opts.BatchRecords {
			if err := emit(); err != nil {
				return err
			}
		}
	}
	if err := r.src.Err(); err != nil {
		return err
	}
	if b.Rows > 0 {
		return emit()
	}
	return ctx.Err()
}

// encode checks a record with segment.Convert and adds it to b.
func (r *run) encode(b *Batch, rec *Record, env *segment.Envelope, prefix string) (string, error) {
	m := rec.Msg
	mid, _ := m["messageId"].(string)
	if mid == "" {
		mid = prefix + fmt.Sprint(rec.Line)
		m["messageId"] = mid
	}
	op, err := segment.Convert(m, "", env)
	if err != nil {
		return mid, err
	}
	raw, err := json.Marshal(m)
	if err != nil {
		return mid, norm.Errf("", "cannot encode: %v", err)
	}
	if len(raw) > segment.MaxEventBytes {
		return mid, norm.Errf("", "message larger than %d KB", segment.MaxEventBytes>>10)
	}
	b.Raw = append(b.Raw, raw)
	b.Ops = append(b.Ops, op)
	b.Lines = append(b.Lines, rec.Line)
	b.bytes += len(raw) + 1
	return mid, nil
}

// finish records a sent batch and commits every batch done in order.
func (r *run) finish(b *Batch, rejs []SinkReject) {
	for _, sr := range rejs {
		if sr.Index < 0 || sr.Index >= len(b.Raw) {
			continue
		}
		var m struct {
			MessageID string `json:"messageId"`
		}
		json.Unmarshal(b.Raw[sr.Index], &m)
		b.Rejects = append(b.Rejects, Reject{Line: b.Lines[sr.Index], MessageID: m.MessageID, Field: sr.Field, Reason: sr.Reason})
	}
	slices.SortFunc(b.Rejects, func(x, y Reject) int { return int(x.Line - y.Line) })
	accepted := int64(len(b.Raw) - len(rejs))
	r.mu.Lock()
	defer r.mu.Unlock()
	r.done[b.Seq] = b
	b.Raw, b.Ops, b.Lines, b.ok = nil, nil, nil, accepted
	advanced := false
	for {
		d, ok := r.done[r.next]
		if !ok {
			break
		}
		delete(r.done, r.next)
		r.next++
		n := d.ok
		r.st.Offset, r.st.Line = d.End, d.EndLine
		r.st.Imported += n
		r.st.Rejected += int64(len(d.Rejects))
		r.res.Rows += d.Rows
		r.res.Imported += n
		r.res.Rejected += int64(len(d.Rejects))
		if r.opts.OnReject != nil {
			for _, rj := range d.Rejects {
				r.opts.OnReject(rj)
			}
		}
		advanced = true
	}
	if !advanced {
		return
	}
	if time.Since(r.lastSave) >= r.opts.CheckpointEvery {
		if err := r.st.Save(r.opts.StatePath); err != nil {
			r.opts.Logger.Warn("cannot checkpoint the import", "err", err)
		}
		r.lastSave = time.Now()
	}
	if r.opts.Progress != nil {
		r.opts.Progress(Progress{Done: r.st.Offset, Total: r.total, Rows: r.res.Rows, Imported: r.res.Imported,
			Rejected: r.res.Rejected, Elapsed: time.Since(r.start), Unit: r.unit})
	}
}
