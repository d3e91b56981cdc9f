// Package norm turns decoded JSON payloads into typed engine fields, the
// same way for every ingest API, and defines what an API hands the log.
//
// Typing rules (the first write of an attribute fixes its column type):
//
//   - JSON numbers are int when integral and within int64 (no fraction,
//     no exponent that makes them fractional), float otherwise; NaN and
//     infinities cannot occur in JSON.
//   - true/false are bool; null clears the attribute.
//   - Strings stay strings, including ones that look like RFC 3339
//     timestamps, with two exceptions: the attribute is already a
//     timestamp column in the workspace, or its name is a well-known
//     timestamp (created_at, first_seen, last_seen, birthday, or any name
//     ending in "_at" or "_timestamp"). Such strings must parse as RFC 3339
//     (or a date, 2006-01-02) and become timestamps.
//   - Nested objects flatten with "_": {"address": {"city": "X"}} is
//     address_city. Depth is limited to 8.
//   - Arrays of strings become string_list; any other array is kept as its
//     JSON text in a string.
//   - Names are snake_cased (firstName → first_name, "Plan Type" →
//     plan_type): lower-case letters, digits and '_' only, leading '_'
//     removed, at most 128 bytes.
//
// A value that cannot be typed (a timestamp that does not parse, a value
// whose type conflicts with the existing column) rejects its record with
// a FieldError naming the field and the reason.
package norm

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/cohortdb/cohort/engine"
	"github.com/cohortdb/cohort/engine/column"
)

// Sink receives normalised operations of a workspace and returns once they
// are durable (the ingest log).
type Sink interface {
	Append(ctx context.Context, workspace string, ops []engine.Op) error
}

// Keys authenticates write keys.
type Keys interface {
	// Workspace returns the workspace a write key belongs to.
	Workspace(writeKey string) (string, bool)
}

// Schema looks up the type of an existing column of a workspace table;
// nil means no columns are known.
type Schema func(table, column string) (column.Type, bool)

// ErrUnknownWorkspace is returned when an account names no workspace.
var ErrUnknownWorkspace = errors.New("unknown workspace")

// FieldError is a rejected record's reason: which field, and why.
type FieldError struct {
	Field  string // JSON path: properties.price, traits.createdAt
	Reason string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Reason }

// Errf returns a FieldError.
func Errf(field, format string, args ...any) *FieldError {
	return &FieldError{Field: field, Reason: fmt.Sprintf(format, args...)}
}

// MaxDepth bounds the nesting of flattened objects.
const MaxDepth = 8

// MaxName is the longest attribute name (engine limit).
const MaxName = 128

// Flattener appends typed fields for one table of a workspace.
type Flattener struct {
	Table  string // engine.Profiles or engine.Events
	Schema Schema
}

// Object appends the fields of obj (flattened, typed) to dst. prefix is
// prepended to every name (with "_"); path is the JSON path for errors.
func (f Flattener) Object(dst []engine.Field, obj map[string]any, prefix, path string) ([]engine.Field, error) {
	return f.objectExcept(dst, obj, rootNames(prefix), path, 0, nil)
}

// ObjectExcept is Object without the top-level keys listed in except.
func (f Flattener) ObjectExcept(dst []engine.Field, obj map[string]any, prefix, path string, except ...string) ([]engine.Field, error) {
	return f.objectExcept(dst, obj, rootNames(prefix), path, 0, except)
}

// objectExcept flattens obj with the names of t (whose prefix is the
// object's name).
func (f Flattener) objectExcept(dst []engine.Field, obj map[string]any, t *names, path string, depth int, except []string) ([]engine.Field, error) {
	if depth > MaxDepth {
		return dst, Errf(path, "nested deeper than %d levels", MaxDepth)
	}
	var kbuf [16]string
	keys := kbuf[:0]
	for k := range obj {
		if !slices.Contains(except, k) {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys) // deterministic column creation order
	for _, k := range keys {
		e := t.lookupString(k)
		if e.name == "" {
			return dst, Errf(joinPath(path, k), "name has no letters or digits")
		}
		var err error
		dst, err = f.value(dst, e.name, e, obj[k], path, k, depth)
		if err != nil {
			return dst, err
		}
	}
	return dst, nil
}

func joinPath(path, k string) string {
	if path == "" {
		return k
	}
	return path + "." + k
}

// value appends the field name = v (flattening objects) to dst, with the
// error path built lazily: parent path + key. e is name's cache entry.
func (f Flattener) value(dst []engine.Field, name string, e *nameEntry, v any, parent, key string, depth int) ([]engine.Field, error) {
	path := func() string { // built only for errors and nested objects
		if key == "" {
			return parent
		}
		return joinPath(parent, key)
	}
	if len(name) > MaxName {
		return dst, errLongName(path(), name)
	}
	// The column's type, looked up once for the timestamp rule and the
	// type check.
	var ct column.Type
	var known bool
	if _, obj := v.(map[string]any); f.Schema != nil && v != nil && !obj {
		ct, known = f.Schema(f.Table, name)
	}
	var val column.Value
	switch x := v.(type) {
	case nil:
		// NULL clears the attribute.
	case bool:
		val = column.Bool(x)
	case json.Number:
		nv, err := Number(x)
		if err != nil {
			return dst, Errf(path(), "%v", err)
		}
		val = nv
	case float64: // decoders without UseNumber
		if x == math.Trunc(x) && math.Abs(x) < 1<<53 {
			val = column.Int(int64(x))
		} else {
			val = column.Float(x)
		}
	case string:
		if f.isTimestampType(name, ct, known) {
			t, ok := parseTime(x)
			if !ok {
				return dst, errNotTime(path(), x)
			}
			val = column.Timestamp(t)
		} else {
			val = column.String(x)
		}
	case map[string]any:
		return f.objectExcept(dst, x, e.names(), path(), depth+1, nil)
	case []any:
		strs := make([]string, 0, len(x))
		for _, e := range x {
			s, ok := e.(string)
			if !ok {
				strs = nil
				break
			}
			strs = append(strs, s)
		}
		if strs != nil {
			val = column.StringList(strs)
		} else {
			var err error
			if val, err = arrayText(x); err != nil {
				return dst, Errf(path(), "%v", err)
			}
		}
	default:
		return dst, Errf(path(), "unsupported JSON value %T", v)
	}
	if err := f.checkType(name, &val, ct, known); err != nil {
		return dst, Errf(path(), "%s", err)
	}
	return append(dst, engine.Field{Name: name, Value: val}), nil
}

func errLongName(path, name string) error {
	return Errf(path, "attribute name %q is longer than %d bytes", name[:32]+"…", MaxName)
}

func errNotTime(path, s string) error {
	return Errf(path, "%q is not an RFC 3339 timestamp", truncate(s))
}

// arrayText keeps an array that is not a list of strings as its JSON text.
func arrayText(a []any) (column.Value, error) {
	b, err := json.Marshal(a)
	if err != nil {
		return column.Value{}, fmt.Errorf("cannot encode array: %v", err)
	}
	return column.String(string(b)), nil
}

func truncate(s string) string {
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}

// checkType rejects names ingest must not set and values whose type
// conflicts with the column's; ct and known are the schema's answer for
// name.
func (f Flattener) checkType(name string, v *column.Value, ct column.Type, known bool) error {
	if f.Table == engine.Profiles && (name == engine.ColPersonID || name == engine.ColUpdatedAt) {
		return fmt.Errorf("%s is set by Cohort and cannot be written", name)
	}
	if f.Table == engine.Profiles && (name == engine.ColCreatedAt || name == engine.ColFirstSeen || name == engine.ColLastSeen) && !v.Null() && v.Type != column.TypeTimestamp {
		return fmt.Errorf("%s must be a timestamp, got %s", name, v.Type)
	}
	if f.Schema == nil || v.Null() {
		return nil
	}
	col, t, ok := name, ct, known
	if f.Table == engine.Events {
		switch name {
		case engine.ColEventID, engine.ColPersonID, engine.ColName, engine.ColTS, engine.ColReceivedAt:
			col = "prop_" + name
			t, ok = f.Schema(f.Table, col)
		}
	}
	if !ok || t == v.Type {
		return nil
	}
	switch {
	case t == column.TypeFloat && v.Type == column.TypeInt:
		return nil
	case t == column.TypeInt && v.Type == column.TypeFloat && v.F == math.Trunc(v.F) && math.Abs(v.F) < 1<<53:
		return nil
	}
	return fmt.Errorf("column %s.%s is %s, value is %s", f.Table, col, t, v.Type)
}

// isTimestampType says whether a string attribute must be a timestamp;
// ct and known are the schema's answer for name.
func (f Flattener) isTimestampType(name string, ct column.Type, known bool) bool {
	if known {
		return ct == column.TypeTimestamp
	}
	switch name {
	case engine.ColCreatedAt, engine.ColFirstSeen, engine.ColLastSeen, "birthday":
		return true
	}
	return strings.HasSuffix(name, "_at") || strings.HasSuffix(name, "_timestamp")
}

// Number types a JSON number: int when integral and within int64, else
// float.
func Number(n json.Number) (column.Value, error) {
	s := string(n)
	if v, ok := parseNumber(s); ok {
		return v, nil
	}
	if _, err := strconv.ParseFloat(s, 64); err != nil && !errors.Is(err, strconv.ErrRange) {
		return column.Value{}, fmt.Errorf("invalid number %q", s)
	}
	return column.Value{}, fmt.Errorf("number %q out of range", s)
}

// parseNumber is Number without the error, so that s does not escape: a
// caller's string(bytes) then needs no allocation.
func parseNumber(s string) (column.Value, bool) {
	if v, ok := smallInt(s); ok {
		return v, true
	}
	if !strings.ContainsAny(s, ".eE") {
		if i, err := strconv.ParseInt(s, 10, 64); err == nil {
			return column.Int(i), true
		}
	}
	fl, err := strconv.ParseFloat(s, 64)
	if err != nil && !errors.Is(err, strconv.ErrRange) {
		return column.Value{}, false
	}
	if math.IsInf(fl, 0) || math.IsNaN(fl) {
		return column.Value{}, false
	}
	if fl == math.Trunc(fl) && fl >= -(1<<63) && fl < 1<<63 && !strings.ContainsAny(s, ".") {
		return column.Int(int64(fl)), true // 1e3
	}
	return column.Float(fl), true
}

// smallInt parses an integer of at most 18 digits, which cannot overflow,
// without strconv's generality.
func smallInt(s string) (column.Value, bool) {
	digits := s
	if len(s) > 0 && s[0] == '-' {
		digits = s[1:]
	}
	if len(digits) == 0 || len(digits) > 18 {
		return column.Value{}, false
	}
	var n int64
	for i := 0; i < len(digits); i++ {
		c := digits[i]
		if c < '0' || c > '9' {
			return column.Value{}, false
		}
		n = n*10 + int64(c-'0')
	}
	if len(digits) < len(s) {
		n = -n
	}
	return column.Int(n), true
}

var timeLayouts = [...]string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999Z0700", "2006-01-02T15:04:05.999999999", "2006-01-02 15:04:05.999999999Z07:00", "2006-01-02"}

// ParseTime parses an RFC 3339 timestamp (fractional seconds optional), an
// ISO 8601 timestamp without a zone (UTC) or a date.
func ParseTime(s string) (time.Time, error) {
	if t, ok := parseTime(s); ok {
		return t, nil
	}
	return time.Time{}, fmt.Errorf("cannot parse timestamp %q", truncate(s))
}

// ParseTimeText is ParseTime for a text that is not kept: it does not
// allocate.
func ParseTimeText(b []byte) (time.Time, bool) { return parseTime(string(b)) }

// parseTime is ParseTime without the error, so that s does not escape.
func parseTime(s string) (time.Time, bool) {
	for _, layout := range timeLayouts {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), true
		}
	}
	return time.Time{}, false
}

// SnakeCase converts a JSON key to an attribute name: firstName →
// first_name, "Plan Type" → plan_type, userID → user_id.
func SnakeCase(s string) string {
	if isSnake(s) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 4)
	rs := []rune(s)
	under := true // suppress leading and repeated '_'
	for i, r := range rs {
		switch {
		case r >= 'a' && r <= 'z' || r >= '0' && r <= '9':
			b.WriteRune(r)
			under = false
		case r >= 'A' && r <= 'Z' || unicode.IsUpper(r):
			prevLower := i > 0 && (unicode.IsLower(rs[i-1]) || unicode.IsDigit(rs[i-1]))
			nextLower := i > 0 && i+1 < len(rs) && unicode.IsLower(rs[i+1]) && unicode.IsUpper(rs[i-1])
			if !under && (prevLower || nextLower) {
				b.WriteByte('_')
			}
			b.WriteRune(unicode.ToLower(r))
			under = false
		case unicode.IsLetter(r) || unicode.IsDigit(r):
			b.WriteRune(r)
			under = false
		default:
			if !under {
				b.WriteByte('_')
				under = true
			}
		}
	}
	return strings.TrimRight(b.String(), "_")
}

// isSnake reports whether s is already an attribute name: [a-z0-9_], not
// starting or ending with '_', no "__".
func isSnake(s string) bool {
	if s == "" || s[0] == '_' || s[len(s)-1] == '_' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9':
		case c == '_' && s[i-1] != '_':
		default:
			return false
		}
	}
	return true
}
