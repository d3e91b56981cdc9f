package identity

import (
	"fmt"
	"unsafe"
)

// Reserve makes room for n identifiers (bulk restore knows the count).
func (r *Restorer) Reserve(n int) { r.g.dict.Reserve(n) }

// Next restores the next identifier in code order, as View.ExportAll lists
// them (attached to person, suppressed, or detached), in one dictionary
// probe: the identifier must be new and gets the next code. It is the fast
// form of Identifier / Suppressed / Detached for a complete export.
func (r *Restorer) Next(id ID, person uint32, st IDState) error {
	if r.err != nil {
		return r.err
	}
	g := r.g
	id = g.rules.normalize(id)
	var c uint32
	if st == IDAttached {
		if c = g.Canonical(person); c == 0 {
			r.err = fmt.Errorf("cannot restore identifier %s: unknown person %d", id, person)
			return r.err
		}
	} else if st != IDSuppressed && st != IDDetached {
		r.err = fmt.Errorf("cannot restore identifier %s: unknown state %d", id, st)
		return r.err
	}
	want := g.dict.Len()
	if want >= 1<<32-2 {
		r.err = fmt.Errorf("cannot restore identifier %s: %w", id, ErrFull)
		return r.err
	}
	tc := g.registerType(id.Type)
	g.key = appendKey(g.key[:0], tc, id.Value)
	code := g.dict.Intern(unsafe.String(unsafe.SliceData(g.key), len(g.key))) // Intern copies the bytes
	if int(code) != want {
		r.err = fmt.Errorf("cannot restore identifier %s: listed twice (code %d)", id, code)
		return r.err
	}
	g.idPerson.Append(0)
	g.idNext.Append(code)
	switch st {
	case IDAttached:
		g.attach(code, c, g.slotOf(id.Type))
	case IDSuppressed:
		g.idPerson.Set(int(code), suppressed)
	}
	return nil
}
