package mimeparse

import (
	"sort"
	"strconv"
	"strings"
)

// maxParams bounds the number of parameters parsed from one field, and
// maxSection the RFC 2231 section numbers accepted.
const (
	maxParams  = 1000
	maxSection = 9999
)

// isTSpecial reports whether c is an RFC 2045 tspecial.
func isTSpecial(c byte) bool {
	return strings.IndexByte(`()<>@,;:\"/[]?=`, c) >= 0
}

// isTokenChar reports whether c may appear in a token. 8-bit bytes are
// accepted for tolerance.
func isTokenChar(c byte) bool {
	return c > ' ' && c != 0x7f && !isTSpecial(c)
}

// skipCFWS skips white space and comments starting at s[i].
func skipCFWS(s string, i int) int {
	for i < len(s) {
		switch s[i] {
		case ' ', '\t', '\r', '\n':
			i++
		case '(':
			depth := 0
			for ; i < len(s); i++ {
				if s[i] == '\\' {
					i++
					continue
				}
				if s[i] == '(' {
					depth++
				} else if s[i] == ')' {
					depth--
					if depth == 0 {
						i++
						break
					}
				}
			}
		default:
			return i
		}
	}
	return i
}

// readToken reads a token starting at s[i].
func readToken(s string, i int) (string, int) {
	j := i
	for j < len(s) && isTokenChar(s[j]) {
		j++
	}
	return s[i:j], j
}

// parseMediaType parses a Content-Type value: "type/subtype" followed by
// parameters. ok is false when there is no valid type/subtype.
func parseMediaType(v string) (typ, sub string, params []Param, ok bool) {
	if v == "" {
		return "", "", nil, false
	}
	i := skipCFWS(v, 0)
	typ, i = readToken(v, i)
	i = skipCFWS(v, i)
	if typ == "" || i >= len(v) || v[i] != '/' {
		return "", "", nil, false
	}
	i = skipCFWS(v, i+1)
	sub, i = readToken(v, i)
	if sub == "" {
		return "", "", nil, false
	}
	return strings.ToLower(typ), strings.ToLower(sub), parseParams(v[i:]), true
}

// parseDisposition parses a Content-Disposition value.
func parseDisposition(v string) (disp string, params []Param, ok bool) {
	if v == "" {
		return "", nil, false
	}
	i := skipCFWS(v, 0)
	disp, i = readToken(v, i)
	if disp == "" {
		return "", nil, false
	}
	return strings.ToLower(disp), parseParams(v[i:]), true
}

// rawParam is a parameter as written, before RFC 2231 processing.
type rawParam struct {
	name, value string
}

// parseParams parses "; name=value" parameters tolerantly: a missing ';'
// before a parameter and junk between parameters are skipped; values may
// be tokens, quoted strings (an unterminated one runs to the end) or,
// leniently, anything up to the next ';' (so unquoted values may contain
// spaces). RFC 2231 continuations and encodings are then decoded.
func parseParams(s string) []Param {
	var raw []rawParam
	i := 0
	for len(raw) < maxParams {
		// Skip separators, white space and comments.
		for {
			i = skipCFWS(s, i)
			if i < len(s) && s[i] == ';' {
				i++
				continue
			}
			break
		}
		if i >= len(s) {
			break
		}
		start := i
		for i < len(s) && strings.IndexByte("=; \t\r\n\"(", s[i]) < 0 {
			i++
		}
		name := strings.ToLower(s[start:i])
		j := skipCFWS(s, i)
		if name == "" || j >= len(s) || s[j] != '=' {
			// Junk; make progress past it.
			if i == start {
				if s[i] == '"' {
					_, i = readQuoted(s, i)
				} else {
					i++
				}
			}
			continue
		}
		i = skipCFWS(s, j+1)
		var value string
		if i < len(s) && s[i] == '"' {
			value, i = readQuoted(s, i)
		} else {
			end := strings.IndexByte(s[i:], ';')
			if end < 0 {
				end = len(s) - i
			}
			value = strings.TrimRight(s[i:i+end], " \t\r\n")
			i += end
		}
		raw = append(raw, rawParam{name, value})
	}
	return decodeParams(raw)
}

// readQuoted reads a quoted string starting at s[i] == '"' and returns its
// unescaped content and the index after the closing quote.
func readQuoted(s string, i int) (string, int) {
	var b strings.Builder
	for i++; i < len(s); i++ {
		switch c := s[i]; c {
		case '"':
			return b.String(), i + 1
		case '\\':
			if i+1 < len(s) {
				i++
				b.WriteByte(s[i])
			}
		case '\r', '\n':
			// Left over from folding; drop.
		default:
			b.WriteByte(c)
		}
	}
	return b.String(), i
}

// paramAcc accumulates the pieces of one parameter.
type paramAcc struct {
	name     string
	plain    string
	hasPlain bool
	sections map[int]paramSection
}

type paramSection struct {
	value   string
	encoded bool
}

// decodeParams applies RFC 2231: "name*" values are charset'language'
// percent-encoded; "name*0", "name*1*", ... are continuations. An
// RFC 2231 form takes precedence over a plain parameter of the same name;
// otherwise the first occurrence wins.
func decodeParams(raw []rawParam) []Param {
	if len(raw) == 0 {
		return nil
	}
	var accs []*paramAcc
	byName := map[string]*paramAcc{}
	for _, rp := range raw {
		base, section, encoded := splitParamName(rp.name)
		if base == "" {
			continue
		}
		a := byName[base]
		if a == nil {
			a = &paramAcc{name: base}
			byName[base] = a
			accs = append(accs, a)
		}
		if section < 0 && !encoded {
			if !a.hasPlain {
				a.plain, a.hasPlain = rp.value, true
			}
			continue
		}
		if section < 0 {
			section = 0
		}
		if a.sections == nil {
			a.sections = map[int]paramSection{}
		}
		if _, dup := a.sections[section]; !dup {
			a.sections[section] = paramSection{rp.value, encoded}
		}
	}
	params := make([]Param, 0, len(accs))
	for _, a := range accs {
		v := a.plain
		if len(a.sections) > 0 {
			v = a.joinSections()
		}
		params = append(params, Param{Name: a.name, Value: strings.ToValidUTF8(v, "\uFFFD")})
	}
	if len(params) == 0 {
		return nil
	}
	return params
}

// splitParamName splits an RFC 2231 parameter name into its base name,
// section number (-1 if none) and whether the value is encoded.
func splitParamName(name string) (base string, section int, encoded bool) {
	section = -1
	if strings.HasSuffix(name, "*") {
		encoded = true
		name = name[:len(name)-1]
	}
	if i := strings.LastIndexByte(name, '*'); i >= 0 {
		if n, err := strconv.Atoi(name[i+1:]); err == nil && allDigits(name[i+1:]) && n <= maxSection {
			section = n
			name = name[:i]
		}
	}
	return name, section, encoded
}

// joinSections joins RFC 2231 sections in numeric order and converts the
// result to UTF-8 using the charset given in the first section.
func (a *paramAcc) joinSections() string {
	nums := make([]int, 0, len(a.sections))
	for n := range a.sections {
		nums = append(nums, n)
	}
	sort.Ints(nums)
	var cs string
	var buf []byte
	for _, n := range nums {
		sec := a.sections[n]
		if !sec.encoded {
			buf = append(buf, sec.value...)
			continue
		}
		v := sec.value
		if n == nums[0] {
			if parts := strings.SplitN(v, "'", 3); len(parts) == 3 {
				cs, v = parts[0], parts[2]
			}
		}
		buf = appendPercentDecoded(buf, v)
	}
	return toUTF8(cs, buf)
}

// appendPercentDecoded appends s with %XX escapes decoded; malformed
// escapes are kept literally.
func appendPercentDecoded(dst []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if s[i] == '%' && i+2 < len(s) && isHex(s[i+1]) && isHex(s[i+2]) {
			dst = append(dst, unhex(s[i+1])<<4|unhex(s[i+2]))
			i += 2
			continue
		}
		dst = append(dst, s[i])
	}
	return dst
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case '0' <= c && c <= '9':
		return c - '0'
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10
	default:
		return c - 'A' + 10
	}
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}
