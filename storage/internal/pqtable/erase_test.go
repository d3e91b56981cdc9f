package pqtable

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"strconv"
	"testing"

	"github.com/cohortdb/cohort/engine/column"
)

// TestCopyRowsExcept: every type (NULL, empty and non-empty lists
// included) survives the row-level copy exactly; rows whose person is in
// the set, and only those, are dropped; ContainsAny agrees.
func TestCopyRowsExcept(t *testing.T) {
	cols := []Column{{"tags", "string_list"}, {"person_id", "int"}, {"name", "string"}, {"f", "float"}, {"b", "bool"}, {"ts", "timestamp"}}
	r := rand.New(rand.NewPCG(3, 4))
	var rows [][]column.Value
	for i := range 7000 {
		row := make([]column.Value, len(cols))
		if i%50 != 0 {
			row[1] = column.Int(int64(1 + r.IntN(300)))
		}
		switch r.IntN(3) {
		case 0:
		case 1:
			row[0] = column.StringList([]string{})
		default:
			row[0] = column.StringList([]string{"t" + strconv.Itoa(i), "u"})
		}
		if r.IntN(3) > 0 {
			row[2] = column.String("n" + strconv.Itoa(r.IntN(40)))
		}
		row[3], row[4], row[5] = column.Float(r.NormFloat64()), column.Bool(i%2 == 0), column.Micros(int64(i))
		rows = append(rows, row)
	}
	var src bytes.Buffer
	w, _ := NewWriter(&src, cols, nil)
	for _, row := range rows {
		if err := w.Append(row); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	open := func(b []byte) *Reader {
		rd, err := Open(bytes.NewReader(b), int64(len(b)), cols)
		if err != nil {
			t.Fatal(err)
		}
		return rd
	}
	ctx := context.Background()
	set := NewIntSet([]uint32{5, 17, 17, 299})
	if found, read, err := open(src.Bytes()).ContainsAny(ctx, 1, set); err != nil || !found || !read {
		t.Fatalf("ContainsAny = %v, %v, %v", found, read, err)
	}
	if found, read, err := open(src.Bytes()).ContainsAny(ctx, 1, NewIntSet([]uint32{1000})); err != nil || found || read {
		t.Fatalf("ContainsAny(outside the statistics) = %v, %v, %v; want no read", found, read, err)
	}
	var dst bytes.Buffer
	w2, _ := NewWriter(&dst, cols, nil)
	kept, dropped, err := CopyRowsExcept(ctx, open(src.Bytes()), w2, 1, set)
	if err != nil {
		t.Fatal(err)
	}
	if err := w2.Close(); err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, row := range rows {
		if row[1].Null() || !set.Has(row[1].I) {
			want = append(want, fmt.Sprint(row))
		}
	}
	if kept != int64(len(want)) || dropped != int64(len(rows)-len(want)) || dropped == 0 {
		t.Fatalf("kept %d, dropped %d; want %d, %d", kept, dropped, len(want), len(rows)-len(want))
	}
	i := 0
	err = open(dst.Bytes()).Each(ctx, func(vals []column.Value) error {
		if got := fmt.Sprint(vals); got != want[i] {
			t.Fatalf("row %d = %s, want %s", i, got, want[i])
		}
		i++
		return nil
	})
	if err != nil || i != len(want) {
		t.Fatalf("read %d rows (%v), want %d", i, err, len(want))
	}
	if found, _, err := open(dst.Bytes()).ContainsAny(ctx, 1, set); err != nil || found {
		t.Fatalf("the copy still holds the set: %v, %v", found, err)
	}
}
