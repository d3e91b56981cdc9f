package engine

import (
	"context"
	"runtime"
	"sync/atomic"

	"golang.org/x/sync/errgroup"

	"github.com/cohortdb/cohort/engine/column"
)

// Workers returns the number of scan workers: GOMAXPROCS.
func Workers() int { return runtime.GOMAXPROCS(0) }

// parallelChunks calls fn for every chunk, spread over up to Workers()
// goroutines that take chunks in order from a shared counter. worker is in
// [0, Workers()) so fn can use per-worker scratch without locks. The context
// is checked before every chunk, never per row.
func parallelChunks(ctx context.Context, chunks []*column.Chunk, fn func(worker int, c *column.Chunk) error) error {
	workers := min(Workers(), len(chunks))
	if workers <= 1 {
		for _, c := range chunks {
			if err := ctx.Err(); err != nil {
				return err
			}
			if err := fn(0, c); err != nil {
				return err
			}
		}
		return nil
	}
	var next atomic.Int64
	g, gctx := errgroup.WithContext(ctx)
	for w := range workers {
		g.Go(func() error {
			for {
				i := next.Add(1) - 1
				if i >= int64(len(chunks)) {
					return nil
				}
				if err := gctx.Err(); err != nil {
					return err
				}
				if err := fn(w, chunks[i]); err != nil {
					return err
				}
			}
		})
	}
	return g.Wait()
}
