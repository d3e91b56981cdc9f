package storage

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/cohortdb/cohort/engine"
	"github.com/cohortdb/cohort/engine/enginetest"
	"github.com/cohortdb/cohort/storage/history"
)

// TestScanHistoryProjected: with a live writer, the projected scan sees
// the flushed files and the unflushed changes, as ScanHistory does, with
// only the asked parts filled; without one (a store that did not restore
// the workspace) it reads the files.
func TestScanHistoryProjected(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s, _ := Open(dir, Options{Logger: quiet(), History: history.Options{RollRows: 200}})
	e := engine.New(engine.Options{})
	if _, err := s.Restore(ctx, e); err != nil {
		t.Fatal(err)
	}
	w, _ := e.CreateWorkspace("acme")
	r := rand.New(rand.NewPCG(5, 6))
	ops := enginetest.Ops(r, enginetest.NewPool(40), 1200, t0, 0)
	applyLog(t, r, w, ops, 0, 800)
	if err := s.SnapshotNow(ctx); err != nil { // flushes history through the snapshot
		t.Fatal(err)
	}
	applyLog(t, r, w, ops, 800, len(ops)) // unflushed

	all := func(rec history.Record) string {
		return fmt.Sprintf("%d %d %s %v->%v %d %s", rec.Seq, rec.Person, rec.Attribute, rec.Old, rec.New, rec.At, rec.Source)
	}
	collect := func(scan func(fn func(history.Record) error) error, f func(history.Record) string) []string {
		t.Helper()
		var out []string
		if err := scan(func(rec history.Record) error { out = append(out, f(rec)); return nil }); err != nil {
			t.Fatal(err)
		}
		return out
	}
	from, to := time.UnixMicro(t0), time.UnixMicro(t0).Add(time.Hour)
	full := history.Projection{Seq: true, Old: true, New: true, Source: true}
	want := collect(func(fn func(history.Record) error) error { return s.ScanHistory(ctx, "acme", from, to, fn) }, all)
	got := collect(func(fn func(history.Record) error) error {
		return s.ScanHistoryProjected(ctx, "acme", from, to, full, fn)
	}, all)
	if len(want) == 0 || !slices.Equal(got, want) {
		t.Fatalf("projected scan: %d records, ScanHistory %d", len(got), len(want))
	}
	files := collect(func(fn func(history.Record) error) error { return s.History("acme").Scan(ctx, from, to, fn) }, all)
	if len(files) == 0 || len(files) >= len(want) {
		t.Fatalf("files hold %d of %d records: the test needs both flushed and unflushed ones", len(files), len(want))
	}

	// Only the asked parts: Person, Attribute and At, plus Old.
	part := func(rec history.Record) string {
		return fmt.Sprintf("%d %d %s %v->%v %d %q", rec.Seq, rec.Person, rec.Attribute, rec.Old, rec.New, rec.At, rec.Source)
	}
	oldOnly := collect(func(fn func(history.Record) error) error {
		return s.ScanHistoryProjected(ctx, "acme", from, to, history.Projection{Old: true}, fn)
	}, part)
	var wantOld []string
	_ = s.ScanHistory(ctx, "acme", from, to, func(rec history.Record) error {
		rec.Seq, rec.New, rec.Source = 0, history.Record{}.New, ""
		wantOld = append(wantOld, part(rec))
		return nil
	})
	if !slices.Equal(oldOnly, wantOld) {
		t.Fatalf("projection {Old}: %d records differ from ScanHistory's parts", len(oldOnly))
	}

	// A time range: the records of [mid, to) only.
	mid := time.UnixMicro(t0 + 600_000) // ops are 1 ms apart
	ranged := collect(func(fn func(history.Record) error) error {
		return s.ScanHistoryProjected(ctx, "acme", mid, to, full, fn)
	}, all)
	wantRanged := collect(func(fn func(history.Record) error) error { return s.ScanHistory(ctx, "acme", mid, to, fn) }, all)
	if !slices.Equal(ranged, wantRanged) || len(ranged) == 0 || len(ranged) == len(want) {
		t.Fatalf("range: %d records, want %d (of %d)", len(ranged), len(wantRanged), len(want))
	}

	// Without a writer for the workspace: the files only.
	s2, _ := Open(dir, Options{Logger: quiet()})
	got2 := collect(func(fn func(history.Record) error) error {
		return s2.ScanHistoryProjected(ctx, "acme", from, to, full, fn)
	}, all)
	if !slices.Equal(got2, files) {
		t.Fatalf("without a writer: %d records, files hold %d", len(got2), len(files))
	}
	// An error of fn stops the scan and is returned.
	stop := errors.New("stop")
	if err := s.ScanHistoryProjected(ctx, "acme", from, to, full, func(history.Record) error { return stop }); !errors.Is(err, stop) {
		t.Fatalf("fn's error: %v", err)
	}
}
