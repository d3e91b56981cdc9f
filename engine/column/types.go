package column

import (
	"fmt"
	"strconv"
	"time"
)

// Type is a column's logical type, fixed on the column's first write.
type Type uint8

const (
	TypeNull Type = iota // only for values: no type yet
	TypeString
	TypeInt
	TypeFloat
	TypeBool
	TypeTimestamp // microseconds since the Unix epoch, UTC
	TypeStringList
)

var typeNames = [...]string{"null", "string", "int", "float", "bool", "timestamp", "string_list"}

func (t Type) String() string {
	if int(t) < len(typeNames) {
		return typeNames[t]
	}
	return "type(" + strconv.Itoa(int(t)) + ")"
}

// ParseType parses a type name as printed by Type.String.
func ParseType(s string) (Type, error) {
	for i, n := range typeNames {
		if n == s && i != 0 {
			return Type(i), nil
		}
	}
	return 0, fmt.Errorf("unknown column type %q", s)
}

// Value is one typed scalar (or string list). The zero Value is NULL.
type Value struct {
	Type Type
	I    int64 // TypeInt, TypeTimestamp (µs)
	F    float64
	S    string
	B    bool
	L    []string
}

// Null reports whether v is NULL.
func (v Value) Null() bool { return v.Type == TypeNull }

// Int returns an int Value.
func Int(i int64) Value { return Value{Type: TypeInt, I: i} }

// Float returns a float Value.
func Float(f float64) Value { return Value{Type: TypeFloat, F: f} }

// String returns a string Value.
func String(s string) Value { return Value{Type: TypeString, S: s} }

// Bool returns a bool Value.
func Bool(b bool) Value { return Value{Type: TypeBool, B: b} }

// Timestamp returns a timestamp Value.
func Timestamp(t time.Time) Value { return Value{Type: TypeTimestamp, I: t.UnixMicro()} }

// Micros returns a timestamp Value from microseconds since the epoch.
func Micros(us int64) Value { return Value{Type: TypeTimestamp, I: us} }

// StringList returns a string-list Value.
func StringList(l []string) Value { return Value{Type: TypeStringList, L: l} }

// Equal reports whether two values are identical (NULL equals NULL here).
func (v Value) Equal(o Value) bool {
	if v.Type != o.Type {
		return false
	}
	switch v.Type {
	case TypeNull:
		return true
	case TypeInt, TypeTimestamp:
		return v.I == o.I
	case TypeFloat:
		return v.F == o.F || (v.F != v.F && o.F != o.F)
	case TypeString:
		return v.S == o.S
	case TypeBool:
		return v.B == o.B
	case TypeStringList:
		if len(v.L) != len(o.L) {
			return false
		}
		for i := range v.L {
			if v.L[i] != o.L[i] {
				return false
			}
		}
		return true
	}
	return false
}

func (v Value) String() string {
	switch v.Type {
	case TypeNull:
		return "NULL"
	case TypeInt:
		return strconv.FormatInt(v.I, 10)
	case TypeTimestamp:
		return time.UnixMicro(v.I).UTC().Format(time.RFC3339Nano)
	case TypeFloat:
		return strconv.FormatFloat(v.F, 'g', -1, 64)
	case TypeString:
		return strconv.Quote(v.S)
	case TypeBool:
		return strconv.FormatBool(v.B)
	case TypeStringList:
		return fmt.Sprintf("%q", v.L)
	}
	return "?"
}
