package log

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math"

	"github.com/cohortdb/cohort/engine"
	"github.com/cohortdb/cohort/engine/column"
	"github.com/cohortdb/cohort/engine/identity"
)

// Message format (docs/format.md in this package specifies it):
//
//	message := version:byte(1) workspace:str record* crc32c:uint32le
//	record  := kind:byte at:varint receivedAt:varint source:str
//	           nIDs:uvarint (type:str value:str)*
//	           event:str nTraits:uvarint field* nProps:uvarint field*
//	field   := name:str value
//	value   := type:byte payload  (null: none; string: str; int, timestamp:
//	           varint; float: 8 bytes LE IEEE 754; bool: byte; string_list:
//	           n:uvarint str*)
//	str     := len:uvarint bytes
//
// The CRC32C (Castagnoli) covers every byte before it. A message is built
// by appending records to a buffer that starts with the header, so group
// commit never re-encodes: Seal appends the checksum.

// Version is the message format version written by this package.
const Version = 1

// Limits that bound what a decoder allocates for a hostile message.
const (
	maxStr     = 1 << 20
	maxListLen = 1 << 16
)

// ErrCorrupt is returned for a message that cannot be decoded.
var ErrCorrupt = errors.New("corrupt log message")

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// CorruptError says where a message is corrupt.
type CorruptError struct {
	Offset int
	Reason string
}

func (e *CorruptError) Error() string {
	return fmt.Sprintf("%v at byte %d: %s", ErrCorrupt, e.Offset, e.Reason)
}

func (e *CorruptError) Unwrap() error { return ErrCorrupt }

// AppendHeader starts a message for workspace ws.
func AppendHeader(dst []byte, ws string) []byte {
	dst = append(dst, Version)
	return appendStr(dst, ws)
}

// Seal appends the checksum of msg (header and records) to msg.
func Seal(msg []byte) []byte {
	return binary.LittleEndian.AppendUint32(msg, crc32.Checksum(msg, castagnoli))
}

// AppendOp appends one record to a message.
func AppendOp(dst []byte, op *engine.Op) []byte {
	dst = append(dst, byte(op.Kind))
	dst = binary.AppendVarint(dst, op.At)
	dst = binary.AppendVarint(dst, op.ReceivedAt)
	dst = appendStr(dst, op.Source)
	dst = binary.AppendUvarint(dst, uint64(len(op.IDs)))
	for _, id := range op.IDs {
		dst = appendStr(dst, id.Type)
		dst = appendStr(dst, id.Value)
	}
	dst = appendStr(dst, op.Event)
	dst = appendFields(dst, op.Traits)
	return appendFields(dst, op.Props)
}

// Encode returns a sealed message holding ops.
func Encode(ws string, ops []engine.Op) []byte {
	b := AppendHeader(nil, ws)
	for i := range ops {
		b = AppendOp(b, &ops[i])
	}
	return Seal(b)
}

func appendStr(dst []byte, s string) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(s)))
	return append(dst, s...)
}

func appendFields(dst []byte, fs []engine.Field) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(fs)))
	for _, f := range fs {
		dst = appendStr(dst, f.Name)
		dst = AppendValue(dst, f.Value)
	}
	return dst
}

// AppendValue appends the encoding of one value.
func AppendValue(dst []byte, v column.Value) []byte {
	dst = append(dst, byte(v.Type))
	switch v.Type {
	case column.TypeString:
		dst = appendStr(dst, v.S)
	case column.TypeInt, column.TypeTimestamp:
		dst = binary.AppendVarint(dst, v.I)
	case column.TypeFloat:
		dst = binary.LittleEndian.AppendUint64(dst, math.Float64bits(v.F))
	case column.TypeBool:
		b := byte(0)
		if v.B {
			b = 1
		}
		dst = append(dst, b)
	case column.TypeStringList:
		dst = binary.AppendUvarint(dst, uint64(len(v.L)))
		for _, s := range v.L {
			dst = appendStr(dst, s)
		}
	}
	return dst
}

// Interner shares the strings a decoder makes for names, identifier
// types, event names and short values, which repeat in every message.
// Not safe for concurrent use; bounded to maxInterned strings.
type Interner struct{ m map[string]string }

const (
	maxInterned   = 1 << 16
	maxInternable = 64
)

func (in *Interner) intern(b []byte) string {
	if in == nil || len(b) > maxInternable {
		return string(b)
	}
	if s, ok := in.m[string(b)]; ok { // no allocation for the lookup
		return s
	}
	s := string(b)
	if in.m == nil {
		in.m = make(map[string]string)
	}
	if len(in.m) < maxInterned {
		in.m[s] = s
	}
	return s
}

// Decode checks and decodes a message, appending its operations to ops.
func Decode(msg []byte, ops []engine.Op) (ws string, _ []engine.Op, err error) {
	return DecodeInterned(msg, ops, nil)
}

// DecodeInterned is Decode sharing repeated strings through in (which may
// be nil).
func DecodeInterned(msg []byte, ops []engine.Op, in *Interner) (ws string, _ []engine.Op, err error) {
	if len(msg) < 5 {
		return "", ops, &CorruptError{0, "shorter than a header and checksum"}
	}
	body := msg[:len(msg)-4]
	if got, want := crc32.Checksum(body, castagnoli), binary.LittleEndian.Uint32(msg[len(body):]); got != want {
		return "", ops, &CorruptError{len(body), fmt.Sprintf("checksum %08x, want %08x", got, want)}
	}
	d := decoder{b: body, in: in}
	if v := d.byte(); v != Version {
		return "", ops, &CorruptError{0, fmt.Sprintf("unknown version %d", v)}
	}
	ws = d.str()
	for d.err == nil && d.off < len(d.b) {
		var op engine.Op
		d.op(&op)
		if d.err != nil {
			break
		}
		ops = append(ops, op)
	}
	if d.err != nil {
		return "", ops, d.err
	}
	return ws, ops, nil
}

type decoder struct {
	b   []byte
	off int
	err error
	in  *Interner
}

func (d *decoder) fail(reason string) {
	if d.err == nil {
		d.err = &CorruptError{d.off, reason}
	}
}

func (d *decoder) byte() byte {
	if d.err != nil {
		return 0
	}
	if d.off >= len(d.b) {
		d.fail("truncated")
		return 0
	}
	c := d.b[d.off]
	d.off++
	return c
}

func (d *decoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b[d.off:])
	if n <= 0 {
		d.fail("bad uvarint")
		return 0
	}
	d.off += n
	return v
}

func (d *decoder) varint() int64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Varint(d.b[d.off:])
	if n <= 0 {
		d.fail("bad varint")
		return 0
	}
	d.off += n
	return v
}

func (d *decoder) str() string { return d.strIn(false) }

// istr reads a string that is likely to repeat (a name, a type).
func (d *decoder) istr() string { return d.strIn(true) }

func (d *decoder) strIn(intern bool) string {
	n := d.uvarint()
	if d.err != nil {
		return ""
	}
	if n > maxStr || n > uint64(len(d.b)-d.off) {
		d.fail("string length out of range")
		return ""
	}
	b := d.b[d.off : d.off+int(n)]
	d.off += int(n)
	if intern {
		return d.in.intern(b)
	}
	return string(b)
}

// count reads a list length; every element takes at least min bytes.
func (d *decoder) count(min int) int {
	n := d.uvarint()
	if d.err != nil {
		return 0
	}
	if n > maxListLen || n*uint64(min) > uint64(len(d.b)-d.off) {
		d.fail("list length out of range")
		return 0
	}
	return int(n)
}

func (d *decoder) op(op *engine.Op) {
	k := engine.OpKind(d.byte())
	if d.err == nil && (k < engine.OpIdentify || k > engine.OpDelete) {
		d.fail(fmt.Sprintf("unknown operation kind %d", k))
		return
	}
	op.Kind = k
	op.At = d.varint()
	op.ReceivedAt = d.varint()
	op.Source = d.str()
	if n := d.count(2); n > 0 {
		op.IDs = make([]identity.ID, n)
		for i := range op.IDs {
			op.IDs[i] = identity.ID{Type: d.istr(), Value: d.str()}
		}
	}
	op.Event = d.istr()
	op.Traits = d.fields()
	op.Props = d.fields()
}

func (d *decoder) fields() []engine.Field {
	n := d.count(2)
	if n == 0 {
		return nil
	}
	fs := make([]engine.Field, n)
	for i := range fs {
		fs[i].Name = d.istr()
		fs[i].Value = d.value()
	}
	return fs
}

func (d *decoder) value() column.Value {
	t := column.Type(d.byte())
	switch t {
	case column.TypeNull:
		return column.Value{}
	case column.TypeString:
		return column.String(d.istr())
	case column.TypeInt:
		return column.Int(d.varint())
	case column.TypeTimestamp:
		return column.Micros(d.varint())
	case column.TypeFloat:
		if len(d.b)-d.off < 8 {
			d.fail("truncated float")
			return column.Value{}
		}
		f := math.Float64frombits(binary.LittleEndian.Uint64(d.b[d.off:]))
		d.off += 8
		return column.Float(f)
	case column.TypeBool:
		switch d.byte() {
		case 0:
			return column.Bool(false)
		case 1:
			return column.Bool(true)
		}
		d.fail("bad bool")
	case column.TypeStringList:
		n := d.count(1)
		l := make([]string, n)
		for i := range l {
			l[i] = d.str()
		}
		return column.StringList(l)
	default:
		d.fail(fmt.Sprintf("unknown value type %d", t))
	}
	return column.Value{}
}
