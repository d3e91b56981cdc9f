package tokens

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/cohortdb/cohort/delivery/internal/natstest"
)

func TestScope(t *testing.T) {
	for _, tc := range []struct {
		name string
		want Scope
		err  bool
	}{
		{"read", ScopeRead, false}, {"WRITE", ScopeWrite, false}, {" admin ", ScopeAdmin, false},
		{"", 0, true}, {"root", 0, true},
	} {
		got, err := ParseScope(tc.name)
		if (err != nil) != tc.err || got != tc.want {
			t.Errorf("ParseScope(%q) = %v, %v; want %v, error %v", tc.name, got, err, tc.want, tc.err)
		}
		if err != nil && !errors.Is(err, ErrBadScope) {
			t.Errorf("ParseScope(%q): error %v does not wrap ErrBadScope", tc.name, err)
		}
	}
	allows := map[[2]Scope]bool{
		{ScopeRead, ScopeRead}: true, {ScopeRead, ScopeWrite}: false, {ScopeRead, ScopeAdmin}: false,
		{ScopeWrite, ScopeRead}: true, {ScopeWrite, ScopeWrite}: true, {ScopeWrite, ScopeAdmin}: false,
		{ScopeAdmin, ScopeRead}: true, {ScopeAdmin, ScopeWrite}: true, {ScopeAdmin, ScopeAdmin}: true,
	}
	for k, want := range allows {
		if got := k[0].Allows(k[1]); got != want {
			t.Errorf("%v.Allows(%v) = %v", k[0], k[1], got)
		}
	}
	b, err := json.Marshal(Token{Scope: ScopeWrite})
	if err != nil || !strings.Contains(string(b), `"scope":"write"`) {
		t.Errorf("JSON of a token: %s, %v", b, err)
	}
	var tok Token
	if err := json.Unmarshal([]byte(`{"scope":"admin"}`), &tok); err != nil || tok.Scope != ScopeAdmin {
		t.Errorf("decoding scope admin: %v, %v", tok.Scope, err)
	}
}

func TestStore(t *testing.T) {
	dir := t.TempDir()
	js := natstest.JetStream(t, dir)
	ctx := t.Context()
	s, err := Open(ctx, js, "")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, _, err := s.Create(ctx, "acme", 0, ""); !errors.Is(err, ErrBadScope) {
		t.Fatalf("create with no scope: %v", err)
	}
	rt, rsec, err := s.Create(ctx, "acme", ScopeRead, "dashboards")
	if err != nil {
		t.Fatal(err)
	}
	wt, wsec, err := s.Create(ctx, "acme", ScopeWrite, "")
	if err != nil {
		t.Fatal(err)
	}
	ot, osec, err := s.Create(ctx, "other", ScopeAdmin, "")
	if err != nil {
		t.Fatal(err)
	}
	if id, _, ok := ParseSecret(rsec); !ok || id != rt.ID {
		t.Fatalf("secret %q does not parse to id %s", rsec, rt.ID)
	}
	for sec, want := range map[string]Token{rsec: rt, wsec: wt, osec: ot} {
		got, ok := s.Lookup(sec)
		if !ok || got != want {
			t.Errorf("Lookup(%q) = %+v, %v; want %+v", sec, got, ok, want)
		}
	}
	// A wrong secret with a right id, garbage, the empty string.
	forged := rsec[:len(rsec)-1] + string("0123456789abcdef"[(strings.IndexByte("0123456789abcdef", rsec[len(rsec)-1])+1)%16])
	for _, sec := range []string{forged, "ct_x_y", "", "Bearer " + rsec} {
		if _, ok := s.Lookup(sec); ok {
			t.Errorf("Lookup(%q) succeeded", sec)
		}
	}
	if got := s.List("acme"); len(got) != 2 || got[0] != rt || got[1] != wt {
		t.Errorf("List(acme) = %+v", got)
	}
	// A token of another workspace cannot be revoked through this one.
	if err := s.Revoke(ctx, "acme", ot.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("revoking other's token through acme: %v", err)
	}
	if err := s.Revoke(ctx, "acme", rt.ID); err != nil {
		t.Fatal(err)
	}
	if _, ok := s.Lookup(rsec); ok {
		t.Error("a revoked token still authenticates")
	}
	if err := s.Revoke(ctx, "acme", rt.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("revoking twice: %v", err)
	}

	// A second store on the same bucket (another node) loads the tokens
	// and follows revocations.
	s2, err := Open(ctx, js, "")
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if got := s2.List("acme"); len(got) != 1 || got[0] != wt {
		t.Errorf("reopened List(acme) = %+v", got)
	}
	if _, ok := s2.Lookup(wsec); !ok {
		t.Error("reopened store does not know the write token")
	}
	if err := s.Revoke(ctx, "acme", wt.ID); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, ok := s2.Lookup(wsec); !ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the other store did not see the revocation")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestAuthenticator(t *testing.T) {
	js := natstest.JetStream(t, "")
	ctx := t.Context()
	s, err := Open(ctx, js, "")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	_, rsec, _ := s.Create(ctx, "acme", ScopeRead, "")
	_, asec, _ := s.Create(ctx, "acme", ScopeAdmin, "")
	a := NewAuthenticator(s, "the-admin-token")

	for _, bad := range []string{"", "nope", "the-admin-token2"} {
		if _, err := a.Authenticate(bad); !errors.Is(err, ErrUnauthenticated) {
			t.Errorf("Authenticate(%q): %v", bad, err)
		}
	}
	admin, err := a.Authenticate("the-admin-token")
	if err != nil || !admin.Admin || admin.Subject() != "admin" {
		t.Fatalf("admin: %+v, %v", admin, err)
	}
	for _, ws := range []string{"acme", "other"} {
		if err := admin.Authorize(ws, ScopeAdmin); err != nil {
			t.Errorf("admin on %s: %v", ws, err)
		}
	}
	read, err := a.Authenticate(rsec)
	if err != nil {
		t.Fatal(err)
	}
	if err := read.Authorize("acme", ScopeRead); err != nil {
		t.Error(err)
	}
	for _, tc := range []struct {
		ws   string
		need Scope
	}{{"acme", ScopeWrite}, {"other", ScopeRead}, {"", ScopeRead}} {
		if err := read.Authorize(tc.ws, tc.need); !errors.Is(err, ErrPermissionDenied) {
			t.Errorf("read token on %q needing %v: %v", tc.ws, tc.need, err)
		}
	}
	adm, _ := a.Authenticate(asec)
	if err := adm.Authorize("acme", ScopeAdmin); err != nil {
		t.Error(err)
	}
	if err := adm.Authorize("other", ScopeRead); !errors.Is(err, ErrPermissionDenied) {
		t.Errorf("workspace admin token on another workspace: %v", err)
	}
	// No admin token configured: nothing matches the empty string.
	if _, err := NewAuthenticator(s, "").Authenticate(""); !errors.Is(err, ErrUnauthenticated) {
		t.Errorf("empty admin token: %v", err)
	}
}
