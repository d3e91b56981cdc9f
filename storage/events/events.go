package events

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/cohortdb/cohort/engine"
	"github.com/cohortdb/cohort/engine/column"
	"github.com/cohortdb/cohort/engine/table"
	"github.com/cohortdb/cohort/storage/durable"
	"github.com/cohortdb/cohort/storage/internal/pqtable"
)

const dayLayout = "2006-01-02"

// part is one sealed file: dir/<day>/e-<minID>-<maxID>-<crc32c>.parquet.
type part struct {
	day          time.Time
	path         string
	minID, maxID int64
	crc          uint32
}

func parsePart(dayDir string, day time.Time, name string) (part, bool) {
	s, ok := strings.CutPrefix(name, "e-")
	if !ok {
		return part{}, false
	}
	if s, ok = strings.CutSuffix(s, ".parquet"); !ok {
		return part{}, false
	}
	p := strings.Split(s, "-")
	if len(p) != 3 {
		return part{}, false
	}
	lo, err1 := strconv.ParseInt(p[0], 10, 64)
	hi, err2 := strconv.ParseInt(p[1], 10, 64)
	crc, err3 := strconv.ParseUint(p[2], 16, 32)
	if err1 != nil || err2 != nil || err3 != nil {
		return part{}, false
	}
	return part{day: day, path: filepath.Join(dayDir, name), minID: lo, maxID: hi, crc: uint32(crc)}, true
}

// Store holds the sealed event partitions of one workspace in dir.
type Store struct {
	dir string
	wm  map[time.Time]int64 // per day: highest event_id sealed
}

// Open opens (creating) the partition directory dir and recovers the
// per-day watermarks from the file names. Temporary files are removed.
func Open(dir string) (*Store, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("cannot open event partitions %s: %w", dir, err)
	}
	s := &Store{dir: dir, wm: map[time.Time]int64{}}
	parts, err := s.parts(time.Time{}, time.Unix(1<<40, 0))
	if err != nil {
		return nil, err
	}
	for _, p := range parts {
		s.wm[p.day] = max(s.wm[p.day], p.maxID)
	}
	return s, nil
}

// parts lists the files of the days overlapping [from, to), by day then id.
func (s *Store) parts(from, to time.Time) ([]part, error) {
	days, err := os.ReadDir(s.dir)
	if err != nil {
		return nil, fmt.Errorf("cannot list event partitions in %s: %w", s.dir, err)
	}
	var out []part
	for _, d := range days {
		day, err := time.Parse(dayLayout, d.Name())
		if err != nil || !d.IsDir() || !day.Add(24*time.Hour).After(from) || !day.Before(to) {
			continue
		}
		dd := filepath.Join(s.dir, d.Name())
		if err := durable.Clean(dd); err != nil {
			return nil, err
		}
		files, err := os.ReadDir(dd)
		if err != nil {
			return nil, fmt.Errorf("cannot list event partition %s: %w", dd, err)
		}
		for _, f := range files {
			if p, ok := parsePart(dd, day, f.Name()); ok {
				out = append(out, p)
			}
		}
	}
	slices.SortFunc(out, func(a, b part) int {
		if c := a.day.Compare(b.day); c != 0 {
			return c
		}
		return int(a.minID - b.minID)
	})
	return out, nil
}

// Sealed returns the highest event_id sealed for day (UTC midnight).
func (s *Store) Sealed(day time.Time) int64 { return s.wm[day] }

// Seal writes the events of t whose day (UTC, by ts) ends at or before
// cutoff and which are not sealed yet (event_id above the day's
// watermark): one new file per day. Late events of an already sealed day
// go to an additional file of that day. It returns the rows written.
//
// The events stay in the engine's memory: dropping sealed days from it
// needs an engine change (see doc.go).
func (s *Store) Seal(ctx context.Context, t *table.Snapshot, cutoff time.Time) (int64, error) {
	cut := cutoff.UTC().Truncate(24 * time.Hour).UnixMicro()
	ts, ok1 := t.Schema.Lookup(engine.ColTS)
	id, ok2 := t.Schema.Lookup(engine.ColEventID)
	if !ok1 || !ok2 {
		return 0, fmt.Errorf("cannot seal events: table %s has no %s or %s", t.Name, engine.ColTS, engine.ColEventID)
	}
	// Pass 1: which rows of which days, reading two columns only.
	type rowRef struct{ chunk, row int }
	byDay := map[int64][]rowRef{}
	for ci, c := range t.Chunks {
		if err := ctx.Err(); err != nil {
			return 0, err
		}
		tv, iv := c.Col(ts.Index), c.Col(id.Index)
		if tv == nil || tv.MinI >= cut {
			continue // nothing old enough (sealed vectors carry min/max)
		}
		for row := 0; row < c.Rows; row++ {
			if c.Del != nil && c.Del.Get(row) {
				continue
			}
			at, ok := tv.Int(row)
			if !ok || at >= cut {
				continue
			}
			day := at - mod(at, 86_400_000_000)
			eid, _ := iv.Int(row)
			if eid <= s.wm[time.UnixMicro(day).UTC()] {
				continue
			}
			byDay[day] = append(byDay[day], rowRef{ci, row})
		}
	}
	days := make([]int64, 0, len(byDay))
	for d := range byDay {
		days = append(days, d)
	}
	slices.Sort(days)
	cols := make([]pqtable.Column, len(t.Schema.Cols))
	for i, d := range t.Schema.Cols {
		cols[i] = pqtable.Column{Name: d.Name, Type: d.Type.String()}
	}
	dicts := make([]column.DictView, len(t.Schema.Cols))
	for i, d := range t.Schema.Cols {
		if d.Dict != nil {
			dicts[i] = d.Dict.View()
		}
	}
	var total int64
	for _, d := range days {
		day := time.UnixMicro(d).UTC()
		refs := byDay[d]
		lo, hi := int64(1<<62), int64(0)
		for _, r := range refs {
			eid, _ := t.Chunks[r.chunk].Col(id.Index).Int(r.row)
			lo, hi = min(lo, eid), max(hi, eid)
		}
		dd := filepath.Join(s.dir, day.Format(dayLayout))
		if err := os.MkdirAll(dd, 0o755); err != nil {
			return total, fmt.Errorf("cannot seal events of %s: %w", day.Format(dayLayout), err)
		}
		tmp := filepath.Join(dd, fmt.Sprintf("e-%d-%d", lo, hi)+durable.TempSuffix)
		vals := make([]column.Value, len(cols))
		_, crc, err := durable.WriteFile(tmp, func(out io.Writer) error {
			w, err := pqtable.NewWriter(out, cols, map[string]string{"cohort.table": "events", "cohort.day": day.Format(dayLayout)})
			if err != nil {
				return err
			}
			for i, r := range refs {
				if i&4095 == 0 {
					if err := ctx.Err(); err != nil {
						return err
					}
				}
				c := t.Chunks[r.chunk]
				for j, def := range t.Schema.Cols {
					vals[j] = value(c.Col(j), r.row, def, dicts[j])
				}
				if err := w.Append(vals); err != nil {
					return err
				}
			}
			return w.Close()
		})
		if err != nil {
			return total, fmt.Errorf("cannot seal events of %s: %w", day.Format(dayLayout), err)
		}
		final := filepath.Join(dd, fmt.Sprintf("e-%d-%d-%08x.parquet", lo, hi, crc))
		if err := os.Rename(tmp, final); err != nil {
			return total, fmt.Errorf("cannot seal events of %s: %w", day.Format(dayLayout), err)
		}
		if err := durable.SyncDir(dd); err != nil {
			return total, err
		}
		if err := durable.SyncDir(s.dir); err != nil {
			return total, err
		}
		s.wm[day] = max(s.wm[day], hi)
		total += int64(len(refs))
	}
	return total, nil
}

func mod(a, b int64) int64 {
	m := a % b
	if m < 0 {
		m += b
	}
	return m
}

func value(v *column.Vec, row int, d *column.ColumnDef, dict column.DictView) column.Value {
	switch d.Type {
	case column.TypeString:
		code, ok := v.Int(row)
		if !ok {
			return column.Value{}
		}
		return column.String(dict.Get(uint32(code)))
	case column.TypeStringList:
		codes, ok := v.List(row)
		if !ok {
			return column.Value{}
		}
		l := make([]string, len(codes))
		for i, c := range codes {
			l[i] = dict.Get(c)
		}
		return column.StringList(l)
	}
	return v.Value(row, d)
}

// Scan calls fn for every sealed event with from <= ts < to, day by day.
// cols are the columns of the file the row comes from (schemas grow over
// time: a later file may have more columns); vals and its strings are
// valid only during the call. Days outside the range are not opened.
func (s *Store) Scan(ctx context.Context, from, to time.Time, fn func(cols []pqtable.Column, vals []column.Value) error) error {
	parts, err := s.parts(from, to)
	if err != nil {
		return err
	}
	lo, hi := from.UnixMicro(), to.UnixMicro()
	for _, p := range parts {
		if err := scanPart(ctx, p, lo, hi, fn); err != nil {
			return err
		}
	}
	return nil
}

func scanPart(ctx context.Context, p part, lo, hi int64, fn func([]pqtable.Column, []column.Value) error) error {
	size, crc, err := durable.FileCRC(p.path)
	if err != nil {
		return err
	}
	if crc != p.crc {
		return durable.Corrupt(p.path, -1, "checksum %08x, name says %08x", crc, p.crc)
	}
	f, err := os.Open(p.path)
	if err != nil {
		return fmt.Errorf("cannot open event partition %s: %w", p.path, err)
	}
	defer f.Close()
	rd, err := pqtable.Open(f, size, nil)
	if err != nil {
		return durable.Corrupt(p.path, -1, "%v", err)
	}
	cols := rd.Columns()
	tsi := slices.IndexFunc(cols, func(c pqtable.Column) bool { return c.Name == engine.ColTS })
	if tsi < 0 {
		return durable.Corrupt(p.path, -1, "no %s column", engine.ColTS)
	}
	var stop bool
	err = rd.Each(ctx, func(vals []column.Value) error {
		if at := vals[tsi].I; at < lo || at >= hi {
			return nil
		}
		if err := fn(cols, vals); err != nil {
			stop = true
			return err
		}
		return nil
	})
	if err != nil && !stop && ctx.Err() == nil && !errors.Is(err, durable.ErrCorrupt) {
		return durable.Corrupt(p.path, -1, "%v", err)
	}
	return err
}
