// Package enginetest holds test helpers shared by the engine and storage
// tests: a random operation generator that exercises identify, track,
// alias and delete (merges and erasure included), and a canonical text dump
// of a workspace's observable state for exact comparisons.
//
// It is imported by tests only; it must not be imported by production code.
package enginetest

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"

	"github.com/cohortdb/cohort/engine"
	"github.com/cohortdb/cohort/engine/column"
	"github.com/cohortdb/cohort/engine/identity"
)

// Pool is the identifier pool random operations draw from.
type Pool struct {
	IDs []identity.ID
}

// NewPool returns a pool of n user ids, 2n anonymous ids (some UUIDs) and
// n emails.
func NewPool(n int) *Pool {
	p := &Pool{}
	for i := range n {
		p.IDs = append(p.IDs,
			identity.ID{Type: identity.TypeUserID, Value: "u" + strconv.Itoa(i)},
			identity.ID{Type: "anonymous_id", Value: "a" + strconv.Itoa(i)},
			identity.ID{Type: "anonymous_id", Value: fmt.Sprintf("%08x-1234-4abc-8def-%012x", i, i*7919)},
			identity.ID{Type: "email", Value: fmt.Sprintf("User%d@Example.com", i)},
		)
	}
	return p
}

func (p *Pool) pick(r *rand.Rand, n int) []identity.ID {
	out := make([]identity.ID, 0, n)
	for range n {
		out = append(out, p.IDs[r.IntN(len(p.IDs))])
	}
	return out
}

var events = []string{"page", "signup", "purchase", "login", "add_to_cart"}
var plans = []string{"free", "pro", "team", "enterprise", ""}

func randomValue(r *rand.Rand, name string, at int64) column.Value {
	if r.IntN(12) == 0 {
		return column.Value{} // clears the attribute
	}
	switch name {
	case "plan", "city":
		return column.String(plans[r.IntN(len(plans))] + strconv.Itoa(r.IntN(3)))
	case "age", "visits":
		return column.Int(int64(r.IntN(100)) - 10)
	case "score", "amount":
		return column.Float(float64(r.IntN(10000)) / 7)
	case "vip", "premium":
		return column.Bool(r.IntN(2) == 0)
	case "birthday", "renewal", engine.ColFirstSeen, engine.ColLastSeen:
		return column.Micros(at - int64(r.IntN(1e9))*1e3)
	case "tags":
		l := make([]string, r.IntN(4))
		for i := range l {
			l[i] = "t" + strconv.Itoa(r.IntN(6))
		}
		return column.StringList(l)
	case "mixed": // typed by whoever writes first; later writes may conflict
		switch r.IntN(3) {
		case 0:
			return column.Int(int64(r.IntN(5)))
		case 1:
			return column.Float(0.5)
		}
		return column.String("x")
	}
	return column.String(name + strconv.Itoa(r.IntN(50)))
}

// first_seen/last_seen set explicitly must win over the derived values
// however the log is cut into batches.
var traitNames = []string{"plan", "city", "age", "score", "vip", "birthday", "tags", "mixed", "name", engine.ColFirstSeen, engine.ColLastSeen}
var propNames = []string{"amount", "visits", "premium", "renewal", "tags", "mixed", "ref", "name"}

func fields(r *rand.Rand, names []string, max int, at int64) []engine.Field {
	n := r.IntN(max + 1)
	out := make([]engine.Field, 0, n)
	for range n {
		name := names[r.IntN(len(names))]
		out = append(out, engine.Field{Name: name, Value: randomValue(r, name, at)})
	}
	return out
}

// Ops returns n random operations starting at time t (µs), 1 ms apart.
// Deletes are rare (deleteEvery: one in that many; 0 = none).
func Ops(r *rand.Rand, p *Pool, n int, t int64, deleteEvery int) []engine.Op {
	ops := make([]engine.Op, 0, n)
	for i := range n {
		at := t + int64(i)*1000
		op := engine.Op{At: at, Source: "m" + strconv.FormatInt(at, 36)}
		switch k := r.IntN(100); {
		case deleteEvery > 0 && r.IntN(deleteEvery) == 0:
			op.Kind, op.IDs = engine.OpDelete, p.pick(r, 1)
		case k < 30:
			op.Kind, op.IDs, op.Traits = engine.OpIdentify, p.pick(r, 1+r.IntN(3)), fields(r, traitNames, 4, at)
		case k < 92:
			op.Kind, op.IDs, op.Event = engine.OpTrack, p.pick(r, 1+r.IntN(2)), events[r.IntN(len(events))]
			op.Props = fields(r, propNames, 3, at)
			if r.IntN(10) == 0 {
				op.Traits = fields(r, traitNames, 2, at)
			}
			if r.IntN(3) == 0 {
				op.ReceivedAt = at + int64(r.IntN(5000))
			}
		default:
			op.Kind, op.IDs = engine.OpAlias, p.pick(r, 2)
		}
		ops = append(ops, op)
	}
	return ops
}

// Apply applies ops to w in random batch sizes, with increasing log
// sequences starting after logSeq; it returns the last log sequence used.
func Apply(ctx context.Context, r *rand.Rand, w *engine.Workspace, ops []engine.Op, logSeq uint64) (uint64, error) {
	for len(ops) > 0 {
		n := min(len(ops), 1+r.IntN(200))
		logSeq += uint64(n)
		if _, err := w.ApplyLogged(ctx, ops[:n], logSeq); err != nil {
			return logSeq, err
		}
		ops = ops[n:]
	}
	return logSeq, nil
}

// Dump renders everything observable about w's latest snapshot as text, one
// fact per line, in a canonical order: counters, schemas, profiles (by
// person), events and identities (in table order), the identity graph
// (persons, canonical ids, identifiers, merge log, suppressed identifiers)
// and the resolution of every pool identifier.
func Dump(ctx context.Context, w *engine.Workspace, p *Pool) ([]string, error) {
	return DumpExport(ctx, w.Export(), p)
}

// DumpExport is Dump of an export taken earlier (its snapshot is immutable,
// so it can be dumped while the workspace goes on).
func DumpExport(ctx context.Context, x *engine.Export, p *Pool) ([]string, error) {
	s := x.Snapshot
	out := []string{fmt.Sprintf("counters seq=%d log=%d next=%d persons=%d", x.Seq, x.LogSeq, x.NextEvent, x.Persons)}
	for _, t := range x.Tables() {
		var cols []string
		for _, d := range t.Schema.Cols {
			cols = append(cols, d.Name+":"+d.Type.String())
		}
		out = append(out, fmt.Sprintf("schema %s live=%d %s", t.Name, t.Live, strings.Join(cols, ",")))
		var rows []string
		err := engine.ForEachRow(ctx, t, func(vals []column.Value) error {
			var b strings.Builder
			for i, v := range vals {
				if i > 0 {
					b.WriteByte('|')
				}
				b.WriteString(v.String())
			}
			rows = append(rows, b.String())
			return nil
		})
		if err != nil {
			return nil, err
		}
		if t.Name == engine.Profiles {
			slices.SortFunc(rows, func(a, b string) int { // by person_id, the first column
				ia, _ := strconv.Atoi(a[:strings.IndexByte(a, '|')])
				ib, _ := strconv.Atoi(b[:strings.IndexByte(b, '|')])
				return ia - ib
			})
		}
		for _, r := range rows {
			out = append(out, t.Name+" "+r)
		}
	}
	g := s.Graph
	for q := 1; q <= g.Persons(); q++ {
		c := g.Canonical(uint32(q))
		line := fmt.Sprintf("person %d canonical=%d", q, c)
		if c == uint32(q) {
			line += fmt.Sprintf(" ids=%v", g.Identifiers(uint32(q)))
			if pc, _ := s.ProfileRow(uint32(q)); pc != nil {
				line += " profile"
			}
		}
		out = append(out, line)
	}
	for _, m := range g.MergeLog() {
		out = append(out, fmt.Sprintf("merge %+v", m))
	}
	if err := g.ExportSuppressed(func(id identity.ID) error {
		out = append(out, "suppressed "+id.String())
		return nil
	}); err != nil {
		return nil, err
	}
	if p != nil {
		for _, id := range p.IDs {
			q, ok := g.Lookup(id)
			out = append(out, fmt.Sprintf("lookup %s = %d %v", id, q, ok))
		}
	}
	return out, nil
}

// Diff returns a description of the first difference between two dumps, or
// "" when they are equal.
func Diff(a, b []string) string {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return fmt.Sprintf("line %d:\n  got  %s\n  want %s", i, a[i], b[i])
		}
	}
	if len(a) != len(b) {
		return fmt.Sprintf("got %d lines, want %d", len(a), len(b))
	}
	return ""
}
