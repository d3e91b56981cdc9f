package loadgen

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// TestQuantile pins nearest rank: the reports' p50/p99/max must be
// values that were measured, and the caller's slice must stay in order.
func TestQuantile(t *testing.T) {
	if got := Quantile(nil, 0.5); got != 0 {
		t.Errorf("Quantile(nil) = %v, want 0", got)
	}
	v := []float64{5, 1, 4, 2, 3}
	for _, c := range []struct{ q, want float64 }{
		{0, 1}, {0.1, 1}, {0.5, 3}, {0.6, 3}, {0.63, 4}, {0.99, 5}, {1, 5},
	} {
		if got := Quantile(v, c.q); got != c.want {
			t.Errorf("Quantile(%v, %v) = %v, want %v", v, c.q, got, c.want)
		}
	}
	if v[0] != 5 || v[4] != 3 {
		t.Errorf("Quantile sorted its argument: %v", v)
	}
}

const metricsText = `# HELP cohort_ingest_freshness_seconds Ack to queryable.
# TYPE cohort_ingest_freshness_seconds summary
cohort_ingest_freshness_seconds{quantile="0.5"} 0.012
cohort_ingest_freshness_seconds{quantile="0.99"} 0.25
cohort_http_requests_total{path="/v1/batch",note="a b"} 42

process_resident_memory_bytes 1.5e+08
go_memstats_heap_alloc_bytes 7340032
broken_line_without_value
not_a_number NaNx
`

func metricsServer(t *testing.T) *httptest.Server {
	t.Helper()
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/metrics" {
			http.NotFound(w, r)
			return
		}
		io.WriteString(w, metricsText)
	}))
	t.Cleanup(ts.Close)
	return ts
}

// TestScrape checks the series the commands look up by their exact
// name{labels}, including label values with blanks, and that comments
// and unparsable lines are skipped rather than failing the scrape.
func TestScrape(t *testing.T) {
	ts := metricsServer(t)
	m, err := Scrape(ts.Client(), ts.URL)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]float64{
		`cohort_ingest_freshness_seconds{quantile="0.5"}`:         0.012,
		`cohort_ingest_freshness_seconds{quantile="0.99"}`:        0.25,
		`cohort_http_requests_total{path="/v1/batch",note="a b"}`: 42,
		"process_resident_memory_bytes":                           1.5e8,
		"go_memstats_heap_alloc_bytes":                            7340032,
	}
	for k, v := range want {
		if got, ok := m[k]; !ok || got != v {
			t.Errorf("m[%s] = %v, %v; want %v", k, got, ok, v)
		}
	}
	if len(m) != len(want) {
		t.Errorf("got %d series, want %d: %v", len(m), len(want), m)
	}
	for k := range m {
		if strings.HasPrefix(k, "#") {
			t.Errorf("comment parsed as series %q", k)
		}
	}
}

// TestScrapeUnreachable makes sure a dead server is an error, which the
// commands turn into a skipped sample.
func TestScrapeUnreachable(t *testing.T) {
	ts := metricsServer(t)
	url := ts.URL
	ts.Close()
	if _, err := Scrape(&http.Client{Timeout: time.Second}, url); err == nil {
		t.Fatal("Scrape of a closed server succeeded")
	}
}

// TestMonitorFromMetrics checks the fallback without a pid (a server
// this command did not start): RSS and heap come from /metrics, and the
// sampler's maxima include at least the first reading.
func TestMonitorFromMetrics(t *testing.T) {
	ts := metricsServer(t)
	m := &Monitor{URL: ts.URL, HC: ts.Client()}
	if got := m.RSS(); got != 1.5e8 {
		t.Errorf("RSS = %v, want 1.5e8", got)
	}
	if got := m.Heap(); got != 7340032 {
		t.Errorf("Heap = %v, want 7340032", got)
	}
	stop := m.Sample(time.Millisecond, 2*time.Millisecond)
	time.Sleep(5 * time.Millisecond)
	if rss, heap := stop(); rss != 1.5e8 || heap != 7340032 {
		t.Errorf("Sample maxima = %v, %v", rss, heap)
	}
}
