package table

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/cohortdb/cohort/engine/column"
)

// TestUpdateIntModel updates int and timestamp columns in place at random,
// among appends, deletes and publications, and checks every snapshot, after
// all later writes, against the model at its publication: values, NULLs,
// exact chunk statistics, and that the tail is never updated in place.
func TestUpdateIntModel(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 7))
	tb := New("u", column.NewSchema())
	di := mustColumn(t, tb, "i", column.TypeInt)
	ds := mustColumn(t, tb, "s", column.TypeString)
	var dt *column.ColumnDef // created late: absent from the first chunks

	type row struct {
		i, ts   int64
		iNull   bool
		tsNull  bool
		deleted bool
	}
	var model []row
	type pub struct {
		s    *Snapshot
		rows []row
	}
	var pubs []pub
	appendRow := func() {
		k := len(model)
		tb.Begin()
		x := row{i: int64(k % 300), tsNull: true}
		if k%11 == 0 {
			x.iNull = true
		} else {
			tb.SetInt(di, x.i)
		}
		tb.SetString(ds, "s")
		if dt != nil && k%10 == 0 { // sparse: under 1/8 of the rows
			x.ts, x.tsNull = int64(k)*1_000_000, false
			tb.SetInt(dt, x.ts)
		}
		tb.End()
		model = append(model, x)
	}
	update := func(k int) {
		sealed := k < tb.Sealed()*column.ChunkRows
		d, v := di, r.Int64N(1<<40)-1<<39 // negative values too
		if r.IntN(2) == 0 {
			v = r.Int64N(300)
		}
		if dt != nil && r.IntN(2) == 0 {
			d, v = dt, r.Int64N(1<<50)
		}
		ok := tb.UpdateInt(RowID(k), d, v)
		if want := sealed && !model[k].deleted; ok != want {
			t.Fatalf("UpdateInt(%d) = %v, want %v (sealed %v, deleted %v)", k, ok, want, sealed, model[k].deleted)
		}
		if !ok {
			return
		}
		if d == di {
			model[k].i, model[k].iNull = v, false
		} else {
			model[k].ts, model[k].tsNull = v, false
		}
	}
	for len(model) < 3*column.ChunkRows+1000 {
		switch op := r.IntN(100); {
		case op < 40:
			for n := r.IntN(4000); n > 0; n-- {
				appendRow()
			}
			if dt == nil && len(model) > column.ChunkRows+100 {
				dt = mustColumn(t, tb, "ts", column.TypeTimestamp)
			}
		case op < 75:
			for n := r.IntN(500); n > 0 && len(model) > 0; n-- {
				k := r.IntN(len(model))
				if r.IntN(2) == 0 {
					k -= k % 499 // a few hot rows: an extreme value gets overwritten
				}
				update(k)
			}
		case op < 85:
			for n := r.IntN(100); n > 0 && len(model) > 0; n-- {
				k := r.IntN(len(model))
				if tb.Delete(RowID(k)) == model[k].deleted {
					t.Fatalf("Delete(%d) disagrees with the model", k)
				}
				model[k].deleted = true
			}
		default:
			pubs = append(pubs, pub{tb.Publish(), append([]row(nil), model...)})
		}
	}
	pubs = append(pubs, pub{tb.Publish(), append([]row(nil), model...)})

	updated := 0
	for p, x := range pubs {
		for k, want := range x.rows {
			c, off := x.s.Row(RowID(k))
			if (c != nil) == want.deleted {
				t.Fatalf("publication %d: row %d visible %v, deleted %v", p, k, c != nil, want.deleted)
			}
			if c == nil {
				continue
			}
			got, ok := c.Col(di.Index).Int(off)
			if ok == want.iNull || (ok && got != want.i) {
				t.Fatalf("publication %d: row %d i = %d (%v), want %d (null %v)", p, k, got, ok, want.i, want.iNull)
			}
			if want.i < 0 || want.i >= 300 {
				updated++
			}
			if dt == nil || dt.Index >= len(x.s.Schema.Cols) {
				continue
			}
			got, ok = c.Col(dt.Index).Int(off)
			if ok == want.tsNull || (ok && got != want.ts) {
				t.Fatalf("publication %d: row %d ts = %d (%v), want %d (null %v)", p, k, got, ok, want.ts, want.tsNull)
			}
		}
		for _, c := range x.s.Chunks {
			for ci, v := range c.Cols {
				if v == nil || !column.IntLike(v.Type) || v.Type == column.TypeString {
					continue
				}
				mn, mx, nn := int64(math.MaxInt64), int64(math.MinInt64), 0
				for o := 0; o < c.Rows; o++ {
					if x, ok := v.Int(o); ok {
						mn, mx, nn = min(mn, x), max(mx, x), nn+1
					}
				}
				if nn != v.NonNil || (nn > 0 && c.Slot < len(x.s.BySlot)-1 && (mn != v.MinI || mx != v.MaxI)) {
					t.Fatalf("publication %d chunk %d column %d: stats min %d max %d non-null %d, values give %d %d %d",
						p, c.Slot, ci, v.MinI, v.MaxI, v.NonNil, mn, mx, nn)
				}
			}
		}
	}
	if updated == 0 || len(pubs) < 5 {
		t.Fatalf("the test did not exercise updates: %d updated values seen, %d publications", updated, len(pubs))
	}
}
