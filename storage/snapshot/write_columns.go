package snapshot

import (
	"context"
	"runtime"

	"github.com/cohortdb/cohort/engine/column"
	"github.com/cohortdb/cohort/engine/table"
	"github.com/cohortdb/cohort/storage/internal/pqtable"
)

// writeRows writes the live rows of t column by column
// (pqtable.Writer.WriteChunks), GOMAXPROCS columns at a time: the same
// file as a row-by-row write (engine.ForEachRow into Writer.Append), for
// a fraction of the CPU. Strings are resolved through dictionary views
// taken now, after t was published, so they cover every code in it (the
// live dictionaries may be growing under the writer).
func writeRows(ctx context.Context, t *table.Snapshot, w *pqtable.Writer) error {
	dicts := make([]column.DictView, len(t.Schema.Cols))
	for i, d := range t.Schema.Cols {
		if d.Dict != nil {
			dicts[i] = d.Dict.View()
		}
	}
	return w.WriteChunks(ctx, t.Chunks, dicts, runtime.GOMAXPROCS(0))
}
