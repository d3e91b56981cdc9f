package importer

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"os"
	"slices"
	"strconv"
	"time"

	"github.com/parquet-go/parquet-go"

	"github.com/cohortdb/cohort/ingest/norm"
	"github.com/cohortdb/cohort/ingest/segment"
)

// parquetReader reads rows of a Parquet file from a row index. Two row
// shapes: with a top-level "type" column, each row is a Segment message
// (type, messageId, userId, anonymousId, event, traits, properties,
// context... where traits, properties and context are groups or JSON
// strings); without one, each row is a profile like a CSV row (an id
// column and traits of the columns' Parquet types).
type parquetReader struct {
	f       *os.File
	r       *parquet.GenericReader[any]
	profile *ProfileSchema // nil: Segment-message rows
	row     int64          // index of the next row
	buf     []any
	n, i    int
	rec     Record
	err     error
}

func openParquet(path string, row int64, idColumn string, declared map[string]ColType) (pr *parquetReader, err error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("cannot open %s: %w", path, err)
	}
	defer func() {
		if err != nil {
			f.Close()
		}
	}()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("cannot stat %s: %w", path, err)
	}
	pf, err := parquet.OpenFile(f, st.Size())
	if err != nil {
		return nil, fmt.Errorf("cannot open Parquet file %s: %w", path, err)
	}
	r := parquet.NewGenericReader[any](f, pf.Schema())
	pr = &parquetReader{f: f, r: r, row: row, buf: make([]any, 256)}
	var names []string
	for _, fl := range pf.Schema().Fields() {
		names = append(names, fl.Name())
	}
	if !slices.Contains(names, "type") {
		if pr.profile, err = NewProfileSchema(names, idColumn, declared); err != nil {
			return nil, fmt.Errorf("cannot read Parquet file %s: %w", path, err)
		}
		for i := range pr.profile.Types {
			if pr.profile.Types[i] == Auto {
				pr.profile.Types[i] = String // native Parquet types are kept
			}
		}
	}
	if row > 0 {
		if err := r.SeekToRow(row); err != nil {
			return nil, fmt.Errorf("cannot seek %s to row %d: %w", path, row, err)
		}
	}
	return pr, nil
}

func (r *parquetReader) Next() bool {
	if r.err != nil {
		return false
	}
	if r.i >= r.n {
		clear(r.buf)
		n, err := r.r.Read(r.buf)
		if err != nil && !errors.Is(err, io.EOF) {
			r.err = fmt.Errorf("cannot read Parquet row %d: %w", r.row+1, err)
			return false
		}
		if n == 0 {
			return false
		}
		r.n, r.i = n, 0
	}
	v := r.buf[r.i]
	r.i++
	r.row++
	r.rec = Record{Line: r.row, End: r.row, EndLine: r.row}
	m, ok := v.(map[string]any)
	if !ok {
		r.rec.Err = norm.Errf("", "row is %T, not a group", v)
		return true
	}
	if r.profile != nil {
		r.rec.Msg, r.rec.Err = r.profile.decodeNative(m)
	} else {
		r.rec.Msg, r.rec.Err = DecodeParquetMessage(m)
	}
	return true
}

func (r *parquetReader) At() *Record { return &r.rec }
func (r *parquetReader) Err() error  { return r.err }
func (r *parquetReader) Close() error {
	return errors.Join(r.r.Close(), r.f.Close())
}
func (r *parquetReader) Total() int64 { return r.r.NumRows() }

// DecodeParquetMessage turns a Segment-shaped Parquet row into a Segment
// message: nulls are dropped, traits/properties/context given as JSON
// strings are parsed, and values become JSON values.
func DecodeParquetMessage(row map[string]any) (map[string]any, error) {
	m := make(map[string]any, len(row))
	for k, v := range row {
		if v == nil {
			continue
		}
		switch k {
		case "traits", "properties", "context":
			if s, ok := v.(string); ok {
				if s == "" {
					continue
				}
				o, err := segment.ParseObject([]byte(s))
				if err != nil {
					var fe *norm.FieldError
					if errors.As(err, &fe) {
						return nil, norm.Errf(k, "%s", fe.Reason)
					}
					return nil, norm.Errf(k, "%v", err)
				}
				m[k] = o
				continue
			}
		}
		jv, err := jsonValue(v)
		if err != nil {
			return nil, norm.Errf(k, "%v", err)
		}
		if jv != nil {
			m[k] = jv
		}
	}
	return m, nil
}

// decodeNative is Decode for a profile row with native Parquet values.
func (s *ProfileSchema) decodeNative(row map[string]any) (map[string]any, error) {
	m := map[string]any{"type": "identify"}
	traits := map[string]any{}
	for i, name := range s.Names {
		v := row[name]
		if v == nil || s.Types[i] == Skip {
			continue
		}
		jv, err := jsonValue(v)
		if err != nil {
			return nil, norm.Errf(name, "%v", err)
		}
		if str, ok := jv.(string); ok && s.Types[i] != String && s.Types[i] != Auto {
			if jv, err = typed(s.Types[i], str); err != nil {
				return nil, norm.Errf(name, "%v", err)
			}
		}
		switch s.roles[i] {
		case roleUserID, roleAnonymousID:
			id := fmt.Sprint(jv)
			if str, ok := jv.(string); ok {
				id = str
			}
			if s.roles[i] == roleUserID {
				m["userId"] = id
			} else {
				m["anonymousId"] = id
			}
			continue
		}
		traits[name] = jv
	}
	if len(traits) > 0 {
		m["traits"] = traits
	}
	return m, nil
}

// jsonValue converts a value read from Parquet to a JSON value as
// encoding/json with UseNumber would produce it.
func jsonValue(v any) (any, error) {
	switch x := v.(type) {
	case nil:
		return nil, nil
	case bool, string, json.Number:
		return x, nil
	case int:
		return json.Number(strconv.FormatInt(int64(x), 10)), nil
	case int8:
		return json.Number(strconv.FormatInt(int64(x), 10)), nil
	case int16:
		return json.Number(strconv.FormatInt(int64(x), 10)), nil
	case int32:
		return json.Number(strconv.FormatInt(int64(x), 10)), nil
	case int64:
		return json.Number(strconv.FormatInt(x, 10)), nil
	case uint8:
		return json.Number(strconv.FormatUint(uint64(x), 10)), nil
	case uint16:
		return json.Number(strconv.FormatUint(uint64(x), 10)), nil
	case uint32:
		return json.Number(strconv.FormatUint(uint64(x), 10)), nil
	case uint64:
		return json.Number(strconv.FormatUint(x, 10)), nil
	case float32:
		return floatJSON(float64(x))
	case float64:
		return floatJSON(x)
	case *big.Float:
		f, _ := x.Float64()
		return floatJSON(f)
	case []byte:
		return string(x), nil
	case time.Time:
		return x.UTC().Format(time.RFC3339Nano), nil
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			je, err := jsonValue(e)
			if err != nil {
				return nil, err
			}
			out[k] = je
		}
		return out, nil
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			je, err := jsonValue(e)
			if err != nil {
				return nil, err
			}
			out[i] = je
		}
		return out, nil
	case [16]byte:
		return base64.StdEncoding.EncodeToString(x[:]), nil
	}
	return nil, fmt.Errorf("unsupported Parquet value of Go type %T", v)
}

func floatJSON(f float64) (any, error) {
	if _, err := parseFloat(strconv.FormatFloat(f, 'g', -1, 64)); err != nil {
		return nil, fmt.Errorf("%v is not a finite number", f)
	}
	return floatNumber(f), nil
}
