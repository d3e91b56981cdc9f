package gen

import (
	"context"
	"math"
	"runtime"
	"slices"
	"testing"
	"time"
)

func testOptions() Options {
	o := DefaultOptions()
	o.Profiles, o.Events = 200_000, 1_000_000
	return o
}

func mustGenerate(t testing.TB, o Options) *Dataset {
	t.Helper()
	d, err := Generate(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestDeterminism(t *testing.T) {
	o := testOptions()
	a := mustGenerate(t, o)
	prev := runtime.GOMAXPROCS(1)
	b := mustGenerate(t, o)
	runtime.GOMAXPROCS(prev)
	if a.Profiles.Fingerprint() != b.Profiles.Fingerprint() {
		t.Error("profiles differ between runs with the same seed")
	}
	if a.Events.Fingerprint() != b.Events.Fingerprint() {
		t.Error("events differ between runs with the same seed")
	}
	o.Seed = 2
	c := mustGenerate(t, o)
	if a.Profiles.Fingerprint() == c.Profiles.Fingerprint() || a.Events.Fingerprint() == c.Events.Fingerprint() {
		t.Error("different seeds give the same data")
	}
}

func TestDictionaries(t *testing.T) {
	d := theDicts
	for name, dict := range map[string]Dict{
		"country": d.country, "city": d.city, "first": d.firstName, "last": d.lastName, "language": d.language,
		"event": d.event, "appVersion": d.appVersion, "company": d.company, "referral": d.referral,
	} {
		seen := map[string]bool{}
		for _, s := range dict {
			if seen[s] || s == "" {
				t.Errorf("%s dictionary: duplicate or empty %q", name, s)
			}
			seen[s] = true
		}
	}
	if n := len(d.country); n < 190 || n > 254 {
		t.Errorf("%d countries", n)
	}
	if n := len(d.city); n < 1800 || n > 2200 {
		t.Errorf("%d cities", n)
	}
	if n := len(d.event); n != 20 {
		t.Errorf("%d event names", n)
	}
}

func TestProfileDistributions(t *testing.T) {
	o := testOptions()
	d := mustGenerate(t, o)
	p := d.Profiles
	n := float64(p.N)
	share := func(f func(i int) bool) float64 {
		c := 0
		for i := range p.N {
			if f(i) {
				c++
			}
		}
		return float64(c) / n
	}
	es := uint8(p.CountryDict.Code("ES"))
	us := uint8(p.CountryDict.Code("US"))
	now := o.NowMicros()
	checks := []struct {
		name   string
		got    float64
		lo, hi float64
	}{
		{"country=ES", share(func(i int) bool { return p.Country[i] == es }), 0.025, 0.045},
		{"country=US", share(func(i int) bool { return p.Country[i] == us }), 0.14, 0.20},
		{"email NULL", share(func(i int) bool { return !p.Email.IsValid(i) }), 0.02, 0.04},
		{"gmail", share(func(i int) bool {
			return len(p.Email.At(i)) > 10 && p.Email.At(i)[len(p.Email.At(i))-10:] == "@gmail.com"
		}), 0.34, 0.44},
		{"age NULL", share(func(i int) bool { return p.Age[i] == 0 }), 0.02, 0.04},
		{"age 20..30", share(func(i int) bool { return p.Age[i] >= 20 && p.Age[i] <= 30 }), 0.15, 0.35},
		{"ltv 0", share(func(i int) bool { return p.LTV[i] == 0 }), 0.25, 0.35},
		{"ltv > 100", share(func(i int) bool { return p.LTV[i] > 100 }), 0.10, 0.35},
		{"last_seen 7d", share(func(i int) bool { return p.LastSeen[i] > now-7*usPerDay }), 0.10, 0.5},
		{"plan pro", share(func(i int) bool { return p.PlanDict[p.Plan[i]] == "pro" }), 0.07, 0.11},
		{"referral", share(func(i int) bool { return p.ReferralCode[i] != Null16 }), 0.04, 0.06},
		{"company", share(func(i int) bool { return p.Company[i] != Null16 }), 0.015, 0.025},
		{"nps", share(func(i int) bool { return p.NPSScore[i] >= 0 }), 0.007, 0.013},
		{"gender NULL", share(func(i int) bool { return p.Gender[i] == Null8 }), 0.03, 0.05},
	}
	for _, c := range checks {
		if c.got < c.lo || c.got > c.hi {
			t.Errorf("%s share %.4f not in [%.3f, %.3f]", c.name, c.got, c.lo, c.hi)
		}
	}
	for i := range p.N {
		if p.LastSeen[i] > now || p.LastSeen[i] <= now-LastSeenDays*usPerDay {
			t.Fatalf("row %d: last_seen %d outside the last %d days", i, p.LastSeen[i], LastSeenDays)
		}
		if p.FirstSeen[i] > p.SignupAt[i] || p.CreatedAt[i] < p.FirstSeen[i] || p.SignupAt[i]%usPerSec != 0 {
			t.Fatalf("row %d: inconsistent times", i)
		}
		if a := p.Age[i]; a != 0 && (a < 18 || a > 80) {
			t.Fatalf("row %d: age %d", i, a)
		}
		if p.LTV[i] < 0 || math.IsNaN(p.LTV[i]) {
			t.Fatalf("row %d: ltv %v", i, p.LTV[i])
		}
	}
	// Generate reconciles first_seen/last_seen with the events.
	e := d.Events
	lastEv := make([]int64, p.N+1)
	firstEv := make([]int64, p.N+1)
	for i := range e.N {
		id := e.PersonID[i]
		if firstEv[id] == 0 {
			firstEv[id] = e.TS[i]
		}
		lastEv[id] = e.TS[i]
	}
	for id := 1; id <= p.N; id++ {
		if firstEv[id] != 0 && (p.FirstSeen[id-1] > firstEv[id] || p.LastSeen[id-1] < lastEv[id]) {
			t.Fatalf("person %d: seen [%d, %d], events [%d, %d]", id, p.FirstSeen[id-1], p.LastSeen[id-1], firstEv[id], lastEv[id])
		}
	}
	if got := p.UserID.At(41); got != "u42" {
		t.Errorf("user_id of row 41 = %q", got)
	}
}

func TestEventDistributions(t *testing.T) {
	o := testOptions()
	e := mustGenerate(t, o).Events
	now := o.NowMicros()
	if !slices.IsSorted(e.TS) {
		t.Fatal("events not sorted by ts")
	}
	if e.TS[0] < now-EventDays*usPerDay || e.TS[e.N-1] >= now {
		t.Fatalf("ts range [%d, %d] outside the period", e.TS[0], e.TS[e.N-1])
	}
	var names [256]int
	perPerson := make([]int, o.Profiles+1)
	for i := range e.N {
		names[e.Name[i]]++
		p := e.PersonID[i]
		if p < 1 || int(p) > o.Profiles {
			t.Fatalf("row %d: person %d", i, p)
		}
		perPerson[p]++
	}
	pv, pur, un := names[e.NameDict.Code("page_view")], names[EventPurchase], names[EventAppUninstalled]
	if pv < e.N/6 || pur < e.N/70 || pur > e.N/35 || un == 0 || un > e.N/500 {
		t.Errorf("name counts: page_view %d purchase %d app_uninstalled %d of %d", pv, pur, un, e.N)
	}
	if len(e.Purchases) != pur || len(e.Amount) != pur || len(e.Currency) != pur {
		t.Fatalf("%d purchases but %d amounts", pur, len(e.Amount))
	}
	var r EventRow
	for i := range e.N {
		e.Row(i, &r)
		if (r.Name == "purchase") != r.AmountValid || r.AmountValid != r.CurrencyValid {
			t.Fatalf("row %d: %s with amount valid %v", i, r.Name, r.AmountValid)
		}
		if r.AmountValid && (r.Amount <= 0 || r.Currency == "") {
			t.Fatalf("row %d: amount %v %q", i, r.Amount, r.Currency)
		}
		if r.Platform == "web" && r.AppVersionValid {
			t.Fatalf("row %d: web event with app_version", i)
		}
	}
	// Heavy users: the top 5% of persons produce roughly half the events.
	slices.Sort(perPerson)
	slices.Reverse(perPerson)
	top := 0
	for _, c := range perPerson[:o.Profiles/20] {
		top += c
	}
	if f := float64(top) / float64(e.N); f < 0.4 || f > 0.6 {
		t.Errorf("top 5%% of persons produce %.2f of events", f)
	}
	// Daily rhythm: more events at 19h than at 4h UTC.
	var byHour [24]int
	for _, ts := range e.TS {
		byHour[time.UnixMicro(ts).UTC().Hour()]++
	}
	if byHour[19] < 3*byHour[4] {
		t.Errorf("no daily rhythm: %v", byHour)
	}
}

func TestRowAllocs(t *testing.T) {
	o := testOptions()
	o.Profiles, o.Events = 10_000, 100_000
	d := mustGenerate(t, o)
	var pr ProfileRow
	var er EventRow
	allocs := testing.AllocsPerRun(10, func() {
		for i := range d.Profiles.N {
			d.Profiles.Row(i, &pr)
		}
		for i := range d.Events.N {
			d.Events.Row(i, &er)
		}
	})
	if allocs != 0 {
		t.Errorf("Row allocates %v times per pass", allocs)
	}
	d.Profiles.Row(0, &pr)
	if pr.PersonID != 1 || pr.UserID != "u1" || pr.Country == "" {
		t.Errorf("row 0: %+v", pr)
	}
}

func TestValidate(t *testing.T) {
	for _, o := range []Options{{Profiles: -1}, {Events: 10}, {Profiles: MaxProfiles + 1}} {
		if _, err := Generate(context.Background(), o); err == nil {
			t.Errorf("%+v: no error", o)
		}
	}
	d := mustGenerate(t, Options{Profiles: 1, Events: 5, Seed: 3})
	if d.Events.N != 5 || d.Profiles.N != 1 {
		t.Fatal("tiny data set")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Generate(ctx, testOptions()); err == nil {
		t.Error("cancelled context: no error")
	}
}

func BenchmarkGenerate(b *testing.B) {
	o := DefaultOptions()
	b.ReportAllocs()
	for b.Loop() {
		mustGenerate(b, o)
	}
	b.ReportMetric(float64(o.Profiles)*float64(b.N)/b.Elapsed().Seconds(), "profiles+10events/s")
}
