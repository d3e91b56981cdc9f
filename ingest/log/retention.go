package log

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Retention: the stream keeps every message until the storage side says it
// is no longer needed (ingest/retention decides; see DESIGN.md "Durability
// and storage"). The log only offers the two primitives: finding the
// sequence stored at a time, and purging a prefix of the stream.

// SeqAt returns the first stream sequence whose message was stored at or
// after t. When no message was (an empty stream, a stream purged to its
// end, or every message older than t) it returns the stream's last
// sequence + 1, the sequence of the next message to come. Sequences the
// stream no longer holds (purged) are never returned.
//
// It binary-searches the stream with "next message at or after sequence"
// reads, so gaps are harmless. Store times are assumed to grow with the
// sequence (JetStream stamps messages as it stores them); if the server's
// clock stepped back, the answer is some sequence around the step.
func (l *Log) SeqAt(ctx context.Context, t time.Time) (uint64, error) {
	info, err := l.stream.Info(ctx)
	if err != nil {
		return 0, fmt.Errorf("cannot find log sequence at %s: %w", t.Format(time.RFC3339Nano), err)
	}
	st := info.State
	end := st.LastSeq + 1
	if st.Msgs == 0 || st.LastTime.Before(t) {
		return end, nil
	}
	if !st.FirstTime.Before(t) {
		return st.FirstSeq, nil
	}
	// Invariant: next(lo) was stored before t, next(hi) = hiSeq at or
	// after t, where next(s) is the first message with sequence ≥ s.
	lo, hi, hiSeq := st.FirstSeq, st.LastSeq, st.LastSeq
	for hi-lo > 1 {
		mid := lo + (hi-lo)/2
		m, err := l.nextMsg(ctx, mid)
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			// Nothing at or after mid: purged under our feet (or the
			// stream was reset). Nothing before t is left either.
			return end, nil
		}
		if err != nil {
			return 0, fmt.Errorf("cannot find log sequence at %s: %w", t.Format(time.RFC3339Nano), err)
		}
		if m.Time.Before(t) {
			lo = m.Sequence // ≥ mid, and < hi (next(hi) is at or after t)
		} else {
			hi, hiSeq = mid, m.Sequence
		}
	}
	return hiSeq, nil
}

// nextMsg reads the first message with a sequence at or after seq.
func (l *Log) nextMsg(ctx context.Context, seq uint64) (*jetstream.RawStreamMsg, error) {
	return l.stream.GetMsg(ctx, seq, jetstream.WithGetMsgSubject(l.opts.SubjectPrefix+".>"))
}

// TrimBefore purges every message with a sequence below seq and returns
// how many were purged. It is a no-op when seq is at or below the stream's
// first sequence. seq is capped at the last sequence + 1: purging past the
// end would move the stream's sequence forward.
//
// Sequence numbers are never reused: after a purge the stream's first
// sequence is seq and new messages continue after the last one, so
// subscribers from sequence 1 (DeliverAll) start at the first message kept.
func (l *Log) TrimBefore(ctx context.Context, seq uint64) (purged uint64, err error) {
	info, err := l.stream.Info(ctx)
	if err != nil {
		return 0, fmt.Errorf("cannot trim log before %d: %w", seq, err)
	}
	st := info.State
	seq = min(seq, st.LastSeq+1)
	if seq <= st.FirstSeq || st.Msgs == 0 {
		return 0, nil
	}
	// A raw request rather than Stream.Purge: its reply carries the count.
	req, _ := json.Marshal(struct {
		Seq uint64 `json:"seq"`
	}{seq})
	msg, err := l.nc.RequestWithContext(ctx, "$JS.API.STREAM.PURGE."+l.opts.Stream, req)
	if err != nil {
		return 0, fmt.Errorf("cannot trim log before %d: %w", seq, err)
	}
	var resp struct {
		Success bool   `json:"success"`
		Purged  uint64 `json:"purged"`
		Error   *struct {
			Code        int    `json:"code"`
			ErrCode     int    `json:"err_code"`
			Description string `json:"description"`
		} `json:"error"`
	}
	if err := json.Unmarshal(msg.Data, &resp); err != nil {
		return 0, fmt.Errorf("cannot trim log before %d: bad reply %q: %w", seq, msg.Data, err)
	}
	if resp.Error != nil {
		return 0, fmt.Errorf("cannot trim log before %d: %s (code %d, err_code %d)", seq, resp.Error.Description, resp.Error.Code, resp.Error.ErrCode)
	}
	if !resp.Success {
		return 0, fmt.Errorf("cannot trim log before %d: purge not successful", seq)
	}
	return resp.Purged, nil
}

// StreamState is the part of the stream's state retention looks at.
type StreamState struct {
	Msgs     uint64
	Bytes    uint64 // stored message bytes
	FirstSeq uint64
	LastSeq  uint64
}

// State returns the stream's message count, bytes and sequence range.
func (l *Log) State(ctx context.Context) (StreamState, error) {
	info, err := l.stream.Info(ctx)
	if err != nil {
		return StreamState{}, fmt.Errorf("cannot read stream info: %w", err)
	}
	st := info.State
	return StreamState{Msgs: st.Msgs, Bytes: st.Bytes, FirstSeq: st.FirstSeq, LastSeq: st.LastSeq}, nil
}
