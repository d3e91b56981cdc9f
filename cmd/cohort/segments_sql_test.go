package main

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cohortdb/cohort/engine"
	"github.com/cohortdb/cohort/engine/column"
	"github.com/cohortdb/cohort/engine/identity"
)

// TestServeSegmentHistorySQL: a segment defined over SQL (CREATE VIEW)
// while plans change through ingest, day by day. segment_members_as_of at
// a past time equals the real-time membership segment_members showed then
// (from history files and unflushed changes alike, and after a restart);
// segment_sizes shows the size samples the manager recorded as the segment
// grew (segment_sample_interval); a condition over a column the history
// does not record is refused with asof's message.
func TestServeSegmentHistorySQL(t *testing.T) {
	cfg := testConfig(t)
	cfg.SegmentSampleInterval = 50 * time.Millisecond
	s, stop := start(t, cfg, nil)
	ctx := t.Context()
	if err := s.ingest.svc.WaitCaughtUp(ctx); err != nil {
		t.Fatal(err)
	}
	db := openMySQL(t, s)
	day0 := time.Date(2026, 5, 1, 9, 0, 0, 0, time.UTC)
	send := func(d int, plans map[string]string) {
		t.Helper()
		var ops []engine.Op
		for _, u := range slices.Sorted(maps.Keys(plans)) {
			ops = append(ops, engine.Op{Kind: engine.OpIdentify, IDs: []identity.ID{{Type: identity.TypeUserID, Value: u}},
				At: day0.AddDate(0, 0, d).UnixMicro(), Source: fmt.Sprintf("m-%s-%d", u, d),
				Traits: []engine.Field{{Name: "plan", Value: column.String(plans[u])}}})
		}
		if err := s.ingest.svc.Append(ctx, demoWorkspace, ops); err != nil {
			t.Fatal(err)
		}
		if err := s.ingest.svc.Sync(ctx); err != nil {
			t.Fatal(err)
		}
		m, ok := s.segments.reg.Lookup(demoWorkspace)
		if !ok {
			t.Fatal("no segment manager for the demo workspace")
		}
		if err := m.Flush(ctx); err != nil {
			t.Fatal(err)
		}
	}
	rows := func(q string, args ...any) [][]string {
		t.Helper()
		r, err := historyRows(db, q, args...)
		if err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		return r
	}
	members := func() []string {
		t.Helper()
		var out []string
		for _, r := range rows("SELECT person_id FROM segment_members WHERE segment = 'pros' ORDER BY person_id") {
			out = append(out, r[0])
		}
		return out
	}
	asOf := func(at time.Time) ([]string, error) {
		r, err := historyRows(db, "SELECT person_id, as_of FROM segment_members_as_of WHERE segment = 'pros' AND as_of = ? ORDER BY person_id", at.Format("2006-01-02 15:04:05.999999"))
		if err != nil {
			return nil, err
		}
		out := []string{}
		for _, x := range r {
			if want := at.Format("2006-01-02 15:04:05"); !strings.HasPrefix(x[1], want) {
				t.Errorf("as_of %s, want %s", x[1], want)
			}
			out = append(out, x[0])
		}
		return out, nil
	}
	// The first sample with members n, polling: the manager samples every
	// 50 ms (on its next tick or batch).
	waitSample := func(n int) time.Time {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for {
			r := rows("SELECT sampled_at FROM segment_sizes WHERE segment = 'pros' AND members = ? ORDER BY sampled_at LIMIT 1", n)
			if len(r) == 1 {
				at, err := time.Parse("2006-01-02 15:04:05.999999", r[0][0])
				if err != nil {
					t.Fatalf("sampled_at %q: %v", r[0][0], err)
				}
				return at
			}
			if time.Now().After(deadline) {
				t.Fatalf("no sample of pros with %d members: %v", n, rows("SELECT * FROM segment_sizes"))
			}
			time.Sleep(20 * time.Millisecond)
		}
	}

	// Day 0: u1, u2, u3 pro; u4, u5 free. The segment is defined after
	// the attribute exists.
	send(0, map[string]string{"u1": "pro", "u2": "pro", "u3": "pro", "u4": "free", "u5": "free"})
	if _, err := db.Exec("CREATE VIEW pros AS SELECT person_id FROM profiles WHERE `plan` = 'pro'"); err != nil {
		t.Fatal(err)
	}
	onDay := [][]string{members()}
	if err := s.storage.store.SnapshotNow(ctx); err != nil { // day 0's history goes to a file
		t.Fatal(err)
	}
	sample0 := waitSample(3)
	// Day 1: u2 leaves, u4 and a new u6 enter.
	send(1, map[string]string{"u2": "free", "u4": "pro", "u6": "pro"})
	onDay = append(onDay, members())
	sample1 := waitSample(4)
	// Day 2: u1 leaves, u2 comes back, u5 enters (not flushed to files).
	send(2, map[string]string{"u1": "enterprise", "u2": "pro", "u5": "pro"})
	onDay = append(onDay, members())
	sample2 := waitSample(5)
	if len(onDay[0]) != 3 || len(onDay[1]) != 4 || len(onDay[2]) != 5 {
		t.Fatalf("real-time membership by day: %v", onDay)
	}

	check := func(when string) {
		t.Helper()
		for d, want := range onDay {
			for _, at := range []time.Time{day0.AddDate(0, 0, d), day0.AddDate(0, 0, d).Add(23 * time.Hour)} {
				got, err := asOf(at)
				if err != nil || !slices.Equal(got, want) {
					t.Errorf("%s: members as of %s: %v (%v), segment_members showed %v", when, at, got, err, want)
				}
			}
		}
		// Before anyone was created: nobody.
		if got, err := asOf(day0.Add(-time.Hour)); err != nil || len(got) != 0 {
			t.Errorf("%s: members before day 0: %v (%v)", when, got, err)
		}
		// Several times in one query: who entered between day 0 and day 2.
		entered := rows("SELECT person_id FROM segment_members_as_of n WHERE n.segment = 'pros' AND n.as_of = ? AND n.person_id NOT IN (SELECT person_id FROM segment_members_as_of o WHERE o.segment = 'pros' AND o.as_of = ?) ORDER BY person_id",
			day0.AddDate(0, 0, 2).Format(time.DateTime), day0.Format(time.DateTime))
		var got, want []string
		for _, r := range entered {
			got = append(got, r[0])
		}
		for _, p := range onDay[2] {
			if !slices.Contains(onDay[0], p) {
				want = append(want, p)
			}
		}
		if len(want) != 3 || !slices.Equal(got, want) { // u4, u5, u6
			t.Errorf("%s: entered between day 0 and day 2: %v, want %v", when, got, want)
		}
	}
	check("live")

	// Sizes: the samples grow 3 → 4 → 5 in time order, and a time range
	// reads the samples of that range.
	var sizes []string
	for _, r := range rows("SELECT members FROM segment_sizes WHERE segment = 'pros' ORDER BY sampled_at") {
		if len(sizes) == 0 || sizes[len(sizes)-1] != r[0] {
			sizes = append(sizes, r[0])
		}
	}
	if fmt.Sprint(sizes) != "[3 4 5]" {
		t.Errorf("sizes over time: %v, want [3 4 5]", sizes)
	}
	if !sample0.Before(sample1) || !sample1.Before(sample2) {
		t.Errorf("samples out of order: %s %s %s", sample0, sample1, sample2)
	}
	for _, r := range rows("SELECT members, version FROM segment_sizes WHERE segment = 'pros' AND sampled_at >= ?", sample1.Format("2006-01-02 15:04:05.999999")) {
		if (r[0] != "4" && r[0] != "5") || r[1] != "1" {
			t.Errorf("a sample since day 1's: %v", r)
		}
	}
	if n := rows("SELECT COUNT(*) FROM segment_sizes WHERE segment = 'nope'"); n[0][0] != "0" {
		t.Errorf("samples of an unknown segment: %v", n)
	}

	// Errors: both predicates are required; a condition over a column
	// the history does not record is refused with its message.
	if _, err := historyRows(db, "SELECT * FROM segment_members_as_of WHERE segment = 'pros'"); err == nil || !strings.Contains(err.Error(), "as_of = '<timestamp>'") {
		t.Errorf("without as_of: %v", err)
	}
	if _, err := db.Exec("CREATE VIEW seen AS SELECT person_id FROM profiles WHERE last_seen > '2026-01-01'"); err != nil {
		t.Fatal(err)
	}
	if _, err := historyRows(db, "SELECT * FROM segment_members_as_of WHERE segment = 'seen' AND as_of = '2026-05-02'"); err == nil || !strings.Contains(err.Error(), "column not recorded in profile history: last_seen") {
		t.Errorf("a condition over last_seen: %v", err)
	}

	// A restart (segments restored, history cut back to the snapshot and
	// replayed) answers the same.
	db.Close()
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	s, _ = start(t, cfg, nil)
	if err := s.ingest.svc.WaitCaughtUp(ctx); err != nil {
		t.Fatal(err)
	}
	db = openMySQL(t, s)
	check("after a restart")
	if n := rows("SELECT COUNT(*) FROM segment_sizes WHERE segment = 'pros' AND members = 5"); n[0][0] == "0" {
		t.Errorf("after a restart, the samples are gone")
	}
}
