package sqlfront

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/cohortdb/cohort/bench/gen"
	"github.com/cohortdb/cohort/bench/load"
)

// TestCancel: a client that goes away and KILL QUERY stop a long query,
// and LIMIT stops the scan early.
func TestCancel(t *testing.T) {
	if testing.Short() {
		t.Skip("loads 300k profiles")
	}
	eng := newEngine(t, "demo")
	ws, _ := eng.Workspace("demo")
	ds, err := gen.Generate(context.Background(), gen.Options{Profiles: 300_000, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	if err := load.Workspace(context.Background(), ws, ds, nil); err != nil {
		t.Fatal(err)
	}
	ts := startServer(t, eng, nil)
	db := ts.open(t, "root", testPassword, "demo")
	// A slow query: 300k rows read from the engine, a 1 ms sleep per row.
	slow := "SELECT COUNT(*) FROM profiles WHERE SLEEP(person_id * 0 + 0.001) = 0 AND country = 'US'"

	t.Log("loaded")
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	var n int
	err = db.QueryRowContext(ctx, slow).Scan(&n)
	if err == nil {
		t.Fatal("slow query finished")
	}
	// The server notices the client went away and stops the query.
	deadline := time.Now().Add(10 * time.Second)
	for {
		r := query(t, db, "SELECT COUNT(*) FROM information_schema.processlist WHERE info LIKE '%SLEEP(person_id%' AND info NOT LIKE '%processlist%'")
		if r[0][0] == "0" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("query still running %v after the client left", time.Since(start))
		}
		time.Sleep(20 * time.Millisecond)
	}

	// KILL QUERY from another connection.
	c1, _ := db.Conn(context.Background())
	defer c1.Close()
	var id int
	if err := c1.QueryRowContext(context.Background(), "SELECT CONNECTION_ID()").Scan(&id); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		var n int
		done <- c1.QueryRowContext(context.Background(), slow).Scan(&n)
	}()
	time.Sleep(300 * time.Millisecond)
	t.Logf("client went away: query stopped after %v", time.Since(start))
	if _, err := db.Exec(fmt.Sprintf("KILL QUERY %d", id)); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "interrupted") && !strings.Contains(err.Error(), "canceled") && !errors.Is(err, context.Canceled) {
			t.Errorf("killed query: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("KILL QUERY did not stop the query")
	}
	// LIMIT returns at once.
	start = time.Now()
	if r := query(t, db, "SELECT person_id FROM profiles WHERE country = 'US' LIMIT 10"); len(r) != 10 {
		t.Errorf("limit: %d rows", len(r))
	}
	if d := time.Since(start); d > 200*time.Millisecond {
		t.Errorf("LIMIT 10 took %v", d)
	}
}
