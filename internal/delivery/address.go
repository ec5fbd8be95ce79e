// Package delivery puts accepted mail where it belongs: into the mailboxes
// of local accounts (through store.Store.Deliver) and, for recipients in
// other domains, into a durable outbound queue.
//
// It resolves recipient addresses (exact addresses, aliases, plus
// addresses, catch-alls), adds the trace header fields (Return-Path,
// Delivered-To; the Received field is made by the protocol layer), and
// holds the header checks that submission applies (From ownership, blocked
// attachment types, also inside zip archives). The SMTP server in
// internal/smtpd is its main user.
package delivery

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/pochta-mail/pochta/internal/store"
)

// ErrBadAddress reports an address that cannot be parsed.
var ErrBadAddress = errors.New("bad address")

// Address is a parsed mailbox (local@domain) from an SMTP path or a
// header field.
type Address struct {
	// Local is the local part as given, with the quotes of a quoted
	// local part removed and its quoted pairs unescaped.
	Local string
	// Domain is the domain in canonical form (store.CanonicalDomain):
	// IDNA A-labels, lowercase, without a trailing dot, whether it was
	// written with U-labels or A-labels. For an address literal
	// ("[192.0.2.1]") it keeps its brackets.
	Domain string
	// utf8 records that the address as written was not all ASCII (a
	// UTF-8 local part or a U-label domain), so needs SMTPUTF8.
	utf8 bool
}

// String returns local@domain, quoting the local part when it is not a
// dot-atom.
func (a Address) String() string {
	if isDotAtom(a.Local) {
		return a.Local + "@" + a.Domain
	}
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range a.Local {
		if r == '"' || r == '\\' {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	b.WriteString(`"@`)
	b.WriteString(a.Domain)
	return b.String()
}

// IsASCII reports whether the address, as written, is all ASCII (needs no
// SMTPUTF8). A domain written with U-labels is not, though Domain holds
// its A-label form.
func (a Address) IsASCII() bool {
	return !a.utf8 && isASCII(a.Local) && isASCII(a.Domain)
}

// IsLiteral reports whether the domain is an address literal.
func (a Address) IsLiteral() bool {
	return strings.HasPrefix(a.Domain, "[")
}

// Canonical returns the address in the form the store keys it by in a
// case-insensitive domain (lowercase local part and domain), or an error
// when the local part is not a dot-atom (quoted local parts never name a
// local mailbox).
func (a Address) Canonical() (string, error) {
	return a.CanonicalCase(false)
}

// CanonicalCase is Canonical for a domain with the given
// store.Domain.LocalPartCaseSensitive: with caseSensitive set the local
// part keeps its case.
func (a Address) CanonicalCase(caseSensitive bool) (string, error) {
	if a.IsLiteral() {
		return "", fmt.Errorf("%w: address literal %q", ErrBadAddress, a.Domain)
	}
	addr, _, _, err := store.CanonicalAddressCase(a.Local+"@"+a.Domain, caseSensitive)
	if err != nil {
		return "", fmt.Errorf("%w: %w", ErrBadAddress, err)
	}
	return addr, nil
}

// maxAddressLen bounds a path (RFC 5321 §4.5.3.1.3 allows 256 octets for a
// path including the brackets).
const maxAddressLen = 254

// ParseAddress parses a mailbox as an SMTP server receives it in MAIL FROM
// or RCPT TO after the angle brackets are removed: local@domain with a
// dot-atom or quoted-string local part (RFC 5321 §4.1.2), UTF-8 allowed
// (RFC 6531), and a domain name or an address literal.
func ParseAddress(s string) (Address, error) {
	if len(s) > maxAddressLen {
		return Address{}, fmt.Errorf("%w: longer than %d octets", ErrBadAddress, maxAddressLen)
	}
	if !utf8.ValidString(s) {
		return Address{}, fmt.Errorf("%w: not UTF-8", ErrBadAddress)
	}
	var local, rest string
	if strings.HasPrefix(s, `"`) {
		var b strings.Builder
		i := 1
		closed := false
		for i < len(s) {
			c := s[i]
			switch {
			case c == '\\':
				if i+1 >= len(s) || s[i+1] < 0x20 && s[i+1] != '\t' || s[i+1] == 0x7f {
					return Address{}, fmt.Errorf("%w: bad quoted pair", ErrBadAddress)
				}
				b.WriteByte(s[i+1])
				i += 2
				continue
			case c == '"':
				closed = true
			case c < 0x20 || c == 0x7f:
				return Address{}, fmt.Errorf("%w: control character in local part", ErrBadAddress)
			default:
				b.WriteByte(c)
				i++
				continue
			}
			break
		}
		if !closed {
			return Address{}, fmt.Errorf("%w: unterminated quoted local part", ErrBadAddress)
		}
		local, rest = b.String(), s[i+1:]
		if !strings.HasPrefix(rest, "@") {
			return Address{}, fmt.Errorf("%w: want @ after the local part", ErrBadAddress)
		}
		rest = rest[1:]
	} else {
		at := strings.LastIndexByte(s, '@')
		if at < 0 {
			return Address{}, fmt.Errorf("%w: no @", ErrBadAddress)
		}
		local, rest = s[:at], s[at+1:]
		if !isDotAtom(local) {
			return Address{}, fmt.Errorf("%w: local part %q is not a dot-atom", ErrBadAddress, local)
		}
	}
	if local == "" || len(local) > 64 {
		return Address{}, fmt.Errorf("%w: empty or too long local part", ErrBadAddress)
	}
	domain, err := parseDomain(rest)
	if err != nil {
		return Address{}, err
	}
	return Address{Local: local, Domain: domain, utf8: !isASCII(s)}, nil
}

// parseDomain checks the domain of a path, a host name (UTF-8 labels
// allowed) or an address literal, and returns its canonical form.
func parseDomain(d string) (string, error) {
	if strings.HasPrefix(d, "[") {
		if !strings.HasSuffix(d, "]") || len(d) < 3 {
			return "", fmt.Errorf("%w: bad address literal", ErrBadAddress)
		}
		for _, c := range []byte(d[1 : len(d)-1]) {
			if c <= ' ' || c >= 0x7f || c == '[' || c == ']' || c == '\\' {
				return "", fmt.Errorf("%w: bad address literal", ErrBadAddress)
			}
		}
		return strings.ToLower(d), nil
	}
	cd, err := store.CanonicalDomain(d)
	if err != nil || strings.TrimSpace(d) != d {
		return "", fmt.Errorf("%w: domain %q", ErrBadAddress, d)
	}
	return cd, nil
}

// isDotAtom reports whether s is a dot-atom of atext (UTF-8 allowed).
func isDotAtom(s string) bool {
	if s == "" || s[0] == '.' || s[len(s)-1] == '.' || strings.Contains(s, "..") {
		return false
	}
	for _, r := range s {
		switch {
		case r == '.':
		case 'a' <= r && r <= 'z', 'A' <= r && r <= 'Z', '0' <= r && r <= '9':
		case r >= utf8.RuneSelf:
			if r == utf8.RuneError {
				return false
			}
		case strings.ContainsRune("!#$%&'*+-/=?^_`{|}~", r):
		default:
			return false
		}
	}
	return true
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}
