package sqlfront

import (
	"context"
	"crypto/tls"
	"database/sql"
	"fmt"
	"strings"
	"testing"
	"time"

	gsql "github.com/dolthub/go-mysql-server/sql"
	"github.com/go-sql-driver/mysql"

	"github.com/cohortdb/cohort/engine"
)

func want(t *testing.T, what string, got [][]string, exp ...[]string) {
	t.Helper()
	if fmt.Sprint(got) != fmt.Sprint(exp) {
		t.Errorf("%s: got %v, want %v", what, got, exp)
	}
}

func row(s ...string) []string { return s }

func TestEndToEnd(t *testing.T) {
	eng := newEngine(t, "demo", "other")
	ws, _ := eng.Workspace("demo")
	fixture(t, ws, 300, 3)
	ts := startServer(t, eng, nil)
	db := ts.open(t, "root", testPassword, "demo")
	snap := ws.Snapshot()

	t.Run("metadata", func(t *testing.T) {
		want(t, "databases", query(t, db, "SHOW DATABASES"), row("demo"), row("information_schema"), row("mysql"), row("other"))
		want(t, "tables", query(t, db, "SHOW FULL TABLES"), row("events", "BASE TABLE"), row("identities", "BASE TABLE"), row("merges", "BASE TABLE"), row("profiles", "BASE TABLE"))
		d := query(t, db, "DESCRIBE profiles")
		if len(d) != len(snap.Profiles.Schema.Cols) || d[0][0] != "person_id" || d[0][1] != "bigint" || d[0][3] != "PRI" {
			t.Errorf("describe profiles: %v", d)
		}
		types := map[string]string{}
		for _, r := range query(t, db, "SELECT column_name, column_type, collation_name FROM information_schema.columns WHERE table_schema='demo' AND table_name='profiles'") {
			types[r[0]] = r[1] + " " + r[2]
		}
		for col, ty := range map[string]string{"country": "varchar(16383) utf8mb4_0900_bin", "age": "bigint NULL", "score": "double NULL",
			"vip": "tinyint(1) NULL", "signup_at": "datetime(6) NULL", "tags": "json NULL"} {
			if types[col] != ty {
				t.Errorf("information_schema type of %s: %q, want %q", col, types[col], ty)
			}
		}
		if c := query(t, db, "SHOW CREATE TABLE profiles"); !strings.Contains(c[0][1], "PRIMARY KEY (`person_id`)") {
			t.Errorf("show create table: %v", c)
		}
		query(t, db, "SHOW FULL COLUMNS FROM events")
		query(t, db, "SELECT table_name, table_type FROM information_schema.tables WHERE table_schema = DATABASE()")
		query(t, db, "SELECT @@version, @@version_comment, @@max_allowed_packet, @@character_set_client, @@sql_mode, @@autocommit, @@tx_isolation, DATABASE(), USER(), CONNECTION_ID()")
		query(t, db, "SHOW VARIABLES LIKE 'lower_case_table_names'")
		query(t, db, "SHOW COLLATION WHERE Charset = 'utf8mb4'")
		query(t, db, "SELECT * FROM information_schema.schemata")
		query(t, db, "SHOW INDEX FROM profiles")
		query(t, db, "SHOW TABLE STATUS")
	})

	t.Run("queries", func(t *testing.T) {
		n, _ := snap.Count(context.Background(), engine.Query{Table: engine.Profiles})
		want(t, "count", query(t, db, "SELECT COUNT(*) FROM profiles"), row(fmt.Sprint(n)))
		want(t, "segment", query(t, db, "SELECT COUNT(*) FROM profiles WHERE country = 'US' AND age >= 18"),
			query(t, db, "SELECT COUNT(*) FROM profiles WHERE age + 0 >= 18 AND concat(country, '') = 'US'")[0])
		g := query(t, db, "SELECT country, COUNT(*) FROM profiles GROUP BY country ORDER BY country")
		if len(g) < 5 || g[0][0] != "NULL" {
			t.Errorf("group by: %v", g)
		}
		if l := query(t, db, "SELECT person_id, tier FROM profiles LIMIT 10"); len(l) != 10 {
			t.Errorf("limit: %d rows", len(l))
		}
		want(t, "point lookup", query(t, db, "SELECT person_id FROM profiles WHERE person_id = 7"), row("7"))
		want(t, "point miss", query(t, db, "SELECT person_id FROM profiles WHERE person_id = 999999"))
		want(t, "identity lookup", query(t, db, "SELECT person_id FROM identities WHERE type = 'user_id' AND value = 'u7'"), row("7"))
		want(t, "identity type mismatch", query(t, db, "SELECT person_id FROM identities WHERE type = 'email' AND value = 'u7'"))
		for i := 1; i <= 60; i++ {
			for _, typ := range []string{"user_id", "email", "anonymous_id"} {
				v := fmt.Sprintf("u%d", i)
				if typ == "email" {
					v = fmt.Sprintf("user%d@example.com", i)
				} else if typ == "anonymous_id" {
					v = fmt.Sprintf("anon%d", i%10)
				}
				a := query(t, db, "SELECT * FROM identities WHERE type = ? AND value = ?", typ, v)
				b := query(t, db, "SELECT * FROM identities WHERE type = ? AND concat(value, '') = ?", typ, v)
				if fmt.Sprint(a) != fmt.Sprint(b) {
					t.Errorf("identity %s %s: index %v, scan %v", typ, v, a, b)
				}
			}
		}
		want(t, "identity join", query(t, db, "SELECT p.person_id, p.country = (SELECT country FROM profiles WHERE person_id = 7) FROM identities i JOIN profiles p ON p.person_id = i.person_id WHERE i.type = 'user_id' AND i.value = 'u7'"), row("7", "1"))
		beh := query(t, db, "SELECT COUNT(*) FROM profiles WHERE person_id IN (SELECT person_id FROM events WHERE name = 'purchase' GROUP BY person_id HAVING COUNT(*) >= 2)")
		did, _ := snap.Count(context.Background(), engine.Query{Table: engine.Profiles, Where: engine.Did{Event: "purchase", Op: 5, N: 2}})
		want(t, "behavioural", beh, row(fmt.Sprint(did)))
	})

	t.Run("plans", func(t *testing.T) {
		for q, w := range map[string]string{
			"SELECT COUNT(*) FROM profiles WHERE country = 'US'":                                                         "CohortAggregate",
			"SELECT * FROM profiles WHERE person_id = 7":                                                                 "point lookup",
			"SELECT * FROM identities WHERE type = 'email' AND value = 'x'":                                              "identity lookup",
			"SELECT person_id FROM profiles p WHERE NOT EXISTS (SELECT 1 FROM events e WHERE e.person_id = p.person_id)": "cohort.did",
			"SELECT p.* FROM identities i JOIN profiles p ON p.person_id = i.person_id WHERE i.value = 'u1'":             "LookupJoin",
		} {
			if p := sql2plan(t, ts, q); !strings.Contains(p, w) {
				t.Errorf("plan of %s lacks %q:\n%s", q, w, p)
			}
		}
	})

	t.Run("prepared", func(t *testing.T) {
		for _, interp := range []string{"false", "true"} {
			d, err := sql.Open("mysql", ts.dsn("root", testPassword, "demo", "interpolateParams", interp))
			if err != nil {
				t.Fatal(err)
			}
			defer d.Close()
			st, err := d.Prepare("SELECT COUNT(*) FROM profiles WHERE country = ? AND age > ? AND signup_at > ?")
			if err != nil {
				t.Fatal(err)
			}
			var a, b int
			if err := st.QueryRow("US", 20, time.Date(2026, 8, 1, 0, 0, 0, 0, time.UTC)).Scan(&a); err != nil {
				t.Fatal(err)
			}
			if err := db.QueryRow("SELECT COUNT(*) FROM profiles WHERE country = 'US' AND age > 20 AND signup_at > '2026-08-01'").Scan(&b); err != nil {
				t.Fatal(err)
			}
			if a != b || a == 0 {
				t.Errorf("prepared (interpolate=%s): %d, literal: %d", interp, a, b)
			}
			st.Close()
		}
	})

	t.Run("session", func(t *testing.T) {
		c, err := ts.open(t, "root", testPassword, "demo").Conn(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		for _, q := range []string{"SET NAMES utf8mb4", "SET autocommit = 1", "SET SESSION sql_mode = 'ANSI_QUOTES'", "SET time_zone = '+00:00'",
			"SET @x = 5", "USE other", "SET character_set_results = NULL", "SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED"} {
			if _, err := c.ExecContext(context.Background(), q); err != nil {
				t.Errorf("%s: %v", q, err)
			}
		}
		var n int
		if err := c.QueryRowContext(context.Background(), "SELECT COUNT(*) FROM profiles").Scan(&n); err != nil || n != 0 {
			t.Errorf("after USE other: %d, %v", n, err)
		}
	})

	t.Run("multi statements", func(t *testing.T) {
		d, err := sql.Open("mysql", ts.dsn("root", testPassword, "demo", "multiStatements", "true"))
		if err != nil {
			t.Fatal(err)
		}
		defer d.Close()
		if _, err := d.Exec("SET @a = 1; SET @b = 2"); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("writes", func(t *testing.T) {
		exec := func(q string, args ...any) {
			t.Helper()
			if _, err := db.Exec(q, args...); err != nil {
				t.Fatalf("%s: %v", q, err)
			}
		}
		// A new person by email (an attribute column of the fixture? no: use person_id of an existing one).
		exec("UPDATE profiles SET country = 'NZ', age = NULL WHERE person_id = 7")
		want(t, "update", query(t, db, "SELECT country, age FROM profiles WHERE person_id = 7"), row("NZ", "NULL"))
		exec("INSERT INTO profiles (person_id, tier, score) VALUES (6, 'gold', 1.5)")
		want(t, "insert existing", query(t, db, "SELECT tier, score FROM profiles WHERE person_id = 6"), row("gold", "1.5"))
		before := query(t, db, "SELECT COUNT(*) FROM events WHERE person_id = 6")
		exec("INSERT INTO events (person_id, name, ts, amount) VALUES (6, 'purchase', '2026-11-02 10:00:00', 12.5), (6, 'refund', NOW(), NULL)")
		after := query(t, db, "SELECT COUNT(*) FROM events WHERE person_id = 6")
		if fmt.Sprint(after) == fmt.Sprint(before) {
			t.Errorf("insert events: count %v → %v", before, after)
		}
		want(t, "event", query(t, db, "SELECT name, ts, amount FROM events WHERE person_id = 6 AND name = 'purchase' AND ts = '2026-11-02 10:00:00'"),
			row("purchase", "2026-11-02T10:00:00Z", "12.5"))
		exec("DELETE FROM profiles WHERE person_id = 9")
		want(t, "deleted", query(t, db, "SELECT COUNT(*) FROM profiles WHERE person_id = 9"), row("0"))
		want(t, "deleted events", query(t, db, "SELECT COUNT(*) FROM events WHERE person_id = 9"), row("0"))
		// Errors, never panics.
		for _, q := range []string{
			"CREATE TABLE t (a int)", "DROP TABLE profiles", "ALTER TABLE profiles ADD COLUMN x int", "INSERT INTO identities VALUES ('a','b',1,NOW())",
			"UPDATE events SET name = 'x'", "DELETE FROM events", "INSERT INTO profiles (tier) VALUES ('x')", "CREATE VIEW v AS SELECT 1",
			"UPDATE profiles SET person_id = 5 WHERE person_id = 6", "INSERT INTO events (person_id) VALUES (6)", "TRUNCATE profiles",
		} {
			if _, err := db.Exec(q); err == nil {
				t.Errorf("%s: no error", q)
			} else if !strings.Contains(err.Error(), "Error") {
				t.Logf("%s: %v", q, err)
			}
		}
	})

	t.Run("users", func(t *testing.T) {
		for _, q := range []string{
			"CREATE USER 'alice'@'%' IDENTIFIED BY 'pw-a'",
			"GRANT SELECT, INSERT, UPDATE ON demo.* TO 'alice'@'%'",
			"CREATE USER 'bob'@'%' IDENTIFIED WITH caching_sha2_password BY 'pw-b'",
			"GRANT SELECT ON other.* TO 'bob'@'%'",
		} {
			if _, err := db.Exec(q); err != nil {
				t.Fatalf("%s: %v", q, err)
			}
		}
		alice := ts.open(t, "alice", "pw-a", "demo")
		if dbs := fmt.Sprint(query(t, alice, "SHOW DATABASES")); strings.Contains(dbs, "other") || !strings.Contains(dbs, "demo") {
			t.Errorf("alice sees databases %s", dbs)
		}
		if _, err := queryErr(alice, "SELECT * FROM mysql.user"); err == nil {
			t.Error("alice reads mysql.user")
		}
		if _, err := queryErr(alice, "SELECT COUNT(*) FROM other.profiles"); err == nil {
			t.Error("alice reads workspace other")
		}
		if a, err := sql.Open("mysql", ts.dsn("alice", "pw-a", "other")); err == nil {
			if err := a.Ping(); err == nil {
				t.Error("alice connects to workspace other")
			}
			a.Close()
		}
		bob := ts.open(t, "bob", "pw-b", "other")
		query(t, bob, "SELECT COUNT(*) FROM profiles")
		if _, err := queryErr(bob, "SELECT COUNT(*) FROM demo.profiles"); err == nil {
			t.Error("bob reads workspace demo")
		}
		wrong := ts.open(t, "alice", "nope", "demo")
		if err := wrong.Ping(); err == nil {
			t.Error("wrong password accepted")
		}
		// Users survive a restart (persisted to DataDir).
		ts2 := startServer(t, eng, func(o *Options) { o.DataDir = ts.dir })
		if err := ts2.open(t, "alice", "pw-a", "demo").Ping(); err != nil {
			t.Errorf("alice after restart: %v", err)
		}
	})

	t.Run("tls", func(t *testing.T) {
		cfg := mysql.NewConfig()
		cfg.User, cfg.Passwd, cfg.Net, cfg.Addr, cfg.DBName = "root", testPassword, "tcp", ts.srv.Addr().String(), "demo"
		var state tls.ConnectionState
		cfg.TLS = &tls.Config{InsecureSkipVerify: true, VerifyConnection: func(cs tls.ConnectionState) error { state = cs; return nil }}
		c, err := mysql.NewConnector(cfg)
		if err != nil {
			t.Fatal(err)
		}
		d := sql.OpenDB(c)
		defer d.Close()
		var cipher string
		if err := d.QueryRow("SELECT 1").Scan(&cipher); err != nil {
			t.Fatal(err)
		}
		if state.Version < tls.VersionTLS12 || len(state.PeerCertificates) == 0 {
			t.Errorf("no TLS: %+v", state)
		}
		// Without TLS, native passwords still work.
		cfg.TLS, cfg.TLSConfig = nil, "false"
		c2, _ := mysql.NewConnector(cfg)
		d2 := sql.OpenDB(c2)
		defer d2.Close()
		if err := d2.Ping(); err != nil {
			t.Errorf("plain connection: %v", err)
		}
	})

	t.Run("cancel", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		_, err := db.QueryContext(ctx, "SELECT SLEEP(2)")
		if err == nil {
			t.Error("no error after cancel")
		}
	})
}

// sql2plan returns the analyzed plan of q.
func sql2plan(t *testing.T, ts *testServer, q string) string {
	return gsql.DebugString(analyze(t, ts.srv, "demo", q))
}
