package snapshot

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sync/errgroup"

	"github.com/cohortdb/cohort/engine"
	"github.com/cohortdb/cohort/engine/column"
	"github.com/cohortdb/cohort/storage/durable"
	"github.com/cohortdb/cohort/storage/internal/pqtable"
)

// restoreTable restores table tbl from its file f column by column: every
// column is decoded from its Parquet pages straight into sealed chunks
// (pqtable.Reader.ReadChunks) on a goroutine of its own, at most cap(sem)
// columns at a time over all tables, and the chunks are then handed to the
// restorer in table order. Row order, NULLs and dictionary contents are
// those of a row-by-row restore.
func restoreTable(ctx context.Context, dir string, f *File, r *engine.Restorer, tbl string, sem chan struct{}) error {
	p := filepath.Join(dir, f.Name)
	specs := make([]engine.ColumnSpec, len(f.Columns))
	for i, c := range f.Columns {
		t, _ := column.ParseType(c.Type) // validated by DecodeManifest
		specs[i] = engine.ColumnSpec{Name: c.Name, Type: t}
	}
	if err := r.Columns(tbl, specs); err != nil {
		return durable.Corrupt(p, -1, "%v", err)
	}
	schema, err := r.Schema(tbl)
	if err != nil {
		return err
	}
	fh, err := os.Open(p)
	if err != nil {
		return fmt.Errorf("cannot open %s: %w", p, err)
	}
	defer fh.Close()
	rd, err := pqtable.Open(fh, f.Size, f.Columns)
	if err != nil {
		return durable.Corrupt(p, -1, "%v", err)
	}
	if rd.NumRows() != f.Rows {
		return durable.Corrupt(p, -1, "%d rows, manifest says %d", rd.NumRows(), f.Rows)
	}
	vecs := make([][]*column.Vec, len(f.Columns))
	g, gctx := errgroup.WithContext(ctx)
	for i := range f.Columns {
		g.Go(func() error {
			select {
			case sem <- struct{}{}:
			case <-gctx.Done():
				return gctx.Err()
			}
			defer func() { <-sem }()
			return rd.ReadChunks(gctx, i, schema.Cols[i].Dict, func(v *column.Vec) error {
				vecs[i] = append(vecs[i], v)
				return nil
			})
		})
	}
	if err := g.Wait(); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return durable.Corrupt(p, -1, "%v", err)
	}
	chunks := int((f.Rows + column.ChunkRows - 1) / column.ChunkRows)
	for i, v := range vecs {
		if len(v) != chunks {
			return durable.Corrupt(p, -1, "column %s: %d chunks, want %d", f.Columns[i].Name, len(v), chunks)
		}
	}
	for k := range chunks {
		rows := min(int(f.Rows)-k*column.ChunkRows, column.ChunkRows)
		c := &column.Chunk{Rows: rows, Cols: make([]*column.Vec, len(vecs))}
		for i := range vecs {
			c.Cols[i], vecs[i][k] = vecs[i][k], nil
		}
		if err := r.Chunk(tbl, c); err != nil {
			return durable.Corrupt(p, -1, "%v", err)
		}
	}
	return nil
}
