package loadgen

import (
	"encoding/json"
	"math/rand/v2"
	"strconv"
	"testing"
)

// TestTemplateStamp checks that stamped bodies stay valid JSON, with
// the request number in every message id and users spread over u1…uN.
func TestTemplateStamp(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	const users = 1000
	tp := NewTemplate(rng, 50, users, "ld", "run")
	seen := map[string]bool{}
	for req := int64(1); req <= 40; req++ {
		tp.Stamp(req, rng)
		var body struct {
			Batch []struct {
				UserID    string `json:"userId"`
				MessageID string `json:"messageId"`
			} `json:"batch"`
		}
		if err := json.Unmarshal(tp.Body, &body); err != nil {
			t.Fatalf("request %d: %v\n%s", req, err, tp.Body)
		}
		if len(body.Batch) != 50 {
			t.Fatalf("request %d: %d events", req, len(body.Batch))
		}
		for i, e := range body.Batch {
			n, err := strconv.Atoi(e.UserID[1:])
			if e.UserID[0] != 'u' || err != nil || n < 1 || n > users {
				t.Fatalf("request %d: userId %q", req, e.UserID)
			}
			seen[e.UserID] = true
			want := "ld-run-" + pad12(req) + "-" + strconv.Itoa(i)
			if e.MessageID != want {
				t.Fatalf("request %d: messageId %q, want %q", req, e.MessageID, want)
			}
		}
	}
	// 2000 draws from 1000 users: about 865 distinct ones.
	if len(seen) < 800 {
		t.Fatalf("only %d distinct users in 2000 events", len(seen))
	}
}

func pad12(n int64) string {
	s := strconv.FormatInt(n, 10)
	for len(s) < 12 {
		s = "0" + s
	}
	return s
}
