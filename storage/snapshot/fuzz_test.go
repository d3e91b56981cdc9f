package snapshot

import (
	"errors"
	"testing"

	"github.com/cohortdb/cohort/storage/durable"
)

// FuzzDecodeManifest: the decoder never panics, every rejection is a
// CorruptionError, and whatever it accepts re-encodes to an equivalent
// manifest. The seed corpus (testdata/fuzz/FuzzDecodeManifest) holds a
// real manifest and damaged variants.
func FuzzDecodeManifest(f *testing.F) {
	good := &Manifest{Format: FormatVersion, Workspace: "acme", Seq: 3, LogSeq: 9, NextEvent: 5, Persons: 2}
	for _, tbl := range []string{"profiles", "events", "identities", "identifiers", "merges"} {
		good.Files = append(good.Files, File{Name: tbl + ".parquet", Table: tbl, Rows: 1, Size: 10, Columns: identifierCols})
	}
	b, err := EncodeManifest(good)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	f.Add(b[:headerSize])
	f.Add([]byte("CHRTSNAP"))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := DecodeManifest("MANIFEST", b)
		if err != nil {
			var ce *durable.CorruptionError
			if !errors.As(err, &ce) || ce.Offset > int64(len(b)) {
				t.Fatalf("rejection is not a CorruptionError within the input: %v", err)
			}
			return
		}
		b2, err := EncodeManifest(m)
		if err != nil {
			t.Fatal(err)
		}
		m2, err := DecodeManifest("MANIFEST", b2)
		if err != nil {
			t.Fatalf("re-encoded manifest rejected: %v", err)
		}
		if m2.Seq != m.Seq || m2.Workspace != m.Workspace || len(m2.Files) != len(m.Files) {
			t.Fatalf("round trip changed the manifest: %+v vs %+v", m, m2)
		}
	})
}
