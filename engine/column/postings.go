package column

// Postings is an inverted index of one sealed string vector: for each
// dictionary code, the rows that hold it, ascending. It is built on first
// use and lives as long as the vector, for low-cardinality columns (event
// names) whose predicates select few rows: reading a code's rows costs
// O(rows found) instead of a scan of the whole chunk.
type Postings struct {
	start []uint32 // rows of code c are pos[start[c]:start[c+1]]
	pos   []uint16
}

// postingsMaxCodes bounds the dictionary codes a vector may use to get
// postings: its start array is one uint32 per code.
const postingsMaxCodes = 1 << 12

// Rows returns the rows holding code, ascending.
func (p *Postings) Rows(code uint32) []uint16 {
	if int(code)+1 >= len(p.start) {
		return nil
	}
	return p.pos[p.start[code]:p.start[code+1]]
}

// AddCounts adds to cnt[code] the number of rows holding each code (cnt
// must be longer than the vector's largest code).
func (p *Postings) AddCounts(cnt []int64) {
	for c := 0; c+1 < len(p.start); c++ {
		cnt[c] += int64(p.start[c+1] - p.start[c])
	}
}

// Bytes returns the index's memory.
func (p *Postings) Bytes() int64 { return int64(len(p.start))*4 + int64(len(p.pos))*2 }

// BuiltPostings returns the vector's inverted index if some reader has
// built it, else nil: for uses that gain from it but should not pay its
// memory (2 bytes per row) on their own.
func (v *Vec) BuiltPostings() *Postings {
	if v == nil {
		return nil
	}
	return v.postings.Load()
}

// Postings returns the vector's inverted index, building it on first call,
// or nil for vectors that do not qualify (not a dense, sealed string vector
// of small codes). Safe for concurrent use.
func (v *Vec) Postings() *Postings {
	if v == nil || v.Type != TypeString || v.Pos != nil || v.Arrays == nil || v.N > ChunkRows ||
		v.MaxI >= postingsMaxCodes || (v.Width != 8 && v.Width != 16) {
		return nil
	}
	if p := v.postings.Load(); p != nil {
		return p
	}
	p := &Postings{start: make([]uint32, v.MaxI+2), pos: make([]uint16, 0, v.NonNil)}
	code := func(r int) (int, bool) {
		if v.Valid != nil && !v.Valid.Get(r) {
			return 0, false
		}
		if v.Width == 8 {
			return int(v.U8[r]), true
		}
		return int(v.U16[r]), true
	}
	for r := 0; r < v.N; r++ { // counting sort: sizes, prefix sums, fill
		if c, ok := code(r); ok {
			p.start[c+1]++
		}
	}
	for c := 1; c < len(p.start); c++ {
		p.start[c] += p.start[c-1]
	}
	p.pos = p.pos[:p.start[len(p.start)-1]]
	next := append([]uint32(nil), p.start[:len(p.start)-1]...)
	for r := 0; r < v.N; r++ {
		if c, ok := code(r); ok {
			p.pos[next[c]] = uint16(r)
			next[c]++
		}
	}
	if !v.postings.CompareAndSwap(nil, p) {
		return v.postings.Load()
	}
	return p
}
