package identity

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

type step struct {
	ids        []ID // Resolve (or Link when link is set, ids[0] → ids[1])
	link       bool
	erase      *ID // Erase the person of this identifier
	unsuppress *ID

	wantErr      error
	wantPerson   uint32            // 0 = not checked
	wantCreated  *bool             // nil = not checked
	wantRejected map[ID]RejectKind // exact set of rejected identifiers
	wantMerges   [][2]uint32       // exact From, Into pairs
	wantAttached int               // -1 = not checked
}

type resolveCase struct {
	name    string
	rules   *Rules
	steps   []step
	same    [][]ID            // each list resolves to one person
	apart   []ID              // pairwise different persons
	absent  []ID              // do not resolve
	persons int               // Persons() at the end, 0 = not checked
	reasons []string          // substrings of the merge log reasons, in order
	canon   map[uint32]uint32 // Canonical expectations
}

func res(x ...ID) step { return step{ids: x, wantAttached: -1} }

func (s step) person(p uint32) step             { s.wantPerson = p; return s }
func (s step) created(c bool) step              { s.wantCreated = &c; return s }
func (s step) attached(n int) step              { s.wantAttached = n; return s }
func (s step) merges(m ...[2]uint32) step       { s.wantMerges = m; return s }
func (s step) fails(err error) step             { s.wantErr = err; return s }
func (s step) rejects(r map[ID]RejectKind) step { s.wantRejected = r; return s }
func linkStep(x, y ID) step                     { return step{ids: ids(x, y), link: true, wantAttached: -1} }
func eraseStep(id ID) step                      { return step{erase: &id, wantAttached: -1} }
func unsuppressStep(id ID) step                 { return step{unsuppress: &id, wantAttached: -1} }

func TestResolve(t *testing.T) {
	noLimits := Rules{Blocked: DefaultRules().Blocked, BlockZeroDash: true, Normalize: true}
	emailOnce := DefaultRules()
	emailOnce.Limits["email"] = 1
	cases := []resolveCase{
		{
			name: "anonymous then identified",
			steps: []step{
				res(a("a1")).person(1).created(true).attached(1),
				res(a("a1")).person(1).created(false).attached(0),
				res(a("a1"), u("u1")).person(1).created(false).attached(1).merges(),
			},
			same:    [][]ID{{a("a1"), u("u1")}},
			persons: 1,
		},
		{
			name: "anonymous person merged into identified person",
			steps: []step{
				res(a("a1")).person(1),
				res(u("u1")).person(2),
				res(a("a1"), u("u1")).person(2).merges([2]uint32{1, 2}).attached(0),
			},
			same:    [][]ID{{a("a1"), u("u1")}},
			reasons: []string{"anonymous_id a1 and user_id u1 seen together in message m2"},
			canon:   map[uint32]uint32{1: 2, 2: 2},
		},
		{
			name: "two devices one user",
			steps: []step{
				res(a("a1"), u("u1")).person(1).created(true).attached(2),
				res(a("a2"), u("u1")).person(1).created(false).attached(1),
			},
			same:    [][]ID{{a("a1"), a("a2"), u("u1")}},
			persons: 1,
		},
		{
			name: "two anonymous devices identified later",
			steps: []step{
				res(a("a1")).person(1),
				res(a("a2")).person(2),
				res(a("a1"), u("u1")).person(1),
				res(a("a2"), u("u1")).person(1).merges([2]uint32{2, 1}),
			},
			same:    [][]ID{{a("a1"), a("a2"), u("u1")}},
			reasons: []string{"anonymous_id a2 and user_id u1 seen together in message m3"},
		},
		{
			name: "two user ids on one device never merge",
			steps: []step{
				res(a("a1"), u("u1")).person(1),
				res(a("a1"), u("u2")).person(2).created(true).attached(1).
					rejects(map[ID]RejectKind{a("a1"): RejectConflict}).merges(),
			},
			same:    [][]ID{{a("a1"), u("u1")}, {u("u2")}},
			apart:   []ID{u("u1"), u("u2")},
			persons: 2,
		},
		{
			name: "two user ids in one message",
			steps: []step{
				res(u("u1"), u("u2"), a("a1")).person(1).attached(2).
					rejects(map[ID]RejectKind{u("u2"): RejectLimit}),
			},
			same:   [][]ID{{u("u1"), a("a1")}},
			absent: []ID{u("u2")},
		},
		{
			name: "second user id on a known person is rejected",
			steps: []step{
				res(u("u1"), a("a1")).person(1),
				res(a("a1"), u("u2"), u("u1")).person(1).attached(0).
					rejects(map[ID]RejectKind{u("u2"): RejectLimit}),
			},
			same:   [][]ID{{u("u1"), a("a1")}},
			absent: []ID{u("u2")},
		},
		{
			name: "shared email between two users stays with the first",
			steps: []step{
				res(u("u1"), e("x@y.z")).person(1),
				res(u("u2")).person(2),
				res(u("u2"), e("x@y.z"), a("a9")).person(2).attached(1).
					rejects(map[ID]RejectKind{e("x@y.z"): RejectConflict}),
			},
			same:  [][]ID{{u("u1"), e("x@y.z")}, {u("u2"), a("a9")}},
			apart: []ID{u("u1"), u("u2")},
		},
		{
			name: "blocked values never link persons",
			steps: []step{
				res(u("u1"), a("null"), a("0"), a("-1"), a("00000000-0000-0000-0000-000000000000"), a("---"), a("Anonymous"), e(" NULL ")).person(1).attached(1).
					rejects(map[ID]RejectKind{a("null"): RejectBlocked, a("0"): RejectBlocked, a("-1"): RejectBlocked,
						a("00000000-0000-0000-0000-000000000000"): RejectBlocked, a("---"): RejectBlocked, a("Anonymous"): RejectBlocked, e("null"): RejectBlocked}),
				res(u("u2"), a("null"), a("0"), a("-1"), a("00000000-0000-0000-0000-000000000000"), a("---"), a("Anonymous")).person(2).attached(1).
					rejects(map[ID]RejectKind{a("null"): RejectBlocked, a("0"): RejectBlocked, a("-1"): RejectBlocked,
						a("00000000-0000-0000-0000-000000000000"): RejectBlocked, a("---"): RejectBlocked, a("Anonymous"): RejectBlocked}),
				res(a("undefined"), ph("n/a"), ext("0000"), a("")).fails(ErrNoUsableIdentifier),
			},
			apart:   []ID{u("u1"), u("u2")},
			absent:  []ID{a("null"), a("0"), a("---"), a("Anonymous"), a("undefined")},
			persons: 2,
		},
		{
			name: "merge of merges",
			steps: []step{
				res(a("a1")).person(1),
				res(a("a2")).person(2),
				res(u("u1")).person(3),
				res(a("a2"), a("a1")).person(1).merges([2]uint32{2, 1}),
				res(a("a1"), u("u1")).person(3).merges([2]uint32{1, 3}),
				res(a("a2")).person(3),
			},
			same:  [][]ID{{a("a1"), a("a2"), u("u1")}},
			canon: map[uint32]uint32{1: 3, 2: 3, 3: 3},
			reasons: []string{
				"anonymous_id a2 and anonymous_id a1 seen together in message m3",
				"anonymous_id a1 and user_id u1 seen together in message m4",
			},
		},
		{
			name: "three persons merge at once into the user id holder",
			steps: []step{
				res(a("a1")).person(1),
				res(e("x@y.z")).person(2),
				res(u("u1")).person(3),
				res(a("a1"), e("x@y.z"), u("u1")).person(3).merges([2]uint32{2, 3}, [2]uint32{1, 3}),
			},
			same: [][]ID{{a("a1"), e("x@y.z"), u("u1")}},
		},
		{
			name:  "without limits persons with user ids merge into the oldest",
			rules: &noLimits,
			steps: []step{
				res(u("u1")).person(1),
				res(u("u2")).person(2),
				res(u("u2"), u("u1")).person(1).merges([2]uint32{2, 1}),
			},
			same: [][]ID{{u("u1"), u("u2")}},
		},
		{
			name: "email and phone normalisation",
			steps: []step{
				res(u("u1"), e("  Alice@Example.COM "), ph("+1 (555) 123-45.67")).person(1).attached(3),
				res(e("alice@example.com")).person(1).attached(0),
				res(ph("+15551234567")).person(1).attached(0),
			},
			same: [][]ID{{u("u1"), e("alice@example.com"), e("ALICE@example.com"), ph("+15551234567"), ph("+1 555 123 4567")}},
		},
		{
			name:  "email limit",
			rules: &emailOnce,
			steps: []step{
				res(u("u1"), e("a@x"), e("b@x")).rejects(map[ID]RejectKind{e("b@x"): RejectLimit}),
			},
			absent: []ID{e("b@x")},
		},
		{
			name: "erase suppresses until unsuppressed",
			steps: []step{
				res(a("a1")).person(1),
				res(a("a1"), u("u1"), e("x@y.z")).person(1),
				res(a("a2")).person(2),
				res(a("a2"), u("u1")).person(1).merges([2]uint32{2, 1}),
				eraseStep(u("u1")),
				res(u("u1"), a("a2")).fails(ErrNoUsableIdentifier).rejects(map[ID]RejectKind{u("u1"): RejectErased, a("a2"): RejectErased}),
				res(u("u1"), a("a3")).person(3).created(true).attached(1).rejects(map[ID]RejectKind{u("u1"): RejectErased}),
				unsuppressStep(u("u1")),
				res(u("u1"), a("a3")).person(3).attached(1),
			},
			same:    [][]ID{{u("u1"), a("a3")}},
			absent:  []ID{a("a1"), a("a2"), e("x@y.z")},
			reasons: []string{"identifiers erased"},
		},
		{
			name: "link is an alias with the same rules",
			steps: []step{
				res(a("a1")).person(1),
				res(u("u1")).person(2),
				linkStep(a("a1"), u("u1")).person(2).merges([2]uint32{1, 2}),
				res(u("u2"), a("a2")).person(3),
				linkStep(a("a2"), u("u1")).person(2).rejects(map[ID]RejectKind{a("a2"): RejectConflict}),
				res(u("u5")).person(4),
				res(a("a5")).person(5),
				linkStep(u("u5"), a("a5")).person(4).merges([2]uint32{5, 4}),
			},
			same:    [][]ID{{a("a1"), u("u1")}, {u("u2"), a("a2")}, {u("u5"), a("a5")}},
			reasons: []string{"anonymous_id a1 aliased to user_id u1 in message m2", "user_id u5 aliased to anonymous_id a5 in message m7"},
		},
		{
			name: "external ids and other types attach",
			steps: []step{
				res(ext("c-1"), ID{"custom", "k"}).person(1).attached(2),
				res(ID{"custom", "k"}, u("u1")).person(1).attached(1),
				res(ID{"", "x"}).fails(ErrNoUsableIdentifier),
			},
			same: [][]ID{{ext("c-1"), ID{"custom", "k"}, u("u1")}},
		},
		{
			name: "uuid anonymous ids round-trip",
			steps: []step{
				res(a("3f2b8c1e-9d4a-4e6b-8f7a-1c2d3e4f5a6b"), a("3F2B8C1E-9D4A-4E6B-8F7A-1C2D3E4F5A6B")).person(1).attached(2),
			},
			same: [][]ID{{a("3f2b8c1e-9d4a-4e6b-8f7a-1c2d3e4f5a6b"), a("3F2B8C1E-9D4A-4E6B-8F7A-1C2D3E4F5A6B")}},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := DefaultRules()
			if tc.rules != nil {
				r = *tc.rules
			}
			g := NewGraph(r)
			for i, s := range tc.steps {
				runStep(t, g, i, s)
				checkInvariants(t, g)
			}
			checkOutcome(t, g, tc)
			// The same facts must hold on a frozen view and on a restored copy.
			checkView(t, g, g.Freeze())
			checkView(t, g, restore(t, g, r).Freeze())
		})
	}
}

func runStep(t *testing.T, g *Graph, i int, s step) {
	t.Helper()
	src := fmt.Sprintf("m%d", i)
	var (
		r   Resolution
		err error
	)
	switch {
	case s.erase != nil:
		p, ok := g.Lookup(*s.erase)
		if !ok {
			t.Fatalf("step %d: erase: %s unknown", i, *s.erase)
		}
		if got := g.Erase(p); len(got) == 0 {
			t.Fatalf("step %d: erase returned no identifiers", i)
		}
		return
	case s.unsuppress != nil:
		if !g.Unsuppress(*s.unsuppress) {
			t.Fatalf("step %d: %s was not suppressed", i, *s.unsuppress)
		}
		return
	case s.link:
		r, err = g.Link(s.ids[0], s.ids[1], int64(i), src)
	default:
		r, err = g.Resolve(s.ids, int64(i), src)
	}
	if s.wantErr != nil {
		if !errors.Is(err, s.wantErr) {
			t.Fatalf("step %d: err = %v, want %v", i, err, s.wantErr)
		}
	} else if err != nil {
		t.Fatalf("step %d: %v", i, err)
	}
	if s.wantPerson != 0 && r.Person != s.wantPerson {
		t.Errorf("step %d: person = %d, want %d (%+v)", i, r.Person, s.wantPerson, r)
	}
	if s.wantCreated != nil && r.Created != *s.wantCreated {
		t.Errorf("step %d: created = %v, want %v", i, r.Created, *s.wantCreated)
	}
	if s.wantAttached >= 0 && len(r.Attached) != s.wantAttached {
		t.Errorf("step %d: attached %v, want %d", i, r.Attached, s.wantAttached)
	}
	if s.wantRejected != nil || s.wantErr == nil {
		got := map[ID]RejectKind{}
		for _, rj := range r.Rejected {
			if rj.Reason == "" {
				t.Errorf("step %d: rejection of %s without reason", i, rj.ID)
			}
			got[rj.ID] = rj.Kind
		}
		want := s.wantRejected
		if want == nil {
			want = map[ID]RejectKind{}
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("step %d: rejected %v, want %v (%+v)", i, got, want, r.Rejected)
		}
	}
	if s.wantMerges != nil {
		var got [][2]uint32
		for _, m := range r.Merges {
			got = append(got, [2]uint32{m.From, m.Into})
			if m.Reason == "" || m.Source != src || m.At != int64(i) || m.Via.Value == "" {
				t.Errorf("step %d: incomplete merge record %+v", i, m)
			}
		}
		if fmt.Sprint(got) != fmt.Sprint(s.wantMerges) {
			t.Errorf("step %d: merges %v, want %v", i, got, s.wantMerges)
		}
	}
	if err != nil && !strings.Contains(err.Error(), "cannot resolve identifiers") {
		t.Errorf("step %d: error without context: %v", i, err)
	}
}

// reader is what Graph and *View have in common.
type reader interface {
	Lookup(ID) (uint32, bool)
	Canonical(uint32) uint32
	Identifiers(uint32) []ID
	MergeLog() []Merge
	Persons() int
}

func checkOutcome(t *testing.T, g reader, tc resolveCase) {
	t.Helper()
	for _, grp := range tc.same {
		p0, ok := g.Lookup(grp[0])
		if !ok {
			t.Errorf("%s does not resolve", grp[0])
			continue
		}
		for _, id := range grp[1:] {
			if p, ok := g.Lookup(id); !ok || p != p0 {
				t.Errorf("%s resolves to %d,%v; want %d like %s", id, p, ok, p0, grp[0])
			}
		}
		have := map[ID]bool{}
		for _, id := range g.Identifiers(p0) {
			have[id] = true
		}
		for _, id := range grp {
			n := DefaultRules()
			c := compile(n)
			if !have[c.normalize(id)] {
				t.Errorf("Identifiers(%d) = %v lacks %s", p0, g.Identifiers(p0), id)
			}
		}
	}
	seen := map[uint32]ID{}
	for _, id := range tc.apart {
		p, ok := g.Lookup(id)
		if !ok {
			t.Errorf("%s does not resolve", id)
			continue
		}
		if o, dup := seen[p]; dup {
			t.Errorf("%s and %s share person %d", id, o, p)
		}
		seen[p] = id
	}
	for _, id := range tc.absent {
		if p, ok := g.Lookup(id); ok {
			t.Errorf("%s resolves to %d, want absent", id, p)
		}
	}
	if tc.persons != 0 && g.Persons() != tc.persons {
		t.Errorf("Persons() = %d, want %d", g.Persons(), tc.persons)
	}
	log := g.MergeLog()
	if tc.reasons != nil && len(log) != len(tc.reasons) {
		t.Errorf("merge log has %d entries, want %d: %+v", len(log), len(tc.reasons), log)
	}
	for i, want := range tc.reasons {
		if i < len(log) && !strings.Contains(log[i].Reason, want) {
			t.Errorf("merge %d reason %q, want %q", i, log[i].Reason, want)
		}
	}
	for p, want := range tc.canon {
		if got := g.Canonical(p); got != want {
			t.Errorf("Canonical(%d) = %d, want %d", p, got, want)
		}
	}
}

// checkView compares a reader with the graph it came from.
func checkView(t *testing.T, g *Graph, v reader) {
	t.Helper()
	if v.Persons() != g.Persons() {
		t.Fatalf("view persons %d, graph %d", v.Persons(), g.Persons())
	}
	for p := uint32(0); p <= uint32(g.Persons())+1; p++ {
		if v.Canonical(p) != g.Canonical(p) {
			t.Errorf("view Canonical(%d) = %d, graph %d", p, v.Canonical(p), g.Canonical(p))
		}
		if fmt.Sprint(v.Identifiers(p)) != fmt.Sprint(g.Identifiers(p)) {
			t.Errorf("view Identifiers(%d) = %v, graph %v", p, v.Identifiers(p), g.Identifiers(p))
		}
	}
	_ = g.Export(func(id ID, p uint32) error {
		if q, ok := v.Lookup(id); !ok || q != p {
			t.Errorf("view Lookup(%s) = %d,%v; graph %d", id, q, ok, p)
		}
		return nil
	})
	if len(v.MergeLog()) != len(g.MergeLog()) {
		t.Errorf("view merge log %d entries, graph %d", len(v.MergeLog()), len(g.MergeLog()))
	}
}

// restore rebuilds g through Export and the Restorer.
func restore(t testing.TB, g *Graph, rules Rules) *Graph {
	t.Helper()
	r := NewRestorer(rules)
	if err := r.Persons(g.Persons()); err != nil {
		t.Fatal(err)
	}
	for _, m := range g.MergeLog() {
		if err := r.Merge(m); err != nil {
			t.Fatal(err)
		}
	}
	if err := g.Export(r.Identifier); err != nil {
		t.Fatal(err)
	}
	if err := g.ExportSuppressed(r.Suppressed); err != nil {
		t.Fatal(err)
	}
	out, err := r.Graph()
	if err != nil {
		t.Fatal(err)
	}
	checkInvariants(t, out)
	return out
}

func TestRejectionReasons(t *testing.T) {
	g := NewGraph(DefaultRules())
	mustResolve(t, g, a("a1"), u("u1"))
	r, err := g.Resolve(ids(a("a1"), u("u2")), 1, "m1")
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Rejected) != 1 || !strings.Contains(r.Rejected[0].Reason, "user_id u1") || !strings.Contains(r.Rejected[0].Reason, "user_id u2") {
		t.Errorf("conflict reason should name both user ids: %+v", r.Rejected)
	}
	r, _ = g.Resolve(ids(u("u1"), u("u3")), 2, "m2")
	if len(r.Rejected) != 1 || !strings.Contains(r.Rejected[0].Reason, "user_id u1") || !strings.Contains(r.Rejected[0].Reason, "limit 1") {
		t.Errorf("limit reason should name the held user id and the limit: %+v", r.Rejected)
	}
	_, err = g.Resolve(ids(a("null"), e("")), 3, "m3")
	if !errors.Is(err, ErrNoUsableIdentifier) || !strings.Contains(err.Error(), `anonymous_id "null": blocked value`) {
		t.Errorf("error should name identifiers and reasons: %v", err)
	}
	if _, err := g.Resolve(nil, 4, "m4"); !errors.Is(err, ErrNoUsableIdentifier) {
		t.Errorf("empty request: %v", err)
	}
}

func TestEraseRedactsMergeLog(t *testing.T) {
	g := NewGraph(DefaultRules())
	mustResolve(t, g, a("a1"))
	mustResolve(t, g, u("secret"))
	mustResolve(t, g, a("a1"), u("secret"))
	mustResolve(t, g, a("b1"))
	mustResolve(t, g, u("other"))
	mustResolve(t, g, a("b1"), u("other"))
	before := g.Freeze()
	got := g.Erase(1)
	if fmt.Sprint(got) != fmt.Sprint(ids(u("secret"), a("a1"))) {
		t.Errorf("Erase returned %v", got)
	}
	for _, m := range g.MergeLog() {
		if m.Into == 2 && (strings.Contains(m.Reason, "secret") || m.Via.Value != redacted) {
			t.Errorf("merge log not redacted: %+v", m)
		}
		if m.Into == 5 && !strings.Contains(m.Reason, "other") {
			t.Errorf("unrelated merge redacted: %+v", m)
		}
	}
	if !strings.Contains(before.MergeLog()[0].Reason, "secret") {
		t.Errorf("frozen view's log changed under it")
	}
	if g.Erase(0) != nil || g.Erase(99) != nil {
		t.Errorf("erase of unknown persons should return nil")
	}
	if !g.Suppressed(u("secret")) || g.Unsuppress(u("other")) {
		t.Errorf("suppression state wrong")
	}
	checkInvariants(t, g)
}

func mustResolve(t testing.TB, g *Graph, x ...ID) Resolution {
	t.Helper()
	r, err := g.Resolve(x, 0, "test")
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestKeyRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		tc uint32
		v  string
	}{{0, "u1"}, {1, ""}, {200, "x"}, {70000, "3f2b8c1e-9d4a-4e6b-8f7a-1c2d3e4f5a6b"}, {3, "3F2B8C1E-9D4A-4E6B-8F7A-1C2D3E4F5A6B"}, {5, "3f2b8c1e-9d4a-4e6b-8f7a-1c2d3e4f5a6"}} {
		k := appendKey(nil, tc.tc, tc.v)
		gotTC, gotV := decodeKey(string(k))
		if gotTC != tc.tc || gotV != tc.v {
			t.Errorf("key(%d,%q) decodes to (%d,%q)", tc.tc, tc.v, gotTC, gotV)
		}
	}
	if n := len(appendKey(nil, 1, "3f2b8c1e-9d4a-4e6b-8f7a-1c2d3e4f5a6b")); n != 17 {
		t.Errorf("packed uuid key is %d bytes, want 17", n)
	}
}

func TestBlocked(t *testing.T) {
	c := compile(DefaultRules())
	for _, tc := range []struct {
		v    string
		want bool
	}{
		{"", true}, {"  ", true}, {"null", true}, {"NULL", true}, {" Null ", true}, {"undefined", true},
		{"anonymous", true}, {"0", true}, {"-1", true}, {"none", true}, {"nil", true}, {"unknown", true},
		{"N/A", true}, {"000", true}, {"---", true}, {"00000000-0000-0000-0000-000000000000", true},
		{"u1", false}, {"-2", false}, {"10", false}, {"nullable", false}, {"0x0", false}, {strings.Repeat("0", 100), true},
		{strings.Repeat("a", 100), false},
	} {
		if got := c.isBlocked(tc.v); got != tc.want {
			t.Errorf("isBlocked(%q) = %v, want %v", tc.v, got, tc.want)
		}
	}
}
