package sqlfront

import (
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/dolthub/go-mysql-server/sql"
	"github.com/dolthub/go-mysql-server/sql/types"
	"github.com/dolthub/vitess/go/sqltypes"
	"github.com/shopspring/decimal"

	"github.com/cohortdb/cohort/engine"
	"github.com/cohortdb/cohort/engine/column"
)

// Collation is the collation of every string column: binary and NO PAD, so
// that the engine's byte-wise comparisons are exactly GMS's.
const Collation = sql.Collation_utf8mb4_0900_bin

// maxVarchar is the longest VARCHAR of utf8mb4 characters MySQL allows.
const maxVarchar = 16383

var (
	typeString    = types.MustCreateString(sqltypes.VarChar, maxVarchar, Collation)
	typeInt       = types.Int64
	typeFloat     = types.Float64
	typeBool      = types.Boolean
	typeTimestamp = types.MustCreateDatetimeType(sqltypes.Datetime, 6)
	typeList      = types.JSON
)

// sqlType returns the MySQL type of an engine column type.
func sqlType(t column.Type) sql.Type {
	switch t {
	case column.TypeString:
		return typeString
	case column.TypeInt:
		return typeInt
	case column.TypeFloat:
		return typeFloat
	case column.TypeBool:
		return typeBool
	case column.TypeTimestamp:
		return typeTimestamp
	case column.TypeStringList:
		return typeList
	}
	return types.LongText
}

// primaryKey returns the primary key columns of an engine table.
func primaryKey(table string) []string {
	switch table {
	case engine.Profiles:
		return []string{engine.ColPersonID}
	case engine.Events:
		return []string{engine.ColEventID}
	case engine.Identities:
		return []string{engine.ColType, engine.ColValue}
	}
	return nil
}

func isPK(table, col string) bool {
	for _, c := range primaryKey(table) {
		if c == col {
			return true
		}
	}
	return false
}

// comments documents the core columns in SHOW FULL COLUMNS / information_schema.
var comments = map[string]string{
	engine.ColPersonID:   "canonical person id (merged persons report the surviving id)",
	engine.ColCreatedAt:  "UTC",
	engine.ColFirstSeen:  "UTC",
	engine.ColLastSeen:   "UTC",
	engine.ColUpdatedAt:  "UTC",
	engine.ColTS:         "event time, UTC",
	engine.ColReceivedAt: "UTC",
}

// sqlSchema returns the GMS schema of an engine table schema.
func sqlSchema(table string, s *column.Schema) sql.Schema {
	out := make(sql.Schema, len(s.Cols))
	for i, d := range s.Cols {
		pk := isPK(table, d.Name)
		out[i] = &sql.Column{
			Name:       d.Name,
			Type:       sqlType(d.Type),
			Nullable:   !pk,
			Source:     table,
			PrimaryKey: pk,
			Comment:    comments[d.Name],
		}
		if pk && table != engine.Identities {
			out[i].Default = pkDefault
		}
	}
	return out
}

// toSQL converts an engine value to the value GMS expects for the column
// type. It allocates only for boxing.
func toSQL(v column.Value) any {
	switch v.Type {
	case column.TypeNull:
		return nil
	case column.TypeString:
		return v.S
	case column.TypeInt:
		return v.I
	case column.TypeFloat:
		return v.F
	case column.TypeBool:
		if v.B {
			return int8(1)
		}
		return int8(0)
	case column.TypeTimestamp:
		return time.UnixMicro(v.I).UTC()
	case column.TypeStringList:
		l := make([]any, len(v.L))
		for i, s := range v.L {
			l[i] = s
		}
		return types.JSONDocument{Val: l}
	}
	return nil
}

// fromSQL converts a GMS value (a literal, a bind value or an inserted
// column value) to an engine value of column type want; want TypeNull
// means "infer from the Go type". ok is false when the conversion would
// change the value's meaning.
func fromSQL(x any, want column.Type) (column.Value, bool) {
	if x == nil {
		return column.Value{}, true
	}
	v, ok := inferValue(x)
	if !ok {
		return column.Value{}, false
	}
	if want == column.TypeNull || v.Type == want {
		return v, true
	}
	switch want {
	case column.TypeFloat:
		if v.Type == column.TypeInt {
			return column.Float(float64(v.I)), float64(v.I) == math.Trunc(float64(v.I))
		}
	case column.TypeInt:
		if v.Type == column.TypeFloat && v.F == math.Trunc(v.F) && math.Abs(v.F) < 1<<53 {
			return column.Int(int64(v.F)), true
		}
		if v.Type == column.TypeBool {
			return column.Int(b2i(v.B)), true
		}
	case column.TypeBool:
		if v.Type == column.TypeInt && (v.I == 0 || v.I == 1) {
			return column.Bool(v.I == 1), true
		}
	case column.TypeTimestamp:
		if v.Type == column.TypeString {
			t, _, err := typeTimestamp.Convert(nil, v.S)
			if err != nil {
				return column.Value{}, false
			}
			if tt, ok := t.(time.Time); ok {
				return column.Micros(tt.UnixMicro()), true
			}
		}
	case column.TypeString:
		switch v.Type {
		case column.TypeInt:
			return column.String(strconv.FormatInt(v.I, 10)), true
		case column.TypeFloat:
			return column.String(strconv.FormatFloat(v.F, 'g', -1, 64)), true
		}
	}
	return column.Value{}, false
}

func b2i(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

// inferValue converts a Go value produced by GMS to an engine value.
func inferValue(x any) (column.Value, bool) {
	switch x := x.(type) {
	case string:
		return column.String(x), true
	case []byte:
		return column.String(string(x)), true
	case int:
		return column.Int(int64(x)), true
	case int8:
		return column.Int(int64(x)), true
	case int16:
		return column.Int(int64(x)), true
	case int32:
		return column.Int(int64(x)), true
	case int64:
		return column.Int(x), true
	case uint8:
		return column.Int(int64(x)), true
	case uint16:
		return column.Int(int64(x)), true
	case uint32:
		return column.Int(int64(x)), true
	case uint64:
		if x > math.MaxInt64 {
			return column.Value{}, false
		}
		return column.Int(int64(x)), true
	case uint:
		if uint64(x) > math.MaxInt64 {
			return column.Value{}, false
		}
		return column.Int(int64(x)), true
	case float32:
		return column.Float(float64(x)), true
	case float64:
		return column.Float(x), true
	case bool:
		return column.Bool(x), true
	case decimal.Decimal:
		if x.IsInteger() && x.Abs().LessThan(decimal.New(1, 18)) {
			return column.Int(x.IntPart()), true
		}
		f, exact := x.Float64()
		if !exact {
			return column.Value{}, false
		}
		return column.Float(f), true
	case time.Time:
		return column.Micros(x.UnixMicro()), true
	case types.JSONDocument:
		return listValue(x.Val)
	}
	return column.Value{}, false
}

func listValue(x any) (column.Value, bool) {
	arr, ok := x.([]any)
	if !ok {
		return column.Value{}, false
	}
	l := make([]string, len(arr))
	for i, e := range arr {
		s, ok := e.(string)
		if !ok {
			return column.Value{}, false
		}
		l[i] = s
	}
	return column.StringList(l), true
}

func describeType(t column.Type) string {
	return fmt.Sprintf("%s (%s)", sqlType(t).String(), t)
}
