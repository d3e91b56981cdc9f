package profile

import (
	"container/heap"
	"context"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"slices"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	profilev1 "github.com/cohortdb/cohort/api/profile/v1"
)

// Bounds of "any time" in µs, as profile_history in SQL uses them.
const (
	minMicros = -(1 << 62)
	maxMicros = 1 << 62
)

// changeKey orders a person's changes newest first: by time, then, among
// changes at the same time, by the order they were applied (later
// first). ord counts the person's matching changes at exactly that time,
// in scan order, which stays the same from page to page as long as the
// time range, filters and seq bound do.
type changeKey struct {
	at  int64
	ord int
}

func (k changeKey) before(o changeKey) bool {
	if k.at != o.at {
		return k.at > o.at
	}
	return k.ord > o.ord
}

// historyToken is where a page ends: its last key and the snapshot
// sequence every page reads up to.
type historyToken struct {
	key changeKey
	seq uint64
}

func encodeHistoryToken(t historyToken) string {
	b := []byte{tokenVersion}
	b = binary.AppendVarint(b, t.key.at)
	b = binary.AppendUvarint(b, uint64(t.key.ord))
	b = binary.AppendUvarint(b, t.seq)
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodeHistoryToken(s string) (historyToken, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(b) < 1 || b[0] != tokenVersion {
		return historyToken{}, errBadToken
	}
	b = b[1:]
	at, n1 := binary.Varint(b)
	if n1 <= 0 {
		return historyToken{}, errBadToken
	}
	ord, n2 := binary.Uvarint(b[n1:])
	if n2 <= 0 || ord > 1<<31 {
		return historyToken{}, errBadToken
	}
	seq, n3 := binary.Uvarint(b[n1+n2:])
	if n3 <= 0 || n1+n2+n3 != len(b) {
		return historyToken{}, errBadToken
	}
	return historyToken{key: changeKey{at: at, ord: int(ord)}, seq: seq}, nil
}

type keptChange struct {
	k changeKey
	c Change
}

type oldestChangeFirst []keptChange

func (h oldestChangeFirst) Len() int           { return len(h) }
func (h oldestChangeFirst) Less(i, j int) bool { return h[j].k.before(h[i].k) }
func (h oldestChangeFirst) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *oldestChangeFirst) Push(x any)        { *h = append(*h, x.(keptChange)) }
func (h *oldestChangeFirst) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// GetHistory implements ProfileService.GetHistory.
//
// The history source has no per-person index: a call reads the
// workspace's history in the requested time range (files outside it are
// skipped) and keeps the person's newest page_size+1 changes.
func (s *Service) GetHistory(ctx context.Context, r *profilev1.GetHistoryRequest) (*profilev1.GetHistoryResponse, error) {
	var tok *historyToken
	if r.GetPageToken() != "" {
		t, err := decodeHistoryToken(r.GetPageToken())
		if err != nil {
			return nil, status.Errorf(codes.InvalidArgument, "bad page_token: %v", err)
		}
		tok = &t
	}
	from, to := int64(minMicros), int64(maxMicros)
	if t := r.GetStartTime(); t != nil {
		from = max(from, t.AsTime().UnixMicro())
	}
	if t := r.GetEndTime(); t != nil {
		to = min(to, t.AsTime().UnixMicro())
	}
	p, err := s.find(ctx, r.GetWorkspace(), r.GetId(), r.GetType())
	if err != nil {
		return nil, err
	}
	if s.opts.History == nil {
		return nil, status.Error(codes.FailedPrecondition, "this server keeps no profile history (it runs without storage)")
	}
	seq := p.snap.Seq
	if tok != nil {
		seq = min(seq, tok.seq)
		to = min(to, tok.key.at+1) // no later change can be on this page
	}
	var attrs map[string]bool
	if len(r.GetAttributes()) > 0 {
		attrs = make(map[string]bool, len(r.GetAttributes()))
		for _, a := range r.GetAttributes() {
			attrs[a] = true
		}
	}
	n := pageSize(r.GetPageSize(), DefaultHistoryPage)
	h := make(oldestChangeFirst, 0, n+1)
	ords := map[int64]int{}
	resp := &profilev1.GetHistoryResponse{PersonId: p.id}
	if from >= to {
		return resp, nil
	}
	err = s.opts.History.Scan(ctx, r.GetWorkspace(), time.UnixMicro(from), time.UnixMicro(to), func(c Change) error {
		if c.Seq > seq || c.At < from || c.At >= to || (attrs != nil && !attrs[c.Attribute]) {
			return nil
		}
		if p.snap.Graph.Canonical(c.Person) != p.id {
			return nil
		}
		k := changeKey{at: c.At, ord: ords[c.At]}
		ords[c.At]++
		if tok != nil && !tok.key.before(k) {
			return nil
		}
		if len(h) == n+1 && !k.before(h[0].k) {
			return nil
		}
		heap.Push(&h, keptChange{k: k, c: c})
		if len(h) > n+1 {
			heap.Pop(&h)
		}
		return nil
	})
	if err != nil {
		return nil, statusOf(ctx, fmt.Errorf("cannot read profile history: %w", err))
	}
	slices.SortFunc(h, func(a, b keptChange) int {
		if a.k.before(b.k) {
			return -1
		}
		return 1
	})
	if len(h) > n {
		h = h[:n]
		resp.NextPageToken = encodeHistoryToken(historyToken{key: h[n-1].k, seq: seq})
	}
	for _, e := range h {
		resp.Changes = append(resp.Changes, &profilev1.AttributeChange{
			Attribute: e.c.Attribute,
			OldValue:  ValueOf(e.c.Old),
			NewValue:  ValueOf(e.c.New),
			Time:      micros(e.c.At),
			Source:    e.c.Source,
			PersonId:  e.c.Person,
		})
	}
	return resp, nil
}
