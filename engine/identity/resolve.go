package identity

import (
	"fmt"
	"strings"
)

// Resolution is the outcome of Resolve or Link.
type Resolution struct {
	Person   uint32      // canonical person the request is attributed to
	Created  bool        // Person was created by this request
	Attached []ID        // identifiers newly attached to Person
	Merges   []Merge     // persons merged into Person by this request
	Rejected []Rejection // identifiers not used, with the reason
}

// Merge records one person folded into another.
type Merge struct {
	From, Into uint32
	At         int64  // µs since the epoch, as given to Resolve
	Reason     string // e.g. "anonymous_id a1 and user_id u1 seen together in message m"
	Source     string // e.g. the message id
	Via        ID     // From's identifier that linked it
}

// Rejection is an identifier that was not used.
type Rejection struct {
	ID     ID
	Reason string
	Kind   RejectKind
}

// item is one usable identifier of a request.
type item struct {
	id     ID
	prio   uint8
	ok     bool   // accepted
	known  bool   // has a dictionary code
	slot   int    // tracked slot, -1 none
	code   uint32 // valid when known
	person uint32 // canonical person, 0 when not attached
}

// before orders items for the greedy pass.
func (it *item) before(o *item) bool {
	if it.prio != o.prio {
		return it.prio < o.prio
	}
	return it.person != 0 && o.person == 0
}

// Resolve attributes a message's identifiers to a person, creating or
// merging persons under the rules (see the package documentation). at is the
// message time in µs and source names the message (its id) in merge reasons.
// When every identifier is rejected it returns the rejections and an error
// wrapping ErrNoUsableIdentifier.
func (g *Graph) Resolve(ids []ID, at int64, source string) (Resolution, error) {
	return g.resolve(ids, at, source, false)
}

// Link records Segment's alias: a (previousId) and b (userId) are the same
// person. The rules are those of Resolve with the two identifiers.
func (g *Graph) Link(a, b ID, at int64, source string) (Resolution, error) {
	g.pair[0], g.pair[1] = a, b
	r, err := g.resolve(g.pair[:], at, source, true)
	g.pair = [2]ID{}
	return r, err
}

func (g *Graph) resolve(ids []ID, at int64, source string, alias bool) (Resolution, error) {
	var res Resolution
	items := g.items[:0]
	defer func() { clear(items); g.items = items[:0] }()
	for _, raw := range ids {
		id := g.rules.normalize(raw)
		if reason, kind := g.rules.check(id); kind != 0 {
			res.Rejected = append(res.Rejected, Rejection{ID: id, Reason: reason, Kind: kind})
			continue
		}
		if hasID(items, id) {
			continue
		}
		it := item{id: id, prio: priority(id.Type), slot: g.slotOf(id.Type)}
		if code, ok := g.code(id); ok {
			it.known, it.code = true, code
			switch p := g.idPerson.Get(int(code)); p {
			case suppressed:
				res.Rejected = append(res.Rejected, Rejection{ID: id, Reason: ReasonErased, Kind: RejectErased})
				continue
			case 0:
			default:
				it.person = p
			}
		}
		items = append(items, it)
	}
	// Stable insertion sort by priority, known identifiers first within a
	// type (a person's existing user_id outranks a new one): requests are small.
	for i := 1; i < len(items); i++ {
		for j := i; j > 0 && items[j].before(&items[j-1]); j-- {
			items[j], items[j-1] = items[j-1], items[j]
		}
	}

	// Grow the group in priority order while it respects the limits.
	group := g.group[:0]
	gc := g.gcounts
	clear(gc)
	nNew := 0
	for i := range items {
		it := &items[i]
		if p := it.person; p != 0 {
			if containsU32(group, p) {
				it.ok = true
				continue
			}
			// A person alone respects the limits; its counts matter only
			// if another identifier follows.
			if len(group) == 0 && nNew == 0 && i == len(items)-1 {
				group = append(group, p)
				it.ok = true
				continue
			}
			if s := g.exceeds(gc, p); s >= 0 {
				res.Rejected = append(res.Rejected, Rejection{ID: it.id, Reason: g.conflictReason(it, s, group, items[:i]), Kind: RejectConflict})
				continue
			}
			for s := range gc {
				gc[s] += int(g.counts[s].Get(int(p)))
			}
			group = append(group, p)
			it.ok = true
			continue
		}
		if s := it.slot; s >= 0 && g.slots[s].limit > 0 && gc[s]+1 > g.slots[s].limit {
			res.Rejected = append(res.Rejected, Rejection{ID: it.id, Reason: g.limitReason(it, s, group, items[:i]), Kind: RejectLimit})
			continue
		}
		if it.slot >= 0 {
			gc[it.slot]++
		}
		it.ok = true
		nNew++
	}
	g.group = group[:0]

	if len(group) == 0 && nNew == 0 {
		return res, fmt.Errorf("cannot resolve identifiers: %w", noUsable(ids, res.Rejected))
	}

	var target uint32
	if len(group) == 0 {
		p, err := g.newPerson()
		if err != nil {
			return res, fmt.Errorf("cannot create person: %w", err)
		}
		target, res.Created = p, true
	} else {
		target = g.pickTarget(group)
	}

	if len(group) > 1 {
		into := firstOf(items, target)
		for _, p := range group {
			if p == target {
				continue
			}
			via := firstOf(items, p)
			viaID := g.stableID(via)
			reason := ""
			if alias {
				// Name the pair as given: previousId aliased to userId,
				// whichever way the merge goes.
				reason = fmt.Sprintf("%s aliased to %s in message %s", g.rules.normalize(ids[0]), g.rules.normalize(ids[1]), sourceName(source))
			} else {
				reason = fmt.Sprintf("%s and %s seen together in message %s", viaID, into.id, sourceName(source))
			}
			m := Merge{From: p, Into: target, At: at, Source: strings.Clone(source), Via: viaID, Reason: reason}
			g.merge(target, p)
			g.log = append(g.log, m)
			res.Merges = append(res.Merges, m)
		}
	}

	for i := range items {
		it := &items[i]
		if !it.ok || it.person != 0 {
			continue
		}
		code, err := g.intern(it.id)
		if err != nil {
			return res, fmt.Errorf("cannot attach %s: %w", it.id, err)
		}
		g.attach(code, target, it.slot)
		res.Attached = append(res.Attached, it.id)
	}
	res.Person = target
	return res, nil
}

// exceeds returns the first slot whose limit the group counts gc plus person
// p's counts would break, or -1.
func (g *Graph) exceeds(gc []int, p uint32) int {
	for s := range gc {
		if l := g.slots[s].limit; l > 0 && gc[s]+int(g.counts[s].Get(int(p))) > l {
			return s
		}
	}
	return -1
}

// pickTarget chooses the person a group merges into: the only one holding a
// user_id, else the oldest.
func (g *Graph) pickTarget(group []uint32) uint32 {
	if len(group) == 1 {
		return group[0]
	}
	var withUser, oldest uint32
	n := 0
	for _, p := range group {
		if g.counts[0].Get(int(p)) > 0 {
			withUser = p
			n++
		}
		if oldest == 0 || p < oldest {
			oldest = p
		}
	}
	if n == 1 {
		return withUser
	}
	return oldest
}

// stableID returns a copy of it's identifier backed by the dictionary, so
// the merge log does not keep callers' buffers alive.
func (g *Graph) stableID(it *item) ID {
	if it.known {
		return decodeID(g.dict.View(), g.types, it.code)
	}
	return ID{Type: strings.Clone(it.id.Type), Value: strings.Clone(it.id.Value)}
}

// held returns one identifier of slot s held by the group, preferring the
// request's accepted identifiers.
func (g *Graph) held(s int, group []uint32, prev []item) (ID, bool) {
	for i := range prev {
		if prev[i].ok && prev[i].slot == s {
			return prev[i].id, true
		}
	}
	for _, p := range group {
		if id, ok := g.firstOfSlot(p, s); ok {
			return id, true
		}
	}
	return ID{}, false
}

// firstOfSlot returns an identifier of slot s held by canonical person p.
func (g *Graph) firstOfSlot(p uint32, s int) (ID, bool) {
	for _, id := range g.Identifiers(p) {
		if g.slotOf(id.Type) == s {
			return id, true
		}
	}
	return ID{}, false
}

func (g *Graph) conflictReason(it *item, s int, group []uint32, prev []item) string {
	sl := g.slots[s]
	theirs, _ := g.firstOfSlot(it.person, s)
	ours, ok := g.held(s, group, prev)
	if !ok {
		return fmt.Sprintf("conflict: %s belongs to person %d, which holds %s; more than %d %s per person", it.id, it.person, theirs, sl.limit, sl.name)
	}
	return fmt.Sprintf("conflict: %s belongs to person %d, which holds %s; it cannot join %s (limit %d %s per person)", it.id, it.person, theirs, ours, sl.limit, sl.name)
}

func (g *Graph) limitReason(it *item, s int, group []uint32, prev []item) string {
	sl := g.slots[s]
	ours, _ := g.held(s, group, prev)
	return fmt.Sprintf("limit: %s not attached, the person already holds %s (limit %d %s per person)", it.id, ours, sl.limit, sl.name)
}

func sourceName(source string) string {
	if source == "" {
		return "(unnamed)"
	}
	return source
}

func noUsable(ids []ID, rej []Rejection) error {
	if len(ids) == 0 {
		return fmt.Errorf("%w: no identifiers given", ErrNoUsableIdentifier)
	}
	var b strings.Builder
	for i, r := range rej {
		if i > 0 {
			b.WriteString("; ")
		}
		fmt.Fprintf(&b, "%s %q: %s", r.ID.Type, r.ID.Value, r.Reason)
	}
	return fmt.Errorf("%w: %s", ErrNoUsableIdentifier, b.String())
}

func hasID(items []item, id ID) bool {
	for i := range items {
		if items[i].id == id {
			return true
		}
	}
	return false
}

func containsU32(s []uint32, v uint32) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// firstOf returns the highest-priority accepted item of person p.
func firstOf(items []item, p uint32) *item {
	for i := range items {
		if items[i].ok && items[i].person == p {
			return &items[i]
		}
	}
	panic("BUG: identity: merged person without an identifier in the request")
}
