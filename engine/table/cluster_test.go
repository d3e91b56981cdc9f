package table

import (
	"testing"

	"github.com/cohortdb/cohort/engine/column"
)

// TestClusterBy seals a chunk ordered by a string column and checks that
// rows stay whole (every column moves together), values of one name are
// contiguous in arrival order, and tail deletes follow their rows.
func TestClusterBy(t *testing.T) {
	tb := New("events", column.NewSchema(
		column.ColumnDef{Name: "name", Type: column.TypeString},
		column.ColumnDef{Name: "seq", Type: column.TypeInt},
		column.ColumnDef{Name: "amount", Type: column.TypeFloat},
	))
	name, _ := tb.Schema().Lookup("name")
	seq, _ := tb.Schema().Lookup("seq")
	amount, _ := tb.Schema().Lookup("amount")
	tb.ClusterBy(name)
	names := []string{"view", "buy", "view", "open"}
	for i := 0; i < column.ChunkRows; i++ {
		tb.Begin()
		if i%97 != 0 { // some NULL names
			tb.SetString(name, names[i%len(names)])
		}
		tb.SetInt(seq, int64(i))
		if i < 1000 && i%7 == 0 { // sparse, and absent from the last rows: padded lazily
			tb.SetFloat(amount, float64(i))
		}
		tb.End()
	}
	s := tb.Publish()
	c := s.Chunks[0]
	nv, sv := c.Col(name.Index), c.Col(seq.Index)
	lastName, lastSeq := "", int64(-1)
	seenNames := map[string]bool{}
	for r := 0; r < c.Rows; r++ {
		n := nv.Value(r, name)
		q, _ := sv.Int(r)
		want := ""
		if q%97 != 0 {
			want = names[q%int64(len(names))]
		}
		got := ""
		if !n.Null() {
			got = n.S
		}
		if got != want {
			t.Fatalf("row %d: name %q but seq %d had %q: columns moved apart", r, got, q, want)
		}
		a, ok := c.Col(amount.Index).Float(r)
		if wantOK := q < 1000 && q%7 == 0; ok != wantOK || (ok && a != float64(q)) {
			t.Fatalf("row %d (seq %d): amount %v, %v", r, q, a, ok)
		}
		if got != lastName {
			if seenNames[got] {
				t.Fatalf("row %d: name %q is not contiguous", r, got)
			}
			seenNames[got] = true
			lastName, lastSeq = got, -1
		}
		if q <= lastSeq {
			t.Fatalf("row %d: arrival order lost within %q (%d after %d)", r, got, q, lastSeq)
		}
		lastSeq = q
	}

	// Deletes made while the rows were in the tail follow them into the
	// sealed, reordered chunk.
	tb2 := New("events", column.NewSchema(
		column.ColumnDef{Name: "name", Type: column.TypeString},
		column.ColumnDef{Name: "seq", Type: column.TypeInt},
	))
	name2, _ := tb2.Schema().Lookup("name")
	seq2, _ := tb2.Schema().Lookup("seq")
	tb2.ClusterBy(name2)
	for i := 0; i < column.ChunkRows; i++ {
		tb2.Begin()
		tb2.SetString(name2, names[i%len(names)])
		tb2.SetInt(seq2, int64(i))
		if i == column.ChunkRows-1 {
			// delete a few earlier tail rows before the last End seals
			for _, d := range []int{3, 500, 4242} {
				tb2.Delete(RowID(d))
			}
		}
		tb2.End()
	}
	c2 := tb2.Publish().Chunks[0]
	if c2.Dead != 3 {
		t.Fatalf("dead = %d, want 3", c2.Dead)
	}
	for r := 0; r < c2.Rows; r++ {
		q, _ := c2.Col(seq2.Index).Int(r)
		wantDead := q == 3 || q == 500 || q == 4242
		if c2.Del.Get(r) != wantDead {
			t.Fatalf("row %d (seq %d): deleted = %v, want %v", r, q, c2.Del.Get(r), wantDead)
		}
	}
}
