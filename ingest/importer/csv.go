package importer

import (
	"bufio"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
	"strings"

	"github.com/cohortdb/cohort/ingest/norm"
)

// ColType is the type of a CSV (or profile-shaped Parquet) column.
type ColType string

// Column types. Auto is inferred from the first InferRows rows.
const (
	Auto      ColType = ""
	String    ColType = "string"
	Int       ColType = "int"
	Float     ColType = "float"
	Bool      ColType = "bool"
	Timestamp ColType = "timestamp"
	Skip      ColType = "skip" // column not imported
)

// InferRows is how many rows the CSV type inference looks at.
const InferRows = 1000

// ParseTypes parses a --types value: "age:int,signup:timestamp,zip:string".
func ParseTypes(s string) (map[string]ColType, error) {
	out := map[string]ColType{}
	if strings.TrimSpace(s) == "" {
		return out, nil
	}
	for _, kv := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(kv, ":")
		if !ok {
			k, v, ok = strings.Cut(kv, "=")
		}
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		if !ok || k == "" {
			return nil, fmt.Errorf("cannot parse type %q: want column:type", kv)
		}
		switch t := ColType(strings.ToLower(v)); t {
		case String, Int, Float, Bool, Timestamp, Skip:
			out[k] = t
		default:
			return nil, fmt.Errorf("cannot parse type of column %s: %q is not string, int, float, bool, timestamp or skip", k, v)
		}
	}
	return out, nil
}

// Role of a profile column.
const (
	roleTrait = iota
	roleUserID
	roleAnonymousID
)

// ProfileSchema maps the columns of a profile file (CSV with a header
// row, or a flat Parquet file) to a Segment identify message: the id
// column becomes userId, an anonymous_id column anonymousId, every other
// column a trait of its declared or inferred type.
type ProfileSchema struct {
	Names []string
	Types []ColType
	roles []int
}

// NewProfileSchema resolves the header. idColumn names the user id column;
// empty means the first of id, user_id, userId (any case). declared types
// override inference by column name.
func NewProfileSchema(header []string, idColumn string, declared map[string]ColType) (*ProfileSchema, error) {
	s := &ProfileSchema{Names: header, Types: make([]ColType, len(header)), roles: make([]int, len(header))}
	seen := map[string]bool{}
	id := -1
	for i, h := range header {
		h = strings.TrimSpace(strings.TrimPrefix(h, "\ufeff"))
		header[i] = h
		if h == "" {
			return nil, fmt.Errorf("column %d has an empty name", i+1)
		}
		if seen[h] {
			return nil, fmt.Errorf("column %q appears twice", h)
		}
		seen[h] = true
		s.Types[i] = declared[h]
		sn := norm.SnakeCase(h)
		switch {
		case idColumn != "" && h == idColumn:
			id = i
		case idColumn == "" && id < 0 && (sn == "id" || sn == "user_id"):
			id = i
		case sn == "anonymous_id":
			s.roles[i] = roleAnonymousID
		}
	}
	for k := range declared {
		if !seen[k] {
			return nil, fmt.Errorf("--types names column %q, which the header lacks", k)
		}
	}
	if id < 0 {
		if idColumn != "" {
			return nil, fmt.Errorf("no column %q (the id column) in the header %q", idColumn, header)
		}
		return nil, fmt.Errorf("no id column in the header %q: name one id or user_id, or pass --id-column", header)
	}
	s.roles[id] = roleUserID
	return s, nil
}

// Infer fixes the type of every undeclared trait column from sample rows:
// bool if every non-empty value is true/false, int if every one is an
// integer without leading zeros, float if every one is a number,
// timestamp if every one is an RFC 3339 timestamp or date, else string.
func (s *ProfileSchema) Infer(rows [][]string) {
	for i := range s.Names {
		if s.Types[i] != Auto {
			continue
		}
		if s.roles[i] != roleTrait {
			s.Types[i] = String
			continue
		}
		isBool, isInt, isFloat, isTime, seen := true, true, true, true, false
		for _, r := range rows {
			if i >= len(r) || r[i] == "" {
				continue
			}
			v := r[i]
			seen = true
			if _, err := parseBool(v); err != nil {
				isBool = false
			}
			if _, err := parseInt(v); err != nil {
				isInt = false
			}
			if _, err := parseFloat(v); err != nil {
				isFloat = false
			}
			if _, err := norm.ParseTime(v); err != nil {
				isTime = false
			}
		}
		switch {
		case !seen:
			s.Types[i] = String
		case isBool:
			s.Types[i] = Bool
		case isInt:
			s.Types[i] = Int
		case isFloat:
			s.Types[i] = Float
		case isTime:
			s.Types[i] = Timestamp
		default:
			s.Types[i] = String
		}
	}
}

func parseBool(v string) (bool, error) {
	switch strings.ToLower(v) {
	case "true":
		return true, nil
	case "false":
		return false, nil
	}
	return false, errors.New("not true or false")
}

func parseInt(v string) (int64, error) {
	d := strings.TrimPrefix(strings.TrimPrefix(v, "-"), "+")
	if len(d) > 1 && d[0] == '0' {
		return 0, errors.New("leading zero")
	}
	return strconv.ParseInt(v, 10, 64)
}

func parseFloat(v string) (float64, error) {
	if d := strings.TrimPrefix(strings.TrimPrefix(v, "-"), "+"); len(d) > 1 && d[0] == '0' && d[1] >= '0' && d[1] <= '9' {
		return 0, errors.New("leading zero")
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
		return 0, errors.New("not a finite number")
	}
	return f, nil
}

// Decode turns one row into a Segment identify message. Empty cells are
// left out (they do not clear a trait). Errors name the column.
func (s *ProfileSchema) Decode(fields []string) (map[string]any, error) {
	if len(fields) != len(s.Names) {
		return nil, norm.Errf("", "%d fields, the header has %d", len(fields), len(s.Names))
	}
	m := map[string]any{"type": "identify"}
	traits := map[string]any{}
	for i, v := range fields {
		if v == "" || s.Types[i] == Skip {
			continue
		}
		switch s.roles[i] {
		case roleUserID:
			m["userId"] = v
			continue
		case roleAnonymousID:
			m["anonymousId"] = v
			continue
		}
		tv, err := typed(s.Types[i], v)
		if err != nil {
			return nil, norm.Errf(s.Names[i], "%v", err)
		}
		traits[s.Names[i]] = tv
	}
	if len(traits) > 0 {
		m["traits"] = traits
	}
	return m, nil
}

// typed converts a cell to the JSON value a Segment message would carry.
func typed(t ColType, v string) (any, error) {
	switch t {
	case Int:
		if _, err := parseInt(v); err != nil {
			return nil, fmt.Errorf("%q is not an integer", clip(v))
		}
		return json.Number(v), nil
	case Float:
		f, err := parseFloat(v)
		if err != nil {
			return nil, fmt.Errorf("%q is not a number", clip(v))
		}
		return floatNumber(f), nil
	case Bool:
		b, err := parseBool(v)
		if err != nil {
			return nil, fmt.Errorf("%q is not true or false", clip(v))
		}
		return b, nil
	case Timestamp:
		ts, err := norm.ParseTime(v)
		if err != nil {
			return nil, fmt.Errorf("%q is not an RFC 3339 timestamp or date", clip(v))
		}
		return ts.Format("2006-01-02T15:04:05.999999Z07:00"), nil
	}
	return v, nil
}

// floatNumber formats f so that it stays a float column (1 → "1.0").
func floatNumber(f float64) json.Number {
	s := strconv.FormatFloat(f, 'g', -1, 64)
	if !strings.ContainsAny(s, ".eEn") {
		s += ".0"
	}
	return json.Number(s)
}

func clip(s string) string {
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}

// csvReader reads profile rows from a byte offset; the header and the
// type-inference sample always come from the start of the file.
type csvReader struct {
	f        *os.File
	cr       *csv.Reader
	schema   *ProfileSchema
	base     int64 // byte offset the csv.Reader started at
	baseLine int64 // lines before base
	rec      Record
	err      error
}

func openCSV(path string, off, line int64, idColumn string, declared map[string]ColType) (*csvReader, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("cannot open %s: %w", path, err)
	}
	r := &csvReader{f: f}
	if err := r.init(off, line, idColumn, declared); err != nil {
		f.Close()
		return nil, fmt.Errorf("cannot read CSV %s: %w", path, err)
	}
	return r, nil
}

func newCSV(r io.Reader) *csv.Reader {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1
	cr.ReuseRecord = false
	return cr
}

func (r *csvReader) init(off, line int64, idColumn string, declared map[string]ColType) error {
	cr := newCSV(bufio.NewReaderSize(r.f, 256<<10))
	header, err := cr.Read()
	if err != nil {
		if errors.Is(err, io.EOF) {
			return errors.New("no header row")
		}
		return fmt.Errorf("cannot read the header row: %w", err)
	}
	headerEnd := cr.InputOffset()
	headerLines := int64(1 + countNewlines(header))
	if r.schema, err = NewProfileSchema(header, idColumn, declared); err != nil {
		return err
	}
	var sample [][]string
	for len(sample) < InferRows {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			continue // reported when the row is imported
		}
		sample = append(sample, rec)
	}
	r.schema.Infer(sample)
	if off <= 0 {
		off, line = headerEnd, headerLines
	}
	if _, err := r.f.Seek(off, io.SeekStart); err != nil {
		return fmt.Errorf("cannot seek to %d: %w", off, err)
	}
	r.base, r.baseLine = off, line
	r.cr = newCSV(bufio.NewReaderSize(r.f, 256<<10))
	return nil
}

func countNewlines(fields []string) int {
	n := 0
	for _, f := range fields {
		n += strings.Count(f, "\n")
	}
	return n
}

func (r *csvReader) Next() bool {
	if r.err != nil {
		return false
	}
	before := r.cr.InputOffset()
	fields, err := r.cr.Read()
	if errors.Is(err, io.EOF) {
		return false
	}
	end := r.base + r.cr.InputOffset()
	if err != nil {
		var pe *csv.ParseError
		if !errors.As(err, &pe) || r.cr.InputOffset() == before {
			r.err = fmt.Errorf("cannot read CSV after line %d: %w", r.baseLine, err)
			return false
		}
		// The reader continues after the malformed record.
		r.rec = Record{Line: r.baseLine + int64(pe.StartLine), End: end, EndLine: r.baseLine + int64(pe.Line)}
		r.rec.Err = norm.Errf("", "malformed CSV: %v", pe.Err)
		return true
	}
	start, _ := r.cr.FieldPos(0)
	r.rec = Record{Line: r.baseLine + int64(start), End: end, EndLine: r.baseLine + int64(start+countNewlines(fields))}
	r.rec.Msg, r.rec.Err = r.schema.Decode(fields)
	return true
}

func (r *csvReader) At() *Record  { return &r.rec }
func (r *csvReader) Err() error   { return r.err }
func (r *csvReader) Close() error { return r.f.Close() }
func (r *csvReader) Total() int64 {
	st, err := r.f.Stat()
	if err != nil {
		return 0
	}
	return st.Size()
}
