package sqlfront

import (
	"context"
	"database/sql"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestConcurrentClients: 200 connections run mixed queries at once without
// an error, and the server's goroutines return to their baseline after.
func TestConcurrentClients(t *testing.T) {
	if testing.Short() {
		t.Skip("200 connections")
	}
	eng := newEngine(t, "demo")
	ws, _ := eng.Workspace("demo")
	fixture(t, ws, 2000, 5)
	ts := startServer(t, eng, nil)
	base := runtime.NumGoroutine()
	db, err := sql.Open("mysql", ts.dsn("root", testPassword, "demo"))
	if err != nil {
		t.Fatal(err)
	}
	db.SetMaxOpenConns(200)
	db.SetMaxIdleConns(200)
	queries := []string{
		"SELECT COUNT(*) FROM profiles WHERE country = 'US' AND age > 20",
		"SELECT country, COUNT(*) FROM profiles GROUP BY country",
		"SELECT * FROM profiles WHERE person_id = %d",
		"SELECT person_id FROM identities WHERE type = 'user_id' AND value = 'u%d'",
		"SELECT person_id FROM profiles WHERE tier = 'pro' LIMIT 10",
		"SELECT COUNT(*) FROM profiles WHERE person_id IN (SELECT person_id FROM events WHERE name = 'purchase')",
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	var n, fails atomic.Int64
	for c := 0; c < 200; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ctx.Err() == nil; i++ {
				q := queries[(c+i)%len(queries)]
				if q[len(q)-1] == 'd' || q[len(q)-2] == 'd' {
					q = fmt.Sprintf(q, 1+(c*31+i)%2000)
				}
				rows, err := db.QueryContext(context.Background(), q)
				if err != nil {
					if fails.Add(1) < 5 {
						t.Errorf("%s: %v", q, err)
					}
					continue
				}
				for rows.Next() {
				}
				if err := rows.Err(); err != nil && fails.Add(1) < 5 {
					t.Errorf("%s: %v", q, err)
				}
				rows.Close()
				n.Add(1)
			}
		}()
	}
	wg.Wait()
	db.Close()
	t.Logf("%d queries in 3s from 200 connections", n.Load())
	deadline := time.Now().Add(10 * time.Second)
	for runtime.NumGoroutine() > base+5 {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<16)
			t.Fatalf("goroutines: %d, baseline %d\n%s", runtime.NumGoroutine(), base, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(50 * time.Millisecond)
	}
}
