package ingest

import (
	"bufio"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/cohortdb/cohort/engine"
	"github.com/cohortdb/cohort/engine/column"
	"github.com/cohortdb/cohort/ingest/keys"
)

// Register adds the ingest routes to mux:
//
//	Segment:   POST /v1/{identify,track,page,screen,group,alias,batch,i,t,p,s,g,a,b},
//	           GET /v1/projects/{writeKey}/settings
//	CleverTap: POST /1/upload
//	Admin (Authorization: Bearer <admin token>):
//	  GET  /v1/admin/workspaces                    workspaces and their keys
//	  POST /v1/admin/workspaces {"name": "acme"}   create a workspace and its first key
//	  GET  /v1/admin/workspaces/{ws}/keys          list keys
//	  POST /v1/admin/workspaces/{ws}/keys {"label"} create a key
//	  GET  /v1/admin/workspaces/{ws}/rows?table=events&columns=message_id,name
//	       every live row of a table as NDJSON arrays (debugging, tests)
//	  GET  /v1/admin/ingest                        log and applier status
func (s *Service) Register(mux *http.ServeMux) {
	s.Segment().Register(mux)
	s.CleverTap().Register(mux)
	mux.HandleFunc("GET /v1/admin/workspaces", s.admin(s.handleListWorkspaces))
	mux.HandleFunc("POST /v1/admin/workspaces", s.admin(s.handleCreateWorkspace))
	mux.HandleFunc("GET /v1/admin/workspaces/{ws}/keys", s.admin(s.handleListKeys))
	mux.HandleFunc("POST /v1/admin/workspaces/{ws}/keys", s.admin(s.handleCreateKey))
	mux.HandleFunc("GET /v1/admin/workspaces/{ws}/rows", s.admin(s.handleRows))
	mux.HandleFunc("GET /v1/admin/ingest", s.admin(s.handleStatus))
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}

func writeError(w http.ResponseWriter, status int, format string, args ...any) {
	writeJSON(w, status, map[string]string{"error": fmt.Sprintf(format, args...)})
}

func (s *Service) admin(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if s.opts.AdminToken == "" {
			writeError(w, http.StatusForbidden, "the admin API is disabled (no admin_token)")
			return
		}
		tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || subtle.ConstantTimeCompare([]byte(tok), []byte(s.opts.AdminToken)) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="cohort admin"`)
			writeError(w, http.StatusUnauthorized, "missing or wrong admin token (Authorization: Bearer <token>)")
			return
		}
		next(w, r)
	}
}

// WorkspaceInfo is a workspace with its keys in admin answers.
type WorkspaceInfo struct {
	Name      string     `json:"name"`
	CreatedAt time.Time  `json:"created_at"`
	Keys      []keys.Key `json:"keys"`
}

func (s *Service) handleListWorkspaces(w http.ResponseWriter, _ *http.Request) {
	out := []WorkspaceInfo{}
	for _, ws := range s.keys.Workspaces() {
		out = append(out, WorkspaceInfo{Name: ws.Name, CreatedAt: ws.CreatedAt, Keys: nonNil(s.keys.Keys(ws.Name))})
	}
	writeJSON(w, http.StatusOK, out)
}

func nonNil(k []keys.Key) []keys.Key {
	if k == nil {
		return []keys.Key{}
	}
	return k
}

func decodeBody(r *http.Request, v any) error {
	body, err := io.ReadAll(io.LimitReader(r.Body, 64<<10))
	if err != nil {
		return err
	}
	if len(body) == 0 {
		return nil
	}
	return json.Unmarshal(body, v)
}

func (s *Service) handleCreateWorkspace(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Name  string `json:"name"`
		Label string `json:"label"`
	}
	if err := decodeBody(r, &req); err != nil {
		writeError(w, http.StatusBadRequest, "malformed JSON: %v", err)
		return
	}
	ws, err := s.keys.CreateWorkspace(r.Context(), req.Name)
	switch {
	case errors.Is(err, keys.ErrBadName):
		writeError(w, http.StatusBadRequest, "%v", err)
		return
	case errors.Is(err, keys.ErrExists):
		writeError(w, http.StatusConflict, "%v", err)
		return
	case err != nil:
		writeError(w, http.StatusServiceUnavailable, "%v", err)
		return
	}
	s.ensureWorkspace(ws.Name)
	k, err := s.keys.CreateKey(r.Context(), ws.Name, req.Label)
	if err != nil {
		writeError(w, http.StatusServiceUnavailable, "%v", err)
		return
	}
	writeJSON(w, http.StatusCreated, WorkspaceInfo{Name: ws.Name, CreatedAt: ws.CreatedAt, Keys: []keys.Key{k}})
}

func (s *Service) handleListKeys(w http.ResponseWriter, r *http.Request) {
	ws := r.PathValue("ws")
	if !s.keys.Exists(ws) {
		writeError(w, http.StatusNotFound, "no such workspace %q", ws)
		return
	}
	writeJSON(w, http.StatusOK, nonNil(s.keys.Keys(ws)))
}

func (s *Service) handleCreateKey(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Label string `json:"label"`
	}
	if err := decodeBody(r, &req); err != nil {
		writeError(w, http.StatusBadRequest, "malformed JSON: %v", err)
		return
	}
	k, err := s.keys.CreateKey(r.Context(), r.PathValue("ws"), req.Label)
	switch {
	case errors.Is(err, keys.ErrNoWorkspace):
		writeError(w, http.StatusNotFound, "%v", err)
		return
	case err != nil:
		writeError(w, http.StatusServiceUnavailable, "%v", err)
		return
	}
	writeJSON(w, http.StatusCreated, k)
}

// Status is the body of GET /v1/admin/ingest.
type Status struct {
	LogLastAck   uint64  `json:"log_last_ack"`  // highest sequence this process had acknowledged
	StartSeq     uint64  `json:"start_seq"`     // log's last sequence at startup
	Applied      uint64  `json:"applied"`       // last sequence applied to the engine
	CaughtUp     bool    `json:"caught_up"`     // startup replay done
	Ops          uint64  `json:"ops"`           // operations applied
	Duplicates   uint64  `json:"duplicates"`    // dropped duplicate message ids
	Rejected     uint64  `json:"rejected"`      // rejected by the engine after acknowledgement
	FreshnessP50 float64 `json:"freshness_p50"` // seconds, ack → queryable
	FreshnessP99 float64 `json:"freshness_p99"`
}

// Status returns the service's status.
func (s *Service) Status() Status {
	a := s.app.Stats()
	q, _ := s.app.Freshness(0.5, 0.99)
	return Status{
		LogLastAck: s.l.Stats().LastAck, StartSeq: s.startSeq, Applied: a.Applied, CaughtUp: s.Caught(),
		Ops: a.Ops, Duplicates: a.Duplicates, Rejected: a.Rejected,
		FreshnessP50: q[0].Seconds(), FreshnessP99: q[1].Seconds(),
	}
}

func (s *Service) handleStatus(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, s.Status())
}

// handleRows streams the live rows of a table as NDJSON arrays, the first
// line being the column names. Person ids are canonical (merges applied).
func (s *Service) handleRows(w http.ResponseWriter, r *http.Request) {
	ws, err := s.eng.Workspace(r.PathValue("ws"))
	if err != nil {
		writeError(w, http.StatusNotFound, "%v", err)
		return
	}
	table := r.URL.Query().Get("table")
	if table == "" {
		table = engine.Events
	}
	var cols []string
	if c := r.URL.Query().Get("columns"); c != "" {
		cols = strings.Split(c, ",")
	}
	rows, err := ws.Snapshot().Select(r.Context(), engine.Query{Table: table}, cols)
	if err != nil {
		writeError(w, http.StatusBadRequest, "%v", err)
		return
	}
	defer rows.Close()
	w.Header().Set("Content-Type", "application/x-ndjson")
	bw := bufio.NewWriterSize(w, 64<<10)
	defer bw.Flush()
	names := make([]string, len(rows.Columns()))
	for i, d := range rows.Columns() {
		names[i] = d.Name
	}
	enc := json.NewEncoder(bw)
	enc.Encode(names)
	line := make([]any, len(names))
	for rows.Next() {
		for i, v := range rows.Values() {
			line[i] = jsonValue(v)
		}
		if err := enc.Encode(line); err != nil {
			return
		}
	}
	if err := rows.Err(); err != nil {
		enc.Encode(map[string]string{"error": err.Error()})
	}
}

func jsonValue(v column.Value) any {
	switch v.Type {
	case column.TypeString:
		return v.S
	case column.TypeInt:
		return v.I
	case column.TypeFloat:
		return v.F
	case column.TypeBool:
		return v.B
	case column.TypeTimestamp:
		return time.UnixMicro(v.I).UTC().Format(time.RFC3339Nano)
	case column.TypeStringList:
		return v.L
	}
	return nil
}

// WriteMetrics writes the ingest metrics in the Prometheus text format.
func (s *Service) WriteMetrics(w io.Writer) {
	st := s.Status()
	ls := s.l.Stats()
	fmt.Fprintf(w, "# HELP cohort_ingest_freshness_seconds Time from log acknowledgement to queryable, over recent messages.\n# TYPE cohort_ingest_freshness_seconds summary\n")
	fmt.Fprintf(w, "cohort_ingest_freshness_seconds{quantile=\"0.5\"} %g\ncohort_ingest_freshness_seconds{quantile=\"0.99\"} %g\n", st.FreshnessP50, st.FreshnessP99)
	counter := func(name, help string, v uint64) {
		fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s counter\n%s %d\n", name, help, name, name, v)
	}
	gauge := func(name, help string, v uint64) {
		fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s gauge\n%s %d\n", name, help, name, name, v)
	}
	counter("cohort_ingest_log_messages_total", "Log messages published and acknowledged by this process.", ls.Messages)
	counter("cohort_ingest_log_records_total", "Operations in acknowledged log messages.", ls.Records)
	gauge("cohort_ingest_log_last_ack_sequence", "Highest acknowledged log sequence.", ls.LastAck)
	gauge("cohort_ingest_applied_sequence", "Last log sequence applied to the engine.", st.Applied)
	counter("cohort_ingest_applied_ops_total", "Operations applied to the engine.", st.Ops)
	counter("cohort_ingest_duplicates_total", "Operations dropped as duplicate message ids.", st.Duplicates)
	counter("cohort_ingest_rejected_total", "Operations rejected by the engine after acknowledgement.", st.Rejected)
}
