package engine

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/cohortdb/cohort/engine/column"
	"github.com/cohortdb/cohort/engine/table"
)

// Query selects rows of one table of a snapshot.
type Query struct {
	Table string
	Where Cond      // nil selects every live row
	Now   time.Time // the "now" of relative time constants; zero = time.Now()
}

// filter is a compiled Query: it fills a chunk's selection bitmap.
type filter struct {
	tbl     *table.Snapshot
	eval    func(worker int, c *column.Chunk, out column.Bitmap)
	workers []column.Bitmap
}

var bitmapPool = sync.Pool{New: func() any { b := column.NewBitmap(column.ChunkRows); return &b }}

func (s *Snapshot) compileQuery(ctx context.Context, q Query) (*filter, error) {
	tbl, err := s.Table(q.Table)
	if err != nil {
		return nil, err
	}
	now := q.Now
	if now.IsZero() {
		now = time.Now()
	}
	f := &filter{tbl: tbl}
	if q.Where == nil {
		f.eval = func(_ int, c *column.Chunk, out column.Bitmap) {
			out.SetAll(c.Rows)
			if c.Del != nil {
				out.AndNot(c.Del)
			}
		}
		return f, nil
	}
	ev, err := s.compileCond(ctx, tbl, q.Where, now)
	if err != nil {
		return nil, fmt.Errorf("cannot compile query on %s: %w", q.Table, err)
	}
	f.eval = ev
	return f, nil
}

// Count returns the number of rows matching q.
func (s *Snapshot) Count(ctx context.Context, q Query) (int64, error) {
	f, err := s.compileQuery(ctx, q)
	if err != nil {
		return 0, err
	}
	if q.Where == nil {
		return f.tbl.Live, nil
	}
	counts := make([]int64, Workers())
	err = parallelChunks(ctx, f.tbl.Chunks, func(w int, c *column.Chunk) error {
		bp := bitmapPool.Get().(*column.Bitmap)
		sel := bp.Resize(c.Rows)
		f.eval(w, c, sel)
		counts[w] += int64(sel.Count())
		*bp = sel
		bitmapPool.Put(bp)
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("cannot count %s: %w", q.Table, err)
	}
	var n int64
	for _, c := range counts {
		n += c
	}
	return n, nil
}

// Ints returns the values of int column col for the rows matching q, in
// table order (e.g. the person ids of a segment).
func (s *Snapshot) Ints(ctx context.Context, q Query, col string) ([]int64, error) {
	f, err := s.compileQuery(ctx, q)
	if err != nil {
		return nil, err
	}
	d, ok := f.tbl.Schema.Lookup(col)
	if !ok || (d.Type != column.TypeInt && d.Type != column.TypeTimestamp) {
		return nil, fmt.Errorf("cannot list %s.%s: %w or not an integer column", q.Table, col, ErrNoColumn)
	}
	parts := make([][]int64, len(f.tbl.Chunks))
	index := make(map[*column.Chunk]int, len(f.tbl.Chunks))
	for i, c := range f.tbl.Chunks {
		index[c] = i
	}
	err = parallelChunks(ctx, f.tbl.Chunks, func(w int, c *column.Chunk) error {
		bp := bitmapPool.Get().(*column.Bitmap)
		sel := bp.Resize(c.Rows)
		f.eval(w, c, sel)
		parts[index[c]] = gatherInts(c.Col(d.Index), sel, nil)
		*bp = sel
		bitmapPool.Put(bp)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("cannot list %s.%s: %w", q.Table, col, err)
	}
	n := 0
	for _, p := range parts {
		n += len(p)
	}
	out := make([]int64, 0, n)
	for _, p := range parts {
		out = append(out, p...)
	}
	if d.Name == ColPersonID && q.Table != Profiles {
		for i, p := range out {
			out[i] = int64(s.Graph.Canonical(uint32(p)))
		}
	}
	return out, nil
}

// gatherInts appends the decoded non-null values of v at the set rows of sel.
func gatherInts(v *column.Vec, sel column.Bitmap, dst []int64) []int64 {
	if v == nil {
		return dst
	}
	if v.Pos == nil && v.Valid == nil {
		base, scale := v.Base, v.Scale
		switch v.Width {
		case 8:
			return gatherDense(v.U8, sel, base, scale, dst)
		case 16:
			return gatherDense(v.U16, sel, base, scale, dst)
		case 32:
			return gatherDense(v.U32, sel, base, scale, dst)
		default:
			return gatherDense(v.U64, sel, base, scale, dst)
		}
	}
	for r := sel.Next(0); r >= 0; r = sel.Next(r + 1) {
		if x, ok := v.Int(r); ok {
			dst = append(dst, x)
		}
	}
	return dst
}

func gatherDense[T uint8 | uint16 | uint32 | uint64](vals []T, sel column.Bitmap, base, scale int64, dst []int64) []int64 {
	for wi, w := range sel {
		for w != 0 {
			t := bitsTrailing(w)
			dst = append(dst, base+scale*int64(vals[wi<<6+t]))
			w &= w - 1
		}
	}
	return dst
}
