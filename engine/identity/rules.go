package identity

import (
	"strings"
)

// Well-known identifier types.
const (
	TypeUserID      = "user_id"
	TypeAnonymousID = "anonymous_id"
	TypeEmail       = "email"
	TypePhone       = "phone"
	// ExternalPrefix starts the type of an external id: "external:<name>".
	ExternalPrefix = "external:"
)

// ID is an identifier: a type and a value.
type ID struct {
	Type, Value string
}

// String renders the identifier as "type value".
func (id ID) String() string { return id.Type + " " + id.Value }

// Rules configure resolution. The zero value has no limits, blocks nothing
// but empty values and does not normalise.
type Rules struct {
	// Limits caps how many identifiers of a type one person may hold. A type
	// that is absent or has a limit ≤ 0 is unlimited.
	Limits map[string]int
	// Blocked lists placeholder values that are never used for resolution,
	// compared case-insensitively after trimming spaces.
	Blocked []string
	// BlockZeroDash also blocks every value made only of '0' and '-'
	// characters ("000", "---", the nil UUID).
	BlockZeroDash bool
	// Normalize trims spaces around every value, lower-cases emails and
	// strips spaces, dashes, dots and parentheses from phone numbers.
	Normalize bool
}

// DefaultRules returns the rules Cohort uses unless configured otherwise:
// one user_id per person, the usual placeholder values blocked, and
// normalisation on.
func DefaultRules() Rules {
	return Rules{
		Limits:        map[string]int{TypeUserID: 1},
		Blocked:       []string{"", "null", "undefined", "anonymous", "0", "-1", "none", "nil", "unknown", "n/a"},
		BlockZeroDash: true,
		Normalize:     true,
	}
}

// Rejection reasons that do not depend on the graph's state.
const (
	ReasonBlocked     = "blocked value"
	ReasonErased      = "erased"
	ReasonEmptyValue  = "empty value"
	ReasonEmptyType   = "empty type"
	ReasonTooLong     = "value longer than 1024 bytes"
	maxValueLen       = 1024
	maxBlockedScratch = 64
)

// RejectKind classifies a rejection for callers that act on it.
type RejectKind uint8

// Rejection kinds.
const (
	RejectInvalid  RejectKind = iota + 1 // empty type or value, too long
	RejectBlocked                        // a blocked placeholder value
	RejectErased                         // suppressed after Erase
	RejectLimit                          // a new identifier over a per-type limit
	RejectConflict                       // a known identifier whose person cannot merge
)

// compiled is Rules prepared for lookups.
type compiled struct {
	limits     map[string]int
	blocked    map[string]struct{}
	maxBlocked int
	zeroDash   bool
	norm       bool
}

func compile(r Rules) compiled {
	c := compiled{limits: map[string]int{}, blocked: map[string]struct{}{}, zeroDash: r.BlockZeroDash, norm: r.Normalize}
	for t, n := range r.Limits {
		if n > 0 {
			c.limits[t] = n
		}
	}
	for _, b := range r.Blocked {
		b = strings.ToLower(strings.TrimSpace(b))
		c.blocked[b] = struct{}{}
		c.maxBlocked = max(c.maxBlocked, len(b))
	}
	return c
}

// normalize returns id with its value normalised (when enabled).
func (c *compiled) normalize(id ID) ID {
	if !c.norm {
		return id
	}
	id.Value = strings.TrimSpace(id.Value)
	switch id.Type {
	case TypeEmail:
		id.Value = lowerASCII(id.Value)
	case TypePhone:
		id.Value = normalizePhone(id.Value)
	}
	return id
}

// lowerASCII lower-cases s, allocating only when s has upper-case letters.
func lowerASCII(s string) string {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x80 {
			return strings.ToLower(s)
		}
		if 'A' <= c && c <= 'Z' {
			return strings.ToLower(s)
		}
	}
	return s
}

func normalizePhone(s string) string {
	strip := func(c byte) bool { return c == ' ' || c == '-' || c == '.' || c == '(' || c == ')' || c == '\t' }
	i := 0
	for i < len(s) && !strip(s[i]) {
		i++
	}
	if i == len(s) {
		return s
	}
	b := make([]byte, 0, len(s))
	b = append(b, s[:i]...)
	for ; i < len(s); i++ {
		if !strip(s[i]) {
			b = append(b, s[i])
		}
	}
	return string(b)
}

// check returns why a normalised identifier cannot be used, if it cannot.
func (c *compiled) check(id ID) (string, RejectKind) {
	if id.Type == "" {
		return ReasonEmptyType, RejectInvalid
	}
	if len(id.Value) > maxValueLen {
		return ReasonTooLong, RejectInvalid
	}
	if c.isBlocked(id.Value) {
		return ReasonBlocked, RejectBlocked
	}
	if strings.TrimSpace(id.Value) == "" {
		return ReasonEmptyValue, RejectInvalid
	}
	return "", 0
}

func (c *compiled) isBlocked(v string) bool {
	v = strings.TrimSpace(v)
	if c.zeroDash && v != "" && strings.Trim(v, "0-") == "" {
		return true
	}
	if len(c.blocked) == 0 || len(v) > c.maxBlocked {
		return false
	}
	var buf [maxBlockedScratch]byte
	if len(v) > len(buf) {
		_, ok := c.blocked[strings.ToLower(v)]
		return ok
	}
	b := buf[:len(v)]
	for i := 0; i < len(v); i++ {
		ch := v[i]
		if 'A' <= ch && ch <= 'Z' {
			ch += 'a' - 'A'
		}
		b[i] = ch
	}
	_, ok := c.blocked[string(b)] // no allocation: map index by converted bytes
	return ok
}

// Priority ranks: lower resolves first.
const (
	prioUserID uint8 = iota
	prioEmail
	prioPhone
	prioExternal
	prioAnonymous
	prioOther
)

func priority(t string) uint8 {
	switch t {
	case TypeUserID:
		return prioUserID
	case TypeEmail:
		return prioEmail
	case TypePhone:
		return prioPhone
	case TypeAnonymousID:
		return prioAnonymous
	}
	if strings.HasPrefix(t, ExternalPrefix) {
		return prioExternal
	}
	return prioOther
}
