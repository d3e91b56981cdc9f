package main

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/cohortdb/cohort/engine"
	"github.com/cohortdb/cohort/engine/column"
	"github.com/cohortdb/cohort/engine/identity"
)

// TestServeEventWindow: with event_window, a snapshot seals the old days
// into the events partitions and drops them from memory; SQL answers the
// same from memory + disk; late events below the horizon, a restart (the
// shutdown snapshot, restore, log replay) and a second drop after it lose
// or duplicate nothing.
func TestServeEventWindow(t *testing.T) {
	cfg := testConfig(t)
	cfg.EventWindow = 48 * time.Hour
	s, stop := start(t, cfg, nil)
	ctx := t.Context()
	if err := s.ingest.svc.WaitCaughtUp(ctx); err != nil {
		t.Fatal(err)
	}
	db := openMySQL(t, s)
	send := func(ops ...engine.Op) {
		t.Helper()
		if err := s.ingest.svc.Append(ctx, demoWorkspace, ops); err != nil {
			t.Fatal(err)
		}
		if err := s.ingest.svc.Sync(ctx); err != nil {
			t.Fatal(err)
		}
	}
	today := time.Now().UTC().Truncate(24 * time.Hour)
	track := func(at time.Time, i int) engine.Op {
		return engine.Op{Kind: engine.OpTrack, IDs: []identity.ID{{Type: identity.TypeUserID, Value: fmt.Sprint("u", i%37)}},
			Event: []string{"view", "buy", "open"}[i%3], At: at.UnixMicro(), Source: fmt.Sprintf("m%d-%d", at.UnixMicro(), i),
			Props: []engine.Field{{Name: "qty", Value: column.Int(int64(i % 5))}}}
	}
	var ops []engine.Op
	for d := 10; d >= 0; d-- {
		for i := range 300 {
			ops = append(ops, track(today.AddDate(0, 0, -d).Add(time.Duration(i)*time.Minute), d*1000+i))
		}
	}
	send(ops...)
	queries := []string{
		"SELECT COUNT(*), SUM(qty), MIN(ts), MAX(ts), COUNT(DISTINCT event_id) FROM events",
		"SELECT name, COUNT(*), SUM(qty) FROM events GROUP BY name ORDER BY name",
		"SELECT COUNT(*) FROM events WHERE ts < '" + today.AddDate(0, 0, -5).Format(time.DateOnly) + "'",
		"SELECT COUNT(*) FROM profiles WHERE person_id IN (SELECT person_id FROM events WHERE name = 'buy' AND ts < '" + today.AddDate(0, 0, -6).Format(time.DateOnly) + "' GROUP BY person_id HAVING COUNT(*) >= 5)",
	}
	answers := func() string {
		t.Helper()
		out := ""
		for _, q := range queries {
			r, err := historyRows(db, q)
			if err != nil {
				t.Fatalf("%s: %v", q, err)
			}
			out += fmt.Sprint(r) + "\n"
		}
		return out
	}
	want := answers()

	ws, _ := s.eng.Workspace(demoWorkspace)
	before := ws.Snapshot().Events.Live
	if err := s.storage.store.SnapshotNow(ctx); err != nil {
		t.Fatal(err)
	}
	snap := ws.Snapshot()
	if h := time.UnixMicro(snap.EventsFrom).UTC(); h.Before(today.AddDate(0, 0, -2)) || h.After(today.AddDate(0, 0, -1)) {
		t.Fatalf("window from %v, want %v", h, today.AddDate(0, 0, -2))
	}
	if snap.Events.Live >= before/2 {
		t.Fatalf("%d of %d events in memory after the drop", snap.Events.Live, before)
	}
	if days, _ := filepath.Glob(filepath.Join(s.dataDir, "events", demoWorkspace, "*")); len(days) < 8 {
		t.Fatalf("%d sealed days, want 8", len(days))
	}
	if got := answers(); got != want {
		t.Fatalf("after the drop:\n%s\nwant:\n%s", got, want)
	}

	// A late event below the horizon: in memory (and visible) at once.
	send(track(today.AddDate(0, 0, -7).Add(30*time.Second), 7))
	want = answers()
	if got := queryString(t, db, "SELECT COUNT(*) FROM events WHERE ts BETWEEN '"+today.AddDate(0, 0, -7).Format(time.DateOnly)+"' AND '"+today.AddDate(0, 0, -7).Format(time.DateOnly)+" 00:00:59'"); got != "2" {
		t.Fatalf("late event: %s events in its first minute, want 2", got)
	}

	// Restart: the shutdown snapshot holds the window; the restored node
	// answers the same, then drops the late event at its next snapshot.
	db.Close()
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	s, _ = start(t, cfg, nil)
	if err := s.ingest.svc.WaitCaughtUp(ctx); err != nil {
		t.Fatal(err)
	}
	db = openMySQL(t, s)
	ws, _ = s.eng.Workspace(demoWorkspace)
	if ws.Snapshot().EventsFrom == 0 {
		t.Fatal("restored without the event window")
	}
	if got := answers(); got != want {
		t.Fatalf("after a restart:\n%s\nwant:\n%s", got, want)
	}
	if err := s.storage.store.SnapshotNow(ctx); err != nil {
		t.Fatal(err)
	}
	if got := answers(); got != want {
		t.Fatalf("after a drop past the restart:\n%s\nwant:\n%s", got, want)
	}
	var early int
	_ = engine.ForEachRow(ctx, ws.Snapshot().Events, func(v []column.Value) error {
		if v[3].I < ws.Snapshot().EventsFrom {
			early++
		}
		return nil
	})
	if early != 0 {
		t.Fatalf("%d events before the horizon still in memory", early)
	}
	if _, err := os.Stat(filepath.Join(s.dataDir, "events", demoWorkspace)); err != nil {
		t.Fatal(err)
	}
}
