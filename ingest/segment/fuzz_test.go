package segment

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/cohortdb/cohort/engine"
	"github.com/cohortdb/cohort/engine/column"
)

// FuzzDecode feeds arbitrary bytes to the Segment message decoder: it must
// never panic, and every operation it accepts must be well formed.
func FuzzDecode(f *testing.F) {
	for _, s := range []string{
		`{"type":"identify","userId":"u1","traits":{"email":"a@b.c","createdAt":"2024-01-02T03:04:05Z","address":{"city":"X"},"tags":["a"]}}`,
		`{"type":"track","anonymousId":"a","event":"E","properties":{"n":1,"f":1.5,"big":12345678901234567890,"arr":[1,"x"],"o":{"p":{"q":null}}},"context":{"os":{"name":"iOS"},"externalIds":[{"id":"9","type":"crmId"}],"traits":{"plan":"pro"}},"timestamp":"2024-01-01T00:00:00Z","sentAt":"2024-01-01T00:00:05Z"}`,
		`{"type":"page","userId":7,"name":"Home","category":"Docs","properties":{"url":"https://x"}}`,
		`{"type":"screen","userId":"u","name":"Main"}`,
		`{"type":"group","userId":"u","groupId":"g","traits":{"name":"Initech","employees":10}}`,
		`{"type":"alias","previousId":"a","userId":"u"}`,
		`{"type":"track","userId":"u","event":"e","properties":{"createdAt":"nope"}}`,
		`[]`, `{"type":1}`, `{`,
	} {
		f.Add([]byte(s), "")
	}
	f.Add([]byte(`{"userId":"u","event":"e"}`), "track")
	schema := func(table, col string) (column.Type, bool) {
		if col == "n" {
			return column.TypeInt, true
		}
		return 0, false
	}
	f.Fuzz(func(t *testing.T, data []byte, typ string) {
		env := &Envelope{ReceivedAt: time.Unix(1700000000, 0), ClientIP: "127.0.0.1", Schema: schema}
		op, err := Decode(data, typ, env)
		if err != nil {
			if err.Error() == "" {
				t.Fatal("empty error")
			}
			return
		}
		if op.Kind < engine.OpIdentify || op.Kind > engine.OpAlias || len(op.IDs) == 0 || op.At == 0 || op.Source == "" {
			t.Fatalf("accepted a malformed op: %+v", op)
		}
		if op.Kind == engine.OpTrack && op.Event == "" {
			t.Fatalf("track without a name: %+v", op)
		}
		for _, fs := range [][]engine.Field{op.Traits, op.Props} {
			for _, fl := range fs {
				if fl.Name == "" || len(fl.Name) > 128 || fl.Name[0] == '_' {
					t.Fatalf("bad field name %q", fl.Name)
				}
			}
		}
		if _, err := json.Marshal(op.IDs); err != nil {
			t.Fatal(err)
		}
	})
}
