package norm

import (
	"encoding/json"
	"maps"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/cohortdb/cohort/engine"
	"github.com/cohortdb/cohort/engine/column"
)

// docSeeds add to jsonSeeds what flattening cares about: nesting, arrays,
// nulls, invalid UTF-8, repeated and escaped keys, big numbers, depth.
var docSeeds = []string{
	`{"type":"track","userId":"u1","event":"Product Viewed","messageId":"m-1","timestamp":"2024-05-01T10:00:00.000Z","properties":{"product_id":"p-17","price":19.99,"category":"shoes","quantity":2},"context":{"os":{"name":"iOS","version":"17.1"},"app":{"version":"3.2.1"},"ip":"10.1.2.3"}}`,
	`{"a":{"b":{"c":{"d":{"e":{"f":{"g":{"h":{"i":{"j":1}}}}}}}}}}`,
	`{"a":{"b":{"c":{"d":{"e":{"f":{"g":{"h":{"i":{}}}}}}}}}}`,
	`{"l":["a","b"],"m":[1,"a"],"e":[],"n":[null],"o":[{"x":1}],"h":["<&>"],"z":null,"t":true,"f":false}`,
	`{"a":1,"a":"x","b":{"c":1},"b":{"d":2},"\u0061":3,"":1,"_":2,"A B":3,"aB":4,"a_b":5}`,
	`{"big":12345678901234567890,"neg":-9223372036854775808,"over":-9223372036854775809,"e":1e3,"E":1E400,"f":1.0,"z":-0,"fe":1.5e-3,"i":123456789012345678}`,
	`{"created_at":"2024-01-02T03:04:05Z","last_seen":"nope","birthday":"2024-01-02","x_at":"","sent_timestamp":5,"n":"1"}`,
	"{\"k\xff\":\"v\xfe\",\"k\xfe\":1,\"\\ud800\":\"\\udc00\"}",
	`{"person_id":1,"updated_at":null,"first_seen":1,"event_id":"x","name":"n","ts":1,"received_at":"2024-01-01T00:00:00Z"}`,
	`{"` + strings.Repeat("long", 40) + `":1,"o":{"` + strings.Repeat("x", 130) + `":{}}}`,
	`{"k0":0,"k1":1,"k2":2,"k3":3,"k4":4,"k5":5,"k6":6,"k7":7,"k8":8,"k9":9,"ka":10,"kb":11,"kc":12,"kd":13,"ke":14,"kf":15,"kg":16,"k0":17,"traits":{"x":1},"externalIds":[]}`,
	`{"batch":[{"a":1},{"b":[1,2]},"x",null,{"batch":[]}],"writeKey":"k","sentAt":"2024-01-01T00:00:00Z","context":{"ip":"1"}}`,
	`{"batch":[1],"batch":[2,3]}`, `{"batch":{}}`, `{"batch":[1,]}`, `{"batch":[` + strings.Repeat("[", 70) + `]}`,
	strings.Repeat(`{"a":`, 65) + `1` + strings.Repeat(`}`, 65),
}

var docs = sync.Pool{New: func() any { return new(Doc) }}

func sameErr(a, b error) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.Error() == b.Error()
}

// compareDoc checks that a Doc parses data exactly as ParseJSON does
// (envelopes included), and flattens it exactly as Flattener.Object does.
func compareDoc(t *testing.T, data []byte) {
	t.Helper()
	d := docs.Get().(*Doc)
	defer docs.Put(d)

	want, werr := ParseJSON(data)
	root, err := d.Parse(data)
	if !sameErr(err, werr) {
		t.Fatalf("%q: Doc.Parse err = %v, ParseJSON err = %v", data, err, werr)
	}
	if err == nil {
		if got := d.Value(root); !reflect.DeepEqual(got, want) {
			t.Fatalf("%q:\n Doc %#v\nwant %#v", data, got, want)
		}
		if m, ok := want.(map[string]any); ok {
			compareFlatten(t, data, d, root, m)
		}
	}

	// The envelope against ParseJSON: the other members as it builds them,
	// each element as ParseJSON builds it from the element's own text.
	top, elems, err := d.ParseEnvelope(data, "batch")
	if err != nil {
		return
	}
	m, ok := want.(map[string]any)
	if werr != nil || !ok {
		t.Fatalf("%q: Doc.ParseEnvelope accepted what ParseJSON gives %#v, %v", data, want, werr)
	}
	others := maps.Clone(m)
	delete(others, "batch")
	if !reflect.DeepEqual(top, others) {
		t.Fatalf("%q: Doc.ParseEnvelope members %#v, want %#v", data, top, others)
	}
	for i, e := range elems {
		v, err := ParseJSON(e.Raw)
		if err != nil || !reflect.DeepEqual(d.Value(e.Node), v) {
			t.Fatalf("%q: element %d = %q %#v, ParseJSON gives %#v (%v)", data, i, e.Raw, d.Value(e.Node), v, err)
		}
	}
}

// flattenSchema knows a few columns, so that the schema's answers (type
// checks, timestamp columns) are exercised.
func flattenSchema(table, col string) (column.Type, bool) {
	switch col {
	case "n", "a", "price":
		return column.TypeInt, true
	case "f", "e":
		return column.TypeFloat, true
	case "t", "s":
		return column.TypeTimestamp, true
	case "l", "k0":
		return column.TypeString, true
	case "prop_name":
		return column.TypeBool, true
	}
	return 0, false
}

func compareFlatten(t *testing.T, data []byte, d *Doc, root Node, m map[string]any) {
	t.Helper()
	for _, f := range []Flattener{
		{Table: engine.Events},
		{Table: engine.Events, Schema: flattenSchema},
		{Table: engine.Profiles, Schema: flattenSchema},
	} {
		for _, prefix := range []string{"", "context", "A"} {
			want, werr := f.Object(nil, m, prefix, "properties")
			got, err := f.DocObject(nil, d, root, prefix, "properties")
			if !sameErr(err, werr) || !reflect.DeepEqual(got, want) {
				t.Fatalf("%q %s %q: DocObject = %v, %v\nwant %v, %v", data, f.Table, prefix, got, err, want, werr)
			}
			want, werr = f.ObjectExcept(nil, m, prefix, "", "traits", "externalIds")
			got, err = f.DocObjectExcept(nil, d, root, prefix, "", "traits", "externalIds")
			if !sameErr(err, werr) || !reflect.DeepEqual(got, want) {
				t.Fatalf("%q %s %q: DocObjectExcept = %v, %v\nwant %v, %v", data, f.Table, prefix, got, err, want, werr)
			}
			if err == nil && len(got) > d.Leaves(root) {
				t.Fatalf("%q: %d fields, Leaves = %d", data, len(got), d.Leaves(root))
			}
		}
	}
}

func TestDocMatchesGeneric(t *testing.T) {
	for _, s := range append(jsonSeeds, docSeeds...) {
		compareDoc(t, []byte(s))
	}
}

// FuzzDoc checks Doc against the generic parser and flattener: same
// acceptance, errors, values and fields.
func FuzzDoc(f *testing.F) {
	for _, s := range append(jsonSeeds, docSeeds...) {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		compareDoc(t, data)
	})
}

func TestDocReuse(t *testing.T) {
	var d Doc
	for _, s := range append(docSeeds, docSeeds...) {
		root, err := d.Parse([]byte(s))
		want, werr := ParseJSON([]byte(s))
		if !sameErr(err, werr) || (err == nil && !reflect.DeepEqual(d.Value(root), want)) {
			t.Fatalf("%q: reused Doc differs", s)
		}
	}
	d.Reset()
	if d.src != nil || len(d.nodes) != 0 || d.Footprint() == 0 {
		t.Fatal("Reset keeps the text or drops the arena")
	}
}

func TestNumberText(t *testing.T) {
	for _, s := range []string{"0", "-0", "1", "-1", "19.99", "1e3", "1E3", "1e-3", "1.0", "1e400", "-1e400", "12345678901234567890",
		"9223372036854775807", "9223372036854775808", "-9223372036854775808", "-9223372036854775809", "1e18", "1e19", "0.1e1", "5e-324", "x", ""} {
		want, werr := Number(json.Number(s))
		got, ok := parseNumber(s)
		if ok != (werr == nil) || (ok && !reflect.DeepEqual(got, want)) {
			t.Errorf("%s: parseNumber = %v %v, Number = %v %v", s, got, ok, want, werr)
		}
	}
}

func TestNamesCacheBounded(t *testing.T) {
	// Filling the cache is undone for the tests that follow: the table
	// added here is the only one written.
	oldRoots, oldN := roots.m.Load(), cachedNames.Load()
	defer func() {
		roots.m.Store(oldRoots)
		cachedNames.Store(oldN)
	}()
	tb := rootNames("bounded_test")
	for i := range 2 * maxCachedNames {
		k := "key" + strings.Repeat("x", i%7) + string(rune('a'+i%26)) + strings.Repeat("y", i/26)
		e := tb.lookupString(k)
		if want := joinName("bounded_test", SnakeCase(k)); e.name != want {
			t.Fatalf("%q: %q, want %q", k, e.name, want)
		}
		if e2 := tb.lookup([]byte(k)); e2.name != e.name {
			t.Fatalf("%q: lookup %q, lookupString %q", k, e2.name, e.name)
		}
	}
	if n := cachedNames.Load(); n > maxCachedNames {
		t.Fatalf("%d names cached, bound %d", n, maxCachedNames)
	}
}

func TestNamesConcurrent(t *testing.T) {
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var d Doc
			for i := range 200 {
				data := []byte(`{"conc` + strings.Repeat("X", (g+i)%5) + `":{"innerKey` + string(rune('a'+i%7)) + `":1}}`)
				root, err := d.Parse(data)
				if err != nil {
					t.Error(err)
					return
				}
				m, _ := ParseJSON(data)
				got, err := Flattener{Table: engine.Events}.DocObject(nil, &d, root, "ctx", "")
				want, werr := Flattener{Table: engine.Events}.Object(nil, m.(map[string]any), "ctx", "")
				if !sameErr(err, werr) || !reflect.DeepEqual(got, want) {
					t.Errorf("%s: %v, want %v", data, got, want)
					return
				}
			}
		}()
	}
	wg.Wait()
}
