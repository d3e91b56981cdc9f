package main

import (
	"database/sql"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/go-sql-driver/mysql"
)

// TestServeMySQL: `cohort serve` answers SQL on mysql_addr with the root
// password it generated into the data directory, over TLS.
func TestServeMySQL(t *testing.T) {
	cfg := testConfig(t)
	s, stop := start(t, cfg, nil)
	defer func() {
		if err := stop(); err != nil {
			t.Error(err)
		}
	}()
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
	defer db.Close()
	var n int
	if err := db.QueryRow("SELECT COUNT(*) FROM profiles").Scan(&n); err != nil {
		t.Fatal(err)
	}
	mc.Passwd = "wrong"
	bad, _ := sql.Open("mysql", mc.FormatDSN())
	defer bad.Close()
	if err := bad.Ping(); err == nil {
		t.Error("a wrong root password is accepted")
	}
}
