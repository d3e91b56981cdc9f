package engine

import (
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/cohortdb/cohort/engine/column"
	"github.com/cohortdb/cohort/engine/expr"
)

// PointSet evaluates a set of conditions over profiles for one person at a
// time: real-time segment membership re-evaluates only the persons a batch
// touched, against every segment. Each answer is exactly that of a full
// query with the same condition, snapshot and now (the differential tests
// hold it to that).
//
// Behavioural predicates are answered from the person's own events
// (Snapshot.PersonEvents), walked once per person for the whole set; equal
// event filters are tested once per event, equal predicates computed once.
// A predicate's outcome is written into a scratch bitmap that the
// condition's compiled profile program tests with InBitmap, so the
// condition's three-valued logic stays the compiler's, identical to the
// vectorized path.
//
// A PointSet is compiled against one snapshot's schemas and dictionaries
// and one now; recompile it for later ones (Compile is cheap; Stale says
// when it is needed). It is not safe for concurrent use: the scratch
// bitmaps and buffers are its state.
type PointSet struct {
	plans   []pointPlan
	filters []*pointFilter
	dids    []*pointDid
	now     int64 // µs
	cap     int   // persons the scratch bitmaps hold
	gen     int64 // dictionary entries of the snapshot's schemas when compiled
	pSchema *column.Schema
	eSchema *column.Schema

	// minSlot: chunks below it hold no event inside any behavioural
	// predicate's window (their time stats say so): walks stop there.
	minSlot int
	tsIdx   int // the events' ts column; -1 if none (the schema is fixed per set: Stale)

	// per-person scratch
	rows    []evRow
	matched [][]int32 // per filter: indexes of rows that pass it
	didIn   []bool
	didNext []int64
}

// pointPlan is one condition: its profile program and where its
// behavioural predicates' outcomes go.
type pointPlan struct {
	prog  *expr.Program
	dids  []int           // indexes into PointSet.dids, one per Did node
	bits  []column.Bitmap // the scratch bitmap of each Did node, tested by prog
	terms []profileTerm   // relative-time leaves of the profile part
}

type evRow struct {
	c   *column.Chunk
	row int32
	ts  int64
}

// pointFilter is an event filter (name and property predicate) shared by
// every behavioural predicate that uses it.
type pointFilter struct {
	key   string
	match *expr.Program
}

// pointDid is one behavioural predicate compiled for point evaluation.
type pointDid struct {
	key     string
	d       Did
	filter  int
	propIdx int // -1: COUNT
	float   bool
	noProp  bool    // the aggregated property does not exist yet: never true
	since   int64   // resolved bounds (µs); math.MinInt64/MaxInt64 when absent
	until   int64   // exclusive
	offs    []int64 // offsets (µs) of relative bounds: crossings at ts - off
}

// profileTerm is a profile timestamp column compared with now+offset: its
// truth can change by time passing alone, at value - offset.
type profileTerm struct {
	col int
	off int64
}

// CompilePoints compiles conds for point evaluation over the profiles of
// persons up to s.Graph.Persons(). prev, when not nil, is a set compiled
// earlier: scratch bitmaps of the same positions are reused, so
// recompiling for every batch allocates nothing per person.
func (s *Snapshot) CompilePoints(conds []Cond, now time.Time, prev *PointSet) (*PointSet, error) {
	ps := &PointSet{now: now.UnixMicro(), cap: s.Graph.Persons() + 1, gen: dictGen(s),
		pSchema: s.Profiles.Schema, eSchema: s.Events.Schema}
	filters := map[string]int{}
	dids := map[string]int{}
	for i, c := range conds {
		var spare []column.Bitmap
		if prev != nil && i < len(prev.plans) {
			spare = prev.plans[i].bits
		}
		pl := pointPlan{}
		e, err := ps.lower(s, &pl, spare, filters, dids, c, now)
		if err != nil {
			return nil, err
		}
		if pl.prog, err = expr.Compile(e, s.Profiles.Schema, now); err != nil {
			return nil, fmt.Errorf("cannot compile condition for point evaluation: %w", err)
		}
		ps.plans = append(ps.plans, pl)
	}
	ps.tsIdx = -1
	if d, ok := s.Events.Schema.Lookup(ColTS); ok {
		ps.tsIdx = d.Index
	}
	ps.minSlot = ps.oldestUseful(s)
	ps.matched = make([][]int32, len(ps.filters))
	ps.didIn = make([]bool, len(ps.dids))
	ps.didNext = make([]int64, len(ps.dids))
	return ps, nil
}

// dictGen sums the dictionary sizes of s's profile and event columns: a
// predicate compiled before one of its strings existed must be recompiled.
func dictGen(s *Snapshot) int64 {
	var n int64
	for _, sc := range []*column.Schema{s.Profiles.Schema, s.Events.Schema} {
		for _, d := range sc.Cols {
			if d.Dict != nil {
				n += int64(d.Dict.View().Len())
			}
		}
	}
	return n
}

// Stale reports whether the set must be recompiled to evaluate snapshot s
// at now: the schemas or dictionaries grew, or now moved by res or more
// and some condition depends on time.
func (ps *PointSet) Stale(s *Snapshot, now time.Time, res time.Duration) bool {
	if ps.pSchema != s.Profiles.Schema || ps.eSchema != s.Events.Schema || ps.cap < s.Graph.Persons()+1 || ps.gen != dictGen(s) {
		return true
	}
	if d := now.UnixMicro() - ps.now; d != 0 && (d >= res.Microseconds() || d < 0) {
		for i := range ps.plans {
			if ps.TimeDependent(i) {
				return true
			}
		}
	}
	return false
}

// lower mirrors Snapshot.lower, with Did nodes becoming scratch bitmaps.
func (ps *PointSet) lower(s *Snapshot, pl *pointPlan, spare []column.Bitmap, filters, dids map[string]int, c Cond, now time.Time) (expr.Expr, error) {
	switch c := c.(type) {
	case Where:
		if c.Expr == nil {
			return expr.True, nil
		}
		pl.collectTerms(s, c.Expr)
		return c.Expr, nil
	case AllOf:
		out := make(expr.And, len(c))
		for i, a := range c {
			e, err := ps.lower(s, pl, spare, filters, dids, a, now)
			if err != nil {
				return nil, err
			}
			out[i] = e
		}
		return out, nil
	case AnyOf:
		out := make(expr.Or, len(c))
		for i, a := range c {
			e, err := ps.lower(s, pl, spare, filters, dids, a, now)
			if err != nil {
				return nil, err
			}
			out[i] = e
		}
		return out, nil
	case Negate:
		e, err := ps.lower(s, pl, spare, filters, dids, c.Cond, now)
		if err != nil {
			return nil, err
		}
		return expr.Not{Arg: e}, nil
	case Did:
		idx, err := ps.did(s, filters, dids, c, now)
		if err != nil {
			return nil, err
		}
		var b column.Bitmap
		if i := len(pl.bits); i < len(spare) && len(spare[i]) >= column.Words(ps.cap) {
			b = spare[i]
		} else {
			b = column.NewBitmap(ps.cap + ps.cap/4)
		}
		pl.dids = append(pl.dids, idx)
		pl.bits = append(pl.bits, b)
		return expr.InBitmap{Col: ColPersonID, Bits: b}, nil
	case nil:
		return expr.True, nil
	}
	return nil, fmt.Errorf("unknown condition %T", c)
}

func constKey(c expr.Const) string {
	if c == nil {
		return "-"
	}
	if t, ok := c.(expr.TimeOffset); ok && t.At.IsZero() {
		return "now" + strconv.FormatInt(int64(t.Offset), 10)
	}
	return c.String()
}

func exprKey(e expr.Expr) string {
	if e == nil {
		return "-"
	}
	return fmt.Sprintf("%v", e)
}

// did returns the index of d in the set, compiling it (and its filter)
// the first time.
func (ps *PointSet) did(s *Snapshot, filters, dids map[string]int, d Did, now time.Time) (int, error) {
	fkey := strconv.Quote(d.Event) + " " + exprKey(d.Where)
	key := fkey + " " + constKey(d.Since) + " " + constKey(d.Until) + " " + strconv.Itoa(int(d.Agg)) + " " +
		strconv.Quote(d.Prop) + " " + strconv.Itoa(int(d.Op)) + " " + strconv.FormatFloat(d.N, 'g', -1, 64)
	if i, ok := dids[key]; ok {
		return i, nil
	}
	ev := s.Events
	fi, ok := filters[fkey]
	if !ok {
		var conj expr.And
		if d.Event != "" {
			conj = append(conj, expr.Cmp{Col: ColName, Op: expr.Eq, Val: expr.Lit(column.String(d.Event))})
		}
		if d.Where != nil {
			conj = append(conj, d.Where)
		}
		match, err := expr.Compile(conj, ev.Schema, now)
		if err != nil {
			return 0, fmt.Errorf("cannot compile behavioural predicate on %q: %w", d.Event, err)
		}
		fi = len(ps.filters)
		filters[fkey] = fi
		ps.filters = append(ps.filters, &pointFilter{key: fkey, match: match})
	}
	pd := &pointDid{key: key, d: d, filter: fi, propIdx: -1, since: math.MinInt64, until: math.MaxInt64}
	if d.Agg != 0 && d.Agg != AggCount {
		prop, ok := ev.Schema.Lookup(d.Prop)
		switch {
		case !ok:
			pd.noProp = true
		case prop.Type != column.TypeInt && prop.Type != column.TypeFloat:
			return 0, fmt.Errorf("cannot aggregate events.%s: %s is not numeric", d.Prop, prop.Type)
		default:
			pd.propIdx, pd.float = prop.Index, prop.Type == column.TypeFloat
		}
	}
	for _, b := range []struct {
		c   expr.Const
		dst *int64
	}{{d.Since, &pd.since}, {d.Until, &pd.until}} {
		if b.c == nil {
			continue
		}
		v, rel, off, err := timeBound(b.c, now)
		if err != nil {
			return 0, err
		}
		*b.dst = v
		if rel {
			pd.offs = append(pd.offs, off)
		}
	}
	dids[key] = len(ps.dids)
	ps.dids = append(ps.dids, pd)
	return len(ps.dids) - 1, nil
}

// timeBound resolves a Did time bound; rel says it moves with now (by off µs).
func timeBound(c expr.Const, now time.Time) (v int64, rel bool, off int64, err error) {
	val := expr.Resolve(c, now)
	if val.Null() || (val.Type != column.TypeTimestamp && val.Type != column.TypeInt) {
		return 0, false, 0, fmt.Errorf("behavioural time bound %s is not a timestamp", c)
	}
	if t, ok := c.(expr.TimeOffset); ok && t.At.IsZero() {
		return val.I, true, t.Offset.Microseconds(), nil
	}
	return val.I, false, 0, nil
}

// collectTerms records the profile columns compared with now-relative
// timestamps in e.
func (pl *pointPlan) collectTerms(s *Snapshot, e expr.Expr) {
	add := func(col string, k expr.Const) {
		t, ok := k.(expr.TimeOffset)
		if !ok || !t.At.IsZero() {
			return
		}
		if d, ok := s.Profiles.Schema.Lookup(col); ok && (d.Type == column.TypeTimestamp || d.Type == column.TypeInt) {
			pl.terms = append(pl.terms, profileTerm{col: d.Index, off: t.Offset.Microseconds()})
		}
	}
	expr.Walk(e, func(x expr.Expr) {
		switch x := x.(type) {
		case expr.Cmp:
			add(x.Col, x.Val)
		case expr.Between:
			add(x.Col, x.Lo)
			add(x.Col, x.Hi)
		case expr.In:
			for _, v := range x.Vals {
				add(x.Col, v)
			}
		}
	})
}

// Len returns the number of conditions.
func (ps *PointSet) Len() int { return len(ps.plans) }

// TimeDependent reports whether condition i's answer can change by time
// passing alone (a relative time window or a now-relative comparison).
func (ps *PointSet) TimeDependent(i int) bool {
	pl := &ps.plans[i]
	if len(pl.terms) > 0 {
		return true
	}
	for _, d := range pl.dids {
		if len(ps.dids[d].offs) > 0 {
			return true
		}
	}
	return false
}

// Eval writes into in[i] whether canonical person p satisfies condition i
// in snapshot s (the snapshot the set was compiled for, or a later one
// with the same schemas), and returns the first time (µs, after the set's
// now) at which any answer could change with no new data: 0 when never.
func (ps *PointSet) Eval(s *Snapshot, p uint32, in []bool) (next int64) {
	c, row := s.ProfileRow(p)
	if c == nil || (c.Del != nil && c.Del.Get(row)) || int(p) >= ps.cap {
		clear(in[:len(ps.plans)])
		return 0
	}
	if len(ps.dids) > 0 {
		next = ps.evalDids(s, p)
	}
	for i := range ps.plans {
		pl := &ps.plans[i]
		for j, d := range pl.dids {
			if ps.didIn[d] {
				pl.bits[j].Set(int(p))
			} else {
				pl.bits[j].Clear(int(p))
			}
			next = earliest(next, ps.didNext[d])
		}
		for _, t := range pl.terms {
			if v, ok := c.Col(t.col).Int(row); ok {
				next = earliest(next, crossing(v-t.off, ps.now))
			}
		}
		in[i] = pl.prog.Match(c, row)
	}
	return next
}

// oldestUseful returns the first event chunk slot that can hold an event
// some behavioural predicate of the set counts: when every predicate has a
// lower time bound, the sealed chunks before the first one whose events
// reach that bound (by the ts column's stats, over the slot and every slot
// before it) hold only older events. Their rows cannot change any answer
// later either: a row below every lower bound stays below it.
func (ps *PointSet) oldestUseful(s *Snapshot) int {
	if len(ps.dids) == 0 {
		return 0
	}
	lo := int64(math.MaxInt64)
	for _, d := range ps.dids {
		lo = min(lo, d.since)
	}
	if lo == math.MinInt64 {
		return 0 // some predicate counts every event, however old
	}
	if ps.tsIdx < 0 {
		return 0
	}
	last := len(s.Events.BySlot) - 1 // the tail's stats are not exact
	reach := int64(math.MinInt64)    // max ts over the slots so far
	for slot, c := range s.Events.BySlot {
		if slot == last {
			return slot
		}
		if c == nil {
			continue // dropped: walks end there anyway
		}
		if v := c.Col(ps.tsIdx); v != nil && v.NonNil > 0 {
			reach = max(reach, v.MaxI)
		}
		if reach >= lo {
			return slot
		}
	}
	return max(last, 0)
}

// evalDids walks p's events once, tests each shared filter once per event,
// and computes every behavioural predicate of the set for p.
func (ps *PointSet) evalDids(s *Snapshot, p uint32) int64 {
	ps.rows = ps.rows[:0]
	s.PersonEventsFrom(p, ps.minSlot, func(c *column.Chunk, row int) bool {
		ts, ok := c.Col(ps.tsIdx).Int(row)
		if ok {
			ps.rows = append(ps.rows, evRow{c: c, row: int32(row), ts: ts})
		}
		return true
	})
	for f, pf := range ps.filters {
		m := ps.matched[f][:0]
		for i := range ps.rows {
			if pf.match.Match(ps.rows[i].c, int(ps.rows[i].row)) {
				m = append(m, int32(i))
			}
		}
		ps.matched[f] = m
	}
	var next int64
	for i, d := range ps.dids {
		ps.didIn[i], ps.didNext[i] = d.eval(ps.rows, ps.matched[d.filter], ps.now)
		next = earliest(next, ps.didNext[i])
	}
	return next
}

// crossing returns when a bound that meets a value at at (µs) can next
// change a comparison's truth, seen from now: at itself (for < and >), or
// the µs after it (for <= and >=); 0 when it is past.
func crossing(at, now int64) int64 {
	switch {
	case at > now:
		return at
	case at == now:
		return at + 1
	}
	return 0
}

func earliest(a, b int64) int64 {
	if a == 0 || (b != 0 && b < a) {
		return b
	}
	return a
}

// eval aggregates the person's events that passed the predicate's filter
// and reports the outcome and the next time (µs) one of them enters or
// leaves a relative window.
func (d *pointDid) eval(rows []evRow, matched []int32, now int64) (bool, int64) {
	var (
		cnt  uint64
		acc  float64
		have bool
		next int64
	)
	for _, i := range matched {
		r := &rows[i]
		for _, off := range d.offs {
			next = earliest(next, crossing(r.ts-off, now))
		}
		if r.ts < d.since || r.ts >= d.until {
			continue
		}
		if d.propIdx < 0 {
			cnt++
			continue
		}
		v := r.c.Col(d.propIdx)
		var x float64
		if d.float {
			f, ok := v.Float(int(r.row))
			if !ok {
				continue
			}
			x = f
		} else {
			n, ok := v.Int(int(r.row))
			if !ok {
				continue
			}
			x = float64(n)
		}
		acc = combine(d.d.Agg, acc, x, have)
		have = true
	}
	switch {
	case d.propIdx < 0 && !d.noProp:
		return compareFloat(float64(cnt), d.d.Op, d.d.N), next
	case have:
		return compareFloat(acc, d.d.Op, d.d.N), next
	}
	return false, next
}
