// Package log is Cohort's durable ingest log on NATS JetStream.
//
// One stream (default name COHORT) holds every accepted operation, on
// subjects cohort.<workspace>.<partition>; the partition is a hash of the
// operation's best identifier modulo Options.Partitions. A write is
// acknowledged only after JetStream acknowledged the message holding it.
//
// Group commit: concurrent Appends to the same subject are coalesced into
// one message, so the cost of a durable publish (an fsync on the server,
// which writes a stream's messages one after the other) is shared by many
// requests. A committer publishes every open batch once the oldest is
// Options.Linger old and fewer than Options.MaxInFlight messages await
// their acknowledgement; while they wait, batches keep filling (up to
// Options.MaxBatchBytes each, then a new one starts). Under load, batches
// thus grow with the server's fsync latency instead of queueing behind
// it. Messages use the compact binary format described in docs/format.md
// (codec.go).
//
// By default the log runs an embedded single-node NATS server with file
// storage and sync_interval "always" (every write is fsynced before the
// publish is acknowledged: see nats-server issues 7564 and 6888), which
// listens on no port: Cohort talks to it through an in-process connection.
// With Options.URL set the log uses an external NATS cluster instead; the
// cluster's own sync settings then decide what a power loss can lose.
//
//	l, err := log.Open(ctx, log.Options{Dir: "data/nats"})
//	err = l.Append(ctx, "acme", ops) // returns when durable
//	msgs, err := l.Subscribe(ctx, 1)
//	for m := range msgs.C { ... }
//	l.Close()
package log

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/cohortdb/cohort/engine"
	"github.com/cohortdb/cohort/engine/identity"
)

// Options configure a Log. The zero value of every field but Dir (or URL)
// means its default.
type Options struct {
	// Dir is the storage directory of the embedded NATS server
	// (<data_dir>/nats). Required unless URL is set.
	Dir string
	// URL of an external NATS cluster ("nats://host:4222,nats://…"). Empty:
	// run the embedded server.
	URL string
	// Stream is the stream name; default "COHORT".
	Stream string
	// SubjectPrefix is the first subject token; default "cohort".
	SubjectPrefix string
	// Partitions per workspace; default 4.
	Partitions int
	// Replicas of the stream on an external cluster; default 1.
	Replicas int
	// Linger is how long a batch waits for more writes after its first;
	// default 1ms.
	Linger time.Duration
	// MaxBatchBytes flushes a batch when it reaches this size; default 1 MiB
	// (capped by the server's max_payload).
	MaxBatchBytes int
	// MaxInFlight is how many published messages may await their
	// acknowledgement before the committer waits; default 4.
	MaxInFlight int
	// AckTimeout bounds the wait for one publish acknowledgement; default 10s.
	AckTimeout time.Duration
	// KeepOps keeps the operations of every published message until
	// TakeOps, for an applier in the same process (kept.go).
	// Callers of Append must then leave the operations they appended (and
	// the slices inside them) alone once Append returns.
	KeepOps bool
	// Logger; default slog.Default().
	Logger *slog.Logger
}

// DefaultOptions returns the defaults with dir as the storage directory.
func DefaultOptions(dir string) Options {
	o := Options{Dir: dir}
	o.fill()
	return o
}

func (o *Options) fill() {
	if o.Stream == "" {
		o.Stream = "COHORT"
	}
	if o.SubjectPrefix == "" {
		o.SubjectPrefix = "cohort"
	}
	if o.Partitions <= 0 {
		o.Partitions = 4
	}
	if o.Replicas <= 0 {
		o.Replicas = 1
	}
	if o.Linger <= 0 {
		o.Linger = time.Millisecond
	}
	if o.MaxBatchBytes <= 0 {
		o.MaxBatchBytes = 1 << 20
	}
	if o.MaxInFlight <= 0 {
		o.MaxInFlight = 4
	}
	if o.AckTimeout <= 0 {
		o.AckTimeout = 10 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
}

// maxPayload is the embedded server's max_payload: a full batch plus
// one oversized record.
const maxPayload = 8 << 20

// ErrClosed is returned by Append after Close.
var ErrClosed = errors.New("log closed")

// Log is an open durable log.
type Log struct {
	opts   Options
	ns     *server.Server // nil with an external cluster
	nc     *nats.Conn
	js     jetstream.JetStream
	stream jetstream.Stream
	log    *slog.Logger

	mu       sync.Mutex
	cond     *sync.Cond        // on mu: inflight decreased
	pending  map[string]*batch // the open batch of each subject
	order    []*batch          // unpublished batches, oldest first
	inflight int
	closed   bool
	kick     chan struct{} // a batch was opened or filled
	pubDone  chan struct{}

	// Statistics.
	published atomic.Uint64 // messages acknowledged
	records   atomic.Uint64 // records in acknowledged messages
	lastAck   atomic.Uint64 // highest acknowledged stream sequence

	kept kept // Options.KeepOps (kept.go)
}

// batch is one message being filled by group commit.
type batch struct {
	subject string
	created time.Time
	buf     []byte
	n       int
	done    chan struct{}
	err     error
	seq     uint64
	full    bool // no more records: a newer batch of the subject is open
	ws      string
	ops     []engine.Op // with Options.KeepOps: the records, as given
	kept    *keptMsg    // its entry, when kept (kept.go)
}

// Open starts the embedded server (or connects to Options.URL), creates or
// updates the stream and returns the log.
func Open(ctx context.Context, opts Options) (*Log, error) {
	opts.fill()
	l := &Log{opts: opts, log: opts.Logger, pending: make(map[string]*batch), kick: make(chan struct{}, 1)}
	l.cond = sync.NewCond(&l.mu)
	var copts []nats.Option
	copts = append(copts, nats.Name("cohort-ingest"), nats.MaxReconnects(-1))
	url := opts.URL
	if url == "" {
		if opts.Dir == "" {
			return nil, errors.New("cannot open log: no storage directory and no NATS URL")
		}
		ns, err := StartEmbedded(opts.Dir)
		if err != nil {
			return nil, err
		}
		l.ns = ns
		copts = append(copts, nats.InProcessServer(ns))
		url = ns.ClientURL()
	}
	nc, err := nats.Connect(url, copts...)
	if err != nil {
		l.shutdownServer()
		return nil, fmt.Errorf("cannot connect to NATS: %w", err)
	}
	l.nc = nc
	if mp := int(nc.MaxPayload()); mp > 0 && l.opts.MaxBatchBytes > mp/2 {
		l.opts.MaxBatchBytes = mp / 2
	}
	js, err := jetstream.New(nc,
		jetstream.WithPublishAsyncMaxPending(4096),
		jetstream.WithPublishAsyncTimeout(opts.AckTimeout))
	if err != nil {
		l.abort()
		return nil, fmt.Errorf("cannot open JetStream: %w", err)
	}
	l.js = js
	cfg := jetstream.StreamConfig{
		Name:        opts.Stream,
		Description: "Cohort ingest log: normalised operations, group-committed",
		Subjects:    []string{opts.SubjectPrefix + ".>"},
		Storage:     jetstream.FileStorage,
		Retention:   jetstream.LimitsPolicy,
		Discard:     jetstream.DiscardOld,
		Replicas:    opts.Replicas,
		MaxMsgSize:  -1,
	}
	if l.ns != nil {
		cfg.Replicas = 1
	}
	st, err := js.CreateOrUpdateStream(ctx, cfg)
	if err != nil {
		l.abort()
		return nil, fmt.Errorf("cannot create stream %s: %w", opts.Stream, err)
	}
	l.stream = st
	l.pubDone = make(chan struct{})
	go l.commit()
	return l, nil
}

// StartEmbedded starts a single-node NATS server with JetStream file
// storage in dir, fsyncing every write (sync_interval: always), listening
// on no network port, and waits until it is ready.
func StartEmbedded(dir string) (*server.Server, error) {
	o := &server.Options{
		ServerName:         "cohort",
		JetStream:          true,
		StoreDir:           dir,
		SyncAlways:         true,
		DontListen:         true,
		NoSigs:             true,
		NoLog:              true,
		MaxPayload:         maxPayload,
		JetStreamMaxMemory: 64 << 20,
	}
	ns, err := server.NewServer(o)
	if err != nil {
		return nil, fmt.Errorf("cannot create embedded NATS server: %w", err)
	}
	ns.Start()
	if !ns.ReadyForConnections(30 * time.Second) {
		ns.Shutdown()
		return nil, errors.New("cannot start embedded NATS server: not ready after 30s")
	}
	return ns, nil
}

// JetStream returns the JetStream context (for KV buckets beside the log).
func (l *Log) JetStream() jetstream.JetStream { return l.js }

// Partitions returns the number of partitions per workspace.
func (l *Log) Partitions() int { return l.opts.Partitions }

// Subject returns the subject of a workspace's partition.
func (l *Log) Subject(ws string, partition int) string {
	return l.opts.SubjectPrefix + "." + ws + "." + strconv.Itoa(partition)
}

// Partition returns the partition of op among n: a hash of its best
// identifier (user_id, then external ids, email, phone, anonymous_id).
func Partition(op *engine.Op, n int) int {
	if n <= 1 || len(op.IDs) == 0 {
		return 0
	}
	best, rank := op.IDs[0], 99
	for _, id := range op.IDs {
		if r := idRank(id.Type); r < rank {
			best, rank = id, r
		}
	}
	h := fnv.New32a()
	h.Write([]byte(best.Type))
	h.Write([]byte{0})
	h.Write([]byte(best.Value))
	return int(h.Sum32() % uint32(n))
}

func idRank(t string) int {
	switch t {
	case identity.TypeUserID:
		return 0
	case identity.TypeEmail:
		return 2
	case identity.TypePhone:
		return 3
	case identity.TypeAnonymousID:
		return 4
	}
	return 1 // external:<name>
}

// Append writes ops of workspace ws to the log and returns once every one
// of them is in a message JetStream has acknowledged. Ops of one call keep
// their order in the log. On error some ops may still be in the log.
func (l *Log) Append(ctx context.Context, ws string, ops []engine.Op) error {
	if len(ops) == 0 {
		return nil
	}
	var waits []*batch
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return ErrClosed
	}
	for i := range ops {
		subj := l.Subject(ws, Partition(&ops[i], l.opts.Partitions))
		b := l.pending[subj]
		if b == nil {
			b = &batch{subject: subj, created: time.Now(), buf: AppendHeader(getBuf(), ws), done: make(chan struct{}), ws: ws}
			l.pending[subj] = b
			l.order = append(l.order, b)
			l.signal()
		}
		b.buf = AppendOp(b.buf, &ops[i])
		b.n++
		if l.opts.KeepOps {
			b.ops = append(b.ops, ops[i])
		}
		if len(waits) == 0 || waits[len(waits)-1] != b {
			waits = append(waits, b)
		}
		if len(b.buf) >= l.opts.MaxBatchBytes {
			b.full = true
			delete(l.pending, subj)
		}
	}
	l.mu.Unlock()
	for _, b := range waits {
		select {
		case <-b.done:
			if b.err != nil {
				return fmt.Errorf("cannot publish batch to %s: %w", b.subject, b.err)
			}
		case <-ctx.Done():
			return fmt.Errorf("cannot publish batch to %s: %w", b.subject, ctx.Err())
		}
	}
	return nil
}

func (l *Log) signal() {
	select {
	case l.kick <- struct{}{}:
	default:
	}
}

// commit is the group committer: it publishes all unpublished batches,
// in order, once the oldest is Linger old and fewer than MaxInFlight
// messages await acknowledgement, and completes each batch when its
// acknowledgement arrives.
func (l *Log) commit() {
	defer close(l.pubDone)
	var take []*batch
	for {
		l.mu.Lock()
		for len(l.order) == 0 && !l.closed {
			l.mu.Unlock()
			<-l.kick
			l.mu.Lock()
		}
		if len(l.order) == 0 { // closed and drained
			l.mu.Unlock()
			return
		}
		if wait := l.opts.Linger - time.Since(l.order[0].created); wait > 0 && !l.closed {
			l.mu.Unlock()
			time.Sleep(wait)
			l.mu.Lock()
		}
		for l.inflight >= l.opts.MaxInFlight {
			l.cond.Wait()
		}
		take = append(take[:0], l.order...)
		clear(l.order)
		l.order = l.order[:0]
		for _, b := range take {
			if l.pending[b.subject] == b {
				delete(l.pending, b.subject)
			}
		}
		l.inflight += len(take)
		l.mu.Unlock()
		for _, b := range take {
			l.publish(b)
		}
	}
}

func (l *Log) publish(b *batch) {
	data := Seal(b.buf)
	if l.opts.KeepOps {
		b.kept = l.kept.keep(data, b.ws, b.ops)
	}
	paf, err := l.js.PublishMsgAsync(&nats.Msg{Subject: b.subject, Data: data})
	if err != nil {
		l.complete(b, err)
		return
	}
	go func() {
		select {
		case ack := <-paf.Ok():
			b.seq = ack.Sequence
			l.published.Add(1)
			l.records.Add(uint64(b.n))
			for {
				cur := l.lastAck.Load()
				if ack.Sequence <= cur || l.lastAck.CompareAndSwap(cur, ack.Sequence) {
					break
				}
			}
			l.complete(b, nil)
		case err := <-paf.Err():
			l.complete(b, err)
		}
	}()
}

// bufs recycles batch buffers once their message is acknowledged.
var bufs sync.Pool

func getBuf() []byte {
	if b, ok := bufs.Get().(*[]byte); ok {
		return (*b)[:0]
	}
	return make([]byte, 0, 64<<10)
}

func putBuf(b []byte) {
	if cap(b) <= 4<<20 {
		bufs.Put(&b)
	}
}

func (l *Log) complete(b *batch, err error) {
	switch {
	case b.kept != nil:
		if err != nil {
			// Maybe not stored: if it is delivered anyway, it is decoded.
			b.kept.failed.Store(true)
			if l.kept.remove(b.kept) {
				b.kept.release() // the applier's reference
			}
		}
		b.kept.release()
	case err == nil:
		putBuf(b.buf) // the client keeps the message only until its ack
	}
	b.err, b.buf, b.ops, b.kept = err, nil, nil, nil
	close(b.done)
	l.mu.Lock()
	l.inflight--
	l.cond.Broadcast()
	l.mu.Unlock()
}

// Stats are counters of the log.
type Stats struct {
	Messages uint64 // acknowledged messages published by this process
	Records  uint64 // records in them
	LastAck  uint64 // highest acknowledged stream sequence
}

// Stats returns the log's counters.
func (l *Log) Stats() Stats {
	return Stats{Messages: l.published.Load(), Records: l.records.Load(), LastAck: l.lastAck.Load()}
}

// LastSeq returns the stream's last sequence.
func (l *Log) LastSeq(ctx context.Context) (uint64, error) {
	info, err := l.stream.Info(ctx)
	if err != nil {
		return 0, fmt.Errorf("cannot read stream info: %w", err)
	}
	return info.State.LastSeq, nil
}

// Msg is one log message as read back.
type Msg struct {
	Seq     uint64
	Time    time.Time // when the stream stored it
	Data    []byte
	Pending uint64 // messages after this one at delivery time
}

// Subscription delivers the stream in order on C.
type Subscription struct {
	C    <-chan Msg
	cc   jetstream.ConsumeContext
	stop chan struct{}
	once sync.Once
}

// Stop ends the subscription.
func (s *Subscription) Stop() {
	s.once.Do(func() {
		close(s.stop)
		s.cc.Stop()
	})
}

// Subscribe delivers every message from sequence from (1: the start) in
// stream order, through an ordered consumer that survives reconnects.
func (l *Log) Subscribe(ctx context.Context, from uint64) (*Subscription, error) {
	cfg := jetstream.OrderedConsumerConfig{DeliverPolicy: jetstream.DeliverAllPolicy}
	if from > 1 {
		cfg.DeliverPolicy = jetstream.DeliverByStartSequencePolicy
		cfg.OptStartSeq = from
	}
	cons, err := l.js.OrderedConsumer(ctx, l.opts.Stream, cfg)
	if err != nil {
		return nil, fmt.Errorf("cannot create consumer on %s: %w", l.opts.Stream, err)
	}
	c := make(chan Msg, 256) // with the consumer's 64 MiB: bounded read-ahead
	s := &Subscription{C: c, stop: make(chan struct{})}
	cc, err := cons.Consume(func(m jetstream.Msg) {
		md, err := m.Metadata()
		if err != nil {
			l.log.Error("cannot read log message metadata", "err", err)
			return
		}
		select {
		case c <- Msg{Seq: md.Sequence.Stream, Time: md.Timestamp, Data: m.Data(), Pending: md.NumPending}:
		case <-s.stop:
		}
	}, jetstream.PullMaxMessagesWithBytesLimit(1024, 64<<20))
	if err != nil {
		return nil, fmt.Errorf("cannot consume %s: %w", l.opts.Stream, err)
	}
	s.cc = cc
	return s, nil
}

// Close flushes pending batches, waits for their acknowledgements (up to
// ctx), closes the connection and shuts the embedded server down.
func (l *Log) Close(ctx context.Context) error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil
	}
	l.closed = true
	l.mu.Unlock()
	l.signal()
	var err error
	select {
	case <-l.pubDone:
		select {
		case <-l.js.PublishAsyncComplete():
		case <-ctx.Done():
			err = fmt.Errorf("cannot flush log: %w", ctx.Err())
		}
	case <-ctx.Done():
		err = fmt.Errorf("cannot flush log: %w", ctx.Err())
	}
	l.abort()
	return err
}

func (l *Log) abort() {
	if l.nc != nil {
		l.nc.Close()
	}
	l.shutdownServer()
}

func (l *Log) shutdownServer() {
	if l.ns != nil {
		l.ns.Shutdown()
		l.ns.WaitForShutdown()
	}
}
