package engine

import (
	"math/rand/v2"
	"strconv"
	"testing"
	"time"

	"github.com/cohortdb/cohort/engine/column"
	"github.com/cohortdb/cohort/engine/expr"
	"github.com/cohortdb/cohort/engine/identity"
)

// TestSeenInPlace: first_seen/last_seen of profiles in sealed chunks are
// updated in place (not as new row versions). Every snapshot must still
// show the values as of its batch, and range predicates on last_seen must
// count what a model counts, before and after later batches.
func TestSeenInPlace(t *testing.T) {
	const persons = column.ChunkRows + 3000 // one sealed chunk and a tail
	w := NewWorkspace("seen", identity.DefaultRules())
	ops := make([]Op, 0, persons)
	first := make([]int64, persons)
	last := make([]int64, persons)
	for i := range persons {
		at := us(time.Duration(i) * time.Millisecond)
		ops = append(ops, identify(time.Duration(i)*time.Millisecond, []identity.ID{uid(strconv.Itoa(i))}, f("n", column.Int(int64(i)))))
		first[i], last[i] = at, at
	}
	mustApply(t, w, ops...)
	r := rand.New(rand.NewPCG(3, 3))
	type state struct {
		s           *Snapshot
		first, last []int64
	}
	var states []state
	for batch := range 8 {
		ops = ops[:0]
		for range 5000 {
			i := r.IntN(persons)
			d := time.Duration(persons+batch*10000+r.IntN(10000)) * time.Millisecond
			if r.IntN(10) == 0 {
				d = -time.Duration(r.IntN(1000)) * time.Hour // an old event: first_seen moves back
			}
			ops = append(ops, track(d, []identity.ID{uid(strconv.Itoa(i))}, "e"))
			first[i], last[i] = min(first[i], us(d)), max(last[i], us(d))
		}
		mustApply(t, w, ops...)
		states = append(states, state{w.Snapshot(), append([]int64(nil), first...), append([]int64(nil), last...)})
	}
	if n := w.Snapshot().Profiles.Live; n != persons {
		t.Fatalf("%d live profile rows, want %d (one per person)", n, persons)
	}
	rows := 0
	for _, c := range w.Snapshot().Profiles.Chunks {
		rows += c.Rows
	}
	if rows > persons+20000 { // row versions only for persons whose row is in the tail
		t.Fatalf("profiles hold %d rows for %d persons: sealed rows got new versions instead of in-place updates", rows, persons)
	}
	for k, st := range states {
		pd, _ := st.s.Profiles.Schema.Lookup("n")
		fd, _ := st.s.Profiles.Schema.Lookup(ColFirstSeen)
		ld, _ := st.s.Profiles.Schema.Lookup(ColLastSeen)
		seen := 0
		for _, c := range st.s.Profiles.Chunks {
			for o := 0; o < c.Rows; o++ {
				if c.Del != nil && c.Del.Get(o) {
					continue
				}
				i, _ := c.Col(pd.Index).Int(o)
				fv, _ := c.Col(fd.Index).Int(o)
				lv, _ := c.Col(ld.Index).Int(o)
				if fv != st.first[i] || lv != st.last[i] {
					t.Fatalf("snapshot %d person %d: seen %d..%d, want %d..%d", k, i, fv, lv, st.first[i], st.last[i])
				}
				seen++
			}
		}
		if seen != persons {
			t.Fatalf("snapshot %d: %d profile rows, want %d", k, seen, persons)
		}
		for _, cut := range []int64{us(0), us(time.Duration(persons) * time.Millisecond), us(time.Duration(persons+k*10000+5000) * time.Millisecond)} {
			want := int64(0)
			for i := range persons {
				if st.last[i] >= cut {
					want++
				}
			}
			got := count(t, st.s, Profiles, Where{expr.Cmp{Col: ColLastSeen, Op: expr.Ge, Val: expr.Lit(column.Micros(cut))}})
			if got != want {
				t.Fatalf("snapshot %d: last_seen >= %d counts %d, want %d", k, cut, got, want)
			}
		}
	}
}
