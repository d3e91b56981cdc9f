package main

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/cohortdb/cohort/bench/gen"
)

// system is one implementation of the query set. Every method must return
// the exact answer (they are cross-checked before timing) and honour ctx.
// Implementations may assume they are not called concurrently.
type system interface {
	// name is the label in the report, e.g. "cohort" or "duckdb-enum".
	name() string
	// q1 counts profiles with country = 'ES' AND age BETWEEN 20 AND 30
	// AND ltv > 100 AND last_seen > now - 7 days.
	q1(ctx context.Context) (int64, error)
	// q2 returns the person_ids of q1, in any order.
	q2(ctx context.Context) ([]int64, error)
	// q3 is SELECT country, COUNT(*) FROM profiles WHERE plan = 'pro'
	// GROUP BY country (groups with a zero count are absent).
	q3(ctx context.Context) (map[string]int64, error)
	// q4 counts persons with at least 3 purchase events in the last 30
	// days (ts >= now - 30 days).
	q4(ctx context.Context) (int64, error)
	// q5 counts persons with plan IN ('basic', 'pro', 'enterprise') AND
	// at least 3 purchase events in the last 30 days AND no
	// app_uninstalled event in the last 30 days.
	q5(ctx context.Context) (int64, error)
	// q6 counts profiles with email LIKE '%@gmail.com' (NULL emails do
	// not match).
	q6(ctx context.Context) (int64, error)
	// close releases the system's resources.
	close() error
}

// params are the constants of the query set, derived from the data set's
// Now so that every system answers the same deterministic question.
type params struct {
	Now int64 // µs since the epoch

	Q1Country       string  // "ES"
	Q1AgeLo         int     // 20 (inclusive)
	Q1AgeHi         int     // 30 (inclusive)
	Q1LTVMin        float64 // 100 (exclusive)
	Q1LastSeenAfter int64   // Now - 7 days (exclusive), µs

	Q3Plan string // "pro"

	Q4Event    string // "purchase"
	Q4MinCount int    // 3
	Q4Since    int64  // Now - 30 days (inclusive), µs

	Q5Plans   []string // basic, pro, enterprise
	Q5Exclude string   // "app_uninstalled", in the same 30-day window

	Q6Suffix string // "@gmail.com"
}

func newParams(o gen.Options) params {
	now := o.NowMicros()
	const day = int64(24 * time.Hour / time.Microsecond)
	return params{
		Now:       now,
		Q1Country: "ES", Q1AgeLo: 20, Q1AgeHi: 30, Q1LTVMin: 100, Q1LastSeenAfter: now - 7*day,
		Q3Plan:  "pro",
		Q4Event: "purchase", Q4MinCount: 3, Q4Since: now - 30*day,
		Q5Plans: []string{"basic", "pro", "enterprise"}, Q5Exclude: "app_uninstalled",
		Q6Suffix: "@gmail.com",
	}
}

// query is one entry of the query set.
type query struct {
	id, desc string
	run      func(ctx context.Context, s system) (answer, error)
}

// answer is a query result in a comparable form.
type answer struct {
	count  int64
	ids    []int64 // sorted
	groups map[string]int64
}

func countAnswer(f func(context.Context) (int64, error)) func(context.Context) (answer, error) {
	return func(ctx context.Context) (answer, error) {
		n, err := f(ctx)
		return answer{count: n}, err
	}
}

var queries = []query{
	{"Q1", "count: country='ES' AND age BETWEEN 20 AND 30 AND ltv > 100 AND last_seen > now-7d",
		func(ctx context.Context, s system) (answer, error) { return countAnswer(s.q1)(ctx) }},
	{"Q2", "person ids of Q1",
		func(ctx context.Context, s system) (answer, error) {
			ids, err := s.q2(ctx)
			ids = slices.Clone(ids)
			slices.Sort(ids)
			return answer{ids: ids, count: int64(len(ids))}, err
		}},
	{"Q3", "SELECT country, COUNT(*) WHERE plan='pro' GROUP BY country",
		func(ctx context.Context, s system) (answer, error) {
			g, err := s.q3(ctx)
			var n int64
			for _, v := range g {
				n += v
			}
			return answer{groups: g, count: n}, err
		}},
	{"Q4", "count persons with >= 3 purchase events in the last 30 days",
		func(ctx context.Context, s system) (answer, error) { return countAnswer(s.q4)(ctx) }},
	{"Q5", "Q4 AND plan IN ('basic','pro','enterprise') AND no app_uninstalled in the last 30 days",
		func(ctx context.Context, s system) (answer, error) { return countAnswer(s.q5)(ctx) }},
	{"Q6", "count: email LIKE '%@gmail.com'",
		func(ctx context.Context, s system) (answer, error) { return countAnswer(s.q6)(ctx) }},
}

// diff describes how got differs from want, or returns "".
func (want answer) diff(got answer) string {
	switch {
	case want.ids != nil || got.ids != nil:
		if slices.Equal(want.ids, got.ids) {
			return ""
		}
		return fmt.Sprintf("%d ids, want %d; first differences: %s", len(got.ids), len(want.ids), idDiff(want.ids, got.ids))
	case want.groups != nil || got.groups != nil:
		if maps.Equal(want.groups, got.groups) {
			return ""
		}
		var b strings.Builder
		keys := slices.Sorted(maps.Keys(want.groups))
		for _, k := range slices.Sorted(maps.Keys(got.groups)) {
			if _, ok := want.groups[k]; !ok {
				keys = append(keys, k)
			}
		}
		n := 0
		for _, k := range keys {
			if want.groups[k] != got.groups[k] && n < 10 {
				fmt.Fprintf(&b, " %q: got %d want %d;", k, got.groups[k], want.groups[k])
				n++
			}
		}
		return fmt.Sprintf("%d groups, want %d:%s", len(got.groups), len(want.groups), b.String())
	case want.count != got.count:
		return fmt.Sprintf("count %d, want %d", got.count, want.count)
	}
	return ""
}

func idDiff(want, got []int64) string {
	var b strings.Builder
	i, j, n := 0, 0, 0
	for (i < len(want) || j < len(got)) && n < 10 {
		switch {
		case j >= len(got) || (i < len(want) && want[i] < got[j]):
			fmt.Fprintf(&b, " missing %d;", want[i])
			i++
			n++
		case i >= len(want) || got[j] < want[i]:
			fmt.Fprintf(&b, " extra %d;", got[j])
			j++
			n++
		default:
			i++
			j++
		}
	}
	return b.String()
}
