package column

import "slices"

// pageBits sets the page size of Paged arrays: 64Ki entries.
const pageBits = 16

// Paged is a growable array split into fixed pages with copy-on-write
// publication: Freeze returns an immutable view, after which the writer's
// next Set on a page copies it first. It serves per-person arrays (person →
// row, person → canonical person) that readers need at a consistent point.
type Paged[T any] struct {
	pages  [][]T
	shared []bool // page is visible to a frozen view and must be copied before writing
	n      int
}

// Len returns the number of entries.
func (p *Paged[T]) Len() int { return p.n }

// Get returns entry i.
func (p *Paged[T]) Get(i int) T { return p.pages[i>>pageBits][i&(1<<pageBits-1)] }

// Append adds v at the end and returns its index.
func (p *Paged[T]) Append(v T) int {
	i := p.n
	if i>>pageBits == len(p.pages) {
		p.pages = append(p.pages, make([]T, 1<<pageBits))
		p.shared = append(p.shared, false)
	}
	p.n++
	p.Set(i, v)
	return i
}

// Set writes entry i, copying its page first if a view shares it.
func (p *Paged[T]) Set(i int, v T) {
	pi := i >> pageBits
	if p.shared[pi] {
		// Clone, not make+copy: a fresh page need not be zeroed first
		// (under uniform writes to many persons every batch copies most
		// pages, and the clearing was a tenth of the copy's cost).
		p.pages[pi] = slices.Clone(p.pages[pi])
		p.shared[pi] = false
	}
	p.pages[pi][i&(1<<pageBits-1)] = v
}

// Freeze returns an immutable view of the current contents.
func (p *Paged[T]) Freeze() PagedView[T] {
	for i := range p.shared {
		p.shared[i] = true
	}
	return PagedView[T]{pages: append([][]T(nil), p.pages...), n: p.n}
}

// Bytes returns the memory held by the pages.
func (p *Paged[T]) Bytes(elemSize int) int64 {
	return int64(len(p.pages)) << pageBits * int64(elemSize)
}

// PagedView is an immutable snapshot of a Paged array.
type PagedView[T any] struct {
	pages [][]T
	n     int
}

// Len returns the number of entries.
func (v PagedView[T]) Len() int { return v.n }

// Get returns entry i.
func (v PagedView[T]) Get(i int) T { return v.pages[i>>pageBits][i&(1<<pageBits-1)] }
