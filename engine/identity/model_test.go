package identity

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"sort"
	"testing"
)

// model is the reference: maps and a union-find with the same rules,
// written for obviousness, not speed.
type model struct {
	rules  compiled
	owner  map[ID]int // person the identifier was attached to
	supp   map[ID]bool
	parent []int
}

func newModel(r Rules) *model {
	return &model{rules: compile(r), owner: map[ID]int{}, supp: map[ID]bool{}, parent: []int{0}}
}

func (m *model) find(p int) int {
	for m.parent[p] != p {
		m.parent[p] = m.parent[m.parent[p]]
		p = m.parent[p]
	}
	return p
}

func (m *model) count(root int, typ string) int {
	n := 0
	for id, o := range m.owner {
		if id.Type == typ && m.find(o) == root {
			n++
		}
	}
	return n
}

func (m *model) lookup(id ID) (uint32, bool) {
	o, ok := m.owner[m.rules.normalize(id)]
	if !ok {
		return 0, false
	}
	return uint32(m.find(o)), true
}

type outcome struct {
	person   uint32
	created  bool
	attached []ID
	merges   [][2]uint32
	rejected map[ID]RejectKind
	failed   bool
}

func (o outcome) String() string {
	return fmt.Sprintf("person=%d created=%v attached=%v merges=%v rejected=%v failed=%v", o.person, o.created, o.attached, o.merges, o.rejected, o.failed)
}

func fromResolution(r Resolution, err error) outcome {
	o := outcome{person: r.Person, created: r.Created, attached: slices.Clone(r.Attached), rejected: map[ID]RejectKind{}, failed: err != nil}
	for _, m := range r.Merges {
		o.merges = append(o.merges, [2]uint32{m.From, m.Into})
	}
	for _, rj := range r.Rejected {
		o.rejected[rj.ID] = rj.Kind
	}
	sortIDs(o.attached)
	return o
}

func (m *model) resolve(in []ID) outcome {
	out := outcome{rejected: map[ID]RejectKind{}}
	type cand struct {
		id     ID
		prio   uint8
		person int
	}
	var cs []cand
	for _, raw := range in {
		id := m.rules.normalize(raw)
		if _, k := m.rules.check(id); k != 0 {
			out.rejected[id] = k
			continue
		}
		if slices.ContainsFunc(cs, func(c cand) bool { return c.id == id }) {
			continue
		}
		if m.supp[id] {
			out.rejected[id] = RejectErased
			continue
		}
		c := cand{id: id, prio: priority(id.Type)}
		if o, ok := m.owner[id]; ok {
			c.person = m.find(o)
		}
		cs = append(cs, c)
	}
	sort.SliceStable(cs, func(i, j int) bool {
		if cs[i].prio != cs[j].prio {
			return cs[i].prio < cs[j].prio
		}
		return cs[i].person != 0 && cs[j].person == 0
	})
	var group []int
	var fresh []ID
	held := map[string]int{}
	for _, c := range cs {
		if c.person != 0 {
			if slices.Contains(group, c.person) {
				continue
			}
			ok := true
			for t, l := range m.rules.limits {
				if held[t]+m.count(c.person, t) > l {
					ok = false
				}
			}
			if !ok {
				out.rejected[c.id] = RejectConflict
				continue
			}
			for t := range m.rules.limits {
				held[t] += m.count(c.person, t)
			}
			group = append(group, c.person)
			continue
		}
		if l, ok := m.rules.limits[c.id.Type]; ok && held[c.id.Type]+1 > l {
			out.rejected[c.id] = RejectLimit
			continue
		}
		held[c.id.Type]++
		fresh = append(fresh, c.id)
	}
	if len(group) == 0 && len(fresh) == 0 {
		out.failed = true
		return out
	}
	var target int
	if len(group) == 0 {
		target = len(m.parent)
		m.parent = append(m.parent, target)
		out.created = true
	} else {
		var withUser []int
		for _, p := range group {
			if m.count(p, TypeUserID) > 0 {
				withUser = append(withUser, p)
			}
		}
		if len(withUser) == 1 {
			target = withUser[0]
		} else {
			target = slices.Min(group)
		}
	}
	for _, p := range group {
		if p != target {
			m.parent[p] = target
			out.merges = append(out.merges, [2]uint32{uint32(p), uint32(target)})
		}
	}
	for _, id := range fresh {
		m.owner[id] = target
	}
	out.attached = fresh
	sortIDs(out.attached)
	out.person = uint32(target)
	return out
}

func (m *model) erase(p int) []ID {
	root := m.find(p)
	var out []ID
	for id, o := range m.owner {
		if m.find(o) == root {
			out = append(out, id)
			delete(m.owner, id)
			m.supp[id] = true
		}
	}
	sortIDs(out)
	return out
}

func (m *model) unsuppress(id ID) bool {
	id = m.rules.normalize(id)
	if !m.supp[id] {
		return false
	}
	delete(m.supp, id)
	return true
}

// universe is a small set of identifiers so that random operations collide.
var (
	uTypes  = []string{TypeUserID, TypeEmail, TypePhone, TypeAnonymousID, "external:crm", "custom"}
	uValues = []string{"1", "2", "3", "4", "5", "null", "0", " 3", "E", " e "}
)

func universeID(b byte) ID {
	return ID{Type: uTypes[int(b)%len(uTypes)], Value: uValues[int(b>>3)%len(uValues)]}
}

var modelRules = []Rules{
	DefaultRules(),
	{Blocked: []string{"null"}},
	{Limits: map[string]int{TypeUserID: 1, TypeEmail: 1, "external:crm": 2}, Blocked: DefaultRules().Blocked, BlockZeroDash: true, Normalize: true},
	{Limits: map[string]int{TypeAnonymousID: 2}, Normalize: true},
}

// harness runs one operation on the graph and the model and compares.
type harness struct {
	g *Graph
	m *model
	n int
}

func (h *harness) op(code byte, arg []byte) error {
	h.n++
	src := fmt.Sprintf("m%d", h.n)
	switch code % 8 {
	case 0, 1, 2, 3, 4:
		var in []ID
		for _, b := range arg {
			in = append(in, universeID(b))
		}
		got := fromResolution(h.g.Resolve(in, int64(h.n), src))
		want := h.m.resolve(in)
		if got.String() != want.String() {
			return fmt.Errorf("op %d Resolve(%q):\n got %v\nwant %v", h.n, in, got, want)
		}
	case 5:
		if len(arg) < 2 {
			return nil
		}
		x, y := universeID(arg[0]), universeID(arg[1])
		got := fromResolution(h.g.Link(x, y, int64(h.n), src))
		want := h.m.resolve([]ID{x, y})
		if got.String() != want.String() {
			return fmt.Errorf("op %d Link(%q, %q):\n got %v\nwant %v", h.n, x, y, got, want)
		}
	case 6:
		if len(arg) < 1 {
			return nil
		}
		id := universeID(arg[0])
		p, ok := h.g.Lookup(id)
		q, mok := h.m.lookup(id)
		if ok != mok || p != q {
			return fmt.Errorf("op %d Lookup(%q) = %d,%v; model %d,%v", h.n, id, p, ok, q, mok)
		}
		if !ok {
			return nil
		}
		got, want := h.g.Erase(p), h.m.erase(int(q))
		if fmt.Sprint(got) != fmt.Sprint(want) {
			return fmt.Errorf("op %d Erase(%d) = %v, model %v", h.n, p, got, want)
		}
	case 7:
		if len(arg) < 1 {
			return nil
		}
		id := universeID(arg[0])
		if got, want := h.g.Unsuppress(id), h.m.unsuppress(id); got != want {
			return fmt.Errorf("op %d Unsuppress(%q) = %v, model %v", h.n, id, got, want)
		}
	}
	return h.compare()
}

// compare checks that every identifier of the universe resolves to the same
// person (hence the same partition) and every person to the same canonical.
func (h *harness) compare() error {
	if h.g.Persons() != len(h.m.parent)-1 {
		return fmt.Errorf("after op %d: %d persons, model %d", h.n, h.g.Persons(), len(h.m.parent)-1)
	}
	for b := 0; b < 256; b++ {
		id := universeID(byte(b))
		p, ok := h.g.Lookup(id)
		q, mok := h.m.lookup(id)
		if ok != mok || p != q {
			return fmt.Errorf("after op %d: Lookup(%q) = %d,%v; model %d,%v", h.n, id, p, ok, q, mok)
		}
	}
	for p := 1; p < len(h.m.parent); p++ {
		if got, want := h.g.Canonical(uint32(p)), uint32(h.m.find(p)); got != want {
			return fmt.Errorf("after op %d: Canonical(%d) = %d, model %d", h.n, p, got, want)
		}
	}
	return invariants(h.g)
}

func TestAgainstModel(t *testing.T) {
	for ri, r := range modelRules {
		for seed := uint64(0); seed < 40; seed++ {
			rng := rand.New(rand.NewPCG(seed, uint64(ri)))
			h := &harness{g: NewGraph(r), m: newModel(r)}
			for range 150 {
				code := byte(rng.IntN(8))
				if rng.IntN(10) < 6 {
					code = byte(rng.IntN(5)) // mostly resolves
				}
				arg := make([]byte, 1+rng.IntN(4))
				for i := range arg {
					arg[i] = byte(rng.IntN(256))
				}
				if err := h.op(code, arg); err != nil {
					t.Fatalf("rules %d seed %d: %v", ri, seed, err)
				}
			}
			checkView(t, h.g, h.g.Freeze())
			checkView(t, h.g, restore(t, h.g, r))
		}
	}
}
