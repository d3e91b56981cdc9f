package sqlfront

import (
	"errors"
	"fmt"
	"strings"

	"github.com/dolthub/go-mysql-server/sql"
	"github.com/dolthub/go-mysql-server/sql/expression"

	"github.com/cohortdb/cohort/engine"
	"github.com/cohortdb/cohort/engine/column"
	"github.com/cohortdb/cohort/engine/identity"
)

// Writes. INSERT and UPDATE on profiles become identify operations, INSERT
// on events track operations, DELETE on profiles erases persons (profile,
// events, identities). A statement's operations go to the Applier as one
// batch when the statement completes.
//
// The identifier of a written row is, in order: person_id (an existing
// person, by one of its identifiers), then the first non-NULL of the
// columns user_id, email, anonymous_id, phone (attributes of that name).
// A NULL in an INSERT means "not given": INSERT never clears an attribute;
// UPDATE ... SET attr = NULL does. Columns must exist: new attributes come
// from the ingest API (or the first identify that sets them).

var (
	_ sql.InsertableTable = (*table)(nil)
	_ sql.UpdatableTable  = (*table)(nil)
	_ sql.DeletableTable  = (*table)(nil)
)

// identifierColumns are the attribute columns that identify a person, in
// order of preference.
var identifierColumns = []string{identity.TypeUserID, identity.TypeEmail, identity.TypeAnonymousID, identity.TypePhone}

func (t *table) Inserter(*sql.Context) sql.RowInserter { return &editor{t: t, kind: "INSERT"} }
func (t *table) Updater(*sql.Context) sql.RowUpdater   { return &editor{t: t, kind: "UPDATE"} }
func (t *table) Deleter(*sql.Context) sql.RowDeleter   { return &editor{t: t, kind: "DELETE"} }

// editor collects a statement's operations.
type editor struct {
	t    *table
	kind string
	ops  []engine.Op
}

func (e *editor) StatementBegin(*sql.Context) { e.ops = e.ops[:0] }
func (e *editor) DiscardChanges(*sql.Context, error) error {
	e.ops = e.ops[:0]
	return nil
}

func (e *editor) StatementComplete(ctx *sql.Context) error { return e.flush(ctx) }
func (e *editor) Close(ctx *sql.Context) error             { return e.flush(ctx) }

func (e *editor) flush(ctx *sql.Context) error {
	if len(e.ops) == 0 {
		return nil
	}
	ops := e.ops
	e.ops = nil
	res, err := e.t.db.srv.opts.Applier.Apply(ctx, e.t.db.Name(), ops)
	unpin(ctx)
	if err != nil {
		return fmt.Errorf("cannot apply %s on %s.%s: %w", e.kind, e.t.db.Name(), e.t.name, err)
	}
	if len(res.Rejected) > 0 {
		r := res.Rejected[0]
		return fmt.Errorf("%s on %s.%s: %d of %d rows rejected (%d applied); row %d: %w",
			e.kind, e.t.db.Name(), e.t.name, len(res.Rejected), len(ops), res.Applied, r.Index+1, r.Err)
	}
	return nil
}

func (e *editor) readOnly() error {
	return sql.ErrUnsupportedFeature.New(fmt.Sprintf("%s on %s (profiles take INSERT, UPDATE and DELETE; events take INSERT)", e.kind, e.t.name))
}

// value returns column i of row (a full-schema row) as an engine value.
func (e *editor) value(ctx *sql.Context, row sql.Row, d *column.ColumnDef) (column.Value, error) {
	x := row[d.Index]
	if x == nil {
		return column.Value{}, nil
	}
	v, ok := fromSQL(x, d.Type)
	if !ok {
		return column.Value{}, fmt.Errorf("cannot write %s.%s: %v is not a %s", e.t.name, d.Name, x, describeType(d.Type))
	}
	return v, nil
}

// ids returns the identifiers of the person a row is written for.
func (e *editor) ids(ctx *sql.Context, row sql.Row) ([]identity.ID, error) {
	snap := snapshot(ctx, e.t.db.ws)
	if d, ok := e.t.es.Lookup(engine.ColPersonID); ok && row[d.Index] != nil {
		v, ok := fromSQL(row[d.Index], column.TypeInt)
		if !ok {
			return nil, fmt.Errorf("cannot write %s: person_id %v is not an integer", e.t.name, row[d.Index])
		}
		if v.I != 0 {
			if v.I < 0 || v.I > 1<<32-1 {
				return nil, fmt.Errorf("cannot write %s: no person %d", e.t.name, v.I)
			}
			ids := snap.Graph.Identifiers(uint32(v.I))
			if len(ids) == 0 {
				return nil, fmt.Errorf("cannot write %s: no person %d", e.t.name, v.I)
			}
			return ids[:1], nil
		}
	}
	for _, name := range identifierColumns {
		d, ok := e.t.es.Lookup(name)
		if !ok || d.Type != column.TypeString || row[d.Index] == nil {
			continue
		}
		s, ok := row[d.Index].(string)
		if !ok || s == "" {
			continue
		}
		return []identity.ID{{Type: name, Value: s}}, nil
	}
	return nil, fmt.Errorf("cannot write %s: the row names no person: give person_id or one of %s", e.t.name, strings.Join(identifierColumns, ", "))
}

func (e *editor) checkRow(row sql.Row) error {
	if len(row) != len(e.t.es.Cols) {
		return fmt.Errorf("cannot write %s: row has %d columns, the table %d", e.t.name, len(row), len(e.t.es.Cols))
	}
	return nil
}

// profileManaged are the profile columns the engine maintains.
func profileManaged(name string) bool {
	switch name {
	case engine.ColPersonID, engine.ColUpdatedAt, engine.ColFirstSeen, engine.ColLastSeen:
		return true
	}
	return false
}

func (e *editor) Insert(ctx *sql.Context, row sql.Row) error {
	if err := e.checkRow(row); err != nil {
		return err
	}
	at := ctx.QueryTime().UnixMicro()
	switch e.t.name {
	case engine.Profiles:
		ids, err := e.ids(ctx, row)
		if err != nil {
			return err
		}
		op := engine.Op{Kind: engine.OpIdentify, IDs: ids, At: at, Source: "sql"}
		for _, d := range e.t.es.Cols {
			if profileManaged(d.Name) || row[d.Index] == nil {
				continue
			}
			v, err := e.value(ctx, row, d)
			if err != nil {
				return err
			}
			if d.Name == engine.ColCreatedAt {
				continue // set by the engine on creation
			}
			op.Traits = append(op.Traits, engine.Field{Name: d.Name, Value: v})
		}
		e.ops = append(e.ops, op)
		return nil
	case engine.Events:
		ids, err := e.ids(ctx, row)
		if err != nil {
			return err
		}
		op := engine.Op{Kind: engine.OpTrack, IDs: ids, At: at, Source: "sql"}
		for _, d := range e.t.es.Cols {
			if row[d.Index] == nil {
				continue
			}
			v, err := e.value(ctx, row, d)
			if err != nil {
				return err
			}
			switch d.Name {
			case engine.ColEventID:
				if v.I != 0 {
					return fmt.Errorf("cannot insert into events: event_id is assigned by Cohort")
				}
			case engine.ColPersonID, engine.ColReceivedAt:
			case engine.ColName:
				op.Event = v.S
			case engine.ColTS:
				op.At = v.I
			default:
				op.Props = append(op.Props, engine.Field{Name: d.Name, Value: v})
			}
		}
		if op.Event == "" {
			return errors.New("cannot insert into events: name is required")
		}
		e.ops = append(e.ops, op)
		return nil
	}
	return e.readOnly()
}

func (e *editor) Update(ctx *sql.Context, old, new sql.Row) error {
	if e.t.name != engine.Profiles {
		return e.readOnly()
	}
	if err := e.checkRow(old); err != nil {
		return err
	}
	if err := e.checkRow(new); err != nil {
		return err
	}
	ids, err := e.ids(ctx, old)
	if err != nil {
		return err
	}
	op := engine.Op{Kind: engine.OpIdentify, IDs: ids, At: ctx.QueryTime().UnixMicro(), Source: "sql"}
	for _, d := range e.t.es.Cols {
		a, b := old[d.Index], new[d.Index]
		same, err := d2sqlEqual(ctx, e.t.full[d.Index].Type, a, b)
		if err != nil {
			return err
		}
		if same {
			continue
		}
		if profileManaged(d.Name) || d.Name == engine.ColCreatedAt {
			return fmt.Errorf("cannot update profiles.%s: it is maintained by Cohort", d.Name)
		}
		v, err := e.value(ctx, new, d)
		if err != nil {
			return err
		}
		op.Traits = append(op.Traits, engine.Field{Name: d.Name, Value: v})
	}
	if len(op.Traits) > 0 {
		e.ops = append(e.ops, op)
	}
	return nil
}

func d2sqlEqual(ctx *sql.Context, t sql.Type, a, b any) (bool, error) {
	if a == nil || b == nil {
		return a == nil && b == nil, nil
	}
	c, err := t.Compare(ctx, a, b)
	return c == 0, err
}

func (e *editor) Delete(ctx *sql.Context, row sql.Row) error {
	if e.t.name != engine.Profiles {
		return e.readOnly()
	}
	if err := e.checkRow(row); err != nil {
		return err
	}
	d, _ := e.t.es.Lookup(engine.ColPersonID)
	v, ok := fromSQL(row[d.Index], column.TypeInt)
	if !ok || v.I <= 0 {
		return fmt.Errorf("cannot delete from profiles: bad person_id %v", row[d.Index])
	}
	ids := snapshot(ctx, e.t.db.ws).Graph.Identifiers(uint32(v.I))
	if len(ids) == 0 {
		return nil // already gone
	}
	e.ops = append(e.ops, engine.Op{Kind: engine.OpDelete, IDs: ids, At: ctx.QueryTime().UnixMicro(), Source: "sql"})
	return nil
}

// pkDefault is the default of profiles.person_id and events.event_id in
// INSERTs: 0, "resolve the person from the row's identifiers" / "assigned".
var pkDefault = func() *sql.ColumnDefaultValue {
	d, err := sql.NewColumnDefaultValue(expression.NewLiteral(int64(0), typeInt), typeInt, true, false, false)
	if err != nil {
		panic("BUG: " + err.Error())
	}
	return d
}()
