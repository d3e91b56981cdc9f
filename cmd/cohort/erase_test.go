package main

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/parquet-go/parquet-go"

	"github.com/cohortdb/cohort/engine"
	"github.com/cohortdb/cohort/engine/column"
	"github.com/cohortdb/cohort/engine/identity"
)

// parquetTraces reads every row of every Parquet file under dir and
// returns the traces of an erased person: a person_id/person value in
// persons, or a string mentioning needle. Rows of the snapshot's
// identifiers table in the suppressed state are the suppression list (the
// erased identifiers, person 0, by design): they are checked to be so.
func parquetTraces(t *testing.T, dir string, persons []int64, needle string) (files int, traces []string) {
	t.Helper()
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ".parquet") {
			return err
		}
		files++
		fh, err := os.Open(p)
		if err != nil {
			return err
		}
		defer fh.Close()
		fi, _ := fh.Stat()
		f, err := parquet.OpenFile(fh, fi.Size())
		if err != nil {
			return fmt.Errorf("%s: %w", p, err)
		}
		table, _ := f.Lookup("cohort.table")
		var leaves []string
		for _, path := range f.Schema().Columns() {
			leaves = append(leaves, path[0])
		}
		for _, rg := range f.RowGroups() {
			rows := rg.Rows()
			buf := make([]parquet.Row, 256)
			for {
				n, rerr := rows.ReadRows(buf)
				for _, row := range buf[:n] {
					byName := map[string][]parquet.Value{}
					for _, v := range row {
						byName[leaves[v.Column()]] = append(byName[leaves[v.Column()]], v)
					}
					suppressed := table == "identifiers" && byName["state"][0].Int64() == int64(identity.IDSuppressed)
					if suppressed {
						if byName["person"][0].Int64() != 0 {
							traces = append(traces, fmt.Sprintf("%s: suppressed identifier of person %d", p, byName["person"][0].Int64()))
						}
						continue
					}
					for name, vs := range byName {
						for _, v := range vs {
							switch {
							case v.IsNull():
							case (name == "person_id" || name == "person") && v.Kind() == parquet.Int64 && slices.Contains(persons, v.Int64()):
								traces = append(traces, fmt.Sprintf("%s: %s=%d", p, name, v.Int64()))
							case v.Kind() == parquet.ByteArray && strings.Contains(string(v.ByteArray()), needle):
								traces = append(traces, fmt.Sprintf("%s: %s=%q", p, name, v.ByteArray()))
							}
						}
					}
				}
				if rerr == io.EOF {
					break
				}
				if rerr != nil {
					return fmt.Errorf("%s: %w", p, rerr)
				}
			}
			rows.Close()
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return files, traces
}

// logTraces reads the whole durable log and returns the sequences of the
// messages mentioning needle, and the number of messages.
func logTraces(t *testing.T, s *server, needle string) (msgs int, seqs []uint64) {
	t.Helper()
	l := s.ingest.svc.Log()
	st, err := l.State(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if st.Msgs == 0 {
		return 0, nil
	}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	sub, err := l.Subscribe(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Stop()
	for {
		select {
		case m := <-sub.C:
			msgs++
			if strings.Contains(string(m.Data), needle) {
				seqs = append(seqs, m.Seq)
			}
			if m.Seq >= st.LastSeq {
				return msgs, seqs
			}
		case <-ctx.Done():
			t.Fatalf("log read stopped after %d messages: %v", msgs, ctx.Err())
		}
	}
}

// TestServeErasure: a person erased through SQL DELETE is removed, within
// an erasure pass, from profile history files, sealed event partitions,
// every snapshot and the durable log; another person is untouched; the
// erasure survives a restart; /metrics counts it.
func TestServeErasure(t *testing.T) {
	cfg := testConfig(t)
	s, stop := start(t, cfg, nil)
	ctx := t.Context()
	if err := s.ingest.svc.WaitCaughtUp(ctx); err != nil {
		t.Fatal(err)
	}
	day0 := time.Date(2026, 5, 1, 9, 0, 0, 0, time.UTC)
	at := func(d int) int64 { return day0.AddDate(0, 0, d).UnixMicro() }
	n := 0
	send := func(ops ...engine.Op) {
		t.Helper()
		for i := range ops {
			n++
			ops[i].Source = fmt.Sprintf("m%d", n)
		}
		if err := s.ingest.svc.Append(ctx, demoWorkspace, ops); err != nil {
			t.Fatal(err)
		}
		if err := s.ingest.svc.Sync(ctx); err != nil {
			t.Fatal(err)
		}
	}
	field := func(k, v string) engine.Field { return engine.Field{Name: k, Value: column.String(v)} }
	aliceAnon := identity.ID{Type: identity.TypeAnonymousID, Value: "alice-anon"}
	alice := identity.ID{Type: identity.TypeUserID, Value: "alice-user"}
	bob := identity.ID{Type: identity.TypeUserID, Value: "bob-user"}
	ws, err := s.eng.Workspace(demoWorkspace)
	if err != nil {
		t.Fatal(err)
	}
	lookup := func(id identity.ID) int64 {
		p, ok := ws.Snapshot().Graph.Lookup(id)
		if !ok {
			t.Fatalf("%v unknown", id)
		}
		return int64(p)
	}
	snap := func() {
		t.Helper()
		if err := s.storage.store.SnapshotNow(ctx); err != nil {
			t.Fatal(err)
		}
	}

	send(engine.Op{Kind: engine.OpIdentify, IDs: []identity.ID{aliceAnon}, At: at(0), Traits: []engine.Field{field("email", "alice@example.com"), field("plan", "alice-plan-0")}},
		engine.Op{Kind: engine.OpIdentify, IDs: []identity.ID{bob}, At: at(0), Traits: []engine.Field{field("email", "bob@example.com"), field("plan", "bob-plan-0")}},
		engine.Op{Kind: engine.OpTrack, IDs: []identity.ID{aliceAnon}, Event: "Viewed", At: at(0), Props: []engine.Field{field("page", "alice-page")}},
		engine.Op{Kind: engine.OpTrack, IDs: []identity.ID{bob}, Event: "Viewed", At: at(0), Props: []engine.Field{field("page", "bob-page")}})
	persons := []int64{lookup(aliceAnon)}
	snap()
	send(engine.Op{Kind: engine.OpIdentify, IDs: []identity.ID{alice}, At: at(1), Traits: []engine.Field{field("plan", "alice-plan-1")}})
	persons = append(persons, lookup(alice))
	send(engine.Op{Kind: engine.OpAlias, IDs: []identity.ID{aliceAnon, alice}, At: at(1)},
		engine.Op{Kind: engine.OpTrack, IDs: []identity.ID{alice}, Event: "Bought", At: at(2), Props: []engine.Field{field("page", "alice-checkout")}},
		engine.Op{Kind: engine.OpTrack, IDs: []identity.ID{bob}, Event: "Bought", At: at(2), Props: []engine.Field{field("page", "bob-checkout")}},
		engine.Op{Kind: engine.OpIdentify, IDs: []identity.ID{bob}, At: at(2), Traits: []engine.Field{field("plan", "bob-plan-2")}})
	snap()
	p, err := s.storage.store.Events(demoWorkspace)
	if err != nil {
		t.Fatal(err)
	}
	if sealed, err := p.Seal(ctx, ws.Snapshot().Events, day0.AddDate(0, 0, 3)); err != nil || sealed != 4 {
		t.Fatalf("sealed %d events (%v), want 4", sealed, err)
	}
	send(engine.Op{Kind: engine.OpIdentify, IDs: []identity.ID{alice}, At: at(3), Traits: []engine.Field{field("plan", "alice-plan-3")}}) // buffered history
	snap()
	dataFiles, traces := parquetTraces(t, s.dataDir, persons, "alice")
	if len(traces) < 8 {
		t.Fatalf("only %d traces of A in %d files before the erasure: the test proves little", len(traces), dataFiles)
	}
	if _, seqs := logTraces(t, s, "alice"); len(seqs) == 0 {
		t.Fatal("A is not in the log before the erasure")
	}
	db := openMySQL(t, s)
	const bobHistory = "SELECT COUNT(*) FROM profile_history WHERE person_id = ?"
	bobRows := queryString(t, db, bobHistory, lookup(bob))

	// The erasure, through SQL.
	if _, err := db.Exec("DELETE FROM profiles WHERE person_id = ?", lookup(alice)); err != nil {
		t.Fatal(err)
	}
	if st := s.storage.store.ErasureStats(); st.Pending != 1 {
		t.Fatalf("%d erasures queued after the DELETE, want 1", st.Pending)
	}
	if err := s.storage.store.EraseNow(ctx); err != nil {
		t.Fatal(err)
	}
	if _, traces := parquetTraces(t, s.dataDir, persons, "alice"); len(traces) > 0 {
		t.Errorf("after the erasure pass, files still hold A:\n%s", strings.Join(traces, "\n"))
	}
	// The DELETE's own message is the stream's last: it stays until a
	// later message comes; everything before it is gone.
	if _, seqs := logTraces(t, s, "alice"); len(seqs) != 1 {
		t.Errorf("log messages mentioning A after the pass: %v, want only the DELETE's", seqs)
	}
	if st := s.storage.store.ErasureStats(); st.Pending != 1 {
		t.Errorf("the log step should wait for a later message: %+v", st)
	}
	send(engine.Op{Kind: engine.OpTrack, IDs: []identity.ID{bob}, Event: "Viewed", At: at(4)})
	if err := s.storage.store.EraseNow(ctx); err != nil {
		t.Fatal(err)
	}
	if msgs, seqs := logTraces(t, s, "alice"); len(seqs) != 0 || msgs == 0 {
		t.Errorf("log messages mentioning A: %v (of %d)", seqs, msgs)
	}
	st := s.storage.store.ErasureStats()
	if st.Pending != 0 || st.Completed != 1 || st.Persons != 2 || st.HistoryRows == 0 || st.EventRows != 2 || st.Snapshots == 0 || st.LogMessages == 0 {
		t.Errorf("erasure stats %+v", st)
	}
	if snaps, _ := os.ReadDir(filepath.Join(s.dataDir, "snapshots", demoWorkspace)); len(snaps) != 1 {
		t.Errorf("%d snapshot directories left, want 1", len(snaps))
	}
	code, body := get(t, s.URL()+"/metrics")
	if code != 200 || !strings.Contains(body, "cohort_erasures_completed_total 1\n") || !strings.Contains(body, "cohort_erasures_pending 0\n") ||
		!strings.Contains(body, `cohort_erasure_removed_total{what="event_rows"} 2`) {
		t.Errorf("/metrics = %d, erasure lines: %q", code, grepLines(body, "erasure"))
	}
	checkExposition(t, body)
	if got := queryString(t, db, bobHistory, lookup(bob)); got != bobRows {
		t.Errorf("B's history rows: %s, want %s", got, bobRows)
	}

	// A restart: A stays erased, B is whole.
	db.Close()
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	s, _ = start(t, cfg, nil)
	if err := s.ingest.svc.WaitCaughtUp(ctx); err != nil {
		t.Fatal(err)
	}
	db = openMySQL(t, s)
	if got := queryString(t, db, "SELECT COUNT(*) FROM profiles"); got != "1" {
		t.Errorf("%s profiles after the restart, want 1 (B)", got)
	}
	if got := queryString(t, db, "SELECT COUNT(*) FROM identities WHERE value LIKE 'alice%'"); got != "0" {
		t.Errorf("%s identities of A after the restart", got)
	}
	if got := queryString(t, db, bobHistory, lookup(bob)); got != bobRows {
		t.Errorf("B's history rows after the restart: %s, want %s", got, bobRows)
	}
	if _, traces := parquetTraces(t, s.dataDir, persons, "alice"); len(traces) > 0 {
		t.Errorf("after the restart, files hold A:\n%s", strings.Join(traces, "\n"))
	}
}

func grepLines(body, needle string) []string {
	var out []string
	for _, l := range strings.Split(body, "\n") {
		if strings.Contains(l, needle) {
			out = append(out, l)
		}
	}
	return out
}
