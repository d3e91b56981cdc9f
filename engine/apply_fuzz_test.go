package engine

import (
	"context"
	"math"
	"testing"
	"time"

	"github.com/cohortdb/cohort/engine/column"
	"github.com/cohortdb/cohort/engine/identity"
)

// FuzzApply decodes bytes into batches of operations with adversarial
// names, types and identifiers. Apply must never panic, must reject bad
// operations with an error, and the published state must stay coherent:
// every live profile row belongs to a distinct canonical person.
func FuzzApply(f *testing.F) {
	f.Add([]byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9})
	f.Add([]byte("identify track alias delete \x00\xff\x10\x20"))
	f.Add([]byte{1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 0, 0, 0, 0, 255, 255, 255, 255})
	f.Fuzz(func(t *testing.T, data []byte) {
		w := NewWorkspace("f", identity.DefaultRules())
		next := func() byte {
			if len(data) == 0 {
				return 0
			}
			b := data[0]
			data = data[1:]
			return b
		}
		names := []string{"age", "plan", "ltv", "", "_x", "person_id", "updated_at", "last_seen", "tags", "name", "ts", "ok"}
		ids := []string{"a", "b", "c", "0", "null", ""}
		values := func(b byte) column.Value {
			switch b % 9 {
			case 0:
				return column.Value{}
			case 1:
				return column.Int(int64(b) - 100)
			case 2:
				return column.Float(float64(b) / 3)
			case 3:
				return column.Float(math.NaN())
			case 4:
				return column.String(string(rune(b)))
			case 5:
				return column.Bool(b%2 == 0)
			case 6:
				return column.Micros(int64(b) * 1e6)
			case 7:
				return column.StringList([]string{"x", string(rune(b))})
			}
			return column.Int(math.MaxInt64)
		}
		for batch := 0; batch < 4 && len(data) > 0; batch++ {
			var ops []Op
			for i := 0; i < 8 && len(data) > 0; i++ {
				kind := OpKind(next()%5 + 0)
				op := Op{Kind: kind, At: int64(next()) * int64(time.Second/time.Microsecond), Event: names[next()%byte(len(names))], Source: "m"}
				for n := next() % 3; n > 0; n-- {
					typ := []string{"user_id", "anonymous_id", "email", ""}[next()%4]
					op.IDs = append(op.IDs, identity.ID{Type: typ, Value: ids[next()%byte(len(ids))]})
				}
				for n := next() % 4; n > 0; n-- {
					op.Traits = append(op.Traits, Field{Name: names[next()%byte(len(names))], Value: values(next())})
					op.Props = append(op.Props, Field{Name: names[next()%byte(len(names))], Value: values(next())})
				}
				ops = append(ops, op)
			}
			r, err := w.Apply(context.Background(), ops)
			if err != nil {
				t.Fatal(err)
			}
			if r.Applied+len(r.Rejected) != len(ops) {
				t.Fatalf("applied %d + rejected %d != %d ops", r.Applied, len(r.Rejected), len(ops))
			}
			for _, re := range r.Rejected {
				if re.Err == nil || re.Error() == "" {
					t.Fatal("rejection without a reason")
				}
			}
		}
		s := w.Snapshot()
		seen := map[int64]bool{}
		rows, err := s.Select(context.Background(), Query{Table: Profiles}, []string{ColPersonID})
		if err != nil {
			t.Fatal(err)
		}
		n := int64(0)
		for rows.Next() {
			p := rows.Values()[0].I
			if seen[p] {
				t.Fatalf("person %d has two live profile rows", p)
			}
			if s.Graph.Canonical(uint32(p)) != uint32(p) {
				t.Fatalf("profile row of merged person %d", p)
			}
			seen[p] = true
			n++
		}
		if n != s.Profiles.Live {
			t.Fatalf("%d rows iterated, Live says %d", n, s.Profiles.Live)
		}
	})
}
