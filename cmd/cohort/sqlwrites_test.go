package main

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/cohortdb/cohort/cmd/cohort/internal/config"
	"github.com/cohortdb/cohort/engine"
	"github.com/cohortdb/cohort/engine/column"
	"github.com/cohortdb/cohort/engine/identity"
)

func openMySQL(t *testing.T, s *server) *sql.DB {
	t.Helper()
	pw, err := os.ReadFile(filepath.Join(s.dataDir, rootPasswordFile))
	if err != nil {
		t.Fatal(err)
	}
	mc := mysql.NewConfig()
	mc.User, mc.Passwd, mc.Net, mc.Addr, mc.DBName = "root", strings.TrimSpace(string(pw)), "tcp", s.sql.srv.Addr().String(), demoWorkspace
	mc.TLSConfig = "skip-verify"
	mc.AllowNativePasswords = true
	db, err := sql.Open("mysql", mc.FormatDSN())
	if err != nil {
		t.Fatal(err)
	}
	db.SetMaxOpenConns(1) // one session: read-your-writes within it
	t.Cleanup(func() { db.Close() })
	return db
}

func queryString(t *testing.T, db *sql.DB, q string, args ...any) string {
	t.Helper()
	var v sql.NullString
	if err := db.QueryRow(q, args...).Scan(&v); err != nil && err != sql.ErrNoRows {
		t.Fatalf("%s: %v", q, err)
	}
	return v.String
}

// TestSQLWritesDurable: with ingest on, INSERT/UPDATE/DELETE through SQL
// go through the durable log, are visible to the session's next statement
// (read-your-writes), report the engine's rejections as errors, and
// survive a restart on the same data directory.
func TestSQLWritesDurable(t *testing.T) {
	cfg := testConfig(t)
	s, stop := start(t, cfg, nil)
	ctx := t.Context()
	if err := s.ingest.svc.WaitCaughtUp(ctx); err != nil {
		t.Fatal(err)
	}
	// Attribute columns come from the ingest API: one identify creates them.
	at := time.Now().UnixMicro()
	seed := []engine.Op{{Kind: engine.OpIdentify, IDs: []identity.ID{{Type: identity.TypeUserID, Value: "u1"}}, At: at,
		Traits: []engine.Field{{Name: "user_id", Value: column.String("u1")}, {Name: "plan", Value: column.String("free")}, {Name: "age", Value: column.Int(40)}}}}
	if err := s.ingest.svc.Append(ctx, demoWorkspace, seed); err != nil {
		t.Fatal(err)
	}
	if err := s.ingest.svc.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	db := openMySQL(t, s)
	records := func() uint64 { return s.ingest.svc.Log().Stats().Records }

	before := records()
	exec := func(q string, args ...any) {
		t.Helper()
		if _, err := db.Exec(q, args...); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	exec("INSERT INTO profiles (user_id, `plan`, age) VALUES ('u2', 'pro', 31), ('u3', 'basic', 22)")
	if got := queryString(t, db, "SELECT `plan` FROM profiles WHERE user_id = 'u2'"); got != "pro" {
		t.Fatalf("read-your-writes after INSERT: plan = %q, want pro", got)
	}
	exec("UPDATE profiles SET `plan` = 'enterprise', age = age + 1 WHERE user_id = 'u1'")
	if got := queryString(t, db, "SELECT CONCAT(`plan`, ' ', age) FROM profiles WHERE user_id = 'u1'"); got != "enterprise 41" {
		t.Fatalf("read-your-writes after UPDATE: %q, want 'enterprise 41'", got)
	}
	pid := queryString(t, db, "SELECT person_id FROM profiles WHERE user_id = 'u2'")
	exec("INSERT INTO events (person_id, name, ts) VALUES (?, 'sql_purchase', ?)", pid, time.Now().UTC().Format("2006-01-02 15:04:05"))
	if got := queryString(t, db, "SELECT COUNT(*) FROM events WHERE name = 'sql_purchase'"); got != "1" {
		t.Fatalf("read-your-writes after INSERT INTO events: %s events, want 1", got)
	}
	exec("DELETE FROM profiles WHERE user_id = 'u3'")
	if got := queryString(t, db, "SELECT COUNT(*) FROM profiles WHERE user_id = 'u3'"); got != "0" {
		t.Fatalf("read-your-writes after DELETE: %s profiles, want 0", got)
	}
	if got := records() - before; got != 5 { // 2 inserts, 1 update, 1 event, 1 erase
		t.Errorf("the writes put %d records in the log, want 5", got)
	}

	// The engine rejects an event name longer than 512 bytes when the
	// applier applies it: the statement fails with that reason.
	_, err := db.Exec("INSERT INTO events (person_id, name, ts) VALUES (?, ?, ?)", pid, strings.Repeat("x", 600), time.Now().UTC().Format("2006-01-02 15:04:05"))
	var me *mysql.MySQLError
	if err == nil || !strings.Contains(err.Error(), "longer than 512 bytes") || !asMySQLError(err, &me) {
		t.Fatalf("INSERT of a rejected event: err = %v, want a MySQL error saying the name is too long", err)
	}
	t.Logf("rejection: %v", err)

	db.Close()
	if err := stop(); err != nil {
		t.Fatal(err)
	}

	// Restart on the same data directory: first from the snapshot written
	// at shutdown (plus the log after it), then with the snapshots removed,
	// so only the log replay brings the writes back.
	for _, fromLogOnly := range []bool{false, true} {
		if fromLogOnly {
			for _, d := range []string{"snapshots", "history", "events"} {
				if err := os.RemoveAll(filepath.Join(cfg.DataDir, d)); err != nil {
					t.Fatal(err)
				}
			}
		}
		checkSQLWritesAfterRestart(t, cfg, fromLogOnly)
	}
}

func checkSQLWritesAfterRestart(t *testing.T, cfg config.Config, fromLogOnly bool) {
	s, stop := start(t, cfg, nil)
	wctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	if err := s.ingest.svc.WaitCaughtUp(wctx); err != nil {
		t.Fatal(err)
	}
	db := openMySQL(t, s)
	defer func() {
		db.Close() // the server waits for its connections to end
		if err := stop(); err != nil {
			t.Error(err)
		}
	}()
	for q, want := range map[string]string{
		"SELECT `plan` FROM profiles WHERE user_id = 'u2'":                        "pro",
		"SELECT CONCAT(`plan`, ' ', age) FROM profiles WHERE user_id = 'u1'":      "enterprise 41",
		"SELECT COUNT(*) FROM events WHERE name = 'sql_purchase'":                 "1",
		"SELECT COUNT(*) FROM profiles WHERE user_id = 'u3'":                      "0",
		"SELECT COUNT(*) FROM profiles WHERE user_id IN ('u1', 'u2', 'u3', 'u4')": "2",
	} {
		if got := queryString(t, db, q); got != want {
			t.Errorf("after restart (log only: %v): %s = %q, want %q", fromLogOnly, q, got, want)
		}
	}
}

func asMySQLError(err error, target **mysql.MySQLError) bool {
	for e := err; e != nil; {
		if m, ok := e.(*mysql.MySQLError); ok {
			*target = m
			return true
		}
		u, ok := e.(interface{ Unwrap() error })
		if !ok {
			return false
		}
		e = u.Unwrap()
	}
	return false
}
