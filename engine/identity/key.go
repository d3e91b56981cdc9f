package identity

import (
	"encoding/binary"
)

// A dictionary key is uvarint(typeCode<<1 | packed) followed by the value's
// bytes, or, when packed, by the 16 bytes of a canonical lower-case UUID
// (anonymous ids are usually UUIDs: 17 bytes instead of 36).

func appendKey(dst []byte, tc uint32, v string) []byte {
	if isLowerUUID(v) {
		dst = binary.AppendUvarint(dst, uint64(tc)<<1|1)
		for i := 0; i < len(v); {
			if v[i] == '-' {
				i++
				continue
			}
			dst = append(dst, unhex(v[i])<<4|unhex(v[i+1]))
			i += 2
		}
		return dst
	}
	dst = binary.AppendUvarint(dst, uint64(tc)<<1)
	return append(dst, v...)
}

// decodeKey splits a key into its type code and value. Packed UUIDs are
// expanded (allocating); other values share the key's memory.
func decodeKey(k string) (uint32, string) {
	var x uint64
	var s uint
	i := 0
	for ; i < len(k); i++ {
		b := k[i]
		x |= uint64(b&0x7f) << s
		s += 7
		if b < 0x80 {
			i++
			break
		}
	}
	tc, v := uint32(x>>1), k[i:]
	if x&1 == 0 {
		return tc, v
	}
	const digits = "0123456789abcdef"
	var out [36]byte
	o := 0
	for j := 0; j < len(v) && j < 16; j++ {
		if j == 4 || j == 6 || j == 8 || j == 10 {
			out[o] = '-'
			o++
		}
		out[o], out[o+1] = digits[v[j]>>4], digits[v[j]&15]
		o += 2
	}
	return tc, string(out[:o])
}

func isLowerUUID(v string) bool {
	if len(v) != 36 {
		return false
	}
	for i := 0; i < 36; i++ {
		c := v[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
				return false
			}
		}
	}
	return true
}

func unhex(c byte) byte {
	if c <= '9' {
		return c - '0'
	}
	return c - 'a' + 10
}
