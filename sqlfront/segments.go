package sqlfront

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/dolthub/go-mysql-server/sql"
	"github.com/dolthub/go-mysql-server/sql/expression"
	"github.com/dolthub/go-mysql-server/sql/plan"
	"github.com/dolthub/go-mysql-server/sql/planbuilder"
	ast "github.com/dolthub/vitess/go/vt/sqlparser"

	"github.com/cohortdb/cohort/engine"
	"github.com/cohortdb/cohort/engine/column"
	"github.com/cohortdb/cohort/engine/expr"
)

// ErrInvalidSegment marks every rejection of a segment definition by
// CompileSegment (bad SQL, unknown columns, a shape or predicate the
// engine cannot evaluate): errors.Is(err, ErrInvalidSegment). The error's
// message is the parser's, the analyzer's or the reason of the rejection.
var ErrInvalidSegment = errors.New("invalid segment definition")

// segmentError is a rejected definition: its message, ErrInvalidSegment
// and the underlying cause (a GMS error kind, ...) for errors.Is/As.
type segmentError struct {
	msg   string
	cause error
}

func (e *segmentError) Error() string { return e.msg }
func (e *segmentError) Unwrap() []error {
	if e.cause == nil {
		return []error{ErrInvalidSegment}
	}
	return []error{ErrInvalidSegment, e.cause}
}

func invalidSegment(format string, args ...any) error {
	return &segmentError{msg: fmt.Sprintf(format, args...)}
}

func invalidSegmentErr(err error) error {
	var se *segmentError
	if errors.As(err, &se) {
		return err
	}
	return &segmentError{msg: err.Error(), cause: err}
}

// segmentHint tells what a segment definition can hold.
const segmentHint = "a segment is SELECT person_id FROM profiles WHERE <conditions>: comparisons, IN, BETWEEN, LIKE and IS NULL " +
	"on profile columns, person_id [NOT] IN (SELECT person_id FROM events WHERE ... [GROUP BY person_id HAVING COUNT(*)|SUM|MIN|MAX(col) op n]) " +
	"and [NOT] EXISTS over events, combined with AND, OR and NOT; relative time as <timestamp column> op NOW() ± INTERVAL n DAY|HOUR|MINUTE|SECOND|WEEK"

// CompileSegment compiles a segment definition, a query of workspace
//
//	SELECT person_id FROM profiles WHERE <profile predicates, behavioural
//	subqueries over events, AND / OR / NOT of them>
//
// into the engine condition the pushdown produces for its profiles scan.
// The query is parsed and analyzed by GMS in the workspace's database; it
// is accepted only if the engine evaluates the whole WHERE (no residual
// filter in GMS) and the outer query is a plain projection of person_id
// (no join, grouping, ordering or limit). Relative time (NOW() ± INTERVAL
// n unit, fixed-length units) stays relative: expr.TimeOffset with a zero
// At, moving with the segment manager's clock, and time windows over
// events become the Did's Since/Until. Rejections wrap ErrInvalidSegment
// and carry the parser's, the analyzer's or the reason's message.
func (s *Server) CompileSegment(ctx context.Context, workspace, query string) (engine.Cond, error) {
	c, err := s.compileSegment(ctx, workspace, query, true)
	if err != nil {
		return nil, err
	}
	return c, nil
}

// segmentCtx is the GMS context segment definitions are analyzed in: a
// session of the superuser (the definition's reads were authorized by the
// statement that brought it, or it comes from the server's own store) on
// the workspace's database.
func (s *Server) segmentCtx(ctx context.Context, ws string) *sql.Context {
	base := sql.NewBaseSessionWithClientServer("", sql.Client{User: "root", Address: "localhost"}, 0)
	sctx := sql.NewContext(ctx, sql.WithSession(newSession(base)))
	sctx.SetCurrentDatabase(ws)
	return sctx
}

func (s *Server) compileSegment(ctx context.Context, workspace, query string, diagnose bool) (_ engine.Cond, err error) {
	defer func() {
		// GMS may panic on shapes it does not expect: a definition must
		// not take the server down.
		if r := recover(); r != nil {
			err = fmt.Errorf("cannot compile segment: %v", r)
		}
	}()
	if s.opts.DisablePushdown {
		return nil, errors.New("cannot compile segments: the SQL server runs with pushdown disabled")
	}
	ws, err := s.eng.Workspace(strings.ToLower(workspace))
	if err != nil {
		return nil, fmt.Errorf("cannot compile segment: %w", err)
	}
	sctx := s.segmentCtx(ctx, ws.Name())
	stmt, err := s.parseSegment(sctx, query)
	if err != nil {
		return nil, err
	}
	sel, err := segmentSelect(stmt, ws.Name())
	if err != nil {
		return nil, err
	}
	binder := planbuilder.New(sctx, s.gms.Analyzer.Catalog, s.gms.EventScheduler, s.gms.Parser)
	binder.DisableAuth()
	node, qFlags, err := binder.BindOnly(stmt, query, nil)
	if err != nil {
		return nil, invalidSegmentErr(err)
	}
	if node, err = relativeTime(sctx, node); err != nil {
		return nil, err
	}
	analyzed, err := s.gms.Analyzer.Analyze(sctx, node, nil, qFlags)
	if err != nil {
		return nil, invalidSegmentErr(err)
	}
	cond, residual, err := segmentScanCond(sctx, analyzed, ws)
	if err != nil {
		return nil, err
	}
	if residual != "" {
		what := residual
		if diagnose && sel.Where != nil {
			if parts := s.diagnoseSegment(ctx, ws.Name(), sel); len(parts) > 0 {
				what = strings.Join(parts, "; ")
			}
		}
		return nil, invalidSegment("the engine cannot evaluate %s (%s)", what, segmentHint)
	}
	return normalizeSegment(cond)
}

// parseSegment parses one statement.
func (s *Server) parseSegment(ctx *sql.Context, query string) (ast.Statement, error) {
	q := strings.TrimSpace(query)
	if q == "" {
		return nil, invalidSegment("empty segment definition (%s)", segmentHint)
	}
	stmt, _, rest, err := s.gms.Parser.ParseWithOptions(ctx, q, ';', false, sql.LoadSqlMode(ctx).ParserOptions())
	if err != nil {
		return nil, invalidSegmentErr(sql.ErrSyntaxError.New(err.Error()))
	}
	if strings.TrimSpace(strings.TrimRight(strings.TrimSpace(rest), ";")) != "" {
		return nil, invalidSegment("a segment definition is one SELECT statement")
	}
	return stmt, nil
}

// segmentSelect checks the outer query's shape: SELECT [DISTINCT]
// person_id FROM profiles [alias] [WHERE ...].
func segmentSelect(stmt ast.Statement, ws string) (*ast.Select, error) {
	var sel *ast.Select
	switch st := stmt.(type) {
	case *ast.Select:
		sel = st
	case *ast.ParenSelect:
		if s, ok := st.Select.(*ast.Select); ok {
			sel = s
		}
	case *ast.SetOp:
		return nil, invalidSegment("UNION, INTERSECT and EXCEPT are not supported in a segment: combine conditions with OR / AND NOT in one WHERE (%s)", segmentHint)
	}
	if sel == nil {
		return nil, invalidSegment("a segment definition must be a SELECT, not %s", strings.ToUpper(firstWord(ast.String(stmt))))
	}
	switch {
	case sel.With != nil:
		return nil, invalidSegment("WITH is not supported in a segment definition")
	case sel.Into != nil:
		return nil, invalidSegment("SELECT ... INTO is not a segment definition")
	case len(sel.GroupBy) > 0 || sel.Having != nil:
		return nil, invalidSegment("GROUP BY / HAVING are not supported on the outer query of a segment: aggregate events in a subquery, person_id IN (SELECT person_id FROM events ... GROUP BY person_id HAVING ...)")
	case len(sel.OrderBy) > 0:
		return nil, invalidSegment("ORDER BY is not part of a segment definition (a segment is a set of persons)")
	case sel.Limit != nil:
		return nil, invalidSegment("LIMIT is not supported in a segment definition (a segment is every person who matches)")
	case len(sel.Window) > 0:
		return nil, invalidSegment("WINDOW is not supported in a segment definition")
	case sel.Lock != "":
		return nil, invalidSegment("locking clauses are not supported in a segment definition")
	}
	if len(sel.From) != 1 {
		return nil, invalidSegment("a segment reads one table, profiles: joins are not supported; express events conditions as person_id IN (SELECT person_id FROM events WHERE ...)")
	}
	ate, ok := sel.From[0].(*ast.AliasedTableExpr)
	if !ok {
		return nil, invalidSegment("a segment reads one table, profiles: joins are not supported; express events conditions as person_id IN (SELECT person_id FROM events WHERE ...)")
	}
	tn, ok := ate.Expr.(ast.TableName)
	if !ok {
		return nil, invalidSegment("a segment reads the table profiles, not a derived table")
	}
	if !strings.EqualFold(tn.Name.String(), engine.Profiles) {
		return nil, invalidSegment("a segment selects from profiles, not %s", tn.Name.String())
	}
	if q := tn.DbQualifier.String(); q != "" && !strings.EqualFold(q, ws) {
		return nil, invalidSegment("a segment of workspace %s selects from %s.profiles, not %s.profiles", ws, ws, q)
	}
	if ate.AsOf != nil {
		return nil, invalidSegment("AS OF is not supported in a segment definition")
	}
	if len(sel.SelectExprs) != 1 {
		return nil, invalidSegment("a segment selects person_id only")
	}
	ae, ok := sel.SelectExprs[0].(*ast.AliasedExpr)
	if !ok {
		return nil, invalidSegment("a segment selects person_id only, not %s", ast.String(sel.SelectExprs[0]))
	}
	col, ok := ae.Expr.(*ast.ColName)
	if !ok || !strings.EqualFold(col.Name.String(), engine.ColPersonID) || (!ae.As.IsEmpty() && !ae.As.EqualString(engine.ColPersonID)) {
		return nil, invalidSegment("a segment selects person_id only, not %s", ast.String(sel.SelectExprs[0]))
	}
	return sel, nil
}

func firstWord(s string) string {
	if f := strings.Fields(s); len(f) > 0 {
		return f[0]
	}
	return s
}

// diagnoseSegment compiles each top-level conjunct of the WHERE alone and
// returns the text of those the engine cannot evaluate.
func (s *Server) diagnoseSegment(ctx context.Context, ws string, sel *ast.Select) []string {
	var conj []ast.Expr
	var split func(e ast.Expr)
	split = func(e ast.Expr) {
		switch x := e.(type) {
		case *ast.AndExpr:
			split(x.Left)
			split(x.Right)
		case *ast.ParenExpr:
			if a, ok := x.Expr.(*ast.AndExpr); ok {
				split(a)
				return
			}
			conj = append(conj, e)
		default:
			conj = append(conj, e)
		}
	}
	split(sel.Where.Expr)
	if len(conj) == 1 {
		return []string{ast.String(conj[0])}
	}
	from := ast.String(sel.From)
	var out []string
	for _, c := range conj {
		text := ast.String(c)
		_, err := s.compileSegment(ctx, ws, "SELECT person_id FROM "+from+" WHERE "+text, false)
		if err != nil {
			var se *segmentError
			if errors.As(err, &se) && strings.HasPrefix(se.msg, "the engine cannot evaluate ") {
				out = append(out, text)
			} else {
				out = append(out, text+" ("+err.Error()+")")
			}
		}
	}
	return out
}

// segmentScanCond finds the profiles scan of an analyzed definition and
// returns the condition pushed down into it, or what GMS would have to
// evaluate itself (residual, described).
func segmentScanCond(ctx *sql.Context, n sql.Node, ws *engine.Workspace) (engine.Cond, string, error) {
	if sch := n.Schema(); len(sch) != 1 || !strings.EqualFold(sch[0].Name, engine.ColPersonID) {
		return nil, "", invalidSegment("a segment selects person_id only")
	}
	var filter *plan.Filter
	for {
		switch x := n.(type) {
		case *plan.Project:
			for _, p := range x.Projections {
				if gf, ok := p.(*expression.GetField); !ok || !strings.EqualFold(gf.Name(), engine.ColPersonID) {
					return nil, "", invalidSegment("a segment selects person_id only, not %s", describeExpr(p))
				}
			}
			n = x.Child
			continue
		case *plan.Distinct:
			n = x.Child
			continue
		case *plan.Filter:
			if filter != nil {
				return nil, describeExpr(x.Expression), nil
			}
			filter = x
			n = x.Child
			continue
		case *plan.TableAlias:
			n = x.Child
			continue
		case *plan.IndexedTableAccess:
			lookup, err := x.GetLookup(ctx, nil)
			if err != nil {
				return nil, "", fmt.Errorf("cannot compile segment: %w", err)
			}
			pi, ok := lookup.Index.(*pushIndex)
			if !ok || pi.table != engine.Profiles || pi.db != ws.Name() {
				return nil, "", invalidSegment("the engine cannot evaluate the definition's access to %s", x.Name())
			}
			return pushCond(ctx, pi.push, filter, x.Id(), ws)
		case *plan.ResolvedTable:
			if !strings.EqualFold(x.Name(), engine.Profiles) || x.Database() == nil || x.Database().Name() != ws.Name() {
				return nil, "", invalidSegment("a segment selects from profiles, not %s", x.Name())
			}
			if filter != nil {
				return nil, describeExpr(filter.Expression), nil
			}
			return engine.AllOf{}, "", nil
		case *plan.EmptyTable:
			return nil, "", invalidSegment("the definition selects nobody (its condition is always false)")
		default:
			// A join (an unrecognised subquery GMS unnested), ...
			if filter != nil {
				return nil, describeExpr(filter.Expression), nil
			}
			return nil, "the definition (GMS plans it as " + nodeName(n) + ")", nil
		}
	}
}

func nodeName(n sql.Node) string {
	s := strings.TrimPrefix(fmt.Sprintf("%T", n), "*plan.")
	return s
}

// pushCond turns a profiles pushdown into the segment's condition. A
// filter left above a point lookup (person_id = n and the rest) is taken
// over too when the engine evaluates it.
func pushCond(ctx *sql.Context, p *pushdown, filter *plan.Filter, id sql.TableId, ws *engine.Workspace) (engine.Cond, string, error) {
	if p.ident != nil || p.points != nil {
		return nil, "", invalidSegment("the engine cannot evaluate the definition's lookup %s", p)
	}
	var all engine.AllOf
	if p.point != nil {
		all = append(all, engine.Where{Expr: expr.Cmp{Col: engine.ColPersonID, Op: expr.Eq, Val: expr.Lit(column.Int(*p.point))}})
	}
	if len(p.where) > 0 {
		all = append(all, engine.Where{Expr: expr.And(p.where)})
	}
	for _, b := range p.did {
		c, err := b.cond(ctx)
		if err != nil {
			return nil, "", fmt.Errorf("cannot compile segment: %w", err)
		}
		all = append(all, c)
	}
	if filter != nil {
		if p.point == nil {
			return nil, describeExpr(filter.Expression), nil
		}
		snap := ws.Snapshot()
		ts, err := snap.Table(engine.Profiles)
		if err != nil {
			return nil, "", fmt.Errorf("cannot compile segment: %w", err)
		}
		tr := translator{ctx: ctx, schema: ts.Schema}
		for _, c := range expression.SplitConjunction(filter.Expression) {
			if !onlyTable(c, id) {
				return nil, describeExpr(c), nil
			}
			if b, ok := c.(*behaviourExpr); ok && b.id == id {
				bc, err := b.cond(ctx)
				if err != nil {
					return nil, "", fmt.Errorf("cannot compile segment: %w", err)
				}
				all = append(all, bc)
				continue
			}
			x, ok := tr.translate(c)
			if !ok {
				return nil, describeExpr(c), nil
			}
			all = append(all, engine.Where{Expr: x})
		}
	}
	return all, "", nil
}

// describeExpr renders a GMS expression on one line, subqueries as their
// SQL text.
func describeExpr(e sql.Expression) string {
	switch x := e.(type) {
	case *expression.And:
		return describeExpr(x.LeftChild) + " AND " + describeExpr(x.RightChild)
	case *expression.Or:
		return "(" + describeExpr(x.LeftChild) + " OR " + describeExpr(x.RightChild) + ")"
	case *expression.Not:
		if in, ok := x.Child.(*plan.InSubquery); ok {
			return describeExpr(in.Left()) + " NOT IN (" + subqueryText(in.Right()) + ")"
		}
		return "NOT " + describeExpr(x.Child)
	case *plan.InSubquery:
		return describeExpr(x.Left()) + " IN (" + subqueryText(x.Right()) + ")"
	case *plan.ExistsSubquery:
		return "EXISTS (" + subqueryText(x.Query) + ")"
	case *behaviourExpr:
		if x.not {
			return describeExpr(expression.NewNot(x.orig))
		}
		return describeExpr(x.orig)
	case *relCmp:
		return describeExpr(x.orig)
	}
	return strings.Join(strings.Fields(e.String()), " ")
}

func subqueryText(e sql.Expression) string {
	if sq, ok := e.(*plan.Subquery); ok && sq.QueryString != "" {
		return sq.QueryString
	}
	return strings.Join(strings.Fields(e.String()), " ")
}
