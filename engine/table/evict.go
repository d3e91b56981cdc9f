package table

// Evict removes sealed chunk slot from the table, live rows included, and
// returns how many live rows it held. It is for rows kept elsewhere from
// now on (events older than the in-memory window, stored on disk): unlike
// Drop it does not require the chunk to be empty. The slot stays nil, so
// row ids of other chunks do not change; snapshots published before keep
// the chunk.
func (t *Table) Evict(slot int) int {
	if slot < 0 || slot >= len(t.slots) {
		panic("BUG: table: Evict of a slot that is not sealed")
	}
	c := t.slots[slot]
	if c == nil {
		return 0
	}
	n := c.Live()
	t.live -= int64(n)
	t.slots[slot] = nil
	return n
}

// Sealed returns the number of sealed chunk slots, dropped ones included:
// the tail's slot.
func (t *Table) Sealed() int { return len(t.slots) }
