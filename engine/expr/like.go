package expr

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

type likeKind uint8

const (
	likeExact    likeKind = iota // no wildcard
	likePrefix                   // lit%
	likeSuffix                   // %lit
	likeContains                 // %lit%
	likeAny                      // only %: every string
	likeGeneral                  // anything else, or case-insensitive
)

// likeTok is one pattern element: a literal rune, _ (one) or % (any run).
type likeTok struct {
	r   rune
	one bool
	any bool
}

// likePattern is a parsed LIKE pattern.
type likePattern struct {
	kind likeKind
	lit  string // exact, prefix, suffix, contains: the unescaped literal
	toks []likeTok
	fold bool
}

// parseLike parses pattern: % and _ are wildcards, a backslash makes the next
// rune literal (a trailing backslash is itself literal), runs of % collapse.
func parseLike(pattern string, fold bool) likePattern {
	p := likePattern{fold: fold}
	esc := false
	for _, r := range pattern {
		switch {
		case esc:
			p.toks = append(p.toks, likeTok{r: r})
			esc = false
		case r == '\\':
			esc = true
		case r == '%':
			if n := len(p.toks); n == 0 || !p.toks[n-1].any {
				p.toks = append(p.toks, likeTok{any: true})
			}
		case r == '_':
			p.toks = append(p.toks, likeTok{one: true})
		default:
			p.toks = append(p.toks, likeTok{r: r})
		}
	}
	if esc {
		p.toks = append(p.toks, likeTok{r: '\\'})
	}
	p.kind = likeGeneral
	if len(p.toks) == 1 && p.toks[0].any {
		p.kind = likeAny
		return p
	}
	if fold {
		return p
	}
	toks := p.toks
	lead := len(toks) > 0 && toks[0].any
	if lead {
		toks = toks[1:]
	}
	trail := len(toks) > 0 && toks[len(toks)-1].any
	if trail {
		toks = toks[:len(toks)-1]
	}
	var b strings.Builder
	for _, t := range toks {
		if t.any || t.one {
			return p
		}
		b.WriteRune(t.r)
	}
	p.lit = b.String()
	switch {
	case lead && trail:
		p.kind = likeContains
	case lead:
		p.kind = likeSuffix
	case trail:
		p.kind = likePrefix
	default:
		p.kind = likeExact
	}
	return p
}

// match reports whether s matches the pattern.
func (p *likePattern) match(s string) bool {
	switch p.kind {
	case likeExact:
		return s == p.lit
	case likePrefix:
		return strings.HasPrefix(s, p.lit)
	case likeSuffix:
		return strings.HasSuffix(s, p.lit)
	case likeContains:
		return strings.Contains(s, p.lit)
	case likeAny:
		return true
	}
	return matchGeneral(p.toks, s, p.fold)
}

// matchGeneral is the classic wildcard matcher with backtracking to the last
// %: O(len(s)*len(toks)) in the worst case, run once per dictionary entry.
func matchGeneral(toks []likeTok, s string, fold bool) bool {
	ti, si := 0, 0
	starT, starS := -1, 0
	for si < len(s) {
		if ti < len(toks) {
			t := toks[ti]
			if t.any {
				starT, starS = ti, si
				ti++
				continue
			}
			r, w := utf8.DecodeRuneInString(s[si:])
			if t.one || r == t.r || (fold && foldEq(r, t.r)) {
				ti++
				si += w
				continue
			}
		}
		if starT < 0 {
			return false
		}
		_, w := utf8.DecodeRuneInString(s[starS:])
		starS += w
		si = starS
		ti = starT + 1
	}
	for ti < len(toks) && toks[ti].any {
		ti++
	}
	return ti == len(toks)
}

// foldEq reports whether a and b are equal under Unicode simple folding.
func foldEq(a, b rune) bool {
	if a == b {
		return true
	}
	for r := unicode.SimpleFold(a); r != a; r = unicode.SimpleFold(r) {
		if r == b {
			return true
		}
	}
	return false
}
