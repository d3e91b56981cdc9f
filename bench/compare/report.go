package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"text/tabwriter"
	"time"
)

type reportConfig struct {
	Profiles  int    `json:"profiles"`
	Events    int    `json:"events"`
	Seed      uint64 `json:"seed"`
	Runs      int    `json:"runs"`
	Threads   int    `json:"threads"`
	GoVersion string `json:"go_version"`
}

// stats summarises the timed runs of one query on one system, in ms.
type stats struct {
	System string    `json:"system"`
	Median float64   `json:"median_ms"`
	Min    float64   `json:"min_ms"`
	P10    float64   `json:"p10_ms"`
	P90    float64   `json:"p90_ms"`
	Max    float64   `json:"max_ms"`
	Runs   []float64 `json:"runs_ms"`
}

type queryReport struct {
	ID      string  `json:"id"`
	Desc    string  `json:"description"`
	Answer  int64   `json:"answer_size"` // count, number of ids, or sum of group counts
	Systems []stats `json:"systems"`
}

type report struct {
	Config       reportConfig       `json:"config"`
	Load         map[string]float64 `json:"load_ms"`
	GenBytes     int64              `json:"generator_column_bytes"`
	RSSAfterGen  int64              `json:"rss_after_generate_bytes"`
	RSSAfterLoad int64              `json:"rss_after_load_bytes"`
	DuckDBMemory int64              `json:"duckdb_memory_bytes"`
	Queries      []*queryReport     `json:"queries"`
	SQL          *sqlReport         `json:"sql,omitempty"`
}

func (r *report) query(id string) *queryReport {
	for _, q := range r.Queries {
		if q.ID == id {
			return q
		}
	}
	q := &queryReport{ID: id}
	r.Queries = append(r.Queries, q)
	return q
}

func (r *report) answer(id string, n int64) { r.query(id).Answer = n }

func (r *report) add(q query, system string, runs []time.Duration) {
	qr := r.query(q.id)
	qr.Desc = q.desc
	v := make([]float64, len(runs))
	for i, d := range runs {
		v[i] = ms(d)
	}
	s := slices.Clone(v)
	slices.Sort(s)
	pct := func(p float64) float64 { return s[int(p*float64(len(s)-1)+0.5)] }
	qr.Systems = append(qr.Systems, stats{System: system, Median: pct(0.5), Min: s[0], P10: pct(0.1),
		P90: pct(0.9), Max: s[len(s)-1], Runs: v})
}

func (r *report) print(w io.Writer, qs []query) {
	bw := bufio.NewWriter(w)
	defer bw.Flush()
	c := r.Config
	fmt.Fprintf(bw, "\n%d profiles, %d events, seed %d, %d threads, %d runs (median, p10, p90 in ms), %s\n",
		c.Profiles, c.Events, c.Seed, c.Threads, c.Runs, c.GoVersion)
	fmt.Fprintf(bw, "generator columns %s; RSS after generate %s, after load %s; DuckDB memory %s\n",
		mib(r.GenBytes), mib(r.RSSAfterGen), mib(r.RSSAfterLoad), mib(r.DuckDBMemory))
	keys := make([]string, 0, len(r.Load))
	for k := range r.Load {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		fmt.Fprintf(bw, "load %-40s %10.0f ms\n", k, r.Load[k])
	}
	for _, q := range qs {
		qr := r.query(q.id)
		fmt.Fprintf(bw, "\n%s  %s  (answer size %d)\n", qr.ID, q.desc, qr.Answer)
		tw := tabwriter.NewWriter(bw, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "system\tmedian\tp10\tp90\tvs reference\tvs duckdb-enum\t")
		base := func(name string) float64 {
			for _, s := range qr.Systems {
				if s.System == name {
					return s.Median
				}
			}
			return 0
		}
		ref, enum := base("reference"), base("duckdb-enum")
		for _, s := range qr.Systems {
			fmt.Fprintf(tw, "%s\t%.2f\t%.2f\t%.2f\t%s\t%s\t\n", s.System, s.Median, s.P10, s.P90,
				ratio(s.Median, ref), ratio(s.Median, enum))
		}
		tw.Flush()
	}
}

// ratio is how many times slower a is than b ("0.5x" means twice as fast).
func ratio(a, b float64) string {
	if b <= 0 {
		return "-"
	}
	return strconv.FormatFloat(a/b, 'f', 2, 64) + "x"
}

func mib(b int64) string {
	if b <= 0 {
		return "n/a"
	}
	return fmt.Sprintf("%.0f MiB", float64(b)/(1<<20))
}

func (r *report) writeJSON(path string) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return fmt.Errorf("cannot encode report: %w", err)
	}
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("cannot write report: %w", err)
	}
	return nil
}

// rssBytes returns the process's resident set size (VmRSS), or 0.
func rssBytes() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for line := range bytes.SplitSeq(b, []byte("\n")) {
		if v, ok := bytes.CutPrefix(line, []byte("VmRSS:")); ok {
			f := bytes.Fields(v)
			if len(f) >= 1 {
				kb, err := strconv.ParseInt(string(f[0]), 10, 64)
				if err == nil {
					return kb << 10
				}
			}
		}
	}
	return 0
}
