package engine

import (
	"context"
	"fmt"
	"time"

	"github.com/cohortdb/cohort/engine/column"
)

// PersonSet evaluates c over profiles with one vectorized parallel scan and
// returns the persons of the matching rows as a bitmap indexed by person id
// (sized for every person of the snapshot): a segment's membership.
func (s *Snapshot) PersonSet(ctx context.Context, c Cond, now time.Time) (column.Bitmap, error) {
	f, err := s.compileQuery(ctx, Query{Table: Profiles, Where: c, Now: now})
	if err != nil {
		return nil, err
	}
	d, _ := f.tbl.Schema.Lookup(ColPersonID)
	n := s.Graph.Persons() + 1
	parts := make([]column.Bitmap, Workers())
	err = parallelChunks(ctx, f.tbl.Chunks, func(w int, c *column.Chunk) error {
		bp := bitmapPool.Get().(*column.Bitmap)
		sel := bp.Resize(c.Rows)
		defer func() { *bp = sel; bitmapPool.Put(bp) }()
		f.eval(w, c, sel)
		if c.Del != nil {
			sel.AndNot(c.Del)
		}
		if !sel.Any() {
			return nil
		}
		if parts[w] == nil {
			parts[w] = column.NewBitmap(n)
		}
		out := parts[w]
		v := c.Col(d.Index)
		for r := sel.Next(0); r >= 0; r = sel.Next(r + 1) {
			if p, ok := v.Int(r); ok && p > 0 && p < int64(n) {
				out.Set(int(p))
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("cannot evaluate persons of %s: %w", Profiles, err)
	}
	out := column.NewBitmap(n)
	for _, p := range parts {
		if p != nil {
			out.Or(p)
		}
	}
	return out, nil
}

// IntPairs calls fn with the values of int-like columns a and b of every
// row matching q that has both, in no particular order, from one worker at
// a time. A person_id of events or identities is reported as its canonical
// person.
func (s *Snapshot) IntPairs(ctx context.Context, q Query, a, b string, fn func(x, y int64)) error {
	f, err := s.compileQuery(ctx, q)
	if err != nil {
		return err
	}
	da, okA := f.tbl.Schema.Lookup(a)
	db, okB := f.tbl.Schema.Lookup(b)
	if !okA || !okB {
		return fmt.Errorf("cannot pair %s.%s and %s: %w", q.Table, a, b, ErrNoColumn)
	}
	canon := q.Table != Profiles && a == ColPersonID
	type pair struct{ x, y int64 }
	parts := make([][]pair, len(f.tbl.Chunks))
	index := make(map[*column.Chunk]int, len(f.tbl.Chunks))
	for i, c := range f.tbl.Chunks {
		index[c] = i
	}
	err = parallelChunks(ctx, f.tbl.Chunks, func(w int, c *column.Chunk) error {
		bp := bitmapPool.Get().(*column.Bitmap)
		sel := bp.Resize(c.Rows)
		defer func() { *bp = sel; bitmapPool.Put(bp) }()
		f.eval(w, c, sel)
		if c.Del != nil {
			sel.AndNot(c.Del)
		}
		va, vb := c.Col(da.Index), c.Col(db.Index)
		var out []pair
		for r := sel.Next(0); r >= 0; r = sel.Next(r + 1) {
			x, ok := va.Int(r)
			if !ok {
				continue
			}
			y, ok := vb.Int(r)
			if !ok {
				continue
			}
			if canon {
				x = int64(s.Graph.Canonical(uint32(x)))
			}
			out = append(out, pair{x, y})
		}
		parts[index[c]] = out
		return nil
	})
	if err != nil {
		return fmt.Errorf("cannot pair %s.%s and %s: %w", q.Table, a, b, err)
	}
	for _, p := range parts {
		for _, xy := range p {
			fn(xy.x, xy.y)
		}
	}
	return nil
}
