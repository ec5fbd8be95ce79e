package imapd

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// Limits on what a client may send in one command.
const (
	// maxLineLen bounds one line of a command (the text between literals).
	maxLineLen = 64 << 10
	// maxLiteralLen bounds a literal that is read into memory (every
	// literal except an APPEND message).
	maxLiteralLen = 64 << 10
	// maxCommandLen bounds a whole command without its APPEND messages.
	maxCommandLen = 1 << 20
	// maxDiscard bounds how many bytes of a refused non-synchronising
	// literal are read and thrown away before the connection is closed
	// instead.
	maxDiscard = 128 << 20
)

// syntaxError is a malformed command: answered with a tagged BAD.
type syntaxError struct {
	msg  string
	code string // response code without brackets, or ""
}

func (e *syntaxError) Error() string { return e.msg }

func errSyntax(format string, args ...any) error {
	return &syntaxError{msg: fmt.Sprintf(format, args...)}
}

// errTooBig is a command over a limit: answered with BAD [TOOBIG].
func errTooBig(format string, args ...any) error {
	return &syntaxError{msg: fmt.Sprintf(format, args...), code: "TOOBIG"}
}

// reader reads and tokenises commands. A command is a line, possibly
// continued after each literal by a further line; the reader keeps the
// current line and a position in it.
type reader struct {
	br *bufio.Reader
	// cont asks the client for a synchronising literal ("+ ...").
	cont func() error

	line  []byte
	pos   int
	total int // bytes of the current command so far
	// literalPending is true while line ends with a literal header whose
	// bytes have not been read.
	literalPending bool
}

func newReader(br *bufio.Reader, cont func() error) *reader {
	return &reader{br: br, cont: cont}
}

// errLineTooLong marks a line over maxLineLen; the line was discarded up
// to its end, keeping a tail so a trailing literal can still be skipped.
var errLineTooLong = errors.New("line too long")

// readLine reads the next line (without CRLF) into r.line.
func (r *reader) readLine() error {
	r.line = r.line[:0]
	r.pos = 0
	tooLong := false
	for {
		frag, err := r.br.ReadSlice('\n')
		if !tooLong && len(r.line)+len(frag) > maxLineLen {
			tooLong = true
		}
		if tooLong {
			// Keep only a tail, enough to see a literal header.
			r.line = append(r.line, frag...)
			if len(r.line) > 64 {
				r.line = append(r.line[:0], r.line[len(r.line)-64:]...)
			}
		} else {
			r.line = append(r.line, frag...)
		}
		if err == nil {
			break
		}
		if !errors.Is(err, bufio.ErrBufferFull) {
			return err
		}
	}
	r.line = bytes.TrimSuffix(r.line, []byte("\n"))
	r.line = bytes.TrimSuffix(r.line, []byte("\r"))
	r.literalPending = bytes.HasSuffix(r.line, []byte("}"))
	if tooLong {
		return errLineTooLong
	}
	r.total += len(r.line) + 2
	if r.total > maxCommandLen {
		return errTooBig("command too long (limit %d bytes)", maxCommandLen)
	}
	return nil
}

// startCommand reads the first line of a command.
func (r *reader) startCommand() error {
	r.total = 0
	return r.readLine()
}

// skipCommand throws away the rest of a command after an error: any
// non-synchronising literals the client sends regardless, and the lines
// after them. It returns an error when the connection cannot be kept.
func (r *reader) skipCommand() error {
	for r.literalPending {
		n, sync, ok := trailingLiteral(r.line)
		if !ok || sync {
			// A synchronising literal is not sent until we ask.
			r.literalPending = false
			return nil
		}
		if n > maxDiscard {
			return fmt.Errorf("refused literal of %d bytes is too large to skip", n)
		}
		if _, err := io.CopyN(io.Discard, r.br, n); err != nil {
			return fmt.Errorf("skip literal: %w", err)
		}
		r.total = 0
		if err := r.readLine(); err != nil && !errors.Is(err, errLineTooLong) {
			var se *syntaxError
			if !errors.As(err, &se) {
				return err
			}
		}
	}
	return nil
}

// trailingLiteral reports the literal header that ends a line.
func trailingLiteral(line []byte) (n int64, sync, ok bool) {
	if !bytes.HasSuffix(line, []byte("}")) {
		return 0, false, false
	}
	i := bytes.LastIndexByte(line, '{')
	if i < 0 {
		return 0, false, false
	}
	s := string(line[i+1 : len(line)-1])
	sync = true
	if strings.HasSuffix(s, "+") || strings.HasSuffix(s, "-") {
		s, sync = s[:len(s)-1], false
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		return 0, false, false
	}
	return n, sync, true
}

// peek returns the next byte of the line, or 0 at its end.
func (r *reader) peek() byte {
	if r.pos < len(r.line) {
		return r.line[r.pos]
	}
	return 0
}

func (r *reader) atEnd() bool { return r.pos >= len(r.line) }

// consume skips c if it is next.
func (r *reader) consume(c byte) bool {
	if r.pos < len(r.line) && r.line[r.pos] == c {
		r.pos++
		return true
	}
	return false
}

// expect requires c next.
func (r *reader) expect(c byte) error {
	if !r.consume(c) {
		return r.unexpected(fmt.Sprintf("%q", c))
	}
	return nil
}

func (r *reader) unexpected(want string) error {
	if r.atEnd() {
		return errSyntax("expected %s, got end of line", want)
	}
	got := r.line[r.pos:]
	if len(got) > 20 {
		got = got[:20]
	}
	return errSyntax("expected %s at %q", want, got)
}

// sp requires one space.
func (r *reader) sp() error { return r.expect(' ') }

// end requires the end of the command.
func (r *reader) end() error {
	if !r.atEnd() {
		return r.unexpected("end of line")
	}
	return nil
}

// isAtomChar reports whether c may appear in an atom.
func isAtomChar(c byte) bool {
	if c <= ' ' || c >= 0x7f {
		return false
	}
	switch c {
	case '(', ')', '{', '%', '*', '"', '\\', ']':
		return false
	}
	return true
}

// atom reads an atom (case preserved).
func (r *reader) atom() (string, error) {
	start := r.pos
	for r.pos < len(r.line) && isAtomChar(r.line[r.pos]) {
		r.pos++
	}
	if r.pos == start {
		return "", r.unexpected("atom")
	}
	return string(r.line[start:r.pos]), nil
}

// keyword reads an atom and upper-cases it.
func (r *reader) keyword() (string, error) {
	a, err := r.atom()
	return strings.ToUpper(a), err
}

// tag reads a command tag: atom characters except '+', plus ']'.
func (r *reader) tag() (string, error) {
	start := r.pos
	for r.pos < len(r.line) {
		c := r.line[r.pos]
		if c == '+' || !(isAtomChar(c) || c == ']') {
			break
		}
		r.pos++
	}
	if r.pos == start {
		return "", r.unexpected("tag")
	}
	return string(r.line[start:r.pos]), nil
}

// number reads a 32-bit unsigned decimal number.
func (r *reader) number() (uint32, error) {
	n, err := r.number64()
	if err != nil {
		return 0, err
	}
	if n > 0xffffffff {
		return 0, errSyntax("number %d out of range", n)
	}
	return uint32(n), nil
}

// number64 reads a 63-bit unsigned decimal number.
func (r *reader) number64() (uint64, error) {
	start := r.pos
	for r.pos < len(r.line) && r.line[r.pos] >= '0' && r.line[r.pos] <= '9' {
		r.pos++
	}
	if r.pos == start {
		return 0, r.unexpected("number")
	}
	n, err := strconv.ParseUint(string(r.line[start:r.pos]), 10, 63)
	if err != nil {
		return 0, errSyntax("number %q out of range", r.line[start:r.pos])
	}
	return n, nil
}

// quoted reads a quoted string.
func (r *reader) quoted() (string, error) {
	if err := r.expect('"'); err != nil {
		return "", err
	}
	var b strings.Builder
	for {
		if r.atEnd() {
			return "", errSyntax("unterminated quoted string")
		}
		c := r.line[r.pos]
		r.pos++
		switch c {
		case '"':
			return b.String(), nil
		case '\\':
			if r.atEnd() {
				return "", errSyntax("unterminated quoted string")
			}
			c = r.line[r.pos]
			if c != '"' && c != '\\' {
				return "", errSyntax("bad escape \\%c in quoted string", c)
			}
			r.pos++
			b.WriteByte(c)
		case 0:
			return "", errSyntax("NUL in quoted string")
		default:
			b.WriteByte(c)
		}
	}
}

// literalHeader parses "{n}", "{n+}" or (binary) "~{n}" which must end the
// line. It does not read the literal.
func (r *reader) literalHeader(allowBinary bool) (n int64, sync, binary bool, err error) {
	if allowBinary && r.consume('~') {
		binary = true
	}
	if err := r.expect('{'); err != nil {
		return 0, false, false, err
	}
	v, err := r.number64()
	if err != nil {
		return 0, false, false, err
	}
	sync = true
	if r.consume('+') {
		sync = false
	}
	if err := r.expect('}'); err != nil {
		return 0, false, false, err
	}
	if !r.atEnd() {
		return 0, false, false, errSyntax("literal header must end the line")
	}
	return int64(v), sync, binary, nil
}

// literal reads an in-memory literal whose header starts at the current
// position, then the line that continues the command.
func (r *reader) literal() ([]byte, error) {
	n, sync, _, err := r.literalHeader(false)
	if err != nil {
		return nil, err
	}
	if n > maxLiteralLen {
		return nil, errTooBig("literal of %d bytes is over the limit of %d", n, maxLiteralLen)
	}
	if r.total+int(n) > maxCommandLen {
		return nil, errTooBig("command too long (limit %d bytes)", maxCommandLen)
	}
	if sync {
		if err := r.cont(); err != nil {
			return nil, err
		}
	}
	buf := make([]byte, n)
	if _, err := io.ReadFull(r.br, buf); err != nil {
		return nil, fmt.Errorf("read literal: %w", err)
	}
	r.literalPending = false
	r.total += int(n)
	if err := r.readLine(); err != nil {
		return nil, err
	}
	return buf, nil
}

// str reads a string: quoted or literal.
func (r *reader) str() (string, error) {
	switch r.peek() {
	case '"':
		return r.quoted()
	case '{':
		b, err := r.literal()
		return string(b), err
	}
	return "", r.unexpected("string")
}

// isAstringChar reports whether c may appear in an unquoted astring.
func isAstringChar(c byte) bool { return isAtomChar(c) || c == ']' }

// astring reads an atom-like string or a string.
func (r *reader) astring() (string, error) {
	switch r.peek() {
	case '"', '{':
		return r.str()
	}
	start := r.pos
	for r.pos < len(r.line) && isAstringChar(r.line[r.pos]) {
		r.pos++
	}
	if r.pos == start {
		return "", r.unexpected("string")
	}
	return string(r.line[start:r.pos]), nil
}

// nstring reads a string or NIL; ok is false for NIL.
func (r *reader) nstring() (s string, ok bool, err error) {
	if r.peek() == 'N' || r.peek() == 'n' {
		save := r.pos
		a, err := r.atom()
		if err == nil && strings.EqualFold(a, "NIL") {
			return "", false, nil
		}
		r.pos = save
	}
	s, err = r.str()
	return s, true, err
}

// listMailbox reads a LIST pattern: list-chars (with % and *) or a string.
func (r *reader) listMailbox() (string, error) {
	switch r.peek() {
	case '"', '{':
		return r.str()
	}
	start := r.pos
	for r.pos < len(r.line) {
		c := r.line[r.pos]
		if !(isAstringChar(c) || c == '%' || c == '*') {
			break
		}
		r.pos++
	}
	if r.pos == start {
		return "", r.unexpected("mailbox pattern")
	}
	return string(r.line[start:r.pos]), nil
}

// flag reads a flag: "\Name" or a keyword atom. "\*" is allowed when star.
func (r *reader) flag(star bool) (string, error) {
	if r.consume('\\') {
		if star && r.consume('*') {
			return `\*`, nil
		}
		a, err := r.atom()
		if err != nil {
			return "", err
		}
		return `\` + a, nil
	}
	return r.atom()
}

// flagList reads "(" [flag *(SP flag)] ")".
func (r *reader) flagList() ([]string, error) {
	if err := r.expect('('); err != nil {
		return nil, err
	}
	var flags []string
	for !r.consume(')') {
		if len(flags) > 0 {
			if err := r.sp(); err != nil {
				return nil, err
			}
		}
		f, err := r.flag(false)
		if err != nil {
			return nil, err
		}
		flags = append(flags, f)
	}
	return flags, nil
}

// list reads "(" elem *(SP elem) ")" calling fn for each element.
// Empty lists are allowed when empty is true.
func (r *reader) list(empty bool, fn func() error) error {
	if err := r.expect('('); err != nil {
		return err
	}
	if r.consume(')') {
		if !empty {
			return errSyntax("empty list")
		}
		return nil
	}
	for {
		if err := fn(); err != nil {
			return err
		}
		if r.consume(')') {
			return nil
		}
		if err := r.sp(); err != nil {
			return err
		}
	}
}

var months = []string{"Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"}

// parseDate parses an IMAP date "d-Mon-yyyy" (day one or two digits).
func parseDate(s string) (time.Time, error) {
	parts := strings.Split(s, "-")
	if len(parts) != 3 || len(parts[0]) < 1 || len(parts[0]) > 2 || len(parts[2]) != 4 {
		return time.Time{}, errSyntax("bad date %q", s)
	}
	day, err1 := strconv.Atoi(parts[0])
	year, err2 := strconv.Atoi(parts[2])
	mon := 0
	for i, m := range months {
		if strings.EqualFold(m, parts[1]) {
			mon = i + 1
		}
	}
	if err1 != nil || err2 != nil || mon == 0 || day < 1 || day > 31 {
		return time.Time{}, errSyntax("bad date %q", s)
	}
	return time.Date(year, time.Month(mon), day, 0, 0, 0, 0, time.UTC), nil
}

// date reads a SEARCH date: date-text or a quoted date-text.
func (r *reader) date() (time.Time, error) {
	var s string
	var err error
	if r.peek() == '"' {
		s, err = r.quoted()
	} else {
		s, err = r.atom()
	}
	if err != nil {
		return time.Time{}, err
	}
	return parseDate(s)
}

// parseDateTime parses an IMAP date-time "dd-Mon-yyyy hh:mm:ss +zzzz"
// (the day may be space-padded).
func parseDateTime(s string) (time.Time, error) {
	s = strings.TrimLeft(s, " ")
	t, err := time.Parse("2-Jan-2006 15:04:05 -0700", s)
	if err != nil {
		return time.Time{}, errSyntax("bad date-time %q", s)
	}
	return t, nil
}

// dateTime reads a quoted date-time.
func (r *reader) dateTime() (time.Time, error) {
	s, err := r.quoted()
	if err != nil {
		return time.Time{}, err
	}
	return parseDateTime(s)
}

// seqSet reads a sequence set (or "$").
func (r *reader) seqSet() (seqSet, error) {
	start := r.pos
	for r.pos < len(r.line) {
		c := r.line[r.pos]
		if !(c >= '0' && c <= '9' || c == ':' || c == ',' || c == '*' || c == '$') {
			break
		}
		r.pos++
	}
	if r.pos == start {
		return seqSet{}, r.unexpected("sequence set")
	}
	return parseSeqSet(string(r.line[start:r.pos]))
}
