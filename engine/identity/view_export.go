package identity

import "fmt"

// ExportIdentifiers calls fn for every identifier attached to a person as of
// the view, with its canonical person, in identifier (dictionary code) order,
// stopping at the first error. It is the View counterpart of Graph.Export:
// safe while the writer goes on.
func (v *View) ExportIdentifiers(fn func(id ID, person uint32) error) error {
	n := min(v.idPerson.Len(), v.dict.Len())
	for code := 0; code < n; code++ {
		p := v.idPerson.Get(code)
		if p == 0 || p == suppressed {
			continue
		}
		id := decodeID(v.dict, v.types, uint32(code))
		if err := fn(id, p); err != nil {
			return fmt.Errorf("cannot export identifier %s: %w", id, err)
		}
	}
	return nil
}

// ExportSuppressed calls fn for every identifier suppressed by an erasure
// as of the view, in identifier order.
func (v *View) ExportSuppressed(fn func(id ID) error) error {
	n := min(v.idPerson.Len(), v.dict.Len())
	for code := 0; code < n; code++ {
		if v.idPerson.Get(code) != suppressed {
			continue
		}
		id := decodeID(v.dict, v.types, uint32(code))
		if err := fn(id); err != nil {
			return fmt.Errorf("cannot export suppressed identifier %s: %w", id, err)
		}
	}
	return nil
}

// IDState is the state of an identifier known to the graph.
type IDState uint8

const (
	IDAttached   IDState = iota + 1 // attached to a person
	IDSuppressed                    // erased, rejected until unsuppressed
	IDDetached                      // known (once erased, then unsuppressed) but attached to nobody
)

// ExportAll calls fn for every identifier the graph knows, in identifier
// code order, with its state and (when attached) its canonical person.
// Restoring them in this order (Restorer.Identifier, Suppressed, Detached)
// reproduces the identifier codes exactly.
func (v *View) ExportAll(fn func(id ID, person uint32, st IDState) error) error {
	n := min(v.idPerson.Len(), v.dict.Len())
	for code := 0; code < n; code++ {
		p := v.idPerson.Get(code)
		st := IDAttached
		switch p {
		case 0:
			st = IDDetached
		case suppressed:
			st, p = IDSuppressed, 0
		}
		id := decodeID(v.dict, v.types, uint32(code))
		if err := fn(id, p, st); err != nil {
			return fmt.Errorf("cannot export identifier %s: %w", id, err)
		}
	}
	return nil
}

// Detached restores an identifier that is known but attached to nobody, so
// that the identifiers after it keep their codes.
func (r *Restorer) Detached(id ID) error {
	if r.err != nil {
		return r.err
	}
	code, err := r.g.intern(r.g.rules.normalize(id))
	if err != nil {
		r.err = fmt.Errorf("cannot restore identifier %s: %w", id, err)
		return r.err
	}
	if r.g.idPerson.Get(int(code)) != 0 {
		r.err = fmt.Errorf("cannot restore detached identifier %s: already attached", id)
	}
	return r.err
}
