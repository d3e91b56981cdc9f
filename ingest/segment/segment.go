// Package segment serves the Segment HTTP Tracking API, as Segment's
// clients (analytics.js, analytics-node, analytics-go, the mobile SDKs)
// send it, so they need only a host change.
//
// Routes: POST /v1/{identify,track,page,screen,group,alias,batch} and the
// browser forms /v1/{i,t,p,s,g,a,b} (any content type: analytics.js sends
// text/plain to avoid CORS preflights), OPTIONS for preflights, and
// GET /v1/projects/{writeKey}/settings for analytics.js.
//
// The write key is the HTTP Basic user, or "writeKey" in the body.
//
// Mapping (documented here and in README):
//   - identify: userId → user_id, anonymousId → anonymous_id,
//     context.externalIds[i] → external:<type>, traits.email → email and
//     traits.phone → phone identifiers; traits (and context.traits) set
//     profile attributes.
//   - track: an event named by "event"; properties and the context
//     (flattened with prefix context_: context_os_name, context_ip…, except
//     context.traits which set profile attributes and context.externalIds
//     which are identifiers) become event columns, plus message_id.
//   - page / screen: track events named "page_viewed" / "screen_viewed" with
//     properties "name" and "category" (stored as prop_name, since name is
//     the event name column) and the call's properties.
//   - group: a profile update: group_id = groupId, and the group's traits
//     prefixed with group_ (group_name, group_plan…).
//   - alias: links previousId (taken as an anonymous_id) with userId.
//   - Time: Segment's clock-skew correction, timestamp = receivedAt −
//     (sentAt − originalTimestamp), where originalTimestamp falls back to
//     timestamp and sentAt to the batch's sentAt; without sentAt the
//     client's timestamp is used; with neither, receivedAt.
//
// Answers: 200 {"success":true} when every message was accepted (and, if
// some of a batch were rejected, "rejected": [{index, messageId, field,
// error}] naming each); 400 with a JSON error for malformed JSON, a body
// over 500 KB (batch) or 32 KB (one event, or an event of a batch), or
// when no message was valid; 401 for a missing or unknown write key; 503
// when the log is unavailable. A 200 means the accepted messages are in
// the durable log.
package segment

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/cohortdb/cohort/engine"
	"github.com/cohortdb/cohort/ingest/norm"
)

// Handler serves the Segment API.
type Handler struct {
	Keys norm.Keys
	Sink norm.Sink
	// Schema returns the column lookup of a workspace (optional).
	Schema func(workspace string) norm.Schema
	// Now returns the receive time; default time.Now.
	Now func() time.Time
	Log *slog.Logger
}

var types = map[string]string{
	"identify": "identify", "i": "identify",
	"track": "track", "t": "track",
	"page": "page", "p": "page",
	"screen": "screen", "s": "screen",
	"group": "group", "g": "group",
	"alias": "alias", "a": "alias",
}

// Register adds the routes to mux.
func (h *Handler) Register(mux *http.ServeMux) {
	for path, typ := range types {
		mux.HandleFunc("POST /v1/"+path, h.cors(func(w http.ResponseWriter, r *http.Request) { h.serveOne(w, r, typ) }))
		mux.HandleFunc("OPTIONS /v1/"+path, h.cors(preflight))
	}
	for _, path := range []string{"batch", "b", "import"} {
		mux.HandleFunc("POST /v1/"+path, h.cors(h.serveBatch))
		mux.HandleFunc("OPTIONS /v1/"+path, h.cors(preflight))
	}
	mux.HandleFunc("GET /v1/projects/{writeKey}/settings", h.cors(h.serveSettings))
}

func preflight(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) }

func (h *Handler) cors(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		origin := r.Header.Get("Origin")
		if origin == "" {
			origin = "*"
		} else {
			hd.Set("Access-Control-Allow-Credentials", "true")
			hd.Add("Vary", "Origin")
		}
		hd.Set("Access-Control-Allow-Origin", origin)
		hd.Set("Access-Control-Allow-Methods", "GET, POST, OPTIONS")
		hd.Set("Access-Control-Allow-Headers", "Authorization, Content-Type, Content-Encoding")
		hd.Set("Access-Control-Max-Age", "86400")
		next(w, r)
	}
}

func (h *Handler) now() time.Time {
	if h.Now != nil {
		return h.Now()
	}
	return time.Now()
}

func (h *Handler) logger() *slog.Logger {
	if h.Log != nil {
		return h.Log
	}
	return slog.Default()
}

// Rejected is one rejected message of a request.
type Rejected struct {
	Index     int    `json:"index"`
	MessageID string `json:"messageId,omitempty"`
	Field     string `json:"field,omitempty"`
	Error     string `json:"error"`
}

// Response is the JSON body of every answer.
type Response struct {
	Success  bool       `json:"success"`
	Error    string     `json:"error,omitempty"`
	Accepted int        `json:"accepted,omitempty"`
	Rejected []Rejected `json:"rejected,omitempty"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, _ := json.Marshal(v)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}

func fail(w http.ResponseWriter, status int, format string, args ...any) {
	writeJSON(w, status, Response{Error: fmt.Sprintf(format, args...)})
}

// bodies recycles request buffers: nothing decoded keeps a reference to
// the body (the JSON parser copies strings).
var bodies = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// readBody reads at most limit bytes, answering 400 beyond. The caller
// returns buf to bodies when done with the body.
func readBody(w http.ResponseWriter, r *http.Request, limit int, what string) (body []byte, buf *bytes.Buffer, ok bool) {
	buf = bodies.Get().(*bytes.Buffer)
	buf.Reset()
	if n := r.ContentLength; n > 0 && n <= int64(limit) {
		buf.Grow(int(n) + 1)
	}
	if _, err := buf.ReadFrom(io.LimitReader(r.Body, int64(limit)+1)); err != nil {
		putBody(buf)
		fail(w, http.StatusBadRequest, "cannot read request body: %v", err)
		return nil, nil, false
	}
	if buf.Len() > limit {
		putBody(buf)
		fail(w, http.StatusBadRequest, "%s larger than %d KB", what, limit>>10)
		return nil, nil, false
	}
	return buf.Bytes(), buf, true
}

func putBody(b *bytes.Buffer) {
	if b.Cap() <= 1<<20 {
		bodies.Put(b)
	}
}

// workspace authenticates the request's write key (Basic user, else
// bodyKey).
func (h *Handler) workspace(w http.ResponseWriter, r *http.Request, bodyKey string) (string, bool) {
	key := bodyKey
	if u, _, ok := r.BasicAuth(); ok && u != "" {
		key = u
	}
	if key == "" {
		fail(w, http.StatusUnauthorized, "missing write key: send it as the Basic auth user or as writeKey in the body")
		return "", false
	}
	ws, ok := h.Keys.Workspace(key)
	if !ok {
		fail(w, http.StatusUnauthorized, "unknown write key")
		return "", false
	}
	return ws, true
}

func clientIP(r *http.Request) string {
	if f := r.Header.Get("X-Forwarded-For"); f != "" {
		ip, _, _ := strings.Cut(f, ",")
		return strings.TrimSpace(ip)
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

func (h *Handler) envelope(r *http.Request, ws string) *Envelope {
	env := &Envelope{ReceivedAt: h.now(), ClientIP: clientIP(r)}
	if h.Schema != nil {
		env.Schema = h.Schema(ws)
	}
	return env
}

func (h *Handler) serveOne(w http.ResponseWriter, r *http.Request, typ string) {
	body, buf, ok := readBody(w, r, MaxEventBytes, "event")
	if !ok {
		return
	}
	defer putBody(buf)
	m, err := parseObject(body)
	if err != nil {
		fail(w, http.StatusBadRequest, "%v", err)
		return
	}
	key, _ := m["writeKey"].(string)
	ws, ok := h.workspace(w, r, key)
	if !ok {
		return
	}
	op, err := Convert(m, typ, h.envelope(r, ws))
	if err != nil {
		writeJSON(w, http.StatusBadRequest, Response{Error: err.Error(), Rejected: []Rejected{reject(0, m, err)}})
		return
	}
	h.commit(w, r, ws, []engine.Op{op}, nil)
}

func reject(i int, m map[string]any, err error) Rejected {
	rj := Rejected{Index: i, Error: err.Error()}
	if m != nil {
		rj.MessageID, _ = m["messageId"].(string)
	}
	var fe *norm.FieldError
	if errors.As(err, &fe) {
		rj.Field, rj.Error = fe.Field, fe.Reason
	}
	return rj
}

func (h *Handler) serveBatch(w http.ResponseWriter, r *http.Request) {
	body, buf, ok := readBody(w, r, MaxBatchBytes, "batch")
	if !ok {
		return
	}
	defer putBody(buf)
	b := getBatch()
	defer b.release()
	if err := b.parse(body); err != nil {
		fail(w, http.StatusBadRequest, "%v", err)
		return
	}
	ws, ok := h.workspace(w, r, b.key)
	if !ok {
		return
	}
	env := h.envelope(r, ws)
	if msg := b.setEnvelope(env); msg != "" {
		fail(w, http.StatusBadRequest, "%s", msg)
		return
	}
	ops, rejected := b.convert(env, func(k string) bool {
		kw, ok := h.Keys.Workspace(k)
		return ok && kw == ws
	})
	if len(ops) == 0 && len(rejected) > 0 {
		writeJSON(w, http.StatusBadRequest, Response{Error: "no valid message in the batch", Rejected: rejected})
		return
	}
	h.commit(w, r, ws, ops, rejected)
}

func (h *Handler) commit(w http.ResponseWriter, r *http.Request, ws string, ops []engine.Op, rejected []Rejected) {
	if err := h.Sink.Append(r.Context(), ws, ops); err != nil {
		h.logger().Error("cannot write to the ingest log", "workspace", ws, "err", err)
		fail(w, http.StatusServiceUnavailable, "cannot write to the log; retry: %v", err)
		return
	}
	resp := Response{Success: true, Rejected: rejected}
	if len(rejected) > 0 {
		resp.Accepted = len(ops)
	}
	writeJSON(w, http.StatusOK, resp)
}

// serveSettings answers analytics.js's settings request with the Segment
// destination pointed back at this server.
func (h *Handler) serveSettings(w http.ResponseWriter, r *http.Request) {
	key := r.PathValue("writeKey")
	if _, ok := h.Keys.Workspace(key); !ok {
		fail(w, http.StatusNotFound, "unknown write key")
		return
	}
	proto := "http"
	if r.TLS != nil || r.Header.Get("X-Forwarded-Proto") == "https" {
		proto = "https"
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"integrations": map[string]any{
			"Segment.io": map[string]any{
				"apiKey":                key,
				"apiHost":               r.Host + "/v1",
				"protocol":              proto,
				"unbundledIntegrations": []string{},
				"addBundledMetadata":    false,
			},
		},
		"plan": map[string]any{
			"track":    map[string]any{"__default": map[string]any{"enabled": true, "integrations": map[string]any{}}},
			"identify": map[string]any{"__default": map[string]any{"enabled": true}},
			"group":    map[string]any{"__default": map[string]any{"enabled": true}},
		},
		"edgeFunction":              map[string]any{},
		"analyticsNextEnabled":      true,
		"middlewareSettings":        map[string]any{},
		"enabledMiddleware":         map[string]any{},
		"metrics":                   map[string]any{"sampleRate": 0},
		"legacyVideoPluginsEnabled": false,
		"remotePlugins":             []any{},
	})
}
