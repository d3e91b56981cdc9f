package identity

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
)

// TestViewsWhileWriting reads frozen views from several goroutines while the
// writer resolves, merges and erases; run with -race. Each reader checks
// that its view is self-consistent and that it does not change under it.
func TestViewsWhileWriting(t *testing.T) {
	g := NewGraph(DefaultRules())
	var cur atomic.Pointer[View]
	cur.Store(g.Freeze())
	var stop atomic.Bool
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for r := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; !stop.Load(); i++ {
				v := cur.Load()
				if err := checkFrozen(v, r+i); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	const batches, perBatch = 200, 50
	for b := range batches {
		for i := range perBatch {
			n := b*perBatch + i
			var err error
			switch n % 5 {
			case 0, 1:
				_, err = g.Resolve(ids(a(fmt.Sprint("a", n))), int64(n), "m")
			case 2:
				_, err = g.Resolve(ids(a(fmt.Sprint("a", n-1)), a(fmt.Sprint("a", n-2))), int64(n), "m")
			case 3:
				_, err = g.Resolve(ids(a(fmt.Sprint("a", n-1)), u(fmt.Sprint("u", n%97)), e(fmt.Sprint("x", n%31, "@y"))), int64(n), "m")
			case 4:
				if n%45 == 4 {
					if p, ok := g.Lookup(a(fmt.Sprint("a", n-4))); ok {
						g.Erase(p)
					}
				}
				_, err = g.Resolve(ids(u(fmt.Sprint("u", n%89)), a(fmt.Sprint("a", n))), int64(n), "m")
			}
			if err != nil && n%5 != 2 {
				t.Fatal(err)
			}
		}
		cur.Store(g.Freeze())
	}
	stop.Store(true)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	checkInvariants(t, g)
}

func checkFrozen(v *View, salt int) error {
	n := v.Persons()
	src := make([]uint32, 0, 64)
	for p := uint32(salt % 7); p <= uint32(n); p += 7 {
		src = append(src, p)
		c := v.Canonical(p)
		if p != 0 && (c == 0 || v.Canonical(c) != c) {
			return fmt.Errorf("view: canonical of %d is %d, of that %d", p, c, v.Canonical(c))
		}
		ids := v.Identifiers(p)
		users := 0
		for _, id := range ids {
			if id.Type == TypeUserID {
				users++
			}
			if q, ok := v.Lookup(id); !ok || q != c {
				return fmt.Errorf("view: %s of person %d looks up to %d,%v", id, c, q, ok)
			}
		}
		if users > 1 {
			return fmt.Errorf("view: person %d has %d user ids", c, users)
		}
		if len(src) == cap(src) {
			break
		}
	}
	dst := make([]uint32, len(src))
	v.MapCanonical(dst, src)
	for i, p := range src {
		if dst[i] != v.Canonical(p) {
			return fmt.Errorf("view: MapCanonical(%d) = %d, Canonical %d", p, dst[i], v.Canonical(p))
		}
	}
	if n2 := v.Persons(); n2 != n {
		return fmt.Errorf("view changed: %d persons then %d", n, n2)
	}
	for _, m := range v.MergeLog() {
		if m.Reason == "" || v.Canonical(m.From) != v.Canonical(m.Into) {
			return fmt.Errorf("view: merge %+v not reflected", m)
		}
	}
	return nil
}
