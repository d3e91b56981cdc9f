package identity

import (
	"errors"
	"math"
	"slices"
	"strings"
	"unsafe"

	"github.com/cohortdb/cohort/engine/column"
)

// ErrNoUsableIdentifier is returned (wrapped) when every identifier of a
// request was rejected.
var ErrNoUsableIdentifier = errors.New("no usable identifier")

// ErrFull is returned (wrapped) when person ids or identifier codes are
// exhausted.
var ErrFull = errors.New("identity graph full")

// suppressed marks an erased identifier in idPerson.
const suppressed = math.MaxUint32

// typeTable maps type names to codes. It is copy-on-write: a published
// table is never modified, so views share it without locks.
type typeTable struct {
	names  []string
	byName map[string]uint32
}

// slot is a tracked identifier type: one counter per person.
type slot struct {
	name  string
	limit int // 0 = unlimited (user_id is always tracked for merge direction)
}

// Graph is the identity graph of one workspace. It is not safe for
// concurrent use: one writer calls every method, readers use Freeze.
type Graph struct {
	rules compiled
	dict  *column.Dictionary // identifier keys; code = identifier index
	types *typeTable

	// per identifier code
	idPerson column.Paged[uint32] // canonical person (rewritten on merge), 0 detached, or suppressed
	idNext   column.Paged[uint32] // circular list of a person's identifiers

	// per person id (index 0 unused)
	canon   column.Paged[uint32]   // canonical person, flat
	merged  column.Paged[uint64]   // bitmap: person was merged into another (canon != self)
	idHead  column.Paged[uint32]   // code+1 of an identifier of a canonical person, 0 none
	memNext column.Paged[uint32]   // circular list of a merged group's persons
	counts  []column.Paged[uint32] // per slot: identifiers of that type held by a canonical person

	slots      []slot
	slotByName map[string]int

	log []Merge

	// writer scratch, reused across calls
	key     []byte
	items   []item
	group   []uint32
	gcounts []int
	pair    [2]ID
}

// NewGraph returns an empty graph with rules r.
func NewGraph(r Rules) *Graph {
	g := &Graph{
		rules:      compile(r),
		dict:       column.NewDictionary(),
		types:      &typeTable{byName: map[string]uint32{}},
		slotByName: map[string]int{},
	}
	// user_id is slot 0 whether limited or not: merge direction needs it.
	g.slots = append(g.slots, slot{name: TypeUserID, limit: g.rules.limits[TypeUserID]})
	g.slotByName[TypeUserID] = 0
	names := make([]string, 0, len(g.rules.limits))
	for t := range g.rules.limits {
		if t != TypeUserID {
			names = append(names, t)
		}
	}
	slices.Sort(names)
	for _, t := range names {
		g.slotByName[t] = len(g.slots)
		g.slots = append(g.slots, slot{name: t, limit: g.rules.limits[t]})
	}
	g.counts = make([]column.Paged[uint32], len(g.slots))
	g.gcounts = make([]int, len(g.slots))
	// person 0 is "none"
	g.canon.Append(0)
	g.merged.Append(0)
	g.idHead.Append(0)
	g.memNext.Append(0)
	for i := range g.counts {
		g.counts[i].Append(0)
	}
	return g
}

// Persons returns the number of person ids allocated (merged and erased
// persons included).
func (g *Graph) Persons() int { return g.canon.Len() - 1 }

// Canonical returns the person p was merged into (p itself if never merged),
// or 0 for an unknown id.
func (g *Graph) Canonical(p uint32) uint32 {
	if int(p) >= g.canon.Len() {
		return 0
	}
	return g.canon.Get(int(p))
}

// Lookup returns the canonical person of id (normalised by the rules).
func (g *Graph) Lookup(id ID) (uint32, bool) {
	id = g.rules.normalize(id)
	code, ok := g.code(id)
	if !ok {
		return 0, false
	}
	p := g.idPerson.Get(int(code))
	if p == 0 || p == suppressed {
		return 0, false
	}
	return p, true
}

// Identifiers returns the identifiers of p's canonical person, including
// those of every person merged into it, sorted by priority, type and value.
func (g *Graph) Identifiers(p uint32) []ID {
	c := g.Canonical(p)
	if c == 0 {
		return nil
	}
	return collect(&g.idHead, &g.idNext, c, g.dict.View(), g.types)
}

// MergeLog returns every merge in order. The slice must not be modified.
func (g *Graph) MergeLog() []Merge { return g.log[:len(g.log):len(g.log)] }

// Members returns the persons merged into p's canonical person, itself
// included, in no particular order.
func (g *Graph) Members(p uint32) []uint32 {
	c := g.Canonical(p)
	if c == 0 {
		return nil
	}
	var out []uint32
	m := c
	for {
		out = append(out, m)
		m = g.memNext.Get(int(m))
		if m == c {
			return out
		}
	}
}

// Bytes returns the graph's memory use: dictionary, paged arrays, merge log
// and type table. Pages copied for frozen views belong to the views.
func (g *Graph) Bytes() int64 {
	n := g.dict.Bytes()
	n += g.idPerson.Bytes(4) + g.idNext.Bytes(4)
	n += g.merged.Bytes(8) + g.canon.Bytes(4) + g.idHead.Bytes(4) + g.memNext.Bytes(4)
	for i := range g.counts {
		n += g.counts[i].Bytes(4)
	}
	n += int64(cap(g.log)) * int64(unsafe.Sizeof(Merge{}))
	for i := range g.log {
		m := &g.log[i]
		n += int64(len(m.Reason) + len(m.Source))
	}
	for _, t := range g.types.names {
		n += int64(len(t))*2 + 16 + 48
	}
	n += int64(cap(g.key) + cap(g.items)*int(unsafe.Sizeof(item{})) + cap(g.group)*4)
	return n
}

// typeCode returns the code of type t, if registered.
func (g *Graph) typeCode(t string) (uint32, bool) {
	c, ok := g.types.byName[t]
	return c, ok
}

// registerType returns the code of t, adding it to a fresh copy of the type
// table if needed (readers keep the old table).
func (g *Graph) registerType(t string) uint32 {
	if c, ok := g.types.byName[t]; ok {
		return c
	}
	old := g.types
	nt := &typeTable{names: make([]string, len(old.names), len(old.names)+1), byName: make(map[string]uint32, len(old.byName)+1)}
	copy(nt.names, old.names)
	for k, v := range old.byName {
		nt.byName[k] = v
	}
	c := uint32(len(nt.names))
	t = strings.Clone(t)
	nt.names = append(nt.names, t)
	nt.byName[t] = c
	g.types = nt
	return c
}

// code returns the dictionary code of a normalised identifier.
func (g *Graph) code(id ID) (uint32, bool) {
	tc, ok := g.typeCode(id.Type)
	if !ok {
		return 0, false
	}
	g.key = appendKey(g.key[:0], tc, id.Value)
	return g.dict.Code(unsafe.String(unsafe.SliceData(g.key), len(g.key)))
}

// slotOf returns the tracked slot of type t, or -1.
func (g *Graph) slotOf(t string) int {
	if t == TypeUserID {
		return 0
	}
	if len(g.slots) == 1 {
		return -1
	}
	if s, ok := g.slotByName[t]; ok {
		return s
	}
	return -1
}

// newPerson allocates a person id.
func (g *Graph) newPerson() (uint32, error) {
	n := g.canon.Len()
	if n >= math.MaxUint32-1 {
		return 0, ErrFull
	}
	p := uint32(n)
	g.canon.Append(p)
	if p&63 == 0 {
		g.merged.Append(0)
	}
	g.idHead.Append(0)
	g.memNext.Append(p)
	for i := range g.counts {
		g.counts[i].Append(0)
	}
	return p, nil
}

// intern returns the code of a normalised identifier, adding it if absent.
func (g *Graph) intern(id ID) (uint32, error) {
	tc := g.registerType(id.Type)
	g.key = appendKey(g.key[:0], tc, id.Value)
	if c, ok := g.dict.Code(unsafe.String(unsafe.SliceData(g.key), len(g.key))); ok {
		return c, nil
	}
	if g.dict.Len() >= math.MaxUint32-1 {
		return 0, ErrFull
	}
	c := g.dict.Intern(unsafe.String(unsafe.SliceData(g.key), len(g.key))) // Intern copies the bytes
	if int(c) != g.idPerson.Len() {
		panic("BUG: identity: dictionary and identifier arrays out of step")
	}
	g.idPerson.Append(0)
	g.idNext.Append(c)
	return c, nil
}

// attach adds identifier code (of tracked slot s, or -1) to canonical person p.
func (g *Graph) attach(code uint32, p uint32, s int) {
	g.idPerson.Set(int(code), p)
	if h := g.idHead.Get(int(p)); h == 0 {
		g.idHead.Set(int(p), code+1)
		g.idNext.Set(int(code), code)
	} else {
		g.idNext.Set(int(code), g.idNext.Get(int(h-1)))
		g.idNext.Set(int(h-1), code)
	}
	if s >= 0 {
		g.counts[s].Set(int(p), g.counts[s].Get(int(p))+1)
	}
}

// merge folds canonical person from into canonical person into. It costs
// O(members + identifiers) of from's group: the direction is set by the
// rules, not by size.
func (g *Graph) merge(into, from uint32) {
	if h := g.idHead.Get(int(from)); h != 0 {
		code := h - 1
		for {
			g.idPerson.Set(int(code), into)
			code = g.idNext.Get(int(code))
			if code == h-1 {
				break
			}
		}
	}
	m := from
	for {
		g.canon.Set(int(m), into)
		g.merged.Set(int(m>>6), g.merged.Get(int(m>>6))|1<<(m&63))
		m = g.memNext.Get(int(m))
		if m == from {
			break
		}
	}
	a, b := g.memNext.Get(int(into)), g.memNext.Get(int(from))
	g.memNext.Set(int(into), b)
	g.memNext.Set(int(from), a)

	if hb := g.idHead.Get(int(from)); hb != 0 {
		if ha := g.idHead.Get(int(into)); ha == 0 {
			g.idHead.Set(int(into), hb)
		} else {
			x, y := g.idNext.Get(int(ha-1)), g.idNext.Get(int(hb-1))
			g.idNext.Set(int(ha-1), y)
			g.idNext.Set(int(hb-1), x)
		}
		g.idHead.Set(int(from), 0)
	}
	for s := range g.counts {
		if c := g.counts[s].Get(int(from)); c != 0 {
			g.counts[s].Set(int(into), g.counts[s].Get(int(into))+c)
			g.counts[s].Set(int(from), 0)
		}
	}
}

// getter is a Paged array or a view of one.
type getter interface{ Get(i int) uint32 }

// collect lists the identifiers of canonical person c.
func collect[P getter](idHead, idNext P, c uint32, dict column.DictView, types *typeTable) []ID {
	h := idHead.Get(int(c))
	if h == 0 {
		return nil
	}
	var out []ID
	start := h - 1
	code := start
	for {
		out = append(out, decodeID(dict, types, code))
		code = idNext.Get(int(code))
		if code == start {
			break
		}
	}
	sortIDs(out)
	return out
}

func decodeID(dict column.DictView, types *typeTable, code uint32) ID {
	tc, v := decodeKey(dict.Get(code))
	return ID{Type: types.names[tc], Value: v}
}

func sortIDs(ids []ID) {
	slices.SortFunc(ids, func(a, b ID) int {
		if pa, pb := priority(a.Type), priority(b.Type); pa != pb {
			return int(pa) - int(pb)
		}
		if c := strings.Compare(a.Type, b.Type); c != 0 {
			return c
		}
		return strings.Compare(a.Value, b.Value)
	})
}
