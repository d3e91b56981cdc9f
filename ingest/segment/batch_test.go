package segment

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/cohortdb/cohort/engine"
	"github.com/cohortdb/cohort/engine/column"
	"github.com/cohortdb/cohort/engine/identity"
	"github.com/cohortdb/cohort/ingest/norm"
)

// batchResult is what serveBatch makes of a body, short of answering.
type batchResult struct {
	ParseErr string // 400: malformed
	Key      string // the write key authenticated
	EnvErr   string // 400: bad sentAt or context
	Ops      []engine.Op
	Rejected []Rejected
}

// referenceBatch is serveBatch as it was before batch.go: norm.ParseEnvelope
// (values built as maps), a map per message, Convert.
func referenceBatch(body []byte, env *Envelope, sameWorkspace func(string) bool) batchResult {
	top, elems, err := norm.ParseEnvelope(body, "batch")
	if err != nil {
		return batchResult{ParseErr: err.Error()}
	}
	msgs := make([]map[string]any, len(elems))
	errs := make([]error, len(elems))
	key, _ := top["writeKey"].(string)
	for i, e := range elems {
		if len(e.Raw) > MaxEventBytes {
			errs[i] = norm.Errf("", "event larger than %d KB", MaxEventBytes>>10)
			continue
		}
		msgs[i], errs[i] = asObject(e.Value)
		if key == "" && msgs[i] != nil {
			key, _ = msgs[i]["writeKey"].(string)
		}
	}
	res := batchResult{Key: key}
	switch v := top["sentAt"].(type) {
	case nil:
	case string:
		env.SentAt = v
	default:
		res.EnvErr = "sentAt: expected an RFC 3339 timestamp string"
		return res
	}
	switch v := top["context"].(type) {
	case nil:
	case map[string]any:
		env.Context = v
	default:
		res.EnvErr = "context: expected an object"
		return res
	}
	res.Ops = make([]engine.Op, 0, len(elems))
	for i, m := range msgs {
		if errs[i] == nil {
			if k, _ := m["writeKey"].(string); k != "" && k != key {
				if !sameWorkspace(k) {
					errs[i] = norm.Errf("writeKey", "differs from the batch's write key")
				}
			}
		}
		if errs[i] == nil {
			var op engine.Op
			if op, errs[i] = Convert(m, "", env); errs[i] == nil {
				res.Ops = append(res.Ops, op)
				continue
			}
		}
		res.Rejected = append(res.Rejected, reject(i, m, errs[i]))
	}
	return res
}

// fastBatch is serveBatch's decoding. It then scribbles over the body and
// reuses the batch, so that an op referring to either shows.
func fastBatch(body []byte, env *Envelope, sameWorkspace func(string) bool) batchResult {
	b := new(batch)
	var res batchResult
	if err := b.parse(body); err != nil {
		return batchResult{ParseErr: err.Error()}
	}
	res.Key = b.key
	if res.EnvErr = b.setEnvelope(env); res.EnvErr == "" {
		res.Ops, res.Rejected = b.convert(env, sameWorkspace)
	}
	b.doc.Reset()
	for i := range body {
		body[i] = 'x'
	}
	b.parse([]byte(`{"batch":[{"type":"track","userId":"\u00ffzzzzzzzzzzzzzzzzzzzzzzzzz","event":"zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz","properties":{"zzzzzzzzzzzzz":"zzzzzzzzzzzzzzzzzzzzzzzz\u00ff"}}]}`))
	return res
}

// normalize replaces the random ids of messages without messageId.
func normalize(ops []engine.Op) {
	for i := range ops {
		op := &ops[i]
		if !strings.HasPrefix(op.Source, "cohort-") || len(op.Source) != len("cohort-")+32 {
			continue
		}
		for j := range op.Props {
			if op.Props[j].Name == "message_id" && op.Props[j].Value.S == op.Source {
				op.Props[j].Value.S = "random"
			}
		}
		op.Source = "random"
	}
}

func testEnv(mode byte) *Envelope {
	env := &Envelope{ReceivedAt: time.Unix(1714557600, 123456000)}
	if mode&1 != 0 {
		env.ClientIP = "10.9.8.7"
	}
	if mode&2 != 0 {
		env.Schema = func(table, col string) (column.Type, bool) {
			switch col {
			case "price", "n", "context_os_name":
				return column.TypeInt, true
			case "quantity", "f":
				return column.TypeFloat, true
			case "s", "context_app_version":
				return column.TypeTimestamp, true
			case "category", "email":
				return column.TypeString, true
			}
			return 0, false
		}
	}
	if mode&4 != 0 {
		env.SentAt = "2024-05-01T10:00:05Z"
	}
	if mode&8 != 0 {
		env.SentAt = "yesterday"
	}
	switch mode >> 5 & 3 {
	case 1:
		env.Context = map[string]any{"library": map[string]any{"name": "analytics-go", "version": "3.0"}}
	case 2:
		env.Context = map[string]any{"traits": map[string]any{"plan": "x", "n": json.Number("1")}, "ip": "1.1.1.1", "os": map[string]any{"name": "linux"}}
	case 3:
		env.Context = map[string]any{"externalIds": []any{map[string]any{"id": "1", "type": "t"}}, "traits": "x"}
	}
	return env
}

func compareBatch(t *testing.T, body []byte, mode byte) {
	t.Helper()
	same := func(k string) bool { return k == "same" || mode&16 != 0 }
	want := referenceBatch(bytes.Clone(body), testEnv(mode), same)
	got := fastBatch(bytes.Clone(body), testEnv(mode), same)
	normalize(want.Ops)
	normalize(got.Ops)
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("%q mode %d:\n got %+v\nwant %+v", body, mode, got, want)
	}
	// Appending to an op's slices must leave the other ops alone.
	nils := make([][3]bool, len(got.Ops))
	for i, op := range got.Ops {
		nils[i] = [3]bool{op.Props == nil, op.Traits == nil, op.IDs == nil}
	}
	for i := range got.Ops {
		op := &got.Ops[i]
		op.Props = append(op.Props, engine.Field{Name: "appended"})
		op.Traits = append(op.Traits, engine.Field{Name: "appended"})
		op.IDs = append(op.IDs, identity.ID{Type: "appended"})
	}
	for i := range got.Ops {
		op := &got.Ops[i]
		op.Props = op.Props[:len(op.Props)-1]
		op.Traits = op.Traits[:len(op.Traits)-1]
		op.IDs = op.IDs[:len(op.IDs)-1]
		if nils[i][0] {
			op.Props = nil
		}
		if nils[i][1] {
			op.Traits = nil
		}
		if nils[i][2] {
			op.IDs = nil
		}
	}
	if !reflect.DeepEqual(got.Ops, want.Ops) {
		t.Fatalf("%q mode %d: ops share memory:\n got %+v\nwant %+v", body, mode, got.Ops, want.Ops)
	}
}

// messageSeeds are messages of every type, valid or not.
var messageSeeds = []string{
	`{"type":"track","userId":"u123456"   ,"event":"Product Viewed","messageId":"m-1","timestamp":"2024-05-01T10:00:00.000Z","properties":{"product_id":"p-17","price":19.99,"category":"shoes","quantity":2},"context":{"os":{"name":"iOS","version":"17.1"},"app":{"version":"3.2.1"},"ip":"10.1.2.3"}}`,
	`{"type":"identify","userId":"u1","traits":{"email":"a@b.c","phone":"+1","createdAt":"2024-01-02T03:04:05Z","address":{"city":"X"},"tags":["a"]}}`,
	`{"type":"identify","anonymousId":"a","traits":{"email":5,"phone":""},"context":{"traits":{"plan":"pro"}}}`,
	`{"type":"identify","userId":"u","traits":null,"context":{"traits":{}}}`,
	`{"type":"identify","userId":"u","traits":{"person_id":1}}`,
	`{"type":"track","anonymousId":"a","event":"E","properties":{"n":1,"f":1.5,"big":12345678901234567890,"arr":[1,"x"],"o":{"p":{"q":null}}},"context":{"os":{"name":"iOS"},"externalIds":[{"id":"9","type":"crmId"}],"traits":{"plan":"pro"}},"timestamp":"2024-01-01T00:00:00Z","sentAt":"2024-01-01T00:00:05Z"}`,
	`{"type":"track","userId":"u","event":"e","context":{"externalIds":null,"traits":null,"ip":null}}`,
	`{"type":"track","userId":"u","event":"e","context":{}}`,
	`{"type":"track","userId":"u","event":"e","context":{"traits":{"a":1}},"properties":{}}`,
	`{"type":"page","userId":7,"name":"Home","category":"Docs","properties":{"url":"https://x","name":"dup"}}`,
	`{"type":"page","userId":7,"name":5}`,
	`{"type":"screen","userId":"u","name":"Main","category":""}`,
	`{"type":"group","userId":"u","groupId":"g","traits":{"name":"Initech","employees":10}}`,
	`{"type":"alias","previousId":"a","userId":"u"}`,
	`{"type":"track","userId":"u","event":"e","properties":{"createdAt":"nope"}}`,
	`{"type":"track","userId":"u","event":"e","properties":{"price":"cheap","s":"2024-01-01"}}`,
	`{"type":"track","userId":"u","event":"e","properties":{"price":1e400}}`,
	`{"type":"track","userId":"u","event":"","messageId":""}`,
	`{"type":"track","userId":"u","event":"` + strings.Repeat("e", 513) + `"}`,
	`{"type":"track","userId":"u","event":5}`,
	`{"type":"track","userId":"","anonymousId":null,"event":"e"}`,
	`{"type":"track","userId":true,"event":"e"}`,
	`{"type":"track","userId":"u","event":"e","messageId":5}`,
	`{"type":"track","userId":"u","event":"e","timestamp":5}`,
	`{"type":"track","userId":"u","event":"e","originalTimestamp":"2024-05-01T10:00:00Z","timestamp":5,"sentAt":"2024-05-01T10:00:01Z"}`,
	`{"type":"track","userId":"u","event":"e","originalTimestamp":"","timestamp":"2024-05-01","sentAt":null}`,
	`{"type":"track","userId":"u","event":"e","originalTimestamp":"0001-01-01T00:00:00Z","timestamp":"x"}`,
	`{"type":"track","userId":"u","event":"e","sentAt":"later"}`,
	`{"type":"track","userId":"u","event":"e","context":"x"}`,
	`{"type":"track","userId":"u","event":"e","properties":[]}`,
	`{"type":"track","userId":"u","event":"e","context":{"traits":5}}`,
	`{"type":"track","type":"identify","userId":"u","event":"e","event":"f","userId":"v"}`,
	`{"type":"\u0074rack","user\u0049d":"u\u00e9","event":"e\ud83d\ude00","properties":{"k\u00e9y":"v\xff","KeyName":1,"key name":2,"key_name":3}}`,
	`{"type":"track","userId":"u","event":"e","properties":{"a":{"b":{"c":{"d":{"e":{"f":{"g":{"h":{"i":{"j":1}}}}}}}}}}}`,
	`{"type":"track","userId":"u","event":"e","properties":{"":1}}`,
	`{"type":"track","userId":"u","event":"e","properties":{"o":{"":{"x":[1,{"y":"<&>"}]}}}}`,
	`{"type":"track","userId":"u","event":"e","context":{"` + strings.Repeat("x", 130) + `":1}}`,
	`{"type":"Track","userId":"u","event":"e"}`,
	`{"type":null,"userId":"u","event":"e"}`,
	`{"userId":"u","event":"e"}`,
	`{"type":"track","userId":"u","event":"e","writeKey":"other"}`,
	`{"type":"track","userId":"u","event":"e","writeKey":"same"}`,
	`{"type":"track","userId":"u","event":"e","writeKey":5}`,
	`[]`, `5`, `null`, `"x"`, `{}`,
}

func seedBodies() []string {
	bodies := []string{
		string(loadBody(3)),
		`{"batch":[]}`, `{}`, `[]`, `{"batch":5}`, `{"batch":[1,]}`, `{"batch":[{}]} x`,
		`{"writeKey":"k","batch":[{"type":"track","userId":"u","event":"e","writeKey":"other"},{"type":"track","userId":"u","event":"e","writeKey":"same"}]}`,
		`{"batch":[{"type":"track","userId":"u","event":"e","writeKey":""},{"writeKey":"k2"},{"writeKey":"k3"}]}`,
		`{"batch":[5,{"writeKey":"k4","type":"track","userId":"u","event":"e"}]}`,
		`{"batch":[{"type":"track","userId":"u","event":"e"}],"sentAt":"2024-05-01T10:00:05Z"}`,
		`{"batch":[{"type":"track","userId":"u","event":"e"}],"sentAt":5}`,
		`{"batch":[{"type":"track","userId":"u","event":"e"}],"sentAt":"bad"}`,
		`{"batch":[{"type":"track","userId":"u","event":"e","context":{"os":{"name":"x"}}}],"context":{"ip":"1.2.3.4","library":{"name":"l"}}}`,
		`{"batch":[{"type":"track","userId":"u","event":"e"}],"context":[]}`,
		`{"batch":[{"type":"track","userId":"u","event":"e","properties":{"p":"` + strings.Repeat("x", MaxEventBytes) + `"}},{"type":"track","userId":"u","event":"e"}]}`,
		`{"batch":[{"type":"track","userId":"u","event":"e","properties":{"a":1}}],"batch":[{"type":"track","userId":"v","event":"f"}]}`,
	}
	bodies = append(bodies, `{"writeKey":"k","batch":[`+strings.Join(messageSeeds, ",")+`]}`)
	for _, m := range messageSeeds {
		bodies = append(bodies, `{"batch":[`+m+`]}`)
	}
	return bodies
}

func TestBatchMatchesReference(t *testing.T) {
	for _, body := range seedBodies() {
		for mode := range byte(128) {
			compareBatch(t, []byte(body), mode)
		}
	}
}

// FuzzBatch checks serveBatch's decoding against the reference: same
// parse errors, write key, ops and rejections for any body.
func FuzzBatch(f *testing.F) {
	for _, body := range seedBodies() {
		f.Add([]byte(body), byte(3))
		f.Add([]byte(body), byte(2<<5|1))
	}
	f.Fuzz(func(t *testing.T, body []byte, mode byte) {
		compareBatch(t, body, mode)
	})
}

// FuzzConvertDoc checks convertDoc against Convert message by message,
// with a given type too: when convertDoc converts, Convert gives the same
// op; when it declines, the caller's Convert decides.
func FuzzConvertDoc(f *testing.F) {
	for _, m := range messageSeeds {
		f.Add([]byte(m), "", byte(3))
		f.Add([]byte(m), "", byte(1<<5|1))
		f.Add([]byte(m), "", byte(2<<5|2))
	}
	for _, typ := range []string{"track", "identify", "page", "screen", "group", "alias", "x"} {
		f.Add([]byte(`{"userId":"u","event":"e","name":"n","traits":{"a":1}}`), typ, byte(1))
	}
	f.Fuzz(func(t *testing.T, data []byte, typ string, mode byte) {
		var d norm.Doc
		root, err := d.Parse(data)
		if err != nil || d.Kind(root) != norm.KindObject {
			return
		}
		op, ok := convertDoc(&d, root, typ, testEnv(mode), &opAlloc{})
		if !ok {
			return
		}
		m, err := parseObject(data)
		if err != nil {
			t.Fatal(err)
		}
		want, err := Convert(m, typ, testEnv(mode))
		if err != nil {
			t.Fatalf("%q %q: convertDoc accepted what Convert rejects: %v", data, typ, err)
		}
		ops := []engine.Op{op, want}
		normalize(ops)
		if !reflect.DeepEqual(ops[0], ops[1]) {
			t.Fatalf("%q %q:\n got %+v\nwant %+v", data, typ, ops[0], ops[1])
		}
	})
}

// TestConvertDocCovers checks that the messages batches usually hold take
// the fast path.
func TestConvertDocCovers(t *testing.T) {
	for i, s := range messageSeeds[:4] {
		var d norm.Doc
		root, err := d.Parse([]byte(s))
		if err != nil {
			t.Fatal(err)
		}
		for _, mode := range []byte{1, 1<<5 | 1, 2<<5 | 5} {
			if _, ok := convertDoc(&d, root, "", testEnv(mode), &opAlloc{}); !ok {
				t.Errorf("message %d not converted (mode %d): %s", i, mode, s)
			}
		}
	}
	var d norm.Doc
	body := loadBody(100)
	_, elems, err := d.ParseEnvelope(body, "batch")
	if err != nil {
		t.Fatal(err)
	}
	var a opAlloc
	for i, e := range elems {
		a.todo = len(elems) - i
		if _, ok := convertDoc(&d, e.Node, "", &Envelope{ReceivedAt: time.Now(), Schema: benchSchema()}, &a); !ok {
			t.Fatalf("load test event %d not converted", i)
		}
	}
}

func TestBatchAllocs(t *testing.T) {
	body := loadBody(100)
	env := &Envelope{ReceivedAt: time.Now(), ClientIP: "10.9.8.7", Schema: benchSchema()}
	getBatch().release()
	allocs := testing.AllocsPerRun(20, func() {
		b := getBatch()
		if err := b.parse(body); err != nil {
			t.Fatal(err)
		}
		ops, _ := b.convert(env, nil)
		if len(ops) != 100 {
			t.Fatal(len(ops))
		}
		b.release()
	})
	// Per event: the strings kept (userId, event, messageId, 6 values);
	// per request: the ops, a few chunks, the top-level map.
	if per := allocs / 100; per > 11 {
		t.Errorf("%.1f allocations per event", per)
	}
}

func TestChunks(t *testing.T) {
	var c chunks[int]
	a := c.take(4, 10)
	a = append(a, 1, 2)
	a = c.done(a)
	b := c.take(2, 1)
	b = append(b, 3, 4, 5) // outgrows its room: moved
	b = c.done(b)
	d := c.take(3, 1)
	d = append(d, 6, 7, 8)
	d = c.done(d)
	a = append(a, 9)
	if !reflect.DeepEqual([][]int{a, b, d}, [][]int{{1, 2, 9}, {3, 4, 5}, {6, 7, 8}}) {
		t.Fatal(a, b, d)
	}
	if cap(d) != len(d) || c.off != 2+2+3 {
		t.Fatalf("cap %d, off %d", cap(d), c.off)
	}
}
