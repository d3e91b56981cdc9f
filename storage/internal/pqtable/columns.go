package pqtable

import (
	"context"
	"errors"
	"fmt"
	"io"
	"unsafe"

	"github.com/parquet-go/parquet-go"

	"github.com/cohortdb/cohort/engine/column"
)

// ReadChunks decodes column i (engine order) of every row group, in file
// order, straight from its Parquet pages into sealed vectors of
// column.ChunkRows rows (the last one shorter), and calls emit with each in
// order (nil for a chunk where the column is NULL in every row). Strings of
// string and string_list columns are interned into dict: each distinct
// value of a dictionary-encoded column chunk once, in first-appearance
// order, as row-by-row interning would. Calls for different columns may
// run concurrently (each with its own dict); emit is called on the calling
// goroutine. The context is checked once per page.
func (r *Reader) ReadChunks(ctx context.Context, i int, dict *column.Dictionary, emit func(*column.Vec) error) error {
	if i < 0 || i >= len(r.cols) {
		return fmt.Errorf("no column %d", i)
	}
	c := &r.cols[i]
	if (c.typ == column.TypeString || c.typ == column.TypeStringList) && dict == nil {
		return fmt.Errorf("column %s: no dictionary to intern into", c.Name)
	}
	a := newAccum(c.typ, dict, emit)
	for _, rg := range r.f.RowGroups() {
		ccs := rg.ColumnChunks()
		if c.leaf >= len(ccs) {
			return fmt.Errorf("column %s: row group without its column chunk", c.Name)
		}
		pages := ccs[c.leaf].Pages()
		err := a.readPages(ctx, pages)
		if cerr := pages.Close(); err == nil && cerr != nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("column %s: %w", c.Name, err)
		}
		a.pdict, a.pmap = nil, a.pmap[:0] // dictionaries are per column chunk
		a.rowOpen = false
	}
	if err := a.flush(); err != nil {
		return err
	}
	if a.total != r.NumRows() {
		return fmt.Errorf("column %s: %d rows, file has %d", c.Name, a.total, r.NumRows())
	}
	return nil
}

// accum accumulates one chunk of one column.
type accum struct {
	typ   column.Type
	dict  *column.Dictionary
	emit  func(*column.Vec) error
	n     int // rows in the chunk
	total int64
	valid column.Bitmap
	ints  []int64
	codes []uint32 // string codes, or list elements
	flts  []float64
	bits  column.Bitmap
	off   []int32 // list offsets, n+1
	// dictionary of the current column chunk and its engine codes
	pdict parquet.Dictionary
	pmap  []uint32
	vbuf  []parquet.Value
	// a list row continues across pages until the next repetition level 0
	rowOpen bool
}

func newAccum(t column.Type, dict *column.Dictionary, emit func(*column.Vec) error) *accum {
	a := &accum{typ: t, dict: dict, emit: emit, valid: column.NewBitmap(column.ChunkRows)}
	switch t {
	case column.TypeInt, column.TypeTimestamp:
		a.ints = make([]int64, column.ChunkRows)
	case column.TypeString:
		a.codes = make([]uint32, column.ChunkRows)
	case column.TypeFloat:
		a.flts = make([]float64, column.ChunkRows)
	case column.TypeBool:
		a.bits = column.NewBitmap(column.ChunkRows)
	case column.TypeStringList:
		a.off = make([]int32, 1, column.ChunkRows+1)
	}
	return a
}

// flush seals and emits the accumulated rows, if any.
func (a *accum) flush() error {
	if a.n == 0 {
		return nil
	}
	var v *column.Vec
	switch a.typ {
	case column.TypeInt, column.TypeTimestamp:
		v = column.SealInts(a.typ, a.ints, a.valid, a.n)
	case column.TypeString:
		v = column.SealCodes(a.codes, a.valid, a.n)
	case column.TypeFloat:
		v = column.SealFloats(a.flts, a.valid, a.n)
	case column.TypeBool:
		v = column.SealBools(a.bits, a.valid, a.n)
		clear(a.bits)
	case column.TypeStringList:
		v = column.SealLists(a.off, a.codes, a.valid, a.n)
		a.off, a.codes = a.off[:1], a.codes[:0]
	}
	a.total += int64(a.n)
	a.n = 0
	clear(a.valid)
	return a.emit(v)
}

// setValid marks rows [from, to) of the chunk valid.
func (a *accum) setValid(from, to int) {
	for ; from < to && from&63 != 0; from++ {
		a.valid.Set(from)
	}
	for ; from+64 <= to; from += 64 {
		a.valid[from>>6] = ^uint64(0)
	}
	for ; from < to; from++ {
		a.valid.Set(from)
	}
}

func str(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }

func (a *accum) readPages(ctx context.Context, pages parquet.Pages) error {
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		p, err := pages.ReadPage()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("cannot read page: %w", err)
		}
		err = a.page(p)
		parquet.Release(p)
		if err != nil {
			return err
		}
	}
}

var errLevels = errors.New("definition levels and values disagree")

// page appends the rows of one page.
func (a *accum) page(p parquet.Page) error {
	if a.typ == column.TypeBool || a.typ == column.TypeStringList {
		return a.pageValues(p)
	}
	defs := p.DefinitionLevels()
	rows := int(p.NumRows())
	if len(defs) != rows {
		return fmt.Errorf("page of %d rows has %d definition levels", rows, len(defs))
	}
	nn := 0
	for _, d := range defs {
		if d > 1 {
			return fmt.Errorf("definition level %d in a flat column", d)
		}
		nn += int(d)
	}
	data := p.Data()
	var (
		ints  []int64
		flts  []float64
		idx   []int32
		bytes []byte
		offs  []uint32
		nvals int
	)
	switch a.typ {
	case column.TypeInt, column.TypeTimestamp:
		ints = data.Int64()
		nvals = len(ints)
	case column.TypeFloat:
		flts = data.Double()
		nvals = len(flts)
	case column.TypeString:
		if d := p.Dictionary(); d != nil {
			if err := a.dictionary(d); err != nil {
				return err
			}
			idx = data.Int32()
			nvals = len(idx)
		} else {
			bytes, offs = data.ByteArray()
			nvals = max(len(offs)-1, 0)
		}
	}
	if nvals < nn {
		return fmt.Errorf("%w: %d values for %d non-null rows", errLevels, nvals, nn)
	}
	k := 0 // next value
	for j := 0; j < rows; {
		if a.n == column.ChunkRows {
			if err := a.flush(); err != nil {
				return err
			}
		}
		m := min(column.ChunkRows-a.n, rows-j)
		seg := defs[j : j+m]
		allValid := nn == rows
		switch a.typ {
		case column.TypeInt, column.TypeTimestamp:
			if allValid {
				copy(a.ints[a.n:a.n+m], ints[k:k+m])
				k += m
			} else {
				for o, d := range seg {
					if d != 0 {
						a.ints[a.n+o] = ints[k]
						a.valid.Set(a.n + o)
						k++
					}
				}
			}
		case column.TypeFloat:
			if allValid {
				copy(a.flts[a.n:a.n+m], flts[k:k+m])
				k += m
			} else {
				for o, d := range seg {
					if d != 0 {
						a.flts[a.n+o] = flts[k]
						a.valid.Set(a.n + o)
						k++
					}
				}
			}
		case column.TypeString:
			for o, d := range seg {
				if d == 0 {
					continue
				}
				var code uint32
				if idx != nil {
					x := idx[k]
					if x < 0 || int(x) >= len(a.pmap) {
						return fmt.Errorf("dictionary index %d out of %d", x, len(a.pmap))
					}
					code = a.pmap[x]
				} else {
					code = a.dict.Intern(str(bytes[offs[k]:offs[k+1]]))
				}
				a.codes[a.n+o] = code
				if !allValid {
					a.valid.Set(a.n + o)
				}
				k++
			}
		}
		if allValid {
			a.setValid(a.n, a.n+m)
		}
		a.n += m
		j += m
	}
	return nil
}

// dictionary interns the values of a column chunk's dictionary, once.
func (a *accum) dictionary(d parquet.Dictionary) error {
	if d == a.pdict {
		return nil
	}
	data := d.Page().Data()
	bytes, offs := data.ByteArray()
	if len(offs) == 0 && d.Len() > 0 || len(offs) > 0 && len(offs)-1 < d.Len() {
		return fmt.Errorf("dictionary of %d values has %d offsets", d.Len(), len(offs))
	}
	for i := 0; i < d.Len(); i++ {
		if offs[i] > offs[i+1] || int(offs[i+1]) > len(bytes) {
			return fmt.Errorf("dictionary value %d: bad offsets", i)
		}
	}
	a.pmap = a.dict.InternAll(a.pmap[:0], bytes, offs, d.Len())
	a.pdict = d
	return nil
}

// pageValues appends the rows of a bool or string-list page, value by
// value (both are rare in snapshots).
func (a *accum) pageValues(p parquet.Page) error {
	if a.vbuf == nil {
		a.vbuf = make([]parquet.Value, batchRows)
	}
	vr := p.Values()
	for {
		n, err := vr.ReadValues(a.vbuf)
		for _, v := range a.vbuf[:n] {
			if e := a.value(v); e != nil {
				return e
			}
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("cannot read values: %w", err)
		}
		if n == 0 {
			return fmt.Errorf("cannot read values: no progress")
		}
	}
}

// value appends one bool value, or one level of a string list.
func (a *accum) value(v parquet.Value) error {
	def, rep := v.DefinitionLevel(), v.RepetitionLevel()
	if a.typ == column.TypeBool {
		if rep != 0 || def > 1 {
			return fmt.Errorf("levels %d/%d in a flat column", rep, def)
		}
		if err := a.newRow(); err != nil {
			return err
		}
		if def == 1 {
			a.valid.Set(a.n)
			if v.Boolean() {
				a.bits.Set(a.n)
			}
		}
		a.n++
		return nil
	}
	if rep == 1 { // next element of the open row
		if !a.rowOpen || def != 2 {
			return fmt.Errorf("list element (levels %d/%d) without a list start", rep, def)
		}
		a.codes = append(a.codes, a.dict.Intern(str(v.ByteArray())))
		a.off[a.n] = int32(len(a.codes))
		return nil
	}
	if rep != 0 || def > 2 {
		return fmt.Errorf("levels %d/%d in a list column", rep, def)
	}
	if err := a.newRow(); err != nil {
		return err
	}
	row := a.n
	a.n++
	a.off = append(a.off, int32(len(a.codes)))
	a.rowOpen = def == 2
	switch def {
	case 1: // empty list
		a.valid.Set(row)
	case 2:
		a.valid.Set(row)
		a.codes = append(a.codes, a.dict.Intern(str(v.ByteArray())))
		a.off[a.n] = int32(len(a.codes))
	}
	return nil
}

// newRow flushes a full chunk before a row starts.
func (a *accum) newRow() error {
	if a.n == column.ChunkRows {
		a.rowOpen = false
		return a.flush()
	}
	return nil
}
