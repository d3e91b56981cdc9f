package engine

import (
	"context"
	"fmt"
	"math"

	"github.com/cohortdb/cohort/engine/column"
)

// Ordered float sums.
//
// Float addition is not associative: the parallel aggregation adds each
// worker's chunks, in whatever order the workers happen to take them, then
// merges the workers' partial sums, so SUM/AVG of a float column may differ
// from run to run, and from a sequential sum, in the last bits. A SQL engine
// such as go-mysql-server sums float64 values one by one in the order the
// table returns its rows (Snapshot.Select: f.tbl.Chunks in order, ascending
// rows), so an engine answer must reproduce that order to be identical.
//
// With AggQuery.OrderedFloatSums, the parallel pass computes everything else
// as usual and also keeps the selection bitmap of every chunk (8 KiB a
// chunk); then one goroutine walks the chunks in table order and adds the
// selected non-NULL values of each float SUM/AVG per group in row order,
// starting from 0, replacing the parallel sums. AVG is that sum divided by
// the count of non-NULL values, as before. The result is deterministic and
// bit for bit the sequential sum in table order.

// orderedSums is the state of an ordered-sum aggregation.
type orderedSums struct {
	aggs  []int                 // indexes in AggQuery.Aggs of float SUM/AVG
	index map[*column.Chunk]int // position of each chunk in table order
	sels  []column.Bitmap       // selection of each chunk, by position
}

// newOrderedSums returns nil unless q asks for ordered float sums and has a
// SUM or AVG of a float column.
func newOrderedSums(q AggQuery, args []*column.ColumnDef, chunks []*column.Chunk) *orderedSums {
	if !q.OrderedFloatSums {
		return nil
	}
	var aggs []int
	for i, a := range q.Aggs {
		if (a.Func == AggSum || a.Func == AggAvg) && args[i] != nil && args[i].Type == column.TypeFloat {
			aggs = append(aggs, i)
		}
	}
	if len(aggs) == 0 {
		return nil
	}
	o := &orderedSums{aggs: aggs, index: make(map[*column.Chunk]int, len(chunks)), sels: make([]column.Bitmap, len(chunks))}
	for i, c := range chunks {
		o.index[c] = i
	}
	return o
}

// keep records the selection of chunk c. Workers call it concurrently, each
// for its own chunks.
func (o *orderedSums) keep(c *column.Chunk, sel column.Bitmap) {
	if sel.Any() {
		o.sels[o.index[c]] = sel.Clone(c.Rows)
	}
}

// sum replaces the float sums of the ordered aggregates of the groups of
// total by sequential sums in table order.
func (o *orderedSums) sum(ctx context.Context, chunks []*column.Chunk, keys, args []*column.ColumnDef, total map[groupKey]*accum) error {
	for _, a := range total {
		for _, i := range o.aggs {
			a.sumF[i] = 0
		}
	}
	kv := make([]*column.Vec, len(keys))
	fv := make([]*column.Vec, len(o.aggs))
	dense := newDenseGroups(len(keys), total)
	var (
		last groupKey
		acc  *accum
	)
	for ci, c := range chunks {
		sel := o.sels[ci]
		if sel == nil {
			continue
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		for i, d := range keys {
			kv[i] = c.Col(d.Index)
		}
		for j, i := range o.aggs {
			fv[j] = c.Col(args[i].Index)
		}
		for wi, w := range sel {
			for w != 0 {
				row := wi<<6 + bitsTrailing(w)
				w &= w - 1
				if dense != nil {
					acc = dense.lookup(kv, row)
					if acc == nil {
						return fmt.Errorf("ordered sum: no group for a selected row of chunk %d", ci) // cannot happen
					}
					for j, i := range o.aggs {
						if x, ok := fv[j].Float(row); ok {
							acc.sumF[i] += x
						}
					}
					continue
				}
				var k groupKey
				for i, v := range kv {
					if x, ok := rawKey(v, row); ok {
						k.v[i] = x
					} else {
						k.null |= 1 << i
					}
				}
				if acc == nil || k != last {
					acc = total[k]
					if acc == nil {
						return fmt.Errorf("ordered sum: no group for a selected row of chunk %d", ci) // cannot happen
					}
					last = k
				}
				for j, i := range o.aggs {
					if x, ok := fv[j].Float(row); ok {
						acc.sumF[i] += x
					}
				}
			}
		}
	}
	return nil
}

// denseGroups indexes the groups by their key values in a dense table,
// mixed radix over each key column's range (0 for NULL), so that the
// sequential pass does not hash a key per row.
type denseGroups struct {
	lo, hi, stride []int64
	accs           []*accum
}

// maxDenseGroups bounds the table (pointers) beyond the groups themselves.
const maxDenseGroups = 1 << 16

// newDenseGroups returns nil when the key ranges are too wide.
func newDenseGroups(nkeys int, total map[groupKey]*accum) *denseGroups {
	d := &denseGroups{lo: make([]int64, nkeys), hi: make([]int64, nkeys), stride: make([]int64, nkeys)}
	for i := range nkeys {
		d.lo[i], d.hi[i] = math.MaxInt64, math.MinInt64
	}
	for k := range total {
		for i := range nkeys {
			if k.null&(1<<i) == 0 {
				d.lo[i], d.hi[i] = min(d.lo[i], k.v[i]), max(d.hi[i], k.v[i])
			}
		}
	}
	size := int64(1)
	limit := int64(maxDenseGroups + 8*len(total))
	for i := range nkeys {
		d.stride[i] = size
		width := int64(1) // NULL
		if d.lo[i] <= d.hi[i] {
			if d.hi[i]-d.lo[i] >= limit || d.hi[i]-d.lo[i] < 0 { // too wide, or overflow
				return nil
			}
			width += d.hi[i] - d.lo[i] + 1
		}
		if size *= width; size > limit {
			return nil
		}
	}
	d.accs = make([]*accum, size)
	for k, a := range total {
		idx := int64(0)
		for i := range nkeys {
			if k.null&(1<<i) == 0 {
				idx += (k.v[i] - d.lo[i] + 1) * d.stride[i]
			}
		}
		d.accs[idx] = a
	}
	return d
}

// lookup returns the group of row, or nil if it has none.
func (d *denseGroups) lookup(kv []*column.Vec, row int) *accum {
	idx := int64(0)
	for i, v := range kv {
		if x, ok := rawKey(v, row); ok {
			if x < d.lo[i] || x > d.hi[i] {
				return nil
			}
			idx += (x - d.lo[i] + 1) * d.stride[i]
		}
	}
	return d.accs[idx]
}
