package identity

import (
	"fmt"
	"slices"
	"testing"
)

func u(v string) ID   { return ID{TypeUserID, v} }
func a(v string) ID   { return ID{TypeAnonymousID, v} }
func e(v string) ID   { return ID{TypeEmail, v} }
func ph(v string) ID  { return ID{TypePhone, v} }
func ext(v string) ID { return ID{"external:crm", v} }

func ids(x ...ID) []ID { return x }

// checkInvariants verifies the graph's structural invariants.
func checkInvariants(tb testing.TB, g *Graph) {
	tb.Helper()
	if err := invariants(g); err != nil {
		tb.Fatal(err)
	}
}

func invariants(g *Graph) error {
	n := g.Persons()
	seen := 0
	for p := uint32(1); p <= uint32(n); p++ {
		c := g.Canonical(p)
		if c == 0 || int(c) > n {
			return fmt.Errorf("person %d: canonical %d out of range", p, c)
		}
		if g.Canonical(c) != c {
			return fmt.Errorf("person %d: canonical not idempotent: %d -> %d", p, c, g.Canonical(c))
		}
		if c != p {
			if len(g.Identifiers(p)) != len(g.Identifiers(c)) {
				return fmt.Errorf("person %d: identifiers differ from canonical %d", p, c)
			}
			continue
		}
		members := g.Members(c)
		if !slices.Contains(members, c) {
			return fmt.Errorf("person %d: not among its members %v", c, members)
		}
		for _, m := range members {
			if g.Canonical(m) != c {
				return fmt.Errorf("member %d of %d has canonical %d", m, c, g.Canonical(m))
			}
		}
		got := g.Identifiers(c)
		seen += len(got)
		perType := map[string]int{}
		for _, id := range got {
			perType[id.Type]++
			if q, ok := g.Lookup(id); !ok || q != c {
				return fmt.Errorf("identifier %s of person %d looks up to %d, %v", id, c, q, ok)
			}
		}
		for t, l := range g.rules.limits {
			if perType[t] > l {
				return fmt.Errorf("person %d holds %d %s (limit %d): %v", c, perType[t], t, l, got)
			}
		}
		for s, sl := range g.slots {
			if int(g.counts[s].Get(int(c))) != perType[sl.name] {
				return fmt.Errorf("person %d: counter %s = %d, holds %d", c, sl.name, g.counts[s].Get(int(c)), perType[sl.name])
			}
		}
	}
	exported := 0
	err := g.Export(func(id ID, p uint32) error {
		exported++
		if g.Canonical(p) != p {
			return fmt.Errorf("export of %s gives non-canonical person %d", id, p)
		}
		return nil
	})
	if err != nil {
		return err
	}
	if exported != seen {
		return fmt.Errorf("export has %d identifiers, persons hold %d", exported, seen)
	}
	return nil
}
