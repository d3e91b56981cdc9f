package norm

import (
	"encoding/json"
	"fmt"
	"sync"
	"unicode/utf16"
	"unicode/utf8"
)

// MaxJSONDepth bounds the nesting of parsed JSON documents.
const MaxJSONDepth = 64

// JSONError is a syntax error with its byte offset.
type JSONError struct {
	Offset int
	Msg    string
}

func (e *JSONError) Error() string {
	return fmt.Sprintf("malformed JSON at byte %d: %s", e.Offset, e.Msg)
}

// ParseJSON parses one JSON document into the values encoding/json
// produces with UseNumber: map[string]any, []any, string, json.Number,
// bool and nil. It is a single-pass parser, several times faster than
// encoding/json's reflection for this shape; invalid UTF-8 in strings is
// replaced by U+FFFD as encoding/json does, and a repeated key keeps its
// last value.
func ParseJSON(data []byte) (any, error) {
	p := parser{b: data}
	p.ws()
	v := p.value(0)
	if p.err == nil {
		p.ws()
		if p.i < len(p.b) {
			p.fail("data after the value")
		}
	}
	if p.err != nil {
		return nil, p.err
	}
	return v, nil
}

// Element is one value of a top-level array parsed by ParseEnvelope,
// with its size in bytes.
type Element struct {
	Value any
	Raw   []byte // the element's text, a sub-slice of the input
}

// ParseEnvelope parses a JSON object whose member arrayKey is an array
// (a Segment batch: {"batch": [...], ...}), returning the other members
// and the array's elements with their sizes. A missing arrayKey yields no
// elements; a non-array arrayKey is an error. It is Doc.ParseEnvelope with
// every element built as ParseJSON builds values.
func ParseEnvelope(data []byte, arrayKey string) (map[string]any, []Element, error) {
	d := envelopeDocs.Get().(*Doc)
	defer putEnvelopeDoc(d)
	top, elems, err := d.ParseEnvelope(data, arrayKey)
	if err != nil {
		return nil, nil, err
	}
	if len(elems) == 0 {
		return top, nil, nil // no array, or an empty one: CleverTap rejects uploads without records on nil
	}
	out := make([]Element, len(elems))
	for i, e := range elems {
		out[i] = Element{Value: d.Value(e.Node), Raw: e.Raw} // Value copies: nothing refers to d
	}
	return top, out, nil
}

// envelopeDocs keeps ParseEnvelope's node arrays between calls.
var envelopeDocs = sync.Pool{New: func() any { return new(Doc) }}

// maxPooledEnvelopeDoc bounds what a pooled Doc keeps (a 1000-record
// CleverTap upload needs well under it).
const maxPooledEnvelopeDoc = 4 << 20

func putEnvelopeDoc(d *Doc) {
	d.Reset()
	if d.Footprint() <= maxPooledEnvelopeDoc {
		envelopeDocs.Put(d)
	}
}

type parser struct {
	b   []byte
	i   int
	err error
}

func (p *parser) fail(msg string) {
	if p.err == nil {
		p.err = &JSONError{Offset: p.i, Msg: msg}
	}
}

func (p *parser) end() error {
	p.ws()
	if p.i < len(p.b) {
		p.fail("data after the value")
	}
	return p.err
}

func (p *parser) ws() {
	b, i := p.b, p.i // locals: the compiler keeps them in registers
	for i < len(b) {
		switch b[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			p.i = i
			return
		}
	}
	p.i = i
}

func (p *parser) eat(c byte) bool {
	if p.i < len(p.b) && p.b[p.i] == c {
		p.i++
		return true
	}
	return false
}

func (p *parser) value(depth int) any {
	if p.err != nil {
		return nil
	}
	if depth > MaxJSONDepth {
		p.fail("nested too deeply")
		return nil
	}
	if p.i >= len(p.b) {
		p.fail("unexpected end of input")
		return nil
	}
	switch c := p.b[p.i]; {
	case c == '{':
		p.i++
		m := make(map[string]any, 4)
		p.ws()
		if p.eat('}') {
			return m
		}
		for p.err == nil {
			p.ws()
			k := p.key()
			p.ws()
			if !p.eat(':') {
				p.fail("expected ':'")
				return nil
			}
			p.ws()
			m[k] = p.value(depth + 1)
			p.ws()
			if p.eat('}') {
				return m
			}
			if !p.eat(',') {
				p.fail("expected ',' or '}'")
			}
		}
		return nil
	case c == '[':
		p.i++
		a := make([]any, 0, 4)
		p.ws()
		if p.eat(']') {
			return a
		}
		for p.err == nil {
			p.ws()
			a = append(a, p.value(depth+1))
			p.ws()
			if p.eat(']') {
				return a
			}
			if !p.eat(',') {
				p.fail("expected ',' or ']'")
			}
		}
		return nil
	case c == '"':
		return p.str()
	case c == '-' || (c >= '0' && c <= '9'):
		return p.number()
	case c == 't':
		return p.lit("true", true)
	case c == 'f':
		return p.lit("false", false)
	case c == 'n':
		return p.lit("null", nil)
	}
	p.fail(fmt.Sprintf("unexpected character %q", p.b[p.i]))
	return nil
}

func (p *parser) lit(word string, v any) any {
	if len(p.b)-p.i >= len(word) && string(p.b[p.i:p.i+len(word)]) == word {
		p.i += len(word)
		return v
	}
	p.fail("invalid literal")
	return nil
}

func (p *parser) number() any {
	start := p.i
	if !p.scanNumber() {
		return nil
	}
	return json.Number(p.b[start:p.i])
}

// scanNumber moves past a number at p.i.
func (p *parser) scanNumber() bool {
	p.eat('-')
	switch {
	case p.eat('0'):
	case p.i < len(p.b) && p.b[p.i] >= '1' && p.b[p.i] <= '9':
		p.digits()
	default:
		p.fail("invalid number")
		return false
	}
	if p.eat('.') {
		if !p.digits() {
			p.fail("invalid number: no digits after '.'")
			return false
		}
	}
	if p.i < len(p.b) && (p.b[p.i] == 'e' || p.b[p.i] == 'E') {
		p.i++
		if !p.eat('+') {
			p.eat('-')
		}
		if !p.digits() {
			p.fail("invalid number: no digits in the exponent")
			return false
		}
	}
	return true
}

func (p *parser) digits() bool {
	start := p.i
	for p.i < len(p.b) && p.b[p.i] >= '0' && p.b[p.i] <= '9' {
		p.i++
	}
	return p.i > start
}

// key parses an object key: the keys of Segment and CleverTap payloads
// come from a small set, returned without allocating.
func (p *parser) key() string {
	if p.err != nil {
		return ""
	}
	if p.i < len(p.b) && p.b[p.i] == '"' {
		for j := p.i + 1; j < len(p.b) && j-p.i <= 24; j++ {
			c := p.b[j]
			if c == '\\' || c < 0x20 || c >= utf8.RuneSelf {
				break
			}
			if c == '"' {
				if k, ok := commonKey(p.b[p.i+1 : j]); ok {
					p.i = j + 1
					return k
				}
				break
			}
		}
	}
	return p.str()
}

// commonKey returns the constant for frequent keys; the switch on
// string(b) does not allocate.
func commonKey(b []byte) (string, bool) {
	switch string(b) {
	case "type":
		return "type", true
	case "userId":
		return "userId", true
	case "anonymousId":
		return "anonymousId", true
	case "event":
		return "event", true
	case "messageId":
		return "messageId", true
	case "timestamp":
		return "timestamp", true
	case "originalTimestamp":
		return "originalTimestamp", true
	case "sentAt":
		return "sentAt", true
	case "receivedAt":
		return "receivedAt", true
	case "properties":
		return "properties", true
	case "traits":
		return "traits", true
	case "context":
		return "context", true
	case "integrations":
		return "integrations", true
	case "library":
		return "library", true
	case "name":
		return "name", true
	case "version":
		return "version", true
	case "os":
		return "os", true
	case "app":
		return "app", true
	case "device":
		return "device", true
	case "ip":
		return "ip", true
	case "locale":
		return "locale", true
	case "page":
		return "page", true
	case "userAgent":
		return "userAgent", true
	case "email":
		return "email", true
	case "groupId":
		return "groupId", true
	case "previousId":
		return "previousId", true
	case "category":
		return "category", true
	case "url":
		return "url", true
	case "path":
		return "path", true
	case "title":
		return "title", true
	case "referrer":
		return "referrer", true
	case "identity":
		return "identity", true
	case "objectId":
		return "objectId", true
	case "ts":
		return "ts", true
	case "evtName":
		return "evtName", true
	case "evtData":
		return "evtData", true
	case "profileData":
		return "profileData", true
	}
	return "", false
}

// str parses a string at p.i.
func (p *parser) str() string {
	if p.err != nil {
		return ""
	}
	if !p.eat('"') {
		p.fail("expected a string")
		return ""
	}
	start := p.i
	for p.i < len(p.b) {
		c := p.b[p.i]
		switch {
		case c == '"':
			s := string(p.b[start:p.i])
			p.i++
			return s
		case c == '\\' || c >= utf8.RuneSelf:
			return p.slowStr(start)
		case c < 0x20:
			p.fail("control character in string")
			return ""
		}
		p.i++
	}
	p.fail("unterminated string")
	return ""
}

// slowStr decodes a string with escapes or non-ASCII bytes from start.
func (p *parser) slowStr(start int) string {
	buf, ok := p.appendStr(make([]byte, 0, p.i-start+16), start)
	if !ok {
		return ""
	}
	return string(buf)
}

// appendStr appends to buf the decoded string that began at start, p.i
// being at its first escape or non-ASCII byte, and moves past the closing
// quote. Both parsers decode through it, so they agree on escapes and
// invalid UTF-8.
func (p *parser) appendStr(buf []byte, start int) ([]byte, bool) {
	buf = append(buf, p.b[start:p.i]...)
	for p.i < len(p.b) {
		c := p.b[p.i]
		switch {
		case c == '"':
			p.i++
			return buf, true
		case c < 0x20:
			p.fail("control character in string")
			return buf, false
		case c >= utf8.RuneSelf:
			r, n := utf8.DecodeRune(p.b[p.i:])
			buf = utf8.AppendRune(buf, r) // RuneError for invalid bytes
			p.i += n
		case c == '\\':
			p.i++
			if p.i >= len(p.b) {
				p.fail("unterminated escape")
				return buf, false
			}
			e := p.b[p.i]
			p.i++
			switch e {
			case '"', '\\', '/':
				buf = append(buf, e)
			case 'b':
				buf = append(buf, '\b')
			case 'f':
				buf = append(buf, '\f')
			case 'n':
				buf = append(buf, '\n')
			case 'r':
				buf = append(buf, '\r')
			case 't':
				buf = append(buf, '\t')
			case 'u':
				r, ok := p.hex4()
				if !ok {
					return buf, false
				}
				if utf16.IsSurrogate(r) {
					r2 := rune(-1)
					if len(p.b)-p.i >= 6 && p.b[p.i] == '\\' && p.b[p.i+1] == 'u' {
						save := p.i
						p.i += 2
						if x, ok := p.hex4(); ok {
							r2 = x
						} else {
							return buf, false
						}
						if d := utf16.DecodeRune(r, r2); d != utf8.RuneError {
							buf = utf8.AppendRune(buf, d)
							continue
						}
						p.i = save
					}
					r = utf8.RuneError
				}
				buf = utf8.AppendRune(buf, r)
			default:
				p.i--
				p.fail("invalid escape")
				return buf, false
			}
		default:
			buf = append(buf, c)
			p.i++
		}
	}
	p.fail("unterminated string")
	return buf, false
}

func (p *parser) hex4() (rune, bool) {
	if len(p.b)-p.i < 4 {
		p.fail("invalid \\u escape")
		return 0, false
	}
	var r rune
	for _, c := range p.b[p.i : p.i+4] {
		switch {
		case c >= '0' && c <= '9':
			r = r<<4 | rune(c-'0')
		case c >= 'a' && c <= 'f':
			r = r<<4 | rune(c-'a'+10)
		case c >= 'A' && c <= 'F':
			r = r<<4 | rune(c-'A'+10)
		default:
			p.fail("invalid \\u escape")
			return 0, false
		}
	}
	p.i += 4
	return r, true
}
