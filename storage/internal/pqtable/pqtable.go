package pqtable

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"unsafe"

	"github.com/parquet-go/parquet-go"

	"github.com/cohortdb/cohort/engine/column"
)

// Column names and types one column.
type Column struct {
	Name string `json:"name"`
	Type string `json:"type"` // column.Type.String()
}

// MetaColumns is the key/value metadata key holding the columns, as JSON.
const MetaColumns = "cohort.columns"

// RowGroupRows bounds the rows of one row group.
const RowGroupRows = 1 << 20

const batchRows = 1024

type col struct {
	Column
	typ  column.Type
	leaf int
}

func resolve(cols []Column) ([]col, *parquet.Schema, error) {
	g := parquet.Group{}
	out := make([]col, len(cols))
	for i, c := range cols {
		t, err := column.ParseType(c.Type)
		if err != nil {
			return nil, nil, fmt.Errorf("column %s: %w", c.Name, err)
		}
		if _, dup := g[c.Name]; dup || c.Name == "" {
			return nil, nil, fmt.Errorf("column %q: empty or duplicate name", c.Name)
		}
		g[c.Name] = node(t)
		out[i] = col{Column: c, typ: t}
	}
	s := parquet.NewSchema("cohort", g)
	for i := range out {
		path := []string{out[i].Name}
		if out[i].typ == column.TypeStringList {
			path = append(path, "list", "element")
		}
		leaf, ok := s.Lookup(path...)
		if !ok {
			return nil, nil, fmt.Errorf("BUG: column %v missing from its schema", path)
		}
		out[i].leaf = leaf.ColumnIndex
	}
	return out, s, nil
}

func node(t column.Type) parquet.Node {
	switch t {
	case column.TypeString:
		return parquet.Optional(parquet.Encoded(parquet.String(), &parquet.RLEDictionary))
	case column.TypeInt:
		return deltaInt64(parquet.Int(64))
	case column.TypeFloat:
		return parquet.Optional(parquet.Leaf(parquet.DoubleType))
	case column.TypeBool:
		return parquet.Optional(parquet.Leaf(parquet.BooleanType))
	case column.TypeTimestamp:
		return deltaInt64(parquet.Timestamp(parquet.Microsecond))
	case column.TypeStringList:
		return parquet.Optional(parquet.List(parquet.String()))
	}
	panic("BUG: pqtable: no Parquet type for " + t.String())
}

// Writer writes rows to one Parquet file.
type Writer struct {
	pw    *parquet.Writer
	cols  []col
	order []int // engine column indexes by leaf order
	rows  []parquet.Row
	n     int
	total int64
	inRG  int
}

// NewWriter starts a Parquet file on w with the given columns, in engine
// order, and extra key/value metadata.
func NewWriter(w io.Writer, cols []Column, meta map[string]string) (*Writer, error) {
	cs, schema, err := resolve(cols)
	if err != nil {
		return nil, fmt.Errorf("cannot write parquet: %w", err)
	}
	js, _ := json.Marshal(cols)
	opts := []parquet.WriterOption{schema, parquet.Compression(&parquet.Snappy), parquet.KeyValueMetadata(MetaColumns, string(js)),
		parquet.CreatedBy("cohort", "1", "")}
	keys := make([]string, 0, len(meta))
	for k := range meta {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		opts = append(opts, parquet.KeyValueMetadata(k, meta[k]))
	}
	cfg, err := parquet.NewWriterConfig(opts...)
	if err != nil {
		return nil, fmt.Errorf("cannot write parquet: %w", err)
	}
	order := make([]int, len(cs))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(a, b int) int { return cs[a].leaf - cs[b].leaf })
	rows := make([]parquet.Row, batchRows)
	return &Writer{pw: parquet.NewWriter(w, cfg), cols: cs, order: order, rows: rows}, nil
}

func bytesOf(s string) []byte { return unsafe.Slice(unsafe.StringData(s), len(s)) }

// Append adds one row: one value per column, NULL or of the column's type.
// The values may be reused by the caller once Append returns, but strings
// must stay valid until the next Flush or Close (they are referenced, not
// copied, until a batch is written).
func (w *Writer) Append(vals []column.Value) error {
	if len(vals) != len(w.cols) {
		return fmt.Errorf("cannot write row: %d values for %d columns", len(vals), len(w.cols))
	}
	row := w.rows[w.n][:0]
	for _, i := range w.order {
		c, v := &w.cols[i], vals[i]
		if !v.Null() && v.Type != c.typ {
			return fmt.Errorf("cannot write row: column %s is %s, value is %s", c.Name, c.typ, v.Type)
		}
		if v.Null() {
			row = append(row, parquet.NullValue().Level(0, 0, c.leaf))
			continue
		}
		switch c.typ {
		case column.TypeInt, column.TypeTimestamp:
			row = append(row, parquet.Int64Value(v.I).Level(0, 1, c.leaf))
		case column.TypeFloat:
			row = append(row, parquet.DoubleValue(v.F).Level(0, 1, c.leaf))
		case column.TypeBool:
			row = append(row, parquet.BooleanValue(v.B).Level(0, 1, c.leaf))
		case column.TypeString:
			row = append(row, parquet.ByteArrayValue(bytesOf(v.S)).Level(0, 1, c.leaf))
		case column.TypeStringList:
			if len(v.L) == 0 {
				row = append(row, parquet.NullValue().Level(0, 1, c.leaf))
			}
			for j, s := range v.L {
				row = append(row, parquet.ByteArrayValue(bytesOf(s)).Level(min(j, 1), 2, c.leaf))
			}
		}
	}
	w.rows[w.n] = row
	w.n++
	if w.n == len(w.rows) {
		return w.writeBatch()
	}
	return nil
}

func (w *Writer) writeBatch() error {
	if w.n == 0 {
		return nil
	}
	if _, err := w.pw.WriteRows(w.rows[:w.n]); err != nil {
		return fmt.Errorf("cannot write rows: %w", err)
	}
	w.total += int64(w.n)
	w.inRG += w.n
	w.n = 0
	if w.inRG >= RowGroupRows {
		w.inRG = 0
		if err := w.pw.Flush(); err != nil {
			return fmt.Errorf("cannot write row group: %w", err)
		}
	}
	return nil
}

// Flush writes buffered rows (strings given to Append may be reused after).
func (w *Writer) Flush() error { return w.writeBatch() }

// Rows returns the number of rows appended.
func (w *Writer) Rows() int64 { return w.total + int64(w.n) }

// Close writes the remaining rows and the Parquet footer.
func (w *Writer) Close() error {
	if err := w.writeBatch(); err != nil {
		return err
	}
	if err := w.pw.Close(); err != nil {
		return fmt.Errorf("cannot close parquet file: %w", err)
	}
	return nil
}

// Reader reads rows back from a Parquet file written by Writer.
type Reader struct {
	f     *parquet.File
	cols  []col
	byLf  []int // leaf → engine column index, -1 unused
	names []string
}

// Open opens a Parquet file. cols are the expected columns in engine order;
// nil means the ones recorded in the file's metadata. A file that is not
// Parquet or whose columns differ is reported as an error; callers wrap it
// into a durable.CorruptionError.
func Open(r io.ReaderAt, size int64, cols []Column) (*Reader, error) {
	f, err := parquet.OpenFile(r, size, parquet.SkipPageIndex(true), parquet.SkipBloomFilters(true))
	if err != nil {
		return nil, fmt.Errorf("cannot open parquet file: %w", err)
	}
	if cols == nil {
		js, ok := f.Lookup(MetaColumns)
		if !ok {
			return nil, fmt.Errorf("cannot open parquet file: no %s metadata", MetaColumns)
		}
		if err := json.Unmarshal([]byte(js), &cols); err != nil {
			return nil, fmt.Errorf("cannot open parquet file: bad %s metadata: %w", MetaColumns, err)
		}
	}
	cs, want, err := resolve(cols)
	if err != nil {
		return nil, fmt.Errorf("cannot open parquet file: %w", err)
	}
	got := f.Schema()
	if len(got.Columns()) != len(want.Columns()) {
		return nil, fmt.Errorf("cannot open parquet file: %d leaf columns, want %d", len(got.Columns()), len(want.Columns()))
	}
	for _, path := range want.Columns() {
		a, ok1 := got.Lookup(path...)
		b, _ := want.Lookup(path...)
		if !ok1 || a.ColumnIndex != b.ColumnIndex || a.Node.Type().Kind() != b.Node.Type().Kind() ||
			a.MaxDefinitionLevel != b.MaxDefinitionLevel || a.MaxRepetitionLevel != b.MaxRepetitionLevel {
			return nil, fmt.Errorf("cannot open parquet file: column %v differs from the expected schema", path)
		}
	}
	byLf := make([]int, len(want.Columns()))
	for i := range byLf {
		byLf[i] = -1
	}
	for i, c := range cs {
		byLf[c.leaf] = i
	}
	return &Reader{f: f, cols: cs, byLf: byLf}, nil
}

// NumRows returns the number of rows in the file.
func (r *Reader) NumRows() int64 { return r.f.NumRows() }

// Lookup returns a key/value metadata entry.
func (r *Reader) Lookup(key string) (string, bool) { return r.f.Lookup(key) }

// Columns returns the file's columns in engine order.
func (r *Reader) Columns() []Column {
	out := make([]Column, len(r.cols))
	for i, c := range r.cols {
		out[i] = c.Column
	}
	return out
}

// Each calls fn with every row in file order. vals and the strings in it
// are valid only during the call: clone what you keep. Decoding runs in a
// goroutine of its own, one batch of rows ahead of fn, so decoding and fn
// use two cores. The context is checked once per batch of rows.
func (r *Reader) Each(ctx context.Context, fn func(vals []column.Value) error) error {
	ncol := len(r.cols)
	if ncol == 0 {
		return nil
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	free := make(chan *batch, 3)
	for range cap(free) {
		free <- &batch{vals: make([]column.Value, batchRows*ncol)}
	}
	full := make(chan *batch, cap(free))
	go r.produce(ctx, free, full)
	var err error
	for b := range full {
		if err == nil {
			err = b.err
			for i := 0; err == nil && i < b.n; i++ {
				err = fn(b.vals[i*ncol : (i+1)*ncol : (i+1)*ncol])
			}
			if err != nil {
				cancel() // the producer stops; drain what it sent
			}
		}
		free <- b
	}
	if err == nil {
		err = ctx.Err()
	}
	return err
}

// batch is a block of decoded rows; its strings live in arena and strs.
type batch struct {
	vals  []column.Value
	n     int
	arena []byte
	strs  []string
	err   error
}

func (b *batch) str(p []byte) string {
	start := len(b.arena)
	b.arena = append(b.arena, p...)
	s := b.arena[start:len(b.arena):len(b.arena)]
	return unsafe.String(unsafe.SliceData(s), len(s))
}

// produce decodes every row group into batches taken from free and sends
// them to full, which it closes at the end.
func (r *Reader) produce(ctx context.Context, free <-chan *batch, full chan<- *batch) {
	defer close(full)
	buf := make([]parquet.Row, batchRows)
	ncol := len(r.cols)
	send := func(b *batch) { full <- b } // full has room for every batch
	for _, rg := range r.f.RowGroups() {
		rows := rg.Rows()
		for {
			var b *batch
			select {
			case b = <-free:
			case <-ctx.Done():
				rows.Close()
				return
			}
			b.n, b.err, b.arena, b.strs = 0, nil, b.arena[:0], b.strs[:0]
			n, err := rows.ReadRows(buf)
			for i, row := range buf[:n] {
				if derr := r.decode(row, b.vals[i*ncol:(i+1)*ncol], b); derr != nil {
					b.err = derr
					break
				}
				b.n++
			}
			if err != nil && err != io.EOF && b.err == nil {
				b.err = fmt.Errorf("cannot read rows: %w", err)
			}
			if b.err != nil {
				rows.Close()
				send(b)
				return
			}
			send(b)
			if err == io.EOF {
				break
			}
		}
		if err := rows.Close(); err != nil {
			b := <-free
			b.n, b.err = 0, fmt.Errorf("cannot read rows: %w", err)
			send(b)
			return
		}
	}
}

func (r *Reader) decode(row parquet.Row, vals []column.Value, b *batch) error {
	clear(vals)
	listStart := -1
	for _, v := range row {
		lf := v.Column()
		if lf < 0 || lf >= len(r.byLf) || r.byLf[lf] < 0 {
			return fmt.Errorf("value of unknown column %d", lf)
		}
		i := r.byLf[lf]
		c := &r.cols[i]
		if c.typ == column.TypeStringList {
			switch v.DefinitionLevel() {
			case 0:
			case 1:
				vals[i] = column.StringList([]string{})
			default:
				if v.RepetitionLevel() == 0 {
					listStart = len(b.strs)
				}
				if listStart < 0 {
					return fmt.Errorf("list element of column %s without a list start", c.Name)
				}
				b.strs = append(b.strs, b.str(v.ByteArray()))
				vals[i] = column.StringList(b.strs[listStart:len(b.strs):len(b.strs)])
			}
			continue
		}
		if v.IsNull() {
			continue
		}
		switch c.typ {
		case column.TypeInt:
			vals[i] = column.Int(v.Int64())
		case column.TypeTimestamp:
			vals[i] = column.Micros(v.Int64())
		case column.TypeFloat:
			vals[i] = column.Float(v.Double())
		case column.TypeBool:
			vals[i] = column.Bool(v.Boolean())
		case column.TypeString:
			vals[i] = column.String(b.str(v.ByteArray()))
		}
	}
	return nil
}
