package ingest

import (
	"github.com/cohortdb/cohort/engine/column"
)

func rowValue(c *column.Chunk, off int, d *column.ColumnDef) column.Value {
	if d.Index >= len(c.Cols) {
		return column.Value{}
	}
	return c.Col(d.Index).Value(off, d)
}
