package norm

import (
	"encoding/json"
	"fmt"
	"strconv"
)

// Doc is a parsed JSON document kept as a tree of nodes over its text,
// for hot paths: parsing one allocates nothing once the Doc has been used
// for a document of the same size (no maps, no interface values, no
// string copies), and a value costs a copy only when a caller keeps it
// (Str). It accepts exactly what ParseJSON accepts, decodes strings the
// same way (escapes, invalid UTF-8 as U+FFFD) and fails with the same
// errors; Value rebuilds what ParseJSON would have returned.
//
// A Doc refers to the text it parsed until the next parse or Reset; the
// []byte results of its methods are valid as long.
type Doc struct {
	src     []byte
	scratch []byte // decoded strings that differ from their text
	nodes   []node
	elems   []DocElement
}

// Node is a value of a Doc.
type Node int32

// NoNode is the absent value.
const NoNode Node = -1

// Kind is the JSON type of a Node.
type Kind uint8

// JSON types.
const (
	KindNull Kind = iota
	KindBool
	KindNumber
	KindString
	KindObject
	KindArray
)

type span struct{ off, end uint32 }

const (
	keyScratch = 1 << iota // the key's span is in scratch, else in src
	valScratch             // the string's span is in scratch
	boolTrue
)

// node is 32 bytes without pointers, so the GC never scans the arena.
// Containers are written before their members, hence a non-empty
// container's first member is the next node.
type node struct {
	kind   Kind
	flags  uint8
	n      uint32 // members or elements
	leaves uint32 // objects: the fields flattening yields, at most
	key    span   // member key
	val    span   // string contents or number text
	next   Node   // next member or element
}

// DocElement is one value of the top-level array parsed by
// Doc.ParseEnvelope, with its text.
type DocElement struct {
	Node Node
	Raw  []byte // the element's text, a sub-slice of the input
}

// maxDocBytes keeps spans (and scratch, at most 3 bytes per input byte)
// within 32 bits.
const maxDocBytes = 1 << 30

// Reset forgets the last document, dropping the reference to its text.
func (d *Doc) Reset() {
	d.src = nil
	d.scratch = d.scratch[:0]
	d.nodes = d.nodes[:0]
	clear(d.elems[:cap(d.elems)]) // their Raw is the text
	d.elems = d.elems[:0]
}

// Footprint is the memory the Doc keeps for reuse, in bytes.
func (d *Doc) Footprint() int {
	return cap(d.scratch) + 32*cap(d.nodes) + 32*cap(d.elems)
}

func (d *Doc) start(data []byte) parser {
	d.Reset()
	d.src = data
	return parser{b: data}
}

// Parse parses one JSON document (as ParseJSON) and returns its root.
func (d *Doc) Parse(data []byte) (Node, error) {
	p := d.start(data)
	if len(data) >= maxDocBytes {
		p.fail("document too large")
		return NoNode, p.err
	}
	p.ws()
	v := p.docValue(d, 0)
	if p.err == nil {
		p.ws()
		if p.i < len(p.b) {
			p.fail("data after the value")
		}
	}
	if p.err != nil {
		return NoNode, p.err
	}
	return v, nil
}

// ParseEnvelope is ParseEnvelope with the array's elements kept as nodes
// of d; the other members are parsed as ParseJSON does. The elements are
// valid until the next parse.
func (d *Doc) ParseEnvelope(data []byte, arrayKey string) (map[string]any, []DocElement, error) {
	p := d.start(data)
	if len(data) >= maxDocBytes {
		p.fail("document too large")
		return nil, nil, p.err
	}
	p.ws()
	if !p.eat('{') {
		p.fail("expected an object")
		return nil, nil, p.err
	}
	m := map[string]any{}
	p.ws()
	if p.eat('}') {
		return m, nil, p.end()
	}
	for p.err == nil {
		p.ws()
		k := p.str()
		p.ws()
		if !p.eat(':') {
			p.fail("expected ':'")
			break
		}
		p.ws()
		if k == arrayKey && p.err == nil {
			if !p.eat('[') {
				p.fail("expected an array for " + strconv.Quote(arrayKey))
				break
			}
			d.elems = d.elems[:0]
			p.ws()
			if !p.eat(']') {
				for p.err == nil {
					p.ws()
					start := p.i
					v := p.docValue(d, 1)
					d.elems = append(d.elems, DocElement{Node: v, Raw: p.b[start:p.i]})
					p.ws()
					if p.eat(']') {
						break
					}
					if !p.eat(',') {
						p.fail("expected ',' or ']'")
					}
				}
			}
		} else {
			m[k] = p.value(1)
		}
		p.ws()
		if p.eat('}') {
			break
		}
		if !p.eat(',') {
			p.fail("expected ',' or '}'")
		}
	}
	if p.err != nil {
		return nil, nil, p.err
	}
	return m, d.elems, p.end()
}

func (d *Doc) push(nd node) Node {
	d.nodes = append(d.nodes, nd)
	return Node(len(d.nodes) - 1)
}

// docValue mirrors value, step for step, so that both fail at the same
// byte with the same message.
func (p *parser) docValue(d *Doc, depth int) Node {
	if p.err != nil {
		return NoNode
	}
	if depth > MaxJSONDepth {
		p.fail("nested too deeply")
		return NoNode
	}
	if p.i >= len(p.b) {
		p.fail("unexpected end of input")
		return NoNode
	}
	switch c := p.b[p.i]; {
	case c == '{':
		p.i++
		self := d.push(node{kind: KindObject, next: NoNode})
		p.ws()
		if p.eat('}') {
			return self
		}
		var n, leaves uint32
		prev := NoNode
		for p.err == nil {
			p.ws()
			k, kflags := p.docStr(d, keyScratch)
			p.ws()
			if !p.eat(':') {
				p.fail("expected ':'")
				return NoNode
			}
			p.ws()
			v := p.docValue(d, depth+1)
			if p.err != nil {
				return NoNode
			}
			nd := &d.nodes[v]
			nd.key = k
			nd.flags |= kflags
			if nd.kind == KindObject {
				leaves += nd.leaves
			} else {
				leaves++
			}
			if prev != NoNode {
				d.nodes[prev].next = v
			}
			prev = v
			n++
			p.ws()
			if p.eat('}') {
				d.nodes[self].n, d.nodes[self].leaves = n, leaves
				return self
			}
			if !p.eat(',') {
				p.fail("expected ',' or '}'")
			}
		}
		return NoNode
	case c == '[':
		p.i++
		self := d.push(node{kind: KindArray, next: NoNode})
		p.ws()
		if p.eat(']') {
			return self
		}
		var n uint32
		prev := NoNode
		for p.err == nil {
			p.ws()
			v := p.docValue(d, depth+1)
			if p.err != nil {
				return NoNode
			}
			if prev != NoNode {
				d.nodes[prev].next = v
			}
			prev = v
			n++
			p.ws()
			if p.eat(']') {
				d.nodes[self].n = n
				return self
			}
			if !p.eat(',') {
				p.fail("expected ',' or ']'")
			}
		}
		return NoNode
	case c == '"':
		s, flags := p.docStr(d, valScratch)
		if p.err != nil {
			return NoNode
		}
		return d.push(node{kind: KindString, flags: flags, val: s, next: NoNode})
	case c == '-' || (c >= '0' && c <= '9'):
		start := p.i
		if !p.scanNumber() {
			return NoNode
		}
		return d.push(node{kind: KindNumber, val: span{uint32(start), uint32(p.i)}, next: NoNode})
	case c == 't':
		p.lit("true", nil)
		return d.push(node{kind: KindBool, flags: boolTrue, next: NoNode})
	case c == 'f':
		p.lit("false", nil)
		return d.push(node{kind: KindBool, next: NoNode})
	case c == 'n':
		p.lit("null", nil)
		return d.push(node{kind: KindNull, next: NoNode})
	}
	p.fail(fmt.Sprintf("unexpected character %q", p.b[p.i]))
	return NoNode
}

// docStr is str returning where the decoded string is: a span of the
// text when it needs no decoding, else of scratch (and flag).
func (p *parser) docStr(d *Doc, flag uint8) (span, uint8) {
	if p.err != nil {
		return span{}, 0
	}
	if !p.eat('"') {
		p.fail("expected a string")
		return span{}, 0
	}
	start := p.i
	b, i := p.b, p.i
	for i < len(b) && plain[b[i]] {
		i++
	}
	p.i = i
	if i < len(b) {
		switch c := b[i]; {
		case c == '"':
			p.i++
			return span{uint32(start), uint32(i)}, 0
		case c == '\\' || c >= 0x80:
			off := len(d.scratch)
			d.scratch, _ = p.appendStr(d.scratch, start)
			return span{uint32(off), uint32(len(d.scratch))}, flag
		default: // c < 0x20
			p.fail("control character in string")
			return span{}, 0
		}
	}
	p.fail("unterminated string")
	return span{}, 0
}

// plain marks the bytes a string holds as they are: not '"', '\\', a
// control character or part of a multi-byte character.
var plain = func() (t [256]bool) {
	for c := 0x20; c < 0x80; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// Kind returns n's JSON type.
func (d *Doc) Kind(n Node) Kind { return d.nodes[n].kind }

// Bool returns the value of a KindBool node.
func (d *Doc) Bool(n Node) bool { return d.nodes[n].flags&boolTrue != 0 }

// Len returns the number of members of an object (repeated keys
// included) or elements of an array.
func (d *Doc) Len(n Node) int { return int(d.nodes[n].n) }

// Leaves bounds the number of fields Flattener.DocObject appends for an
// object.
func (d *Doc) Leaves(n Node) int { return int(d.nodes[n].leaves) }

// First returns the first member of an object or element of an array, in
// document order, or NoNode.
func (d *Doc) First(n Node) Node {
	if d.nodes[n].n == 0 {
		return NoNode
	}
	return n + 1
}

// Next returns the member or element after n, or NoNode.
func (d *Doc) Next(n Node) Node { return d.nodes[n].next }

// Key returns the decoded key of an object member.
func (d *Doc) Key(n Node) []byte {
	nd := &d.nodes[n]
	if nd.flags&keyScratch != 0 {
		return d.scratch[nd.key.off:nd.key.end]
	}
	return d.src[nd.key.off:nd.key.end]
}

// Text returns a string's decoded bytes or a number's text.
func (d *Doc) Text(n Node) []byte {
	nd := &d.nodes[n]
	if nd.flags&valScratch != 0 {
		return d.scratch[nd.val.off:nd.val.end]
	}
	return d.src[nd.val.off:nd.val.end]
}

// Str returns a copy of Text, safe to keep after the Doc is reused.
func (d *Doc) Str(n Node) string { return string(d.Text(n)) }

// Member returns the value of the last member of object n named key (the
// one a map would keep), or NoNode.
func (d *Doc) Member(n Node, key string) Node {
	v := NoNode
	for c := d.First(n); c != NoNode; c = d.Next(c) {
		if string(d.Key(c)) == key {
			v = c
		}
	}
	return v
}

// Value returns n as ParseJSON returns it: map[string]any, []any, string,
// json.Number, bool or nil.
func (d *Doc) Value(n Node) any {
	switch d.Kind(n) {
	case KindBool:
		return d.Bool(n)
	case KindNumber:
		return json.Number(d.Text(n))
	case KindString:
		return d.Str(n)
	case KindObject:
		m := make(map[string]any, 4)
		for c := d.First(n); c != NoNode; c = d.Next(c) {
			k, ok := commonKey(d.Key(c))
			if !ok {
				k = string(d.Key(c))
			}
			m[k] = d.Value(c)
		}
		return m
	case KindArray:
		a := make([]any, 0, max(d.Len(n), 4))
		for c := d.First(n); c != NoNode; c = d.Next(c) {
			a = append(a, d.Value(c))
		}
		return a
	}
	return nil
}
