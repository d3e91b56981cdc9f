package norm

import (
	"sync"
	"sync/atomic"
)

// Attribute names are cached by (prefix, key): the same few keys arrive
// in every event. A names table holds the names under one prefix; each
// entry links to the table of the names under it, so flattening a nested
// object costs one lookup per key, with no (prefix, key) string built.
// Readers (every field of every request, on every core) load an immutable
// map without taking a lock; a new name publishes a copy. The cache is
// bounded: past maxCachedNames entries (tables included) nothing is added
// and further names are computed each time, so attacker-chosen keys cost
// time, not memory.
type names struct {
	prefix string
	cache  bool // false: a table outside the cache, never written
	m      atomic.Pointer[map[string]*nameEntry]
}

type nameEntry struct {
	name string
	sub  *names // the names under name, for nested objects; nil if uncached
}

// names returns the table of the names under e.
func (e *nameEntry) names() *names {
	if e.sub != nil {
		return e.sub
	}
	return &names{prefix: e.name}
}

const maxCachedNames = 4096

var (
	namesMu     sync.Mutex // serializes writers
	cachedNames atomic.Int64
	roots       = names{cache: true} // entries: prefix → its table
)

// rootNames returns the table of names under prefix.
func rootNames(prefix string) *names {
	if m := roots.m.Load(); m != nil {
		if e, ok := (*m)[prefix]; ok {
			return e.names()
		}
	}
	return roots.add(prefix, &nameEntry{name: prefix}).names()
}

// lookup returns the entry of key; the string(key) conversion of a map
// index does not allocate.
func (t *names) lookup(key []byte) *nameEntry {
	if m := t.m.Load(); m != nil {
		if e, ok := (*m)[string(key)]; ok {
			return e
		}
	}
	k := string(key)
	return t.add(k, &nameEntry{name: joinName(t.prefix, SnakeCase(k))})
}

// lookupString is lookup for a string key.
func (t *names) lookupString(key string) *nameEntry {
	if m := t.m.Load(); m != nil {
		if e, ok := (*m)[key]; ok {
			return e
		}
	}
	return t.add(key, &nameEntry{name: joinName(t.prefix, SnakeCase(key))})
}

func joinName(prefix, name string) string {
	switch {
	case prefix == "":
		return name
	case name == "":
		return prefix
	}
	return prefix + "_" + name
}

// add publishes e as key's entry unless the table is full or outside the
// cache, and returns the published entry.
func (t *names) add(key string, e *nameEntry) *nameEntry {
	if !t.cache || cachedNames.Load() >= maxCachedNames {
		return e
	}
	namesMu.Lock()
	defer namesMu.Unlock()
	old := t.m.Load()
	if old != nil {
		if e, ok := (*old)[key]; ok {
			return e
		}
	}
	if cachedNames.Load() >= maxCachedNames {
		return e
	}
	e.sub = &names{prefix: e.name, cache: true}
	m := make(map[string]*nameEntry, 1+lenOf(old))
	if old != nil {
		for k, v := range *old {
			m[k] = v
		}
	}
	m[key] = e
	t.m.Store(&m)
	cachedNames.Add(1)
	return e
}

func lenOf(m *map[string]*nameEntry) int {
	if m == nil {
		return 0
	}
	return len(*m)
}
