package norm

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"
)

func stdParse(data []byte) (any, error) {
	if !json.Valid(data) {
		return nil, &JSONError{Msg: "invalid"}
	}
	d := json.NewDecoder(bytes.NewReader(data))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return nil, err
	}
	return v, nil
}

var jsonSeeds = []string{
	`{"type":"track","userId":"u1","properties":{"n":1,"f":-1.5e3,"z":0,"s":"a\"b\\c\/\u00e9\ud83d\ude00","l":[1,"x",null,true,false,{}],"o":{"p":{}}}}`,
	`[]`, `{}`, `"x"`, `1`, `-0.0`, `null`, ` {"a" : [ 1 , 2 ] } `,
	`{"a":1,"a":2}`, "\"\xff\xfe\"", `"\ud800"`, `"\ud800\u0041"`,
	`{`, `{"a"}`, `[1,]`, `01`, `1.`, `1e`, `"\x"`, `tru`, `{"a":1}x`, `"` + "\x01" + `"`,
}

func TestParseJSONMatchesEncodingJSON(t *testing.T) {
	for _, s := range jsonSeeds {
		compareJSON(t, []byte(s))
	}
}

func compareJSON(t *testing.T, data []byte) {
	t.Helper()
	got, err := ParseJSON(data)
	want, werr := stdParse(data)
	if (err != nil) != (werr != nil) {
		t.Fatalf("%q: err = %v, encoding/json err = %v", data, err, werr)
	}
	if err == nil && !reflect.DeepEqual(got, want) {
		t.Fatalf("%q:\n got %#v\nwant %#v", data, got, want)
	}
}

// FuzzParseJSON checks the parser against encoding/json (the oracle):
// same acceptance, same values.
func FuzzParseJSON(f *testing.F) {
	for _, s := range jsonSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		compareJSON(t, data)
	})
}

func TestParseEnvelope(t *testing.T) {
	m, els, err := ParseEnvelope([]byte(` {"writeKey":"k","batch":[ {"a":1} ,[2], "x" ],"sentAt":null} `), "batch")
	if err != nil {
		t.Fatal(err)
	}
	if m["writeKey"] != "k" || len(els) != 3 || string(els[0].Raw) != `{"a":1}` || els[2].Value != "x" {
		t.Errorf("%v %v", m, els)
	}
	// No array and an empty one both give nil elements (CleverTap rejects
	// an upload without records on that).
	for _, empty := range []string{`{"x":[]}`, `{"batch":[]}`, `{}`} {
		if _, els, err := ParseEnvelope([]byte(empty), "batch"); err != nil || els != nil {
			t.Errorf("%s: %#v, %v; want nil elements", empty, els, err)
		}
	}
	for _, bad := range []string{`[]`, `{"batch":1}`, `{"batch":[1,]}`, `{"batch":[]`, `{"batch":[]} x`} {
		if _, _, err := ParseEnvelope([]byte(bad), "batch"); err == nil {
			t.Errorf("%s: no error", bad)
		}
	}
}

func BenchmarkParseJSON(b *testing.B) {
	ev := []byte(`{"type":"track","userId":"user-12345","event":"Product Viewed","messageId":"bench-000000000001-1","timestamp":"2024-05-01T10:00:00.000Z","properties":{"product_id":"p-1","price":19.99,"category":"shoes","quantity":2},"context":{"os":{"name":"iOS","version":"17.1"},"app":{"version":"3.2.1"},"ip":"10.1.2.3"}}`)
	b.Run("cohort", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(ev)))
		for b.Loop() {
			ParseJSON(ev)
		}
	})
	b.Run("encoding_json", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(ev)))
		for b.Loop() {
			stdParse(ev)
		}
	})
}
