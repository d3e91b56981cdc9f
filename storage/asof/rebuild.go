package asof

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/cohortdb/cohort/engine"
	"github.com/cohortdb/cohort/engine/column"
	"github.com/cohortdb/cohort/engine/expr"
	"github.com/cohortdb/cohort/engine/table"
	"github.com/cohortdb/cohort/storage/history"
)

// ownerCol is the rebuilt table's extra column: the person whose profile
// the row is now (the one behavioural predicates' bitmaps are indexed by).
// Names starting with '_' are reserved, so no attribute can collide.
const ownerCol = "_asof_owner"

// entry is the value of one column of one profile at at: the Old of the
// first change after at (ord: its position in application order).
type entry struct {
	ord int64
	col int32
	val column.Value
}

// fold collects, per recorded person, the first change after at of every
// attribute, and the person-id moves (a profile handed to a new person id
// when its person was merged into one without a profile).
//
// Only the columns the condition reads matter (need): a profile whose
// changes after at are all to other columns is evaluated as it is now.
type fold struct {
	schema  *column.Schema
	need    column.Bitmap // by column index; nil: every column
	person  int32         // index of person_id
	index   [][]int32     // person id → states index+1, in pages of 1<<pageBits ids
	states  []personState
	moved   map[uint32]uint32
	ord     int64 // records seen
	unknown int64

	last    uint32 // the person of the previous record (changes of one operation are adjacent)
	lastIdx int32
}

// personState is what the changes after at recorded for one person id.
type personState struct {
	person uint32
	seen   uint64 // columns < 64 with an entry in first
	first  []entry
}

// pageBits sizes the pages of fold.index: 256 KiB each, allocated for
// the person-id ranges the history touches.
const pageBits = 16

func newFold(s *column.Schema, need column.Bitmap) *fold {
	f := &fold{schema: s, need: need, person: -1, moved: make(map[uint32]uint32), lastIdx: -1}
	if d, ok := s.Lookup(engine.ColPersonID); ok {
		f.person = int32(d.Index)
	}
	return f
}

func (f *fold) add(r *history.Record) {
	f.ord++
	d, ok := f.schema.Lookup(r.Attribute)
	if !ok {
		f.unknown++
		return
	}
	col := int32(d.Index)
	if col == f.person && r.New.Type == column.TypeInt && r.New.I > 0 && r.New.I <= math.MaxUint32 {
		f.moved[r.Person] = uint32(r.New.I)
	} else if f.need != nil && !f.need.Get(int(col)) {
		return
	}
	i := f.lastIdx
	if i < 0 || f.last != r.Person {
		i = f.lookup(r.Person)
		f.last, f.lastIdx = r.Person, i
	}
	st := &f.states[i]
	if col < 64 {
		if st.seen&(1<<col) != 0 {
			return
		}
		st.seen |= 1 << col
	} else {
		for j := range st.first {
			if st.first[j].col == col {
				return
			}
		}
	}
	st.first = append(st.first, entry{ord: f.ord, col: col, val: r.Old})
}

// lookup returns the index in states of person p, adding it.
func (f *fold) lookup(p uint32) int32 {
	pg := int(p >> pageBits)
	if pg >= len(f.index) {
		f.index = append(f.index, make([][]int32, pg+1-len(f.index))...)
	}
	if f.index[pg] == nil {
		f.index[pg] = make([]int32, 1<<pageBits)
	}
	slot := &f.index[pg][p&(1<<pageBits-1)]
	if *slot == 0 {
		f.states = append(f.states, personState{person: p})
		*slot = int32(len(f.states))
	}
	return *slot - 1
}

// rebuilt is the private table of the profiles changed after at, as they
// were at at.
type rebuilt struct {
	tbl        *table.Snapshot
	owners     []uint32 // current owner of every rebuilt row
	unattached int
}

// rebuild resolves every recorded person to the profile its changes were
// made to, and writes those profiles as they were at at.
func (f *fold) rebuild(ctx context.Context, snap *engine.Snapshot) (*rebuilt, error) {
	out := &rebuilt{}
	if len(f.states) == 0 {
		return out, nil
	}
	graph := snap.Graph
	// Resolve every person id to the profile it is now, in place: states
	// becomes (owner, first changes), sorted by owner.
	rows := f.states[:0]
	for _, st := range f.states {
		dest, ok := f.follow(st.person)
		if ok && (int(dest) > graph.Persons() || graph.Canonical(dest) != dest) {
			ok = false
		}
		if ok {
			if c, _ := snap.ProfileRow(dest); c == nil {
				ok = false
			}
		}
		if !ok {
			out.unattached++
			continue
		}
		rows = append(rows, personState{person: dest, first: st.first})
	}
	slices.SortFunc(rows, func(a, b personState) int { return cmp.Compare(a.person, b.person) })
	merged := rows[:0]
	for _, st := range rows {
		if n := len(merged); n > 0 && merged[n-1].person == st.person {
			merged[n-1].first = mergeFirst(merged[n-1].first, st.first)
			continue
		}
		merged = append(merged, st)
	}
	out.owners = make([]uint32, len(merged))
	for i, st := range merged {
		out.owners[i] = st.person
	}

	cur := snap.Profiles.Schema
	defs := make([]column.ColumnDef, 0, len(cur.Cols)+1)
	for _, d := range cur.Cols {
		defs = append(defs, column.ColumnDef{Name: d.Name, Type: d.Type})
	}
	defs = append(defs, column.ColumnDef{Name: ownerCol, Type: column.TypeInt})
	// Fresh dictionaries: the snapshot's belong to the workspace's writer.
	schema := column.NewSchema(defs...)
	cols := schema.Cols
	owner := cols[len(cols)-1]
	dicts := make([]column.DictView, len(cur.Cols))
	for i, d := range cur.Cols {
		if d.Dict != nil {
			dicts[i] = d.Dict.View() // after publication: covers every code of snap
		}
	}
	// Only the columns the condition reads are written; the others stay
	// NULL, which nothing tests.
	var used []int
	for i := range cur.Cols {
		if f.need == nil || f.need.Get(i) || int32(i) == f.person {
			used = append(used, i)
		}
	}
	t := table.New(engine.Profiles, schema)
	vals := make([]column.Value, len(cur.Cols))
	for n, st := range merged {
		if n&4095 == 0 {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
		}
		c, row := snap.ProfileRow(st.person)
		for _, i := range used {
			vals[i] = decode(c.Col(i), row, cur.Cols[i], dicts[i])
		}
		for _, e := range st.first {
			v, err := coerce(e.val, cols[e.col].Type)
			if err != nil {
				return nil, fmt.Errorf("profile of person %d, %s: %w", st.person, cols[e.col].Name, err)
			}
			vals[e.col] = v
		}
		t.Begin()
		for _, i := range used {
			t.Set(cols[i], vals[i])
		}
		t.SetInt(owner, int64(st.person))
		t.End()
	}
	out.tbl = t.Publish()
	return out, nil
}

// follow returns the person whose profile q's profile is now, through the
// person-id moves after at; false on a cycle (damaged history).
func (f *fold) follow(q uint32) (uint32, bool) {
	for range len(f.moved) + 1 {
		next, ok := f.moved[q]
		if !ok {
			return q, true
		}
		q = next
	}
	return 0, false
}

// mergeFirst merges es into dst keeping, per column, the earliest change.
func mergeFirst(dst, es []entry) []entry {
next:
	for _, e := range es {
		for i := range dst {
			if dst[i].col == e.col {
				if e.ord < dst[i].ord {
					dst[i] = e
				}
				continue next
			}
		}
		dst = append(dst, e)
	}
	return dst
}

// eval sets in out the person (person_id as it was at at) of every rebuilt
// row that satisfies e.
func (r *rebuilt) eval(ctx context.Context, e expr.Expr, at time.Time, out column.Bitmap) error {
	prog, err := expr.Compile(e, r.tbl.Schema, at)
	if err != nil {
		return err
	}
	pd, _ := r.tbl.Schema.Lookup(engine.ColPersonID)
	scratch := expr.NewScratch()
	sel := column.NewBitmap(column.ChunkRows)
	n := len(out) * 64
	for _, c := range r.tbl.Chunks {
		if err := ctx.Err(); err != nil {
			return err
		}
		sel = sel.Resize(c.Rows)
		prog.Eval(c, sel, scratch)
		v := c.Col(pd.Index)
		for row := sel.Next(0); row >= 0; row = sel.Next(row + 1) {
			if p, ok := v.Int(row); ok && p > 0 && p < int64(n) {
				out.Set(int(p))
			}
		}
	}
	return nil
}

// decode is column.Vec.Value with strings resolved through a dictionary
// view (the live dictionary may be growing under the writer).
func decode(v *column.Vec, row int, d *column.ColumnDef, dict column.DictView) column.Value {
	switch d.Type {
	case column.TypeString:
		code, ok := v.Int(row)
		if !ok {
			return column.Value{}
		}
		return column.String(dict.Get(uint32(code)))
	case column.TypeStringList:
		codes, ok := v.List(row)
		if !ok {
			return column.Value{}
		}
		l := make([]string, len(codes))
		for i, c := range codes {
			l[i] = dict.Get(c)
		}
		return column.StringList(l)
	}
	return v.Value(row, d)
}

// coerce converts a recorded value to its column's type where that loses
// nothing, as the engine's apply path does.
func coerce(v column.Value, t column.Type) (column.Value, error) {
	switch {
	case v.Null() || v.Type == t:
		return v, nil
	case t == column.TypeFloat && v.Type == column.TypeInt:
		return column.Float(float64(v.I)), nil
	case t == column.TypeInt && v.Type == column.TypeFloat && v.F == math.Trunc(v.F) && math.Abs(v.F) < 1<<53:
		return column.Int(int64(v.F)), nil
	}
	return v, fmt.Errorf("history holds a %s value for a %s column", v.Type, t)
}
