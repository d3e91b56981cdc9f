package storage

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cohortdb/cohort/engine"
	"github.com/cohortdb/cohort/engine/column"
	"github.com/cohortdb/cohort/engine/identity"
	"github.com/cohortdb/cohort/storage/durable"
	"github.com/cohortdb/cohort/storage/history"
	"github.com/cohortdb/cohort/storage/internal/pqtable"
	"github.com/cohortdb/cohort/storage/snapshot"
)

var eday0 = time.Date(2026, 10, 1, 9, 0, 0, 0, time.UTC)

func uid(v string) identity.ID  { return identity.ID{Type: identity.TypeUserID, Value: v} }
func anon(v string) identity.ID { return identity.ID{Type: identity.TypeAnonymousID, Value: v} }

func str(name, v string) engine.Field { return engine.Field{Name: name, Value: column.String(v)} }

// eraseScript is the life of persons A (anonymous "alice-anon", then user
// "alice-user", merged) and B ("bob-user"): profile changes over several
// days (history files), events on several days (partitions), then A's
// erasure. Every string about A contains "alice". Op i has log sequence
// i+1. Marks name the index after which the test takes a snapshot.
func eraseScript() (ops []engine.Op, snapAfter map[int]bool) {
	at := func(d int) int64 { return eday0.AddDate(0, 0, d).UnixMicro() }
	n := 0
	op := func(o engine.Op) {
		n++
		o.Source = fmt.Sprintf("m%d", n)
		ops = append(ops, o)
	}
	snapAfter = map[int]bool{}
	snap := func() { snapAfter[len(ops)-1] = true }

	op(engine.Op{Kind: engine.OpIdentify, IDs: []identity.ID{anon("alice-anon")}, At: at(0), Traits: []engine.Field{str("email", "alice@example.com"), str("plan", "alice-plan-1")}})
	op(engine.Op{Kind: engine.OpIdentify, IDs: []identity.ID{uid("bob-user")}, At: at(0), Traits: []engine.Field{str("email", "bob@example.com"), str("plan", "bob-plan-1")}})
	op(engine.Op{Kind: engine.OpTrack, IDs: []identity.ID{anon("alice-anon")}, Event: "Viewed", At: at(0), Props: []engine.Field{str("note", "alice-note-1")}})
	op(engine.Op{Kind: engine.OpTrack, IDs: []identity.ID{uid("bob-user")}, Event: "Viewed", At: at(0), Props: []engine.Field{str("note", "bob-note-1")}})
	snap()
	op(engine.Op{Kind: engine.OpIdentify, IDs: []identity.ID{uid("alice-user")}, At: at(1), Traits: []engine.Field{str("plan", "alice-plan-2")}})
	op(engine.Op{Kind: engine.OpAlias, IDs: []identity.ID{anon("alice-anon"), uid("alice-user")}, At: at(1)})
	op(engine.Op{Kind: engine.OpIdentify, IDs: []identity.ID{uid("bob-user")}, At: at(1), Traits: []engine.Field{str("plan", "bob-plan-2")}})
	op(engine.Op{Kind: engine.OpTrack, IDs: []identity.ID{uid("alice-user")}, Event: "Bought", At: at(2), Props: []engine.Field{str("note", "alice-note-2")}})
	op(engine.Op{Kind: engine.OpTrack, IDs: []identity.ID{uid("bob-user")}, Event: "Bought", At: at(2), Props: []engine.Field{str("note", "bob-note-2")}})
	snap()
	op(engine.Op{Kind: engine.OpIdentify, IDs: []identity.ID{uid("alice-user")}, At: at(3), Traits: []engine.Field{str("plan", "alice-plan-3")}})
	op(engine.Op{Kind: engine.OpTrack, IDs: []identity.ID{uid("alice-user")}, Event: "Solo", At: at(3), Props: []engine.Field{str("note", "alice-note-3")}})
	snap() // a history file and a day partition with nothing but A
	op(engine.Op{Kind: engine.OpIdentify, IDs: []identity.ID{uid("bob-user")}, At: at(3), Traits: []engine.Field{str("plan", "bob-plan-3")}})
	snap()
	op(engine.Op{Kind: engine.OpIdentify, IDs: []identity.ID{uid("alice-user")}, At: at(4), Traits: []engine.Field{str("plan", "alice-plan-4")}}) // buffered history only
	op(engine.Op{Kind: engine.OpTrack, IDs: []identity.ID{uid("alice-user")}, Event: "Late", At: at(4), Props: []engine.Field{str("note", "alice-note-4")}})
	op(engine.Op{Kind: engine.OpIdentify, IDs: []identity.ID{uid("bob-user")}, At: at(4), Traits: []engine.Field{str("plan", "bob-plan-4")}})
	op(engine.Op{Kind: engine.OpDelete, IDs: []identity.ID{uid("alice-user")}, At: at(5)})
	return ops, snapAfter
}

// applyOps applies ops[from:to], each as its own batch at log sequence i+1.
func applyOps(t *testing.T, w *engine.Workspace, ops []engine.Op, from, to int) {
	t.Helper()
	for i := from; i < to; i++ {
		res, err := w.ApplyLogged(context.Background(), ops[i:i+1], uint64(i+1))
		if err != nil || len(res.Rejected) > 0 {
			t.Fatalf("op %d: %v %v", i, err, res.Rejected)
		}
	}
}

type eraseFixture struct {
	dir          string
	s            *Store
	e            *engine.Engine
	w            *engine.Workspace
	ops          []engine.Op
	alice        []int64 // A's person ids: the anonymous one and the user one
	bob          int64
	bobHistory   []string
	bobEvents    []string
	sealedBefore int
}

// newEraseFixture runs eraseScript up to (not including) A's erasure, with
// snapshots, sealed partitions of the days before day 4, a quarantined
// snapshot, and A's last changes buffered.
func newEraseFixture(t *testing.T) *eraseFixture {
	t.Helper()
	ctx := context.Background()
	f := &eraseFixture{dir: t.TempDir()}
	var err error
	if f.s, err = Open(f.dir, Options{Logger: quiet()}); err != nil {
		t.Fatal(err)
	}
	f.e = engine.New(engine.Options{})
	if _, err := f.s.Restore(ctx, f.e); err != nil {
		t.Fatal(err)
	}
	f.w, _ = f.e.CreateWorkspace("acme")
	ops, snapAfter := eraseScript()
	f.ops = ops
	for i := range len(ops) - 1 {
		applyOps(t, f.w, ops, i, i+1)
		g := f.w.Snapshot().Graph
		switch i {
		case 0:
			p, _ := g.Lookup(anon("alice-anon"))
			f.alice = append(f.alice, int64(p))
		case 1:
			p, _ := g.Lookup(uid("bob-user"))
			f.bob = int64(p)
		case 4:
			p, _ := g.Lookup(uid("alice-user"))
			f.alice = append(f.alice, int64(p))
		}
		if snapAfter[i] {
			if err := f.s.SnapshotNow(ctx); err != nil {
				t.Fatal(err)
			}
		}
	}
	if f.alice[0] == f.alice[1] {
		t.Fatalf("A's two person ids are one: %v", f.alice)
	}
	p, err := f.s.Events("acme")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Seal(ctx, f.w.Snapshot().Events, eday0.AddDate(0, 0, 4)); err != nil {
		t.Fatal(err)
	}
	// A quarantined snapshot (as Load leaves a corrupt one) holds A too.
	list, _ := snapshot.List(f.s.snapDir("acme"))
	if len(list) < 2 {
		t.Fatalf("%d snapshots", len(list))
	}
	if err := os.CopyFS(list[len(list)-1].Path+corruptSuffixForTest, os.DirFS(list[len(list)-1].Path)); err != nil {
		t.Fatal(err)
	}
	f.bobHistory = personHistory(t, f.s, f.bob)
	f.bobEvents = personEvents(t, f.s, f.bob)
	if len(f.bobHistory) == 0 || len(f.bobEvents) == 0 || len(personHistory(t, f.s, f.alice...)) == 0 || len(personEvents(t, f.s, f.alice...)) == 0 {
		t.Fatal("the fixture has no history or sealed events of A or B")
	}
	if h := f.s.hist["acme"]; h.Buffered() == 0 {
		t.Fatal("no buffered history: the fixture does not test the buffer")
	}
	files := parquetFiles(t, f.dir)
	f.sealedBefore = len(files)
	if n := filesHolding(t, files, f.alice); n < 5 {
		t.Fatalf("only %d files hold A: the fixture proves little", n)
	}
	return f
}

const corruptSuffixForTest = ".corrupt"

// erase applies A's erasure (the script's last op).
func (f *eraseFixture) erase(t *testing.T) {
	applyOps(t, f.w, f.ops, len(f.ops)-1, len(f.ops))
}

func personHistory(t *testing.T, s *Store, persons ...int64) []string {
	t.Helper()
	var out []string
	err := s.ScanHistory(context.Background(), "acme", time.Unix(0, 0), time.Unix(1<<33, 0), func(r history.Record) error {
		if slices.Contains(persons, int64(r.Person)) {
			out = append(out, fmt.Sprintf("%d %d %s %v->%v %d %s", r.Seq, r.Person, r.Attribute, r.Old, r.New, r.At, r.Source))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func personEvents(t *testing.T, s *Store, persons ...int64) []string {
	t.Helper()
	p, err := s.Events("acme")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	err = p.Scan(context.Background(), time.Unix(0, 0), time.Unix(1<<33, 0), func(cols []pqtable.Column, vals []column.Value) error {
		pi := slices.IndexFunc(cols, func(c pqtable.Column) bool { return c.Name == engine.ColPersonID })
		if slices.Contains(persons, vals[pi].I) {
			out = append(out, fmt.Sprint(vals))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func parquetFiles(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && strings.HasSuffix(p, ".parquet") {
			out = append(out, p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// fileFinding is a trace of an erased person found in a file.
type fileFinding struct {
	file, what string
}

// scanFile reads every row of a Parquet file and reports each trace of
// persons: a person id in a person column, or a string mentioning "alice".
// By design an erasure leaves the erased identifiers as suppressed entries
// (person 0) in the snapshot's identifiers (that is the suppression list)
// and the person ids of merges in the merge log (values redacted): those
// are checked for their expected form instead.
func scanFile(t *testing.T, p string, persons []int64) []fileFinding {
	t.Helper()
	fh, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	fi, _ := fh.Stat()
	rd, err := pqtable.Open(fh, fi.Size(), nil)
	if err != nil {
		t.Fatalf("%s: %v", p, err)
	}
	table, _ := rd.Lookup("cohort.table")
	cols := rd.Columns()
	idx := func(name string) int {
		return slices.IndexFunc(cols, func(c pqtable.Column) bool { return c.Name == name })
	}
	stateCol := idx("state")
	var out []fileFinding
	err = rd.Each(context.Background(), func(vals []column.Value) error {
		suppressed := table == snapshot.TableIdentifiers && vals[stateCol].I == int64(identity.IDSuppressed)
		for i, c := range cols {
			v := vals[i]
			switch {
			case (c.Name == "person_id" || c.Name == "person") && slices.Contains(persons, v.I):
				out = append(out, fileFinding{p, fmt.Sprintf("%s=%d", c.Name, v.I)})
			case suppressed && c.Name == "person" && v.I != 0:
				out = append(out, fileFinding{p, fmt.Sprintf("suppressed identifier attached to %d", v.I)})
			case suppressed:
				// the suppression list: the erased identifier, by design
			case v.Type == column.TypeString && strings.Contains(v.S, "alice"):
				out = append(out, fileFinding{p, fmt.Sprintf("%s=%q", c.Name, v.S)})
			case v.Type == column.TypeStringList && slices.ContainsFunc(v.L, func(s string) bool { return strings.Contains(s, "alice") }):
				out = append(out, fileFinding{p, fmt.Sprintf("%s=%q", c.Name, v.L)})
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("%s: %v", p, err)
	}
	return out
}

func filesHolding(t *testing.T, files []string, persons []int64) int {
	n := 0
	for _, f := range files {
		if len(scanFile(t, f, persons)) > 0 {
			n++
		}
	}
	return n
}

// checkErased scans every file under dir: no Parquet file holds a trace
// of A, no other file mentions A, and B's history and events are intact.
func (f *eraseFixture) checkErased(t *testing.T, s *Store) {
	t.Helper()
	for _, p := range parquetFiles(t, f.dir) {
		for _, x := range scanFile(t, p, f.alice) {
			t.Errorf("%s still holds A: %s", x.file, x.what)
		}
	}
	err := filepath.WalkDir(f.dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || strings.HasSuffix(p, ".parquet") {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if strings.Contains(string(b), "alice") {
			t.Errorf("%s mentions A", p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := personHistory(t, s, f.alice...); len(got) > 0 {
		t.Errorf("A's history is still readable: %v", got)
	}
	if got := personEvents(t, s, f.alice...); len(got) > 0 {
		t.Errorf("A's sealed events are still readable: %v", got)
	}
	if got := personHistory(t, s, f.bob); !slices.Equal(got, f.bobHistory) {
		t.Errorf("B's history changed:\n got %v\nwant %v", got, f.bobHistory)
	}
	if got := personEvents(t, s, f.bob); !slices.Equal(got, f.bobEvents) {
		t.Errorf("B's sealed events changed:\n got %v\nwant %v", got, f.bobEvents)
	}
	snaps, _ := os.ReadDir(s.snapDir("acme"))
	if len(snaps) != 1 {
		var names []string
		for _, e := range snaps {
			names = append(names, e.Name())
		}
		t.Errorf("snapshots left: %v, want only the one written after the erasure", names)
	}
	if st := s.ErasureStats(); st.Pending != 0 {
		t.Errorf("%d erasures still pending", st.Pending)
	}
}

// checkRestores restores the data directory into a fresh engine: B is
// there, A is not and stays suppressed.
func (f *eraseFixture) checkRestores(t *testing.T) {
	t.Helper()
	s, err := Open(f.dir, Options{Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	e := engine.New(engine.Options{})
	if _, err := s.Restore(context.Background(), e); err != nil {
		t.Fatal(err)
	}
	w, err := e.Workspace("acme")
	if err != nil {
		t.Fatal(err)
	}
	g := w.Snapshot().Graph
	if p, ok := g.Lookup(uid("bob-user")); !ok || int64(p) != f.bob {
		t.Errorf("after restore, B is %d, %v; want %d", p, ok, f.bob)
	}
	if p, ok := g.Lookup(uid("alice-user")); ok {
		t.Errorf("after restore, A is person %d", p)
	}
	if n := w.Snapshot().Profiles.Live; n != 1 {
		t.Errorf("after restore, %d profiles, want 1 (B)", n)
	}
}

// TestEraseEverywhere: erasing A rewrites every history file and sealed
// partition holding A (a file of A alone goes), drops A's buffered
// history, writes a snapshot and deletes every older one (a quarantined
// one included), and trims the log up to that snapshot; B is untouched.
func TestEraseEverywhere(t *testing.T) {
	ctx := context.Background()
	f := newEraseFixture(t)
	type call struct {
		ws     string
		before uint64
	}
	var calls []call
	f.s.SetLogEraser(func(ctx context.Context, ws string, before uint64) (uint64, bool, error) {
		calls = append(calls, call{ws, before})
		return 7, len(calls) > 1, nil // the first time the last message must stay
	})
	f.erase(t)
	if st := f.s.ErasureStats(); st.Pending != 1 {
		t.Fatalf("after the erasure, %d pending, want 1 (queued by the OnApplied hook)", st.Pending)
	}
	if err := f.s.EraseNow(ctx); err != nil {
		t.Fatal(err)
	}
	st := f.s.ErasureStats()
	if st.Pending != 1 || len(calls) != 1 {
		t.Fatalf("the log step should wait: %+v, calls %v", st, calls)
	}
	list, _ := snapshot.List(f.s.snapDir("acme"))
	m, err := snapshot.ReadManifest(list[0].Path)
	if err != nil {
		t.Fatal(err)
	}
	if want := (call{"acme", m.LogSeq + 1}); calls[0] != want || m.LogSeq != uint64(len(f.ops)) {
		t.Errorf("log eraser called with %+v, want %+v (snapshot log sequence %d, erasure at %d)", calls[0], want, m.LogSeq, len(f.ops))
	}
	if err := f.s.EraseNow(ctx); err != nil {
		t.Fatal(err)
	}
	f.checkErased(t, f.s)
	st = f.s.ErasureStats()
	if st.Completed != 1 || st.Persons != 2 || st.HistoryRows == 0 || st.HistoryFiles < 2 || st.EventRows < 3 || st.EventFiles < 2 ||
		st.Snapshots < 2 || st.LogMessages != 14 || st.Failures != 0 {
		t.Errorf("stats %+v", st)
	}
	f.checkRestores(t)

	// Later snapshots and history keep working.
	if _, err := f.w.Apply(ctx, []engine.Op{{Kind: engine.OpIdentify, IDs: []identity.ID{uid("bob-user")}, At: eday0.AddDate(0, 0, 6).UnixMicro(), Traits: []engine.Field{str("plan", "bob-plan-6")}}}); err != nil {
		t.Fatal(err)
	}
	if err := f.s.SnapshotNow(ctx); err != nil {
		t.Fatal(err)
	}
	if got := personHistory(t, f.s, f.bob); len(got) != len(f.bobHistory)+1 {
		t.Errorf("B's history after a later change: %d records, want %d", len(got), len(f.bobHistory)+1)
	}
}

// TestEraseRunLoop: the storage loop carries an erasure out EraseDelay
// after the engine applied it, with no explicit call.
func TestEraseRunLoop(t *testing.T) {
	f := newEraseFixture(t)
	f.s.opts.SnapshotInterval = time.Hour
	f.s.er.delay = 20 * time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.s.Run(ctx) }()
	f.erase(t)
	deadline := time.Now().Add(30 * time.Second)
	for f.s.ErasureStats().Completed == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("the erasure was not carried out: %+v", f.s.ErasureStats())
		}
		time.Sleep(5 * time.Millisecond) // polling
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	f.checkErased(t, f.s)
}

var errCrash = errors.New("simulated crash")

// TestEraseCrashResume: a pass interrupted after each of its steps, and a
// history file rewrite interrupted between its rename and the removal of
// the original, resume in the next life of the data directory (a new Store
// reading the queue file, a restore, the log replay) and complete.
func TestEraseCrashResume(t *testing.T) {
	for _, step := range []string{"rewrite", "history", "events", "snapshot"} {
		t.Run(step, func(t *testing.T) {
			ctx := context.Background()
			f := newEraseFixture(t)
			f.erase(t)
			if step == "rewrite" {
				if err := f.s.er.sync(); err != nil { // as a snapshot would
					t.Fatal(err)
				}
				if n := f.staleHistoryCopies(t); n < 2 {
					t.Fatalf("%d stale copies: the test proves little", n)
				}
			} else {
				f.s.er.afterStep = func(ws, s string) error {
					if s == step {
						return errCrash
					}
					return nil
				}
				if err := f.s.EraseNow(ctx); !errors.Is(err, errCrash) {
					t.Fatalf("EraseNow = %v, want the simulated crash", err)
				}
			}
			// Second life: only what is on disk.
			s2 := f.restart(t)
			if st := s2.ErasureStats(); st.Pending != 1 {
				t.Fatalf("after the restart, %d erasures pending, want 1 from the queue file", st.Pending)
			}
			if err := s2.EraseNow(ctx); err != nil {
				t.Fatal(err)
			}
			f.checkErased(t, s2)
			f.checkRestores(t)
		})
	}
}

// TestEraseReplayed: the engine applied the erasure, but the node died
// before any snapshot or queue write; the next life restores the older
// snapshot, the log replay writes A's history again and erases A again,
// which queues the erasure again; the pass removes everything.
func TestEraseReplayed(t *testing.T) {
	ctx := context.Background()
	f := newEraseFixture(t)
	f.erase(t)
	if _, err := os.Stat(f.s.er.path); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the queue file exists before any snapshot or pass (%v): the test proves nothing", err)
	}
	s2 := f.restart(t)
	if err := s2.EraseNow(ctx); err != nil {
		t.Fatal(err)
	}
	f.checkErased(t, s2)
	f.checkRestores(t)
}

// restart opens a new Store on f's directory, restores a new engine and
// replays the log (f.ops) after the restored snapshot, as `cohort serve`
// does after a crash; f.s, f.e and f.w become the new ones.
func (f *eraseFixture) restart(t *testing.T) *Store {
	t.Helper()
	s, err := Open(f.dir, Options{Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	e := engine.New(engine.Options{})
	seqs, err := s.Restore(context.Background(), e)
	if err != nil {
		t.Fatal(err)
	}
	w, err := e.Workspace("acme")
	if err != nil {
		t.Fatal(err)
	}
	applyOps(t, w, f.ops, int(seqs["acme"]), len(f.ops))
	f.s, f.e, f.w = s, e, w
	return s
}

// staleHistoryCopies leaves what a crash between the rename of a rewritten
// history file and the removal of its original leaves: next to every
// original holding A, its copy without A (same batch and time range, a
// new checksum). The copies are made by erasing A from a copy of the
// directory.
func (f *eraseFixture) staleHistoryCopies(t *testing.T) int {
	t.Helper()
	hdir := f.s.historyDir("acme")
	tmp := t.TempDir()
	if err := os.CopyFS(tmp, os.DirFS(hdir)); err != nil {
		t.Fatal(err)
	}
	persons := []uint32{uint32(f.alice[0]), uint32(f.alice[1])}
	if _, err := history.EraseDir(context.Background(), tmp, persons); err != nil {
		t.Fatal(err)
	}
	ents, _ := os.ReadDir(tmp)
	n := 0
	for _, e := range ents {
		if _, err := os.Stat(filepath.Join(hdir, e.Name())); err == nil {
			continue // not rewritten
		}
		b, err := os.ReadFile(filepath.Join(tmp, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(hdir, e.Name()), b, 0o644); err != nil {
			t.Fatal(err)
		}
		n++
	}
	return n
}

// TestEraseQueueFile: the queue file round-trips, and a damaged one stops
// Open (forgetting it would leave erased persons on disk for good).
func TestEraseQueueFile(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, Options{Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Erase(context.Background(), "acme", []uint32{9, 3, 9}, 42); err != nil {
		t.Fatal(err)
	}
	s2, err := Open(dir, Options{Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	if got := s2.er.jobs()["acme"]; len(got) != 1 || !slices.Equal(got[0].en.Persons, []uint32{3, 9}) || got[0].en.LogSeq != 42 {
		t.Fatalf("queue after reopening: %+v", got)
	}
	p := filepath.Join(dir, erasureDirName, queueName)
	b, _ := os.ReadFile(p)
	b[len(b)-3] ^= 1
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(dir, Options{Logger: quiet()}); !errors.Is(err, durable.ErrCorrupt) {
		t.Fatalf("Open with a damaged queue = %v, want a corruption error", err)
	}
}
