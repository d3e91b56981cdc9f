package log

import (
	"sync"

	"github.com/cohortdb/cohort/engine"
)

// Kept operations. A message this process publishes is delivered back to
// its own applier a moment later, which would decode (and CRC-check) the
// bytes it just encoded: about a third of the engine's cost of applying
// them. With Options.KeepOps the log keeps each acknowledged message's
// operations, as given to Append, by stream sequence until the applier
// takes them (TakeOps) or forgets them (ForgetOps). The codec is an exact
// round trip (codec_test.go), so applying the kept operations is applying
// the message; a replay decodes the same operations from the stream.

// maxKept bounds the messages kept: past it (an applier that stopped or
// fell far behind) messages are decoded as usual.
const maxKept = 4096

type kept struct {
	mu sync.Mutex
	m  map[uint64]keptMsg
}

type keptMsg struct {
	ws  string
	ops []engine.Op
}

// keep records the operations of acknowledged message seq.
func (k *kept) keep(seq uint64, ws string, ops []engine.Op) {
	k.mu.Lock()
	if k.m == nil {
		k.m = make(map[uint64]keptMsg)
	}
	if len(k.m) < maxKept {
		k.m[seq] = keptMsg{ws, ops}
	}
	k.mu.Unlock()
}

// TakeOps returns the workspace and operations of message seq, in log
// order, when this process published it with Options.KeepOps and still
// keeps them, and forgets them. The caller owns the returned slice (not
// the strings and slices inside the operations, which it must not
// modify).
func (l *Log) TakeOps(seq uint64) (ws string, ops []engine.Op, ok bool) {
	if !l.opts.KeepOps {
		return "", nil, false
	}
	l.kept.mu.Lock()
	defer l.kept.mu.Unlock()
	km, ok := l.kept.m[seq]
	if ok {
		delete(l.kept.m, seq)
	}
	return km.ws, km.ops, ok
}

// ForgetOps drops the operations kept for messages up to seq (ones the
// applier received before their acknowledgement was recorded).
func (l *Log) ForgetOps(seq uint64) {
	if !l.opts.KeepOps {
		return
	}
	l.kept.mu.Lock()
	for s := range l.kept.m {
		if s <= seq {
			delete(l.kept.m, s)
		}
	}
	l.kept.mu.Unlock()
}
