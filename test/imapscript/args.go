// Package imapscript runs scripted IMAP dialogues against a server and
// reports every response that differs from the script.
//
// The script format is the one of Dovecot's imaptest scripted tests (a
// header of options, a blank line, then commands with the untagged and
// tagged responses they must produce, `$variables`, `N cmd` connection
// prefixes, `!` for responses that must not come and `{{{ … }}}`
// multi-line literals), so those scripts can be run against pochta where
// one has them. This package is our own implementation of that format.
package imapscript

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// ArgType is the kind of one IMAP argument.
type ArgType int

// The kinds of IMAP arguments.
const (
	ArgAtom ArgType = iota
	ArgString
	ArgLiteral
	ArgNil
	ArgList
)

// Arg is one parsed IMAP argument: an atom, a quoted string, a literal,
// NIL or a parenthesised list. As in imaptest, an atom takes every
// character up to a space or a parenthesis, so `[UIDNEXT` and `5]` are
// atoms of their own and `BODY[HEADER.FIELDS (FROM)]` is an atom, a list
// and the atom `]`.
type Arg struct {
	Type ArgType
	Str  string
	List []Arg
}

// astring reports the text of an atom, string or literal.
func (a Arg) astring() (string, bool) {
	switch a.Type {
	case ArgAtom, ArgString, ArgLiteral:
		return a.Str, true
	}
	return "", false
}

// String renders the argument back in IMAP syntax, for messages.
func (a Arg) String() string {
	switch a.Type {
	case ArgNil:
		return "NIL"
	case ArgString:
		return strconv.Quote(a.Str)
	case ArgLiteral:
		return fmt.Sprintf("{%d}%q", len(a.Str), a.Str)
	case ArgList:
		return "(" + argsString(a.List) + ")"
	}
	return a.Str
}

func argsString(args []Arg) string {
	parts := make([]string, len(args))
	for i, a := range args {
		parts[i] = a.String()
	}
	return strings.Join(parts, " ")
}

// maxArgDepth bounds list nesting so hostile input cannot exhaust the stack.
const maxArgDepth = 100

// ParseArgs parses IMAP arguments: the rest of a response line after its
// tag (literals included), or one line of a script.
func ParseArgs(s string) ([]Arg, error) {
	p := &argParser{s: s}
	args, err := p.list(0)
	if err != nil {
		return nil, fmt.Errorf("parse %q: %w", clip(s), err)
	}
	return args, nil
}

func clip(s string) string {
	if len(s) > 80 {
		return s[:80] + "…"
	}
	return s
}

type argParser struct {
	s string
	i int
}

func (p *argParser) list(depth int) ([]Arg, error) {
	if depth > maxArgDepth {
		return nil, errors.New("lists nested too deep")
	}
	var out []Arg
	for {
		for p.i < len(p.s) && (p.s[p.i] == ' ' || p.s[p.i] == '\r' || p.s[p.i] == '\n') {
			p.i++
		}
		if p.i >= len(p.s) {
			if depth > 0 {
				return nil, errors.New("missing ')'")
			}
			return out, nil
		}
		c := p.s[p.i]
		switch {
		case c == '(':
			p.i++
			sub, err := p.list(depth + 1)
			if err != nil {
				return nil, err
			}
			if sub == nil {
				sub = []Arg{}
			}
			out = append(out, Arg{Type: ArgList, List: sub})
		case c == ')':
			if depth == 0 {
				return nil, errors.New("unexpected ')'")
			}
			p.i++
			return out, nil
		case c == '"':
			s, err := p.quoted()
			if err != nil {
				return nil, err
			}
			out = append(out, Arg{Type: ArgString, Str: s})
		case c == '{' || (c == '~' && p.i+1 < len(p.s) && p.s[p.i+1] == '{'):
			s, err := p.literal()
			if err != nil {
				return nil, err
			}
			out = append(out, Arg{Type: ArgLiteral, Str: s})
		default:
			start := p.i
			for p.i < len(p.s) {
				c := p.s[p.i]
				if c == ' ' || c == '\r' || c == '\n' || c == '(' || (c == ')' && depth > 0) {
					break
				}
				p.i++
			}
			atom := p.s[start:p.i]
			if strings.EqualFold(atom, "NIL") {
				out = append(out, Arg{Type: ArgNil})
			} else {
				out = append(out, Arg{Type: ArgAtom, Str: atom})
			}
		}
	}
}

func (p *argParser) quoted() (string, error) {
	p.i++ // opening quote
	var b strings.Builder
	for p.i < len(p.s) {
		c := p.s[p.i]
		switch c {
		case '\\':
			if p.i+1 >= len(p.s) {
				return "", errors.New("unterminated quoted string")
			}
			b.WriteByte(p.s[p.i+1])
			p.i += 2
			continue
		case '"':
			p.i++
			return b.String(), nil
		}
		b.WriteByte(c)
		p.i++
	}
	return "", errors.New("unterminated quoted string")
}

func (p *argParser) literal() (string, error) {
	if p.s[p.i] == '~' {
		p.i++
	}
	end := strings.IndexByte(p.s[p.i:], '}')
	if end < 0 {
		return "", errors.New("unterminated literal size")
	}
	num := strings.TrimSuffix(strings.TrimSuffix(p.s[p.i+1:p.i+end], "+"), "-")
	n, err := strconv.Atoi(num)
	if err != nil || n < 0 {
		return "", fmt.Errorf("bad literal size %q", p.s[p.i+1:p.i+end])
	}
	p.i += end + 1
	switch {
	case strings.HasPrefix(p.s[p.i:], "\r\n"):
		p.i += 2
	case strings.HasPrefix(p.s[p.i:], "\n"):
		p.i++
	default:
		return "", errors.New("literal size not followed by a line break")
	}
	if len(p.s)-p.i < n {
		return "", errors.New("literal shorter than its size")
	}
	s := p.s[p.i : p.i+n]
	p.i += n
	return s, nil
}
