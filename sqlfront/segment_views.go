package sqlfront

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/dolthub/go-mysql-server/sql"
	"github.com/dolthub/go-mysql-server/sql/analyzer"
	"github.com/dolthub/go-mysql-server/sql/expression"
	"github.com/dolthub/go-mysql-server/sql/expression/function/aggregation"
	"github.com/dolthub/go-mysql-server/sql/mysql_db"
	"github.com/dolthub/go-mysql-server/sql/plan"
	"github.com/dolthub/go-mysql-server/sql/transform"
	"github.com/dolthub/go-mysql-server/sql/types"
	ast "github.com/dolthub/vitess/go/vt/sqlparser"

	"github.com/cohortdb/cohort/engine/segment"
)

// Segments as views. With Options.Segments, every workspace database is a
// sql.ViewDatabase backed by the workspace's segment manager: a view is a
// segment, its SELECT the segment's SQL. GMS reads view definitions from
// the database on every statement that names them (it keeps no cache for
// a ViewDatabase), so a view defined on one connection is visible to all
// at once, and after a restart once the server's owner re-defines the
// stored segments (CompileSegment + Manager.Define with the stored
// version).
//
//	CREATE VIEW buyers AS SELECT person_id FROM profiles WHERE ...
//	CREATE OR REPLACE VIEW buyers AS ...   -- a new version
//	DROP VIEW buyers
//
// GMS executes CREATE OR REPLACE VIEW as DROP VIEW then CREATE VIEW, which
// would lose the segment's version history and, when the new definition
// is invalid, the segment itself: segmentDDLRule replaces CREATE VIEW over
// a Cohort database by a segmentDDL node that compiles the definition and
// defines (or replaces) the segment in one step.

// Analyzer rule ids of the segment rules (above GMS's and Cohort's others).
const (
	ruleSegmentDDL     analyzer.RuleId = 10101
	ruleViewCount      analyzer.RuleId = 10102
	ruleSegmentMembers analyzer.RuleId = 10103
)

// segmentRules adds the analyzer rules of segments (views, tables).
func (s *Server) segmentRules(b *analyzer.Builder) *analyzer.Builder {
	b = b.AddPreAnalyzeRule(ruleSegmentDDL, s.segmentDDLRule)
	if !s.opts.DisablePushdown {
		b = b.AddPostAnalyzeRule(ruleViewCount, s.viewCountRule).
			AddPostAnalyzeRule(ruleSegmentMembers, s.segmentMembersRule) // segment_tables.go
	}
	return b
}

// DefineSegment compiles query (CompileSegment) and defines, or replaces
// with a new version, the segment name of workspace. The segment's SQL is
// query as given: that is what Info.SQL (and so the manager's OnDefine)
// carries, and what the server's owner passes back to CompileSegment when
// it restores stored segments at startup.
func (s *Server) DefineSegment(ctx context.Context, workspace, name, query string) (segment.Info, error) {
	return s.defineSegment(ctx, workspace, name, query, true)
}

// defineSegment defines name; without replace it fails with
// segment.ErrExists when name is defined already.
func (s *Server) defineSegment(ctx context.Context, workspace, name, query string, replace bool) (segment.Info, error) {
	if s.opts.Segments == nil {
		return segment.Info{}, errors.New("cannot define segment: segments are not enabled on the SQL server")
	}
	ws, err := s.eng.Workspace(strings.ToLower(workspace))
	if err != nil {
		return segment.Info{}, fmt.Errorf("cannot define segment %q: %w", name, err)
	}
	cond, err := s.CompileSegment(ctx, ws.Name(), query)
	if err != nil {
		return segment.Info{}, err
	}
	info, err := s.opts.Segments.Manager(ws).Define(ctx, segment.Definition{Name: name, SQL: query, Cond: cond, Create: !replace})
	if err != nil {
		return segment.Info{}, err
	}
	return info, nil
}

// segmentDDLRule turns CREATE [OR REPLACE] VIEW over a Cohort database
// into a segmentDDL.
func (s *Server) segmentDDLRule(_ *sql.Context, _ *analyzer.Analyzer, n sql.Node, _ *plan.Scope, _ analyzer.RuleSelector, _ *sql.QueryFlags) (sql.Node, transform.TreeIdentity, error) {
	cv, ok := n.(*plan.CreateView)
	if !ok || s.opts.Segments == nil {
		return n, transform.SameTree, nil
	}
	d, ok := unwrapDatabase(cv.Database()).(*database)
	if !ok {
		return n, transform.SameTree, nil
	}
	if cv.Definition == nil {
		return n, transform.SameTree, nil
	}
	if len(cv.Definition.ColumnNames) > 0 {
		return nil, transform.SameTree, invalidSegment("a segment view has one column, person_id: a column list is not supported")
	}
	return &segmentDDL{db: d, name: cv.Name, text: cv.Definition.TextDefinition, replace: cv.IsReplace}, transform.NewTree, nil
}

func unwrapDatabase(db sql.Database) sql.Database {
	if p, ok := db.(mysql_db.PrivilegedDatabase); ok {
		return p.Unwrap()
	}
	return db
}

// segmentDDL defines or replaces a segment from CREATE [OR REPLACE] VIEW.
type segmentDDL struct {
	db      *database
	name    string
	text    string
	replace bool
}

var _ sql.ExecSourceRel = (*segmentDDL)(nil)

func (n *segmentDDL) Resolved() bool       { return true }
func (n *segmentDDL) IsReadOnly() bool     { return false }
func (n *segmentDDL) Schema() sql.Schema   { return types.OkResultSchema }
func (n *segmentDDL) Children() []sql.Node { return nil }
func (n *segmentDDL) WithChildren(children ...sql.Node) (sql.Node, error) {
	if len(children) != 0 {
		return nil, sql.ErrInvalidChildrenNumber.New(n, len(children), 0)
	}
	return n, nil
}
func (n *segmentDDL) String() string {
	if n.replace {
		return fmt.Sprintf("CreateOrReplaceSegmentView(%s.%s)", n.db.Name(), n.name)
	}
	return fmt.Sprintf("CreateSegmentView(%s.%s)", n.db.Name(), n.name)
}

func (n *segmentDDL) RowIter(ctx *sql.Context, _ sql.Row) (sql.RowIter, error) {
	if err := n.db.srv.defineView(ctx, n.db, n.name, n.text, n.replace); err != nil {
		return nil, err
	}
	return sql.RowsToRowIter(sql.NewRow(types.NewOkResult(0))), nil
}

// defineView creates (or, with replace, replaces) the segment view name.
func (s *Server) defineView(ctx *sql.Context, d *database, name, text string, replace bool) error {
	reg := s.opts.Segments
	if reg == nil {
		return sql.ErrUnsupportedFeature.New("CREATE VIEW in a Cohort workspace (segments are not enabled)")
	}
	names, err := d.GetTableNames(ctx)
	if err != nil {
		return err
	}
	for _, t := range names {
		if strings.EqualFold(t, name) {
			return sql.ErrTableAlreadyExists.New(name)
		}
	}
	// The manager checks "does it exist" in the same step as the
	// definition, so concurrent creators (SQL or API) cannot both win.
	_, err = s.defineSegment(ctx, d.Name(), name, text, replace)
	if errors.Is(err, segment.ErrExists) {
		return sql.ErrExistingView.New(d.Name(), name)
	}
	return err
}

// The ViewDatabase methods of database (catalog.go) delegate here.

func (d *database) createSegmentView(ctx *sql.Context, name, selectStatement string) error {
	return d.srv.defineView(ctx, d, name, selectStatement, false)
}

func (d *database) dropSegmentView(ctx *sql.Context, name string) error {
	m, ok := d.manager()
	if !ok {
		return sql.ErrViewDoesNotExist.New(d.Name(), name)
	}
	if err := m.Drop(ctx, name); err != nil {
		if errors.Is(err, segment.ErrNotFound) {
			return sql.ErrViewDoesNotExist.New(d.Name(), name)
		}
		return err
	}
	return nil
}

func (d *database) segmentView(_ *sql.Context, name string) (sql.ViewDefinition, bool, error) {
	m, ok := d.manager()
	if !ok {
		return sql.ViewDefinition{}, false, nil
	}
	info, ok := m.Get(name)
	if !ok {
		return sql.ViewDefinition{}, false, nil
	}
	return d.srv.viewDefinition(d.ws.Name(), info), true, nil
}

func (d *database) segmentViews(*sql.Context) ([]sql.ViewDefinition, error) {
	m, ok := d.manager()
	if !ok {
		return nil, nil
	}
	list := m.List()
	out := make([]sql.ViewDefinition, len(list))
	for i, info := range list {
		out[i] = d.srv.viewDefinition(d.ws.Name(), info)
	}
	return out, nil
}

// viewDefinition is a segment as GMS sees a view. Its text is the
// segment's SQL with every table qualified by the workspace, as MySQL
// shows view definitions: the view then reads the same tables whatever
// the current database of the statement that parses it (information_schema
// parses every view in the session's database).
func (s *Server) viewDefinition(ws string, info segment.Info) sql.ViewDefinition {
	text := s.viewText(ws, info.SQL)
	return sql.ViewDefinition{
		Name:                info.Name,
		TextDefinition:      text,
		CreateViewStatement: "CREATE VIEW `" + info.Name + "` AS " + text,
		SqlMode:             sql.DefaultSqlMode,
	}
}

func (s *Server) viewText(ws, query string) string {
	key := ws + "\x00" + query
	if v, ok := s.segViews.Load(key); ok {
		return v.(string)
	}
	text := qualifyTables(ws, query)
	s.segViews.Store(key, text)
	return text
}

// qualifyTables returns query with every table name qualified by ws, or
// query itself if it does not parse or uses WITH (whose names are not
// tables).
func qualifyTables(ws, query string) string {
	stmt, err := ast.Parse(strings.TrimRight(strings.TrimSpace(query), "; \t\n"))
	if err != nil {
		return query
	}
	cte := false
	_ = ast.Walk(func(n ast.SQLNode) (bool, error) {
		if w, ok := n.(*ast.With); ok && w != nil {
			cte = true
		}
		return !cte, nil
	}, stmt)
	if cte {
		return query
	}
	_ = ast.Walk(func(n ast.SQLNode) (bool, error) {
		if ate, ok := n.(*ast.AliasedTableExpr); ok {
			if tn, ok := ate.Expr.(ast.TableName); ok && tn.DbQualifier.IsEmpty() {
				tn.DbQualifier = ast.NewTableIdent(ws)
				ate.Expr = tn
			}
		}
		return true, nil
	}, stmt)
	text := ast.String(stmt)
	if _, err := ast.Parse(text); err != nil {
		return query
	}
	return text
}

// viewCountRule lets COUNT(*) over a view (or any derived table) that
// projects columns of one pushed-down Cohort scan be answered by the
// engine: COUNT(*) of a projection is COUNT(*) of the scan, which
// aggregateRule then computes from the selection bitmap instead of GMS
// counting boxed rows. It runs before aggregateRule.
func (s *Server) viewCountRule(_ *sql.Context, _ *analyzer.Analyzer, n sql.Node, scope *plan.Scope, _ analyzer.RuleSelector, _ *sql.QueryFlags) (sql.Node, transform.TreeIdentity, error) {
	if !scope.IsEmpty() {
		return n, transform.SameTree, nil
	}
	return transform.Node(n, func(n sql.Node) (sql.Node, transform.TreeIdentity, error) {
		gb, ok := n.(*plan.GroupBy)
		if !ok || len(gb.GroupByExprs) > 0 || len(gb.SelectedExprs) == 0 {
			return n, transform.SameTree, nil
		}
		for _, e := range gb.SelectedExprs {
			c, ok := e.(*aggregation.Count)
			if !ok {
				return n, transform.SameTree, nil
			}
			if _, ok := c.Child.(*expression.Literal); !ok {
				return n, transform.SameTree, nil
			}
		}
		sa, ok := gb.Child.(*plan.SubqueryAlias)
		if !ok {
			return n, transform.SameTree, nil
		}
		child := sa.Child
		if p, ok := child.(*plan.Project); ok {
			for _, e := range p.Projections {
				if _, ok := e.(*expression.GetField); !ok {
					return n, transform.SameTree, nil
				}
			}
			child = p.Child
		}
		scan := child
		if ta, ok := scan.(*plan.TableAlias); ok {
			scan = ta.Child
		}
		switch x := scan.(type) {
		case *plan.IndexedTableAccess:
			if _, ok := x.Table.(*table); !ok {
				return n, transform.SameTree, nil
			}
		case *plan.ResolvedTable:
			if _, ok := x.Table.(*table); !ok {
				return n, transform.SameTree, nil
			}
		default:
			return n, transform.SameTree, nil
		}
		ng, err := gb.WithChildren(child)
		if err != nil {
			return n, transform.SameTree, err
		}
		return ng, transform.NewTree, nil
	})
}
