package main

import (
	"context"
	"encoding/binary"
	"fmt"
	"math"
	"sync"
	"sync/atomic"

	"github.com/cohortdb/cohort/bench/gen"
)

// reference answers the queries with hand-written loops over the
// generator's typed slices, parallelised over threads goroutines: the
// practical physical limit of a Go engine on this data layout. String
// predicates are resolved to dictionary codes before the timed loops,
// exactly as a dictionary-encoded engine would.
type reference struct {
	p       *gen.Profiles
	e       *gen.Events
	prm     params
	threads int

	es, pro               uint8
	purchase, uninstalled uint8
	q5Plan                [256]bool
	ltvMinBits            uint64
	suffix8               uint64
	suffix2               uint16
	counters              [][]uint8 // per worker, one per person (+1)
	countryBuf            [][256]int64
	idBuf                 [][]int64
}

// chunkRows is the unit of work of the reference loops.
const chunkRows = 1 << 16

func newReference(d *gen.Dataset, prm params, threads int) (*reference, error) {
	p, e := d.Profiles, d.Events
	r := &reference{p: p, e: e, prm: prm, threads: threads}
	code := func(dict gen.Dict, s string) (uint8, error) {
		c := dict.Code(s)
		if c < 0 || c >= 255 {
			return 0, fmt.Errorf("cannot resolve %q in dictionary", s)
		}
		return uint8(c), nil
	}
	var err error
	if r.es, err = code(p.CountryDict, prm.Q1Country); err != nil {
		return nil, err
	}
	if r.pro, err = code(p.PlanDict, prm.Q3Plan); err != nil {
		return nil, err
	}
	if r.purchase, err = code(e.NameDict, prm.Q4Event); err != nil {
		return nil, err
	}
	if r.uninstalled, err = code(e.NameDict, prm.Q5Exclude); err != nil {
		return nil, err
	}
	for _, s := range prm.Q5Plans {
		c, err := code(p.PlanDict, s)
		if err != nil {
			return nil, err
		}
		r.q5Plan[c] = true
	}
	if prm.Q1LTVMin < 0 {
		return nil, fmt.Errorf("the ltv bit trick needs a non-negative bound")
	}
	r.ltvMinBits = math.Float64bits(prm.Q1LTVMin)
	if len(prm.Q6Suffix) != 10 {
		return nil, fmt.Errorf("the suffix kernel is specialised for 10-byte suffixes, not %q", prm.Q6Suffix)
	}
	r.suffix8 = binary.LittleEndian.Uint64([]byte(prm.Q6Suffix[:8]))
	r.suffix2 = binary.LittleEndian.Uint16([]byte(prm.Q6Suffix[8:]))
	r.counters = make([][]uint8, threads)
	for w := range r.counters {
		r.counters[w] = make([]uint8, p.N+1)
	}
	r.countryBuf = make([][256]int64, threads)
	r.idBuf = make([][]int64, threads)
	return r, nil
}

func (r *reference) name() string { return "reference" }
func (r *reference) close() error { return nil }

// parallel runs fn over [lo, hi) in chunks of chunkRows, on r.threads
// goroutines; fn gets the worker index. It stops early when ctx is done.
func (r *reference) parallel(ctx context.Context, lo, hi int, fn func(w, lo, hi int)) error {
	var next atomic.Int64
	next.Store(int64(lo))
	var wg sync.WaitGroup
	for w := range r.threads {
		wg.Go(func() {
			for ctx.Err() == nil {
				a := int(next.Add(chunkRows) - chunkRows)
				if a >= hi {
					return
				}
				fn(w, a, min(hi, a+chunkRows))
			}
		})
	}
	wg.Wait()
	return ctx.Err()
}

// b2u is 1 for true, 0 for false; the compiler makes it a SETcc.
func b2u(b bool) uint64 {
	var x uint64
	if b {
		x = 1
	}
	return x
}

// q1Chunk is the branch-free Q1 kernel over rows [lo, hi): age 0 (NULL)
// wraps around in the uint8 subtraction and fails; ltv is never negative,
// so comparing its IEEE bits as integers is exact.
func (r *reference) q1Chunk(lo, hi int) uint64 {
	p := r.p
	country, age, ltv, ls := p.Country[lo:hi], p.Age[lo:hi], p.LTV[lo:hi], p.LastSeen[lo:hi]
	age, ltv, ls = age[:len(country)], ltv[:len(country)], ls[:len(country)]
	es, ageLo, ageSpan := r.es, uint8(r.prm.Q1AgeLo), uint8(r.prm.Q1AgeHi-r.prm.Q1AgeLo)
	ltvMin, lsMin := r.ltvMinBits, r.prm.Q1LastSeenAfter
	var c uint64
	for i := range country {
		c += b2u(country[i] == es) & b2u(age[i]-ageLo <= ageSpan) &
			b2u(math.Float64bits(ltv[i]) > ltvMin) & b2u(ls[i] > lsMin)
	}
	return c
}

// q2Chunk appends the person ids of the Q1 matches in [lo, hi) to ids.
func (r *reference) q2Chunk(ids []int64, lo, hi int) []int64 {
	p := r.p
	country, age, ltv, ls := p.Country[lo:hi], p.Age[lo:hi], p.LTV[lo:hi], p.LastSeen[lo:hi]
	age, ltv, ls = age[:len(country)], ltv[:len(country)], ls[:len(country)]
	es, ageLo, ageSpan := r.es, uint8(r.prm.Q1AgeLo), uint8(r.prm.Q1AgeHi-r.prm.Q1AgeLo)
	ltvMin, lsMin := r.ltvMinBits, r.prm.Q1LastSeenAfter
	for i := range country {
		m := b2u(country[i] == es) & b2u(age[i]-ageLo <= ageSpan) &
			b2u(math.Float64bits(ltv[i]) > ltvMin) & b2u(ls[i] > lsMin)
		if m != 0 {
			ids = append(ids, int64(lo+i)+1)
		}
	}
	return ids
}

func (r *reference) q1(ctx context.Context) (int64, error) {
	var total atomic.Int64
	err := r.parallel(ctx, 0, r.p.N, func(_, lo, hi int) {
		total.Add(int64(r.q1Chunk(lo, hi)))
	})
	return total.Load(), err
}

func (r *reference) q2(ctx context.Context) ([]int64, error) {
	for w := range r.idBuf {
		r.idBuf[w] = r.idBuf[w][:0]
	}
	err := r.parallel(ctx, 0, r.p.N, func(w, lo, hi int) {
		r.idBuf[w] = r.q2Chunk(r.idBuf[w], lo, hi)
	})
	n := 0
	for _, ids := range r.idBuf {
		n += len(ids)
	}
	out := make([]int64, 0, n)
	for _, ids := range r.idBuf {
		out = append(out, ids...)
	}
	return out, err
}

func (r *reference) q3(ctx context.Context) (map[string]int64, error) {
	for w := range r.countryBuf {
		r.countryBuf[w] = [256]int64{}
	}
	err := r.parallel(ctx, 0, r.p.N, func(w, lo, hi int) {
		cnt := &r.countryBuf[w]
		country, plan := r.p.Country[lo:hi], r.p.Plan[lo:hi]
		plan = plan[:len(country)]
		pro := r.pro
		for i := range country {
			cnt[country[i]] += int64(b2u(plan[i] == pro))
		}
	})
	out := make(map[string]int64)
	for c := range 256 {
		var n int64
		for w := range r.countryBuf {
			n += r.countryBuf[w][c]
		}
		if n > 0 {
			out[r.p.CountryDict[c]] = n
		}
	}
	return out, err
}

// countEvents fills the per-worker counters from the events with
// ts >= since: the low 7 bits count purchases (saturating at 127), bit 7
// marks an uninstall when withUninstall is set.
func (r *reference) countEvents(ctx context.Context, withUninstall bool) error {
	if err := r.parallel(ctx, 0, len(r.counters[0]), func(_, lo, hi int) {
		for w := range r.counters {
			clear(r.counters[w][lo:hi])
		}
	}); err != nil {
		return err
	}
	e := r.e
	start := e.SearchTS(r.prm.Q4Since)
	var class [256]uint8
	class[r.purchase] = 1
	if withUninstall {
		class[r.uninstalled] = 2
	}
	return r.parallel(ctx, start, e.N, func(w, lo, hi int) {
		cnt := r.counters[w]
		name, person := e.Name[lo:hi], e.PersonID[lo:hi]
		person = person[:len(name)]
		for i := range name {
			switch class[name[i]] {
			case 0:
			case 1:
				p := person[i]
				if v := cnt[p]; v&0x7f != 0x7f {
					cnt[p] = v + 1
				}
			default:
				cnt[person[i]] |= 0x80
			}
		}
	})
}

// countPersons counts persons whose merged counters pass the test.
func (r *reference) countPersons(ctx context.Context, minCount uint8, planOK *[256]bool) (int64, error) {
	var total atomic.Int64
	plan := r.p.Plan
	err := r.parallel(ctx, 1, len(r.counters[0]), func(_, lo, hi int) {
		var c uint64
		for p := lo; p < hi; p++ {
			var sum uint32
			var flags uint8
			for w := range r.counters {
				v := r.counters[w][p]
				sum += uint32(v & 0x7f)
				flags |= v
			}
			ok := sum >= uint32(minCount) && flags&0x80 == 0
			if planOK != nil {
				ok = ok && planOK[plan[p-1]]
			}
			c += b2u(ok)
		}
		total.Add(int64(c))
	})
	return total.Load(), err
}

func (r *reference) q4(ctx context.Context) (int64, error) {
	if err := r.countEvents(ctx, false); err != nil {
		return 0, err
	}
	return r.countPersons(ctx, uint8(r.prm.Q4MinCount), nil)
}

func (r *reference) q5(ctx context.Context) (int64, error) {
	if err := r.countEvents(ctx, true); err != nil {
		return 0, err
	}
	return r.countPersons(ctx, uint8(r.prm.Q4MinCount), &r.q5Plan)
}

func (r *reference) q6(ctx context.Context) (int64, error) {
	var total atomic.Int64
	em := &r.p.Email
	s8, s2 := r.suffix8, r.suffix2
	err := r.parallel(ctx, 0, r.p.N, func(_, lo, hi int) {
		offs, data := em.Offsets[lo:hi+1], em.Data
		var c uint64
		for i := 1; i < len(offs); i++ {
			a, b := offs[i-1], offs[i]
			if b-a >= 10 {
				t := data[b-10 : b]
				c += b2u(binary.LittleEndian.Uint64(t) == s8 && binary.LittleEndian.Uint16(t[8:]) == s2)
			}
		}
		total.Add(int64(c))
	})
	return total.Load(), err
}
