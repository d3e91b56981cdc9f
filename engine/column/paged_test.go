package column

import (
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
)

const pageSize = 1 << pageBits

func checkPagedView(t *testing.T, what string, v PagedView[int64], want []int64) {
	t.Helper()
	if v.Len() != len(want) {
		t.Fatalf("%s: Len %d, want %d", what, v.Len(), len(want))
	}
	for i, x := range want {
		if got := v.Get(i); got != x {
			t.Fatalf("%s: Get(%d) = %d, want %d", what, i, got, x)
		}
	}
}

// TestPagedModel interleaves Append, Set and Freeze against a slice model,
// across page boundaries, and checks at the end that every frozen view still
// shows the contents at its Freeze (copy-on-write).
func TestPagedModel(t *testing.T) {
	for _, seed := range []uint64{1, 2, 3} {
		r := rand.New(rand.NewPCG(seed, 0))
		var p Paged[int64]
		var model []int64
		type frozen struct {
			v    PagedView[int64]
			want []int64
		}
		var views []frozen
		views = append(views, frozen{p.Freeze(), nil}) // empty view
		target := 2*pageSize + 100 + r.IntN(pageSize)
		for p.Len() < target {
			switch k := r.IntN(100); {
			case k < 90:
				x := r.Int64()
				if i := p.Append(x); i != len(model) {
					t.Fatalf("Append returned %d, want %d", i, len(model))
				}
				model = append(model, x)
			case k < 99:
				if len(model) == 0 {
					continue
				}
				// Bias Sets toward page edges and the last entries.
				var i int
				switch r.IntN(3) {
				case 0:
					i = r.IntN(len(model))
				case 1:
					i = min(len(model)-1, (r.IntN(len(model)/pageSize+1))*pageSize+r.IntN(3)-1)
					i = max(i, 0)
				default:
					i = len(model) - 1 - r.IntN(min(len(model), 3))
				}
				x := r.Int64()
				p.Set(i, x)
				model[i] = x
			default:
				if len(views) < 12 {
					views = append(views, frozen{p.Freeze(), slices.Clone(model)})
				}
			}
			if p.Len() != len(model) {
				t.Fatalf("Len %d, want %d", p.Len(), len(model))
			}
		}
		// Views straddling each page boundary exactly.
		for i := range model {
			if p.Get(i) != model[i] {
				t.Fatalf("Get(%d) = %d, want %d", i, p.Get(i), model[i])
			}
			p.Set(i, ^model[i]) // overwrite everything: no view may notice
		}
		for k, f := range views {
			checkPagedView(t, "view "+string(rune('a'+k)), f.v, f.want)
		}
		if got, want := p.Bytes(8), int64((len(model)+pageSize-1)/pageSize)*pageSize*8; got != want {
			t.Fatalf("Bytes(8) = %d, want %d", got, want)
		}
	}
}

func TestPagedPageBoundary(t *testing.T) {
	for _, n := range []int{pageSize - 1, pageSize, pageSize + 1} {
		var p Paged[int64]
		for i := 0; i < n; i++ {
			p.Append(int64(i))
		}
		v := p.Freeze()
		want := make([]int64, n)
		for i := range want {
			want[i] = int64(i)
		}
		p.Append(-1)   // may open a new page
		p.Set(n-1, -2) // last entry of the view
		p.Set(0, -3)   // first page
		p.Set(p.Len()-1, -4)
		checkPagedView(t, "view", v, want)
		if p.Get(n-1) != -2 || p.Get(0) != -3 || p.Get(n) != -4 {
			t.Fatalf("n=%d: writer lost its writes", n)
		}
		v2 := p.Freeze()
		want = append(want, -4)
		want[n-1], want[0] = -2, -3
		checkPagedView(t, "second view", v2, want)
	}
}

// TestPagedConcurrentViews: readers check frozen views while the writer
// keeps appending and overwriting; run with -race.
func TestPagedConcurrentViews(t *testing.T) {
	type pub struct {
		v   PagedView[int64]
		gen int64
	}
	// Entry i holds gen*1e9 + i where gen is the number of Freezes before the
	// last write of i; every entry of a view has gen == the view's gen.
	var p Paged[int64]
	ch := make(chan pub, 16)
	var wg sync.WaitGroup
	errs := make(chan string, 4)
	for w := 0; w < 3; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for x := range ch {
				for i := 0; i < x.v.Len(); i += 1 + i%7 {
					if got := x.v.Get(i); got != x.gen*1e9+int64(i) {
						errs <- "view changed under a reader"
						return
					}
				}
			}
		}()
	}
	var gen int64
	for round := 0; round < 8; round++ {
		for i := 0; i < 20000; i++ {
			p.Append(gen*1e9 + int64(p.Len()))
		}
		for i := 0; i < p.Len(); i++ {
			p.Set(i, gen*1e9+int64(i))
		}
		ch <- pub{p.Freeze(), gen}
		gen++
	}
	close(ch)
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}
