package clienttest

import (
	"database/sql"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"

	"github.com/go-sql-driver/mysql"
)

// runGo runs the session with github.com/go-sql-driver/mysql through
// database/sql, in process: server-side prepared statements
// (interpolateParams=false), then once more with client-side interpolation.
func runGo(t *testing.T, s *server, db string) string {
	open := func(interpolate bool) *sql.DB {
		cfg := mysql.NewConfig()
		cfg.User, cfg.Passwd, cfg.Net, cfg.Addr, cfg.DBName = "root", password, "tcp", net.JoinHostPort(s.host, s.port), db
		cfg.TLSConfig = "skip-verify"
		cfg.InterpolateParams = interpolate
		c, err := mysql.NewConnector(cfg)
		if err != nil {
			t.Fatal(err)
		}
		d := sql.OpenDB(c)
		t.Cleanup(func() { d.Close() })
		return d
	}
	d := open(false)
	var out strings.Builder
	rows := func(key, q string, args ...any) {
		t.Helper()
		r, err := d.Query(q, args...)
		if err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		defer r.Close()
		cols, _ := r.Columns()
		var lines []string
		for r.Next() {
			vals := make([]sql.NullString, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := r.Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
			var row []string
			for _, v := range vals {
				if v.Valid {
					row = append(row, v.String)
				} else {
					row = append(row, "NULL")
				}
			}
			if key == "describe" {
				row = row[:2]
			}
			lines = append(lines, strings.Join(row, " "))
		}
		if err := r.Err(); err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&out, "%s: %s\n", key, strings.Join(lines, "|"))
	}
	rows("databases", "SHOW DATABASES")
	rows("tables", "SHOW TABLES")
	rows("describe", "DESCRIBE profiles")
	rows("count", "SELECT COUNT(*) FROM profiles WHERE country = 'US' AND age >= 18")
	rows("group", "SELECT `plan`, COUNT(*) FROM profiles WHERE age >= 18 GROUP BY `plan` ORDER BY `plan`")
	rows("limit", "SELECT person_id, country FROM profiles ORDER BY person_id LIMIT 5")
	st, err := d.Prepare("SELECT COUNT(*) FROM profiles WHERE country = ? AND age > ?")
	if err != nil {
		t.Fatal(err)
	}
	var n int
	if err := st.QueryRow("DE", 30).Scan(&n); err != nil {
		t.Fatal(err)
	}
	st.Close()
	fmt.Fprintf(&out, "prepared: %d\n", n)
	rows("prepared_row", "SELECT person_id, `plan`, age FROM profiles WHERE person_id = ?", 3)
	if err := open(true).QueryRow("SELECT COUNT(*) FROM profiles WHERE country = ? AND age > ?", "DE", 30).Scan(&n); err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(&out, "prepared_interpolated: %d\n", n)
	res, err := d.Exec("INSERT INTO profiles (email, country, `plan`, age) VALUES ('new@client.example', 'ZZ', 'pro', 42)")
	if err != nil {
		t.Fatal(err)
	}
	affected, _ := res.RowsAffected()
	fmt.Fprintf(&out, "insert: %d\n", affected)
	rows("inserted", "SELECT COUNT(*), MAX(age) FROM profiles WHERE country = 'ZZ'")
	return out.String()
}

// TestPrepareUnsupported: a statement GMS cannot prepare with
// COM_STMT_PREPARE (a text EXECUTE, as the MariaDB ODBC driver sends it)
// gets MySQL's ER_UNSUPPORTED_PS, not a dropped connection.
func TestPrepareUnsupported(t *testing.T) {
	s := startServer(t)
	cfg := mysql.NewConfig()
	cfg.User, cfg.Passwd, cfg.Net, cfg.Addr, cfg.DBName = "root", password, "tcp", net.JoinHostPort(s.host, s.port), "golang"
	cfg.TLSConfig = "skip-verify"
	c, err := mysql.NewConnector(cfg)
	if err != nil {
		t.Fatal(err)
	}
	d := sql.OpenDB(c)
	defer d.Close()
	d.SetMaxOpenConns(1)
	if _, err := d.Exec("PREPARE s FROM 'SELECT COUNT(*) FROM profiles WHERE age > ?'"); err != nil {
		t.Fatal(err)
	}
	_, err = d.Prepare("EXECUTE s USING @a")
	var me *mysql.MySQLError
	if !errors.As(err, &me) || me.Number != 1295 {
		t.Fatalf("prepare EXECUTE: %v, want error 1295", err)
	}
	var n int
	if err := d.QueryRow("SELECT 1").Scan(&n); err != nil || n != 1 {
		t.Fatalf("after the error: %d, %v", n, err)
	}
}
