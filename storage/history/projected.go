package history

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/cohortdb/cohort/engine/column"
	"github.com/cohortdb/cohort/storage/durable"
	"github.com/cohortdb/cohort/storage/internal/pqtable"
)

// Projection says which parts of a Record a projected scan fills besides
// Person, Attribute and At (always filled); the others are left zero.
type Projection struct {
	Seq, Old, New, Source bool
}

// Indexes in Columns of the parts a projected scan reads.
const (
	pjSeq, pjPerson, pjAttribute, pjType, pjAt, pjSource = 0, 1, 2, 3, 16, 17
)

// ScanProjected is Scan reading only the columns p asks for, column by
// column (pqtable.ReadChunks) instead of row by row: for readers of many
// records that need few of their parts (membership as of a past time
// reads person, attribute, old value and time). Records passed to fn are
// fn's to keep; their strings may share memory with each other.
func (r *Reader) ScanProjected(ctx context.Context, from, to time.Time, p Projection, fn func(Record) error) error {
	names, err := r.Files(from, to)
	if err != nil {
		return err
	}
	return r.scanNamesProjected(ctx, names, from.UnixMicro(), to.UnixMicro(), p, fn)
}

// ScanProjected is Writer.Scan with a Projection (see
// Reader.ScanProjected): the files' records, then the unflushed ones, each
// exactly once even while a flush runs.
func (w *Writer) ScanProjected(ctx context.Context, from, to time.Time, p Projection, fn func(Record) error) error {
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
	if err := r.scanNamesProjected(ctx, names, lo, hi, p, fn); err != nil {
		return err
	}
	for i, rec := range buffered {
		if i&4095 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		out := Record{Person: rec.Person, Attribute: rec.Attribute, At: rec.At}
		if p.Seq {
			out.Seq = rec.Seq
		}
		if p.Old {
			out.Old = clone(rec.Old)
		}
		if p.New {
			out.New = clone(rec.New)
		}
		if p.Source {
			out.Source = rec.Source
		}
		if err := fn(out); err != nil {
			return err
		}
	}
	return nil
}

func (r *Reader) scanNamesProjected(ctx context.Context, names []string, lo, hi int64, p Projection, fn func(Record) error) error {
	for _, name := range names {
		if err := r.scanFileProjected(ctx, name, lo, hi, p, fn); err != nil {
			return err
		}
	}
	return nil
}

func (r *Reader) scanFileProjected(ctx context.Context, name string, lo, hi int64, p Projection, fn func(Record) error) error {
	f, _ := parseName(name)
	path := filepath.Join(r.dir, name)
	size, crc, err := durable.FileCRC(path)
	if err != nil {
		return err
	}
	if crc != f.crc {
		return durable.Corrupt(path, -1, "checksum %08x, name says %08x", crc, f.crc)
	}
	fh, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("cannot open history file %s: %w", path, err)
	}
	defer fh.Close()
	rd, err := pqtable.Open(fh, size, Columns)
	if err != nil {
		return durable.Corrupt(path, -1, "%v", err)
	}
	need := []int{pjPerson, pjAttribute, pjType, pjAt}
	if p.Seq {
		need = append(need, pjSeq)
	}
	if p.Source {
		need = append(need, pjSource)
	}
	for _, i := range typedCol {
		if p.Old {
			need = append(need, i)
		}
		if p.New {
			need = append(need, i+1)
		}
	}
	// Every needed column of the whole file, as chunks of ChunkRows rows.
	vecs := make([][]*column.Vec, len(Columns))
	views := make([]column.DictView, len(Columns))
	for _, i := range need {
		var dict *column.Dictionary
		if t := Columns[i].Type; t == "string" || t == "string_list" {
			dict = column.NewDictionary()
		}
		err := rd.ReadChunks(ctx, i, dict, func(v *column.Vec) error {
			vecs[i] = append(vecs[i], v)
			return nil
		})
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return durable.Corrupt(path, -1, "%v", err)
		}
		if dict != nil {
			views[i] = dict.View()
		}
	}
	chunks := (int(rd.NumRows()) + column.ChunkRows - 1) / column.ChunkRows
	for _, i := range need {
		if len(vecs[i]) != chunks {
			return durable.Corrupt(path, -1, "column %s: %d chunks, want %d", Columns[i].Name, len(vecs[i]), chunks)
		}
	}
	// The value type of each code of the type column.
	types := make([]column.Type, views[pjType].Len())
	for c := range types {
		t, err := column.ParseType(views[pjType].Get(uint32(c)))
		if _, ok := typedCol[t]; err != nil || !ok {
			return durable.Corrupt(path, -1, "history value of type %q", views[pjType].Get(uint32(c)))
		}
		types[c] = t
	}
	n := int(rd.NumRows())
	for c := 0; c*column.ChunkRows < n; c++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		rows := min(column.ChunkRows, n-c*column.ChunkRows)
		at, person, attr, typ := vecs[pjAt][c], vecs[pjPerson][c], vecs[pjAttribute][c], vecs[pjType][c]
		for row := range rows {
			ts, _ := at.Int(row)
			if ts < lo || ts >= hi {
				continue
			}
			pid, _ := person.Int(row)
			code, _ := attr.Int(row)
			rec := Record{Person: uint32(pid), Attribute: views[pjAttribute].Get(uint32(code)), At: ts}
			if p.Seq {
				s, _ := vecs[pjSeq][c].Int(row)
				rec.Seq = uint64(s)
			}
			if p.Source {
				if s, ok := vecs[pjSource][c].Int(row); ok {
					rec.Source = views[pjSource].Get(uint32(s))
				}
			}
			if tc, ok := typ.Int(row); ok && (p.Old || p.New) {
				t := types[tc]
				i := typedCol[t]
				if p.Old {
					rec.Old = valueAt(vecs[i][c], row, t, views[i])
				}
				if p.New {
					rec.New = valueAt(vecs[i+1][c], row, t, views[i+1])
				}
			}
			if err := fn(rec); err != nil {
				return err
			}
		}
	}
	return nil
}

// valueAt decodes row of v, a vector of type t (nil: NULL).
func valueAt(v *column.Vec, row int, t column.Type, dict column.DictView) column.Value {
	switch t {
	case column.TypeString:
		if c, ok := v.Int(row); ok {
			return column.String(dict.Get(uint32(c)))
		}
	case column.TypeInt:
		if x, ok := v.Int(row); ok {
			return column.Int(x)
		}
	case column.TypeTimestamp:
		if x, ok := v.Int(row); ok {
			return column.Micros(x)
		}
	case column.TypeFloat:
		if x, ok := v.Float(row); ok {
			return column.Float(x)
		}
	case column.TypeBool:
		if x, ok := v.Bool(row); ok {
			return column.Bool(x)
		}
	case column.TypeStringList:
		if codes, ok := v.List(row); ok {
			l := make([]string, len(codes))
			for i, c := range codes {
				l[i] = dict.Get(c)
			}
			return column.StringList(l)
		}
	}
	return column.Value{}
}
