package store

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/net/idna"
)

// Limits on addresses, from RFC 5321 §4.5.3.1.
const (
	maxLocalPart = 64
	maxDomain    = 255
)

// idnaProfile converts domain names to their A-label (ASCII) form: the
// UTS #46 lookup mapping (lowercase, width and compatibility mappings, NFC),
// nontransitional (ß stays ß), the Bidi rule, STD3 characters, DNS lengths.
// Hyphens in the third and fourth places of an ASCII label ("r3---sn") are
// allowed, as they are in DNS. A Profile is immutable and safe for
// concurrent use.
var idnaProfile = idna.New(idna.MapForLookup(), idna.CheckHyphens(false), idna.BidiRule(),
	idna.Transitional(false), idna.VerifyDNSLength(true))

// idnaLabel checks one A-label strictly, hyphen rules included: a U-label
// may not start or end with '-' nor have "--" in its third and fourth
// places (RFC 5891 §4.2.3.1).
var idnaLabel = idna.New(idna.MapForLookup(), idna.BidiRule(), idna.Transitional(false), idna.VerifyDNSLength(true))

// CanonicalDomain returns a domain name in the form the store keeps: the
// IDNA A-label (ASCII) form, lowercase, without a trailing dot. "Пример.РФ"
// and "xn--e1afmkfd.xn--p1ai" are the same domain and both give
// "xn--e1afmkfd.xn--p1ai".
//
// The A-label form is the one that is right everywhere outside the
// mailbox: DNS records (MX, SPF, the DKIM key's name), the DKIM d= tag
// (RFC 6376 §3.5 wants A-labels) and SMTP without SMTPUTF8, where a
// U-label may not appear at all. DisplayDomain gives the Unicode form for
// people. CanonicalDomain refuses names that are not host names.
func CanonicalDomain(name string) (string, error) {
	d := strings.TrimSuffix(strings.TrimSpace(name), ".")
	if d == "" || len(d) > maxDomain {
		return "", fmt.Errorf("%w: domain %q: empty or too long", ErrInvalid, name)
	}
	if !utf8.ValidString(d) {
		return "", fmt.Errorf("%w: domain %q: not UTF-8", ErrInvalid, name)
	}
	a, err := idnaProfile.ToASCII(d)
	if err != nil {
		return "", fmt.Errorf("%w: domain %q: %v", ErrInvalid, name, err)
	}
	a = strings.ToLower(a)
	if a == "" || len(a) > maxDomain {
		return "", fmt.Errorf("%w: domain %q: empty or too long", ErrInvalid, name)
	}
	for _, label := range strings.Split(a, ".") {
		if label == "" || len(label) > 63 {
			return "", fmt.Errorf("%w: domain %q: empty or too long label", ErrInvalid, name)
		}
		if label[0] == '-' || label[len(label)-1] == '-' {
			return "", fmt.Errorf("%w: domain %q: label starts or ends with '-'", ErrInvalid, name)
		}
		if strings.HasPrefix(label, "xn--") {
			if _, err := idnaLabel.ToASCII(label); err != nil {
				return "", fmt.Errorf("%w: domain %q: %v", ErrInvalid, name, err)
			}
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !(c == '-' || ('a' <= c && c <= 'z') || ('0' <= c && c <= '9')) {
				return "", fmt.Errorf("%w: domain %q: character %q not allowed", ErrInvalid, name, c)
			}
		}
	}
	return a, nil
}

// DisplayDomain returns the Unicode (U-label) form of a canonical domain
// for people to read: "xn--e1afmkfd.xn--p1ai" gives "пример.рф". A name
// that is not a valid IDN is returned unchanged.
func DisplayDomain(name string) string {
	u, err := idnaProfile.ToUnicode(name)
	if err != nil {
		return name
	}
	return u
}

// CanonicalAddress splits and normalises a mail address (local@domain) into
// the form the store keeps in a domain whose local parts are
// case-insensitive (the default): local part and domain lowercase. Local
// parts may be UTF-8 (RFC 6531). Quoted local parts, comments and source
// routes are refused: an account or alias address is always a plain
// dot-atom.
func CanonicalAddress(addr string) (address, local, domain string, err error) {
	return CanonicalAddressCase(addr, false)
}

// CanonicalAddressCase is CanonicalAddress for a domain with the given
// Domain.LocalPartCaseSensitive: when caseSensitive is set the local part
// is kept as given (User@ and user@ are different addresses), otherwise it
// is lowercased. The domain is canonical (CanonicalDomain) either way.
func CanonicalAddressCase(addr string, caseSensitive bool) (address, local, domain string, err error) {
	addr = strings.TrimSpace(addr)
	at := strings.LastIndexByte(addr, '@')
	if at <= 0 || at == len(addr)-1 {
		return "", "", "", fmt.Errorf("%w: address %q: want local@domain", ErrInvalid, addr)
	}
	local = addr[:at]
	if !utf8.ValidString(local) {
		return "", "", "", fmt.Errorf("%w: address %q: not UTF-8", ErrInvalid, addr)
	}
	// The local part must be valid both as given and lowercased (the two
	// forms can differ in length), so that an address valid in a
	// case-insensitive domain is valid in a case-sensitive one too.
	folded := strings.ToLower(local)
	for _, l := range []string{local, folded} {
		if len(l) > maxLocalPart {
			return "", "", "", fmt.Errorf("%w: address %q: local part longer than %d octets", ErrInvalid, addr, maxLocalPart)
		}
		if l[0] == '.' || l[len(l)-1] == '.' || strings.Contains(l, "..") {
			return "", "", "", fmt.Errorf("%w: address %q: misplaced dot in local part", ErrInvalid, addr)
		}
		for _, r := range l {
			if !isAtext(r) && r != '.' {
				return "", "", "", fmt.Errorf("%w: address %q: character %q not allowed in local part", ErrInvalid, addr, r)
			}
		}
	}
	if !caseSensitive {
		local = folded
	}
	domain, err = CanonicalDomain(addr[at+1:])
	if err != nil {
		return "", "", "", err
	}
	return local + "@" + domain, local, domain, nil
}

// isAtext reports whether r may appear in a dot-atom (RFC 5322 atext, plus
// any non-ASCII character per RFC 6531).
func isAtext(r rune) bool {
	switch {
	case 'a' <= r && r <= 'z', 'A' <= r && r <= 'Z', '0' <= r && r <= '9':
		return true
	case r >= utf8.RuneSelf:
		return unicode.IsPrint(r) && !unicode.IsSpace(r)
	}
	return strings.ContainsRune("!#$%&'*+-/=?^_`{|}~", r)
}
