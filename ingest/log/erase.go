package log

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/nats-io/nats.go/jetstream"
)

// TrimWorkspaceBefore purges the messages of workspace ws (its subjects
// <prefix>.<ws>.*) with a sequence below before, leaving every other
// workspace's messages alone. Erasure calls it (storage.LogEraser) once a
// snapshot holds the workspace after an erasure, with before = that
// snapshot's log position + 1: the messages it purges may hold the erased
// persons' data, and recovery no longer needs them.
//
// The stream's last message is never purged (a startup replay waits until
// it has read the stream's last sequence, see ingest.Service.Caught): if
// it belongs to ws and lies below before, it stays and done is false; a
// later call, once another message followed it, purges it.
//
// What it cannot do: purged messages become unreadable at once (no
// consumer, replay or direct get returns them), but JetStream frees their
// bytes only when their message block is removed or compacted; blocks it
// shares with later messages keep the bytes until regular retention trims
// the stream past them. And the applier's de-duplication state is rebuilt
// from the log after a restart: a client retrying a purged message within
// the dedup window would have it applied again.
func (l *Log) TrimWorkspaceBefore(ctx context.Context, ws string, before uint64) (purged uint64, done bool, err error) {
	info, err := l.stream.Info(ctx)
	if err != nil {
		return 0, false, fmt.Errorf("cannot trim the log of %s before %d: %w", ws, before, err)
	}
	st := info.State
	seq := before
	done = true
	if seq > st.LastSeq {
		seq = st.LastSeq // keep the last message
		if st.Msgs > 0 {
			last, err := l.stream.GetMsg(ctx, st.LastSeq)
			switch {
			case errors.Is(err, jetstream.ErrMsgNotFound): // gone already
			case err != nil:
				return 0, false, fmt.Errorf("cannot trim the log of %s before %d: %w", ws, before, err)
			case strings.HasPrefix(last.Subject, l.wsPrefix(ws)):
				done = false
			}
		}
	}
	if seq <= st.FirstSeq || st.Msgs == 0 {
		return 0, done, nil
	}
	n, err := l.purge(ctx, l.wsPrefix(ws)+">", seq)
	if err != nil {
		return 0, false, fmt.Errorf("cannot trim the log of %s before %d: %w", ws, seq, err)
	}
	return n, done, nil
}

func (l *Log) wsPrefix(ws string) string { return l.opts.SubjectPrefix + "." + ws + "." }

// purge purges the messages on subjects matching filter with a sequence
// below seq and returns how many went.
func (l *Log) purge(ctx context.Context, filter string, seq uint64) (uint64, error) {
	req, _ := json.Marshal(struct {
		Filter string `json:"filter,omitempty"`
		Seq    uint64 `json:"seq"`
	}{filter, seq})
	msg, err := l.nc.RequestWithContext(ctx, "$JS.API.STREAM.PURGE."+l.opts.Stream, req)
	if err != nil {
		return 0, err
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
		return 0, fmt.Errorf("bad reply %q: %w", msg.Data, err)
	}
	if resp.Error != nil {
		return 0, fmt.Errorf("%s (code %d, err_code %d)", resp.Error.Description, resp.Error.Code, resp.Error.ErrCode)
	}
	if !resp.Success {
		return 0, fmt.Errorf("purge not successful")
	}
	return resp.Purged, nil
}
