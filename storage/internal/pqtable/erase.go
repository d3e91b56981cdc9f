package pqtable

import (
	"context"
	"fmt"
	"io"
	"slices"

	"github.com/parquet-go/parquet-go"

	"github.com/cohortdb/cohort/engine/column"
)

// IntSet is a set of small non-negative integers (person ids): a bitmap
// with its bounds, so a membership test is a range check and a bit test.
type IntSet struct {
	bits   []uint64
	lo, hi int64
	n      int
}

// NewIntSet returns the set of vals.
func NewIntSet(vals []uint32) *IntSet {
	s := &IntSet{lo: 1, hi: 0}
	if len(vals) == 0 {
		return s
	}
	s.lo, s.hi = int64(slices.Min(vals)), int64(slices.Max(vals))
	s.bits = make([]uint64, s.hi/64+1)
	for _, v := range vals {
		if s.bits[v/64]&(1<<(v%64)) == 0 {
			s.n++
		}
		s.bits[v/64] |= 1 << (v % 64)
	}
	return s
}

// Has reports whether v is in the set.
func (s *IntSet) Has(v int64) bool {
	return v >= s.lo && v <= s.hi && s.bits[v/64]&(1<<(v%64)) != 0
}

// Len returns the number of members.
func (s *IntSet) Len() int { return s.n }

// Bounds returns the smallest and largest member (lo > hi when empty).
func (s *IntSet) Bounds() (lo, hi int64) { return s.lo, s.hi }

// ContainsAny reports whether int (or timestamp) column i (engine order)
// holds a value of set in any row. Row groups whose column-chunk
// statistics (min/max, written by Writer) miss the set's bounds are not
// read; the others are read one column only, page by page (read says
// whether any page was). It is the cheap test that decides whether a file
// must be rewritten.
func (r *Reader) ContainsAny(ctx context.Context, i int, set *IntSet) (found, read bool, err error) {
	if i < 0 || i >= len(r.cols) {
		return false, false, fmt.Errorf("no column %d", i)
	}
	c := &r.cols[i]
	if c.typ != column.TypeInt && c.typ != column.TypeTimestamp {
		return false, false, fmt.Errorf("column %s is %s, not int", c.Name, c.typ)
	}
	lo, hi := set.Bounds()
	if lo > hi {
		return false, false, nil
	}
	for _, rg := range r.f.RowGroups() {
		ccs := rg.ColumnChunks()
		if c.leaf >= len(ccs) {
			return false, read, fmt.Errorf("column %s: row group without its column chunk", c.Name)
		}
		cc := ccs[c.leaf]
		if fc, ok := cc.(*parquet.FileColumnChunk); ok {
			if mn, mx, ok := fc.Bounds(); ok && !mn.IsNull() && !mx.IsNull() && (mx.Int64() < lo || mn.Int64() > hi) {
				continue // pruned by the statistics
			}
		}
		read = true
		found, err := containsPages(ctx, cc.Pages(), set)
		if err != nil {
			return false, read, fmt.Errorf("column %s: %w", c.Name, err)
		}
		if found {
			return true, read, nil
		}
	}
	return false, read, nil
}

func containsPages(ctx context.Context, pages parquet.Pages, set *IntSet) (found bool, err error) {
	defer func() {
		if cerr := pages.Close(); err == nil && cerr != nil {
			err = cerr
		}
	}()
	lo, hi := set.Bounds()
	for {
		if err := ctx.Err(); err != nil {
			return false, err
		}
		p, err := pages.ReadPage()
		if err == io.EOF {
			return false, nil
		}
		if err != nil {
			return false, fmt.Errorf("cannot read page: %w", err)
		}
		if mn, mx, ok := p.Bounds(); ok && (mx.Int64() < lo || mn.Int64() > hi) {
			parquet.Release(p)
			continue
		}
		data := p.Data()
		for _, v := range data.Int64() { // the non-null values
			if set.Has(v) {
				parquet.Release(p)
				return true, nil
			}
		}
		parquet.Release(p)
	}
}

// CopyRowsExcept appends to w (a new writer with r's columns) every row of
// r whose int column i (engine order) is NULL or not in set, and reports
// how many rows it kept and dropped. Rows are copied as Parquet rows, with
// no decoding into values: an erasure rewrite costs little more than
// reading and compressing the file.
func CopyRowsExcept(ctx context.Context, r *Reader, w *Writer, i int, set *IntSet) (kept, dropped int64, err error) {
	if i < 0 || i >= len(r.cols) {
		return 0, 0, fmt.Errorf("cannot copy rows: no column %d", i)
	}
	if !slices.EqualFunc(r.cols, w.cols, func(a, b col) bool { return a.Column == b.Column && a.leaf == b.leaf }) {
		return 0, 0, fmt.Errorf("cannot copy rows: the writer's columns differ from the file's")
	}
	if w.Rows() != 0 {
		return 0, 0, fmt.Errorf("cannot copy rows: the writer has rows already")
	}
	leaf := r.cols[i].leaf
	buf := make([]parquet.Row, batchRows)
	keep := make([]parquet.Row, 0, batchRows)
	for _, rg := range r.f.RowGroups() {
		rows := rg.Rows()
		for {
			if err := ctx.Err(); err != nil {
				rows.Close()
				return kept, dropped, err
			}
			n, rerr := rows.ReadRows(buf)
			keep = keep[:0]
			for _, row := range buf[:n] {
				drop := false
				for _, v := range row {
					if v.Column() == leaf {
						drop = !v.IsNull() && set.Has(v.Int64())
						break
					}
				}
				if drop {
					dropped++
				} else {
					keep = append(keep, row)
				}
			}
			if len(keep) > 0 {
				if err := w.writeRows(keep); err != nil {
					rows.Close()
					return kept, dropped, err
				}
				kept += int64(len(keep))
			}
			if rerr == io.EOF {
				break
			}
			if rerr != nil {
				rows.Close()
				return kept, dropped, fmt.Errorf("cannot read rows: %w", rerr)
			}
		}
		if err := rows.Close(); err != nil {
			return kept, dropped, fmt.Errorf("cannot read rows: %w", err)
		}
	}
	return kept, dropped, nil
}

// writeRows writes Parquet rows of w's schema, starting a new row group
// every RowGroupRows rows as Append does.
func (w *Writer) writeRows(rows []parquet.Row) error {
	for len(rows) > 0 {
		n := min(len(rows), RowGroupRows-w.inRG)
		if _, err := w.pw.WriteRows(rows[:n]); err != nil {
			return fmt.Errorf("cannot write rows: %w", err)
		}
		rows = rows[n:]
		w.total += int64(n)
		w.inRG += n
		if w.inRG >= RowGroupRows {
			w.inRG = 0
			if err := w.pw.Flush(); err != nil {
				return fmt.Errorf("cannot write row group: %w", err)
			}
		}
	}
	return nil
}
