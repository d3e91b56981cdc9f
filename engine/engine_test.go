package engine

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/cohortdb/cohort/engine/column"
	"github.com/cohortdb/cohort/engine/expr"
	"github.com/cohortdb/cohort/engine/identity"
	"github.com/cohortdb/cohort/engine/table"
)

var t0 = time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)

func us(d time.Duration) int64 { return t0.Add(d).UnixMicro() }

func uid(s string) identity.ID  { return identity.ID{Type: "user_id", Value: "u" + s} }
func anon(s string) identity.ID { return identity.ID{Type: "anonymous_id", Value: s} }

func identify(at time.Duration, ids []identity.ID, traits ...Field) Op {
	return Op{Kind: OpIdentify, IDs: ids, Traits: traits, At: us(at)}
}

func track(at time.Duration, ids []identity.ID, event string, props ...Field) Op {
	return Op{Kind: OpTrack, IDs: ids, Event: event, Props: props, At: us(at)}
}

func f(name string, v column.Value) Field { return Field{Name: name, Value: v} }

func mustApply(t *testing.T, w *Workspace, ops ...Op) Result {
	t.Helper()
	r, err := w.Apply(context.Background(), ops)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Rejected) > 0 {
		t.Fatalf("rejected: %v", r.Rejected)
	}
	return r
}

func count(t *testing.T, s *Snapshot, tbl string, c Cond) int64 {
	t.Helper()
	n, err := s.Count(context.Background(), Query{Table: tbl, Where: c, Now: t0})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func profileOf(t *testing.T, s *Snapshot, id identity.ID) map[string]column.Value {
	t.Helper()
	p, ok := s.Graph.Lookup(id)
	if !ok {
		t.Fatalf("%v does not resolve", id)
	}
	c, row := s.ProfileRow(p)
	if c == nil {
		t.Fatalf("person %d has no profile", p)
	}
	m := map[string]column.Value{}
	for _, d := range s.Profiles.Schema.Cols {
		m[d.Name] = c.Col(d.Index).Value(row, d)
	}
	return m
}

func TestIdentifyAndTrack(t *testing.T) {
	w := NewWorkspace("t", identity.DefaultRules())
	mustApply(t, w,
		identify(0, []identity.ID{uid("u1")}, f("email", column.String("a@x.io")), f("age", column.Int(30))),
		identify(time.Minute, []identity.ID{uid("u2")}, f("email", column.String("b@y.io")), f("ltv", column.Float(12.5))),
		track(2*time.Minute, []identity.ID{uid("u1")}, "purchase", f("amount", column.Float(9.5)), f("currency", column.String("EUR"))),
		identify(3*time.Minute, []identity.ID{uid("u1")}, f("age", column.Int(31))),
	)
	s := w.Snapshot()
	if got := s.Profiles.Live; got != 2 {
		t.Fatalf("profiles = %d, want 2", got)
	}
	p := profileOf(t, s, uid("u1"))
	if p["age"].I != 31 || p["email"].S != "a@x.io" {
		t.Errorf("u1 profile = %v", p)
	}
	if p[ColFirstSeen].I != us(0) || p[ColLastSeen].I != us(3*time.Minute) {
		t.Errorf("u1 seen = %v..%v", p[ColFirstSeen], p[ColLastSeen])
	}
	if !p["ltv"].Null() {
		t.Errorf("u1 ltv = %v, want NULL", p["ltv"])
	}
	if n := count(t, s, Profiles, Where{expr.Cmp{Col: "age", Op: expr.Ge, Val: expr.Lit(column.Int(31))}}); n != 1 {
		t.Errorf("age >= 31: %d", n)
	}
	if n := count(t, s, Events, Where{expr.Cmp{Col: "currency", Op: expr.Eq, Val: expr.Lit(column.String("EUR"))}}); n != 1 {
		t.Errorf("EUR events: %d", n)
	}
}

func TestTypeConflictNamesAttribute(t *testing.T) {
	w := NewWorkspace("t", identity.DefaultRules())
	mustApply(t, w, identify(0, []identity.ID{uid("u1")}, f("age", column.Int(30))))
	r, err := w.Apply(context.Background(), []Op{
		identify(time.Second, []identity.ID{uid("u2")}, f("age", column.String("thirty"))),
		identify(time.Second, []identity.ID{uid("u3")}, f("age", column.Int(40))),
	})
	if err != nil {
		t.Fatal(err)
	}
	if r.Applied != 1 || len(r.Rejected) != 1 || r.Rejected[0].Index != 0 {
		t.Fatalf("result = %+v", r)
	}
	var te *table.TypeError
	if !errors.As(r.Rejected[0].Err, &te) {
		t.Fatalf("error %v is not a TypeError", r.Rejected[0].Err)
	}
	msg := r.Rejected[0].Err.Error()
	for _, want := range []string{"age", "int", "string"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q does not name %q", msg, want)
		}
	}
	// The rejected op left nothing behind: u2 does not exist.
	if _, ok := w.Snapshot().Graph.Lookup(uid("u2")); ok {
		t.Error("rejected identify created a person")
	}
}

func TestAnonymousThenIdentifiedKeepsEvents(t *testing.T) {
	w := NewWorkspace("t", identity.DefaultRules())
	mustApply(t, w,
		track(0, []identity.ID{anon("a1")}, "page_view"),
		track(time.Minute, []identity.ID{anon("a1")}, "page_view"),
		track(2*time.Minute, []identity.ID{anon("a2")}, "page_view", f("path", column.String("/p"))),
		identify(3*time.Minute, []identity.ID{anon("a2")}, f("plan", column.String("pro"))),
	)
	mustApply(t, w, identify(4*time.Minute, []identity.ID{uid("u1"), anon("a1")}, f("email", column.String("x@x.io"))))
	mustApply(t, w, identify(5*time.Minute, []identity.ID{uid("u1"), anon("a2")}))
	s := w.Snapshot()
	if s.Profiles.Live != 1 {
		t.Fatalf("profiles = %d, want 1 after merges", s.Profiles.Live)
	}
	p := profileOf(t, s, anon("a2"))
	if p["plan"].S != "pro" || p["email"].S != "x@x.io" || p[ColFirstSeen].I != us(0) {
		t.Errorf("merged profile = %v", p)
	}
	did := Did{Event: "page_view", Op: expr.Ge, N: 3}
	if n := count(t, s, Profiles, did); n != 1 {
		t.Errorf("persons with >= 3 page views = %d, want 1 (events re-attributed)", n)
	}
	ids, err := s.Ints(context.Background(), Query{Table: Events}, ColPersonID)
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range ids {
		if id != ids[0] {
			t.Fatalf("events carry different persons after merge: %v", ids)
		}
	}
}

func TestTwoUserIDsNeverMerge(t *testing.T) {
	w := NewWorkspace("t", identity.DefaultRules())
	mustApply(t, w,
		identify(0, []identity.ID{uid("u1"), anon("shared")}),
		identify(time.Minute, []identity.ID{uid("u2"), anon("shared")}),
	)
	s := w.Snapshot()
	if s.Profiles.Live != 2 {
		t.Fatalf("profiles = %d, want 2", s.Profiles.Live)
	}
	p1, _ := s.Graph.Lookup(uid("u1"))
	p2, _ := s.Graph.Lookup(uid("u2"))
	if p1 == p2 {
		t.Fatal("two user ids merged")
	}
}

func TestDeleteErasesEverything(t *testing.T) {
	w := NewWorkspace("t", identity.DefaultRules())
	mustApply(t, w,
		track(0, []identity.ID{anon("a1")}, "page_view"),
		identify(time.Minute, []identity.ID{uid("u1"), anon("a1")}, f("email", column.String("e@x.io"))),
		track(2*time.Minute, []identity.ID{uid("u1")}, "purchase"),
		identify(3*time.Minute, []identity.ID{uid("u2")}),
		track(4*time.Minute, []identity.ID{uid("u2")}, "purchase"),
	)
	mustApply(t, w, Op{Kind: OpDelete, IDs: []identity.ID{uid("u1")}, At: us(5 * time.Minute)})
	s := w.Snapshot()
	if s.Profiles.Live != 1 || s.Events.Live != 1 {
		t.Fatalf("after erase: %d profiles, %d events; want 1, 1", s.Profiles.Live, s.Events.Live)
	}
	if _, ok := s.Graph.Lookup(uid("u1")); ok {
		t.Error("u1 still resolves")
	}
	if n := count(t, s, Identities, Where{expr.Cmp{Col: ColValue, Op: expr.Eq, Val: expr.Lit(column.String("a1"))}}); n != 0 {
		t.Errorf("identity rows of the erased person: %d", n)
	}
	r, err := w.Apply(context.Background(), []Op{identify(6*time.Minute, []identity.ID{uid("u1")})})
	if err != nil || len(r.Rejected) != 1 {
		t.Errorf("re-creating an erased identity: result %+v, err %v; want it rejected", r, err)
	}
}

func TestAggregates(t *testing.T) {
	w := NewWorkspace("t", identity.DefaultRules())
	var ops []Op
	countries := []string{"ES", "FR", "ES", "DE", "ES"}
	for i, c := range countries {
		ops = append(ops, identify(time.Duration(i)*time.Second, []identity.ID{uid(string(rune('a' + i)))},
			f("country", column.String(c)), f("age", column.Int(int64(20+i))), f("ltv", column.Float(float64(i)))))
	}
	ops = append(ops, identify(10*time.Second, []identity.ID{uid("z")}, f("age", column.Int(99))))
	mustApply(t, w, ops...)
	s := w.Snapshot()
	gs, err := s.Aggregate(context.Background(), AggQuery{Query: Query{Table: Profiles}, GroupBy: []string{"country"},
		Aggs: []Agg{{Func: AggCount}, {Func: AggSum, Col: "age"}, {Func: AggMax, Col: "ltv"}, {Func: AggAvg, Col: "age"}, {Func: AggCountDistinct, Col: "age"}}})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"NULL 1 99 NULL 99 1",
		`"DE" 1 23 3 23 1`,
		`"ES" 3 66 4 22 3`,
		`"FR" 1 21 1 21 1`,
	}
	if len(gs) != len(want) {
		t.Fatalf("groups = %v", gs)
	}
	for i, g := range gs {
		parts := []string{g.Key[0].String()}
		for _, a := range g.Aggs {
			parts = append(parts, a.String())
		}
		if got := strings.Join(parts, " "); got != want[i] {
			t.Errorf("group %d = %s, want %s", i, got, want[i])
		}
	}
	// The fast COUNT(*) GROUP BY string path agrees with the general one.
	fast, err := s.Aggregate(context.Background(), AggQuery{Query: Query{Table: Profiles}, GroupBy: []string{"country"}, Aggs: []Agg{{Func: AggCount}}})
	if err != nil {
		t.Fatal(err)
	}
	for i := range fast {
		if fast[i].Aggs[0].I != gs[i].Aggs[0].I || !fast[i].Key[0].Equal(gs[i].Key[0]) {
			t.Errorf("fast group %d = %v, general %v", i, fast[i], gs[i])
		}
	}
}

func TestSelectIsLazyAndCancellable(t *testing.T) {
	w := NewWorkspace("t", identity.DefaultRules())
	var ops []Op
	for i := 0; i < 3*column.ChunkRows; i++ {
		ops = append(ops, identify(time.Duration(i), []identity.ID{uid("u" + itoa(i))}, f("n", column.Int(int64(i)))))
	}
	mustApply(t, w, ops...)
	s := w.Snapshot()
	rows, err := s.Select(context.Background(), Query{Table: Profiles, Where: Where{expr.Cmp{Col: "n", Op: expr.Ge, Val: expr.Lit(column.Int(10))}}}, []string{"n"})
	if err != nil {
		t.Fatal(err)
	}
	var got []int64
	for len(got) < 10 && rows.Next() {
		got = append(got, rows.Values()[0].I)
	}
	rows.Close()
	if len(got) != 10 {
		t.Errorf("first ten = %v", got)
	}
	for _, n := range got {
		if n < 10 {
			t.Errorf("row n=%d does not match n >= 10", n)
		}
	}
	if rows.chunk != 1 {
		t.Errorf("evaluated %d chunks for ten rows, want 1", rows.chunk)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := s.Count(ctx, Query{Table: Profiles, Where: Where{expr.True}}); !errors.Is(err, context.Canceled) {
		t.Errorf("count on a cancelled context: %v", err)
	}
	rows, _ = s.Select(ctx, Query{Table: Profiles}, nil)
	if rows.Next() || !errors.Is(rows.Err(), context.Canceled) {
		t.Errorf("select on a cancelled context: %v", rows.Err())
	}
}

func itoa(i int) string {
	const digits = "0123456789"
	if i == 0 {
		return "0"
	}
	var b []byte
	for ; i > 0; i /= 10 {
		b = append([]byte{digits[i%10]}, b...)
	}
	return string(b)
}

func TestStringListAndSparseAttributes(t *testing.T) {
	w := NewWorkspace("t", identity.DefaultRules())
	var ops []Op
	for i := 0; i < 2*column.ChunkRows+10; i++ {
		var traits []Field
		if i%1000 == 0 { // a sparse attribute: 0.1% of profiles
			traits = append(traits, f("tags", column.StringList([]string{"vip", "beta" + itoa(i%3)})))
		}
		traits = append(traits, f("n", column.Int(int64(i))))
		ops = append(ops, identify(time.Duration(i), []identity.ID{uid(itoa(i))}, traits...))
	}
	mustApply(t, w, ops...)
	s := w.Snapshot()
	if n := count(t, s, Profiles, Where{expr.Contains{Col: "tags", Val: expr.Lit(column.String("beta0"))}}); n != 44 {
		t.Errorf("profiles tagged beta0 = %d, want 44", n)
	}
	if n := count(t, s, Profiles, Where{expr.IsNull{Col: "tags", Not: true}}); n != 132 {
		t.Errorf("profiles with tags = %d, want 132", n)
	}
	mem := w.Memory()[Profiles]
	if perRow := float64(mem["tags"]) / float64(s.Profiles.Live); perRow > 0.5 {
		t.Errorf("a 0.1%%-dense attribute costs %.2f bytes per profile; sparse columns must cost almost nothing", perRow)
	}
	r, err := w.Apply(context.Background(), []Op{identify(time.Hour, []identity.ID{uid("x")}, f("tags", column.String("vip")))})
	if err != nil || len(r.Rejected) != 1 || !strings.Contains(r.Rejected[0].Error(), "expected string_list, given string") {
		t.Errorf("string into a string_list attribute: %+v %v", r, err)
	}
}

func TestOnChangesReportsAttributeHistory(t *testing.T) {
	w := NewWorkspace("t", identity.DefaultRules())
	var got []Change
	w.OnChanges(func(cs []Change) { got = append(got, cs...) })
	mustApply(t, w,
		Op{Kind: OpIdentify, IDs: []identity.ID{uid("1")}, At: us(0), Source: "m1", Traits: []Field{f("plan", column.String("free")), f("age", column.Int(30))}},
		Op{Kind: OpTrack, IDs: []identity.ID{uid("1")}, At: us(time.Minute), Event: "e"},
		Op{Kind: OpIdentify, IDs: []identity.ID{uid("1")}, At: us(2 * time.Minute), Source: "m2", Traits: []Field{f("plan", column.String("pro")), f("age", column.Int(30))}},
	)
	want := []string{`plan NULL -> "free" m1`, `age NULL -> 30 m1`, `plan "free" -> "pro" m2`}
	if len(got) != len(want) {
		t.Fatalf("changes = %+v", got)
	}
	for i, c := range got {
		if s := c.Attribute + " " + c.Old.String() + " -> " + c.New.String() + " " + c.Source; s != want[i] {
			t.Errorf("change %d = %s, want %s", i, s, want[i])
		}
	}
}

func TestMinMaxOfStringsCompareStrings(t *testing.T) {
	w := NewWorkspace("t", identity.DefaultRules())
	// Codes follow first appearance: "zeta" gets a smaller code than "alpha".
	var ops []Op
	for i, s := range []string{"zeta", "mid", "alpha", "omega", ""} {
		g := "a"
		if i%2 == 1 {
			g = "b"
		}
		ops = append(ops, identify(time.Duration(i), []identity.ID{uid(itoa(i))}, f("city", column.String(s)), f("g", column.String(g))))
	}
	for i := 5; i < 3*column.ChunkRows; i++ { // enough chunks for both workers to hold partial groups
		ops = append(ops, identify(time.Duration(i), []identity.ID{uid(itoa(i))}, f("city", column.String("mid")), f("g", column.String("a"))))
	}
	mustApply(t, w, ops...)
	gs, err := w.Snapshot().Aggregate(context.Background(), AggQuery{Query: Query{Table: Profiles},
		Aggs: []Agg{{Func: AggMin, Col: "city"}, {Func: AggMax, Col: "city"}}})
	if err != nil {
		t.Fatal(err)
	}
	if got := gs[0].Aggs[0].String() + " " + gs[0].Aggs[1].String(); got != `"" "zeta"` {
		t.Errorf("MIN, MAX(city) = %s, want \"\" \"zeta\"", got)
	}
	gs, err = w.Snapshot().Aggregate(context.Background(), AggQuery{Query: Query{Table: Profiles}, GroupBy: []string{"g"},
		Aggs: []Agg{{Func: AggMin, Col: "city"}, {Func: AggMax, Col: "city"}}})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{`"a": "" "zeta"`, `"b": "mid" "omega"`}
	for i, g := range gs {
		if got := g.Key[0].String() + ": " + g.Aggs[0].String() + " " + g.Aggs[1].String(); got != want[i] {
			t.Errorf("group %d = %s, want %s", i, got, want[i])
		}
	}
}

func TestPauseChanges(t *testing.T) {
	w := NewWorkspace("t", identity.DefaultRules())
	var got []Change
	w.OnChanges(func(cs []Change) { got = append(got, cs...) })
	resume := w.PauseChanges()
	mustApply(t, w, identify(0, []identity.ID{uid("1")}, f("plan", column.String("free"))))
	resume()
	mustApply(t, w, identify(time.Minute, []identity.ID{uid("1")}, f("plan", column.String("pro"))))
	if len(got) != 1 || got[0].Old.S != "free" || got[0].New.S != "pro" {
		t.Errorf("changes = %+v, want only free -> pro", got)
	}
}
