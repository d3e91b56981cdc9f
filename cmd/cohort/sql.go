package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"

	"github.com/cohortdb/cohort/sqlfront"
)

// rootPasswordFile holds the generated MySQL root password when
// root_password is not set.
const rootPasswordFile = "mysql_root_password"

// sqlParts is the MySQL endpoint of `cohort serve`.
type sqlParts struct {
	srv      *sqlfront.Server
	password string // root password ("" with insecure_no_auth)
	from     string // where the password comes from
}

// openSQL creates the MySQL endpoint (nil when mysql_addr is empty).
func (s *server) openSQL() (*sqlParts, error) {
	if s.cfg.MySQLAddr == "" {
		return nil, nil
	}
	p := &sqlParts{}
	if !s.cfg.InsecureNoAuth {
		var err error
		if p.password, p.from, err = rootPassword(s.cfg.RootPassword, s.dataDir); err != nil {
			return nil, err
		}
	}
	var app sqlfront.Applier // nil: writes apply to the engine directly
	if s.ingest != nil {
		app = logApplier{svc: s.ingest.svc} // durable: through the ingest log
	}
	srv, err := sqlfront.New(s.eng, sqlfront.Options{
		Addr:             s.cfg.MySQLAddr,
		RootPassword:     p.password,
		InsecureNoAuth:   s.cfg.InsecureNoAuth,
		TLSCert:          s.cfg.TLSCert,
		TLSKey:           s.cfg.TLSKey,
		DataDir:          s.dataDir,
		MaxConnections:   uint64(s.cfg.MaxConnections),
		ConnReadTimeout:  s.cfg.MySQLReadTimeout,
		ConnWriteTimeout: s.cfg.MySQLWriteTimeout,
		Applier:          app,
		History:          s.sqlHistory(),      // history.go
		EventArchive:     s.sqlEventArchive(), // window.go
		Segments:         s.sqlSegments(),     // segments_sql.go
		SegmentSizes:     s.sqlSegmentSizes(), // segments_sql.go
		MembersAsOf:      s.sqlMembersAsOf(),  // segments_sql.go
		Logger:           s.log,
		Version:          "8.0.33-cohort-" + version,
	})
	if err != nil {
		return nil, fmt.Errorf("cannot start the MySQL endpoint (mysql_addr): %w", err)
	}
	p.srv = srv
	return p, nil
}

// rootPassword returns the configured root password, or the one in
// <dataDir>/mysql_root_password, creating that file with a random one.
func rootPassword(configured, dataDir string) (pw, from string, _ error) {
	if configured != "" {
		return configured, "root_password setting", nil
	}
	path := filepath.Join(dataDir, rootPasswordFile)
	b, err := os.ReadFile(path)
	switch {
	case err == nil:
		if pw := strings.TrimSpace(string(b)); pw != "" {
			return pw, path, nil
		}
	case !errors.Is(err, fs.ErrNotExist):
		return "", "", fmt.Errorf("cannot read the MySQL root password: %w", err)
	}
	var r [12]byte
	if _, err := rand.Read(r[:]); err != nil {
		return "", "", fmt.Errorf("cannot generate a MySQL root password: %w", err)
	}
	pw = base64.RawURLEncoding.EncodeToString(r[:])
	if err := os.WriteFile(path, []byte(pw+"\n"), 0o600); err != nil {
		return "", "", fmt.Errorf("cannot write the MySQL root password: %w", err)
	}
	return pw, path + " (generated)", nil
}

func (s *server) startSQL() {
	if s.sql != nil {
		_ = s.sql.srv.Start()
	}
}

func (s *server) closeSQL(ctx context.Context) error {
	if s.sql == nil {
		return nil
	}
	return s.sql.srv.Shutdown(ctx)
}

// sqlBanner is the banner line of the MySQL endpoint: a command line that
// works with the mysql/mariadb client (TLS on, the server certificate is
// self-signed unless tls_cert is set).
func (s *server) sqlBanner() string {
	if s.sql == nil {
		return "off (mysql_addr is empty)"
	}
	host, port, err := net.SplitHostPort(dialable(s.sql.srv.Addr().String()))
	if err != nil {
		host, port = s.cfg.MySQLAddr, "?"
	}
	pw := " -p"
	note := "password: " + s.sql.from
	if s.cfg.InsecureNoAuth {
		pw, note = "", "insecure_no_auth: any user and password"
	} else if s.cfg.RootPassword == "" {
		pw = " -p" + s.sql.password
	}
	ssl := " --ssl"
	if s.cfg.TLSCert == "" {
		ssl = " --ssl --skip-ssl-verify-server-cert"
	}
	return fmt.Sprintf("mysql -h %s -P %s -u root%s%s %s   (%s)", host, port, pw, ssl, demoWorkspace, note)
}
