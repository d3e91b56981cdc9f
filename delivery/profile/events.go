package profile

import (
	"container/heap"
	"context"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"

	profilev1 "github.com/cohortdb/cohort/api/profile/v1"
	"github.com/cohortdb/cohort/engine"
	"github.com/cohortdb/cohort/engine/column"
)

// eventKey orders events newest first: by time, then by event id (the
// order of arrival), both descending.
type eventKey struct{ ts, id int64 }

// before reports whether k comes before o in newest-first order.
func (k eventKey) before(o eventKey) bool {
	if k.ts != o.ts {
		return k.ts > o.ts
	}
	return k.id > o.id
}

// Page tokens are base64url of a version byte and varints.
const tokenVersion = 1

func encodeEventToken(k eventKey) string {
	b := []byte{tokenVersion}
	b = binary.AppendVarint(b, k.ts)
	b = binary.AppendVarint(b, k.id)
	return base64.RawURLEncoding.EncodeToString(b)
}

var errBadToken = errors.New("not a token of this call")

func decodeEventToken(s string) (eventKey, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(b) < 1 || b[0] != tokenVersion {
		return eventKey{}, errBadToken
	}
	b = b[1:]
	ts, n := binary.Varint(b)
	if n <= 0 {
		return eventKey{}, errBadToken
	}
	id, m := binary.Varint(b[n:])
	if m <= 0 || n+m != len(b) {
		return eventKey{}, errBadToken
	}
	return eventKey{ts: ts, id: id}, nil
}

// kept is an event in the top-k heap: its key and its row.
type kept struct {
	k   eventKey
	c   *column.Chunk
	row int
}

// oldestFirst is a heap whose root is the oldest kept event: the one a
// newer event evicts.
type oldestFirst []kept

func (h oldestFirst) Len() int           { return len(h) }
func (h oldestFirst) Less(i, j int) bool { return h[j].k.before(h[i].k) }
func (h oldestFirst) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *oldestFirst) Push(x any)        { *h = append(*h, x.(kept)) }
func (h *oldestFirst) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// events returns up to n of p's events (its members' included) that come
// after the key after (nil: from the newest), newest first, with the
// token of the next page ("" if none). name, if set, keeps one event
// name.
//
// The rows come from the engine's per-person event index
// (Snapshot.PersonEvents): a person with k events costs k row visits,
// whatever the size of the table; at most n+1 rows are kept, and only the
// page's rows are decoded.
func events(ctx context.Context, p *person, name string, after *eventKey, n int) ([]*profilev1.Event, string, error) {
	schema := p.snap.Events.Schema
	tsDef, ok1 := schema.Lookup(engine.ColTS)
	idDef, ok2 := schema.Lookup(engine.ColEventID)
	nameDef, ok3 := schema.Lookup(engine.ColName)
	if !ok1 || !ok2 || !ok3 {
		return nil, "", statusOf(ctx, errors.New("BUG: events has no ts, event_id or name column"))
	}
	h := make(oldestFirst, 0, n+1)
	visited := 0
	var err error
	p.snap.PersonEvents(p.id, func(c *column.Chunk, row int) bool {
		if visited++; visited&4095 == 0 {
			if err = ctx.Err(); err != nil {
				return false
			}
		}
		ts, _ := c.Col(tsDef.Index).Int(row)
		id, _ := c.Col(idDef.Index).Int(row)
		k := eventKey{ts: ts, id: id}
		if after != nil && !after.before(k) {
			return true
		}
		if len(h) == n+1 && !k.before(h[0].k) {
			return true
		}
		if name != "" && c.Col(nameDef.Index).Value(row, nameDef).S != name {
			return true
		}
		heap.Push(&h, kept{k: k, c: c, row: row})
		if len(h) > n+1 {
			heap.Pop(&h)
		}
		return true
	})
	if err != nil {
		return nil, "", statusOf(ctx, fmt.Errorf("cannot read events: %w", err))
	}
	slices.SortFunc(h, func(a, b kept) int {
		if a.k.before(b.k) {
			return -1
		}
		return 1
	})
	next := ""
	if len(h) > n {
		h = h[:n]
		next = encodeEventToken(h[n-1].k)
	}
	out := make([]*profilev1.Event, len(h))
	for i, e := range h {
		out[i] = eventOf(p.snap, schema.Cols, e.c, e.row)
	}
	return out, next, nil
}

// eventOf decodes an events row; person_id becomes canonical.
func eventOf(snap *engine.Snapshot, defs []*column.ColumnDef, c *column.Chunk, row int) *profilev1.Event {
	ev := &profilev1.Event{Properties: map[string]*profilev1.Value{}}
	for _, d := range defs {
		v := c.Col(d.Index).Value(row, d)
		switch d.Name {
		case engine.ColEventID:
			ev.EventId = v.I
		case engine.ColPersonID:
			ev.PersonId = snap.Graph.Canonical(uint32(v.I))
		case engine.ColName:
			ev.Name = v.S
		case engine.ColTS:
			ev.Time = timeOf(v)
		case engine.ColReceivedAt:
			ev.ReceivedAt = timeOf(v)
		default:
			if pv := ValueOf(v); pv != nil {
				ev.Properties[d.Name] = pv
			}
		}
	}
	return ev
}
