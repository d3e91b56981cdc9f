package sqlfront

import (
	"errors"
	"strings"

	"github.com/dolthub/go-mysql-server/sql"

	"github.com/cohortdb/cohort/engine"
)

// provider exposes the engine's workspaces as databases, created and
// dropped as the engine's set changes.
type provider struct {
	srv *Server
}

var _ sql.DatabaseProvider = (*provider)(nil)

func (p *provider) Database(_ *sql.Context, name string) (sql.Database, error) {
	ws, err := p.srv.eng.Workspace(strings.ToLower(name))
	if err != nil {
		return nil, sql.ErrDatabaseNotFound.New(name)
	}
	return &database{srv: p.srv, ws: ws}, nil
}

func (p *provider) HasDatabase(_ *sql.Context, name string) bool {
	_, err := p.srv.eng.Workspace(strings.ToLower(name))
	return err == nil
}

func (p *provider) AllDatabases(*sql.Context) []sql.Database {
	names := p.srv.eng.Workspaces()
	out := make([]sql.Database, 0, len(names))
	for _, n := range names {
		if ws, err := p.srv.eng.Workspace(n); err == nil {
			out = append(out, &database{srv: p.srv, ws: ws})
		}
	}
	return out
}

// database is one workspace.
type database struct {
	srv *Server
	ws  *engine.Workspace
}

var (
	_ sql.Database                = (*database)(nil)
	_ sql.ViewDatabase            = (*database)(nil)
	_ sql.CollatedDatabase        = (*database)(nil)
	_ sql.TableDropper            = (*database)(nil)
	_ sql.TableCreator            = (*database)(nil)
	_ sql.TableRenamer            = (*database)(nil)
	_ sql.TriggerDatabase         = (*database)(nil)
	_ sql.StoredProcedureDatabase = (*database)(nil)
)

var tableNames = []string{engine.Events, engine.Identities, engine.Profiles}

func (d *database) Name() string { return d.ws.Name() }

func (d *database) GetTableInsensitive(ctx *sql.Context, name string) (sql.Table, bool, error) {
	name = strings.ToLower(name)
	for _, n := range tableNames {
		if n == name {
			return newTable(ctx, d, n), true, nil
		}
	}
	if name == HistoryTable && d.srv.opts.History != nil {
		return &historyTable{db: d}, true, nil
	}
	if name == MergesTable {
		return &mergesTable{db: d}, true, nil
	}
	if t := d.segmentTable(name); t != nil { // segment_tables.go
		return t, true, nil
	}
	if t := d.segmentHistoryTable(name); t != nil { // segment_history.go
		return t, true, nil
	}
	return nil, false, nil
}

func (d *database) GetTableNames(*sql.Context) ([]string, error) {
	names := append([]string(nil), tableNames...)
	if d.srv.opts.History != nil {
		names = append(names, HistoryTable)
	}
	names = append(names, MergesTable)
	names = append(names, d.segmentTableNames()...)
	names = append(names, d.segmentHistoryTableNames()...)
	return names, nil
}

// errReadOnlySchema answers DDL: the schema is the engine's.
func errReadOnlySchema(what string) error {
	return sql.ErrUnsupportedFeature.New(what + ": the tables of a Cohort workspace are defined by the engine (new attributes appear as columns when first written)")
}

func (d *database) CreateTable(*sql.Context, string, sql.PrimaryKeySchema, sql.CollationID, string) error {
	return errReadOnlySchema("CREATE TABLE")
}
func (d *database) DropTable(*sql.Context, string) error { return errReadOnlySchema("DROP TABLE") }
func (d *database) RenameTable(*sql.Context, string, string) error {
	return errReadOnlySchema("RENAME TABLE")
}

// Views: GMS requires a ViewDatabase for every database once users are
// enabled. The views of a workspace are its segments (segment_views.go);
// without Options.Segments there are none.
func (d *database) CreateView(ctx *sql.Context, name, selectStatement, _ string) error {
	return d.createSegmentView(ctx, name, selectStatement)
}
func (d *database) DropView(ctx *sql.Context, name string) error {
	return d.dropSegmentView(ctx, name)
}
func (d *database) GetViewDefinition(ctx *sql.Context, name string) (sql.ViewDefinition, bool, error) {
	return d.segmentView(ctx, name)
}
func (d *database) AllViews(ctx *sql.Context) ([]sql.ViewDefinition, error) {
	return d.segmentViews(ctx)
}

func (d *database) GetCollation(*sql.Context) sql.CollationID { return Collation }
func (d *database) SetCollation(*sql.Context, sql.CollationID) error {
	return errors.New("cannot change the collation of a Cohort workspace")
}

// Triggers and stored procedures: none, but information_schema asks.
func (d *database) GetTriggers(*sql.Context) ([]sql.TriggerDefinition, error) { return nil, nil }
func (d *database) CreateTrigger(*sql.Context, sql.TriggerDefinition) error {
	return sql.ErrUnsupportedFeature.New("CREATE TRIGGER in a Cohort workspace")
}
func (d *database) DropTrigger(*sql.Context, string) error {
	return sql.ErrUnsupportedFeature.New("DROP TRIGGER in a Cohort workspace")
}
func (d *database) GetStoredProcedure(*sql.Context, string) (sql.StoredProcedureDetails, bool, error) {
	return sql.StoredProcedureDetails{}, false, nil
}
func (d *database) GetStoredProcedures(*sql.Context) ([]sql.StoredProcedureDetails, error) {
	return nil, nil
}
func (d *database) SaveStoredProcedure(*sql.Context, sql.StoredProcedureDetails) error {
	return sql.ErrUnsupportedFeature.New("CREATE PROCEDURE in a Cohort workspace")
}
func (d *database) DropStoredProcedure(*sql.Context, string) error {
	return sql.ErrUnsupportedFeature.New("DROP PROCEDURE in a Cohort workspace")
}
