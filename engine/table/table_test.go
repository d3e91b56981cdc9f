package table

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"

	"github.com/cohortdb/cohort/engine/column"
)

func mustColumn(t testing.TB, tb *Table, name string, typ column.Type) *column.ColumnDef {
	t.Helper()
	d, err := tb.Column(name, typ)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func sameValue(a, b column.Value) bool {
	if a.Type == column.TypeFloat && b.Type == column.TypeFloat && a.F == a.F {
		return math.Float64bits(a.F) == math.Float64bits(b.F)
	}
	return a.Equal(b)
}

// snapValue decodes column name of row r in snapshot s; ok is false when the
// row is not visible.
func snapValue(s *Snapshot, r RowID, name string) (column.Value, bool) {
	c, off := s.Row(r)
	if c == nil {
		return column.Value{}, false
	}
	d, ok := s.Schema.Lookup(name)
	if !ok {
		return column.Value{}, true
	}
	return c.Col(d.Index).Value(off, d), true
}

func checkLive(t *testing.T, s *Snapshot, want int64) {
	t.Helper()
	var sum int64
	prev := -1
	for _, c := range s.Chunks {
		if c.Slot <= prev {
			t.Fatalf("chunks out of slot order: %d after %d", c.Slot, prev)
		}
		prev = c.Slot
		if c.Del.Count() != c.Dead {
			t.Fatalf("chunk %d: Dead %d but %d bits set", c.Slot, c.Dead, c.Del.Count())
		}
		sum += int64(c.Live())
	}
	if s.Live != want || sum != want {
		t.Fatalf("snapshot Live %d, chunks sum %d, want %d", s.Live, sum, want)
	}
}

func TestSealBoundaries(t *testing.T) {
	for _, n := range []int{1, column.ChunkRows - 1, column.ChunkRows, column.ChunkRows + 1} {
		t.Run(strconv.Itoa(n), func(t *testing.T) {
			tb := New("events", column.NewSchema())
			id := mustColumn(t, tb, "id", column.TypeInt)
			name := mustColumn(t, tb, "name", column.TypeString)
			for i := 0; i < n; i++ {
				r := tb.Begin()
				if want := RowID(i/column.ChunkRows)<<column.ChunkBits | RowID(i%column.ChunkRows); r != want {
					t.Fatalf("row %d: id %d, want %d", i, r, want)
				}
				if r.Slot() != i/column.ChunkRows || r.Offset() != i%column.ChunkRows {
					t.Fatalf("row %d: slot %d offset %d", i, r.Slot(), r.Offset())
				}
				tb.SetInt(id, int64(i))
				if i%3 == 0 {
					tb.SetString(name, "n"+strconv.Itoa(i%10))
				}
				tb.End()
			}
			if tb.Live() != int64(n) {
				t.Fatalf("Live %d", tb.Live())
			}
			s := tb.Publish()
			wantChunks := (n + column.ChunkRows - 1) / column.ChunkRows
			if len(s.Chunks) != wantChunks || len(s.BySlot) != wantChunks {
				t.Fatalf("%d chunks, %d by slot; want %d", len(s.Chunks), len(s.BySlot), wantChunks)
			}
			if len(tb.WriterChunks()) != wantChunks {
				t.Fatalf("%d writer chunks", len(tb.WriterChunks()))
			}
			for k, c := range s.Chunks {
				if want := min(column.ChunkRows, n-k*column.ChunkRows); c.Rows != want || c.Slot != k {
					t.Fatalf("chunk %d: slot %d rows %d, want %d", k, c.Slot, c.Rows, want)
				}
				sealed := c.Rows == column.ChunkRows
				if v := c.Col(id.Index); sealed != (v.Arrays != nil) {
					t.Fatalf("chunk %d: sealed %v but Arrays %v", k, sealed, v.Arrays != nil)
				}
			}
			checkLive(t, s, int64(n))
			for i := 0; i < n; i++ {
				r := RowID(i)
				want := column.Int(int64(i))
				if got := tb.Get(r, id); !got.Equal(want) {
					t.Fatalf("Get(%d) = %v", i, got)
				}
				if got, ok := snapValue(s, r, "id"); !ok || !got.Equal(want) {
					t.Fatalf("snapshot row %d = %v, %v", i, got, ok)
				}
				wantName := column.Value{}
				if i%3 == 0 {
					wantName = column.String("n" + strconv.Itoa(i%10))
				}
				if got := tb.Get(r, name); !got.Equal(wantName) {
					t.Fatalf("Get(%d, name) = %v, want %v", i, got, wantName)
				}
			}
			if c, _ := s.Row(RowID(n)); c != nil {
				t.Fatal("snapshot has a row past the end")
			}
			if got := tb.Get(RowID(n), id); !got.Null() {
				t.Fatalf("Get past the end = %v", got)
			}
		})
	}
}

func fill(t testing.TB, tb *Table, n int) *column.ColumnDef {
	id := mustColumn(t, tb, "id", column.TypeInt)
	for i := 0; i < n; i++ {
		tb.Begin()
		tb.SetInt(id, int64(i))
		tb.End()
	}
	return id
}

// TestDeleteCopyOnWrite: snapshots published before a Delete keep seeing
// the row; ones published after do not; in sealed chunks and in the tail.
func TestDeleteCopyOnWrite(t *testing.T) {
	tb := New("t", column.NewSchema())
	fill(t, tb, column.ChunkRows+100)
	sealedRow, tailRow := RowID(17), RowID(column.ChunkRows+5)

	s0 := tb.Publish()
	s0chunk := s0.BySlot[0]
	if !tb.Delete(sealedRow) {
		t.Fatal("Delete of a live sealed row returned false")
	}
	if tb.Delete(sealedRow) {
		t.Fatal("second Delete returned true")
	}
	if !tb.Delete(sealedRow + 1) { // same generation: in place
		t.Fatal("Delete returned false")
	}
	s1 := tb.Publish()
	if !tb.Delete(tailRow) || tb.Delete(tailRow) {
		t.Fatal("tail Delete results wrong")
	}
	if !tb.Delete(sealedRow + 2) { // new generation: copies the chunk again
		t.Fatal("Delete returned false")
	}
	s2 := tb.Publish()
	if !tb.Delete(tailRow + 1) {
		t.Fatal("Delete returned false")
	}
	s3 := tb.Publish()

	total := int64(column.ChunkRows + 100)
	for _, c := range []struct {
		name    string
		s       *Snapshot
		live    int64
		visible map[RowID]bool
	}{
		{"s0", s0, total, map[RowID]bool{sealedRow: true, sealedRow + 1: true, sealedRow + 2: true, tailRow: true, tailRow + 1: true}},
		{"s1", s1, total - 2, map[RowID]bool{sealedRow: false, sealedRow + 1: false, sealedRow + 2: true, tailRow: true, tailRow + 1: true}},
		{"s2", s2, total - 4, map[RowID]bool{sealedRow: false, sealedRow + 2: false, tailRow: false, tailRow + 1: true}},
		{"s3", s3, total - 5, map[RowID]bool{sealedRow + 2: false, tailRow: false, tailRow + 1: false, 0: true}},
	} {
		checkLive(t, c.s, c.live)
		for r, want := range c.visible {
			v, ok := snapValue(c.s, r, "id")
			if ok != want || (ok && v.I != int64(r)) {
				t.Errorf("%s: row %d visible %v (%v), want %v", c.name, r, ok, v, want)
			}
		}
	}
	if s0.BySlot[0] != s0chunk || s0chunk.Dead != 0 || s0chunk.Del != nil {
		t.Fatal("Delete mutated the chunk a snapshot holds")
	}
	if tb.Live() != total-5 {
		t.Fatalf("Live %d", tb.Live())
	}
	// Out-of-range and repeated deletes are no-ops.
	if tb.Delete(RowID(column.ChunkRows+100)) || tb.Delete(RowID(column.ChunkRows+5000)) {
		t.Fatal("Delete past the tail returned true")
	}
	if tb.Live() != total-5 {
		t.Fatalf("Live %d after no-op deletes", tb.Live())
	}
}

// TestTailDeletesAcrossSeal: deletes made in the tail, published or not,
// survive sealing, and a snapshot of the tail is unaffected by later deletes
// to the sealed chunk.
func TestTailDeletesAcrossSeal(t *testing.T) {
	for _, publishBeforeSeal := range []bool{false, true} {
		t.Run(fmt.Sprint("published=", publishBeforeSeal), func(t *testing.T) {
			tb := New("t", column.NewSchema())
			id := fill(t, tb, column.ChunkRows-10)
			tb.Delete(3)
			tb.Delete(RowID(column.ChunkRows - 11))
			var s0 *Snapshot
			if publishBeforeSeal {
				s0 = tb.Publish()
			}
			for i := 0; i < 10; i++ {
				tb.Begin()
				tb.SetInt(id, int64(column.ChunkRows-10+i))
				tb.End()
			}
			s1 := tb.Publish()
			if len(s1.Chunks) != 1 || s1.Chunks[0].Rows != column.ChunkRows || s1.Chunks[0].Dead != 2 {
				t.Fatalf("after seal: %d chunks, dead %d", len(s1.Chunks), s1.Chunks[0].Dead)
			}
			tb.Delete(4)
			tb.Delete(RowID(column.ChunkRows - 1))
			s2 := tb.Publish()
			checkLive(t, s1, column.ChunkRows-2)
			checkLive(t, s2, column.ChunkRows-4)
			for _, r := range []RowID{3, 4, RowID(column.ChunkRows - 11), RowID(column.ChunkRows - 1)} {
				_, in1 := snapValue(s1, r, "id")
				_, in2 := snapValue(s2, r, "id")
				if in1 != (r == 4 || r == column.ChunkRows-1) || in2 {
					t.Errorf("row %d: in s1 %v, in s2 %v", r, in1, in2)
				}
			}
			if s0 != nil {
				checkLive(t, s0, column.ChunkRows-12)
				if _, ok := snapValue(s0, 4, "id"); !ok {
					t.Error("tail snapshot lost row 4")
				}
			}
		})
	}
}

func TestCopyRow(t *testing.T) {
	tb := New("profiles", column.NewSchema())
	id := mustColumn(t, tb, "id", column.TypeInt)
	name := mustColumn(t, tb, "name", column.TypeString)
	score := mustColumn(t, tb, "score", column.TypeFloat)
	vip := mustColumn(t, tb, "vip", column.TypeBool)
	tags := mustColumn(t, tb, "tags", column.TypeStringList)
	seen := mustColumn(t, tb, "seen", column.TypeTimestamp)
	write := func(i int) {
		tb.Begin()
		tb.SetInt(id, int64(i))
		tb.SetString(name, "p"+strconv.Itoa(i))
		if i%2 == 0 {
			tb.SetFloat(score, float64(i)/2)
		}
		tb.SetBool(vip, i%3 == 0)
		tb.Set(tags, column.StringList([]string{"a", strconv.Itoa(i)}))
		tb.Set(seen, column.Micros(int64(i)*1000))
		tb.End()
	}
	for i := 0; i < column.ChunkRows+10; i++ {
		write(i)
	}
	skip := column.NewBitmap(len(tb.Schema().Cols))
	skip.Set(id.Index)
	for _, src := range []RowID{6, 7, RowID(column.ChunkRows + 4), RowID(column.ChunkRows + 3)} {
		dst := tb.Begin()
		tb.CopyRow(src, skip)
		tb.SetInt(id, -1)
		tb.End()
		for _, d := range tb.Schema().Cols {
			got, want := tb.Get(dst, d), tb.Get(src, d)
			if d == id {
				want = column.Int(-1)
			}
			if !sameValue(got, want) {
				t.Errorf("copy of %d: %s = %v, want %v", src, d.Name, got, want)
			}
		}
	}
	// A nil skip copies every column; a copy of a deleted-then-dropped chunk
	// copies nothing.
	dst := tb.Begin()
	tb.CopyRow(10, nil)
	tb.End()
	if !sameValue(tb.Get(dst, id), column.Int(10)) || !sameValue(tb.Get(dst, tags), tb.Get(10, tags)) {
		t.Error("CopyRow(nil skip) did not copy every column")
	}
	s := tb.Publish()
	if v, _ := snapValue(s, dst, "name"); !v.Equal(column.String("p10")) {
		t.Errorf("snapshot of copied row: %v", v)
	}
}

func TestSparseAndDrop(t *testing.T) {
	tb := New("t", column.NewSchema())
	fill(t, tb, 3*column.ChunkRows+10)
	for i := 0; i < column.ChunkRows; i++ {
		tb.Delete(RowID(column.ChunkRows + i)) // all of chunk 1
	}
	for i := 0; i < column.ChunkRows/2; i++ {
		tb.Delete(RowID(2*column.ChunkRows + i)) // half of chunk 2
	}
	slots := func(cs []*column.Chunk) []int {
		var out []int
		for _, c := range cs {
			out = append(out, c.Slot)
		}
		return out
	}
	if got := slots(tb.Sparse(1)); fmt.Sprint(got) != "[1]" {
		t.Fatalf("Sparse(1) = %v", got)
	}
	if got := slots(tb.Sparse(0.5)); fmt.Sprint(got) != "[1 2]" {
		t.Fatalf("Sparse(0.5) = %v", got)
	}
	before := tb.Publish()
	if err := tb.Drop(2); err == nil || !strings.Contains(err.Error(), "live rows") {
		t.Fatalf("Drop of a chunk with live rows: %v", err)
	}
	if err := tb.Drop(1); err != nil {
		t.Fatal(err)
	}
	if err := tb.Drop(1); err != nil {
		t.Fatalf("second Drop: %v", err)
	}
	after := tb.Publish()
	if len(before.Chunks) != 4 || len(after.Chunks) != 3 || after.BySlot[1] != nil || len(after.BySlot) != 4 {
		t.Fatalf("chunks before %d after %d", len(before.Chunks), len(after.Chunks))
	}
	if got := slots(after.Chunks); fmt.Sprint(got) != "[0 2 3]" {
		t.Fatalf("slots after drop %v", got)
	}
	want := int64(2*column.ChunkRows + 10 - column.ChunkRows/2)
	checkLive(t, after, want)
	if before.BySlot[1] == nil {
		t.Fatal("Drop changed an earlier snapshot")
	}
	r := RowID(column.ChunkRows + 3)
	if tb.Delete(r) || !tb.Get(r, tb.Schema().Cols[0]).Null() {
		t.Fatal("dropped row still reachable")
	}
	if len(tb.Sparse(1)) != 0 {
		t.Fatal("dropped chunk still sparse")
	}
	if tb.Live() != want {
		t.Fatalf("Live %d, want %d", tb.Live(), want)
	}
}

func TestTypeError(t *testing.T) {
	tb := New("events", column.NewSchema())
	mustColumn(t, tb, "amount", column.TypeInt)
	for _, given := range []column.Type{column.TypeString, column.TypeFloat, column.TypeTimestamp} {
		_, err := tb.Column("amount", given)
		var te *TypeError
		if !errors.As(err, &te) {
			t.Fatalf("Column with %s: error %v is not a *TypeError", given, err)
		}
		if te.Table != "events" || te.Column != "amount" || te.Expected != column.TypeInt || te.Given != given {
			t.Fatalf("TypeError fields %+v", te)
		}
		msg := err.Error()
		for _, part := range []string{"events", "amount", "int", given.String()} {
			if !strings.Contains(msg, part) {
				t.Errorf("message %q does not name %q", msg, part)
			}
		}
	}
	if _, err := tb.Column("fresh", column.TypeNull); err == nil {
		t.Fatal("creating a column from NULL succeeded")
	}
	if _, ok := tb.Schema().Lookup("fresh"); ok {
		t.Fatal("failed Column call added a column")
	}
	if d, err := tb.Column("amount", column.TypeInt); err != nil || d.Index != 0 {
		t.Fatalf("existing column: %v %v", d, err)
	}
}

func TestBytes(t *testing.T) {
	const n = 100_000
	tb := New("t", column.NewSchema())
	full := mustColumn(t, tb, "full", column.TypeInt)
	one := mustColumn(t, tb, "one", column.TypeInt)
	oneS := mustColumn(t, tb, "one_s", column.TypeString)
	for i := 0; i < n; i++ {
		tb.Begin()
		tb.SetInt(full, int64(i))
		if i == 10 {
			tb.SetInt(one, 7)
			tb.SetString(oneS, "only")
		}
		tb.End()
	}
	m := tb.Bytes()
	if m["full"] < n { // at least a byte a row
		t.Errorf("full column: %d bytes for %d rows", m["full"], n)
	}
	if m["one"] == 0 || m["one"] > 64 {
		t.Errorf("column set in 1 row of %d: %d bytes", n, m["one"])
	}
	if m["one_s"] == 0 || m["one_s"] > 512 {
		t.Errorf("string column set in 1 row of %d: %d bytes", n, m["one_s"])
	}
	if m["_deletes"] != 0 {
		t.Errorf("_deletes %d before any delete", m["_deletes"])
	}
	tb.Delete(5)
	if m := tb.Bytes(); m["_deletes"] < column.ChunkRows/8 {
		t.Errorf("_deletes %d after a sealed delete", m["_deletes"])
	}
}

// rowHash gives every row id its deterministic content.
func rowHash(k int) uint64 {
	z := uint64(k) + 0x9e3779b97f4a7c15
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

const lateFrom = column.ChunkRows + 1000 // row at which column "late" appears

// expect returns the value row k holds in column name.
func expect(k int, name string) column.Value {
	h := rowHash(k)
	switch name {
	case "i":
		if h%5 != 0 {
			return column.Int(int64(h))
		}
	case "s":
		if h%7 < 3 {
			return column.String("s" + strconv.Itoa(int(h>>8%50)))
		}
	case "f":
		if h%11 != 0 {
			return column.Float(float64(int64(h>>11)) / 1024)
		}
	case "b":
		if h%3 != 0 {
			return column.Bool(h>>20&1 == 1)
		}
	case "l":
		if h%17 == 0 { // sparse: < 1/8 of rows
			return column.StringList([]string{"x", strconv.Itoa(int(h >> 40 % 3))})
		}
	case "late":
		if k >= lateFrom && h%13 == 0 {
			return column.Micros(1_700_000_000_000_000 + int64(h>>50)*1000)
		}
	}
	return column.Value{}
}

var modelCols = []struct {
	name string
	typ  column.Type
}{{"i", column.TypeInt}, {"s", column.TypeString}, {"f", column.TypeFloat}, {"b", column.TypeBool}, {"l", column.TypeStringList}, {"late", column.TypeTimestamp}}

// TestRandomModel appends, deletes, drops and publishes at random, and
// checks every snapshot, after all later writes, against the model state at
// its publication.
func TestRandomModel(t *testing.T) {
	r := rand.New(rand.NewPCG(42, 42))
	tb := New("m", column.NewSchema())
	const never = math.MaxInt
	var deletedAt []int // publication number before which the row was deleted
	type pub struct {
		s    *Snapshot
		rows int
		live int64
	}
	var pubs []pub
	live := int64(0)
	defs := map[string]*column.ColumnDef{}
	appendRow := func() {
		k := len(deletedAt)
		if got := tb.Begin(); got != RowID(k) {
			t.Fatalf("row %d got id %d", k, got)
		}
		for _, c := range modelCols {
			v := expect(k, c.name)
			if v.Null() && (defs[c.name] == nil || r.IntN(4) != 0) {
				continue // usually leave NULLs implicit (padding)
			}
			d := defs[c.name]
			if d == nil {
				d = mustColumn(t, tb, c.name, c.typ)
				defs[c.name] = d
			}
			switch {
			case v.Null():
				tb.Set(d, v)
			case c.typ == column.TypeInt && r.IntN(2) == 0:
				tb.SetInt(d, v.I)
			case c.typ == column.TypeString && r.IntN(2) == 0:
				tb.SetString(d, v.S)
			case c.typ == column.TypeFloat && r.IntN(2) == 0:
				tb.SetFloat(d, v.F)
			case c.typ == column.TypeBool && r.IntN(2) == 0:
				tb.SetBool(d, v.B)
			default:
				tb.Set(d, v)
			}
		}
		tb.End()
		deletedAt = append(deletedAt, never)
		live++
	}
	del := func(k int) {
		wantOK := deletedAt[k] == never
		if got := tb.Delete(RowID(k)); got != wantOK {
			t.Fatalf("Delete(%d) = %v, want %v", k, got, wantOK)
		}
		if wantOK {
			deletedAt[k] = len(pubs)
			live--
		}
	}
	dropped := map[int]bool{}
	for len(deletedAt) < 2*column.ChunkRows+5000 {
		switch op := r.IntN(100); {
		case op < 60:
			for n := r.IntN(3000); n > 0; n-- {
				appendRow()
			}
		case op < 85:
			for n := r.IntN(200); n > 0 && len(deletedAt) > 0; n-- {
				if r.IntN(3) == 0 { // recent rows: the tail
					del(len(deletedAt) - 1 - r.IntN(min(len(deletedAt), 500)))
				} else {
					del(r.IntN(len(deletedAt)))
				}
			}
		case op < 88:
			// Empty a sealed chunk, then maybe drop it.
			sealed := len(deletedAt) / column.ChunkRows
			if sealed == 0 || len(dropped) > 0 {
				continue
			}
			slot := r.IntN(sealed)
			for k := slot * column.ChunkRows; k < (slot+1)*column.ChunkRows; k++ {
				del(k)
			}
			if len(tb.Sparse(1)) == 0 {
				t.Fatal("emptied chunk not reported by Sparse(1)")
			}
			if r.IntN(2) == 0 {
				if err := tb.Drop(slot); err != nil {
					t.Fatal(err)
				}
				dropped[slot] = true
			}
		default:
			pubs = append(pubs, pub{tb.Publish(), len(deletedAt), live})
		}
		if tb.Live() != live {
			t.Fatalf("Live %d, model %d", tb.Live(), live)
		}
	}
	pubs = append(pubs, pub{tb.Publish(), len(deletedAt), live})
	if len(pubs) < 5 {
		t.Fatalf("only %d publications", len(pubs))
	}

	for p, x := range pubs {
		checkLive(t, x.s, x.live)
		for k := 0; k < x.rows+3; k++ {
			c, off := x.s.Row(RowID(k))
			visible := k < x.rows && deletedAt[k] > p
			if (c != nil) != visible {
				t.Fatalf("publication %d: row %d visible %v, want %v (deletedAt %d)", p, k, c != nil, visible, deletedAt[k])
			}
			if c == nil || (k%5 != 0 && k%column.ChunkRows > 2 && k%column.ChunkRows < column.ChunkRows-2) {
				continue // values: every 5th row and chunk edges
			}
			for _, mc := range modelCols {
				d, ok := x.s.Schema.Lookup(mc.name)
				want := expect(k, mc.name)
				if !ok {
					if !want.Null() {
						t.Fatalf("publication %d: row %d has %s but the schema lacks it", p, k, mc.name)
					}
					continue
				}
				if got := c.Col(d.Index).Value(off, d); !sameValue(got, want) {
					t.Fatalf("publication %d: row %d %s = %v, want %v", p, k, mc.name, got, want)
				}
			}
		}
	}
	// The writer's own view agrees with the model too.
	var wlive int64
	for _, c := range tb.WriterChunks() {
		wlive += int64(c.Live())
	}
	if wlive != live {
		t.Fatalf("writer chunks live %d, model %d", wlive, live)
	}
	for k := 0; k < len(deletedAt); k += 7 {
		if dropped[k/column.ChunkRows] {
			continue
		}
		for _, mc := range modelCols {
			if got, want := tb.Get(RowID(k), defs[mc.name]), expect(k, mc.name); !sameValue(got, want) {
				t.Fatalf("Get(%d, %s) = %v, want %v", k, mc.name, got, want)
			}
		}
	}
}

// TestConcurrentSnapshotReaders: readers scan published snapshots while
// the writer appends, deletes and seals; run with -race.
func TestConcurrentSnapshotReaders(t *testing.T) {
	tb := New("c", column.NewSchema())
	defs := map[string]*column.ColumnDef{}
	for _, c := range modelCols {
		defs[c.name] = mustColumn(t, tb, c.name, c.typ)
	}
	ch := make(chan *Snapshot, 4)
	errs := make(chan error, 4)
	done := make(chan struct{})
	for w := 0; w < 2; w++ {
		go func() {
			defer func() { done <- struct{}{} }()
			for s := range ch {
				var live int64
				for _, c := range s.Chunks {
					live += int64(c.Live())
					for off := 0; off < c.Rows; off += 3 {
						if c.Del != nil && c.Del.Get(off) {
							continue
						}
						k := c.Slot<<column.ChunkBits | off
						for _, mc := range modelCols {
							d, _ := s.Schema.Lookup(mc.name)
							if got, want := c.Col(d.Index).Value(off, d), expect(k, mc.name); !sameValue(got, want) {
								errs <- fmt.Errorf("row %d %s = %v, want %v", k, mc.name, got, want)
								return
							}
						}
					}
				}
				if live != s.Live {
					errs <- fmt.Errorf("snapshot live %d, chunks %d", s.Live, live)
					return
				}
			}
		}()
	}
	r := rand.New(rand.NewPCG(1, 1))
	for k := 0; k < column.ChunkRows+20000; k++ {
		tb.Begin()
		for _, mc := range modelCols {
			if v := expect(k, mc.name); !v.Null() {
				tb.Set(defs[mc.name], v)
			}
		}
		tb.End()
		if k%50 == 0 {
			tb.Delete(RowID(r.IntN(k + 1)))
		}
		if k%9000 == 0 || k == column.ChunkRows-1 {
			ch <- tb.Publish()
		}
	}
	close(ch)
	<-done
	<-done
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}
