package profile_test

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	profilev1 "github.com/cohortdb/cohort/api/profile/v1"
	"github.com/cohortdb/cohort/delivery/internal/fixture"
	"github.com/cohortdb/cohort/delivery/profile"
	"github.com/cohortdb/cohort/engine"
	"github.com/cohortdb/cohort/engine/column"
	"github.com/cohortdb/cohort/engine/identity"
)

type memberships map[uint32][]string

func (m memberships) Of(ws string, p uint32) []string {
	if ws != fixture.Workspace {
		return nil
	}
	return m[p]
}

func newService(t *testing.T) (*fixture.Fixture, *profile.Service) {
	f := fixture.New(t)
	u1 := f.Person(t, fixture.UID("u1"))
	return f, profile.New(profile.Options{Engine: f.Eng, History: f.History, Memberships: memberships{u1: {"vip", "buyers"}}})
}

func code(err error) codes.Code { return status.Code(err) }

// TestGetProfileLookup finds the same person by every identifier, with and
// without a type.
func TestGetProfileLookup(t *testing.T) {
	f, s := newService(t)
	u1 := f.Person(t, fixture.UID("u1"))
	ctx := t.Context()
	for _, tc := range []struct {
		id, typ, matched string
	}{
		{"u1", "", "user_id"},
		{"ann@example.com", "", "email"},
		{"ANN@example.com", "", "email"}, // normalised as on ingest
		{"a1", "", "anonymous_id"},
		{"C-9", "", "external:crm"},
		{"C-9", "external:crm", "external:crm"},
		{"u1", "user_id", "user_id"},
		{strconv.Itoa(int(u1)), "person_id", "person_id"},
	} {
		p, err := s.GetProfile(ctx, &profilev1.GetProfileRequest{Workspace: fixture.Workspace, Id: tc.id, Type: tc.typ})
		if err != nil {
			t.Errorf("GetProfile(%q, %q): %v", tc.id, tc.typ, err)
			continue
		}
		if p.PersonId != u1 || p.Matched.GetType() != tc.matched {
			t.Errorf("GetProfile(%q, %q) = person %d matched %v; want %d matched %s", tc.id, tc.typ, p.PersonId, p.Matched, u1, tc.matched)
		}
	}
	// The person id of a merged member resolves to the canonical person.
	a1member := slices.DeleteFunc(slices.Clone(mustProfile(t, s, "u1").MemberIds), func(m uint32) bool { return m == u1 })
	if len(a1member) != 1 {
		t.Fatalf("members of u1: want u1 and a1's person, got %v", mustProfile(t, s, "u1").MemberIds)
	}
	p, err := s.GetProfile(ctx, &profilev1.GetProfileRequest{Workspace: fixture.Workspace, Id: strconv.Itoa(int(a1member[0])), Type: "person_id"})
	if err != nil || p.PersonId != u1 {
		t.Errorf("merged member's person id: %v, %v", p.GetPersonId(), err)
	}

	for _, tc := range []struct {
		ws, id, typ string
		want        codes.Code
	}{
		{fixture.Workspace, "nobody", "", codes.NotFound},
		{fixture.Workspace, "u1", "email", codes.NotFound},
		{fixture.Workspace, "C-9", "external:erp", codes.NotFound},
		{fixture.Workspace, "", "", codes.InvalidArgument},
		{fixture.Workspace, "x", "person_id", codes.InvalidArgument},
		{fixture.Workspace, "999999", "person_id", codes.NotFound},
		{"nope", "u1", "", codes.NotFound},
		{"", "u1", "", codes.InvalidArgument},
	} {
		_, err := s.GetProfile(ctx, &profilev1.GetProfileRequest{Workspace: tc.ws, Id: tc.id, Type: tc.typ})
		if code(err) != tc.want {
			t.Errorf("GetProfile(%q, %q, %q): %v; want %v", tc.ws, tc.id, tc.typ, err, tc.want)
		}
	}
}

func mustProfile(t *testing.T, s *profile.Service, id string) *profilev1.Profile {
	t.Helper()
	p, err := s.GetProfile(t.Context(), &profilev1.GetProfileRequest{Workspace: fixture.Workspace, Id: id})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestGetProfileContents checks identifiers, merges, traits, segments and
// the first events against the engine.
func TestGetProfileContents(t *testing.T) {
	f, s := newService(t)
	u1 := f.Person(t, fixture.UID("u1"))
	snap := f.WS.Snapshot()
	p := mustProfile(t, s, "u1")

	var ids []identity.ID
	for _, id := range p.Identifiers {
		ids = append(ids, identity.ID{Type: id.Type, Value: id.Value})
	}
	if want := snap.Graph.Identifiers(u1); !slices.Equal(ids, want) {
		t.Errorf("identifiers %v, want %v", ids, want)
	}
	for _, want := range []identity.ID{fixture.UID("u1"), fixture.Anon("a1"), fixture.Email("ann@example.com"), {Type: "external:crm", Value: "C-9"}} {
		if !slices.Contains(ids, want) {
			t.Errorf("identifiers %v lack %v", ids, want)
		}
	}
	if len(p.Merges) != 1 {
		t.Fatalf("merges: %v", p.Merges)
	}
	m := p.Merges[0]
	log := snap.Graph.MergeLog()
	if len(log) != 1 || m.FromPerson != log[0].From || m.IntoPerson != log[0].Into || m.Reason != log[0].Reason ||
		m.Source != "alias1" || !m.Time.AsTime().Equal(time.UnixMicro(fixture.At(5))) || m.Via.GetValue() != log[0].Via.Value {
		t.Errorf("merge %v, engine log %+v", m, log)
	}
	if want := []uint32{min(u1, m.FromPerson), max(u1, m.FromPerson)}; !slices.Equal(p.MemberIds, want) {
		t.Errorf("member ids %v, want %v", p.MemberIds, want)
	}
	wantTraits := map[string]*profilev1.Value{
		"plan":   {Kind: &profilev1.Value_StringValue{StringValue: "enterprise"}},
		"age":    {Kind: &profilev1.Value_IntValue{IntValue: 42}},
		"score":  {Kind: &profilev1.Value_FloatValue{FloatValue: 1.5}},
		"vip":    {Kind: &profilev1.Value_BoolValue{BoolValue: true}},
		"tags":   {Kind: &profilev1.Value_StringListValue{StringListValue: &profilev1.StringList{Values: []string{"a", "b"}}}},
		"signup": {Kind: &profilev1.Value_TimestampValue{TimestampValue: timestamppb.New(time.UnixMicro(fixture.At(-60)))}},
	}
	if len(p.Traits) != len(wantTraits) {
		t.Errorf("traits %v, want %v", p.Traits, wantTraits)
	}
	for k, want := range wantTraits {
		if got := p.Traits[k]; got.String() != want.String() {
			t.Errorf("trait %s = %v, want %v", k, got, want)
		}
	}
	// Core timestamps come from the profile row.
	chunk, row := snap.ProfileRow(u1)
	for name, got := range map[string]*timestamppb.Timestamp{
		engine.ColCreatedAt: p.CreatedAt, engine.ColFirstSeen: p.FirstSeen, engine.ColLastSeen: p.LastSeen, engine.ColUpdatedAt: p.UpdatedAt,
	} {
		d, _ := snap.Profiles.Schema.Lookup(name)
		v := chunk.Col(d.Index).Value(row, d)
		if v.Type != column.TypeTimestamp || got == nil || got.AsTime().UnixMicro() != v.I {
			t.Errorf("%s = %v, engine %v", name, got, v)
		}
	}
	if p.FirstSeen.AsTime().UnixMicro() != fixture.At(0) || p.LastSeen.AsTime().UnixMicro() != fixture.At(7) {
		t.Errorf("first/last seen %v %v", p.FirstSeen.AsTime(), p.LastSeen.AsTime())
	}
	if !slices.Equal(p.Segments, []string{"buyers", "vip"}) {
		t.Errorf("segments %v", p.Segments)
	}
	want := f.EventsOf(t, u1)
	if len(want) != 5 || len(p.Events) != 5 || p.NextEventsPageToken != "" {
		t.Fatalf("events: got %d (next %q), engine %d", len(p.Events), p.NextEventsPageToken, len(want))
	}
	for i, e := range p.Events {
		if e.EventId != want[i].ID || e.Name != want[i].Name || e.Time.AsTime().UnixMicro() != want[i].TS || e.PersonId != u1 {
			t.Errorf("event %d = %v, engine %+v", i, e, want[i])
		}
	}
	if p.Events[0].Properties["amount"].GetFloatValue() != 5 || p.Events[4].Properties["path"].GetStringValue() != "/p1" {
		t.Errorf("event properties: %v / %v", p.Events[0].Properties, p.Events[4].Properties)
	}
	// u2's profile shows none of u1's.
	p2 := mustProfile(t, s, "u2")
	if len(p2.Events) != 1 || len(p2.Merges) != 0 || len(p2.Segments) != 0 || p2.Traits["plan"].GetStringValue() != "pro" {
		t.Errorf("u2: %v", p2)
	}
}

// TestListEventsPaging pages through every event with each page size and
// compares the concatenation with the engine's events, newest first.
func TestListEventsPaging(t *testing.T) {
	f, s := newService(t)
	u1 := f.Person(t, fixture.UID("u1"))
	want := f.EventsOf(t, u1)
	for size := 1; size <= 6; size++ {
		var got []fixture.Event
		token := ""
		for pages := 0; ; pages++ {
			if pages > 10 {
				t.Fatal("paging does not end")
			}
			r, err := s.ListEvents(t.Context(), &profilev1.ListEventsRequest{Workspace: fixture.Workspace, Id: "a1", PageSize: uint32(size), PageToken: token})
			if err != nil {
				t.Fatal(err)
			}
			if r.PersonId != u1 || len(r.Events) > size {
				t.Fatalf("page: person %d, %d events", r.PersonId, len(r.Events))
			}
			for _, e := range r.Events {
				got = append(got, fixture.Event{ID: e.EventId, Name: e.Name, TS: e.Time.AsTime().UnixMicro(), Person: e.PersonId})
			}
			if token = r.NextPageToken; token == "" {
				break
			}
		}
		if !slices.Equal(got, want) {
			t.Errorf("page size %d: got %v, want %v", size, got, want)
		}
	}
	r, err := s.ListEvents(t.Context(), &profilev1.ListEventsRequest{Workspace: fixture.Workspace, Id: "u1", Name: "checkout"})
	if err != nil || len(r.Events) != 2 || r.Events[0].Name != "checkout" || r.Events[1].Name != "checkout" {
		t.Errorf("name filter: %v, %v", r, err)
	}
	for _, bad := range []string{"x", "AQ", "!!!"} {
		if _, err := s.ListEvents(t.Context(), &profilev1.ListEventsRequest{Workspace: fixture.Workspace, Id: "u1", PageToken: bad}); code(err) != codes.InvalidArgument {
			t.Errorf("page token %q: %v", bad, err)
		}
	}
}

// TestGetHistory checks profile history against the engine's change
// feed: the person's changes (merged members' included), newest first,
// paged, filtered by attribute and time.
func TestGetHistory(t *testing.T) {
	f, s := newService(t)
	u1 := f.Person(t, fixture.UID("u1"))
	snap := f.WS.Snapshot()
	var want []profile.Change
	for _, c := range f.History.All() {
		if snap.Graph.Canonical(c.Person) == u1 {
			want = append(want, c)
		}
	}
	slices.Reverse(want) // applied order: newest last; ties (same time) later first
	slices.SortStableFunc(want, func(a, b profile.Change) int { return -compareInt(a.At, b.At) })
	if len(want) < 8 {
		t.Fatalf("fixture has only %d changes for u1", len(want))
	}
	type row struct {
		attr, old, new string
		at             int64
	}
	rowOf := func(c *profilev1.AttributeChange) row {
		return row{c.Attribute, c.OldValue.String(), c.NewValue.String(), c.Time.AsTime().UnixMicro()}
	}
	wantRows := func(cs []profile.Change) []row {
		var out []row
		for _, c := range cs {
			out = append(out, row{c.Attribute, profile.ValueOf(c.Old).String(), profile.ValueOf(c.New).String(), c.At})
		}
		return out
	}
	for _, size := range []int{1, 2, 3, 100} {
		var got []row
		token := ""
		for pages := 0; ; pages++ {
			if pages > 50 {
				t.Fatal("paging does not end")
			}
			r, err := s.GetHistory(t.Context(), &profilev1.GetHistoryRequest{Workspace: fixture.Workspace, Id: "u1", PageSize: uint32(size), PageToken: token})
			if err != nil {
				t.Fatal(err)
			}
			for _, c := range r.Changes {
				got = append(got, rowOf(c))
			}
			if token = r.NextPageToken; token == "" {
				break
			}
		}
		if !slices.Equal(got, wantRows(want)) {
			t.Errorf("page size %d:\n got %v\nwant %v", size, got, wantRows(want))
		}
	}
	// Attribute filter and time range.
	r, err := s.GetHistory(t.Context(), &profilev1.GetHistoryRequest{
		Workspace: fixture.Workspace, Id: "u1", Attributes: []string{"plan"},
		StartTime: timestamppb.New(time.UnixMicro(fixture.At(1))), EndTime: timestamppb.New(time.UnixMicro(fixture.At(7))),
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Changes) != 1 || r.Changes[0].OldValue.GetStringValue() != "free" || r.Changes[0].NewValue.GetStringValue() != "pro" || r.Changes[0].Source != "m4" {
		t.Errorf("plan changes in [1, 7) min: %v", r.Changes)
	}
	// A new change after the first page does not shift later pages.
	first, err := s.GetHistory(t.Context(), &profilev1.GetHistoryRequest{Workspace: fixture.Workspace, Id: "u1", PageSize: 2})
	if err != nil {
		t.Fatal(err)
	}
	f.Apply(t, engine.Op{Kind: engine.OpIdentify, IDs: []identity.ID{fixture.UID("u1")}, At: fixture.At(-100), Source: "late", Traits: []engine.Field{{Name: "age", Value: column.Int(43)}}})
	rest, err := s.GetHistory(t.Context(), &profilev1.GetHistoryRequest{Workspace: fixture.Workspace, Id: "u1", PageSize: 1000, PageToken: first.NextPageToken})
	if err != nil {
		t.Fatal(err)
	}
	var got []row
	for _, c := range append(first.Changes, rest.Changes...) {
		got = append(got, rowOf(c))
	}
	if !slices.Equal(got, wantRows(want)) {
		t.Errorf("pages around a new change:\n got %v\nwant %v", got, wantRows(want))
	}

	if _, err := s.GetHistory(t.Context(), &profilev1.GetHistoryRequest{Workspace: fixture.Workspace, Id: "u1", PageToken: "bogus"}); code(err) != codes.InvalidArgument {
		t.Errorf("bad token: %v", err)
	}
	noHist := profile.New(profile.Options{Engine: f.Eng})
	if _, err := noHist.GetHistory(t.Context(), &profilev1.GetHistoryRequest{Workspace: fixture.Workspace, Id: "u1"}); code(err) != codes.FailedPrecondition {
		t.Errorf("no history source: %v", err)
	}
	if p, err := noHist.GetProfile(t.Context(), &profilev1.GetProfileRequest{Workspace: fixture.Workspace, Id: "u1"}); err != nil || len(p.Segments) != 0 {
		t.Errorf("no memberships: %v, %v", p.GetSegments(), err)
	}
}

func compareInt(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// TestErasedAndCanceled: an erased person is NotFound everywhere; a
// canceled context is Canceled.
func TestErasedAndCanceled(t *testing.T) {
	f, s := newService(t)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := s.GetHistory(ctx, &profilev1.GetHistoryRequest{Workspace: fixture.Workspace, Id: "u1"}); code(err) != codes.Canceled {
		t.Errorf("canceled history: %v", err)
	}
	f.Apply(t, engine.Op{Kind: engine.OpDelete, IDs: []identity.ID{fixture.UID("u1")}, At: fixture.At(9), Source: "erase"})
	for _, id := range []string{"u1", "a1", "ann@example.com"} {
		_, err := s.GetProfile(t.Context(), &profilev1.GetProfileRequest{Workspace: fixture.Workspace, Id: id})
		if code(err) != codes.NotFound {
			t.Errorf("erased %s: %v", id, err)
		}
		var st interface{ GRPCStatus() *status.Status }
		if !errors.As(err, &st) {
			t.Errorf("error %v is not a status", err)
		}
	}
	if _, err := s.ListEvents(t.Context(), &profilev1.ListEventsRequest{Workspace: fixture.Workspace, Id: "u1"}); code(err) != codes.NotFound {
		t.Errorf("erased events: %v", err)
	}
	if _, err := s.GetProfile(t.Context(), &profilev1.GetProfileRequest{Workspace: fixture.Workspace, Id: "u2"}); err != nil {
		t.Errorf("u2 after erasing u1: %v", err)
	}
}
