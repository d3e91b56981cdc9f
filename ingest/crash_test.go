package ingest_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

var soak = flag.Duration("ingest.soak", 0, "run the kill -9 crash test for this long (0: a short run of a few kills)")

const crashToken = "crash-admin-token"

// cohortProc is a `cohort serve` process.
type cohortProc struct {
	cmd  *exec.Cmd
	url  string
	done chan struct{}
	errb bytes.Buffer
}

var httpLine = regexp.MustCompile(`HTTP\s+(http://\S+)`)

func startCohort(t *testing.T, bin, dir string) *cohortProc {
	t.Helper()
	cmd := exec.Command(bin, "serve", "--demo=false", "--data-dir", dir, "--http-addr", "127.0.0.1:0",
		"--mysql-addr", "127.0.0.1:0", "--grpc-addr", "127.0.0.1:0",
		"--admin-token", crashToken, "--log-level", "warn")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	p := &cohortProc{cmd: cmd, done: make(chan struct{})}
	cmd.Stderr = &p.errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	urlc := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if m := httpLine.FindStringSubmatch(sc.Text()); m != nil {
				urlc <- m[1]
			}
		}
		io.Copy(io.Discard, out)
	}()
	go func() { cmd.Wait(); close(p.done) }()
	select {
	case p.url = <-urlc:
	case <-p.done:
		t.Fatalf("cohort serve exited: %s", p.errb.String())
	case <-time.After(60 * time.Second):
		cmd.Process.Kill()
		t.Fatalf("cohort serve printed no banner")
	}
	return p
}

func (p *cohortProc) kill() {
	p.cmd.Process.Kill() // SIGKILL
	<-p.done
}

// ledger records what the server acknowledged.
type ledger struct {
	mu       sync.Mutex
	acked    map[string]bool // event message ids acknowledged
	counters map[string]int  // user → last acknowledged counter trait
}

func TestCrashKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and kills real processes")
	}
	bin := filepath.Join(t.TempDir(), "cohort")
	build := exec.Command("go", "build", "-o", bin, "github.com/cohortdb/cohort/cmd/cohort")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	dir := t.TempDir()
	proc := startCohort(t, bin, dir)
	defer func() { proc.kill() }()
	var cur atomic.Pointer[string]
	cur.Store(&proc.url)

	key := createWorkspace(t, proc.url, "crash")
	led := &ledger{acked: map[string]bool{}, counters: map[string]int{}}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var requests atomic.Int64
	const clients = 6
	for c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			runClient(c, key, &cur, led, stop, &requests)
		}()
	}

	kills, deadline := 3, time.Now().Add(*soak)
	rng := rand.New(rand.NewPCG(1, 2))
	for k := 0; k < kills || time.Now().Before(deadline); k++ {
		// Let the clients make progress, then kill at a random moment.
		before := requests.Load()
		waitUntil(t, 30*time.Second, "client progress", func() bool { return requests.Load() >= before+20 })
		time.Sleep(time.Duration(rng.IntN(300)) * time.Millisecond) // a random moment, not a wait for a condition
		proc.kill()
		proc = startCohort(t, bin, dir)
		cur.Store(&proc.url)
		t.Logf("kill %d: restarted at %s, %d requests acknowledged so far", k+1, proc.url, requests.Load())
	}
	before := requests.Load()
	waitUntil(t, 30*time.Second, "client progress after the last restart", func() bool { return requests.Load() >= before+20 })
	close(stop)
	wg.Wait()

	verify(t, proc.url, led)
	// And once more after a clean restart: replay gives the same state.
	proc.kill()
	proc = startCohort(t, bin, dir)
	verify(t, proc.url, led)
}

func createWorkspace(t *testing.T, url, name string) string {
	t.Helper()
	req, _ := http.NewRequest("POST", url+"/v1/admin/workspaces", strings.NewReader(`{"name":"`+name+`"}`))
	req.Header.Set("Authorization", "Bearer "+crashToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var info struct {
		Keys []struct{ Key string }
	}
	if err := json.NewDecoder(resp.Body).Decode(&info); err != nil || resp.StatusCode != 201 {
		t.Fatalf("create workspace: %d %v", resp.StatusCode, err)
	}
	return info.Keys[0].Key
}

// runClient sends batches of tracks plus one identify (a counter trait),
// retrying each batch with the same message ids until it is acknowledged.
func runClient(c int, key string, cur *atomic.Pointer[string], led *ledger, stop <-chan struct{}, requests *atomic.Int64) {
	hc := &http.Client{Timeout: 10 * time.Second}
	user := fmt.Sprintf("crash-user-%d", c)
	rng := rand.New(rand.NewPCG(uint64(c), 7))
	for n := 1; ; n++ {
		select {
		case <-stop:
			return
		default:
		}
		var ids []string
		var b strings.Builder
		fmt.Fprintf(&b, `{"batch":[{"type":"identify","userId":%q,"traits":{"counter":%d},"messageId":"c%d-id-%d"}`, user, n, c, n)
		for i := range 1 + rng.IntN(30) {
			id := fmt.Sprintf("c%d-ev-%d-%d", c, n, i)
			ids = append(ids, id)
			fmt.Fprintf(&b, `,{"type":"track","userId":%q,"event":"Tick","properties":{"n":%d,"i":%d},"messageId":%q}`, user, n, i, id)
		}
		b.WriteString("]}")
		body := b.String()
		for {
			req, _ := http.NewRequest("POST", *cur.Load()+"/v1/batch", strings.NewReader(body))
			req.SetBasicAuth(key, "")
			resp, err := hc.Do(req)
			if err == nil {
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode == 200 {
					break
				}
			}
			select {
			case <-stop: // the batch may or may not be in: not recorded
				return
			case <-time.After(20 * time.Millisecond): // retry backoff
			}
		}
		requests.Add(1)
		led.mu.Lock()
		for _, id := range ids {
			led.acked[id] = true
		}
		led.counters[user] = n
		led.mu.Unlock()
	}
}

func waitUntil(t *testing.T, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	end := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(end) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func adminGet(t *testing.T, url string) []byte {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	req.Header.Set("Authorization", "Bearer "+crashToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: %d %s", url, resp.StatusCode, b)
	}
	return b
}

// rows reads GET /v1/admin/workspaces/{ws}/rows as [][]any.
func rows(t *testing.T, url, table, cols string) [][]any {
	t.Helper()
	b := adminGet(t, url+"/v1/admin/workspaces/crash/rows?table="+table+"&columns="+cols)
	var out [][]any
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	first := true
	for dec.More() {
		var line []any
		if err := dec.Decode(&line); err != nil {
			t.Fatalf("rows: %v", err)
		}
		if first {
			first = false
			continue
		}
		out = append(out, line)
	}
	return out
}

func verify(t *testing.T, url string, led *ledger) {
	t.Helper()
	// Wait for the replay and everything acknowledged to be applied.
	waitUntil(t, 60*time.Second, "the log to be applied", func() bool {
		var st struct {
			Applied    uint64 `json:"applied"`
			LogLastAck uint64 `json:"log_last_ack"`
			CaughtUp   bool   `json:"caught_up"`
		}
		json.Unmarshal(adminGet(t, url+"/v1/admin/ingest"), &st)
		return st.CaughtUp && st.Applied >= st.LogLastAck
	})
	seen := map[string]int{}
	for _, r := range rows(t, url, "events", "message_id") {
		seen[r[0].(string)]++
	}
	led.mu.Lock()
	defer led.mu.Unlock()
	lost, dup := 0, 0
	for id := range led.acked {
		if seen[id] == 0 {
			lost++
			if lost <= 5 {
				t.Errorf("acknowledged event %s lost", id)
			}
		}
	}
	for id, n := range seen {
		if n > 1 {
			dup++
			if dup <= 5 {
				t.Errorf("event %s present %d times", id, n)
			}
		}
	}
	// Profiles: one person per user, holding the last acknowledged counter
	// (or a later, unacknowledged one).
	persons := map[string]string{}
	for _, r := range rows(t, url, "identities", "type,value,person_id") {
		if r[0] == "user_id" {
			if _, ok := persons[r[1].(string)]; ok {
				t.Errorf("user %s has two identity rows", r[1])
			}
			persons[r[1].(string)] = r[2].(json.Number).String()
		}
	}
	counter := map[string]int64{}
	profiles := map[string]int{}
	for _, r := range rows(t, url, "profiles", "person_id,counter") {
		pid := r[0].(json.Number).String()
		profiles[pid]++
		if n, ok := r[1].(json.Number); ok {
			counter[pid], _ = n.Int64()
		}
	}
	for user, want := range led.counters {
		pid, ok := persons[user]
		if !ok {
			t.Errorf("user %s lost", user)
			continue
		}
		if profiles[pid] != 1 {
			t.Errorf("user %s has %d profile rows", user, profiles[pid])
		}
		if got := counter[pid]; got < int64(want) || got > int64(want)+1 {
			t.Errorf("user %s counter = %d, want %d (or %d if the last unacknowledged batch landed)", user, got, want, want+1)
		}
	}
	t.Logf("verified %d acknowledged events (%d stored): %d lost, %d duplicated; %d users", len(led.acked), len(seen), lost, dup, len(led.counters))
}

func TestMain(m *testing.M) {
	flag.Parse()
	os.Exit(m.Run())
}
