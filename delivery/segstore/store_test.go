package segstore_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/cohortdb/cohort/delivery/segstore"
	"github.com/cohortdb/cohort/engine/segment"
	ilog "github.com/cohortdb/cohort/ingest/log"
)

func open(t *testing.T) *segstore.Store {
	t.Helper()
	srv, err := ilog.StartEmbedded(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)
	nc, err := nats.Connect("", nats.InProcessServer(srv))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	s, err := segstore.Open(context.Background(), js, segstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestDefinitionsRoundTrip(t *testing.T) {
	ctx := context.Background()
	s := open(t)
	now := time.Now().UTC().Truncate(time.Microsecond)
	for _, info := range []segment.Info{
		{Name: "a", SQL: "SELECT person_id FROM profiles WHERE x = 1", Version: 1, CreatedAt: now, UpdatedAt: now},
		{Name: "a", SQL: "SELECT person_id FROM profiles WHERE x = 2", Version: 2, CreatedAt: now, UpdatedAt: now.Add(time.Second)},
		{Name: "b", SQL: "SELECT person_id FROM profiles", Version: 1, CreatedAt: now, UpdatedAt: now},
	} {
		if err := s.SaveDefinition(ctx, "ws1", info); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.SaveDefinition(ctx, "ws2", segment.Info{Name: "a", SQL: "q", Version: 7, CreatedAt: now, UpdatedAt: now}); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteDefinition(ctx, "ws1", "b"); err != nil {
		t.Fatal(err)
	}
	defs, err := s.Definitions(ctx)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]segstore.Stored{}
	for _, d := range defs {
		got[d.Workspace+"."+d.Name] = d
	}
	if len(got) != 2 || got["ws1.a"].Version != 2 || got["ws1.a"].SQL != "SELECT person_id FROM profiles WHERE x = 2" || got["ws2.a"].Version != 7 {
		t.Fatalf("definitions = %+v", defs)
	}
	if !got["ws1.a"].UpdatedAt.Equal(now.Add(time.Second)) {
		t.Fatalf("updated_at = %v", got["ws1.a"].UpdatedAt)
	}
}

func TestWatchResumes(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	s := open(t)
	at := time.Now().UTC()
	var ts []segment.Transition
	for i := range 9000 { // more than one message's worth
		ts = append(ts, segment.Transition{Segment: []string{"x", "y"}[i%2], Version: 1, Person: uint32(i + 1), Entered: i%3 != 0, At: at, Cause: segment.CauseIngest, LogSeq: uint64(i)})
	}
	if err := s.PublishTransitions(ctx, "ws", ts); err != nil {
		t.Fatal(err)
	}
	if err := s.PublishTransitions(ctx, "other", ts[:5]); err != nil {
		t.Fatal(err)
	}
	errStop := errors.New("stop")
	// Read segment x from the start, stop after 1000 events, resume from
	// the cursor and check every x event arrives exactly once, in order.
	var got []uint32
	var cursor segstore.Position
	start := segstore.Position{Seq: 1}
	err := s.Watch(ctx, "ws", "x", start, func(p segstore.Position, e segstore.Event) error {
		got = append(got, e.Person)
		cursor = p
		if len(got) == 1000 {
			return errStop
		}
		return nil
	})
	if !errors.Is(err, errStop) {
		t.Fatalf("watch: %v", err)
	}
	resume, err := segstore.ParsePosition(cursor.Next().String())
	if err != nil {
		t.Fatal(err)
	}
	err = s.Watch(ctx, "ws", "x", resume, func(p segstore.Position, e segstore.Event) error {
		if e.Segment != "x" {
			t.Fatalf("event of %s", e.Segment)
		}
		got = append(got, e.Person)
		if len(got) == 4500 {
			return errStop
		}
		return nil
	})
	if !errors.Is(err, errStop) {
		t.Fatalf("resumed watch: %v", err)
	}
	for i, p := range got {
		if want := uint32(2*i + 1); p != want {
			t.Fatalf("event %d: person %d, want %d", i, p, want)
		}
	}
}

func TestSizes(t *testing.T) {
	ctx := context.Background()
	s := open(t)
	t0 := time.Now().UTC().Truncate(time.Second)
	for i := range 5 {
		at := t0.Add(time.Duration(i) * time.Minute)
		if err := s.PublishSamples(ctx, "ws", []segment.Sample{{Segment: "a", Version: 1, At: at, Members: int64(10 * i)}, {Segment: "b", Version: 1, At: at, Members: 1}}); err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.Sizes(ctx, "ws", "a", t0.Add(time.Minute), t0.Add(4*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 || got[0].Members != 10 || got[2].Members != 30 {
		t.Fatalf("sizes = %+v", got)
	}
	all, err := s.Sizes(ctx, "ws", "", time.Time{}, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 10 {
		t.Fatalf("%d samples, want 10", len(all))
	}
	none, err := s.Sizes(ctx, "nows", "", time.Time{}, time.Time{})
	if err != nil || len(none) != 0 {
		t.Fatalf("sizes of an unknown workspace = %v, %v", none, err)
	}
}
