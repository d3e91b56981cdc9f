package log

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"testing"
)

// FuzzDecode feeds arbitrary messages to the decoder: it must never panic
// or allocate without bound, and whatever it accepts must re-encode to the
// same bytes. Inputs get a valid checksum appended half of the time so the
// fuzzer reaches the record decoder.
func FuzzDecode(f *testing.F) {
	f.Add(Encode("acme", sampleOps()), false)
	f.Add(Encode("w", nil), false)
	f.Add([]byte{1, 4, 'a', 'c', 'm', 'e', 2, 2, 0, 0, 0, 0, 0, 0, 0}, true)
	f.Fuzz(func(t *testing.T, msg []byte, fixCRC bool) {
		if fixCRC {
			msg = binary.LittleEndian.AppendUint32(msg, crc32.Checksum(msg, castagnoli))
		}
		ws, ops, err := Decode(msg, nil)
		if err != nil {
			return
		}
		again := Encode(ws, ops)
		ws2, ops2, err := Decode(again, nil)
		if err != nil || ws2 != ws || len(ops2) != len(ops) || !bytes.Equal(Encode(ws2, ops2), again) {
			t.Fatalf("re-encoding changed the message: %v", err)
		}
	})
}
