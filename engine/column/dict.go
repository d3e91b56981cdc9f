package column

import (
	"hash/maphash"
	"sync"
	"unsafe"
)

// Dictionary is an append-only string dictionary: each distinct string gets
// the next code, and codes never change. One writer inserts; readers use a
// DictView captured at publication time and never take a lock to decode, and
// take a read lock only to look a string up.
//
// Memory per entry is the string's bytes, an 8-byte offset and ~5 bytes of
// open-addressing index: far below a Go map[string]uint32.
type Dictionary struct {
	mu      sync.RWMutex // guards table for lookups racing with inserts
	seed    maphash.Seed
	data    []byte   // all strings, concatenated
	offsets []uint64 // offsets[i]..offsets[i+1] is string i; len = n+1
	table   []uint32 // code+1 per slot, 0 = empty; len is a power of two
}

// NewDictionary returns an empty dictionary.
func NewDictionary() *Dictionary {
	return &Dictionary{seed: maphash.MakeSeed(), offsets: []uint64{0}, table: make([]uint32, 16)}
}

// Len returns the number of entries.
func (d *Dictionary) Len() int { return len(d.offsets) - 1 }

// View returns an immutable view of the current entries. Safe for
// concurrent use with the writer.
func (d *Dictionary) View() DictView {
	d.mu.RLock()
	defer d.mu.RUnlock()
	n := len(d.offsets) - 1
	return DictView{data: d.data[:d.offsets[n]], offsets: d.offsets[:n+1], dict: d}
}

// Code returns the code of s and whether it exists. Safe for concurrent use
// with the writer.
func (d *Dictionary) Code(s string) (uint32, bool) {
	d.mu.RLock()
	c, ok := d.find(s)
	d.mu.RUnlock()
	return c, ok
}

// Intern returns the code of s, adding it if absent. Writer only.
func (d *Dictionary) Intern(s string) uint32 {
	if c, ok := d.find(s); ok { // the writer's own reads need no lock
		return c
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if (len(d.offsets))*4 >= len(d.table)*3 {
		d.grow()
	}
	code := uint32(len(d.offsets) - 1)
	d.data = append(d.data, s...)
	d.offsets = append(d.offsets, uint64(len(d.data)))
	d.insertSlot(s, code)
	return code
}

func (d *Dictionary) get(code uint32) string {
	b := d.data[d.offsets[code]:d.offsets[code+1]]
	return unsafe.String(unsafe.SliceData(b), len(b))
}

func (d *Dictionary) find(s string) (uint32, bool) {
	mask := uint64(len(d.table) - 1)
	for i := maphash.String(d.seed, s) & mask; ; i = (i + 1) & mask {
		e := d.table[i]
		if e == 0 {
			return 0, false
		}
		if d.get(e-1) == s {
			return e - 1, true
		}
	}
}

func (d *Dictionary) insertSlot(s string, code uint32) {
	mask := uint64(len(d.table) - 1)
	i := maphash.String(d.seed, s) & mask
	for d.table[i] != 0 {
		i = (i + 1) & mask
	}
	d.table[i] = code + 1
}

func (d *Dictionary) grow() {
	d.table = make([]uint32, len(d.table)*2)
	for c := 0; c < len(d.offsets)-1; c++ {
		d.insertSlot(d.get(uint32(c)), uint32(c))
	}
}

// Bytes returns the dictionary's memory use.
func (d *Dictionary) Bytes() int64 {
	return int64(cap(d.data)) + int64(cap(d.offsets))*8 + int64(cap(d.table))*4
}

// DictView is an immutable prefix of a Dictionary.
type DictView struct {
	data    []byte
	offsets []uint64
	dict    *Dictionary
}

// Len returns the number of entries in the view.
func (v DictView) Len() int { return len(v.offsets) - 1 }

// Get returns the string of code. The string shares the dictionary's memory
// and stays valid for the life of the dictionary.
func (v DictView) Get(code uint32) string {
	b := v.data[v.offsets[code]:v.offsets[code+1]]
	return unsafe.String(unsafe.SliceData(b), len(b))
}

// Code looks s up; codes past the view's length are reported absent.
func (v DictView) Code(s string) (uint32, bool) {
	if v.dict == nil {
		return 0, false
	}
	c, ok := v.dict.Code(s)
	if !ok || int(c) >= v.Len() {
		return 0, false
	}
	return c, true
}

// Raw returns the view's concatenated string bytes and offsets (string i is
// data[offsets[i]:offsets[i+1]]), for kernels that scan a whole dictionary.
// Both are read-only.
func (v DictView) Raw() (data []byte, offsets []uint64) { return v.data, v.offsets }
