package clevertap

import (
	"testing"
	"time"

	"github.com/cohortdb/cohort/engine"
)

// FuzzUpload feeds arbitrary upload bodies through ParseUpload and Convert:
// no panics, every rejection has a code and a reason, every accepted
// record is a well-formed operation.
func FuzzUpload(f *testing.F) {
	for _, s := range []string{
		`{"d":[{"type":"profile","identity":"1","ts":1700000000,"profileData":{"Name":"Jo","Email":"j@x.y","DOB":"$D_631152000","MSG-email":false}}]}`,
		`{"d":[{"type":"event","objectId":"o","evtName":"Charged","evtData":{"Amount":1.5,"Items":[{"a":1}]}}]}`,
		`{"d":[{"type":"event","identity":"1"},{"type":"x"},{},1,null]}`,
		`{"d":[{"type":"profile","identity":2,"profileData":{"d":"$D_x"}}]}`,
		`{"d":null}`, `{"d":`, `[]`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		recs, err := ParseUpload(body)
		if err != nil {
			return
		}
		for _, r := range recs {
			if len(r.Raw) == 0 {
				t.Fatal("record without text")
			}
			op, code, err := Convert(r, time.Unix(1700000000, 0), nil)
			if err != nil {
				if code < 510 || code > 515 || err.Error() == "" {
					t.Fatalf("rejection without code or reason: %d %v", code, err)
				}
				continue
			}
			if len(op.IDs) == 0 || op.At == 0 || (op.Kind != engine.OpIdentify && op.Kind != engine.OpTrack) || (op.Kind == engine.OpTrack && op.Event == "") {
				t.Fatalf("accepted a malformed op: %+v", op)
			}
		}
	})
}
