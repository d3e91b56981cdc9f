package log

import (
	"errors"
	"math"
	"reflect"
	"testing"

	"github.com/cohortdb/cohort/engine"
	"github.com/cohortdb/cohort/engine/column"
	"github.com/cohortdb/cohort/engine/identity"
)

func sampleOps() []engine.Op {
	return []engine.Op{
		{Kind: engine.OpIdentify, IDs: []identity.ID{{Type: "user_id", Value: "u1"}, {Type: "external:crm", Value: "c-9"}},
			Traits: []engine.Field{{Name: "email", Value: column.String("a@b.c")}, {Name: "age", Value: column.Int(-41)},
				{Name: "score", Value: column.Float(math.Pi)}, {Name: "vip", Value: column.Bool(true)}, {Name: "gone", Value: column.Value{}},
				{Name: "since", Value: column.Micros(1_700_000_000_000_000)}, {Name: "tags", Value: column.StringList([]string{"x", ""})}},
			At: 1_700_000_000_000_001, ReceivedAt: 1_700_000_000_000_002, Source: "m1"},
		{Kind: engine.OpTrack, IDs: []identity.ID{{Type: "anonymous_id", Value: "a"}}, Event: "Order Completed",
			Props: []engine.Field{{Name: "revenue", Value: column.Float(12.5)}}, At: 1, Source: "m2"},
		{Kind: engine.OpAlias, IDs: []identity.ID{{Type: "anonymous_id", Value: "a"}, {Type: "user_id", Value: "u1"}}, At: 2},
		{Kind: engine.OpDelete, IDs: []identity.ID{{Type: "user_id", Value: "u1"}}, At: 3},
	}
}

func TestCodecRoundTrip(t *testing.T) {
	ops := sampleOps()
	msg := Encode("acme", ops)
	ws, got, err := Decode(msg, nil)
	if err != nil {
		t.Fatal(err)
	}
	if ws != "acme" || !reflect.DeepEqual(got, ops) {
		t.Errorf("round trip:\n got %s %+v\nwant %+v", ws, got, ops)
	}
	// Every single-bit flip is caught by the checksum.
	for i := range len(msg) * 8 {
		bad := append([]byte(nil), msg...)
		bad[i/8] ^= 1 << (i % 8)
		if _, _, err := Decode(bad, nil); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("bit %d flipped: err = %v", i, err)
		}
	}
	// Every truncation fails.
	for n := range len(msg) {
		if _, _, err := Decode(msg[:n], nil); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("truncated to %d: err = %v", n, err)
		}
	}
}

func BenchmarkEncode(b *testing.B) {
	ops := sampleOps()
	b.ReportAllocs()
	buf := make([]byte, 0, 4096)
	for b.Loop() {
		buf = AppendHeader(buf[:0], "acme")
		for i := range ops {
			buf = AppendOp(buf, &ops[i])
		}
		buf = Seal(buf)
	}
	b.SetBytes(int64(len(buf)))
}

func BenchmarkDecode(b *testing.B) {
	msg := Encode("acme", sampleOps())
	b.ReportAllocs()
	b.SetBytes(int64(len(msg)))
	var ops []engine.Op
	for b.Loop() {
		var err error
		if _, ops, err = Decode(msg, ops[:0]); err != nil {
			b.Fatal(err)
		}
	}
}
