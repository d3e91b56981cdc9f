package gen

import (
	"unsafe"
)

// Strings is an Arrow-like string column: row i is
// Data[Offsets[i]:Offsets[i+1]]. Valid, if not nil, is a validity bitmap
// (bit i set = row i is not NULL); a NULL row has an empty value.
type Strings struct {
	Offsets []uint32
	Data    []byte
	Valid   Bitmap
}

// Len returns the number of rows.
func (s *Strings) Len() int { return max(0, len(s.Offsets)-1) }

// At returns row i without allocating: the string shares Data's memory.
func (s *Strings) At(i int) string {
	lo, hi := s.Offsets[i], s.Offsets[i+1]
	if lo == hi {
		return ""
	}
	return unsafe.String(&s.Data[lo], int(hi-lo))
}

// IsValid reports whether row i is not NULL.
func (s *Strings) IsValid(i int) bool { return s.Valid == nil || s.Valid.Get(i) }

// Bitmap is a bitmap of rows, least significant bit first.
type Bitmap []uint64

// NewBitmap returns a zeroed bitmap of n bits.
func NewBitmap(n int) Bitmap { return make(Bitmap, (n+63)/64) }

// Get reports whether bit i is set.
func (b Bitmap) Get(i int) bool { return b[i>>6]&(1<<(uint(i)&63)) != 0 }

// Set sets bit i.
func (b Bitmap) Set(i int) { b[i>>6] |= 1 << (uint(i) & 63) }

// Kind is the logical type of a column.
type Kind uint8

// Column kinds.
const (
	KindInt Kind = iota + 1
	KindFloat
	KindBool
	KindString
	KindTimestamp // int64 microseconds since the epoch
)

func (k Kind) String() string {
	switch k {
	case KindInt:
		return "int"
	case KindFloat:
		return "float"
	case KindBool:
		return "bool"
	case KindString:
		return "string"
	case KindTimestamp:
		return "timestamp"
	}
	return "invalid"
}

// Column describes one logical column of a generated table.
type Column struct {
	Name     string
	Kind     Kind
	Nullable bool
}

// ProfileColumns lists the profile columns, in ProfileRow field order.
var ProfileColumns = []Column{
	{"person_id", KindInt, false},
	{"user_id", KindString, false},
	{"email", KindString, true},
	{"first_name", KindString, false},
	{"last_name", KindString, false},
	{"country", KindString, false},
	{"city", KindString, false},
	{"plan", KindString, false},
	{"gender", KindString, true},
	{"language", KindString, false},
	{"age", KindInt, true},
	{"ltv", KindFloat, false},
	{"signup_at", KindTimestamp, false},
	{"created_at", KindTimestamp, false},
	{"first_seen", KindTimestamp, false},
	{"last_seen", KindTimestamp, false},
	{"email_opt_in", KindBool, false},
	{"push_enabled", KindBool, false},
	{"is_vip", KindBool, false},
	{"sessions_count", KindInt, false},
	{"orders_count", KindInt, false},
	{"referral_code", KindString, true},
	{"company", KindString, true},
	{"nps_score", KindInt, true},
}

// EventColumns lists the event columns, in EventRow field order.
var EventColumns = []Column{
	{"event_id", KindInt, false},
	{"person_id", KindInt, false},
	{"name", KindString, false},
	{"ts", KindTimestamp, false},
	{"platform", KindString, true},
	{"app_version", KindString, true},
	{"amount", KindFloat, true},
	{"currency", KindString, true},
}
