package column

// SealPermuted seals the builder's first n rows in the order perm gives:
// row i of the sealed vector is row perm[i] of the builder. It returns nil
// when every row is NULL.
func (b *Builder) SealPermuted(n int, perm []int32) *Vec {
	b.PadTo(n) // columns are padded with NULLs lazily
	src := b.Peek()
	if src == nil {
		return nil
	}
	nb := NewBuilder(b.Type)
	for _, r := range perm[:n] {
		nb.AppendFrom(src, int(r))
	}
	return nb.Seal(n)
}

// ClusterOrder returns the stable permutation that sorts the builder's first
// n rows by dictionary code (NULLs first): rows of one code become
// contiguous and keep their arrival order. The builder must hold strings.
func (b *Builder) ClusterOrder(n int) []int32 {
	if b.Type != TypeString {
		panic("BUG: column: ClusterOrder on a " + b.Type.String() + " column")
	}
	b.PadTo(n)
	maxCode := uint32(0)
	for r := 0; r < n; r++ {
		if b.valid.Get(r) {
			maxCode = max(maxCode, b.u32[r])
		}
	}
	// Counting sort: slot 0 is NULL, slot c+1 is code c.
	start := make([]int32, int(maxCode)+3)
	key := func(r int) int {
		if !b.valid.Get(r) {
			return 0
		}
		return int(b.u32[r]) + 1
	}
	for r := 0; r < n; r++ {
		start[key(r)+1]++
	}
	for i := 1; i < len(start); i++ {
		start[i] += start[i-1]
	}
	perm := make([]int32, n)
	for r := 0; r < n; r++ {
		k := key(r)
		perm[start[k]] = int32(r)
		start[k]++
	}
	return perm
}
