package mimeparse

import (
	"bytes"
	"strconv"
	"strings"
	"unicode/utf8"

	"golang.org/x/net/idna"
)

// This file implements the header part of RFC 6857, post-delivery
// downgrading: a message with UTF-8 header fields (RFC 6532) is turned
// into one with 7-bit headers for a client that cannot take UTF-8.
//
//   - Unstructured text (Subject, Comments, Content-Description, unknown
//     fields) becomes RFC 2047 encoded-words.
//   - Address fields: UTF-8 display names become encoded-words; a domain
//     becomes its A-label when the local part is ASCII; an address that
//     stays non-ASCII is replaced by an empty group whose display name is
//     the encoded display name followed by the encoded "<address>"
//     (RFC 6857 §3.2, with RFC 6854 allowing groups in From and Sender).
//     Inside a group such an empty group follows the group.
//   - Content-Type and Content-Disposition parameters use RFC 2231.
//   - Message-ID, In-Reply-To, References, Original-Recipient,
//     Final-Recipient and Return-Path are encapsulated: renamed to
//     Downgraded-<name>, the value as encoded-words.
//   - Received loses a FOR clause with non-ASCII; anything non-ASCII left
//     becomes encoded-words.
//
// Fields that are 7-bit are kept byte for byte. A field with 8-bit bytes
// that are not UTF-8 (legacy raw Latin-1 and the like) is kept unchanged
// too: its charset is unknown, so it cannot be labelled.

// maxWordPayload is the room for encoded text in one encoded-word of at
// most 75 characters: "=?UTF-8?Q?" and "?=" take 12.
const maxWordPayload = 75 - len("=?UTF-8?Q?") - len("?=")

// foldWidth is the line length that folding aims at.
const foldWidth = 76

// idnaProfile converts domains to A-labels for lookup purposes.
var idnaProfile = idna.New(idna.MapForLookup(), idna.BidiRule(), idna.CheckHyphens(false))

// isASCII reports whether s has no 8-bit bytes.
func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

func has8bit(b []byte) bool {
	for _, c := range b {
		if c >= 0x80 {
			return true
		}
	}
	return false
}

// isPhraseSafe reports whether c may appear unencoded in a Q-encoded
// word that stands in a phrase (RFC 2047 §5 (3)); the encoder uses this
// strictest set everywhere.
func isPhraseSafe(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
		c == '!' || c == '*' || c == '+' || c == '-' || c == '/'
}

// EncodeWords encodes s as RFC 2047 encoded-words (UTF-8, Q encoding),
// each at most 75 characters and separated by single spaces, which a
// decoder drops. Invalid UTF-8 is replaced by U+FFFD first. The words
// may stand in unstructured text, comments and phrases.
func EncodeWords(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	var b strings.Builder
	n := 0 // payload length of the current word
	open := false
	for _, r := range s {
		var enc [12]byte
		e := enc[:0]
		var rb [utf8.UTFMax]byte
		for _, c := range rb[:utf8.EncodeRune(rb[:], r)] {
			switch {
			case c == ' ':
				e = append(e, '_')
			case isPhraseSafe(c):
				e = append(e, c)
			default:
				e = append(e, '=', "0123456789ABCDEF"[c>>4], "0123456789ABCDEF"[c&15])
			}
		}
		if open && n+len(e) > maxWordPayload {
			b.WriteString("?= ")
			open = false
		}
		if !open {
			b.WriteString("=?UTF-8?Q?")
			open, n = true, 0
		}
		b.Write(e)
		n += len(e)
	}
	if open {
		b.WriteString("?=")
	}
	return b.String()
}

// encodeText downgrades unstructured text: the runs of white-space
// separated words that are not ASCII (or that look like encoded-words)
// become encoded-words; ASCII words stay. White space is collapsed.
func encodeText(v string) string {
	words := strings.Fields(v)
	needs := func(w string) bool { return !isASCII(w) || strings.Contains(w, "=?") }
	var out []string
	for i := 0; i < len(words); {
		if !needs(words[i]) {
			out = append(out, words[i])
			i++
			continue
		}
		j := i + 1
		for j < len(words) && needs(words[j]) {
			j++
		}
		out = append(out, EncodeWords(strings.Join(words[i:j], " ")))
		i = j
	}
	return strings.Join(out, " ")
}

// isAtext reports whether c is an RFC 5322 atext character.
func isAtext(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
		strings.IndexByte("!#$%&'*+-/=?^_`{|}~", c) >= 0
}

// formatPhrase writes a display name for a header: as it is when it is
// made of atoms (encoded-words included), quoted when it has specials,
// encoded-words when it is not ASCII.
func formatPhrase(s string) string {
	if !isASCII(s) {
		return EncodeWords(s)
	}
	plain := true
	for i := 0; i < len(s); i++ {
		if c := s[i]; !isAtext(c) && c != ' ' && c != '.' {
			plain = false
			break
		}
	}
	if plain && !strings.HasPrefix(s, ".") {
		return s
	}
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		if s[i] == '"' || s[i] == '\\' {
			b.WriteByte('\\')
		}
		b.WriteByte(s[i])
	}
	b.WriteByte('"')
	return b.String()
}

// DowngradeAddresses returns an envelope address list with no non-ASCII
// text, by the rules of the address fields above (the IMAP rendering of
// what [DowngradeHeader] writes). list is returned as it is when it is
// all ASCII.
func DowngradeAddresses(list []Address) []Address {
	ascii := true
	for _, a := range list {
		if !isASCII(a.Name) || !isASCII(a.Mailbox) || !isASCII(a.Host) {
			ascii = false
			break
		}
	}
	if ascii {
		return list
	}
	out := make([]Address, 0, len(list)+2)
	var deferred []Address // members moved out of the open group
	inGroup := false
	for _, a := range list {
		switch {
		case a.GroupStart:
			if !isASCII(a.Mailbox) {
				a.Mailbox = EncodeWords(a.Mailbox)
			}
			inGroup = true
			out = append(out, a)
			continue
		case a.GroupEnd:
			out = append(out, a)
			out = append(out, deferred...)
			deferred, inGroup = nil, false
			continue
		}
		if !isASCII(a.Name) {
			a.Name = EncodeWords(a.Name)
		}
		if isASCII(a.Mailbox) && !isASCII(a.Host) {
			if h, err := idnaProfile.ToASCII(a.Host); err == nil && isASCII(h) {
				a.Host = h
			}
		}
		if isASCII(a.Mailbox) && isASCII(a.Host) {
			out = append(out, a)
			continue
		}
		// RFC 6857 §3.2: the address cannot be written in ASCII; an empty
		// group named by the display name and the encoded address keeps
		// it readable.
		addr := a.Mailbox
		if a.Host != "" {
			addr += "@" + a.Host
		}
		name := EncodeWords("<" + addr + ">")
		if a.Name != "" {
			name = a.Name + " " + name
		}
		g := []Address{{Mailbox: name, GroupStart: true}, {GroupEnd: true}}
		if inGroup {
			deferred = append(deferred, g...)
		} else {
			out = append(out, g...)
		}
	}
	return append(out, deferred...)
}

// formatAddresses writes an address list for a header field.
func formatAddresses(list []Address) []string {
	var items []string
	var group []string
	inGroup := false
	groupName := ""
	for _, a := range list {
		switch {
		case a.GroupStart:
			inGroup, groupName, group = true, formatPhrase(a.Mailbox), nil
		case a.GroupEnd:
			items = append(items, formatGroup(groupName, group))
			inGroup = false
		default:
			addr := a.Mailbox
			if a.Host != "" {
				addr += "@" + a.Host
			}
			s := addr
			if a.Name != "" {
				s = formatPhrase(a.Name) + " <" + addr + ">"
			} else if a.Host == "" {
				s = formatPhrase(a.Mailbox)
			}
			if inGroup {
				group = append(group, s)
			} else {
				items = append(items, s)
			}
		}
	}
	if inGroup {
		items = append(items, formatGroup(groupName, group))
	}
	return items
}

func formatGroup(name string, members []string) string {
	if len(members) == 0 {
		return name + ":;"
	}
	return name + ": " + strings.Join(members, ", ") + ";"
}

// DowngradeEnvelope returns e with no non-ASCII text, matching what
// [DowngradeHeader] makes of the header: text fields become
// encoded-words, addresses as in [DowngradeAddresses], and Message-ID
// and In-Reply-To, which are encapsulated, are dropped when they are not
// ASCII. e itself is returned when it is all ASCII.
func DowngradeEnvelope(e *Envelope) *Envelope {
	if e == nil {
		return nil
	}
	lists := [][]Address{e.From, e.Sender, e.ReplyTo, e.To, e.Cc, e.Bcc}
	ascii := isASCII(e.Date) && isASCII(e.Subject) && isASCII(e.InReplyTo) && isASCII(e.MessageID) && isASCII(e.References)
	for _, l := range lists {
		for _, a := range l {
			ascii = ascii && isASCII(a.Name) && isASCII(a.Mailbox) && isASCII(a.Host)
		}
	}
	if ascii {
		return e
	}
	d := *e
	if !isASCII(d.Date) {
		d.Date = encodeText(d.Date)
	}
	if !isASCII(d.Subject) {
		d.Subject = encodeText(d.Subject)
	}
	if !isASCII(d.InReplyTo) {
		d.InReplyTo = ""
	}
	if !isASCII(d.MessageID) {
		d.MessageID = ""
	}
	if !isASCII(d.References) {
		d.References = ""
	}
	d.From = DowngradeAddresses(d.From)
	d.Sender = DowngradeAddresses(d.Sender)
	d.ReplyTo = DowngradeAddresses(d.ReplyTo)
	d.To = DowngradeAddresses(d.To)
	d.Cc = DowngradeAddresses(d.Cc)
	d.Bcc = DowngradeAddresses(d.Bcc)
	return &d
}

// DowngradeParams returns parameters with no non-ASCII value: such a
// value is given in the RFC 2231 form (name "name*", value
// "utf-8”percent-encoded"), as the downgraded header has it. params is
// returned as it is when it is all ASCII.
func DowngradeParams(params []Param) []Param {
	ascii := true
	for _, p := range params {
		ascii = ascii && isASCII(p.Value) && isASCII(p.Name)
	}
	if ascii {
		return params
	}
	out := make([]Param, len(params))
	for i, p := range params {
		if !isASCII(p.Name) {
			p.Name = percentEncode(p.Name)
		}
		if !isASCII(p.Value) {
			p = Param{Name: p.Name + "*", Value: "utf-8''" + percentEncode(p.Value)}
		}
		out[i] = p
	}
	return out
}

// isAttrChar reports whether c may stand unencoded in an RFC 2231
// extended value.
func isAttrChar(c byte) bool {
	return c > ' ' && c < 0x7f && !isTSpecial(c) && c != '*' && c != '\'' && c != '%'
}

func percentEncode(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if isAttrChar(c) {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte("0123456789ABCDEF"[c>>4])
		b.WriteByte("0123456789ABCDEF"[c&15])
	}
	return b.String()
}

// formatParams writes "; name=value" parameters, non-ASCII values in the
// RFC 2231 form with continuations of at most about 60 characters.
func formatParams(params []Param) []string {
	var out []string
	for _, p := range params {
		name := p.Name
		if !isASCII(name) {
			name = percentEncode(name)
		}
		if isASCII(p.Value) {
			v := p.Value
			tok := v != ""
			for i := 0; i < len(v) && tok; i++ {
				tok = isTokenChar(v[i])
			}
			if !tok {
				v = quoteString(v)
			}
			out = append(out, name+"="+v)
			continue
		}
		enc := "utf-8''" + percentEncode(p.Value)
		if len(enc) <= 60 {
			out = append(out, name+"*="+enc)
			continue
		}
		for n := 0; enc != ""; n++ {
			k := min(60, len(enc))
			// Never split a %XX triplet.
			if i := strings.LastIndexByte(enc[:k], '%'); i >= 0 && i > k-3 && k < len(enc) {
				k = i
			}
			out = append(out, name+"*"+strconv.Itoa(n)+"*="+enc[:k])
			enc = enc[k:]
		}
	}
	return out
}

func quoteString(v string) string {
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(v); i++ {
		if v[i] == '"' || v[i] == '\\' {
			b.WriteByte('\\')
		}
		if v[i] == '\r' || v[i] == '\n' {
			continue
		}
		b.WriteByte(v[i])
	}
	b.WriteByte('"')
	return b.String()
}

// encapsulated names the fields that RFC 6857 renames to Downgraded-*.
var encapsulated = map[string]string{
	"message-id":         "Message-Id",
	"in-reply-to":        "In-Reply-To",
	"references":         "References",
	"original-recipient": "Original-Recipient",
	"final-recipient":    "Final-Recipient",
	"return-path":        "Return-Path",
}

// addressFields are the fields rewritten as address lists.
var addressFields = map[string]bool{
	"from": true, "sender": true, "reply-to": true, "to": true, "cc": true, "bcc": true,
	"resent-from": true, "resent-sender": true, "resent-to": true, "resent-cc": true, "resent-bcc": true,
	"resent-reply-to": true, "disposition-notification-to": true,
}

// DowngradeHeader returns a raw header block (fields, then the empty
// line that ends it, if any) with its UTF-8 fields downgraded as
// described at the top of this file. 7-bit fields and everything after
// the empty line are kept byte for byte; h is returned as it is when
// nothing changes. Rewritten fields end in CRLF and are folded.
func DowngradeHeader(h []byte) []byte {
	if !has8bit(h) {
		return h
	}
	out := make([]byte, 0, len(h)+len(h)/2)
	rest := h
	for len(rest) > 0 {
		if rest[0] == '\n' || rest[0] == '\r' && len(rest) > 1 && rest[1] == '\n' {
			// The empty line: the header ends.
			return append(out, rest...)
		}
		end := fieldEnd(rest)
		field := rest[:end]
		rest = rest[end:]
		if !has8bit(field) || !utf8.Valid(field) {
			out = append(out, field...)
			continue
		}
		name, value, ok := splitField(field)
		if !ok || has8bit(name) {
			// Not a header field (parsers ignore it): drop it.
			continue
		}
		out = appendDowngradedField(out, string(name), unfold(value))
	}
	return out
}

// fieldEnd returns the length of the field at the start of b: its first
// line and the continuation lines.
func fieldEnd(b []byte) int {
	i := bytes.IndexByte(b, '\n')
	if i < 0 {
		return len(b)
	}
	i++
	for i < len(b) && (b[i] == ' ' || b[i] == '\t') {
		j := bytes.IndexByte(b[i:], '\n')
		if j < 0 {
			return len(b)
		}
		i += j + 1
	}
	return i
}

// unfold removes the line breaks of a field value and trims it.
func unfold(v []byte) string {
	s := strings.ReplaceAll(string(v), "\r\n", "")
	s = strings.ReplaceAll(s, "\n", "")
	s = strings.ReplaceAll(s, "\r", "")
	return strings.TrimSpace(s)
}

// appendDowngradedField appends one field whose value has UTF-8.
func appendDowngradedField(out []byte, name, value string) []byte {
	lname := strings.ToLower(name)
	if canon, ok := encapsulated[lname]; ok {
		if lname == "return-path" {
			if list := DowngradeAddresses(parseAddressList(value)); len(list) == 1 && !list[0].GroupStart && isASCII(list[0].Mailbox+list[0].Host) {
				a := list[0]
				return fold(out, name+": <"+a.Mailbox+"@"+a.Host+">")
			}
		}
		return fold(out, "Downgraded-"+canon+": "+EncodeWords(value))
	}
	switch {
	case addressFields[lname]:
		items := formatAddresses(DowngradeAddresses(parseAddressList(value)))
		return fold(out, name+": "+strings.Join(items, ", "))
	case lname == "content-type":
		if typ, sub, params, ok := parseMediaType(value); ok && isASCII(typ+sub) {
			return fold(out, strings.Join(append([]string{name + ": " + typ + "/" + sub}, formatParams(params)...), "; "))
		}
	case lname == "content-disposition":
		if d, params, ok := parseDisposition(value); ok && isASCII(d) {
			return fold(out, strings.Join(append([]string{name + ": " + d}, formatParams(params)...), "; "))
		}
	case lname == "received":
		value = dropForClause(value)
	}
	return fold(out, name+": "+encodeText(value))
}

// dropForClause removes the FOR clause of a Received value when it is not
// ASCII (RFC 6857 §3.4: it cannot be downgraded).
func dropForClause(v string) string {
	words := strings.Fields(v)
	for i := 0; i < len(words); i++ {
		if !strings.EqualFold(words[i], "for") || i+1 >= len(words) {
			continue
		}
		arg := words[i+1]
		semi := strings.HasSuffix(arg, ";")
		if isASCII(arg) {
			continue
		}
		rest := words[i+2:]
		if semi && len(rest) > 0 {
			// Keep the ";" that starts the date.
			rest = append([]string{";"}, rest...)
		}
		words = append(words[:i:i], rest...)
		break
	}
	return strings.Join(words, " ")
}

// fold appends a field line, broken at spaces into lines of about
// foldWidth characters, and CRLF.
func fold(out []byte, line string) []byte {
	col := 0
	for len(line) > 0 {
		word, rest, found := strings.Cut(line, " ")
		if col > 0 {
			if col+1+len(word) > foldWidth {
				out = append(out, "\r\n "...)
				col = 1
			} else {
				out = append(out, ' ')
				col++
			}
		}
		out = append(out, word...)
		col += len(word)
		if !found {
			break
		}
		line = rest
	}
	return append(out, "\r\n"...)
}
