package importer

import (
	"encoding/csv"
	"strings"
	"testing"
	"time"

	"github.com/cohortdb/cohort/ingest/segment"
)

// FuzzNDJSONLine: any line decodes to a message or a field error, and a
// message goes through segment.Convert without panicking.
func FuzzNDJSONLine(f *testing.F) {
	for _, s := range strings.Split(ndjsonFile, "\n") {
		f.Add([]byte(s))
	}
	f.Add([]byte(`{"type":"identify","userId":1e400,"traits":{"a":{"b":{"c":[1,"x",null]}}}}`))
	f.Add([]byte(`{"type":"alias","previousId":"","userId":"x"}`))
	f.Add([]byte("\ufeff{}"))
	env := &segment.Envelope{ReceivedAt: time.Unix(1700000000, 0)}
	f.Fuzz(func(t *testing.T, line []byte) {
		m, err := DecodeNDJSONLine(line)
		if err != nil {
			if m != nil {
				t.Fatal("message and error")
			}
			return
		}
		if m == nil {
			if strings.TrimSpace(string(line)) != "" {
				t.Fatalf("non-blank line %q decoded to nothing", line)
			}
			return
		}
		segment.Convert(m, "", env)
	})
}

// FuzzCSVRow: any row under a fixed header decodes to an identify message
// or a field error naming a header column (or none), never panics.
func FuzzCSVRow(f *testing.F) {
	header := []string{"id", "email", "age", "score", "vip", "signup_at", "note"}
	for _, s := range []string{
		"c1,c1@example.com,31,1.5,true,2024-05-01,hello",
		"c2,,abc,x,maybe,yesterday,\"multi\nline\"",
		",,,,,,",
		"c3,\"bad\"quote,1,1,true,2024-01-01,x",
		"c4,a,1",
		"c5,a,-0,1e308,FALSE,2024-01-01T00:00:00Z,\"\"\"\"",
	} {
		f.Add(s)
	}
	env := &segment.Envelope{ReceivedAt: time.Unix(1700000000, 0)}
	f.Fuzz(func(t *testing.T, row string) {
		ps, err := NewProfileSchema(append([]string(nil), header...), "", map[string]ColType{"age": Int, "vip": Bool, "signup_at": Timestamp})
		if err != nil {
			t.Fatal(err)
		}
		ps.Infer(nil)
		cr := csv.NewReader(strings.NewReader(row))
		cr.FieldsPerRecord = -1
		for {
			fields, err := cr.Read()
			if err != nil {
				return
			}
			m, err := ps.Decode(fields)
			if err != nil {
				continue
			}
			if m["type"] != "identify" {
				t.Fatalf("type %v", m["type"])
			}
			segment.Convert(m, "", env)
		}
	})
}
