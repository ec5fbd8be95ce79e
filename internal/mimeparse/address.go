package mimeparse

import "strings"

// maxAddresses bounds the number of addresses parsed from one field.
const maxAddresses = 10000

// parseAddressList parses an RFC 5322 address list tolerantly. It never
// fails: unbalanced quotes, comments and angle brackets run to the end of
// the value, a group without ';' is closed at the end, stray ';' separate
// addresses like ',' and pieces without any address are dropped.
func parseAddressList(s string) []Address {
	if strings.TrimSpace(s) == "" {
		return nil
	}
	var (
		out     []Address
		inGroup bool
		start   int
	)
	emit := func(end int) {
		if a, ok := parseMailbox(s[start:end]); ok && len(out) < maxAddresses {
			out = append(out, a)
		}
	}
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '"':
			i = skipQuoted(s, i)
		case '(':
			i = skipComment(s, i)
		case '<':
			if j := strings.IndexByte(s[i:], '>'); j >= 0 {
				i += j
			} else {
				i = len(s)
			}
		case ',':
			emit(i)
			start = i + 1
		case ':':
			if inGroup {
				continue
			}
			if len(out) >= maxAddresses {
				continue
			}
			out = append(out, Address{Mailbox: phrase(s[start:i]), GroupStart: true})
			inGroup = true
			start = i + 1
		case ';':
			emit(i)
			start = i + 1
			if inGroup {
				out = append(out, Address{GroupEnd: true})
				inGroup = false
			}
		}
	}
	if start < len(s) {
		emit(len(s))
	}
	if inGroup {
		out = append(out, Address{GroupEnd: true})
	}
	return out
}

// AddressText returns an address field's value in the form the IMAP
// address search keys (FROM, TO, CC, BCC) compare with: every address as
// `Name <mailbox@host>` and groups as `name: a, b;`, with comments, a
// source route and white space inside addresses dropped and encoded-words
// decoded. A "<user (c)@ (c) host>" is found by "user@host" that way.
func AddressText(value string) string {
	return decodeHeaderValue(strings.Join(formatAddresses(parseAddressList(value)), ", "))
}

// isAddressHeader reports whether a header field (any case) holds
// addresses that the search text also keeps in [AddressText] form.
func isAddressHeader(name string) bool {
	for _, f := range [...]string{"from", "to", "cc", "bcc", "sender", "reply-to"} {
		if strings.EqualFold(name, f) {
			return true
		}
	}
	return false
}

// skipQuoted returns the index of the closing quote of the quoted string
// starting at s[i] (or the last index when it is not closed).
func skipQuoted(s string, i int) int {
	for i++; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
		case '"':
			return i
		}
	}
	return len(s) - 1
}

// skipComment returns the index of the ')' closing the (possibly nested)
// comment starting at s[i] (or the last index when it is not closed).
func skipComment(s string, i int) int {
	depth := 0
	for ; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
		case '(':
			depth++
		case ')':
			depth--
			if depth == 0 {
				return i
			}
		}
	}
	return len(s) - 1
}

// parseMailbox parses one mailbox: "phrase <addr>", "addr", or
// "addr (comment)". ok is false when there is nothing in it.
func parseMailbox(s string) (Address, bool) {
	var (
		name    strings.Builder // display name: phrase outside <>
		spec    strings.Builder // addr-spec outside <>, without white space
		angle   string
		comment string
		hasAng  bool
		space   bool // white space pending in name
	)
	writeName := func(str string) {
		if space && name.Len() > 0 {
			name.WriteByte(' ')
		}
		space = false
		name.WriteString(str)
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch c {
		case ' ', '\t', '\r', '\n':
			space = true
		case '(':
			j := skipComment(s, i)
			if comment == "" {
				comment = commentText(s[i:min(j+1, len(s))])
			}
			i = j
			space = true
		case '"':
			j := skipQuoted(s, i)
			q := s[i:min(j+1, len(s))]
			writeName(unquote(q))
			spec.WriteString(q)
			i = j
		case '<':
			j := strings.IndexByte(s[i:], '>')
			if j < 0 {
				j = len(s) - i
			}
			if !hasAng {
				angle, hasAng = s[i+1:i+j], true
			}
			i += j
			space = true
		default:
			j := i
			for j < len(s) && !strings.ContainsRune(" \t\r\n(\"<", rune(s[j])) {
				j++
			}
			writeName(s[i:j])
			spec.WriteString(s[i:j])
			i = j - 1
		}
	}
	var addr, disp, route string
	if hasAng {
		addr, route = cleanAddrSpec(angle)
		disp = name.String()
	} else {
		addr = spec.String()
		if !strings.Contains(addr, "@") && strings.Contains(name.String(), " ") {
			// Only a phrase, no address: keep it as the name.
			return Address{Name: name.String()}, true
		}
	}
	if disp == "" {
		disp = comment
	}
	a := Address{Name: disp, Route: route}
	if at := strings.LastIndexByte(addr, '@'); at >= 0 {
		a.Mailbox, a.Host = addr[:at], addr[at+1:]
	} else {
		a.Mailbox = addr
	}
	if a.Name == "" && a.Mailbox == "" && a.Host == "" {
		return Address{}, false
	}
	return a, true
}

// cleanAddrSpec removes white space and comments from the content of an
// angle-addr and splits off an obsolete source route ("@a,@b:user@host"),
// returned without its ':'.
func cleanAddrSpec(s string) (addr, route string) {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case ' ', '\t', '\r', '\n':
		case '(':
			i = skipComment(s, i)
		case '"':
			j := skipQuoted(s, i)
			b.WriteString(s[i:min(j+1, len(s))])
			i = j
		default:
			b.WriteByte(c)
		}
	}
	addr = b.String()
	if strings.HasPrefix(addr, "@") {
		if i := strings.IndexByte(addr, ':'); i >= 0 {
			route, addr = addr[:i], addr[i+1:]
		}
	}
	return addr, route
}

// phrase returns the display-name form of s: quotes removed, comments
// dropped, white space collapsed.
func phrase(s string) string {
	var b strings.Builder
	space := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch c {
		case ' ', '\t', '\r', '\n':
			space = true
			continue
		}
		if space && b.Len() > 0 {
			b.WriteByte(' ')
		}
		space = false
		switch c {
		case '(':
			i = skipComment(s, i)
			space = true
		case '"':
			j := skipQuoted(s, i)
			b.WriteString(unquote(s[i:min(j+1, len(s))]))
			i = j
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// unquote returns the content of a quoted string with quoted pairs
// unescaped; q starts with '"' and may lack the closing one.
func unquote(q string) string {
	q = q[1:]
	q = strings.TrimSuffix(q, `"`)
	if !strings.ContainsAny(q, "\\\r\n") {
		return q
	}
	var b strings.Builder
	for i := 0; i < len(q); i++ {
		switch c := q[i]; c {
		case '\\':
			if i+1 < len(q) {
				i++
				b.WriteByte(q[i])
			}
		case '\r', '\n':
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// commentText returns the text of a comment "(...)", white space collapsed.
func commentText(c string) string {
	c = strings.TrimPrefix(c, "(")
	c = strings.TrimSuffix(c, ")")
	return strings.Join(strings.Fields(c), " ")
}
