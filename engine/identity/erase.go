package identity

// redacted replaces identifier values in merge log entries of erased persons.
const redacted = "(erased)"

// Erase removes every identifier of p's canonical person (its merged members
// included) and returns them. They no longer resolve, and Resolve rejects
// them with ReasonErased until Unsuppress. Merge log entries of the group
// are redacted. Person ids stay allocated and are never reused.
func (g *Graph) Erase(p uint32) []ID {
	c := g.Canonical(p)
	if c == 0 {
		return nil
	}
	ids := g.Identifiers(c)
	if h := g.idHead.Get(int(c)); h != 0 {
		start := h - 1
		code := start
		for {
			next := g.idNext.Get(int(code))
			g.idPerson.Set(int(code), suppressed)
			g.idNext.Set(int(code), code)
			code = next
			if code == start {
				break
			}
		}
		g.idHead.Set(int(c), 0)
	}
	for s := range g.counts {
		g.counts[s].Set(int(c), 0)
	}
	g.redact(c)
	return ids
}

// redact rewrites the merge log without the identifiers of c's group. The
// log is copied: frozen views keep the version they captured.
func (g *Graph) redact(c uint32) {
	touched := false
	for i := range g.log {
		if g.canon.Get(int(g.log[i].Into)) == c {
			touched = true
			break
		}
	}
	if !touched {
		return
	}
	log := make([]Merge, len(g.log), cap(g.log))
	copy(log, g.log)
	for i := range log {
		m := &log[i]
		if g.canon.Get(int(m.Into)) != c {
			continue
		}
		m.Via.Value = redacted
		m.Reason = "identifiers erased"
	}
	g.log = log
}

// Unsuppress lifts the suppression of an erased identifier so it can be
// attached again. It reports whether id was suppressed.
func (g *Graph) Unsuppress(id ID) bool {
	id = g.rules.normalize(id)
	code, ok := g.code(id)
	if !ok || g.idPerson.Get(int(code)) != suppressed {
		return false
	}
	g.idPerson.Set(int(code), 0)
	return true
}

// Suppressed reports whether id is suppressed by an erasure.
func (g *Graph) Suppressed(id ID) bool {
	id = g.rules.normalize(id)
	code, ok := g.code(id)
	return ok && g.idPerson.Get(int(code)) == suppressed
}
