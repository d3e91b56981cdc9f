package norm

import (
	"bytes"
	"encoding/json"
	"slices"

	"github.com/cohortdb/cohort/engine"
	"github.com/cohortdb/cohort/engine/column"
)

// DocObject is Object for the object node obj of d: the same fields in
// the same order, or the same error. Strings are copied: nothing appended
// refers to d.
func (f Flattener) DocObject(dst []engine.Field, d *Doc, obj Node, prefix, path string) ([]engine.Field, error) {
	return f.docObject(dst, d, obj, rootNames(prefix), &docPath{base: path}, 0, nil)
}

// DocObjectExcept is ObjectExcept for the object node obj of d.
func (f Flattener) DocObjectExcept(dst []engine.Field, d *Doc, obj Node, prefix, path string, except ...string) ([]engine.Field, error) {
	return f.docObject(dst, d, obj, rootNames(prefix), &docPath{base: path}, 0, except)
}

// docPath is a JSON path built only when an error needs it: a base and
// the members below it. A nested object's path is a copy on the stack
// (a chain of pointers would make every path escape to the heap).
type docPath struct {
	base string
	keys [MaxDepth + 2]Node
	n    int
}

func (p *docPath) with(member Node) docPath {
	q := *p
	q.keys[q.n] = member
	q.n++
	return q
}

// String joins the keys as value's path() does: an empty key adds
// nothing.
func (p *docPath) String(d *Doc) string {
	s := p.base
	for _, m := range p.keys[:p.n] {
		if k := d.Key(m); len(k) > 0 {
			s = joinPath(s, string(k))
		}
	}
	return s
}

func (f Flattener) docObject(dst []engine.Field, d *Doc, obj Node, t *names, path *docPath, depth int, except []string) ([]engine.Field, error) {
	if depth > MaxDepth {
		return dst, Errf(path.String(d), "nested deeper than %d levels", MaxDepth)
	}
	type member struct {
		key []byte
		n   Node
	}
	var mbuf [16]member
	members := mbuf[:0]
	for c := d.First(obj); c != NoNode; c = d.Next(c) {
		k := d.Key(c)
		if len(except) == 0 || !containsKey(except, k) {
			members = append(members, member{k, c})
		}
	}
	// Sorted by key as objectExcept sorts a map's keys; stable, so that of
	// repeated keys the last one (the one a map keeps) comes last.
	if len(members) <= len(mbuf) {
		for i := 1; i < len(members); i++ {
			for j := i; j > 0 && keyLess(members[j].key, members[j-1].key); j-- {
				members[j-1], members[j] = members[j], members[j-1]
			}
		}
	} else {
		slices.SortStableFunc(members, func(a, b member) int { return bytes.Compare(a.key, b.key) })
	}
	for i, m := range members {
		c, k := m.n, m.key
		if i+1 < len(members) && bytes.Equal(members[i+1].key, k) {
			continue
		}
		e := t.lookup(k)
		if e.name == "" {
			return dst, Errf(joinPath(path.String(d), string(k)), "name has no letters or digits")
		}
		var err error
		dst, err = f.docValue(dst, d, c, e, path, depth)
		if err != nil {
			return dst, err
		}
	}
	return dst, nil
}

// keyLess is bytes.Compare(a, b) < 0, deciding on the first byte inline:
// keys mostly differ there.
func keyLess(a, b []byte) bool {
	if len(a) > 0 && len(b) > 0 && a[0] != b[0] {
		return a[0] < b[0]
	}
	return bytes.Compare(a, b) < 0
}

func containsKey(keys []string, k []byte) bool {
	for _, s := range keys {
		if s == string(k) {
			return true
		}
	}
	return false
}

// docValue is value for member n, named e, of the object at parent.
func (f Flattener) docValue(dst []engine.Field, d *Doc, n Node, e *nameEntry, parent *docPath, depth int) ([]engine.Field, error) {
	name := e.name
	path := func() string { p := parent.with(n); return p.String(d) }
	if len(name) > MaxName {
		return dst, errLongName(path(), name)
	}
	kind := d.Kind(n)
	var ct column.Type
	var known bool
	if f.Schema != nil && kind != KindNull && kind != KindObject {
		ct, known = f.Schema(f.Table, name)
	}
	var val column.Value
	switch kind {
	case KindNull:
		// NULL clears the attribute.
	case KindBool:
		val = column.Bool(d.Bool(n))
	case KindNumber:
		v, ok := parseNumber(string(d.Text(n)))
		if !ok {
			_, err := Number(json.Number(d.Text(n)))
			return dst, Errf(path(), "%v", err)
		}
		val = v
	case KindString:
		if f.isTimestampType(name, ct, known) {
			t, ok := parseTime(string(d.Text(n)))
			if !ok {
				return dst, errNotTime(path(), d.Str(n))
			}
			val = column.Timestamp(t)
		} else {
			val = column.String(d.Str(n))
		}
	case KindObject:
		p := parent.with(n)
		return f.docObject(dst, d, n, e.names(), &p, depth+1, nil)
	case KindArray:
		strs := true
		for c := d.First(n); c != NoNode && strs; c = d.Next(c) {
			strs = d.Kind(c) == KindString
		}
		if strs {
			l := make([]string, 0, d.Len(n))
			for c := d.First(n); c != NoNode; c = d.Next(c) {
				l = append(l, d.Str(c))
			}
			val = column.StringList(l)
		} else {
			var err error
			if val, err = arrayText(d.Value(n).([]any)); err != nil {
				return dst, Errf(path(), "%v", err)
			}
		}
	}
	if err := f.checkType(name, &val, ct, known); err != nil {
		return dst, Errf(path(), "%s", err)
	}
	return append(dst, engine.Field{Name: name, Value: val}), nil
}
