package identity

import (
	"unsafe"

	"github.com/cohortdb/cohort/engine/column"
)

// View is an immutable snapshot of a Graph, safe for any number of
// concurrent readers while the writer goes on.
type View struct {
	canon    column.PagedView[uint32]
	merged   column.PagedView[uint64]
	idHead   column.PagedView[uint32]
	idPerson column.PagedView[uint32]
	idNext   column.PagedView[uint32]
	dict     column.DictView
	types    *typeTable
	log      []Merge
	normal   compiled
}

// Freeze returns a view of the graph as it is now. It costs O(pages): the
// writer copies a page the next time it writes to it.
func (g *Graph) Freeze() *View {
	return &View{
		canon:    g.canon.Freeze(),
		merged:   g.merged.Freeze(),
		idHead:   g.idHead.Freeze(),
		idPerson: g.idPerson.Freeze(),
		idNext:   g.idNext.Freeze(),
		dict:     g.dict.View(),
		types:    g.types,
		log:      g.log[:len(g.log):len(g.log)],
		normal:   g.rules,
	}
}

// Persons returns the number of person ids allocated.
func (v *View) Persons() int { return v.canon.Len() - 1 }

// Canonical returns the person p was merged into (p itself if never
// merged), or 0 for an id unknown to the view.
//
// Scans call it once per event, so persons never merged (almost all of
// them) are answered from a 1-bit-per-person bitmap that stays in cache,
// instead of a random read of the 4-byte-per-person canonical array.
func (v *View) Canonical(p uint32) uint32 {
	if int(p) >= v.canon.Len() {
		return 0
	}
	if v.merged.Get(int(p>>6))&(1<<(p&63)) == 0 {
		return p
	}
	return v.canon.Get(int(p))
}

// MapCanonical writes the canonical person of src[i] to dst[i] for a chunk
// of person ids; dst must be at least as long as src. Ids unknown to the
// view map to 0.
func (v *View) MapCanonical(dst, src []uint32) {
	dst = dst[:len(src)]
	n := uint32(v.canon.Len())
	for i, p := range src {
		if p < n {
			dst[i] = v.canon.Get(int(p))
		} else {
			dst[i] = 0
		}
	}
}

// Lookup returns the canonical person of id as of the view.
func (v *View) Lookup(id ID) (uint32, bool) {
	id = v.normal.normalize(id)
	tc, ok := v.types.byName[id.Type]
	if !ok {
		return 0, false
	}
	var buf [64]byte
	k := appendKey(buf[:0], tc, id.Value)
	code, ok := v.dict.Code(unsafe.String(unsafe.SliceData(k), len(k)))
	if !ok || int(code) >= v.idPerson.Len() {
		return 0, false
	}
	p := v.idPerson.Get(int(code))
	if p == 0 || p == suppressed {
		return 0, false
	}
	return p, true
}

// Identifiers returns the identifiers of p's canonical person as of the
// view, sorted by priority, type and value.
func (v *View) Identifiers(p uint32) []ID {
	c := v.Canonical(p)
	if c == 0 {
		return nil
	}
	return collect(v.idHead, v.idNext, c, v.dict, v.types)
}

// MergeLog returns the merges applied before the view was taken. The slice
// must not be modified.
func (v *View) MergeLog() []Merge { return v.log }
