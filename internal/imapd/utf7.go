package imapd

import (
	"encoding/base64"
	"errors"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// Modified UTF-7 (RFC 3501 §5.1.3) is how IMAP4rev1 clients that have not
// enabled UTF-8 name mailboxes with characters outside printable ASCII.

var utf7Enc = base64.NewEncoding("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,").WithPadding(base64.NoPadding)

var errBadUTF7 = errors.New("bad modified UTF-7 mailbox name")

// encodeUTF7 encodes a UTF-8 mailbox name in modified UTF-7.
func encodeUTF7(s string) string {
	var b strings.Builder
	var pending []rune
	flush := func() {
		if len(pending) == 0 {
			return
		}
		u := utf16.Encode(pending)
		buf := make([]byte, 2*len(u))
		for i, c := range u {
			buf[2*i], buf[2*i+1] = byte(c>>8), byte(c)
		}
		b.WriteByte('&')
		b.WriteString(utf7Enc.EncodeToString(buf))
		b.WriteByte('-')
		pending = pending[:0]
	}
	for _, r := range s {
		if r >= 0x20 && r <= 0x7e {
			flush()
			if r == '&' {
				b.WriteString("&-")
			} else {
				b.WriteRune(r)
			}
			continue
		}
		pending = append(pending, r)
	}
	flush()
	return b.String()
}

// decodeUTF7 decodes a modified UTF-7 mailbox name to UTF-8. It refuses
// what RFC 3501 forbids: raw non-ASCII bytes, encoded printable ASCII,
// adjacent encoded runs, bad base64 and unpaired surrogates.
func decodeUTF7(s string) (string, error) {
	if !strings.Contains(s, "&") {
		for i := 0; i < len(s); i++ {
			if s[i] < 0x20 || s[i] > 0x7e {
				return "", errBadUTF7
			}
		}
		return s, nil
	}
	var b strings.Builder
	lastEncoded := false
	for i := 0; i < len(s); {
		c := s[i]
		if c < 0x20 || c > 0x7e {
			return "", errBadUTF7
		}
		if c != '&' {
			b.WriteByte(c)
			i++
			lastEncoded = false
			continue
		}
		j := strings.IndexByte(s[i+1:], '-')
		if j < 0 {
			return "", errBadUTF7
		}
		enc := s[i+1 : i+1+j]
		i += j + 2
		if enc == "" {
			b.WriteByte('&')
			lastEncoded = false
			continue
		}
		if lastEncoded {
			return "", errBadUTF7
		}
		raw, err := utf7Enc.DecodeString(enc)
		if err != nil || len(raw)%2 != 0 || len(raw) == 0 {
			return "", errBadUTF7
		}
		// Re-encoding must give back the same text (no stray bits).
		if utf7Enc.EncodeToString(raw) != enc {
			return "", errBadUTF7
		}
		u := make([]uint16, len(raw)/2)
		for k := range u {
			u[k] = uint16(raw[2*k])<<8 | uint16(raw[2*k+1])
		}
		for k := 0; k < len(u); k++ {
			r := rune(u[k])
			switch {
			case utf16.IsSurrogate(r):
				if k+1 >= len(u) {
					return "", errBadUTF7
				}
				r = utf16.DecodeRune(r, rune(u[k+1]))
				if r == utf8.RuneError {
					return "", errBadUTF7
				}
				k++
			case r >= 0x20 && r <= 0x7e:
				return "", errBadUTF7
			}
			b.WriteRune(r)
		}
		lastEncoded = true
	}
	return b.String(), nil
}
