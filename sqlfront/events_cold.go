package sqlfront

import (
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"slices"
	"time"

	"github.com/dolthub/go-mysql-server/sql"

	"github.com/cohortdb/cohort/engine"
	"github.com/cohortdb/cohort/engine/column"
	"github.com/cohortdb/cohort/engine/expr"
	etable "github.com/cohortdb/cohort/engine/table"
)

// EventArchive reads the events a workspace keeps on disk (the sealed day
// partitions of storage/events) for the events table, when the engine
// keeps only a window of recent events in memory (engine
// Workspace.DropEventsBefore). It lives outside sqlfront (cmd/cohort
// adapts storage) so that sqlfront depends on no storage package.
type EventArchive interface {
	// ScanEvents calls fn for every stored event of workspace with
	// from <= ts < to, without opening stored units (files, days) whose
	// time range misses [from, to). cols names the columns of vals, and
	// may change between calls (older files have fewer columns); both are
	// valid only during the call. Events may be stored on disk and in
	// memory at once: the reader picks the copy (see eventRows). An error
	// of fn stops the scan and is returned (possibly wrapped).
	ScanEvents(ctx context.Context, workspace string, from, to time.Time, fn func(cols []string, vals []column.Value) error) error
}

// The events table over the window.
//
// An engine snapshot's window (Snapshot.EventsFrom H, EventsThrough E)
// splits the events exactly: those with ts < H and event_id <= E are read
// from the EventArchive, every other one from memory. The archive may hold
// more (events sealed after the snapshot, or still in memory): they are
// skipped, so an event is read once and only once, and no event is missing
// (the storage drops from memory only what it has sealed).
//
// A scan of events reads the archive only for the ts range its pushed-down
// conjuncts allow, cut at H: a query over recent events never touches the
// disk. Archive rows are decoded into temporary engine tables of one chunk
// each (with their own dictionaries) and filtered by the very same
// compiled condition as memory (Snapshot.WithEvents), so the pushdown stays
// exact; erased persons' rows are skipped and person ids are canonical, as
// in memory.
//
// What is not pushed down when a query reaches before H (GMS evaluates it
// over the union of both sides, with the same result, only slower):
//   - behavioural subqueries (IN / EXISTS over events) whose event range
//     reaches before H (behaviourRule leaves them to GMS: the engine's Did
//     sees memory only), and Did conditions on an events scan that reads
//     the archive;
//   - aggregates over such a scan (aggregateRule declines it).

// eventRange returns the ts range [lo, hi) of the events a scan of events
// reads from the archive under snap's window, given the translated
// conjuncts pushed into it; ok is false when it reads none.
func eventRange(snap *engine.Snapshot, where []expr.Expr, now time.Time) (lo, hi int64, ok bool) {
	if snap.EventsFrom == 0 {
		return 0, 0, false
	}
	lo, hi = tsBounds(expr.And(where), now)
	hi = min(hi, snap.EventsFrom)
	// The archive's part holds event_id <= EventsThrough only: a lookup of
	// newer events (a join on event_id) need not open it.
	if idLo, _ := colBounds(expr.And(where), engine.ColEventID, column.TypeInt, now); idLo > snap.EventsThrough {
		return 0, 0, false
	}
	return lo, hi, lo < hi
}

// tsBounds returns [lo, hi) in µs containing every events.ts for which x
// (a translated predicate over events columns) can be true; relative time
// constants are resolved at now.
func tsBounds(x expr.Expr, now time.Time) (lo, hi int64) {
	return colBounds(x, engine.ColTS, column.TypeTimestamp, now)
}

// colBounds returns [lo, hi) containing every value of the integer-like
// column col (of type typ) for which x can be true.
func colBounds(x expr.Expr, col string, typ column.Type, now time.Time) (lo, hi int64) {
	bound := func(op expr.Op, v column.Value) (int64, int64) {
		if v.Type != typ {
			return minMicros, maxMicros
		}
		v.Type = column.TypeTimestamp // cmpBounds (history.go) bounds timestamps
		return cmpBounds(op, v)
	}
	all := func() (int64, int64) { return minMicros, maxMicros }
	union := func(n int, bounds func(i int) (int64, int64)) (int64, int64) {
		lo, hi = maxMicros, minMicros
		for i := range n {
			l, h := bounds(i)
			if l < h {
				lo, hi = min(lo, l), max(hi, h)
			}
		}
		if lo >= hi {
			return 0, 0
		}
		return lo, hi
	}
	switch x := x.(type) {
	case expr.And:
		lo, hi = all()
		for _, a := range x {
			l, h := colBounds(a, col, typ, now)
			lo, hi = max(lo, l), min(hi, h)
		}
		return lo, hi
	case expr.Or:
		return union(len(x), func(i int) (int64, int64) { return colBounds(x[i], col, typ, now) })
	case expr.In:
		if x.Col != col || x.Not {
			return all()
		}
		return union(len(x.Vals), func(i int) (int64, int64) {
			v := x.Vals[i]
			if v == nil {
				return 0, 0 // NULL: never equal
			}
			l, ok := constValue(v, now)
			if !ok {
				return all()
			}
			return bound(expr.Eq, l)
		})
	case expr.Cmp:
		if x.Col != col {
			return all()
		}
		if x.Val == nil {
			return 0, 0 // compared with NULL: never true
		}
		l, ok := constValue(x.Val, now)
		if !ok {
			return all()
		}
		return bound(x.Op, l)
	case expr.Between:
		if x.Col != col || x.Not || x.Lo == nil || x.Hi == nil {
			return all()
		}
		a, ok1 := constValue(x.Lo, now)
		b, ok2 := constValue(x.Hi, now)
		if !ok1 || !ok2 {
			return all()
		}
		l, _ := bound(expr.Ge, a)
		_, h := bound(expr.Le, b)
		return l, h
	}
	return all() // NOT, LIKE, IS NULL, other columns: no bound
}

// constValue resolves a constant as the engine does at compile time; a
// nil one (NULL in an IN list) has no value.
func constValue(c expr.Const, now time.Time) (column.Value, bool) {
	if c == nil {
		return column.Value{}, false
	}
	return expr.Resolve(c, now), true
}

// didReachesDisk reports whether a behavioural condition over the events
// of ws counts events the engine no longer holds in memory (ts before the
// window of the query's snapshot): it must then be left to GMS.
func didReachesDisk(ctx *sql.Context, ws *engine.Workspace, conds []engine.Cond) bool {
	return snapDidReachesDisk(snapshot(ctx, ws), conds, ctx.QueryTime())
}

// errWindowMoved reports a plan made for another event window than the
// snapshot it runs on (they are the same snapshot within one query).
var errWindowMoved = errors.New("cannot run the query: the in-memory event window moved after it was planned; run it again")

// aggReachesDisk checks, when an aggregate answered by the engine runs,
// that it still covers memory only (the plan declines those that do not).
func aggReachesDisk(snap *engine.Snapshot, tbl string, p *pushdown, now time.Time) error {
	if tbl != engine.Events {
		return nil
	}
	var where []expr.Expr
	if p != nil {
		where = p.where
	}
	if _, _, ok := eventRange(snap, where, now); ok {
		return errWindowMoved
	}
	return nil
}

// snapDidReachesDisk is didReachesDisk under snap: whether some Did leaf
// of conds (behaviour trees of OR/NOT hold Did and profile Where leaves)
// counts events before the in-memory window.
func snapDidReachesDisk(snap *engine.Snapshot, conds []engine.Cond, now time.Time) bool {
	if snap.EventsFrom == 0 {
		return false
	}
	for _, c := range conds {
		if condReachesDisk(snap, c, now) {
			return true
		}
	}
	return false
}

func condReachesDisk(snap *engine.Snapshot, c engine.Cond, now time.Time) bool {
	switch c := c.(type) {
	case engine.Did:
		return didLeafReachesDisk(snap, c, now)
	case engine.AllOf:
		return snapDidReachesDisk(snap, c, now)
	case engine.AnyOf:
		return snapDidReachesDisk(snap, c, now)
	case engine.Negate:
		return condReachesDisk(snap, c.Cond, now)
	case engine.Where:
		return false // profiles only
	}
	return true // a condition kind this check does not know: be safe
}

func didLeafReachesDisk(snap *engine.Snapshot, d engine.Did, now time.Time) bool {
	var where expr.And
	if d.Where != nil {
		where = append(where, d.Where)
	}
	if d.Since != nil {
		where = append(where, expr.Cmp{Col: engine.ColTS, Op: expr.Ge, Val: d.Since})
	}
	if d.Until != nil {
		where = append(where, expr.Cmp{Col: engine.ColTS, Op: expr.Lt, Val: d.Until})
	}
	if d.Event != "" {
		where = append(where, expr.Cmp{Col: engine.ColName, Op: expr.Eq, Val: expr.Lit(column.String(d.Event))})
	}
	_, _, ok := eventRange(snap, where, now)
	return ok
}

// scanReachesDisk reports whether a scan of t (events) with pushdown p
// (nil: none) reads the archive in the query's snapshot.
func (t *table) scanReachesDisk(ctx *sql.Context, p *pushdown) bool {
	if t.name != engine.Events {
		return false
	}
	var where []expr.Expr
	if p != nil {
		where = p.where
	}
	_, _, ok := eventRange(snapshot(ctx, t.db.ws), where, ctx.QueryTime())
	return ok
}

// keepDidsOnDisk takes the behavioural conditions back out of p (into
// rest, for GMS) when the events scan reads the archive: on a table built
// from archive rows the engine would count that table's events only.
func (t *table) keepDidsOnDisk(ctx *sql.Context, p *pushdown, rest []sql.Expression) []sql.Expression {
	if len(p.did) == 0 || !t.scanReachesDisk(ctx, p) {
		return rest
	}
	handled := p.handled[:0:0]
	for _, e := range p.handled {
		if _, ok := e.(*behaviourExpr); ok {
			rest = append(rest, e)
		} else {
			handled = append(handled, e)
		}
	}
	p.handled, p.did = handled, nil
	return rest
}

// eventRows streams the rows of an events scan: first those the archive
// holds for the window, then memory's. q is the compiled query (its
// condition built for snap), cols the engine columns read, n the number
// of output columns.
func (t *table) eventRows(ctx *sql.Context, snap *engine.Snapshot, q engine.Query, where []expr.Expr, cols []string, n int) (sql.RowIter, error) {
	mem := func() (sql.RowIter, error) {
		rows, err := snap.Select(ctx, q, cols)
		if err != nil {
			return nil, fmt.Errorf("cannot scan %s.%s: %w", t.db.Name(), t.name, err)
		}
		return &rowIter{rows: rows, n: n}, nil
	}
	lo, hi, ok := eventRange(snap, where, q.Now)
	if !ok {
		return mem()
	}
	if hasDid(q.Where) {
		return nil, fmt.Errorf("BUG: behavioural condition pushed into an events scan that reads the archive")
	}
	arch := t.db.srv.opts.EventArchive
	if arch == nil {
		return nil, fmt.Errorf("cannot scan %s.%s: events before %s are on disk only, and the server has no event archive",
			t.db.Name(), t.name, fmtMicros(snap.EventsFrom))
	}
	name := t.db.Name()
	errStop := errors.New("stop")
	need := neededColumns(q.Where, cols)
	// Rows travel in batches: a switch between the scan and the consumer
	// per row would cost more than the row.
	const batchRows = 1024
	rows := func(yield func([]sql.Row, error) bool) {
		b := newColdBatch(snap, need)
		flush := func() error {
			if b.rows() == 0 {
				return nil
			}
			cs := snap.WithEvents(b.publish())
			r, err := cs.Select(ctx, q, cols)
			if err != nil {
				return err
			}
			defer r.Close()
			var out []sql.Row
			var buf []any
			for r.Next() {
				if out == nil {
					out, buf = make([]sql.Row, 0, batchRows), make([]any, n*batchRows)
				}
				row := sql.Row(buf[:n:n])
				buf = buf[n:]
				for i, v := range r.Values()[:n] {
					row[i] = toSQL(v)
				}
				if out = append(out, row); len(out) == batchRows {
					if !yield(out, nil) {
						return errStop
					}
					out = nil
				}
			}
			if err := r.Err(); err != nil {
				return err
			}
			if len(out) > 0 && !yield(out, nil) {
				return errStop
			}
			b = newColdBatch(snap, need)
			return nil
		}
		err := arch.ScanEvents(ctx, name, time.UnixMicro(lo), time.UnixMicro(hi), func(names []string, vals []column.Value) error {
			full, err := b.add(names, vals)
			if err != nil || !full {
				return err
			}
			return flush()
		})
		if err == nil {
			err = flush()
		}
		if err != nil && !errors.Is(err, errStop) {
			if ctx.Err() != nil {
				err = ctx.Err()
			}
			yield(nil, fmt.Errorf("cannot read %s.%s from disk: %w", name, t.name, err))
		}
	}
	next, stop := iter.Pull2(rows)
	return &eventsIter{cold: &batchIter{next: next, stop: stop}, mem: mem}, nil
}

func hasDid(c engine.Cond) bool {
	switch c := c.(type) {
	case engine.Did:
		return true
	case engine.AllOf:
		for _, x := range c {
			if hasDid(x) {
				return true
			}
		}
	case engine.AnyOf:
		for _, x := range c {
			if hasDid(x) {
				return true
			}
		}
	case engine.Negate:
		return hasDid(c.Cond)
	}
	return false
}

// batchIter returns the rows of the batches it pulls.
type batchIter struct {
	next  func() ([]sql.Row, error, bool)
	stop  func()
	batch []sql.Row
}

func (it *batchIter) Next(*sql.Context) (sql.Row, error) {
	for len(it.batch) == 0 {
		b, err, ok := it.next()
		if !ok {
			return nil, io.EOF
		}
		if err != nil {
			return nil, err
		}
		it.batch = b
	}
	row := it.batch[0]
	it.batch = it.batch[1:]
	return row, nil
}

func (it *batchIter) Close(*sql.Context) error { it.stop(); return nil }

// eventsIter returns the archive's rows, then memory's.
type eventsIter struct {
	cold   sql.RowIter // nil once done
	mem    func() (sql.RowIter, error)
	memIt  sql.RowIter
	closed bool
}

func (it *eventsIter) Next(ctx *sql.Context) (sql.Row, error) {
	if it.cold != nil {
		row, err := it.cold.Next(ctx)
		if err != io.EOF {
			return row, err
		}
		if err := it.cold.Close(ctx); err != nil {
			return nil, err
		}
		it.cold = nil
	}
	if it.memIt == nil {
		m, err := it.mem()
		if err != nil {
			return nil, err
		}
		it.memIt = m
	}
	return it.memIt.Next(ctx)
}

func (it *eventsIter) Close(ctx *sql.Context) error {
	var err error
	if it.cold != nil {
		err = it.cold.Close(ctx)
		it.cold = nil
	}
	if it.memIt != nil {
		err = errors.Join(err, it.memIt.Close(ctx))
		it.memIt = nil
	}
	return err
}

// coldBatch builds one unsealed chunk of archive rows into a temporary
// events table with the snapshot's columns (names and types) and
// dictionaries of its own. Only the rows the window excludes from memory
// are kept.
type coldBatch struct {
	snap           *engine.Snapshot
	need           map[string]bool // the columns the query reads; nil: all
	schema         *column.Schema
	t              *etable.Table
	names          []string            // the archive columns of the last row
	at             []*column.ColumnDef // by archive column: its def (nil: unknown)
	ts, id, person int                 // archive column positions; -1 none
}

func newColdBatch(snap *engine.Snapshot, need map[string]bool) *coldBatch {
	src := snap.Events.Schema.Cols
	defs := make([]column.ColumnDef, len(src))
	for i, d := range src {
		defs[i] = column.ColumnDef{Name: d.Name, Type: d.Type}
	}
	s := column.NewSchema(defs...)
	return &coldBatch{snap: snap, need: need, schema: s, t: etable.New(engine.Events, s)}
}

func (b *coldBatch) rows() int64 { return b.t.Live() }

func (b *coldBatch) publish() *etable.Snapshot { return b.t.Publish() }

// add appends the archive row (names, vals) if the window excludes it from
// memory and its person is not erased; full reports that the batch holds a
// whole chunk.
func (b *coldBatch) add(names []string, vals []column.Value) (full bool, err error) {
	if !slices.Equal(names, b.names) {
		b.mapColumns(names)
	}
	if b.ts < 0 || b.id < 0 || b.person < 0 || len(vals) != len(names) {
		return false, fmt.Errorf("archive row without %s, %s or %s (columns %v)", engine.ColTS, engine.ColEventID, engine.ColPersonID, names)
	}
	at, id, p := vals[b.ts], vals[b.id], vals[b.person]
	if at.Type != column.TypeTimestamp || id.Type != column.TypeInt {
		return false, fmt.Errorf("archive row with %s %s, %s %s", engine.ColTS, at, engine.ColEventID, id)
	}
	if !b.snap.EventsCovered(at.I, id.I) {
		return false, nil // memory holds it (or it is newer than the snapshot)
	}
	if p.Type != column.TypeInt || p.I <= 0 || p.I > 1<<32-1 {
		return false, nil
	}
	if ch, _ := b.snap.ProfileRow(uint32(p.I)); ch == nil { // ProfileRow resolves merges
		return false, nil // erased (DELETE FROM profiles)
	}
	for i, v := range vals {
		if d := b.at[i]; d != nil && v.Type != column.TypeNull && v.Type != d.Type {
			return false, fmt.Errorf("archive column %s is %s, %s in memory", d.Name, v.Type, d.Type)
		}
	}
	b.t.Begin()
	for i, v := range vals {
		if d := b.at[i]; d != nil && v.Type != column.TypeNull {
			b.t.Set(d, v)
		}
	}
	b.t.End()
	// One row short of a chunk: the table never seals it (sealing narrows
	// every vector, a third of the cost, for a table read once).
	return b.t.Live() == column.ChunkRows-1, nil
}

func (b *coldBatch) mapColumns(names []string) {
	b.names = append(b.names[:0], names...)
	b.at = b.at[:0]
	b.ts, b.id, b.person = -1, -1, -1
	for i, n := range names {
		d, _ := b.schema.Lookup(n)
		if b.need != nil && !b.need[n] {
			d = nil // not read: left NULL
		}
		b.at = append(b.at, d)
		switch n {
		case engine.ColTS:
			b.ts = i
		case engine.ColEventID:
			b.id = i
		case engine.ColPersonID:
			b.person = i
		}
	}
}

// neededColumns returns the columns a query with condition c reading cols
// looks at, or nil if it cannot tell (then every column is decoded).
func neededColumns(c engine.Cond, cols []string) map[string]bool {
	need := map[string]bool{}
	for _, n := range cols {
		need[n] = true
	}
	var cond func(engine.Cond) bool
	var ex func(expr.Expr) bool
	ex = func(e expr.Expr) bool {
		switch x := e.(type) {
		case expr.And:
			for _, a := range x {
				if !ex(a) {
					return false
				}
			}
		case expr.Or:
			for _, a := range x {
				if !ex(a) {
					return false
				}
			}
		case expr.Not:
			return ex(x.Arg)
		case expr.Cmp:
			need[x.Col] = true
		case expr.In:
			need[x.Col] = true
		case expr.Between:
			need[x.Col] = true
		case expr.IsNull:
			need[x.Col] = true
		case expr.Like:
			need[x.Col] = true
		case expr.Contains:
			need[x.Col] = true
		case expr.InBitmap:
			need[x.Col] = true
		case expr.Truth:
		default:
			return false
		}
		return true
	}
	cond = func(c engine.Cond) bool {
		switch x := c.(type) {
		case nil:
		case engine.Where:
			return x.Expr == nil || ex(x.Expr)
		case engine.AllOf:
			for _, a := range x {
				if !cond(a) {
					return false
				}
			}
		case engine.AnyOf:
			for _, a := range x {
				if !cond(a) {
					return false
				}
			}
		case engine.Negate:
			return cond(x.Cond)
		default:
			return false
		}
		return true
	}
	if !cond(c) {
		return nil
	}
	return need
}
