package pqtable

import (
	"bytes"
	"context"
	"math/rand/v2"
	"strconv"
	"testing"

	"github.com/cohortdb/cohort/engine/column"
)

// TestReadChunksMatchesEach decodes every column with ReadChunks and checks
// it row by row against Each, across chunk and row-group boundaries
// (row groups are cut every 7000 rows here), for every type and NULL
// density, including columns that are NULL in whole chunks.
func TestReadChunksMatchesEach(t *testing.T) {
	cols := []Column{{"id", "int"}, {"s", "string"}, {"f", "float"}, {"b", "bool"}, {"ts", "timestamp"}, {"tags", "string_list"},
		{"sparse", "string"}, {"nulls", "int"}, {"uniq", "string"}}
	r := rand.New(rand.NewPCG(4, 2))
	const n = 2*column.ChunkRows + 3001
	var buf bytes.Buffer
	w, err := NewWriter(&buf, cols, nil)
	if err != nil {
		t.Fatal(err)
	}
	row := make([]column.Value, len(cols))
	for i := range n {
		clear(row)
		row[0] = column.Int(int64(i) * 3)
		if r.IntN(3) > 0 {
			row[1] = column.String("s" + strconv.Itoa(r.IntN(40)))
		}
		if r.IntN(2) == 0 {
			row[2] = column.Float(r.NormFloat64())
		}
		if r.IntN(4) > 0 {
			row[3] = column.Bool(r.IntN(2) == 0)
		}
		row[4] = column.Micros(1_700_000_000_000_000 + int64(i)*1000)
		switch r.IntN(4) {
		case 0:
		case 1:
			row[5] = column.StringList([]string{})
		default:
			l := make([]string, 1+r.IntN(3))
			for j := range l {
				l[j] = "t" + strconv.Itoa(r.IntN(30))
			}
			row[5] = column.StringList(l)
		}
		if r.IntN(50) == 0 {
			row[6] = column.String("rare" + strconv.Itoa(r.IntN(5)))
		}
		if i >= column.ChunkRows && i < 2*column.ChunkRows && i%1000 == 0 { // whole first chunk NULL
			row[7] = column.Int(int64(i))
		}
		row[8] = column.String("u" + strconv.Itoa(i))
		if err := w.Append(row); err != nil {
			t.Fatal(err)
		}
		if i%7000 == 6999 { // cut a row group
			if err := w.writeBatch(); err != nil {
				t.Fatal(err)
			}
			if err := w.pw.Flush(); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	rd, err := Open(bytes.NewReader(buf.Bytes()), int64(buf.Len()), nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(rd.f.RowGroups()) < 10 {
		t.Fatalf("%d row groups, want many", len(rd.f.RowGroups()))
	}
	var want [][]column.Value
	if err := rd.Each(context.Background(), func(vals []column.Value) error {
		cp := make([]column.Value, len(vals))
		for i, v := range vals {
			if v.Type == column.TypeString {
				v.S = string(append([]byte(nil), v.S...))
			}
			if v.L != nil {
				l := make([]string, len(v.L))
				for j, s := range v.L {
					l[j] = string(append([]byte(nil), s...))
				}
				v.L = l
			}
			cp[i] = v
		}
		want = append(want, cp)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	for i, c := range rd.cols {
		def := &column.ColumnDef{Name: c.Name, Type: c.typ, Index: i}
		if c.typ == column.TypeString || c.typ == column.TypeStringList {
			def.Dict = column.NewDictionary()
		}
		var vecs []*column.Vec
		if err := rd.ReadChunks(context.Background(), i, def.Dict, func(v *column.Vec) error { vecs = append(vecs, v); return nil }); err != nil {
			t.Fatal(err)
		}
		if len(vecs) != 3 {
			t.Fatalf("column %s: %d chunks, want 3", c.Name, len(vecs))
		}
		if c.Name == "nulls" && vecs[0] != nil {
			t.Errorf("column nulls: chunk 0 should be nil (all NULL)")
		}
		for k := range n {
			v := vecs[k/column.ChunkRows]
			if v != nil && v.N != min(column.ChunkRows, n-k/column.ChunkRows*column.ChunkRows) {
				t.Fatalf("column %s chunk %d: N %d", c.Name, k/column.ChunkRows, v.N)
			}
			got := v.Value(k%column.ChunkRows, def)
			if w := want[k][i]; !got.Equal(w) || (w.Type == column.TypeStringList && (got.L == nil) != (w.L == nil)) {
				t.Fatalf("column %s row %d: %v, want %v", c.Name, k, got, w)
			}
		}
		if def.Dict != nil {
			// Codes in first-appearance order, as row-by-row interning.
			ref := column.NewDictionary()
			for k := range n {
				switch w := want[k][i]; w.Type {
				case column.TypeString:
					ref.Intern(w.S)
				case column.TypeStringList:
					for _, s := range w.L {
						ref.Intern(s)
					}
				}
			}
			if ref.Len() != def.Dict.Len() {
				t.Fatalf("column %s: %d dictionary entries, want %d", c.Name, def.Dict.Len(), ref.Len())
			}
			rv, gv := ref.View(), def.Dict.View()
			for code := range ref.Len() {
				if rv.Get(uint32(code)) != gv.Get(uint32(code)) {
					t.Fatalf("column %s: code %d is %q, want %q", c.Name, code, gv.Get(uint32(code)), rv.Get(uint32(code)))
				}
			}
		}
	}
}
