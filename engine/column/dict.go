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
// Memory per entry is the string's bytes, an 8-byte offset and 4 bytes per
// index slot at a load of 3/8 to 3/4 (5.3-10.7 bytes per entry): far below a
// Go map[string]uint32.
type Dictionary struct {
	mu      sync.RWMutex // guards slots for lookups racing with inserts
	seed    maphash.Seed
	data    []byte   // all strings, concatenated
	offsets []uint64 // offsets[i]..offsets[i+1] is string i; len = n+1
	// slots is a linear-probing index of 2^k slots, homed by the hash's low
	// k bits; 0 = empty. A slot's low k bits hold code+1, which the 3/4
	// load bound keeps below 2^k; its other 32-k bits hold the hash's top
	// 32-k bits, so a probe passes over nearly every other string's slot
	// without reading offsets and data (two dependent cache misses and a
	// compare). Unique strings, such as a message ID per event, make most
	// lookups misses that cross several occupied slots. From 2^32 slots on
	// no hash bits fit and every slot on the path is compared.
	slots []uint32
	// old is the index before the last doubling while its entries move to
	// slots, a few per insert (migrateStep): rehashing every string at once
	// stalls the writer (743 ms at 12.6M entries), and the writer is the
	// ingest applier. Lookups probe slots, then old. nil when done.
	old   []uint32
	moved int // old slots already moved
}

// migrateStep is how many old slots each insert moves. The new index is
// twice the old one's size and 3/8 full when moving starts, so the 3/4
// entries of the old index must move within the next 3/4·old inserts: at
// least 4/3 slots per insert; 8 finishes after old/8 inserts.
const migrateStep = 8

// NewDictionary returns an empty dictionary.
func NewDictionary() *Dictionary {
	return &Dictionary{seed: maphash.MakeSeed(), offsets: []uint64{0}, slots: make([]uint32, 16)}
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
	h := maphash.String(d.seed, s) // the seed never changes: hash outside the lock
	d.mu.RLock()
	c, _, ok := d.lookup(s, h)
	d.mu.RUnlock()
	return c, ok
}

// Intern returns the code of s, adding it if absent. Writer only.
func (d *Dictionary) Intern(s string) uint32 {
	h := maphash.String(d.seed, s)
	c, slot, ok := d.lookup(s, h) // the writer's own reads need no lock
	if ok {
		return c
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.add(s, h, slot)
}

// internLocked is Intern for a writer that already holds d.mu.
func (d *Dictionary) internLocked(s string) uint32 {
	h := maphash.String(d.seed, s)
	c, slot, ok := d.lookup(s, h)
	if ok {
		return c
	}
	return d.add(s, h, slot)
}

func (d *Dictionary) get(code uint32) string {
	b := d.data[d.offsets[code]:d.offsets[code+1]]
	return unsafe.String(unsafe.SliceData(b), len(b))
}

// lookup finds s, whose hash is h. On a miss it returns the empty slot of
// d.slots that ended the probe, where s belongs until the next resize.
func (d *Dictionary) lookup(s string, h uint64) (code uint32, slot uint64, ok bool) {
	code, slot, ok = d.probe(d.slots, s, h)
	if !ok && d.old != nil {
		if c, _, found := d.probe(d.old, s, h); found {
			return c, slot, true
		}
	}
	return code, slot, ok
}

func (d *Dictionary) probe(slots []uint32, s string, h uint64) (code uint32, slot uint64, ok bool) {
	mask := uint64(len(slots) - 1)
	cmask := uint32(mask) // all ones from 2^32 slots on: no hash bits left
	tag := uint32(h>>32) &^ cmask
	for i := h & mask; ; i = (i + 1) & mask {
		e := slots[i]
		if e == 0 {
			return 0, i, false
		}
		if e&^cmask == tag {
			if c := e&cmask - 1; d.get(c) == s {
				return c, i, true
			}
		}
	}
}

// add appends s, absent and hashing to h, whose probe ended at the empty
// slot. The caller holds d.mu.
func (d *Dictionary) add(s string, h, slot uint64) uint32 {
	if d.old != nil {
		d.migrate(migrateStep)
		slot = freeSlot(d.slots, h) // moved entries may have taken slot
	}
	if len(d.offsets)*4 >= len(d.slots)*3 {
		d.migrate(len(d.old)) // only if inserts outran migrateStep
		d.old, d.moved = d.slots, 0
		d.slots = make([]uint32, 2*len(d.old))
		slot = freeSlot(d.slots, h)
	}
	code := uint32(len(d.offsets) - 1)
	d.data = append(d.data, s...)
	d.offsets = append(d.offsets, uint64(len(d.data)))
	d.slots[slot] = slotEntry(h, code, len(d.slots))
	return code
}

// migrate moves up to n more slots of d.old into d.slots. Entries stay in
// d.old too, so a lookup that probes both never misses one. The caller
// holds d.mu.
func (d *Dictionary) migrate(n int) {
	end := min(d.moved+n, len(d.old))
	for _, e := range d.old[d.moved:end] {
		if e == 0 {
			continue
		}
		c := e&uint32(len(d.old)-1) - 1
		h := maphash.String(d.seed, d.get(c))
		d.slots[freeSlot(d.slots, h)] = slotEntry(h, c, len(d.slots))
	}
	d.moved = end
	if end == len(d.old) {
		d.old, d.moved = nil, 0
	}
}

// resize rebuilds the index with size slots, a power of two large enough
// for the entries, at once (Reserve: a bulk restore that knows its size).
// It must rehash every string: a slot keeps only the hash bits above the
// index bits, and with linear probing an entry's slot need not be its
// home, so the bits that pick its new home are gone. The caller holds d.mu.
func (d *Dictionary) resize(size int) {
	d.old, d.moved = nil, 0
	slots := make([]uint32, size)
	for c := range uint32(len(d.offsets) - 1) {
		h := maphash.String(d.seed, d.get(c))
		slots[freeSlot(slots, h)] = slotEntry(h, c, size)
	}
	d.slots = slots
}

// freeSlot returns the first empty slot on the probe path of hash h.
func freeSlot(slots []uint32, h uint64) uint64 {
	mask := uint64(len(slots) - 1)
	i := h & mask
	for slots[i] != 0 {
		i = (i + 1) & mask
	}
	return i
}

// slotEntry is the slot of code, whose string hashes to h, in an index of
// nslots slots; see Dictionary.slots.
func slotEntry(h uint64, code uint32, nslots int) uint32 {
	return uint32(h>>32)&^uint32(nslots-1) | (code + 1)
}

// Bytes returns the dictionary's memory use.
func (d *Dictionary) Bytes() int64 {
	return int64(cap(d.data)) + int64(cap(d.offsets))*8 + int64(cap(d.slots)+cap(d.old))*4
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
