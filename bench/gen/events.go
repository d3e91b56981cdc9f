package gen

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Events is the generated events table, sorted by TS ascending; event_id
// of row i is i+1. Purchase properties are sparse: Purchases holds the
// (ascending) row indices of the purchase events, and Amount[j] and
// Currency[j] belong to row Purchases[j]; every other row has NULL
// amount and currency.
type Events struct {
	N int

	PersonID   []uint32 // 1..Profiles
	Name       []uint8  // NameDict codes (20 names)
	TS         []int64  // µs, ascending, within EventDays before Now
	Platform   []uint8  // PlatformDict codes (ios, android, web), Null8 = NULL (server-side events)
	AppVersion []uint8  // AppVersionDict codes (30), Null8 = NULL (web and server-side events)

	Purchases []uint32  // rows of the purchase events, ascending
	Amount    []float64 // amount of purchase Purchases[j]
	Currency  []uint8   // CurrencyDict code of purchase Purchases[j]

	NameDict, PlatformDict, AppVersionDict, CurrencyDict Dict
}

// EventRow is one event row; string fields point into the Events.
// A field whose Valid flag is false is NULL.
type EventRow struct {
	EventID         int64
	PersonID        int64
	Name            string
	TS              int64
	Platform        string
	PlatformValid   bool
	AppVersion      string
	AppVersionValid bool
	Amount          float64
	AmountValid     bool
	Currency        string
	CurrencyValid   bool
}

// Row copies row i into r without allocating. Rows of purchase events
// cost a binary search in Purchases.
func (e *Events) Row(i int, r *EventRow) {
	*r = EventRow{
		EventID:  int64(i) + 1,
		PersonID: int64(e.PersonID[i]),
		Name:     e.NameDict[e.Name[i]],
		TS:       e.TS[i],
	}
	if c := e.Platform[i]; c != Null8 {
		r.Platform, r.PlatformValid = e.PlatformDict[c], true
	}
	if c := e.AppVersion[i]; c != Null8 {
		r.AppVersion, r.AppVersionValid = e.AppVersionDict[c], true
	}
	if e.Name[i] == EventPurchase {
		if j, ok := slices.BinarySearch(e.Purchases, uint32(i)); ok {
			r.Amount, r.AmountValid = e.Amount[j], true
			r.Currency, r.CurrencyValid = e.CurrencyDict[e.Currency[j]], true
		}
	}
}

// SearchTS returns the first row with TS >= ts.
func (e *Events) SearchTS(ts int64) int {
	i, _ := slices.BinarySearch(e.TS, ts)
	return i
}

// Bytes returns the memory held by the columns (dictionaries excluded).
func (e *Events) Bytes() int64 {
	return int64(e.N)*(4+1+8+1+1) + int64(len(e.Purchases))*(4+8+1)
}

// Codes of some event names in NameDict.
var (
	EventPurchase       = uint8(theDicts.event.Code("purchase"))
	EventAppUninstalled = uint8(theDicts.event.Code("app_uninstalled"))
)

const streamEvents = 0x6576656e7473 // "events"

// eventBucket is the time span generated as one unit: one hour.
const eventBucket = usPerHour

// hourWeight is the share of traffic by hour of day (UTC).
var hourWeight = [24]float64{3, 2, 1.5, 1.2, 1.2, 1.5, 2.5, 4, 5, 5.5, 5.5, 5.5, 6, 6, 5.5, 5.5, 6, 6.5, 7.5, 8, 8, 7, 5.5, 4}

// bucketCounts spreads m events over the hourly buckets with a daily and
// weekly rhythm and a slight growth over the period.
func bucketCounts(m int, start int64) []int {
	nb := EventDays * 24
	w := make([]float64, nb)
	var sum float64
	for b := range w {
		t := time.UnixMicro(start + int64(b)*eventBucket).UTC()
		v := hourWeight[t.Hour()] * (0.85 + 0.3*float64(b)/float64(nb))
		if wd := t.Weekday(); wd == time.Saturday || wd == time.Sunday {
			v *= 1.15
		}
		w[b] = v
		sum += v
	}
	counts := make([]int, nb)
	var cum float64
	prev := 0
	for b := range w {
		cum += w[b]
		end := int(math.Round(float64(m) * cum / sum))
		if b == nb-1 {
			end = m
		}
		counts[b] = end - prev
		prev = end
	}
	return counts
}

// Event classes for platform rules.
var (
	serverSideEvents = eventSet("email_open", "email_click", "subscription_renewed")
	mobileOnlyEvents = eventSet("screen_view", "app_open", "push_open", "app_uninstalled")
	webOnlyEvents    = eventSet("page_view")
)

func eventSet(names ...string) [256]bool {
	var s [256]bool
	for _, n := range names {
		s[theDicts.event.Code(n)] = true
	}
	return s
}

// GenerateEvents generates opts.Events events for opts.Profiles persons.
func GenerateEvents(ctx context.Context, opts Options) (*Events, error) {
	if err := opts.validate(); err != nil {
		return nil, fmt.Errorf("cannot generate events: %w", err)
	}
	d := theDicts
	m := opts.Events
	e := &Events{
		N:          m,
		PersonID:   make([]uint32, m),
		Name:       make([]uint8, m),
		TS:         make([]int64, m),
		Platform:   make([]uint8, m),
		AppVersion: make([]uint8, m),

		NameDict: d.event, PlatformDict: d.platform, AppVersionDict: d.appVersion, CurrencyDict: d.currency,
	}
	start := opts.NowMicros() - EventDays*usPerDay
	counts := bucketCounts(m, start)
	offs := make([]int, len(counts)+1)
	for b, c := range counts {
		offs[b+1] = offs[b] + c
	}
	type purchases struct {
		idx    []uint32
		amount []float64
		cur    []uint8
	}
	parts := make([]purchases, len(counts))
	act := newActivity(opts.Profiles, opts.Seed)

	var next atomic.Int64
	var wg sync.WaitGroup
	for range runtime.GOMAXPROCS(0) {
		wg.Go(func() {
			var spacing []float64
			for {
				b := int(next.Add(1) - 1)
				if b >= len(counts) || ctx.Err() != nil {
					return
				}
				lo, hi := offs[b], offs[b+1]
				if lo == hi {
					continue
				}
				r := rand.New(rand.NewPCG(opts.Seed^streamEvents, uint64(b)))
				spacing = e.fillTimes(r, spacing, lo, hi, start+int64(b)*eventBucket)
				pp := &parts[b]
				pp.idx, pp.amount, pp.cur = e.fillBucket(r, lo, hi, act)
			}
		})
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("cannot generate events: %w", err)
	}
	np := 0
	for _, pp := range parts {
		np += len(pp.idx)
	}
	e.Purchases = make([]uint32, 0, np)
	e.Amount = make([]float64, 0, np)
	e.Currency = make([]uint8, 0, np)
	for _, pp := range parts {
		e.Purchases = append(e.Purchases, pp.idx...)
		e.Amount = append(e.Amount, pp.amount...)
		e.Currency = append(e.Currency, pp.cur...)
	}
	return e, nil
}

// fillTimes writes sorted uniform times in [t0, t0+eventBucket) to rows
// [lo, hi), in O(n) from normalised cumulative exponential spacings.
func (e *Events) fillTimes(r *rand.Rand, buf []float64, lo, hi int, t0 int64) []float64 {
	n := hi - lo
	buf = slices.Grow(buf[:0], n)[:n]
	var s float64
	for j := range buf {
		s += r.ExpFloat64()
		buf[j] = s
	}
	s += r.ExpFloat64()
	scale := float64(eventBucket) / s
	ts := e.TS[lo:hi]
	for j := range ts {
		v := t0 + int64(buf[j]*scale)
		ts[j] = v - v%1000 // millisecond precision, as SDKs send timestamps
	}
	return buf
}

// fillBucket fills persons, names and properties of rows [lo, hi) and
// returns the bucket's purchases.
func (e *Events) fillBucket(r *rand.Rand, lo, hi int, act activity) (idx []uint32, amount []float64, cur []uint8) {
	d := theDicts
	n := act.n
	heavyN := max(1, uint64(float64(n)*heavyShare))
	mediumN := max(heavyN, uint64(float64(n)*mediumShare))
	web := uint8(d.platform.Code("web"))
	for i := lo; i < hi; i++ {
		// Person: tier by the top 10 bits (50% heavy, 35% medium, 15%
		// light), then uniform within the tier by rank.
		u := r.Uint64()
		var k uint64
		switch t := u >> 54; {
		case t < 512:
			k = (uint64(uint32(u)) * heavyN) >> 32
		case t < 870 && mediumN < n:
			k = heavyN + (uint64(uint32(u))*(mediumN-heavyN))>>32
		default:
			k = mediumN + (uint64(uint32(u))*(n-mediumN))>>32
			if k >= n {
				k = (uint64(uint32(u)) * n) >> 32
			}
		}
		e.PersonID[i] = uint32(act.person(k)) + 1

		u = r.Uint64()
		name := uint8(d.eventS.pick(u))
		e.Name[i] = name
		plat := uint8(d.platformS.pick(u >> 16))
		switch {
		case serverSideEvents[name]:
			plat = Null8
		case mobileOnlyEvents[name] && plat == web:
			plat = uint8((u >> 32) & 1) // ios or android
		case webOnlyEvents[name]:
			plat = web
		}
		e.Platform[i] = plat
		if plat == Null8 || plat == web {
			e.AppVersion[i] = Null8
		} else {
			e.AppVersion[i] = uint8(d.appVersionS.pick(u >> 40))
		}
		if name == EventPurchase {
			idx = append(idx, uint32(i))
			a := math.Exp(3.3 + 0.9*r.NormFloat64())
			amount = append(amount, math.Round(a*100)/100)
			cur = append(cur, uint8(d.currencyS.pick(r.Uint64())))
		}
	}
	return idx, amount, cur
}
