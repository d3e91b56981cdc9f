// Package clevertap serves a CleverTap-compatible upload API:
// POST /1/upload with the headers X-CleverTap-Account-Id (the workspace
// name) and X-CleverTap-Passcode (a write key of that workspace), and the
// body {"d": [record, …]} of at most 1000 records.
//
// A record is {"type": "profile"|"event", "identity": …, "objectId": …,
// "ts": unix seconds, "profileData": {…} | "evtName": …, "evtData": {…}}.
// identity maps to the user_id identifier and objectId to
// external:clevertap_id; profileData.Email and profileData.Phone also
// become email and phone identifiers. Values follow the typing rules of
// package norm, plus CleverTap's dates: a string "$D_<unix seconds>" is a
// timestamp. Names are snake_cased (MSG-email → msg_email).
//
// A record's message id (for the 24h de-duplication) is a hash of its
// JSON text, so retrying an upload does not duplicate it; two identical
// records within 24h count once.
//
// The answer, when the request itself is valid, is 200 with one result
// per rejected record:
//
//	{"status":"success","processed":N,"unprocessed":[
//	  {"status":"fail","code":C,"error":"field: reason","record":{…}}]}
//
// Codes: 510 malformed record, 511 unknown or missing type, 512 missing
// identity and objectId, 513 missing evtName, 514 invalid ts, 515 invalid
// value (field named in error).
//
// Request errors: 400 for malformed JSON, no "d" array, more than 1000
// records or a body over 10 MB; 401 for missing headers or an unknown
// passcode; 403 for a passcode of another workspace; 404 for an account
// id that names no workspace; 503 when the log is unavailable.
package clevertap

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/cohortdb/cohort/engine"
	"github.com/cohortdb/cohort/engine/column"
	"github.com/cohortdb/cohort/engine/identity"
	"github.com/cohortdb/cohort/ingest/norm"
)

// Limits.
const (
	MaxRecords = 1000
	MaxBody    = 10 << 20
)

// Result codes of rejected records.
const (
	CodeMalformed = 510
	CodeType      = 511
	CodeIdentity  = 512
	CodeEvtName   = 513
	CodeTS        = 514
	CodeValue     = 515
)

// Handler serves POST /1/upload.
type Handler struct {
	Keys norm.Keys
	// Exists reports whether a workspace exists.
	Exists func(workspace string) bool
	Sink   norm.Sink
	Schema func(workspace string) norm.Schema
	Now    func() time.Time
	Log    *slog.Logger
}

// Register adds the route to mux.
func (h *Handler) Register(mux *http.ServeMux) {
	mux.HandleFunc("POST /1/upload", h.serveUpload)
}

// Unprocessed is one rejected record.
type Unprocessed struct {
	Status string          `json:"status"`
	Code   int             `json:"code"`
	Error  string          `json:"error"`
	Record json.RawMessage `json:"record"`
}

// Response is the body of a 200 answer.
type Response struct {
	Status      string        `json:"status"`
	Processed   int           `json:"processed"`
	Unprocessed []Unprocessed `json:"unprocessed"`
}

type errorBody struct {
	Status string `json:"status"`
	Error  string `json:"error"`
	Code   int    `json:"code"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, _ := json.Marshal(v)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}

func fail(w http.ResponseWriter, status int, format string, args ...any) {
	writeJSON(w, status, errorBody{Status: "fail", Error: fmt.Sprintf(format, args...), Code: status})
}

func (h *Handler) serveUpload(w http.ResponseWriter, r *http.Request) {
	account := r.Header.Get("X-CleverTap-Account-Id")
	pass := r.Header.Get("X-CleverTap-Passcode")
	if account == "" || pass == "" {
		fail(w, http.StatusUnauthorized, "missing X-CleverTap-Account-Id or X-CleverTap-Passcode header")
		return
	}
	if h.Exists != nil && !h.Exists(account) {
		fail(w, http.StatusNotFound, "unknown account %q", account)
		return
	}
	ws, ok := h.Keys.Workspace(pass)
	if !ok {
		fail(w, http.StatusUnauthorized, "invalid passcode")
		return
	}
	if ws != account {
		fail(w, http.StatusForbidden, "the passcode does not belong to account %q", account)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, MaxBody+1))
	if err != nil {
		fail(w, http.StatusBadRequest, "cannot read request body: %v", err)
		return
	}
	if len(body) > MaxBody {
		fail(w, http.StatusBadRequest, "request body larger than %d MB", MaxBody>>20)
		return
	}
	recs, err := ParseUpload(body)
	if err != nil {
		fail(w, http.StatusBadRequest, "%v", err)
		return
	}
	now := time.Now()
	if h.Now != nil {
		now = h.Now()
	}
	var schema norm.Schema
	if h.Schema != nil {
		schema = h.Schema(ws)
	}
	resp := Response{Status: "success", Unprocessed: []Unprocessed{}}
	ops := make([]engine.Op, 0, len(recs))
	for _, rec := range recs {
		op, code, err := Convert(rec, now, schema)
		if err != nil {
			resp.Unprocessed = append(resp.Unprocessed, Unprocessed{Status: "fail", Code: code, Error: err.Error(), Record: json.RawMessage(rec.Raw)})
			continue
		}
		ops = append(ops, op)
	}
	if len(ops) > 0 {
		if err := h.Sink.Append(r.Context(), ws, ops); err != nil {
			if h.Log != nil {
				h.Log.Error("cannot write to the ingest log", "workspace", ws, "err", err)
			}
			fail(w, http.StatusServiceUnavailable, "cannot write to the log; retry: %v", err)
			return
		}
	}
	resp.Processed = len(ops)
	writeJSON(w, http.StatusOK, resp)
}

// ParseUpload splits an upload body into its records.
func ParseUpload(body []byte) ([]norm.Element, error) {
	top, recs, err := norm.ParseEnvelope(body, "d")
	if err != nil {
		return nil, err
	}
	if recs == nil {
		if _, ok := top["d"]; !ok {
			return nil, errors.New(`missing "d": expected {"d": [records]}`)
		}
	}
	if len(recs) > MaxRecords {
		return nil, fmt.Errorf("%d records: at most %d per upload", len(recs), MaxRecords)
	}
	return recs, nil
}

// Convert turns one record into an operation, or returns the rejection
// code and reason.
func Convert(rec norm.Element, now time.Time, schema norm.Schema) (engine.Op, int, error) {
	var op engine.Op
	m, ok := rec.Value.(map[string]any)
	if !ok {
		return op, CodeMalformed, errors.New("record: expected a JSON object")
	}
	sum := sha256.Sum256(rec.Raw)
	op.Source = "ct-" + hex.EncodeToString(sum[:16])
	op.ReceivedAt = now.UnixMicro()
	op.At = op.ReceivedAt
	if v, ok := m["ts"]; ok && v != nil {
		n, ok := v.(json.Number)
		if !ok {
			return op, CodeTS, errors.New("ts: expected unix seconds (a number)")
		}
		f, err := n.Float64()
		if err != nil || f <= 0 || f > 1e11 || math.IsNaN(f) {
			return op, CodeTS, fmt.Errorf("ts: %s is not a unix time in seconds", n)
		}
		op.At = int64(f * 1e6)
	}
	for _, k := range []string{"identity", "objectId"} {
		switch v := m[k].(type) {
		case nil:
		case string:
			if v != "" {
				op.IDs = append(op.IDs, idFor(k, v))
			}
		case json.Number:
			op.IDs = append(op.IDs, idFor(k, v.String()))
		default:
			return op, CodeIdentity, fmt.Errorf("%s: expected a string", k)
		}
	}
	if len(op.IDs) == 0 {
		return op, CodeIdentity, errors.New("identity: identity or objectId is required")
	}
	typ, _ := m["type"].(string)
	switch typ {
	case "profile":
		op.Kind = engine.OpIdentify
		pd, ok := m["profileData"].(map[string]any)
		if !ok && m["profileData"] != nil {
			return op, CodeValue, errors.New("profileData: expected an object")
		}
		f := norm.Flattener{Table: engine.Profiles, Schema: schema}
		var err error
		if op.Traits, err = fields(f, op.Traits, pd, "profileData"); err != nil {
			return op, CodeValue, err
		}
		for _, k := range []string{"Email", "email"} {
			if s, ok := pd[k].(string); ok && s != "" {
				op.IDs = append(op.IDs, identity.ID{Type: identity.TypeEmail, Value: s})
				break
			}
		}
		for _, k := range []string{"Phone", "phone"} {
			if s, ok := pd[k].(string); ok && s != "" {
				op.IDs = append(op.IDs, identity.ID{Type: identity.TypePhone, Value: s})
				break
			}
		}
	case "event":
		op.Kind = engine.OpTrack
		name, _ := m["evtName"].(string)
		if name == "" {
			return op, CodeEvtName, errors.New("evtName: required for an event")
		}
		if len(name) > 512 {
			return op, CodeEvtName, errors.New("evtName: longer than 512 bytes")
		}
		op.Event = name
		ed, ok := m["evtData"].(map[string]any)
		if !ok && m["evtData"] != nil {
			return op, CodeValue, errors.New("evtData: expected an object")
		}
		f := norm.Flattener{Table: engine.Events, Schema: schema}
		var err error
		if op.Props, err = fields(f, op.Props, ed, "evtData"); err != nil {
			return op, CodeValue, err
		}
		op.Props = append(op.Props, engine.Field{Name: "message_id", Value: column.String(op.Source)})
	case "":
		return op, CodeType, errors.New(`type: required ("profile" or "event")`)
	default:
		return op, CodeType, fmt.Errorf(`type: %q is neither "profile" nor "event"`, typ)
	}
	return op, 0, nil
}

func idFor(k, v string) identity.ID {
	if k == "identity" {
		return identity.ID{Type: identity.TypeUserID, Value: v}
	}
	return identity.ID{Type: identity.ExternalPrefix + "clevertap_id", Value: v}
}

// fields converts CleverTap "$D_<seconds>" dates, then flattens obj.
func fields(f norm.Flattener, dst []engine.Field, obj map[string]any, path string) ([]engine.Field, error) {
	var dates []engine.Field
	for k, v := range obj {
		s, ok := v.(string)
		if !ok || !strings.HasPrefix(s, "$D_") {
			continue
		}
		n, err := strconv.ParseInt(s[3:], 10, 64)
		if err != nil {
			return dst, norm.Errf(path+"."+k, "%q is not a CleverTap date ($D_<unix seconds>)", s)
		}
		name := norm.SnakeCase(k)
		if name == "" {
			return dst, norm.Errf(path+"."+k, "name has no letters or digits")
		}
		dates = append(dates, engine.Field{Name: name, Value: column.Timestamp(time.Unix(n, 0))})
		delete(obj, k) // obj is this record's own parse
	}
	dst, err := f.Object(dst, obj, "", path)
	if err != nil {
		return dst, err
	}
	return append(dst, dates...), nil
}
