package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"runtime"
	"runtime/metrics"
	"strconv"
	"strings"
	"time"

	"github.com/cohortdb/cohort/engine"
)

// tables lists the tables of a workspace in the order they are reported.
var tables = [...]string{engine.Profiles, engine.Events, engine.Identities}

func (s *server) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", s.handleHealth)
	mux.HandleFunc("GET /readyz", s.handleReady)
	mux.HandleFunc("GET /v1/workspaces", s.handleWorkspaces)
	mux.HandleFunc("GET /v1/workspaces/{name}/stats", s.handleStats)
	mux.HandleFunc("GET /metrics", s.handleMetrics)
	return s.logRequests(mux)
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	w.status = code
	w.ResponseWriter.WriteHeader(code)
}

func (s *server) logRequests(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		next.ServeHTTP(sw, r)
		s.log.Debug("http", "method", r.Method, "path", r.URL.Path, "status", sw.status, "took", time.Since(start))
	})
}

func (s *server) handleHealth(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	io.WriteString(w, "ok\n")
}

func (s *server) handleReady(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	switch {
	case s.draining.Load():
		w.WriteHeader(http.StatusServiceUnavailable)
		io.WriteString(w, "shutting down\n")
	case !s.ready.Load():
		w.WriteHeader(http.StatusServiceUnavailable)
		io.WriteString(w, "loading the demo workspace\n")
	default:
		io.WriteString(w, "ready\n")
	}
}

// workspaceInfo is one element of GET /v1/workspaces.
type workspaceInfo struct {
	Name string           `json:"name"`
	Seq  uint64           `json:"seq"`  // sequence of the last applied batch
	Rows map[string]int64 `json:"rows"` // live rows per table
}

func rowsOf(snap *engine.Snapshot) map[string]int64 {
	return map[string]int64{
		engine.Profiles:   snap.Profiles.Live,
		engine.Events:     snap.Events.Live,
		engine.Identities: snap.Identities.Live,
	}
}

func (s *server) handleWorkspaces(w http.ResponseWriter, _ *http.Request) {
	out := []workspaceInfo{}
	for _, name := range s.eng.Workspaces() {
		ws, err := s.eng.Workspace(name)
		if err != nil { // dropped since listed
			continue
		}
		snap := ws.Snapshot()
		out = append(out, workspaceInfo{Name: name, Seq: snap.Seq, Rows: rowsOf(snap)})
	}
	writeJSON(w, http.StatusOK, out)
}

// tableStats is one table in GET /v1/workspaces/{name}/stats.
type tableStats struct {
	Rows    int64            `json:"rows"`
	Bytes   int64            `json:"bytes"`
	Columns map[string]int64 `json:"columns"` // bytes per column and per index
}

// workspaceStats is the body of GET /v1/workspaces/{name}/stats.
type workspaceStats struct {
	Workspace string                `json:"workspace"`
	Seq       uint64                `json:"seq"`
	Ready     bool                  `json:"ready"`
	Bytes     int64                 `json:"bytes"` // all tables
	Tables    map[string]tableStats `json:"tables"`
	// Bytes of the profiles (events) table per live profile (event); 0
	// when the table is empty.
	BytesPerProfile float64 `json:"bytes_per_profile"`
	BytesPerEvent   float64 `json:"bytes_per_event"`
}

func (s *server) handleStats(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	ws, err := s.eng.Workspace(name)
	if errors.Is(err, engine.ErrNoWorkspace) {
		writeJSON(w, http.StatusNotFound, map[string]string{"error": err.Error()})
		return
	}
	if err != nil {
		writeJSON(w, http.StatusInternalServerError, map[string]string{"error": err.Error()})
		return
	}
	snap := ws.Snapshot()
	mem := ws.Memory()
	rows := rowsOf(snap)
	st := workspaceStats{
		Workspace: name,
		Seq:       snap.Seq,
		Ready:     name != demoWorkspace || s.ready.Load(),
		Tables:    make(map[string]tableStats, len(tables)),
	}
	for _, t := range tables {
		ts := tableStats{Rows: rows[t], Columns: mem[t]}
		if ts.Columns == nil {
			ts.Columns = map[string]int64{}
		}
		for _, b := range ts.Columns {
			ts.Bytes += b
		}
		st.Tables[t] = ts
		st.Bytes += ts.Bytes
	}
	st.BytesPerProfile = perRow(st.Tables[engine.Profiles])
	st.BytesPerEvent = perRow(st.Tables[engine.Events])
	writeJSON(w, http.StatusOK, st)
}

func perRow(t tableStats) float64 {
	if t.Rows == 0 {
		return 0
	}
	return math.Round(float64(t.Bytes)/float64(t.Rows)*100) / 100
}

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

// handleMetrics writes the Prometheus text exposition format (0.0.4).
func (s *server) handleMetrics(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	bw := bufio.NewWriter(w)
	defer bw.Flush()

	type sample struct {
		ws, table string
		v         int64
	}
	var rows, mem []sample
	for _, name := range s.eng.Workspaces() {
		ws, err := s.eng.Workspace(name)
		if err != nil {
			continue
		}
		r := rowsOf(ws.Snapshot())
		m := ws.Memory()
		for _, t := range tables {
			rows = append(rows, sample{name, t, r[t]})
			var b int64
			for _, n := range m[t] {
				b += n
			}
			mem = append(mem, sample{name, t, b})
		}
	}
	family := func(name, typ, help string, ss []sample) {
		fmt.Fprintf(bw, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, typ)
		for _, x := range ss {
			fmt.Fprintf(bw, "%s{workspace=\"%s\",table=\"%s\"} %d\n", name, labelValue(x.ws), labelValue(x.table), x.v)
		}
	}
	family("cohort_rows", "gauge", "Live rows per workspace and table.", rows)
	family("cohort_memory_bytes", "gauge", "Bytes held by the engine per workspace and table, indexes included.", mem)

	ready := 0
	if s.ready.Load() && !s.draining.Load() {
		ready = 1
	}
	gauge(bw, "cohort_ready", "1 when the server is ready (demo workspace loaded), else 0.", float64(ready))
	ver, rev, gov := buildInfo()
	fmt.Fprintf(bw, "# HELP cohort_build_info Build information; the value is always 1.\n# TYPE cohort_build_info gauge\n")
	fmt.Fprintf(bw, "cohort_build_info{version=\"%s\",commit=\"%s\",goversion=\"%s\"} 1\n", labelValue(ver), labelValue(rev), labelValue(gov))
	s.writeErasureMetrics(bw)
	s.writeSegmentMetrics(bw) // segments.go

	rm := []metrics.Sample{
		{Name: "/sched/goroutines:goroutines"},
		{Name: "/memory/classes/heap/objects:bytes"},
		{Name: "/memory/classes/total:bytes"},
		{Name: "/gc/cycles/total:gc-cycles"},
	}
	metrics.Read(rm)
	val := func(i int) float64 {
		if rm[i].Value.Kind() != metrics.KindUint64 {
			return math.NaN()
		}
		return float64(rm[i].Value.Uint64())
	}
	gauge(bw, "go_goroutines", "Number of goroutines that currently exist.", val(0))
	gauge(bw, "go_memstats_heap_alloc_bytes", "Bytes of allocated heap objects.", val(1))
	gauge(bw, "go_memstats_sys_bytes", "Bytes of memory obtained from the OS by the Go runtime.", val(2))
	fmt.Fprintf(bw, "# HELP go_gc_cycles_total Completed GC cycles.\n# TYPE go_gc_cycles_total counter\ngo_gc_cycles_total %s\n", fmtFloat(val(3)))
	gauge(bw, "go_gomaxprocs", "GOMAXPROCS.", float64(runtime.GOMAXPROCS(0)))
	if rss, ok := residentBytes(); ok {
		gauge(bw, "process_resident_memory_bytes", "Resident memory size in bytes.", float64(rss))
	}
}

func gauge(w io.Writer, name, help string, v float64) {
	fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s gauge\n%s %s\n", name, help, name, name, fmtFloat(v))
}

func fmtFloat(v float64) string {
	switch {
	case math.IsNaN(v):
		return "NaN"
	case math.IsInf(v, 1):
		return "+Inf"
	case math.IsInf(v, -1):
		return "-Inf"
	}
	if v == math.Trunc(v) && math.Abs(v) < 1<<53 {
		return strconv.FormatInt(int64(v), 10)
	}
	return strconv.FormatFloat(v, 'g', -1, 64)
}

var labelEscaper = strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`)

func labelValue(s string) string { return labelEscaper.Replace(s) }

// residentBytes returns the process's resident set size on Linux.
func residentBytes() (int64, bool) {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0, false
	}
	f := strings.Fields(string(b))
	if len(f) < 2 {
		return 0, false
	}
	pages, err := strconv.ParseInt(f[1], 10, 64)
	if err != nil {
		return 0, false
	}
	return pages * int64(os.Getpagesize()), true
}
