package events

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/cohortdb/cohort/engine"
	"github.com/cohortdb/cohort/engine/column"
	"github.com/cohortdb/cohort/engine/identity"
	"github.com/cohortdb/cohort/storage/internal/pqtable"
)

var day0 = time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)

func track(at time.Time, user, name string, props ...engine.Field) engine.Op {
	return engine.Op{Kind: engine.OpTrack, IDs: []identity.ID{{Type: "user_id", Value: user}}, Event: name, Props: props, At: at.UnixMicro()}
}

// memEvents lists "event_id name ts" of the events in ws with from <= ts < to.
func memEvents(t *testing.T, ws *engine.Workspace, from, to time.Time) []string {
	var out []string
	err := engine.ForEachRow(context.Background(), ws.Snapshot().Events, func(v []column.Value) error {
		if v[3].I >= from.UnixMicro() && v[3].I < to.UnixMicro() {
			out = append(out, fmt.Sprintf("%d %s %d", v[0].I, v[2].S, v[3].I))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func diskEvents(t *testing.T, s *Store, from, to time.Time) []string {
	var out []string
	err := s.Scan(context.Background(), from, to, func(cols []pqtable.Column, v []column.Value) error {
		if cols[0].Name != engine.ColEventID || cols[2].Name != engine.ColName || cols[3].Name != engine.ColTS {
			t.Fatalf("columns %v", cols)
		}
		out = append(out, fmt.Sprintf("%d %s %d", v[0].I, v[2].S, v[3].I))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func same(a, b []string) bool { return fmt.Sprint(a) == fmt.Sprint(b) }

func TestSealAndScanByDay(t *testing.T) {
	ctx := context.Background()
	ws := engine.NewWorkspace("acme", identity.DefaultRules())
	var ops []engine.Op
	for i := range 5 * 24 {
		at := day0.Add(time.Duration(i) * time.Hour)
		ops = append(ops, track(at, fmt.Sprint("u", i%7), fmt.Sprint("e", i%3), engine.Field{Name: "n", Value: column.Int(int64(i))}))
	}
	if _, err := ws.Apply(ctx, ops); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	cutoff := day0.AddDate(0, 0, 3).Add(5 * time.Hour) // days 0..2 are complete before it
	n, err := s.Seal(ctx, ws.Snapshot().Events, cutoff)
	if err != nil || n != 72 {
		t.Fatalf("Seal = %d, %v; want 72 rows (3 days)", n, err)
	}
	from, to := day0.Add(30*time.Hour), day0.Add(50*time.Hour)
	if got, want := diskEvents(t, s, from, to), memEvents(t, ws, from, to); !same(got, want) || len(want) != 20 {
		t.Fatalf("scan of [%v, %v) = %v, want %v", from, to, got, want)
	}
	if got := diskEvents(t, s, day0.AddDate(0, 0, 3), day0.AddDate(0, 0, 9)); len(got) != 0 {
		t.Fatalf("unsealed days returned from disk: %v", got)
	}
	// Late events for day 1 arrive; a second seal writes only them.
	if _, err := ws.Apply(ctx, []engine.Op{track(day0.Add(25*time.Hour), "u1", "late"), track(day0.Add(26*time.Hour), "u2", "late")}); err != nil {
		t.Fatal(err)
	}
	s2, err := Open(dir) // watermarks recovered from file names
	if err != nil {
		t.Fatal(err)
	}
	n, err = s2.Seal(ctx, ws.Snapshot().Events, cutoff)
	if err != nil || n != 2 {
		t.Fatalf("second Seal = %d, %v; want the 2 late events", n, err)
	}
	d1, d2 := day0.AddDate(0, 0, 1), day0.AddDate(0, 0, 2)
	if got, want := diskEvents(t, s2, d1, d2), memEvents(t, ws, d1, d2); len(got) != 26 || len(got) != len(want) {
		t.Fatalf("day 1 after late events: %d on disk, %d in memory, want 26", len(got), len(want))
	}
	if n, _ := s2.Seal(ctx, ws.Snapshot().Events, cutoff); n != 0 {
		t.Fatalf("third Seal wrote %d rows, want 0", n)
	}
}
