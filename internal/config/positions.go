package config

import (
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/BurntSushi/toml"
)

// keyLines scans a TOML document that has already been parsed successfully
// and returns, for every key and table it defines, the 1-based line of its
// first appearance. Map keys use toml.Key.String() form ("listen.smtp").
//
// BurntSushi/toml v1.6 records key positions internally but does not export
// them, so this is a small scanner that understands just enough of TOML
// (comments, headers, dotted and quoted keys, strings of all four kinds,
// arrays and inline tables) to find where each key is written. It never
// fails: anything it cannot follow simply gets no line.
func keyLines(doc string) map[string]int {
	s := &scanner{doc: doc, line: 1, lines: make(map[string]int)}
	s.document()
	return s.lines
}

type scanner struct {
	doc   string
	i     int
	line  int
	lines map[string]int
}

func (s *scanner) eof() bool { return s.i >= len(s.doc) }

func (s *scanner) peek() byte {
	if s.eof() {
		return 0
	}
	return s.doc[s.i]
}

func (s *scanner) hasPrefix(p string) bool { return strings.HasPrefix(s.doc[s.i:], p) }

// advance moves forward n bytes, counting newlines.
func (s *scanner) advance(n int) {
	for ; n > 0 && !s.eof(); n-- {
		if s.doc[s.i] == '\n' {
			s.line++
		}
		s.i++
	}
}

// record remembers the line of path and of every prefix of it that has no
// line yet (implicitly created tables).
func (s *scanner) record(path toml.Key, line int) {
	for n := 1; n <= len(path); n++ {
		k := path[:n].String()
		if _, ok := s.lines[k]; !ok {
			s.lines[k] = line
		}
	}
}

// skipSpace skips blanks and tabs on the current line.
func (s *scanner) skipSpace() {
	for !s.eof() && (s.peek() == ' ' || s.peek() == '\t') {
		s.i++
	}
}

// skipSpaceNL skips whitespace, newlines and comments.
func (s *scanner) skipSpaceNL() {
	for !s.eof() {
		switch s.peek() {
		case ' ', '\t', '\r', '\n':
			s.advance(1)
		case '#':
			s.skipLine()
		default:
			return
		}
	}
}

// skipLine moves to the start of the next line.
func (s *scanner) skipLine() {
	for !s.eof() && s.peek() != '\n' {
		s.i++
	}
	s.advance(1)
}

func (s *scanner) document() {
	var table toml.Key
	for {
		s.skipSpaceNL()
		if s.eof() {
			return
		}
		line := s.line
		if s.peek() == '[' {
			double := s.hasPrefix("[[")
			if double {
				s.advance(2)
			} else {
				s.advance(1)
			}
			s.skipSpace()
			table = s.key()
			s.record(table, line)
			s.skipLine()
			continue
		}
		path := s.key()
		if len(path) == 0 {
			s.skipLine() // not something we understand; give up on this line
			continue
		}
		full := append(append(toml.Key{}, table...), path...)
		s.record(full, line)
		s.skipSpace()
		if s.peek() != '=' {
			s.skipLine()
			continue
		}
		s.advance(1)
		s.skipSpace()
		s.value(full)
		s.skipLine()
	}
}

// key reads a dotted key such as a."b c".'d' and stops after trailing blanks.
func (s *scanner) key() toml.Key {
	var k toml.Key
	for {
		s.skipSpace()
		part, ok := s.keyPart()
		if !ok {
			return k
		}
		k = append(k, part)
		s.skipSpace()
		if s.peek() != '.' {
			return k
		}
		s.advance(1)
	}
}

func (s *scanner) keyPart() (string, bool) {
	switch s.peek() {
	case '"':
		start := s.i
		s.basicString()
		return unescapeBasic(s.doc[start+1 : max(start+1, s.i-1)]), true
	case '\'':
		start := s.i
		s.literalString()
		return s.doc[start+1 : max(start+1, s.i-1)], true
	}
	start := s.i
	for !s.eof() {
		r, size := utf8.DecodeRuneInString(s.doc[s.i:])
		if r == ' ' || r == '\t' || r == '.' || r == '=' || r == ']' || r == '[' ||
			r == '#' || r == '\n' || r == '\r' || r == ',' || r == '}' || r == '{' ||
			r == '"' || r == '\'' {
			break
		}
		s.i += size
	}
	if s.i == start {
		return "", false
	}
	return s.doc[start:s.i], true
}

// value skips one value; keys inside inline tables are recorded under path.
func (s *scanner) value(path toml.Key) {
	switch {
	case s.hasPrefix(`"""`):
		s.multiline(`"""`, true)
	case s.hasPrefix(`'''`):
		s.multiline(`'''`, false)
	case s.peek() == '"':
		s.basicString()
	case s.peek() == '\'':
		s.literalString()
	case s.peek() == '[':
		s.array(path)
	case s.peek() == '{':
		s.inlineTable(path)
	default:
		for !s.eof() && !strings.ContainsRune(",]}#\r\n", rune(s.peek())) {
			s.i++
		}
	}
}

func (s *scanner) basicString() {
	s.advance(1) // opening quote
	for !s.eof() {
		switch s.peek() {
		case '\\':
			s.advance(2)
		case '"':
			s.advance(1)
			return
		case '\n':
			return // unterminated; the parser would have complained
		default:
			s.advance(1)
		}
	}
}

func (s *scanner) literalString() {
	s.advance(1)
	for !s.eof() {
		switch s.peek() {
		case '\'':
			s.advance(1)
			return
		case '\n':
			return
		default:
			s.advance(1)
		}
	}
}

func (s *scanner) multiline(delim string, escapes bool) {
	s.advance(3)
	for !s.eof() {
		if escapes && s.peek() == '\\' {
			s.advance(2)
			continue
		}
		if s.hasPrefix(delim) {
			s.advance(3)
			// Up to two quotes may directly precede the closing delimiter
			// (`"""a""""`), which looks like extra quotes after it.
			for n := 0; n < 2 && !s.eof() && s.peek() == delim[0]; n++ {
				s.advance(1)
			}
			return
		}
		s.advance(1)
	}
}

// array skips an array. Keys of inline tables inside it are recorded under
// path without an index, the way toml.MetaData.Keys reports them.
func (s *scanner) array(path toml.Key) {
	s.advance(1)
	for {
		s.skipSpaceNL()
		if s.eof() {
			return
		}
		switch s.peek() {
		case ']':
			s.advance(1)
			return
		case ',':
			s.advance(1)
		default:
			before := s.i
			s.value(path)
			if s.i == before {
				s.advance(1) // never loop forever on unexpected input
			}
		}
	}
}

func (s *scanner) inlineTable(path toml.Key) {
	s.advance(1)
	for {
		s.skipSpaceNL()
		if s.eof() {
			return
		}
		switch s.peek() {
		case '}':
			s.advance(1)
			return
		case ',':
			s.advance(1)
			continue
		}
		line := s.line
		k := s.key()
		if len(k) == 0 {
			s.advance(1)
			continue
		}
		var full toml.Key
		if path != nil {
			full = append(append(toml.Key{}, path...), k...)
			s.record(full, line)
		}
		s.skipSpace()
		if s.peek() == '=' {
			s.advance(1)
			s.skipSpace()
			s.value(full)
		}
	}
}

// unescapeBasic decodes the escapes of a TOML basic string (TOML 1.1,
// including \e and \xHH). Invalid escapes are kept as they are.
func unescapeBasic(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '\\' || i+1 >= len(s) {
			b.WriteByte(c)
			continue
		}
		i++
		switch s[i] {
		case 'b':
			b.WriteByte('\b')
		case 't':
			b.WriteByte('\t')
		case 'n':
			b.WriteByte('\n')
		case 'f':
			b.WriteByte('\f')
		case 'r':
			b.WriteByte('\r')
		case 'e':
			b.WriteByte(0x1b)
		case '"':
			b.WriteByte('"')
		case '\\':
			b.WriteByte('\\')
		case 'x', 'u', 'U':
			n := map[byte]int{'x': 2, 'u': 4, 'U': 8}[s[i]]
			if i+n < len(s) {
				if r, err := strconv.ParseUint(s[i+1:i+1+n], 16, 32); err == nil {
					b.WriteRune(rune(r))
					i += n
					continue
				}
			}
			b.WriteByte('\\')
			b.WriteByte(s[i])
		default:
			b.WriteByte('\\')
			b.WriteByte(s[i])
		}
	}
	return b.String()
}
