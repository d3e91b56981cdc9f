// Package load feeds a generated data set (bench/gen) into an engine
// workspace through the engine's ordinary apply path, for the demo workspace
// of `cohort serve` and for benchmarks. It owns no data structures.
package load

import (
	"context"
	"fmt"

	"github.com/cohortdb/cohort/bench/gen"
	"github.com/cohortdb/cohort/engine"
	"github.com/cohortdb/cohort/engine/column"
	"github.com/cohortdb/cohort/engine/identity"
)

// BatchSize is the number of operations per applied batch.
const BatchSize = 8192

// Progress is called after every batch with the operations applied so far.
type Progress func(done, total int64)

// Workspace applies the data set (whose profiles bench/gen already made
// consistent with their events: first_seen/last_seen cover every event)'s profiles (one identify per person) and
// then its events (one track each) to w.
func Workspace(ctx context.Context, w *engine.Workspace, ds *gen.Dataset, progress Progress) error {
	total := int64(ds.Options.Profiles + ds.Options.Events)
	var done int64
	ops := make([]engine.Op, 0, BatchSize)
	flush := func() error {
		if len(ops) == 0 {
			return nil
		}
		r, err := w.Apply(ctx, ops)
		if err != nil {
			return fmt.Errorf("cannot load %s: %w", w.Name(), err)
		}
		if len(r.Rejected) > 0 {
			return fmt.Errorf("cannot load %s: %d operations rejected, first: %w", w.Name(), len(r.Rejected), r.Rejected[0])
		}
		done += int64(len(ops))
		if progress != nil {
			progress(done, total)
		}
		ops = ops[:0]
		return nil
	}
	var pr gen.ProfileRow
	for i := 0; i < ds.Options.Profiles; i++ {
		ds.Profiles.Row(i, &pr)
		ops = append(ops, ProfileOp(&pr))
		if len(ops) == BatchSize {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	if err := flush(); err != nil {
		return err
	}
	var er gen.EventRow
	for i := 0; ds.Events != nil && i < ds.Options.Events; i++ {
		ds.Events.Row(i, &er)
		ops = append(ops, EventOp(&er))
		if len(ops) == BatchSize {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	return flush()
}

func userID(pid int64) []identity.ID {
	return []identity.ID{{Type: "user_id", Value: "u" + itoa(pid)}}
}

func itoa(i int64) string { return fmt.Sprint(i) }

// ProfileOp returns the identify operation of one generated profile.
func ProfileOp(r *gen.ProfileRow) engine.Op {
	fs := make([]engine.Field, 0, 24)
	add := func(name string, v column.Value, ok bool) {
		if ok {
			fs = append(fs, engine.Field{Name: name, Value: v})
		}
	}
	add("email", column.String(r.Email), r.EmailValid)
	add("first_name", column.String(r.FirstName), true)
	add("last_name", column.String(r.LastName), true)
	add("country", column.String(r.Country), true)
	add("city", column.String(r.City), true)
	add("plan", column.String(r.Plan), true)
	add("gender", column.String(r.Gender), r.GenderValid)
	add("language", column.String(r.Language), true)
	add("age", column.Int(r.Age), r.AgeValid)
	add("ltv", column.Float(r.LTV), true)
	add("signup_at", column.Micros(r.SignupAt), true)
	add(engine.ColCreatedAt, column.Micros(r.CreatedAt), true)
	add(engine.ColFirstSeen, column.Micros(r.FirstSeen), true)
	add(engine.ColLastSeen, column.Micros(r.LastSeen), true)
	add("email_opt_in", column.Bool(r.EmailOptIn), true)
	add("push_enabled", column.Bool(r.PushEnabled), true)
	add("is_vip", column.Bool(r.IsVIP), true)
	add("sessions_count", column.Int(r.SessionsCount), true)
	add("orders_count", column.Int(r.OrdersCount), true)
	add("referral_code", column.String(r.ReferralCode), r.ReferralCodeValid)
	add("company", column.String(r.Company), r.CompanyValid)
	add("nps_score", column.Int(r.NPSScore), r.NPSScoreValid)
	return engine.Op{Kind: engine.OpIdentify, IDs: userID(r.PersonID), Traits: fs, At: r.CreatedAt}
}

// EventOp returns the track operation of one generated event.
func EventOp(r *gen.EventRow) engine.Op {
	fs := make([]engine.Field, 0, 4)
	if r.PlatformValid {
		fs = append(fs, engine.Field{Name: "platform", Value: column.String(r.Platform)})
	}
	if r.AppVersionValid {
		fs = append(fs, engine.Field{Name: "app_version", Value: column.String(r.AppVersion)})
	}
	if r.AmountValid {
		fs = append(fs, engine.Field{Name: "amount", Value: column.Float(r.Amount)})
	}
	if r.CurrencyValid {
		fs = append(fs, engine.Field{Name: "currency", Value: column.String(r.Currency)})
	}
	return engine.Op{Kind: engine.OpTrack, IDs: userID(r.PersonID), Event: r.Name, Props: fs, At: r.TS}
}
