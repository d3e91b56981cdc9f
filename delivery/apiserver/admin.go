package apiserver

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/cohortdb/cohort/delivery/tokens"
)

// The token admin API speaks the JSON of the other admin routes
// (/v1/admin/...): the resource, or {"error": "..."} with the HTTP status.

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		http.Error(w, fmt.Sprintf("cannot encode JSON: %v", err), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}

func writeError(w http.ResponseWriter, status int, format string, args ...any) {
	writeJSON(w, status, map[string]string{"error": fmt.Sprintf(format, args...)})
}

// adminOf authorizes a token admin request on workspace {ws}: the
// server's admin token, or an admin-scope token of ws. It answers the
// request itself and returns false when refused.
func (s *Server) adminOf(w http.ResponseWriter, r *http.Request) (string, bool) {
	ws := r.PathValue("ws")
	p, err := s.opts.Auth.Authenticate(bearerToken(r.Header.Get("Authorization")))
	if err != nil {
		w.Header().Set("WWW-Authenticate", `Bearer realm="cohort admin"`)
		writeError(w, http.StatusUnauthorized, "%v", err)
		return "", false
	}
	if err := p.Authorize(ws, tokens.ScopeAdmin); err != nil {
		writeError(w, http.StatusForbidden, "%v", err)
		return "", false
	}
	if s.opts.WorkspaceExists != nil && !s.opts.WorkspaceExists(ws) {
		writeError(w, http.StatusNotFound, "no such workspace %q", ws)
		return "", false
	}
	return ws, true
}

// createdToken is the answer of a token creation: the only time the
// secret is shown.
type createdToken struct {
	tokens.Token
	Secret string `json:"token"`
}

func (s *Server) handleListTokens(w http.ResponseWriter, r *http.Request) {
	ws, ok := s.adminOf(w, r)
	if !ok {
		return
	}
	list := s.opts.Tokens.List(ws)
	if list == nil {
		list = []tokens.Token{}
	}
	writeJSON(w, http.StatusOK, list)
}

func (s *Server) handleCreateToken(w http.ResponseWriter, r *http.Request) {
	ws, ok := s.adminOf(w, r)
	if !ok {
		return
	}
	var req struct {
		Scope string `json:"scope"`
		Label string `json:"label"`
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 64<<10))
	if err != nil {
		writeError(w, http.StatusBadRequest, "cannot read the request: %v", err)
		return
	}
	if len(body) > 0 {
		if err := json.Unmarshal(body, &req); err != nil {
			writeError(w, http.StatusBadRequest, "malformed JSON: %v", err)
			return
		}
	}
	scope, err := tokens.ParseScope(req.Scope)
	if err != nil {
		writeError(w, http.StatusBadRequest, "%v", err)
		return
	}
	t, secret, err := s.opts.Tokens.Create(r.Context(), ws, scope, req.Label)
	if err != nil {
		writeError(w, http.StatusServiceUnavailable, "%v", err)
		return
	}
	s.log.Info("API token created", "workspace", ws, "token", t.ID, "scope", t.Scope.String(), "request_id", r.Header.Get("X-Request-Id"))
	writeJSON(w, http.StatusCreated, createdToken{Token: t, Secret: secret})
}

func (s *Server) handleRevokeToken(w http.ResponseWriter, r *http.Request) {
	ws, ok := s.adminOf(w, r)
	if !ok {
		return
	}
	id := r.PathValue("id")
	err := s.opts.Tokens.Revoke(r.Context(), ws, id)
	switch {
	case errors.Is(err, tokens.ErrNotFound):
		writeError(w, http.StatusNotFound, "%v", err)
		return
	case err != nil:
		writeError(w, http.StatusServiceUnavailable, "%v", err)
		return
	}
	s.log.Info("API token revoked", "workspace", ws, "token", id, "request_id", r.Header.Get("X-Request-Id"))
	writeJSON(w, http.StatusOK, map[string]string{"revoked": id, "workspace": ws})
}
