package tokens

import (
	"crypto/subtle"
	"fmt"
)

// Principal is who a call authenticated as: the server's admin token
// (admin on every workspace) or one API token.
type Principal struct {
	Admin bool
	Token Token // zero when Admin
}

// Subject names the principal in logs: "admin" or "token:<id>".
func (p Principal) Subject() string {
	if p.Admin {
		return "admin"
	}
	return "token:" + p.Token.ID
}

// Authorize returns nil if p may do what need requires in workspace ws,
// else an error wrapping ErrPermissionDenied that says why.
func (p Principal) Authorize(ws string, need Scope) error {
	if p.Admin {
		return nil
	}
	if ws == "" || p.Token.Workspace != ws {
		return fmt.Errorf("%w: the token belongs to workspace %q, not %q", ErrPermissionDenied, p.Token.Workspace, ws)
	}
	if !p.Token.Scope.Allows(need) {
		return fmt.Errorf("%w: the token's scope is %s, this call needs %s", ErrPermissionDenied, p.Token.Scope, need)
	}
	return nil
}

// Authenticator checks bearer tokens against the server's admin token
// and the store.
type Authenticator struct {
	store *Store // nil: the admin token only
	admin []byte // empty: no admin token
}

// NewAuthenticator returns an authenticator; store may be nil and
// adminToken empty.
func NewAuthenticator(store *Store, adminToken string) *Authenticator {
	return &Authenticator{store: store, admin: []byte(adminToken)}
}

// Authenticate returns the principal of a bearer token, or an error
// wrapping ErrUnauthenticated.
func (a *Authenticator) Authenticate(bearer string) (Principal, error) {
	if bearer == "" {
		return Principal{}, fmt.Errorf("%w: missing token: send \"authorization: Bearer <token>\"", ErrUnauthenticated)
	}
	if len(a.admin) > 0 && subtle.ConstantTimeCompare([]byte(bearer), a.admin) == 1 {
		return Principal{Admin: true}, nil
	}
	if a.store != nil {
		if t, ok := a.store.Lookup(bearer); ok {
			return Principal{Token: t}, nil
		}
	}
	return Principal{}, fmt.Errorf("%w: unknown or revoked token", ErrUnauthenticated)
}
