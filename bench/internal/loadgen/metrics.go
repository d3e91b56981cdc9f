package loadgen

import (
	"bufio"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Scrape reads the Prometheus text of base's /metrics into
// name{labels} → value, the labels exactly as the server writes them.
// A few lines of parsing rather than a Prometheus client: the commands
// look up a handful of known series and need no types or histograms.
func Scrape(hc *http.Client, base string) (map[string]float64, error) {
	resp, err := hc.Get(base + "/metrics")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	// Label sets can make long lines; the default 64 KiB limit would end
	// the scrape early.
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		l := sc.Text()
		if l == "" || l[0] == '#' {
			continue
		}
		// The value is the last field: label values may hold blanks.
		i := strings.LastIndexByte(l, ' ')
		if i < 0 {
			continue
		}
		if v, err := strconv.ParseFloat(l[i+1:], 64); err == nil {
			out[l[:i]] = v
		}
	}
	return out, sc.Err()
}

// LoadAvg returns the machine's 1, 5 and 15 minute load averages ("?"
// off Linux). Reports print it because the machine is often shared: a
// slow run under a high load is the neighbours', not the server's.
func LoadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

// Monitor reads the server's memory: RSS from /proc when the server is
// this command's child (PID set; exact, and cheap enough to sample every
// 50 ms without loading the server), else process_resident_memory_bytes
// of /metrics; the Go heap always from /metrics, as only the server
// knows it.
type Monitor struct {
	URL string
	HC  *http.Client
	PID int
}

// RSS returns the server's resident set in bytes, 0 if unknown.
func (m *Monitor) RSS() float64 {
	if m.PID != 0 {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", m.PID))
		if err == nil {
			for _, l := range strings.Split(string(b), "\n") {
				if f := strings.Fields(l); len(f) >= 2 && f[0] == "VmRSS:" {
					kb, _ := strconv.ParseFloat(f[1], 64)
					return kb * 1024
				}
			}
		}
	}
	return m.Metric("process_resident_memory_bytes")
}

// Heap returns the server's live Go heap in bytes, 0 if unknown.
func (m *Monitor) Heap() float64 { return m.Metric("go_memstats_heap_alloc_bytes") }

// Metric returns one series of /metrics, 0 if the scrape fails: a missed
// sample must not end a benchmark that takes minutes.
func (m *Monitor) Metric(name string) float64 {
	v, err := Scrape(m.HC, m.URL)
	if err != nil {
		return 0
	}
	return v[name]
}

// Sample samples RSS every rssEvery and the heap every heapEvery until
// the returned function is called, which returns their maxima. The two
// periods differ because a heap sample costs the server a scrape while
// RSS from /proc costs it nothing; the maxima include a reading at the
// start and at the end, so a short run still has both.
func (m *Monitor) Sample(rssEvery, heapEvery time.Duration) func() (rss, heap float64) {
	var mu sync.Mutex
	var maxRSS, maxHeap float64
	done := make(chan struct{})
	var wg sync.WaitGroup
	loop := func(every time.Duration, read func() float64, into *float64) {
		defer wg.Done()
		tick := time.NewTicker(every)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-tick.C:
				v := read()
				mu.Lock()
				*into = max(*into, v)
				mu.Unlock()
			}
		}
	}
	maxRSS, maxHeap = m.RSS(), m.Heap()
	wg.Add(2)
	go loop(rssEvery, m.RSS, &maxRSS)
	go loop(heapEvery, m.Heap, &maxHeap)
	return func() (float64, float64) {
		close(done)
		wg.Wait()
		return max(maxRSS, m.RSS()), max(maxHeap, m.Heap())
	}
}
