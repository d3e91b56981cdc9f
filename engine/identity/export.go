package identity

import (
	"fmt"
)

// Export calls fn for every attached identifier with its canonical person,
// in identifier order, stopping at the first error.
func (g *Graph) Export(fn func(id ID, person uint32) error) error {
	dv := g.dict.View()
	for code := 0; code < g.idPerson.Len(); code++ {
		p := g.idPerson.Get(code)
		if p == 0 || p == suppressed {
			continue
		}
		id := decodeID(dv, g.types, uint32(code))
		if err := fn(id, p); err != nil {
			return fmt.Errorf("cannot export identifier %s: %w", id, err)
		}
	}
	return nil
}

// ExportSuppressed calls fn for every identifier suppressed by an erasure.
func (g *Graph) ExportSuppressed(fn func(id ID) error) error {
	dv := g.dict.View()
	for code := 0; code < g.idPerson.Len(); code++ {
		if g.idPerson.Get(code) != suppressed {
			continue
		}
		id := decodeID(dv, g.types, uint32(code))
		if err := fn(id); err != nil {
			return fmt.Errorf("cannot export suppressed identifier %s: %w", id, err)
		}
	}
	return nil
}

// Restorer rebuilds a Graph from an export: the person count, the merge log
// in order, then identifiers and suppressed identifiers. No rule is
// re-checked: the export is trusted to have been made under the rules.
type Restorer struct {
	g   *Graph
	err error
}

// NewRestorer starts a restore under rules r.
func NewRestorer(r Rules) *Restorer { return &Restorer{g: NewGraph(r)} }

// Persons allocates person ids up to n.
func (r *Restorer) Persons(n int) error {
	for r.err == nil && r.g.Persons() < n {
		if _, err := r.g.newPerson(); err != nil {
			r.err = fmt.Errorf("cannot restore persons: %w", err)
		}
	}
	return r.err
}

// Merge replays one merge log entry.
func (r *Restorer) Merge(m Merge) error {
	if r.err != nil {
		return r.err
	}
	into, from := r.g.Canonical(m.Into), r.g.Canonical(m.From)
	if into == 0 || from == 0 {
		r.err = fmt.Errorf("cannot restore merge %d into %d: unknown person", m.From, m.Into)
		return r.err
	}
	if into != from {
		r.g.merge(into, from)
	}
	r.g.log = append(r.g.log, m)
	return nil
}

// Identifier attaches id to person (made canonical).
func (r *Restorer) Identifier(id ID, person uint32) error {
	if r.err != nil {
		return r.err
	}
	c := r.g.Canonical(person)
	if c == 0 {
		r.err = fmt.Errorf("cannot restore identifier %s: unknown person %d", id, person)
		return r.err
	}
	if p, ok := r.g.Lookup(id); ok {
		r.err = fmt.Errorf("cannot restore identifier %s: already attached to person %d", id, p)
		return r.err
	}
	code, err := r.g.intern(r.g.rules.normalize(id))
	if err != nil {
		r.err = fmt.Errorf("cannot restore identifier %s: %w", id, err)
		return r.err
	}
	r.g.attach(code, c, r.g.slotOf(id.Type))
	return nil
}

// Suppressed restores the suppression of an erased identifier.
func (r *Restorer) Suppressed(id ID) error {
	if r.err != nil {
		return r.err
	}
	code, err := r.g.intern(r.g.rules.normalize(id))
	if err != nil {
		r.err = fmt.Errorf("cannot restore suppressed identifier %s: %w", id, err)
		return r.err
	}
	if r.g.idPerson.Get(int(code)) != 0 {
		r.err = fmt.Errorf("cannot restore suppressed identifier %s: already attached", id)
		return r.err
	}
	r.g.idPerson.Set(int(code), suppressed)
	return nil
}

// Graph returns the restored graph, or the first error met.
func (r *Restorer) Graph() (*Graph, error) {
	if r.err != nil {
		return nil, r.err
	}
	g := r.g
	r.g = nil
	return g, nil
}
