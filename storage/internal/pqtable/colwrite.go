package pqtable

import (
	"context"
	"fmt"

	"github.com/parquet-go/parquet-go"
	"golang.org/x/sync/errgroup"

	"github.com/cohortdb/cohort/engine/column"
)

// colBatch is how many values a column hands its Parquet column writer at
// a time.
const colBatch = 4096

// WriteChunks appends the live rows of chunks (rows set in a chunk's Del
// are skipped) column by column: the chunks are cut into row groups of at
// most RowGroupRows live rows; in each, every column is encoded by its own
// Parquet column writer, up to par columns concurrently, and the row group
// is then written. chunk.Col(i) is column i of the writer's columns
// (engine order); dicts[i] resolves the codes of a string or string_list
// column i. The file holds what Append would have written for the same
// rows in the same order (values, NULLs, empty lists), with the same
// schema, so Reader reads it the same way. Rows given to Append before are
// written first.
func (w *Writer) WriteChunks(ctx context.Context, chunks []*column.Chunk, dicts []column.DictView, par int) error {
	if len(dicts) != len(w.cols) {
		return fmt.Errorf("cannot write columns: %d dictionaries for %d columns", len(dicts), len(w.cols))
	}
	if err := w.writeBatch(); err != nil {
		return err
	}
	if w.inRG > 0 { // row-wise rows open a row group: close it
		if err := w.pw.Flush(); err != nil {
			return fmt.Errorf("cannot write row group: %w", err)
		}
		w.inRG = 0
	}
	par = max(par, 1)
	for len(chunks) > 0 {
		n, rows := 0, 0
		for n < len(chunks) && (n == 0 || rows+chunks[n].Live() <= RowGroupRows) {
			rows += chunks[n].Live()
			n++
		}
		group := chunks[:n]
		chunks = chunks[n:]
		if rows == 0 {
			continue
		}
		cws := w.pw.ColumnWriters()
		g, gctx := errgroup.WithContext(ctx)
		g.SetLimit(par)
		for i := range w.cols {
			g.Go(func() error {
				return writeColumn(gctx, &w.cols[i], i, cws[w.cols[i].leaf], group, dicts[i])
			})
		}
		if err := g.Wait(); err != nil {
			return err
		}
		if err := w.pw.Flush(); err != nil {
			return fmt.Errorf("cannot write row group: %w", err)
		}
		w.total += int64(rows)
	}
	return nil
}

// writeColumn writes column i of the live rows of group to cw.
func writeColumn(ctx context.Context, c *col, i int, cw *parquet.ColumnWriter, group []*column.Chunk, dict column.DictView) error {
	leaf := c.leaf
	buf := make([]parquet.Value, 0, colBatch+64)
	null := parquet.NullValue().Level(0, 0, leaf)
	flush := func() error {
		if len(buf) == 0 {
			return nil
		}
		if _, err := cw.WriteRowValues(buf); err != nil {
			return fmt.Errorf("cannot write column %s: %w", c.Name, err)
		}
		clear(buf) // drop references to strings
		buf = buf[:0]
		return nil
	}
	for _, ch := range group {
		if err := ctx.Err(); err != nil {
			return err
		}
		v := ch.Col(i)
		if v != nil && v.Type != c.typ {
			return fmt.Errorf("cannot write column %s: vector of type %s", c.Name, v.Type)
		}
		del := ch.Del
		// k is the value index of row in a sparse vector (Pos ascending).
		k := 0
		for row := 0; row < ch.Rows; row++ {
			s := -1 // value index of row, -1 for NULL
			switch {
			case v == nil:
			case v.Pos != nil:
				for k < len(v.Pos) && int(v.Pos[k]) < row {
					k++
				}
				if k < len(v.Pos) && int(v.Pos[k]) == row {
					s = k
				}
			case v.Valid == nil || v.Valid.Get(row):
				s = row
			}
			if del != nil && del.Get(row) {
				continue
			}
			if s < 0 {
				buf = append(buf, null)
			} else {
				switch c.typ {
				case column.TypeInt, column.TypeTimestamp:
					buf = append(buf, parquet.Int64Value(v.Base+v.Scale*int64(v.U(s))).Level(0, 1, leaf))
				case column.TypeFloat:
					buf = append(buf, parquet.DoubleValue(v.F64[s]).Level(0, 1, leaf))
				case column.TypeBool:
					buf = append(buf, parquet.BooleanValue(v.Bits.Get(s)).Level(0, 1, leaf))
				case column.TypeString:
					str := dict.Get(uint32(v.Base + v.Scale*int64(v.U(s))))
					buf = append(buf, parquet.ByteArrayValue(bytesOf(str)).Level(0, 1, leaf))
				case column.TypeStringList:
					codes := v.U32[v.Off[s]:v.Off[s+1]]
					if len(codes) == 0 {
						buf = append(buf, parquet.NullValue().Level(0, 1, leaf))
					}
					for j, code := range codes {
						buf = append(buf, parquet.ByteArrayValue(bytesOf(dict.Get(code))).Level(min(j, 1), 2, leaf))
					}
				}
			}
			if len(buf) >= colBatch { // at a row boundary
				if err := flush(); err != nil {
					return err
				}
			}
		}
	}
	return flush()
}
