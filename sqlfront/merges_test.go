package sqlfront

import (
	"testing"
	"time"

	"github.com/cohortdb/cohort/engine"
	"github.com/cohortdb/cohort/engine/identity"
)

// TestMergesTable checks the merge log in SQL: a merge shows both persons,
// the canonical one, the reason and the linking identifier; an erased
// person's merges disappear.
func TestMergesTable(t *testing.T) {
	eng := newEngine(t, "demo")
	ws, _ := eng.Workspace("demo")
	at := time.Date(2026, 5, 1, 9, 0, 0, 0, time.UTC)
	apply(t, ws,
		ident(at, "m1", []identity.ID{{Type: "anonymous_id", Value: "a1"}}),
		ident(at.Add(time.Second), "m2", uid("u1")),
	)
	apply(t, ws, ident(at.Add(time.Minute), "m3", []identity.ID{{Type: "user_id", Value: "u1"}, {Type: "anonymous_id", Value: "a1"}}))
	apply(t, ws, ident(at, "m4", uid("u2")), ident(at, "m5", []identity.ID{{Type: "anonymous_id", Value: "a2"}}))
	apply(t, ws, ident(at.Add(2*time.Minute), "m6", []identity.ID{{Type: "user_id", Value: "u2"}, {Type: "anonymous_id", Value: "a2"}}))
	ts := startServer(t, eng, nil)
	db := ts.open(t, "root", testPassword, "demo")
	u1 := query(t, db, "SELECT person_id FROM identities WHERE type = 'user_id' AND value = 'u1'")[0][0]
	got := query(t, db, "SELECT person_id, merged_at, source, via_type, via_value, reason <> '' FROM merges WHERE person_id = "+u1)
	want(t, "merges of u1", got, row(u1, "2026-05-01T09:01:00Z", "m3", "anonymous_id", "a1", "1"))
	if n := query(t, db, "SELECT COUNT(*) FROM merges"); n[0][0] != "2" {
		t.Fatalf("%s merges, want 2", n[0][0])
	}
	if _, err := ws.Apply(t.Context(), []engine.Op{{Kind: engine.OpDelete, At: at.Add(time.Hour).UnixMicro(), IDs: uid("u2")}}); err != nil {
		t.Fatal(err)
	}
	// The erased person's merge stays (person ids are never reused) with
	// its identifiers redacted.
	got = query(t, db, "SELECT via_type, via_value, reason FROM merges WHERE person_id <> "+u1)
	want(t, "merges after erasing u2", got, row("anonymous_id", "(erased)", "identifiers erased"))
}
