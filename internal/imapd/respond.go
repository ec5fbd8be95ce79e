package imapd

import (
	"strconv"
	"unicode/utf8"
)

// appendString appends s as an IMAP string: quoted when it can be, else a
// literal. 8-bit text is quoted only after UTF8=ACCEPT/IMAP4rev2.
func (s *session) appendString(b []byte, str string) []byte {
	quotable := len(str) < 1024
	for i := 0; i < len(str) && quotable; i++ {
		c := str[i]
		if c == 0 || c == '\r' || c == '\n' || (c >= 0x80 && !s.utf8) {
			quotable = false
		}
	}
	if quotable && s.utf8 && !utf8.ValidString(str) {
		quotable = false
	}
	if !quotable {
		b = append(b, '{')
		b = strconv.AppendInt(b, int64(len(str)), 10)
		b = append(b, "}\r\n"...)
		return append(b, str...)
	}
	b = append(b, '"')
	for i := 0; i < len(str); i++ {
		if str[i] == '"' || str[i] == '\\' {
			b = append(b, '\\')
		}
		b = append(b, str[i])
	}
	return append(b, '"')
}

// appendNString appends NIL for "" or the string.
func (s *session) appendNString(b []byte, str string) []byte {
	if str == "" {
		return append(b, "NIL"...)
	}
	return s.appendString(b, str)
}

// appendMailbox appends a mailbox name in the client's encoding.
func (s *session) appendMailbox(b []byte, name string) []byte {
	if !s.utf8 {
		name = encodeUTF7(name)
	}
	return s.appendString(b, name)
}

// quoteASCII quotes a 7-bit string for contexts without a session.
func quoteASCII(str string) string {
	b := make([]byte, 0, len(str)+2)
	b = append(b, '"')
	for i := 0; i < len(str); i++ {
		if str[i] == '"' || str[i] == '\\' {
			b = append(b, '\\')
		}
		b = append(b, str[i])
	}
	return string(append(b, '"'))
}
