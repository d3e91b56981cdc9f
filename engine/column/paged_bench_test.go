package column

import "testing"

// BenchmarkPagedCopyOnWrite is the writer's cost when every Set after a
// Freeze lands on a shared page (uniform writes over many persons, a
// snapshot published per batch): one page copy per Set.
func BenchmarkPagedCopyOnWrite(b *testing.B) {
	var p Paged[uint64]
	const n = 1 << 20
	for i := range n {
		p.Append(uint64(i))
	}
	b.SetBytes(8 << pageBits)
	b.ResetTimer()
	for i := range b.N {
		_ = p.Freeze()
		p.Set((i<<pageBits)%n, uint64(i))
	}
}
