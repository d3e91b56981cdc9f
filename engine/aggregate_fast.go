package engine

import (
	"context"
	"fmt"
	"slices"

	"github.com/cohortdb/cohort/engine/column"
)

// countByString answers COUNT(*) ... GROUP BY <one string column>, the
// commonest segment breakdown, with dense per-worker counters indexed by
// dictionary code instead of a map per row.
func (s *Snapshot) countByString(ctx context.Context, f *filter, d *column.ColumnDef) ([]Group, error) {
	view := d.Dict.View()
	n := view.Len()
	counts := make([][]int64, Workers())
	err := parallelChunks(ctx, f.tbl.Chunks, func(w int, c *column.Chunk) error {
		if counts[w] == nil {
			counts[w] = make([]int64, n+1) // last slot: NULL
		}
		bp := bitmapPool.Get().(*column.Bitmap)
		sel := bp.Resize(c.Rows)
		defer func() { *bp = sel; bitmapPool.Put(bp) }()
		f.eval(w, c, sel)
		cnt := counts[w]
		v := c.Col(d.Index)
		k := sel.Count()
		switch {
		case v == nil:
			cnt[n] += int64(k)
		case v.Pos == nil && v.Valid == nil:
			if k == c.Rows && v.N == c.Rows {
				// Every row counts (no filter, no deleted row): postings,
				// where built (event names, for behavioural predicates),
				// hold the count of each code; otherwise one pass over the
				// codes without walking the selection's bits.
				if p := v.BuiltPostings(); p != nil {
					p.AddCounts(cnt)
					break
				}
				switch v.Width {
				case 8:
					countAllCodes8(v.U8[:c.Rows], cnt)
				case 16:
					countAllCodes(v.U16[:c.Rows], cnt)
				default:
					countAllCodes(v.U32[:c.Rows], cnt)
				}
				break
			}
			switch v.Width {
			case 8:
				countCodes(v.U8, sel, cnt)
			case 16:
				countCodes(v.U16, sel, cnt)
			default:
				countCodes(v.U32, sel, cnt)
			}
		default:
			for r := sel.Next(0); r >= 0; r = sel.Next(r + 1) {
				if x, ok := v.Int(r); ok {
					cnt[x]++
				} else {
					cnt[n]++
				}
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("cannot count %s by %s: %w", f.tbl.Name, d.Name, err)
	}
	var out []Group
	for code := 0; code <= n; code++ {
		var total int64
		for _, cnt := range counts {
			if cnt != nil {
				total += cnt[code]
			}
		}
		if total == 0 {
			continue
		}
		key := column.Value{}
		if code < n {
			key = column.String(view.Get(uint32(code)))
		}
		out = append(out, Group{Key: []column.Value{key}, Aggs: []column.Value{column.Int(total)}})
	}
	slices.SortFunc(out, func(a, b Group) int { return compareKeys(a.Key, b.Key) })
	return out, nil
}

// countAllCodes8 counts 8-bit codes into four histograms in turn: events
// chunks are clustered by name, so long runs of one code would make every
// increment wait for the previous one's store (1.3 → 0.3 ns per row).
func countAllCodes8(codes []uint8, cnt []int64) {
	var h [4][256]uint32 // a chunk has at most 64Ki rows
	i := 0
	for ; i+4 <= len(codes); i += 4 {
		h[0][codes[i]]++
		h[1][codes[i+1]]++
		h[2][codes[i+2]]++
		h[3][codes[i+3]]++
	}
	for ; i < len(codes); i++ {
		h[0][codes[i]]++
	}
	for c := range min(len(cnt), 256) {
		cnt[c] += int64(h[0][c]) + int64(h[1][c]) + int64(h[2][c]) + int64(h[3][c])
	}
}

func countAllCodes[T uint16 | uint32](codes []T, cnt []int64) {
	for _, c := range codes {
		cnt[c]++
	}
}

func countCodes[T uint8 | uint16 | uint32](codes []T, sel column.Bitmap, cnt []int64) {
	for wi, w := range sel {
		base := wi << 6
		for w != 0 {
			cnt[codes[base+bitsTrailing(w)]]++
			w &= w - 1
		}
	}
}
