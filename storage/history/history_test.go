package history

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/cohortdb/cohort/engine"
	"github.com/cohortdb/cohort/engine/column"
	"github.com/cohortdb/cohort/engine/identity"
	"github.com/cohortdb/cohort/storage/durable"
)

var day0 = time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)

func identify(at time.Time, user string, traits ...engine.Field) engine.Op {
	return engine.Op{Kind: engine.OpIdentify, IDs: []identity.ID{{Type: "user_id", Value: user}}, Traits: traits, At: at.UnixMicro(), Source: "m-" + user + at.Format("0102")}
}

func fld(n string, v column.Value) engine.Field { return engine.Field{Name: n, Value: v} }

// TestHistoryTimePruning writes one file per day and checks that a scan
// returns exactly the records in range and never opens the other files
// (they are damaged on purpose: opening one would fail the scan).
func TestHistoryTimePruning(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	w, err := NewWriter(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	ws := engine.NewWorkspace("acme", identity.DefaultRules())
	w.Attach(ws)
	for d := range 5 {
		at := day0.AddDate(0, 0, d)
		ops := []engine.Op{
			identify(at, "u1", fld("plan", column.String("p"+string(rune('a'+d)))), fld("age", column.Int(int64(20+d)))),
			identify(at.Add(time.Hour), "u2", fld("tags", column.StringList([]string{"x", string(rune('a' + d))})), fld("vip", column.Bool(d%2 == 0))),
			identify(at.Add(2*time.Hour), "u2", fld("score", column.Float(float64(d)/2)), fld("renewal", column.Micros(at.UnixMicro()))),
		}
		if _, err := ws.Apply(ctx, ops); err != nil {
			t.Fatal(err)
		}
		if err := w.Flush(ctx, 0); err != nil {
			t.Fatal(err)
		}
	}
	files, _ := list(dir)
	if len(files) != 5 {
		t.Fatalf("%d history files, want 5", len(files))
	}
	r := NewReader(dir)
	from, to := day0.AddDate(0, 0, 2), day0.AddDate(0, 0, 3)
	names, _ := r.Files(from, to)
	if len(names) != 1 {
		t.Fatalf("Files(day 2) = %v, want one file", names)
	}
	for _, f := range files { // damage every file the scan must skip
		if f.name != names[0] {
			os.WriteFile(filepath.Join(dir, f.name), []byte("not parquet"), 0o644)
		}
	}
	var got []Record
	if err := r.Scan(ctx, from, to, func(rec Record) error { got = append(got, rec); return nil }); err != nil {
		t.Fatalf("scan opened a file outside the range: %v", err)
	}
	// Day 2's changes; old values come from day 1.
	want := []string{
		`1 plan "pb" -> "pc"`, `1 age 21 -> 22`,
		`2 tags ["x" "b"] -> ["x" "c"]`, `2 vip false -> true`,
		`2 score 0.5 -> 1`, `2 renewal ` + column.Micros(day0.AddDate(0, 0, 1).UnixMicro()).String() + ` -> ` + column.Micros(from.UnixMicro()).String(),
	}
	if len(got) != len(want) {
		t.Fatalf("scan returned %d records, want %d: %+v", len(got), len(want), got)
	}
	for i, rec := range got {
		s := itoa(int(rec.Person)) + " " + rec.Attribute + " " + rec.Old.String() + " -> " + rec.New.String()
		if s != want[i] {
			t.Errorf("record %d = %s, want %s", i, s, want[i])
		}
		if rec.At < from.UnixMicro() || rec.At >= to.UnixMicro() || rec.Source == "" || rec.Seq != 3 {
			t.Errorf("record %d: at %d seq %d source %q", i, rec.At, rec.Seq, rec.Source)
		}
	}
	// A scan over everything meets a damaged file and says which.
	err = r.Scan(ctx, day0, day0.AddDate(0, 0, 10), func(Record) error { return nil })
	var ce *durable.CorruptionError
	if !errors.As(err, &ce) || filepath.Dir(ce.File) != dir {
		t.Fatalf("scan of a damaged file = %v, want a CorruptionError naming it", err)
	}
	// The pull iterator sees the same records.
	it := r.Iter(ctx, from, to)
	n := 0
	for it.Next() {
		n++
	}
	it.Close()
	if it.Err() != nil || n != len(want) {
		t.Fatalf("iterator: %d records, err %v", n, it.Err())
	}
}

func TestFlushUpToSeqAndTruncate(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	w, _ := NewWriter(dir, Options{})
	ws := engine.NewWorkspace("acme", identity.DefaultRules())
	w.Attach(ws)
	for i := range 6 {
		ws.Apply(ctx, []engine.Op{identify(day0.Add(time.Duration(i)*time.Minute), "u1", fld("n", column.Int(int64(i))))})
	}
	if err := w.Flush(ctx, 4); err != nil { // a snapshot at batch 4
		t.Fatal(err)
	}
	if b := w.Buffered(); b != 2 {
		t.Fatalf("%d records buffered after flushing through batch 4, want 2", b)
	}
	w.Flush(ctx, 0)
	files, _ := list(dir)
	if len(files) != 2 || files[0].maxSeq != 4 || files[1].minSeq != 5 {
		t.Fatalf("files %+v", files)
	}
	if err := w.TruncateAfter(4); err != nil { // restored from the snapshot at 4
		t.Fatal(err)
	}
	var n int
	NewReader(dir).Scan(ctx, day0, day0.Add(time.Hour), func(Record) error { n++; return nil })
	if n != 4 {
		t.Fatalf("after truncating to batch 4, %d records, want 4", n)
	}
}

func TestTickRollsBySizeAndAge(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	w, _ := NewWriter(dir, Options{RollRows: 3, RollInterval: time.Hour})
	ws := engine.NewWorkspace("acme", identity.DefaultRules())
	w.Attach(ws)
	ws.Apply(ctx, []engine.Op{identify(day0, "u1", fld("a", column.Int(1)))})
	w.Tick(ctx, time.Now())
	if w.Buffered() != 1 {
		t.Fatal("flushed before size or age was reached")
	}
	w.Tick(ctx, time.Now().Add(2*time.Hour))
	if w.Buffered() != 0 {
		t.Fatal("not flushed after RollInterval")
	}
	ws.Apply(ctx, []engine.Op{identify(day0, "u1", fld("a", column.Int(2)), fld("b", column.Int(1)), fld("c", column.Int(1)))})
	w.Tick(ctx, time.Now())
	if w.Buffered() != 0 {
		t.Fatal("not flushed after RollRows")
	}
}

func itoa(i int) string {
	if i == 0 {
		return "0"
	}
	var b []byte
	for ; i > 0; i /= 10 {
		b = append([]byte{byte('0' + i%10)}, b...)
	}
	return string(b)
}
