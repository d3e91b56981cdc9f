package pqtable

import (
	"bytes"
	"context"
	"math/rand/v2"
	"strconv"
	"testing"

	"github.com/cohortdb/cohort/engine/column"
)

func TestRoundTripEveryType(t *testing.T) {
	cols := []Column{{"z_int", "int"}, {"a_str", "string"}, {"f", "float"}, {"b", "bool"}, {"ts", "timestamp"}, {"tags", "string_list"}, {"with.dot", "string"}}
	r := rand.New(rand.NewPCG(1, 2))
	var rows [][]column.Value
	for i := range 5000 {
		row := make([]column.Value, len(cols))
		if r.IntN(4) > 0 {
			row[0] = column.Int(r.Int64() - 1<<62)
		}
		if r.IntN(4) > 0 {
			row[1] = column.String("s" + strconv.Itoa(r.IntN(100)))
		}
		if r.IntN(4) > 0 {
			row[2] = column.Float(r.NormFloat64())
		}
		if r.IntN(4) > 0 {
			row[3] = column.Bool(r.IntN(2) == 0)
		}
		if r.IntN(4) > 0 {
			row[4] = column.Micros(r.Int64N(1 << 52))
		}
		switch r.IntN(4) {
		case 0:
		case 1:
			row[5] = column.StringList([]string{})
		default:
			l := make([]string, 1+r.IntN(3))
			for j := range l {
				l[j] = "t" + strconv.Itoa(i+j)
			}
			row[5] = column.StringList(l)
		}
		if i%7 == 0 {
			row[6] = column.String("")
		}
		rows = append(rows, row)
	}
	var buf bytes.Buffer
	w, err := NewWriter(&buf, cols, map[string]string{"k": "v"})
	if err != nil {
		t.Fatal(err)
	}
	for _, row := range rows {
		if err := w.Append(row); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	rd, err := Open(bytes.NewReader(buf.Bytes()), int64(buf.Len()), nil)
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := rd.Lookup("k"); v != "v" {
		t.Errorf("metadata k = %q", v)
	}
	i := 0
	err = rd.Each(context.Background(), func(vals []column.Value) error {
		for j, v := range vals {
			want := rows[i][j]
			if !v.Equal(want) || (want.Type == column.TypeStringList && (v.L == nil) != (want.L == nil) && len(want.L) == 0 && v.Null() != want.Null()) {
				t.Fatalf("row %d col %s = %v, want %v", i, cols[j].Name, v, want)
			}
		}
		i++
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if i != len(rows) {
		t.Fatalf("read %d rows, want %d", i, len(rows))
	}
	if _, err := Open(bytes.NewReader(buf.Bytes()[:buf.Len()-10]), int64(buf.Len()-10), nil); err == nil {
		t.Fatal("truncated file opened")
	}
}
