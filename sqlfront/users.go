package sqlfront

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/dolthub/go-mysql-server/sql"
)

// usersFile is where CREATE USER / GRANT persist, in DataDir.
const usersFile = "mysql.db"

// filePersister writes GMS's serialized mysql database durably: temp file,
// fsync, rename, fsync of the directory.
type filePersister struct{ path string }

func (p filePersister) Persist(_ *sql.Context, data []byte) error {
	return writeFileAtomic(p.path, data, 0o600)
}

func writeFileAtomic(path string, data []byte, perm os.FileMode) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("cannot persist %s: %w", path, err)
	}
	tmp := f.Name()
	defer os.Remove(tmp)
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("cannot persist %s: %w", path, err)
	}
	if err := f.Chmod(perm); err != nil {
		f.Close()
		return fmt.Errorf("cannot persist %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("cannot persist %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("cannot persist %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("cannot persist %s: %w", path, err)
	}
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return nil
}

// setupUsers enables the mysql database (users and privileges) unless
// InsecureNoAuth: users created with CREATE USER are loaded from and
// persisted to DataDir; root is an ephemeral superuser whose password is
// the configured one, so the configuration stays its source of truth.
func (s *Server) setupUsers() error {
	db := s.gms.Analyzer.Catalog.MySQLDb
	if s.opts.InsecureNoAuth {
		db.SetEnabled(false)
		return nil
	}
	db.SetEnabled(true)
	ctx := sql.NewEmptyContext()
	if path := s.dataPath(usersFile); path != "" {
		data, err := os.ReadFile(path)
		switch {
		case errors.Is(err, fs.ErrNotExist):
		case err != nil:
			return fmt.Errorf("cannot read users: %w", err)
		default:
			if err := db.LoadData(ctx, data); err != nil {
				return fmt.Errorf("cannot load users from %s: %w", path, err)
			}
		}
		db.SetPersister(filePersister{path: path})
	}
	ed := db.Editor()
	defer ed.Close()
	db.AddEphemeralSuperUser(ed, "root", "%", s.opts.RootPassword)
	return nil
}
