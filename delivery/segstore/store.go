package segstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/cohortdb/cohort/engine/segment"
)

// Names of the JetStream objects, and defaults of Options.
const (
	DefaultBucket       = "cohort_segments"
	DefaultEventsStream = "COHORT_SEGMENT_EVENTS"
	DefaultSizesStream  = "COHORT_SEGMENT_SIZES"
	eventsSubject       = "cohortseg.events."
	sizesSubject        = "cohortseg.sizes."
)

// Options configures a Store.
type Options struct {
	Bucket, EventsStream, SizesStream string
	EventsMaxAge                      time.Duration // how long enter/exit events are kept; default 7 days
	SizesMaxAge                       time.Duration // how long size samples are kept; default 400 days
	Replicas                          int           // on an external cluster; default 1
}

func (o *Options) fill() {
	if o.Bucket == "" {
		o.Bucket = DefaultBucket
	}
	if o.EventsStream == "" {
		o.EventsStream = DefaultEventsStream
	}
	if o.SizesStream == "" {
		o.SizesStream = DefaultSizesStream
	}
	if o.EventsMaxAge <= 0 {
		o.EventsMaxAge = 7 * 24 * time.Hour
	}
	if o.SizesMaxAge <= 0 {
		o.SizesMaxAge = 400 * 24 * time.Hour
	}
	if o.Replicas <= 0 {
		o.Replicas = 1
	}
}

// Store is the durable side of segments.
type Store struct {
	js     jetstream.JetStream
	kv     jetstream.KeyValue
	events jetstream.Stream
	sizes  jetstream.Stream
	opts   Options
}

// Stored is a definition as kept in the bucket.
type Stored struct {
	Workspace   string    `json:"workspace"`
	Name        string    `json:"name"`
	SQL         string    `json:"sql"`
	Description string    `json:"description,omitempty"`
	Version     int64     `json:"version"`
	CreatedAt   time.Time `json:"created_at"`
	UpdatedAt   time.Time `json:"updated_at"`
}

// Open creates or opens the bucket and streams.
func Open(ctx context.Context, js jetstream.JetStream, opts Options) (*Store, error) {
	opts.fill()
	kv, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:      opts.Bucket,
		Description: "Cohort segment definitions",
		History:     1,
		Storage:     jetstream.FileStorage,
		Replicas:    opts.Replicas,
	})
	if err != nil {
		return nil, fmt.Errorf("cannot open segment bucket %s: %w", opts.Bucket, err)
	}
	events, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:        opts.EventsStream,
		Description: "Cohort segment.entered / segment.exited events",
		Subjects:    []string{eventsSubject + ">"},
		Storage:     jetstream.FileStorage,
		MaxAge:      opts.EventsMaxAge,
		Replicas:    opts.Replicas,
		Duplicates:  2 * time.Minute,
	})
	if err != nil {
		return nil, fmt.Errorf("cannot open stream %s: %w", opts.EventsStream, err)
	}
	sizes, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:        opts.SizesStream,
		Description: "Cohort segment size samples",
		Subjects:    []string{sizesSubject + ">"},
		Storage:     jetstream.FileStorage,
		MaxAge:      opts.SizesMaxAge,
		Replicas:    opts.Replicas,
	})
	if err != nil {
		return nil, fmt.Errorf("cannot open stream %s: %w", opts.SizesStream, err)
	}
	return &Store{js: js, kv: kv, events: events, sizes: sizes, opts: opts}, nil
}

func defKey(ws, name string) string { return ws + "." + name }

// SaveDefinition stores a new or replaced definition of ws.
func (s *Store) SaveDefinition(ctx context.Context, ws string, info segment.Info) error {
	b, err := json.Marshal(Stored{Workspace: ws, Name: info.Name, SQL: info.SQL, Description: info.Description, Version: info.Version,
		CreatedAt: info.CreatedAt.UTC(), UpdatedAt: info.UpdatedAt.UTC()})
	if err != nil {
		return fmt.Errorf("cannot encode segment %s.%s: %w", ws, info.Name, err)
	}
	if _, err := s.kv.Put(ctx, defKey(ws, info.Name), b); err != nil {
		return fmt.Errorf("cannot store segment %s.%s: %w", ws, info.Name, err)
	}
	return nil
}

// DeleteDefinition removes a definition of ws.
func (s *Store) DeleteDefinition(ctx context.Context, ws, name string) error {
	if err := s.kv.Delete(ctx, defKey(ws, name)); err != nil && !errors.Is(err, jetstream.ErrKeyNotFound) {
		return fmt.Errorf("cannot delete segment %s.%s: %w", ws, name, err)
	}
	return nil
}

// Definitions returns every stored definition.
func (s *Store) Definitions(ctx context.Context) ([]Stored, error) {
	keys, err := s.kv.ListKeys(ctx)
	if err != nil {
		return nil, fmt.Errorf("cannot list segments: %w", err)
	}
	var out []Stored
	for k := range keys.Keys() {
		e, err := s.kv.Get(ctx, k)
		if errors.Is(err, jetstream.ErrKeyNotFound) || errors.Is(err, jetstream.ErrKeyDeleted) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("cannot read segment %s: %w", k, err)
		}
		var st Stored
		if err := json.Unmarshal(e.Value(), &st); err != nil {
			return nil, fmt.Errorf("cannot decode segment %s: %w", k, err)
		}
		out = append(out, st)
	}
	return out, nil
}

// Event is one enter/exit event as stored and streamed.
type Event struct {
	Segment string    `json:"segment"`
	Version int64     `json:"version"`
	Person  uint32    `json:"person_id"`
	Entered bool      `json:"entered"`
	At      time.Time `json:"at"`
	Cause   string    `json:"cause"`
	LogSeq  uint64    `json:"log_seq,omitempty"`
}

// maxEventsPerMsg keeps a message of events under JetStream's default 1 MB
// limit (an event is ~150 bytes of JSON).
const maxEventsPerMsg = 4000 // < 4096: Position.Uint64 packs the index in 12 bits

// PublishTransitions makes a batch of transitions of ws durable, in order:
// one stream message per up to maxEventsPerMsg events (a JetStream message
// per event would cost an fsync each with sync_interval always). It
// returns once JetStream acknowledged every message.
func (s *Store) PublishTransitions(ctx context.Context, ws string, ts []segment.Transition) error {
	subj := eventsSubject + ws
	var futures []jetstream.PubAckFuture
	for len(ts) > 0 {
		n := min(len(ts), maxEventsPerMsg)
		evs := make([]Event, n)
		for i, t := range ts[:n] {
			evs[i] = Event{Segment: t.Segment, Version: t.Version, Person: t.Person, Entered: t.Entered, At: t.At.UTC(), Cause: string(t.Cause), LogSeq: t.LogSeq}
		}
		b, err := json.Marshal(evs)
		if err != nil {
			return fmt.Errorf("cannot encode segment events of %s: %w", ws, err)
		}
		f, err := s.js.PublishAsync(subj, b)
		if err != nil {
			return fmt.Errorf("cannot publish segment events of %s: %w", ws, err)
		}
		futures = append(futures, f)
		ts = ts[n:]
	}
	for _, f := range futures {
		select {
		case <-f.Ok():
		case err := <-f.Err():
			return fmt.Errorf("cannot publish segment events of %s: %w", ws, err)
		case <-ctx.Done():
			return fmt.Errorf("cannot publish segment events of %s: %w", ws, ctx.Err())
		}
	}
	return nil
}

// Watch calls fn with the events of ws (of one segment when segment is
// not empty) from stream position from on (0: only new events), in order,
// until ctx ends or fn returns an error. cursor says where to resume: the
// stream sequence of the event's message and the event's index in it,
// encoded by Cursor.
func (s *Store) Watch(ctx context.Context, ws, seg string, from Position, fn func(pos Position, e Event) error) error {
	cfg := jetstream.OrderedConsumerConfig{FilterSubjects: []string{eventsSubject + ws}}
	if from.Seq == 0 {
		cfg.DeliverPolicy = jetstream.DeliverNewPolicy
	} else {
		cfg.DeliverPolicy = jetstream.DeliverByStartSequencePolicy
		cfg.OptStartSeq = from.Seq
	}
	c, err := s.js.OrderedConsumer(ctx, s.opts.EventsStream, cfg)
	if err != nil {
		return fmt.Errorf("cannot watch segment events of %s: %w", ws, err)
	}
	it, err := c.Messages()
	if err != nil {
		return fmt.Errorf("cannot watch segment events of %s: %w", ws, err)
	}
	stop := context.AfterFunc(ctx, it.Stop)
	defer stop()
	defer it.Stop()
	for {
		msg, err := it.Next()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("cannot watch segment events of %s: %w", ws, err)
		}
		md, err := msg.Metadata()
		if err != nil {
			return fmt.Errorf("cannot watch segment events of %s: %w", ws, err)
		}
		var evs []Event
		if err := json.Unmarshal(msg.Data(), &evs); err != nil {
			return fmt.Errorf("cannot decode segment events of %s at %d: %w", ws, md.Sequence.Stream, err)
		}
		for i, e := range evs {
			pos := Position{Seq: md.Sequence.Stream, Index: i}
			if pos.Seq == from.Seq && i <= from.Index-1 {
				continue // already delivered before the resume point
			}
			if seg != "" && e.Segment != seg {
				continue
			}
			if err := fn(pos, e); err != nil {
				return err
			}
		}
	}
}

// Tail returns the position after the last stored event: a Watch from
// it delivers every event published after Tail returned (and none
// before), unlike the zero position, which only starts once Watch has
// subscribed.
func (s *Store) Tail(ctx context.Context) (Position, error) {
	info, err := s.events.Info(ctx)
	if err != nil {
		return Position{}, fmt.Errorf("cannot read stream %s: %w", s.opts.EventsStream, err)
	}
	return Position{Seq: info.State.LastSeq + 1}, nil
}

// Position is a place in the events stream: a message and an event in it.
type Position struct {
	Seq   uint64
	Index int
}

// Uint64 packs p into one number (the API's sequence): the message's
// stream sequence times 4096 plus the event's index in it.
func (p Position) Uint64() uint64 { return p.Seq<<12 | uint64(p.Index) }

// PositionOf unpacks a number made by Position.Uint64.
func PositionOf(x uint64) Position { return Position{Seq: x >> 12, Index: int(x & 4095)} }

// Next returns the position after p, where a watch resumes.
func (p Position) Next() Position { return Position{Seq: p.Seq, Index: p.Index + 1} }

// String encodes p as a cursor: "seq:index".
func (p Position) String() string {
	return strconv.FormatUint(p.Seq, 10) + ":" + strconv.Itoa(p.Index)
}

// ParsePosition decodes a cursor made by Position.String ("" is the zero
// position: new events only).
func ParsePosition(s string) (Position, error) {
	if s == "" {
		return Position{}, nil
	}
	a, b, ok := strings.Cut(s, ":")
	seq, err1 := strconv.ParseUint(a, 10, 64)
	idx, err2 := strconv.Atoi(b)
	if !ok || err1 != nil || err2 != nil || idx < 0 {
		return Position{}, fmt.Errorf("cursor %q: want <sequence>:<index>", s)
	}
	return Position{Seq: seq, Index: idx}, nil
}

// PublishSamples records size samples of ws.
func (s *Store) PublishSamples(ctx context.Context, ws string, ss []segment.Sample) error {
	type sample struct {
		Segment string    `json:"segment"`
		Version int64     `json:"version"`
		At      time.Time `json:"at"`
		Members int64     `json:"members"`
	}
	out := make([]sample, len(ss))
	for i, x := range ss {
		out[i] = sample{x.Segment, x.Version, x.At.UTC(), x.Members}
	}
	b, err := json.Marshal(out)
	if err != nil {
		return fmt.Errorf("cannot encode segment sizes of %s: %w", ws, err)
	}
	if _, err := s.js.Publish(ctx, sizesSubject+ws, b); err != nil {
		return fmt.Errorf("cannot record segment sizes of %s: %w", ws, err)
	}
	return nil
}

// sampleSlack is how late a sample may be published after it was taken.
const sampleSlack = 10 * time.Minute

// Sizes returns the size samples of ws (of one segment when seg is not
// empty) taken in [from, to), oldest first.
func (s *Store) Sizes(ctx context.Context, ws, seg string, from, to time.Time) ([]segment.Sample, error) {
	info, err := s.sizes.Info(ctx)
	if err != nil {
		return nil, fmt.Errorf("cannot read segment sizes: %w", err)
	}
	if info.State.Msgs == 0 {
		return nil, nil
	}
	cfg := jetstream.OrderedConsumerConfig{FilterSubjects: []string{sizesSubject + ws}, DeliverPolicy: jetstream.DeliverAllPolicy}
	if !from.IsZero() {
		cfg.DeliverPolicy = jetstream.DeliverByStartTimePolicy
		// Samples are published when taken: the stream's own time prunes
		// the read, with slack for a sample published late.
		t := from.Add(-sampleSlack)
		cfg.OptStartTime = &t
	}
	c, err := s.js.OrderedConsumer(ctx, s.opts.SizesStream, cfg)
	if err != nil {
		return nil, fmt.Errorf("cannot read segment sizes of %s: %w", ws, err)
	}
	last := info.State.LastSeq
	var out []segment.Sample
	for {
		batch, err := c.FetchNoWait(512)
		if err != nil {
			return nil, fmt.Errorf("cannot read segment sizes of %s: %w", ws, err)
		}
		n := 0
		done := false
		for msg := range batch.Messages() {
			n++
			md, err := msg.Metadata()
			if err != nil {
				return nil, fmt.Errorf("cannot read segment sizes of %s: %w", ws, err)
			}
			var ss []struct {
				Segment string    `json:"segment"`
				Version int64     `json:"version"`
				At      time.Time `json:"at"`
				Members int64     `json:"members"`
			}
			if err := json.Unmarshal(msg.Data(), &ss); err != nil {
				return nil, fmt.Errorf("cannot decode segment sizes of %s at %d: %w", ws, md.Sequence.Stream, err)
			}
			for _, x := range ss {
				if (seg == "" || x.Segment == seg) && !x.At.Before(from) && (to.IsZero() || x.At.Before(to)) {
					out = append(out, segment.Sample{Segment: x.Segment, Version: x.Version, At: x.At, Members: x.Members})
				}
				if !to.IsZero() && !x.At.Before(to) {
					done = true
				}
			}
			if md.Sequence.Stream >= last {
				done = true
			}
		}
		if err := batch.Error(); err != nil {
			return nil, fmt.Errorf("cannot read segment sizes of %s: %w", ws, err)
		}
		if done || n == 0 {
			return out, nil
		}
	}
}
