package asof

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/cohortdb/cohort/engine"
	"github.com/cohortdb/cohort/engine/column"
	"github.com/cohortdb/cohort/engine/expr"
	"github.com/cohortdb/cohort/engine/identity"
	"github.com/cohortdb/cohort/storage/history"
)

var t0 = time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC)

func user(u int) []identity.ID {
	return []identity.ID{{Type: identity.TypeUserID, Value: "u" + strconv.Itoa(u)}}
}

func fld(n string, v column.Value) engine.Field { return engine.Field{Name: n, Value: v} }

func str(s string) expr.Lit { return expr.Lit(column.String(s)) }

func identifyOp(at int64, ids []identity.ID, traits ...engine.Field) engine.Op {
	return engine.Op{Kind: engine.OpIdentify, IDs: ids, Traits: traits, At: at, Source: "m" + strconv.FormatInt(at, 36)}
}

func trackOp(at int64, ids []identity.ID, event string, props ...engine.Field) engine.Op {
	return engine.Op{Kind: engine.OpTrack, IDs: ids, Event: event, Props: props, At: at, Source: "e" + strconv.FormatInt(at, 36)}
}

// segments are conditions over attributes that change, with NULLs,
// relative times and behavioural predicates.
var segments = []struct {
	name string
	cond engine.Cond
}{
	{"pro", engine.Where{Expr: expr.Cmp{Col: "plan", Op: expr.Eq, Val: str("pro")}}},
	{"paid_in_spain", engine.AllOf{
		engine.Where{Expr: expr.In{Col: "plan", Vals: []expr.Const{str("pro"), str("team")}}},
		engine.Where{Expr: expr.Cmp{Col: "country", Op: expr.Eq, Val: str("ES")}},
	}},
	{"has_coupon", engine.Where{Expr: expr.IsNull{Col: "coupon", Not: true}}},
	{"not_us", engine.Negate{Cond: engine.Where{Expr: expr.Cmp{Col: "country", Op: expr.Eq, Val: str("US")}}}},
	{"spain_buyers_7d", engine.AllOf{
		engine.Where{Expr: expr.Cmp{Col: "country", Op: expr.Eq, Val: str("ES")}},
		engine.Did{Event: "purchase", Since: expr.Ago(7 * 24 * time.Hour), Op: expr.Ge, N: 1},
	}},
	{"paid_dormant_3d", engine.AllOf{
		engine.Where{Expr: expr.Cmp{Col: "plan", Op: expr.Ne, Val: str("free")}},
		engine.Negate{Cond: engine.Did{Event: "login", Since: expr.Ago(3 * 24 * time.Hour), Op: expr.Ge, N: 1}},
	}},
	{"spent_100_30d", engine.Did{Event: "purchase", Since: expr.Ago(30 * 24 * time.Hour), Agg: engine.AggSum, Prop: "amount", Op: expr.Gt, N: 100}},
	{"never_logged_in", engine.Did{Event: "login", Op: expr.Lt, N: 1}},
	{"any_of_numbers", engine.AnyOf{
		engine.Where{Expr: expr.Cmp{Col: "age", Op: expr.Ge, Val: expr.Lit(column.Int(40))}},
		engine.Where{Expr: expr.Cmp{Col: "score", Op: expr.Lt, Val: expr.Lit(column.Float(10.5))}},
		engine.Where{Expr: expr.Cmp{Col: "vip", Op: expr.Eq, Val: expr.Lit(column.Bool(true))}},
	}},
	{"tagged_t1", engine.Where{Expr: expr.Contains{Col: "tags", Val: str("t1")}}},
	{"new_2d", engine.Where{Expr: expr.Cmp{Col: "created_at", Op: expr.Ge, Val: expr.Ago(48 * time.Hour)}}},
	{"renewal_due", engine.Where{Expr: expr.Between{Col: "renewal", Lo: expr.Now(), Hi: expr.TimeOffset{Offset: 5 * 24 * time.Hour}}}},
	{"country_e_like", engine.AllOf{
		engine.Where{Expr: expr.Like{Col: "country", Pattern: "e%", Fold: true}},
		engine.Negate{Cond: engine.Where{Expr: expr.IsNull{Col: "coupon"}}},
	}},
}

var (
	plans     = []string{"free", "pro", "team", "enterprise"}
	countries = []string{"ES", "FR", "DE", "US", "EE"}
)

// build applies a seeded random history to a workspace whose changes go
// to a history writer in dir, batch b holding operations stamped in
// (T(b-1), T(b)]. After each batch it records every segment's PersonSet
// at T(b): the ground truth. flushEvery > 0 writes a history file every
// that many batches (the rest stays buffered in the writer).
type built struct {
	ws     *engine.Workspace
	w      *history.Writer
	dir    string
	times  []time.Time // T(b)
	truths [][]column.Bitmap
	snaps  []*engine.Snapshot // after batch b
}

const batchSpan = 6 * time.Hour

func build(t testing.TB, seed uint64, batches, users, flushEvery int) *built {
	ctx := context.Background()
	dir := t.TempDir()
	w, err := history.NewWriter(dir, history.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ws := engine.NewWorkspace("acme", identity.DefaultRules())
	w.Attach(ws)
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	b := &built{ws: ws, w: w, dir: dir}
	// Batch 0, at t0: person u0 creates every column the segments name
	// (a condition over a column nobody has set does not compile).
	u0 := user(0)
	at := t0.UnixMicro()
	if _, err := ws.Apply(ctx, []engine.Op{
		identifyOp(at, u0, fld("plan", column.String("free")), fld("country", column.String("FR")),
			fld("coupon", column.String("c0")), fld("age", column.Int(30)), fld("score", column.Float(50)),
			fld("vip", column.Bool(false)), fld("tags", column.StringList([]string{"t0"})), fld("renewal", column.Micros(at))),
		trackOp(at, u0, "purchase", fld("amount", column.Float(1))),
		trackOp(at, u0, "login"),
	}); err != nil {
		t.Fatal(err)
	}
	known := 0
	for bi := 1; bi <= batches; bi++ {
		end := t0.Add(time.Duration(bi) * batchSpan)
		start := end.Add(-batchSpan).UnixMicro() + 1
		n := 20 + r.IntN(40)
		stamps := make([]int64, n)
		for i := range stamps {
			stamps[i] = start + r.Int64N(end.UnixMicro()-start+1)
		}
		stamps[n-1] = end.UnixMicro() // exactly at T(b): the boundary is inclusive
		slices.Sort(stamps)
		var ops []engine.Op
		for _, at := range stamps {
			if known < users && (known < 10 || r.IntN(4) == 0) {
				known++ // a new person
				ops = append(ops, identifyOp(at, user(known),
					fld("plan", column.String(plans[r.IntN(len(plans))])),
					fld("country", column.String(countries[r.IntN(len(countries))]))))
				continue
			}
			u := 1 + r.IntN(known)
			ids := user(u)
			switch k := r.IntN(12); {
			case k < 2: // plan upgrade or downgrade
				ops = append(ops, identifyOp(at, ids, fld("plan", column.String(plans[r.IntN(len(plans))]))))
			case k < 4: // country move
				ops = append(ops, identifyOp(at, ids, fld("country", column.String(countries[r.IntN(len(countries))]))))
			case k == 4: // attribute set, later cleared
				v := column.String("c" + strconv.Itoa(r.IntN(3)))
				if r.IntN(2) == 0 {
					v = column.Value{}
				}
				ops = append(ops, identifyOp(at, ids, fld("coupon", v)))
			case k == 5:
				traits := []engine.Field{fld("age", column.Int(int64(18+r.IntN(50))))}
				if r.IntN(3) == 0 {
					traits = append(traits, fld("score", column.Float(float64(r.IntN(400))/10)))
				}
				if r.IntN(3) == 0 {
					traits = append(traits, fld("vip", column.Bool(r.IntN(2) == 0)))
				}
				if r.IntN(4) == 0 {
					traits = append(traits, fld("age", column.Value{})) // the last value of a name wins
				}
				ops = append(ops, identifyOp(at, ids, traits...))
			case k == 6:
				tags := make([]string, r.IntN(3))
				for i := range tags {
					tags[i] = "t" + strconv.Itoa(r.IntN(3))
				}
				ops = append(ops, identifyOp(at, ids, fld("tags", column.StringList(tags)),
					fld("renewal", column.Micros(at+r.Int64N(int64(10*24*time.Hour/time.Microsecond))))))
			case k < 9:
				op := trackOp(at, ids, "purchase", fld("amount", column.Float(float64(r.IntN(9000))/100)))
				if r.IntN(4) == 0 { // a purchase that also sets a trait
					op.Traits = []engine.Field{fld("plan", column.String(plans[1+r.IntN(3)]))}
				}
				ops = append(ops, op)
			case k < 11:
				ops = append(ops, trackOp(at, ids, "login"))
			default:
				// A late event: stamped in an earlier batch, received now.
				// It was not known at the earlier batch's end.
				if bi > 3 {
					late := trackOp(end.Add(-3*batchSpan).UnixMicro()+r.Int64N(int64(batchSpan/time.Microsecond)), ids, "purchase", fld("amount", column.Float(70)))
					late.ReceivedAt = at
					ops = append(ops, late)
				}
			}
		}
		res, err := ws.Apply(ctx, ops)
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Rejected) > 0 {
			t.Fatalf("batch %d: rejected %v", bi, res.Rejected[0])
		}
		snap := ws.Snapshot()
		truth := make([]column.Bitmap, len(segments))
		for k, s := range segments {
			if truth[k], err = snap.PersonSet(ctx, s.cond, end); err != nil {
				t.Fatalf("batch %d, %s: %v", bi, s.name, err)
			}
		}
		b.times = append(b.times, end)
		b.truths = append(b.truths, truth)
		b.snaps = append(b.snaps, snap)
		if flushEvery > 0 && bi%flushEvery == 0 {
			if err := w.Flush(ctx, 0); err != nil {
				t.Fatal(err)
			}
		}
	}
	return b
}

// memSource is a Source over records held in memory.
type memSource []history.Record

func (m memSource) Scan(ctx context.Context, from, to time.Time, fn func(history.Record) error) error {
	lo, hi := from.UnixMicro(), to.UnixMicro()
	for _, r := range m {
		if r.At >= lo && r.At < hi {
			if err := fn(r); err != nil {
				return err
			}
		}
	}
	return ctx.Err()
}

func loadAll(ctx context.Context, src Source) (memSource, error) {
	var m memSource
	err := src.Scan(ctx, time.UnixMicro(-maxMicros), time.UnixMicro(maxMicros), func(r history.Record) error {
		m = append(m, r)
		return nil
	})
	return m, err
}

func ids(b column.Bitmap) []int {
	var out []int
	for i := b.Next(0); i >= 0; i = b.Next(i + 1) {
		out = append(out, i)
	}
	return out
}

func diff(got, want column.Bitmap) string {
	g, w := ids(got), ids(want)
	if slices.Equal(g, w) {
		return ""
	}
	var extra, missing []int
	for _, p := range g {
		if _, ok := slices.BinarySearch(w, p); !ok {
			extra = append(extra, p)
		}
	}
	for _, p := range w {
		if _, ok := slices.BinarySearch(g, p); !ok {
			missing = append(missing, p)
		}
	}
	return fmt.Sprintf("%d members, want %d; extra %v, missing %v", len(g), len(w), extra, missing)
}

// TestMembersMatchesPastPersonSets replays, at every batch boundary, the
// membership of every segment from the final snapshot and the history,
// and compares it with the PersonSet taken at that boundary while the
// workspace was being built. The history is read through the writer
// (files plus unflushed records) and, once everything is flushed, through
// a plain reader.
func TestMembersMatchesPastPersonSets(t *testing.T) {
	for _, seed := range []uint64{1, 2, 3} {
		t.Run("seed="+strconv.FormatUint(seed, 10), func(t *testing.T) {
			ctx := context.Background()
			b := build(t, seed, 48, 250, 5)
			snap := b.ws.Snapshot()
			check := func(t *testing.T, src Source, every, from int) {
				for i := from; i < len(b.times); i += every {
					at := b.times[i]
					for k, s := range segments {
						res, err := Evaluate(ctx, snap, s.cond, at, src)
						if err != nil {
							t.Fatalf("%s at T(%d): %v", s.name, i+1, err)
						}
						if d := diff(res.Members, b.truths[i][k]); d != "" {
							t.Errorf("%s at T(%d): %s", s.name, i+1, d)
						}
						if res.Unattached != 0 || res.Unknown != 0 {
							t.Errorf("%s at T(%d): stats %+v, want nothing unattached or unknown", s.name, i+1, res.Stats)
						}
					}
				}
			}
			// Every boundary over the records held in memory (the same
			// records, cheaper to read 600 times), and some over the
			// writer (files and unflushed records) and a plain reader.
			mem, err := loadAll(ctx, b.w)
			if err != nil {
				t.Fatal(err)
			}
			t.Run("all", func(t *testing.T) { check(t, mem, 1, 0) })
			t.Run("writer", func(t *testing.T) {
				if b.w.Buffered() == 0 {
					t.Fatal("want some records still buffered in the writer")
				}
				check(t, b.w, 12, int(seed))
			})
			if err := b.w.Flush(ctx, 0); err != nil {
				t.Fatal(err)
			}
			t.Run("reader", func(t *testing.T) { check(t, history.NewReader(b.dir), 12, int(seed)+6) })
			// From an older snapshot: the history's later batches are
			// ignored.
			t.Run("older-snapshot", func(t *testing.T) {
				for i := int(seed); i+9 < len(b.times); i += 10 {
					old := b.snaps[i+9]
					for k, s := range segments {
						for _, src := range []Source{mem, b.w} {
							got, err := Members(ctx, old, s.cond, b.times[i], src)
							if err != nil {
								t.Fatal(err)
							}
							if d := diff(got, b.truths[i][k]); d != "" {
								t.Errorf("%T, %s at T(%d) from the snapshot of T(%d): %s", src, s.name, i+1, i+10, d)
							}
						}
					}
				}
			})

			// Now and later: the current membership. Before anything: none.
			for _, s := range segments {
				now := b.times[len(b.times)-1]
				want, err := snap.PersonSet(ctx, s.cond, now)
				if err != nil {
					t.Fatal(err)
				}
				for _, at := range []time.Time{now, now.Add(time.Hour)} {
					got, err := Members(ctx, snap, s.cond, at, b.w)
					if err != nil {
						t.Fatal(err)
					}
					if d := diff(got, want); d != "" && at.Equal(now) {
						t.Errorf("%s now: %s", s.name, d)
					}
				}
				got, err := Members(ctx, snap, s.cond, t0.Add(-time.Microsecond), b.w)
				if err != nil {
					t.Fatal(err)
				}
				if got.Any() {
					t.Errorf("%s before the first operation: members %v", s.name, ids(got))
				}
			}
		})
	}
}

// TestMembersOpensOnlyLaterFiles damages every history file whose time
// range ends at or before the asked time: Members must not open them.
func TestMembersOpensOnlyLaterFiles(t *testing.T) {
	ctx := context.Background()
	b := build(t, 11, 24, 120, 2)
	if err := b.w.Flush(ctx, 0); err != nil {
		t.Fatal(err)
	}
	i := 13
	at := b.times[i]
	r := history.NewReader(b.dir)
	later, err := r.Files(at.Add(time.Microsecond), time.UnixMicro(maxMicros))
	if err != nil {
		t.Fatal(err)
	}
	ents, err := os.ReadDir(b.dir)
	if err != nil {
		t.Fatal(err)
	}
	damaged := 0
	for _, e := range ents {
		if !slices.Contains(later, e.Name()) {
			if err := os.WriteFile(filepath.Join(b.dir, e.Name()), []byte("not parquet"), 0o644); err != nil {
				t.Fatal(err)
			}
			damaged++
		}
	}
	if damaged < 5 || len(later) < 5 {
		t.Fatalf("%d files before T(%d), %d after: want several of each", damaged, i+1, len(later))
	}
	snap := b.ws.Snapshot()
	// Column by column (the reader), row by row (Scan alone), and through
	// the function adapter.
	for _, src := range []Source{r, SourceFunc(r.Scan), ProjectedSourceFunc(r.ScanProjected)} {
		for k, s := range segments {
			got, err := Members(ctx, snap, s.cond, at, src)
			if err != nil {
				t.Fatalf("%T, %s: %v (opened a file that ends before the asked time?)", src, s.name, err)
			}
			if d := diff(got, b.truths[i][k]); d != "" {
				t.Errorf("%T, %s: %s", src, s.name, d)
			}
		}
	}
	// An earlier time needs a damaged file: the corruption is reported.
	if _, err := Members(ctx, snap, segments[0].cond, b.times[2], r); err == nil {
		t.Fatal("Members over a damaged history file: no error")
	}
}

// TestMembersScenario walks one person through a plan upgrade and
// downgrade, a country move and a coupon set then cleared, and a second
// person created later, with the expected answers written out.
func TestMembersScenario(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	w, err := history.NewWriter(dir, history.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ws := engine.NewWorkspace("acme", identity.DefaultRules())
	w.Attach(ws)
	day := func(d int) int64 { return t0.AddDate(0, 0, d).UnixMicro() }
	apply := func(ops ...engine.Op) {
		t.Helper()
		res, err := ws.Apply(ctx, ops)
		if err != nil || len(res.Rejected) > 0 {
			t.Fatalf("apply: %v %v", err, res.Rejected)
		}
	}
	apply(identifyOp(day(0), user(1), fld("plan", column.String("free")), fld("country", column.String("ES"))))
	apply(identifyOp(day(2), user(1), fld("plan", column.String("pro"))))           // upgrade
	apply(identifyOp(day(4), user(1), fld("country", column.String("FR"))))         // move
	apply(identifyOp(day(5), user(1), fld("coupon", column.String("BF"))))          // set
	apply(identifyOp(day(6), user(2), fld("plan", column.String("pro"))))           // a new person
	apply(identifyOp(day(7), user(1), fld("plan", column.String("free"))))          // downgrade
	apply(identifyOp(day(8), user(1), fld("coupon", column.Value{})))               // cleared
	apply(trackOp(day(9), user(2), "purchase", fld("amount", column.Float(120.5)))) // no profile change
	if err := w.Flush(ctx, 0); err != nil {
		t.Fatal(err)
	}
	snap := ws.Snapshot()
	p1, p2 := 1, 2
	cases := []struct {
		name string
		cond engine.Cond
		want map[int][]int // day → members
	}{
		{"pro", segments[0].cond, map[int][]int{-1: nil, 0: nil, 1: nil, 2: {p1}, 3: {p1}, 6: {p1, p2}, 7: {p2}, 10: {p2}}},
		{"in spain", engine.Where{Expr: expr.Cmp{Col: "country", Op: expr.Eq, Val: str("ES")}}, map[int][]int{0: {p1}, 3: {p1}, 4: nil}},
		{"has coupon", segments[2].cond, map[int][]int{4: nil, 5: {p1}, 7: {p1}, 8: nil}},
		{"no coupon", engine.Where{Expr: expr.IsNull{Col: "coupon"}}, map[int][]int{4: {p1}, 5: nil, 6: {p2}, 8: {p1, p2}}},
		{"pro buyer", engine.AllOf{segments[0].cond, engine.Did{Event: "purchase", Op: expr.Ge, N: 1}}, map[int][]int{8: nil, 9: {p2}}},
	}
	for _, c := range cases {
		for d, want := range c.want {
			at := time.UnixMicro(day(d))
			res, err := Evaluate(ctx, snap, c.cond, at, history.NewReader(dir))
			if err != nil {
				t.Fatal(err)
			}
			if got := ids(res.Members); !slices.Equal(got, want) {
				t.Errorf("%s on day %d: members %v, want %v (stats %+v)", c.name, d, got, want, res.Stats)
			}
		}
	}
}

// TestMembersMerge shows what merges after the asked time do: the
// surviving profile is evaluated with its own values then (the merge's
// changes are undone); a profile folded into another one is gone (the
// documented limit); a new identifier attached to a profile changes
// nothing.
func TestMembersMerge(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	w, err := history.NewWriter(dir, history.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ws := engine.NewWorkspace("acme", identity.DefaultRules())
	w.Attach(ws)
	day := func(d int) int64 { return t0.AddDate(0, 0, d).UnixMicro() }
	anon := func(s string) identity.ID { return identity.ID{Type: "anonymous_id", Value: s} }
	uid := func(s string) identity.ID { return identity.ID{Type: identity.TypeUserID, Value: s} }
	apply := func(ops ...engine.Op) {
		t.Helper()
		res, err := ws.Apply(ctx, ops)
		if err != nil || len(res.Rejected) > 0 {
			t.Fatalf("apply: %v %v", err, res.Rejected)
		}
	}
	apply(identifyOp(day(0), []identity.ID{uid("alice")}, fld("plan", column.String("pro")), fld("country", column.String("ES"))))
	apply(identifyOp(day(0)+1, []identity.ID{anon("a-1")}, fld("plan", column.String("team"))))
	apply(identifyOp(day(0)+2, []identity.ID{anon("a-2")}, fld("plan", column.String("free")), fld("country", column.String("DE")), fld("vip", column.Value{})))
	apply(identifyOp(day(0)+3, []identity.ID{uid("carol")}, fld("vip", column.Bool(false)))) // creates column vip
	apply(identifyOp(day(0)+4, []identity.ID{uid("carol")}, fld("vip", column.Value{})))
	before := ws.Snapshot()
	wantNoVIP := func() []int {
		b, err := before.PersonSet(ctx, engine.Where{Expr: expr.IsNull{Col: "vip"}}, time.UnixMicro(day(1)))
		if err != nil {
			t.Fatal(err)
		}
		return ids(b)
	}()
	// Changes after day 1 on both sides of the coming merge.
	apply(identifyOp(day(1)+1, []identity.ID{uid("alice")}, fld("age", column.Int(30))))
	apply(identifyOp(day(1)+2, []identity.ID{anon("a-1")}, fld("vip", column.Bool(true))))
	truth := func(cond engine.Cond) []int {
		b, err := before.PersonSet(ctx, cond, time.UnixMicro(day(1)))
		if err != nil {
			t.Fatal(err)
		}
		return ids(b)
	}
	team := engine.Where{Expr: expr.Cmp{Col: "plan", Op: expr.Eq, Val: str("team")}}
	pro := segments[0].cond
	free := engine.Where{Expr: expr.Cmp{Col: "plan", Op: expr.Eq, Val: str("free")}}
	spain := engine.Where{Expr: expr.Cmp{Col: "country", Op: expr.Eq, Val: str("ES")}}
	noVIP := engine.Where{Expr: expr.IsNull{Col: "vip"}}
	wantTeam, wantPro, wantFree, wantSpain := truth(team), truth(pro), truth(free), truth(spain)

	// Day 2: a-1 turns out to be alice (its newer plan wins in the merged
	// profile); a-2 logs in as bob, a user id never seen: attached to
	// a-2's person.
	apply(identifyOp(day(2), []identity.ID{uid("alice"), anon("a-1")}))
	apply(identifyOp(day(2)+1, []identity.ID{uid("bob"), anon("a-2")}))
	snap := ws.Snapshot()
	if a, _ := snap.Graph.Lookup(uid("alice")); a != 1 || snap.Graph.Canonical(2) != 1 {
		t.Fatalf("alice is person %d, a-1's person merged into %d: want 1 and 1", a, snap.Graph.Canonical(2))
	}

	at := time.UnixMicro(day(1))
	res, err := Evaluate(ctx, snap, pro, at, w)
	if err != nil {
		t.Fatal(err)
	}
	if got := ids(res.Members); !slices.Equal(got, wantPro) {
		t.Errorf("pro at day 1: %v, want %v: the surviving profile's own plan then", got, wantPro)
	}
	if got, _ := Members(ctx, snap, spain, at, w); !slices.Equal(ids(got), wantSpain) {
		t.Errorf("spain at day 1: %v, want %v", ids(got), wantSpain)
	}
	// a-1's profile was folded into alice's: it is no member of "team"
	// (the limit); the answer is the truth without it.
	got, _ := Members(ctx, snap, team, at, w)
	if len(wantTeam) != 1 || len(ids(got)) != 0 {
		t.Errorf("team at day 1: %v, truth %v: want the folded profile missing", ids(got), wantTeam)
	}
	got, _ = Members(ctx, snap, free, at, w)
	if !slices.Equal(ids(got), wantFree) {
		t.Errorf("free at day 1: %v, want %v", ids(got), wantFree)
	}
	// a-1's vip change after day 1 belongs to a profile that is gone.
	res, err = Evaluate(ctx, snap, noVIP, at, w)
	if err != nil {
		t.Fatal(err)
	}
	if got := ids(res.Members); !slices.Equal(wantNoVIP, []int{1, 2, 3, 4}) || !slices.Equal(got, []int{1, 3, 4}) || res.Unattached != 1 {
		t.Errorf("no vip at day 1: %v (stats %+v), truth %v: want all but a-1 (2), one unattached", got, res.Stats, wantNoVIP)
	}
}

func TestMembersNotRecorded(t *testing.T) {
	ctx := context.Background()
	b := build(t, 5, 4, 20, 0)
	for _, col := range []string{engine.ColLastSeen, engine.ColFirstSeen, engine.ColUpdatedAt} {
		cond := engine.AllOf{segments[0].cond, engine.Negate{Cond: engine.Where{Expr: expr.Cmp{Col: col, Op: expr.Gt, Val: expr.Ago(time.Hour)}}}}
		_, err := Members(ctx, b.ws.Snapshot(), cond, b.times[1], b.w)
		if !errors.Is(err, ErrNotRecorded) {
			t.Errorf("condition over %s: error %v, want ErrNotRecorded", col, err)
		}
	}
	// Over events, ts and received_at are fine.
	cond := engine.Did{Event: "login", Where: expr.Cmp{Col: engine.ColReceivedAt, Op: expr.Gt, Val: expr.Ago(time.Hour)}, Op: expr.Ge, N: 1}
	if _, err := Members(ctx, b.ws.Snapshot(), cond, b.times[1], b.w); err != nil {
		t.Errorf("behavioural predicate over received_at: %v", err)
	}
}

func TestMembersEventsWindow(t *testing.T) {
	ctx := context.Background()
	b := build(t, 6, 8, 40, 0)
	horizon := b.times[3] // T(4) = t0 + 24h
	snap := b.ws.Snapshot()
	evs, err := snap.Ints(ctx, engine.Query{Table: engine.Events}, engine.ColEventID)
	if err != nil || len(evs) == 0 {
		t.Fatal(err)
	}
	if _, _, err := b.ws.DropEventsBefore(horizon.UnixMicro(), slices.Max(evs)); err != nil {
		t.Fatal(err)
	}
	snap = b.ws.Snapshot()
	at := b.times[7] // T(8) = t0 + 48h
	for _, c := range []struct {
		name       string
		cond       engine.Cond
		incomplete bool
	}{
		{"7 days back", segments[4].cond, true},
		{"all time", segments[7].cond, true},
		{"6 hours back", engine.Did{Event: "login", Since: expr.Ago(6 * time.Hour), Op: expr.Ge, N: 1}, false},
		{"profile only", segments[0].cond, false},
	} {
		res, err := Evaluate(ctx, snap, c.cond, at, b.w)
		if err != nil {
			t.Fatal(err)
		}
		if res.EventsIncomplete != c.incomplete {
			t.Errorf("%s: EventsIncomplete %v, want %v", c.name, res.EventsIncomplete, c.incomplete)
		}
	}
}

func TestMembersCanceled(t *testing.T) {
	b := build(t, 8, 6, 30, 3)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := Members(ctx, b.ws.Snapshot(), segments[4].cond, b.times[1], b.w)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("canceled: error %v, want context.Canceled", err)
	}
}

// TestFoldMoves checks the bookkeeping of person-id moves (a profile
// handed to a new person id when its person merges into one without a
// profile) and of first changes across them, on synthetic records.
func TestFoldMoves(t *testing.T) {
	s := column.NewSchema(
		column.ColumnDef{Name: engine.ColPersonID, Type: column.TypeInt},
		column.ColumnDef{Name: "plan", Type: column.TypeString},
	)
	f := newFold(s, nil)
	recs := []history.Record{
		{Person: 5, Attribute: "plan", Old: column.String("free"), New: column.String("pro")},
		{Person: 5, Attribute: "plan", Old: column.String("pro"), New: column.String("team")},
		{Person: 5, Attribute: engine.ColPersonID, Old: column.Int(5), New: column.Int(9)},
		{Person: 9, Attribute: "plan", Old: column.String("team"), New: column.String("enterprise")},
		{Person: 9, Attribute: "gone", Old: column.Int(1), New: column.Int(2)},
		{Person: 7, Attribute: "plan", Old: column.Value{}, New: column.String("free")},
	}
	for i := range recs {
		f.add(&recs[i])
	}
	if f.ord != 6 || f.unknown != 1 {
		t.Fatalf("records %d, unknown %d: want 6 and 1", f.ord, f.unknown)
	}
	if d, ok := f.follow(5); !ok || d != 9 {
		t.Fatalf("follow(5) = %d, %v: want 9", d, ok)
	}
	if d, ok := f.follow(7); !ok || d != 7 {
		t.Fatalf("follow(7) = %d, %v: want 7", d, ok)
	}
	row := mergeFirst(mergeFirst(nil, f.states[f.lookup(9)].first), f.states[f.lookup(5)].first)
	slices.SortFunc(row, func(a, b entry) int { return int(a.col - b.col) })
	if len(row) != 2 || !row[0].val.Equal(column.Int(5)) || !row[1].val.Equal(column.String("free")) {
		t.Fatalf("profile now owned by 9, as it was: %+v; want person_id 5, plan free", row)
	}
	f.moved[9] = 5 // a cycle: damaged history
	if _, ok := f.follow(5); ok {
		t.Fatal("follow through a cycle: ok")
	}
}
