package snapshot

import (
	"bytes"
	"context"
	"fmt"
	"testing"

	"github.com/cohortdb/cohort/engine"
	"github.com/cohortdb/cohort/engine/column"
	"github.com/cohortdb/cohort/storage/internal/pqtable"
)

// TestWriteRowsMatchesRowByRow checks that the column-wise table write
// (writeRows) stores exactly the rows a row-by-row write (ForEachRow into
// Append) stores: same schema, same values and NULLs in the same order,
// over several chunks, deleted rows (profile updates), sparse columns and
// string lists.
func TestWriteRowsMatchesRowByRow(t *testing.T) {
	n := 150000
	if testing.Short() {
		n = 20000
	}
	w, _, _ := randomWorkspace(t, 7, n)
	ctx := context.Background()
	for _, tbl := range w.Export().Tables() {
		cols := make([]pqtable.Column, len(tbl.Schema.Cols))
		for i, d := range tbl.Schema.Cols {
			cols[i] = pqtable.Column{Name: d.Name, Type: d.Type.String()}
		}
		write := func(fill func(*pqtable.Writer) error) []byte {
			var b bytes.Buffer
			pw, err := pqtable.NewWriter(&b, cols, nil)
			if err != nil {
				t.Fatal(err)
			}
			if err := fill(pw); err != nil {
				t.Fatal(err)
			}
			if err := pw.Close(); err != nil {
				t.Fatal(err)
			}
			return b.Bytes()
		}
		byRow := write(func(pw *pqtable.Writer) error { return engine.ForEachRow(ctx, tbl, pw.Append) })
		byCol := write(func(pw *pqtable.Writer) error { return writeRows(ctx, tbl, pw) })
		a, b := readAll(t, byRow, cols), readAll(t, byCol, cols)
		if int64(len(a)) != tbl.Live || len(b) != len(a) {
			t.Fatalf("%s: %d rows by row, %d by column, %d live", tbl.Name, len(a), len(b), tbl.Live)
		}
		for i := range a {
			if a[i] != b[i] {
				t.Fatalf("%s row %d:\nby row    %s\nby column %s", tbl.Name, i, a[i], b[i])
			}
		}
		t.Logf("%s: %d rows, %d chunks, %d columns; %d bytes by row, %d by column", tbl.Name, len(a), len(tbl.Chunks), len(cols), len(byRow), len(byCol))
	}
}

func readAll(t *testing.T, file []byte, cols []pqtable.Column) []string {
	t.Helper()
	rd, err := pqtable.Open(bytes.NewReader(file), int64(len(file)), cols)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	err = rd.Each(context.Background(), func(vals []column.Value) error {
		out = append(out, fmt.Sprint(vals))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}
