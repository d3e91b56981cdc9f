package history

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/cohortdb/cohort/engine/column"
)

// synthetic returns n records of persons 1..persons, in batch and time
// order, starting at batch seq0.
func synthetic(n, persons int, seq0 uint64) []Record {
	recs := make([]Record, n)
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixMicro()
	for i := range recs {
		p := uint32(1 + (i*7919)%persons)
		r := Record{Seq: seq0 + uint64(i/100), Person: p, At: at + int64(i)*1000, Source: fmt.Sprintf("msg-%d", i/3)}
		switch i % 3 {
		case 0:
			r.Attribute, r.Old, r.New = "plan", column.String(fmt.Sprintf("plan-%d", i%17)), column.String(fmt.Sprintf("plan-%d", (i+1)%17))
		case 1:
			r.Attribute, r.Old, r.New = "seats", column.Int(int64(i)), column.Int(int64(i+1))
		default:
			r.Attribute, r.New = "tags", column.StringList([]string{"a", fmt.Sprint(i % 5)})
		}
		recs[i] = r
	}
	return recs
}

func writeRecords(t testing.TB, w *Writer, recs []Record) {
	t.Helper()
	w.mu.Lock()
	w.buf = append(w.buf, recs...)
	w.mu.Unlock()
	if err := w.Flush(context.Background(), 0); err != nil {
		t.Fatal(err)
	}
}

func allRecords(t testing.TB, dir string) []Record {
	t.Helper()
	var out []Record
	if err := NewReader(dir).Scan(context.Background(), time.Unix(0, 0), time.Unix(1<<33, 0), func(r Record) error {
		out = append(out, r)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestEraseFiles: Erase rewrites only the files holding the persons (the
// others are ruled out by their person_id statistics or by reading that
// column alone), removes a file left empty, drops buffered records, and
// every other record survives exactly, in order.
func TestEraseFiles(t *testing.T) {
	dir := t.TempDir()
	w, err := NewWriter(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	// File 1: persons 1..50; file 2: persons 100..149; file 3: person 7
	// alone; then buffered records of persons 1..50.
	f1 := synthetic(3000, 50, 1)
	f2 := synthetic(3000, 50, 100)
	for i := range f2 {
		f2[i].Person += 99
		f2[i].At += int64(time.Hour / time.Microsecond)
	}
	f3 := []Record{{Seq: 200, Person: 7, Attribute: "plan", New: column.String("only-7"), At: f2[len(f2)-1].At + 1}}
	writeRecords(t, w, f1)
	writeRecords(t, w, f2)
	writeRecords(t, w, f3)
	buf := synthetic(500, 50, 300)
	w.mu.Lock()
	w.buf = append(w.buf, buf...)
	w.mu.Unlock()

	st, err := w.Erase(context.Background(), []uint32{7, 30})
	if err != nil {
		t.Fatal(err)
	}
	keep := func(r Record) bool { return r.Person != 7 && r.Person != 30 }
	var want []Record
	for _, r := range append(append(slices.Clone(f1), f2...), f3...) {
		if keep(r) {
			want = append(want, r)
		}
	}
	wantBuf := slices.DeleteFunc(slices.Clone(buf), func(r Record) bool { return !keep(r) })
	if st.Files != 3 || st.Scanned != 2 || st.Rewritten != 1 || st.Removed != 1 ||
		st.Rows != int64(len(f1)+len(f2)+len(f3)-len(want)) || st.Buffered != len(buf)-len(wantBuf) {
		t.Errorf("stats %+v (want 3 files, 2 scanned: file 2 pruned by statistics, 1 rewritten, 1 removed)", st)
	}
	got := allRecords(t, dir)
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("records after Erase differ: %d, want %d", len(got), len(want))
	}
	if w.Buffered() != len(wantBuf) {
		t.Errorf("%d buffered, want %d", w.Buffered(), len(wantBuf))
	}
	files, _ := list(dir)
	if len(files) != 2 {
		t.Errorf("%d files, want 2", len(files))
	}
	// Idempotent: nothing left to do.
	if st, err := w.Erase(context.Background(), []uint32{7, 30}); err != nil || st.Rewritten+st.Removed != 0 || st.Buffered != 0 {
		t.Errorf("second Erase: %+v, %v", st, err)
	}
	// Flushing afterwards still works, and TruncateAfter sees the names.
	if err := w.Flush(context.Background(), 0); err != nil {
		t.Fatal(err)
	}
	if n := len(allRecords(t, dir)); n != len(want)+len(wantBuf) {
		t.Errorf("%d records after the flush, want %d", n, len(want)+len(wantBuf))
	}
}

// TestEraseRefusesCorruptFile: a damaged file holding an erased person is
// reported, never rewritten into a valid-looking one.
func TestEraseRefusesCorruptFile(t *testing.T) {
	dir := t.TempDir()
	w, _ := NewWriter(dir, Options{})
	writeRecords(t, w, synthetic(100, 10, 1))
	files, _ := list(dir)
	p := filepath.Join(dir, files[0].name)
	b, _ := os.ReadFile(p)
	b[len(b)/2] ^= 0xff
	os.WriteFile(p, b, 0o644)
	if _, err := w.Erase(context.Background(), []uint32{3}); err == nil {
		t.Fatal("Erase rewrote a corrupt file")
	}
}
