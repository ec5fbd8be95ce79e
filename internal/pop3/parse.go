package pop3

import (
	"errors"
	"strconv"
	"strings"
)

// maxLine is the longest command line read, CRLF included. RFC 2449 caps
// commands at 255 octets, but SASL responses (RFC 5034) may be longer; a
// longer line is answered with an error and skipped.
const maxLine = 8192

// maxArg is the longest argument RFC 1939 allows (40 octets), relaxed for
// user names, which are full addresses here and may be up to 254 octets.
const maxArg = 255

// Command is one parsed client command line.
type Command struct {
	// Name is the keyword in upper case ("RETR").
	Name string
	// Args are the space-separated arguments.
	Args []string
	// Rest is everything after the keyword and the space that follows
	// it, as sent (PASS takes its argument from here, so that passwords
	// may contain spaces, as RFC 1939 allows).
	Rest string
}

// Errors returned by ParseCommand.
var (
	// ErrEmptyCommand reports an empty line.
	ErrEmptyCommand = errors.New("empty command")
	// ErrBadCommand reports a line that is not a POP3 command: a keyword
	// that is not 3 or 4 letters or digits, control characters, or an
	// argument over the length limit.
	ErrBadCommand = errors.New("malformed command")
)

// ParseCommand parses one command line without its line ending (a
// trailing CR or LF is tolerated and removed). Keywords are
// case-insensitive; arguments are separated by one or more spaces.
func ParseCommand(line string) (Command, error) {
	line = strings.TrimRight(line, "\r\n")
	if strings.TrimLeft(line, " ") == "" {
		return Command{}, ErrEmptyCommand
	}
	for i := 0; i < len(line); i++ {
		if c := line[i]; c < 0x20 && c != '\t' || c == 0x7f {
			return Command{}, ErrBadCommand
		}
	}
	kw, rest, _ := strings.Cut(line, " ")
	if len(kw) < 3 || len(kw) > 4 {
		return Command{}, ErrBadCommand
	}
	name := make([]byte, len(kw))
	for i := 0; i < len(kw); i++ {
		c := kw[i]
		switch {
		case 'a' <= c && c <= 'z':
			c -= 'a' - 'A'
		case 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		default:
			return Command{}, ErrBadCommand
		}
		name[i] = c
	}
	cmd := Command{Name: string(name), Rest: rest}
	for f := range strings.FieldsSeq(rest) {
		if len(f) > maxArg && cmd.Name != "AUTH" && cmd.Name != "PASS" {
			return Command{}, ErrBadCommand
		}
		cmd.Args = append(cmd.Args, f)
	}
	return cmd, nil
}

// parseNumber parses a message number or line count: decimal digits only,
// no sign, at most 9 digits (so it fits an int anywhere).
func parseNumber(s string) (int, bool) {
	if s == "" || len(s) > 9 {
		return 0, false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
	}
	n, err := strconv.Atoi(s)
	return n, err == nil
}
