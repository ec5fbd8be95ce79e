package mimeparse

import (
	"bytes"
	"encoding/base64"
	"html"
	"io"
	"mime"
	"strings"
	"unicode/utf8"

	"github.com/emersion/go-message/charset"
)

// textBuf is an append-only text buffer with a size cap.
type textBuf struct {
	b []byte
}

// Len returns the current size.
func (t *textBuf) Len() int { return len(t.b) }

// String returns the text.
func (t *textBuf) String() string { return string(t.b) }

// add appends sep (if the buffer is not empty) and s, with CRLF turned
// into LF, cutting at limit bytes on a UTF-8 character boundary. s must be
// valid UTF-8.
func (t *textBuf) add(s string, limit int, sep string) {
	if s == "" || len(t.b) >= limit {
		return
	}
	if len(t.b) > 0 {
		if len(t.b)+len(sep) >= limit {
			return
		}
		t.b = append(t.b, sep...)
	}
	t.grow(len(s), limit)
	for s != "" {
		seg, next := s, ""
		if i := strings.Index(s, "\r\n"); i >= 0 {
			seg, next = s[:i], s[i+1:] // next starts with the LF
		}
		if room := limit - len(t.b); len(seg) > room {
			cut := room
			for cut > 0 && !utf8.RuneStart(seg[cut]) {
				cut--
			}
			t.b = append(t.b, seg[:cut]...)
			return
		}
		t.b = append(t.b, seg...)
		s = next
	}
}

// grow makes room for n more bytes without growing beyond limit.
func (t *textBuf) grow(n, limit int) {
	if cap(t.b)-len(t.b) >= n {
		return
	}
	c := min(max(2*cap(t.b), len(t.b)+n), limit)
	if c <= cap(t.b) {
		return
	}
	b := make([]byte, len(t.b), c)
	copy(b, t.b)
	t.b = b
}

// collector gathers the raw body of a part for the search text, up to a
// cap derived from the room left in the search text.
type collector struct {
	raw  []byte
	max  int
	full bool
}

// maxRawPerTextByte bounds how many raw bytes are kept per byte of room
// left in the body text (see rawFactor). At most one collector is alive
// at a time, so this also bounds the memory used for the search text.
const maxRawPerTextByte = 8

// rawFactor estimates how many raw body bytes of part are needed per byte
// of text: the transfer encoding (base64 4/3, quoted-printable up to 3),
// the charset (up to 4 for UTF-32) and HTML markup all inflate the input.
func rawFactor(part *Part) int {
	f := 1
	switch strings.ToLower(strings.TrimSpace(part.Encoding)) {
	case "base64":
		f = 2
	case "quoted-printable":
		f = 3
	}
	cs, _ := part.Param("charset")
	switch strings.ToLower(strings.TrimSpace(cs)) {
	case "", "us-ascii", "utf-8", "utf8":
	default:
		f *= 2
	}
	if part.Subtype == "html" {
		f *= 4
	}
	return min(f, maxRawPerTextByte)
}

// newCollector returns a collector for the body of part, or nil when the
// search text is full.
func (p *parser) newCollector(part *Part) *collector {
	room := MaxBodyText - p.bodyText.Len()
	if room <= 0 {
		return nil
	}
	return &collector{max: room*rawFactor(part) + room/4 + 4096}
}

func (c *collector) write(b []byte) {
	if c == nil || c.full {
		return
	}
	if room := c.max - len(c.raw); len(b) > room {
		b = b[:room]
		c.full = true
	}
	if n := len(c.raw) + len(b); n > cap(c.raw) {
		// Double, but never beyond max: append's gentler growth for large
		// slices would allocate several times the final size.
		grown := make([]byte, len(c.raw), min(max(2*cap(c.raw), n, 256), c.max))
		copy(grown, c.raw)
		c.raw = grown
	}
	c.raw = append(c.raw, b...)
}

// addBodyText decodes the collected body of part and appends it to the
// search text.
func (p *parser) addBodyText(part *Part, c *collector) {
	if c == nil || len(c.raw) == 0 {
		return
	}
	raw := c.raw
	if n := part.End - part.BodyStart; int64(len(raw)) > n {
		raw = raw[:max(n, 0)]
	}
	data := decodeTransfer(part.Encoding, raw)
	cs, _ := part.Param("charset")
	s := toUTF8(cs, data)
	if part.Subtype == "html" {
		s = stripHTML(s)
	}
	p.bodyText.add(s, MaxBodyText, "\n")
}

// decodeTransfer removes a base64 or quoted-printable transfer encoding,
// tolerating garbage; other encodings are returned unchanged.
func decodeTransfer(enc string, raw []byte) []byte {
	switch strings.ToLower(strings.TrimSpace(enc)) {
	case "base64":
		return decodeBase64(raw)
	case "quoted-printable":
		return decodeQP(raw)
	}
	return raw
}

// decodeBase64 decodes base64, ignoring every byte outside the alphabet
// (including padding) and a dangling last character.
func decodeBase64(raw []byte) []byte {
	clean := make([]byte, 0, len(raw))
	for _, c := range raw {
		if 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '+' || c == '/' {
			clean = append(clean, c)
		}
	}
	if len(clean)%4 == 1 {
		clean = clean[:len(clean)-1]
	}
	out := make([]byte, base64.RawStdEncoding.DecodedLen(len(clean)))
	n, _ := base64.RawStdEncoding.Decode(out, clean)
	return out[:n]
}

// decodeQP decodes quoted-printable leniently: soft line breaks are
// removed, valid =XX escapes decoded and anything else kept as is.
func decodeQP(raw []byte) []byte {
	out := make([]byte, 0, len(raw))
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		if c != '=' {
			out = append(out, c)
			continue
		}
		if i+2 < len(raw) && isHex(raw[i+1]) && isHex(raw[i+2]) {
			out = append(out, unhex(raw[i+1])<<4|unhex(raw[i+2]))
			i += 2
			continue
		}
		// Soft line break: '=' followed by optional white space and EOL.
		j := i + 1
		for j < len(raw) && (raw[j] == ' ' || raw[j] == '\t') {
			j++
		}
		if j < len(raw) && raw[j] == '\r' {
			j++
		}
		if j < len(raw) && raw[j] == '\n' {
			i = j
			continue
		}
		if j == len(raw) {
			break
		}
		out = append(out, c)
	}
	return out
}

// toUTF8 converts b from the named charset to valid UTF-8. Unknown or
// failing charsets fall back to UTF-8 with invalid bytes replaced.
func toUTF8(cs string, b []byte) string {
	switch strings.ToLower(strings.TrimSpace(cs)) {
	case "", "us-ascii", "ascii", "utf-8", "utf8", "unknown-8bit", "x-unknown":
		if utf8.Valid(b) {
			return string(b)
		}
		return strings.ToValidUTF8(string(b), "\uFFFD")
	}
	r, err := charset.Reader(cs, bytes.NewReader(b))
	if err != nil {
		return strings.ToValidUTF8(string(b), "\uFFFD")
	}
	out, err := io.ReadAll(io.LimitReader(r, int64(maxRawPerTextByte*MaxBodyText)))
	if err != nil && len(out) == 0 {
		return strings.ToValidUTF8(string(b), "\uFFFD")
	}
	return strings.ToValidUTF8(string(out), "\uFFFD")
}

// wordDecoder decodes RFC 2047 encoded-words, with the charsets known to
// go-message.
var wordDecoder = &mime.WordDecoder{CharsetReader: charset.Reader}

// decodeHeaderValue decodes the RFC 2047 encoded-words of a header value;
// on failure the raw value is returned.
func decodeHeaderValue(v string) string {
	if !strings.Contains(v, "=?") {
		return v
	}
	d, err := wordDecoder.DecodeHeader(v)
	if err != nil {
		return v
	}
	return strings.ToValidUTF8(d, "\uFFFD")
}

// stripHTML turns HTML into rough plain text: comments, script and style
// elements and tags are removed (block-level tags become line breaks),
// entities are decoded and white space is collapsed.
func stripHTML(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); {
		j := strings.IndexByte(s[i:], '<')
		if j < 0 {
			b.WriteString(s[i:])
			break
		}
		b.WriteString(s[i : i+j])
		i += j
		if strings.HasPrefix(s[i:], "<!--") {
			end := strings.Index(s[i+4:], "-->")
			if end < 0 {
				break
			}
			i += 4 + end + 3
			continue
		}
		name := tagName(s[i+1:])
		end := strings.IndexByte(s[i:], '>')
		if end < 0 {
			break
		}
		i += end + 1
		switch name {
		case "script", "style", "head", "title":
			if k := indexFold(s[i:], "</"+name); k >= 0 {
				i += k
			} else {
				i = len(s)
			}
		case "br", "p", "/p", "div", "/div", "tr", "/tr", "li", "h1", "h2", "h3",
			"h4", "h5", "h6", "/h1", "/h2", "/h3", "/h4", "/h5", "/h6", "table",
			"/table", "ul", "/ul", "ol", "/ol", "blockquote", "/blockquote", "hr",
			"pre", "/pre":
			b.WriteByte('\n')
		case "td", "th":
			b.WriteByte(' ')
		}
	}
	return collapseSpace(html.UnescapeString(b.String()))
}

// tagName returns the lowercased name of the tag whose text (after '<')
// starts s, with a leading '/' for closing tags.
func tagName(s string) string {
	i := 0
	if i < len(s) && s[i] == '/' {
		i++
	}
	for i < len(s) && (s[i] >= 'a' && s[i] <= 'z' || s[i] >= 'A' && s[i] <= 'Z' || s[i] >= '0' && s[i] <= '9') {
		i++
	}
	if i > 16 {
		return ""
	}
	return strings.ToLower(s[:i])
}

// indexFold is strings.Index with ASCII case folding; sub must be
// lowercase.
func indexFold(s, sub string) int {
	for i := 0; i+len(sub) <= len(s); i++ {
		j := strings.IndexByte(s[i:], '<')
		if j < 0 {
			return -1
		}
		i += j
		if i+len(sub) <= len(s) && strings.EqualFold(s[i:i+len(sub)], sub) {
			return i
		}
	}
	return -1
}

// collapseSpace replaces runs of white space by a single "\n" when the run
// contains a line break and by a single space otherwise, and trims the
// result.
func collapseSpace(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	pending := byte(0)
	for _, r := range s {
		switch r {
		case '\n':
			pending = '\n'
			continue
		case ' ', '\t', '\r', '\f', '\v', '\u00a0':
			if pending == 0 {
				pending = ' '
			}
			continue
		}
		if pending != 0 && b.Len() > 0 {
			b.WriteByte(pending)
		}
		pending = 0
		b.WriteRune(r)
	}
	return b.String()
}
