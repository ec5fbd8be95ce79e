package mimeparse

import (
	"bytes"
	"strings"
	"unicode/utf8"
)

// Header fields retained by readHeader, by index into header.mime.
const (
	fContentType = iota
	fEncoding
	fID
	fDescription
	fDisposition
	fLanguage
	fLocation
	fMD5
	numMIMEFields
)

var mimeFieldIndex = map[string]int{
	"content-type":              fContentType,
	"content-transfer-encoding": fEncoding,
	"content-id":                fID,
	"content-description":       fDescription,
	"content-disposition":       fDisposition,
	"content-language":          fLanguage,
	"content-location":          fLocation,
	"content-md5":               fMD5,
}

// Envelope fields retained by readHeader, by index into header.env.
const (
	eDate = iota
	eSubject
	eFrom
	eSender
	eReplyTo
	eTo
	eCc
	eBcc
	eInReplyTo
	eMessageID
	eReferences
	numEnvFields
)

var envFieldIndex = map[string]int{
	"date":        eDate,
	"subject":     eSubject,
	"from":        eFrom,
	"sender":      eSender,
	"reply-to":    eReplyTo,
	"to":          eTo,
	"cc":          eCc,
	"bcc":         eBcc,
	"in-reply-to": eInReplyTo,
	"message-id":  eMessageID,
	"references":  eReferences,
}

// isAddressField reports whether an envelope field is an address list,
// whose occurrences are concatenated rather than only the first kept.
func isAddressField(i int) bool {
	return i >= eFrom && i <= eBcc
}

// header is what readHeader keeps of a header.
type header struct {
	bodyStart int64
	lfAtBody  int64
	mime      [numMIMEFields]string
	mimeSet   [numMIMEFields]bool
	env       [numEnvFields]string
	envSet    [numEnvFields]bool
	more      [numEnvFields][]byte // ", "-separated further address fields
}

// readHeader reads a header starting at the current offset, up to and
// including the empty line that ends it. It also stops, without an empty
// line, at a boundary line of an enclosing multipart (left in p.pending)
// or at the end of the input.
func (p *parser) readHeader(ctx partCtx) *header {
	h := &header{}
	var (
		active bool   // a field is being read
		keep   bool   // its value is needed
		name   string // lowercased name of the current field
		orig   []byte // name as written (root only)
		full   bool   // the value reached MaxFieldLen
	)
	val := p.val[:0]
	appendVal := func(b []byte) {
		if full {
			return
		}
		if n := len(b); n > 0 && b[n-1] == '\n' {
			b = b[:n-1]
			if n > 1 && b[n-2] == '\r' {
				b = b[:n-2]
			}
		}
		if room := MaxFieldLen - len(val); len(b) > room {
			b = b[:room]
			full = true
		}
		val = append(val, b...)
	}
	flush := func() {
		if active && keep {
			v := cleanValue(val)
			if ctx.root {
				p.addHeaderText(orig, v)
			}
			h.set(name, v, ctx.env != nil)
		}
		active, keep, full = false, false, false
		val = val[:0]
	}
	defer func() { p.val = val[:0] }()

	for {
		c, ok := p.s.next()
		if !ok {
			flush()
			h.bodyStart, h.lfAtBody = p.s.off, p.s.lf
			return h
		}
		if !c.atStart {
			// Rest of a line longer than the read buffer.
			p.note8bit(c.b)
			if active && keep {
				appendVal(c.b)
			}
			continue
		}
		if hit, ok := p.matchAny(c); ok {
			flush()
			p.pending = hit
			h.bodyStart, h.lfAtBody = c.start, c.lfBefore
			return h
		}
		if isBlankLine(c) {
			flush()
			h.bodyStart, h.lfAtBody = p.s.off, p.s.lf
			return h
		}
		p.note8bit(c.b)
		if c.b[0] == ' ' || c.b[0] == '\t' {
			// Continuation line: unfolding removes only the line break.
			if active && keep {
				appendVal(c.b)
			}
			continue
		}
		flush()
		nm, rest, ok := splitField(c.b)
		if !ok {
			// Not a header field: ignore the line and its continuations.
			continue
		}
		active = true
		name = strings.ToLower(string(nm))
		_, isMIME := mimeFieldIndex[name]
		_, isEnv := envFieldIndex[name]
		keep = ctx.root || isMIME || isEnv && ctx.env != nil
		if keep {
			if ctx.root {
				orig = append(orig[:0], nm...)
			}
			appendVal(rest)
		}
	}
}

// note8bit records whether a header line has an 8-bit byte.
func (p *parser) note8bit(b []byte) {
	if p.header8bit {
		return
	}
	for _, c := range b {
		if c >= 0x80 {
			p.header8bit = true
			return
		}
	}
}

// splitField splits the first line of a header field into its name and
// the rest after the colon. The name may be followed by white space before
// the colon (RFC 822) but must not contain any.
func splitField(line []byte) (name, rest []byte, ok bool) {
	i := bytes.IndexByte(line, ':')
	if i <= 0 {
		return nil, nil, false
	}
	name = bytes.TrimRight(line[:i], " \t")
	if len(name) == 0 || bytes.ContainsAny(name, " \t\r\n") {
		return nil, nil, false
	}
	return name, line[i+1:], true
}

// cleanValue trims white space (including stray CRs) around a header
// value and makes it valid UTF-8.
func cleanValue(b []byte) string {
	b = bytes.Trim(b, " \t\r\n")
	if utf8.Valid(b) {
		return string(b)
	}
	return strings.ToValidUTF8(string(b), "\uFFFD")
}

// set records a retained field.
func (h *header) set(name, v string, wantEnv bool) {
	if i, ok := mimeFieldIndex[name]; ok {
		if !h.mimeSet[i] {
			h.mime[i], h.mimeSet[i] = v, true
		}
		return
	}
	if !wantEnv {
		return
	}
	i, ok := envFieldIndex[name]
	if !ok {
		return
	}
	switch {
	case !h.envSet[i]:
		h.env[i], h.envSet[i] = v, true
	case isAddressField(i) && v != "" && len(h.env[i])+len(h.more[i]) < MaxFieldLen:
		// Further occurrences are joined in fillEnvelope; appending to a
		// byte slice keeps many short fields linear.
		h.more[i] = append(append(h.more[i], ", "...), v...)
	}
}

// apply sets the MIME fields of part from the header.
func (h *header) apply(part *Part, digest bool) {
	typ, sub, params, ok := parseMediaType(h.mime[fContentType])
	switch {
	case ok:
		part.Type, part.Subtype, part.Params = typ, sub, params
	case digest:
		part.Type, part.Subtype = "message", "rfc822"
	default:
		part.Type, part.Subtype = "text", "plain"
	}
	part.Encoding = h.mime[fEncoding]
	part.ID = h.mime[fID]
	part.Description = h.mime[fDescription]
	part.Location = h.mime[fLocation]
	part.MD5 = h.mime[fMD5]
	if d, params, ok := parseDisposition(h.mime[fDisposition]); ok {
		part.Disposition, part.DispositionParams = d, params
	}
	part.Language = parseLanguage(h.mime[fLanguage])
}

// fillEnvelope sets the envelope fields from the header.
func (h *header) fillEnvelope(e *Envelope) {
	e.Date = h.env[eDate]
	e.Subject = h.env[eSubject]
	e.InReplyTo = h.env[eInReplyTo]
	e.MessageID = h.env[eMessageID]
	e.References = h.env[eReferences]
	addrs := func(i int) []Address {
		return parseAddressList(h.env[i] + string(h.more[i]))
	}
	e.From = addrs(eFrom)
	e.Sender = addrs(eSender)
	e.ReplyTo = addrs(eReplyTo)
	e.To = addrs(eTo)
	e.Cc = addrs(eCc)
	e.Bcc = addrs(eBcc)
}

// addHeaderText appends a decoded header field to the search text.
func (p *parser) addHeaderText(name []byte, v string) {
	if p.headerText.Len() >= MaxHeaderText {
		return
	}
	n := strings.ToValidUTF8(string(name), "\uFFFD")
	dec := decodeHeaderValue(v)
	p.headerText.add(n+": "+dec+"\n", MaxHeaderText, "")
	// Plain lists ("a@b, c@d") read the same either way: only comments,
	// angle-addrs and quoted names can differ (and cost the parse).
	if isAddressHeader(n) && strings.ContainsAny(v, "(<\"") {
		// The addresses once more without comments and folding, so that
		// an indexed FROM/TO/CC/BCC search finds them as AddressText
		// writes them.
		if norm := AddressText(v); norm != "" && norm != dec {
			p.headerText.add(n+": "+norm+"\n", MaxHeaderText, "")
		}
	}
}

// parseLanguage splits a Content-Language value into its tags.
func parseLanguage(v string) []string {
	if v == "" {
		return nil
	}
	v = stripComments(v)
	var tags []string
	for _, t := range strings.Split(v, ",") {
		if t = strings.TrimSpace(t); t != "" {
			tags = append(tags, t)
		}
	}
	return tags
}

// stripComments removes RFC 5322 comments (outside quoted strings).
func stripComments(s string) string {
	if !strings.Contains(s, "(") {
		return s
	}
	var b strings.Builder
	depth, quoted := 0, false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\\' && (quoted || depth > 0):
			if depth == 0 {
				b.WriteByte(c)
				if i+1 < len(s) {
					b.WriteByte(s[i+1])
				}
			}
			i++
		case depth > 0:
			switch c {
			case '(':
				depth++
			case ')':
				depth--
			}
		case c == '"':
			quoted = !quoted
			b.WriteByte(c)
		case c == '(' && !quoted:
			depth = 1
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}
