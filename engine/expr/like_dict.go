package expr

import (
	"bytes"
	"runtime"
	"sync"

	"github.com/cohortdb/cohort/engine/column"
)

// likeDictMinParallel is the dictionary size from which LIKE evaluation is
// split over GOMAXPROCS goroutines.
const likeDictMinParallel = 1 << 16

// likeCodeSet evaluates a case-sensitive exact/prefix/suffix/contains LIKE
// over every dictionary entry with byte loops on the dictionary's raw
// storage (no per-entry call or string header), in parallel for large
// dictionaries. It reports false when the pattern needs the general matcher.
func likeCodeSet(view column.DictView, p *likePattern) ([]uint64, bool) {
	if p.fold || p.kind == likeGeneral || p.kind == likeAny {
		return nil, false
	}
	n := max(view.Len(), 0)
	tab := newCodeTab(n)
	data, off := view.Raw()
	lit := []byte(p.lit)
	parts := 1
	if n >= likeDictMinParallel {
		parts = runtime.GOMAXPROCS(0)
	}
	// Split on 64-code boundaries so no two goroutines write one word.
	step := (n/parts + 63) &^ 63
	var wg sync.WaitGroup
	for lo := 0; lo < n; lo += max(step, 64) {
		hi := min(lo+max(step, 64), n)
		wg.Add(1)
		go func() {
			defer wg.Done()
			likeRange(data, off, lit, p.kind, tab, lo, hi)
		}()
	}
	wg.Wait()
	return tab, true
}

func likeRange(data []byte, off []uint64, lit []byte, kind likeKind, tab []uint64, lo, hi int) {
	l := uint64(len(lit))
	for code := lo; code < hi; code++ {
		s, e := off[code], off[code+1]
		var ok bool
		switch kind {
		case likeExact:
			ok = e-s == l && bytes.Equal(data[s:e], lit)
		case likePrefix:
			ok = e-s >= l && bytes.Equal(data[s:s+l], lit)
		case likeSuffix:
			ok = e-s >= l && bytes.Equal(data[e-l:e], lit)
		case likeContains:
			ok = bytes.Contains(data[s:e], lit)
		}
		if ok {
			tab[code>>6] |= 1 << (code & 63)
		}
	}
}
