package table

import (
	"math/rand/v2"
	"strconv"
	"testing"

	"github.com/cohortdb/cohort/engine/column"
)

// bulkRow writes row k of the test data into the current row of tb.
func bulkRow(tb *Table, k int) {
	s := tb.Schema()
	id, _ := s.Lookup("id")
	name, _ := s.Lookup("name")
	f, _ := s.Lookup("f")
	b, _ := s.Lookup("b")
	l, _ := s.Lookup("l")
	tb.SetInt(id, int64(k)*1000)
	if k%3 != 0 {
		tb.SetString(name, "n"+strconv.Itoa(k%17))
	}
	if k%50 == 0 {
		tb.SetFloat(f, float64(k)/7)
	}
	if k%2 == 0 {
		tb.SetBool(b, k%4 == 0)
	}
	if k%5 == 1 {
		tb.Set(l, column.StringList([]string{"x" + strconv.Itoa(k%3), "y"}))
	}
}

func bulkTable() *Table {
	tb := New("t", column.NewSchema())
	for _, c := range []struct {
		n string
		t column.Type
	}{{"id", column.TypeInt}, {"name", column.TypeString}, {"f", column.TypeFloat}, {"b", column.TypeBool}, {"l", column.TypeStringList}} {
		if _, err := tb.Column(c.n, c.t); err != nil {
			panic(err)
		}
	}
	return tb
}

// sealed returns c with its vectors sealed (a published tail holds views).
func sealed(c *column.Chunk) *column.Chunk {
	cp := *c
	cp.Cols = make([]*column.Vec, len(c.Cols))
	for i, v := range c.Cols {
		if v != nil {
			cp.Cols[i] = column.SealVec(v)
		}
	}
	return &cp
}

// sameTables compares every column of every row of two snapshots.
func sameTables(t *testing.T, a, b *Snapshot) {
	t.Helper()
	if a.Live != b.Live || len(a.BySlot) != len(b.BySlot) {
		t.Fatalf("live %d/%d, slots %d/%d", a.Live, b.Live, len(a.BySlot), len(b.BySlot))
	}
	for slot, ca := range a.BySlot {
		cb := b.BySlot[slot]
		if ca.Rows != cb.Rows || ca.Slot != cb.Slot || ca.Dead != cb.Dead {
			t.Fatalf("slot %d: rows %d/%d slot %d/%d dead %d/%d", slot, ca.Rows, cb.Rows, ca.Slot, cb.Slot, ca.Dead, cb.Dead)
		}
		for off := 0; off < ca.Rows; off++ {
			r := RowID(slot)<<column.ChunkBits | RowID(off)
			for _, d := range a.Schema.Cols {
				va, oka := snapValue(a, r, d.Name)
				vb, okb := snapValue(b, r, d.Name)
				if oka != okb || !sameValue(va, vb) {
					t.Fatalf("row %d col %s: %v/%v, want %v/%v", r, d.Name, vb, okb, va, oka)
				}
			}
		}
	}
}

func TestAppendSealed(t *testing.T) {
	for _, n := range []int{1, column.ChunkRows, 2*column.ChunkRows + 1234} {
		t.Run(strconv.Itoa(n), func(t *testing.T) {
			// a: written row by row; b: the same rows as sealed chunks.
			a := bulkTable()
			for k := range n {
				a.Begin()
				bulkRow(a, k)
				a.End()
			}
			b := New("t", a.Schema()) // same dictionaries
			for _, c := range a.Publish().Chunks {
				if err := b.AppendSealed(sealed(c)); err != nil {
					t.Fatal(err)
				}
			}
			if a.Live() != int64(n) || b.Live() != int64(n) {
				t.Fatalf("live %d/%d, want %d", a.Live(), b.Live(), n)
			}
			sameTables(t, a.Publish(), b.Publish())
			// The writer goes on exactly as after row-by-row writes: more
			// rows (sealing the restored tail), deletes in sealed chunks
			// and in the tail, across publications.
			r := rand.New(rand.NewPCG(uint64(n), 3))
			for step := range 3 {
				for k := n + step*40000; k < n+(step+1)*40000; k++ {
					ra, rb := a.Begin(), b.Begin()
					if ra != rb {
						t.Fatalf("row ids %d/%d", ra, rb)
					}
					bulkRow(a, k)
					bulkRow(b, k)
					a.End()
					b.End()
				}
				total := n + (step+1)*40000
				for range 500 {
					k := r.IntN(total)
					row := RowID(k/column.ChunkRows)<<column.ChunkBits | RowID(k%column.ChunkRows)
					if da, db := a.Delete(row), b.Delete(row); da != db {
						t.Fatalf("delete %d: %v/%v", row, da, db)
					}
				}
				sa, sb := a.Publish(), b.Publish()
				sameTables(t, sa, sb)
				checkLive(t, sb, sa.Live)
			}
		})
	}
}

func TestAppendSealedErrors(t *testing.T) {
	a := bulkTable()
	for k := range column.ChunkRows + 10 {
		a.Begin()
		bulkRow(a, k)
		a.End()
	}
	s := a.Publish()
	full, tail := s.Chunks[0], sealed(s.Chunks[1])

	b := New("t", a.Schema())
	if err := b.AppendSealed(&column.Chunk{Rows: 0}); err == nil {
		t.Error("empty chunk accepted")
	}
	if err := b.AppendSealed(&column.Chunk{Rows: column.ChunkRows + 1}); err == nil {
		t.Error("oversized chunk accepted")
	}
	if err := b.AppendSealed(&column.Chunk{Rows: 10, Cols: make([]*column.Vec, 9)}); err == nil {
		t.Error("chunk with too many columns accepted")
	}
	wrong := &column.Chunk{Rows: full.Rows, Cols: []*column.Vec{full.Cols[1]}} // string vec as the int column
	if err := b.AppendSealed(wrong); err == nil {
		t.Error("wrong column type accepted")
	}
	short := &column.Chunk{Rows: 10, Cols: []*column.Vec{full.Cols[0]}} // vec of 64Ki rows in a 10-row chunk
	if err := b.AppendSealed(short); err == nil {
		t.Error("vector length mismatch accepted")
	}
	other := bulkTable() // fresh dictionaries: the codes are unknown there
	if err := other.AppendSealed(full); err == nil {
		t.Error("codes past the dictionary accepted")
	}
	if err := b.AppendSealed(&column.Chunk{Rows: 5, Dead: 1}); err == nil {
		t.Error("Dead without Del accepted")
	}
	if err := b.AppendSealed(full); err != nil {
		t.Fatal(err)
	}
	if err := b.AppendSealed(tail); err != nil {
		t.Fatal(err)
	}
	if err := b.AppendSealed(full); err == nil {
		t.Error("chunk after the tail accepted")
	}
	b.Begin()
	if err := b.AppendSealed(full); err == nil {
		t.Error("chunk inside a row accepted")
	}
	b.End()
}
