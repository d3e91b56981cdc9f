package main

import (
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cohortdb/cohort/engine"
	"github.com/cohortdb/cohort/engine/column"
	"github.com/cohortdb/cohort/engine/identity"
)

// TestServeProfileHistory: `cohort serve` exposes the storage's profile
// history as the SQL table profile_history: changes are queryable as soon
// as they are applied (before any history file is written), person ids are
// canonical, and a time filter opens only the history files of its range
// (the others are damaged here, and the query still succeeds).
func TestServeProfileHistory(t *testing.T) {
	cfg := testConfig(t)
	s, stop := start(t, cfg, nil)
	ctx := t.Context()
	if err := s.ingest.svc.WaitCaughtUp(ctx); err != nil {
		t.Fatal(err)
	}
	db := openMySQL(t, s)
	day0 := time.Date(2026, 5, 1, 9, 0, 0, 0, time.UTC)
	send := func(ops ...engine.Op) {
		t.Helper()
		if err := s.ingest.svc.Append(ctx, demoWorkspace, ops); err != nil {
			t.Fatal(err)
		}
		if err := s.ingest.svc.Sync(ctx); err != nil {
			t.Fatal(err)
		}
	}
	identify := func(d int, user, plan string) engine.Op {
		id := identity.ID{Type: identity.TypeUserID, Value: user}
		if strings.HasPrefix(user, "anon") {
			id.Type = "anonymous_id"
		}
		return engine.Op{Kind: engine.OpIdentify, IDs: []identity.ID{id}, At: day0.AddDate(0, 0, d).UnixMicro(),
			Source: fmt.Sprintf("msg-%s-%d", user, d), Traits: []engine.Field{{Name: "plan", Value: column.String(plan)}, {Name: "seats", Value: column.Int(int64(d))}}}
	}
	// Five days, one history file each (a snapshot flushes history).
	for d := range 5 {
		send(identify(d, "u1", fmt.Sprintf("plan%d", d)), identify(d, fmt.Sprintf("anon%d", d), "free"))
		if err := s.storage.store.SnapshotNow(ctx); err != nil {
			t.Fatal(err)
		}
	}
	hdir := filepath.Join(s.dataDir, "history", demoWorkspace)
	files, _ := filepath.Glob(filepath.Join(hdir, "h-*.parquet"))
	if len(files) != 5 {
		t.Fatalf("%d history files, want 5", len(files))
	}
	if tables, err := historyRows(db, "SHOW TABLES"); err != nil || !strings.Contains(fmt.Sprint(tables), "profile_history") {
		t.Fatalf("SHOW TABLES: %v, %v", tables, err)
	}
	if n := queryString(t, db, "SELECT COUNT(*) FROM profile_history"); n != "20" { // u1: plan and seats on each of 5 days, anon0..anon4: 2 each
		t.Errorf("history rows: %s, want 20", n)
	}
	u1 := queryString(t, db, "SELECT person_id FROM identities WHERE type = 'user_id' AND value = 'u1'")

	// Applied, not yet in any file: visible at once.
	send(identify(5, "u1", "plan5"))
	if got, _ := historyRows(db, "SELECT person_id, old_value, new_value, source FROM profile_history WHERE attribute = 'plan' AND changed_at >= '2026-05-06'"); fmt.Sprint(got) != fmt.Sprint([][]string{{u1, "plan4", "plan5", "msg-u1-5"}}) {
		t.Errorf("unflushed change: %v", got)
	}
	if files2, _ := filepath.Glob(filepath.Join(hdir, "h-*.parquet")); len(files2) != 5 {
		t.Fatalf("the change was flushed (%d files): the test proves nothing", len(files2))
	}

	// A merge: anon4 is aliased to u1; its history (in a file) reports u1.
	if got := queryString(t, db, "SELECT COUNT(DISTINCT person_id) FROM profile_history WHERE changed_at BETWEEN '2026-05-05' AND '2026-05-05 23:59:59'"); got != "2" {
		t.Errorf("before the merge, day 4 has %s persons, want 2", got)
	}
	send(engine.Op{Kind: engine.OpAlias, IDs: []identity.ID{{Type: "anonymous_id", Value: "anon4"}, {Type: identity.TypeUserID, Value: "u1"}}, At: day0.AddDate(0, 0, 7).UnixMicro(), Source: "m-a1"})
	if a4 := queryString(t, db, "SELECT person_id FROM identities WHERE type = 'anonymous_id' AND value = 'anon4'"); a4 != u1 {
		t.Fatalf("anon4 (%s) did not merge into u1 (%s)", a4, u1)
	}
	if got := queryString(t, db, "SELECT GROUP_CONCAT(DISTINCT person_id) FROM profile_history WHERE changed_at BETWEEN '2026-05-05' AND '2026-05-05 23:59:59'"); got != u1 {
		t.Errorf("after the merge, day 4's persons are %s, want %s (u1)", got, u1)
	}

	// A restart (shutdown snapshot, restore, log replay) shows the same
	// history.
	const all = "SELECT person_id, attribute, old_value, new_value, changed_at, source, value_type FROM profile_history ORDER BY changed_at, attribute, person_id"
	before, err := historyRows(db, all)
	if err != nil {
		t.Fatal(err)
	}
	db.Close() // the server waits for its connections
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	s, _ = start(t, cfg, nil)
	if err := s.ingest.svc.WaitCaughtUp(ctx); err != nil {
		t.Fatal(err)
	}
	db = openMySQL(t, s)
	if after, err := historyRows(db, all); err != nil || fmt.Sprint(after) != fmt.Sprint(before) {
		t.Errorf("after a restart: %v (%v)\nbefore: %v", after, err, before)
	}
	files, _ = filepath.Glob(filepath.Join(hdir, "h-*.parquet"))
	send(identify(8, "u1", "plan8")) // unflushed again

	// Damage every file but day 2's: a query on day 2 must not open them.
	var keep string
	for _, f := range files {
		// h-<minSeq>-<maxSeq>-<minAt>-<maxAt>-<crc>.parquet: day 2's holds its time.
		if strings.Contains(filepath.Base(f), fmt.Sprintf("-%019d-", uint64(day0.AddDate(0, 0, 2).UnixMicro()+1<<62))) {
			keep = f
			continue
		}
		if err := os.WriteFile(f, []byte("damaged"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if keep == "" {
		t.Fatalf("no file of day 2 among %v", files)
	}
	for _, where := range []string{
		"changed_at >= '2026-05-03' AND changed_at < '2026-05-04'",
		"changed_at BETWEEN '2026-05-03 09:00' AND '2026-05-03 09:00'",
		"changed_at = '2026-05-03 09:00:00' AND attribute = 'plan'",
		"DATE(changed_at) = '2026-05-03' AND changed_at > '2026-05-02 12:00' AND changed_at <= '2026-05-03 12:00'",
	} {
		got, err := historyRows(db, "SELECT person_id, attribute, old_value, new_value FROM profile_history WHERE "+where+" ORDER BY person_id, attribute")
		if err != nil {
			t.Errorf("%s: %v (a file outside the range was opened)", where, err)
			continue
		}
		plans := 0
		for _, r := range got {
			if r[1] == "plan" {
				plans++
			}
		}
		if plans != 2 || (!strings.Contains(where, "attribute") && len(got) != 4) {
			t.Errorf("%s: %v", where, got)
		}
	}
	// The unflushed change of day 8 is there, past every file.
	if got, err := historyRows(db, "SELECT old_value, new_value FROM profile_history WHERE attribute = 'plan' AND changed_at >= '2026-05-09'"); err != nil || fmt.Sprint(got) != "[[plan5 plan8]]" {
		t.Errorf("day 8: %v, %v", got, err)
	}
	// Without a range every file is read, and the damage is reported.
	if _, err := historyRows(db, "SELECT COUNT(*) FROM profile_history"); err == nil || !strings.Contains(err.Error(), "profile_history") {
		t.Errorf("a scan over damaged files: %v", err)
	}
}

// historyRows returns every row as strings ("NULL" for NULL).
func historyRows(db *sql.DB, q string, args ...any) ([][]string, error) {
	rows, err := db.Query(q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return nil, err
	}
	var out [][]string
	for rows.Next() {
		vals := make([]sql.NullString, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return nil, err
		}
		row := make([]string, len(cols))
		for i, v := range vals {
			row[i] = "NULL"
			if v.Valid {
				row[i] = v.String
			}
		}
		out = append(out, row)
	}
	return out, rows.Err()
}
