package log

import (
	"bytes"
	"encoding/binary"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cohortdb/cohort/engine"
)

// Kept operations. A message this process publishes is delivered back to
// its own applier a moment later, which would decode (and CRC-check) the
// bytes it just encoded: about a third of the engine's cost of applying
// them. With Options.KeepOps the log keeps each message's operations, as
// given to Append, from just before it is published until the applier
// takes them (TakeOps) with the message as read back. They are found by
// the message's content, compared byte for byte: identical bytes decode
// to identical operations, so applying the kept ones is applying the
// message, and nothing depends on whether the publish acknowledgement or
// the delivery arrives first. A replay decodes the same operations.

// Bounds of what is kept: past them (an applier that stopped or fell far
// behind) messages are decoded as usual. At the bound, entries older than
// maxKeptAge (messages never delivered back, e.g. erased from the stream
// first) are dropped.
const (
	maxKept      = 4096
	maxKeptBytes = 64 << 20
	maxKeptAge   = 30 * time.Second
)

type kept struct {
	mu    sync.Mutex
	m     map[keptKey][]*keptMsg
	n     int
	bytes int
}

// keptKey finds a message: its CRC32C trailer and length.
type keptKey struct {
	crc  uint32
	size int
}

type keptMsg struct {
	data []byte // the sealed message: a pooled buffer, see release
	ws   string
	ops  []engine.Op
	at   time.Time
	// refs: the buffer goes back to the pool once both the publish
	// acknowledgement and the applier are done with it.
	refs   atomic.Int32
	failed atomic.Bool // the publish failed: the client may still hold data
}

// release drops one reference to the buffer.
func (e *keptMsg) release() {
	if e.refs.Add(-1) == 0 && !e.failed.Load() {
		putBuf(e.data[:0])
	}
}

func keyOf(data []byte) (keptKey, bool) {
	if len(data) < 4 {
		return keptKey{}, false
	}
	return keptKey{binary.LittleEndian.Uint32(data[len(data)-4:]), len(data)}, true
}

// keep records the operations of message data, about to be published,
// and returns its entry (nil if not kept), which holds two references to
// data: the publisher's and the applier's.
func (k *kept) keep(data []byte, ws string, ops []engine.Op) *keptMsg {
	key, ok := keyOf(data)
	if !ok {
		return nil
	}
	now := time.Now()
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.n >= maxKept || k.bytes+len(data) > maxKeptBytes {
		k.expire(now.Add(-maxKeptAge))
		if k.n >= maxKept || k.bytes+len(data) > maxKeptBytes {
			return nil
		}
	}
	if k.m == nil {
		k.m = make(map[keptKey][]*keptMsg)
	}
	e := &keptMsg{data: data, ws: ws, ops: ops, at: now}
	e.refs.Store(2)
	k.m[key] = append(k.m[key], e)
	k.n++
	k.bytes += len(data)
	return e
}

// expire drops the entries kept since before t.
func (k *kept) expire(t time.Time) {
	for key, list := range k.m {
		for i := len(list) - 1; i >= 0; i-- {
			if e := list[i]; e.at.Before(t) {
				k.drop(key, list, i)
				list = k.m[key]
				e.release() // the applier's reference: it will never take it
			}
		}
	}
}

// remove removes entry e if it is still kept, and reports whether it was.
func (k *kept) remove(e *keptMsg) bool {
	key, _ := keyOf(e.data)
	k.mu.Lock()
	defer k.mu.Unlock()
	list := k.m[key]
	for i, x := range list {
		if x == e {
			k.drop(key, list, i)
			return true
		}
	}
	return false
}

func (k *kept) drop(key keptKey, list []*keptMsg, i int) {
	if len(list) == 1 {
		delete(k.m, key)
	} else {
		k.m[key] = append(list[:i:i], list[i+1:]...)
	}
	k.n--
	k.bytes -= len(list[i].data)
}

// take removes and returns the entry holding exactly data.
func (k *kept) take(data []byte) *keptMsg {
	key, ok := keyOf(data)
	if !ok {
		return nil
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	list := k.m[key]
	for i, e := range list {
		if bytes.Equal(e.data, data) {
			k.drop(key, list, i)
			return e
		}
	}
	return nil
}

// TakeOps returns the workspace and operations of a message read back from
// the stream (its data) when this process published it with
// Options.KeepOps and still keeps them, and forgets them. The operations
// are in log order; the caller must not modify them (nor the slices inside
// them).
func (l *Log) TakeOps(data []byte) (ws string, ops []engine.Op, ok bool) {
	if !l.opts.KeepOps {
		return "", nil, false
	}
	e := l.kept.take(data)
	if e == nil {
		return "", nil, false
	}
	e.release()
	return e.ws, e.ops, true
}
