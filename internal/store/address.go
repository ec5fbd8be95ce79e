package store

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Limits on addresses, from RFC 5321 §4.5.3.1.
const (
	maxLocalPart = 64
	maxDomain    = 255
)

// CanonicalDomain returns a domain name in the form the store keeps: lowercase,
// without a trailing dot. It refuses names that are not host names.
func CanonicalDomain(name string) (string, error) {
	d := strings.ToLower(strings.TrimSuffix(strings.TrimSpace(name), "."))
	if d == "" || len(d) > maxDomain {
		return "", fmt.Errorf("%w: domain %q: empty or too long", ErrInvalid, name)
	}
	if !utf8.ValidString(d) {
		return "", fmt.Errorf("%w: domain %q: not UTF-8", ErrInvalid, name)
	}
	for _, label := range strings.Split(d, ".") {
		if label == "" || len(label) > 63 {
			return "", fmt.Errorf("%w: domain %q: empty or too long label", ErrInvalid, name)
		}
		if label[0] == '-' || label[len(label)-1] == '-' {
			return "", fmt.Errorf("%w: domain %q: label starts or ends with '-'", ErrInvalid, name)
		}
		for _, r := range label {
			ok := r == '-' || ('a' <= r && r <= 'z') || ('0' <= r && r <= '9') ||
				(r >= utf8.RuneSelf && (unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.Is(unicode.Mn, r)))
			if !ok {
				return "", fmt.Errorf("%w: domain %q: character %q not allowed", ErrInvalid, name, r)
			}
		}
	}
	return d, nil
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
	if !caseSensitive {
		local = strings.ToLower(local)
	}
	if !utf8.ValidString(local) {
		return "", "", "", fmt.Errorf("%w: address %q: not UTF-8", ErrInvalid, addr)
	}
	if len(local) > maxLocalPart {
		return "", "", "", fmt.Errorf("%w: address %q: local part longer than %d octets", ErrInvalid, addr, maxLocalPart)
	}
	if local[0] == '.' || local[len(local)-1] == '.' || strings.Contains(local, "..") {
		return "", "", "", fmt.Errorf("%w: address %q: misplaced dot in local part", ErrInvalid, addr)
	}
	for _, r := range local {
		if !isAtext(r) && r != '.' {
			return "", "", "", fmt.Errorf("%w: address %q: character %q not allowed in local part", ErrInvalid, addr, r)
		}
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
