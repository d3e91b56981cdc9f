// Package loadgen holds what the load commands (bench/ingestload,
// bench/segload) share: starting and stopping a `cohort serve` on a fresh
// data directory, reading its metrics and memory, quantiles, and request
// bodies of Segment-format track batches rewritten in place for every
// request.
package loadgen

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"strconv"
	"time"
)

// EventNames are the background events' names, weighted as a shop's.
var EventNames = []string{"Product Viewed", "Product Viewed", "Product Viewed", "Product Added", "Checkout Started", "Order Completed"}

// Template is one /v1/batch body of track events. Each event's message id
// carries a request number (12 digits) and its userId a user u1…uN in
// fixed-width slots, so Stamp reuses the body without encoding JSON: every
// request gets fresh message ids and fresh users drawn uniformly from all
// N, like real traffic, rather than the same few users again.
type Template struct {
	Body     []byte
	msgOffs  []int
	userOffs []int
	users    int
	width    int // digits of users
}

// NewTemplate returns a body of n track events for users u1…u<users>,
// message ids "<prefix>-<runID>-<request>-<i>".
func NewTemplate(rng *rand.Rand, n, users int, prefix, runID string) *Template {
	var b bytes.Buffer
	t := &Template{users: max(users, 1)}
	t.width = len(strconv.Itoa(t.users))
	ts := time.Now().UTC().Format("2006-01-02T15:04:05.000Z")
	b.WriteString(`{"batch":[`)
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(`{"type":"track","userId":"u`)
		t.userOffs = append(t.userOffs, b.Len())
		// The slot: digits, the closing quote, blanks up to width+1.
		b.Write(bytes.Repeat([]byte{' '}, t.width+1))
		fmt.Fprintf(&b, `,"event":%q,"messageId":"%s-%s-`, EventNames[rng.IntN(len(EventNames))], prefix, runID)
		t.msgOffs = append(t.msgOffs, b.Len())
		fmt.Fprintf(&b, `000000000000-%d","timestamp":%q,`+
			`"properties":{"product_id":"p-%d","price":%d.99,"category":%q,"quantity":%d},`+
			`"context":{"os":{"name":"iOS","version":"17.1"},"app":{"version":"3.2.1"},"ip":"10.1.2.3"}}`,
			i, ts, rng.IntN(5000), rng.IntN(200), []string{"shoes", "shirts", "bags", "hats"}[rng.IntN(4)], 1+rng.IntN(3))
	}
	b.WriteString(`]}`)
	t.Body = b.Bytes()
	t.Stamp(0, rng)
	return t
}

// Stamp writes request number req into every message id and draws a new
// user for every event.
func (t *Template) Stamp(req int64, rng *rand.Rand) {
	var d [12]byte
	for i := 11; i >= 0; i-- {
		d[i] = byte('0' + req%10)
		req /= 10
	}
	for _, o := range t.msgOffs {
		copy(t.Body[o:], d[:])
	}
	var u [24]byte
	for _, o := range t.userOffs {
		s := strconv.AppendInt(u[:0], int64(1+rng.IntN(t.users)), 10)
		s = append(s, '"')
		for len(s) < t.width+1 {
			s = append(s, ' ')
		}
		copy(t.Body[o:], s)
	}
}
