package mimeparse

import (
	"bytes"
	"fmt"
	"io"
	"strings"
)

// Parse reads a whole message from r (up to io.EOF; r is not closed) and
// returns its structure.
//
// Parse streams: it keeps a fixed-size read buffer, the retained header
// values, the structure and the (capped) search text, never the message
// itself, so memory use does not grow with large attachments.
//
// Parse does not fail on malformed messages; it returns an error only when
// reading r fails. Problems are handled like this:
//   - header lines without a colon (and their continuation lines) are
//     ignored; 8-bit header content is kept (see the package doc);
//   - an absent or unparseable Content-Type means text/plain (message/rfc822
//     inside multipart/digest);
//   - a multipart without a boundary parameter, or in which no body part
//     is found, becomes a text/plain part covering its whole body;
//   - boundary lines may carry trailing white space; preamble and epilogue
//     are ignored; a missing close-delimiter is tolerated (the last part
//     runs to the end of the enclosing part); a boundary line of an
//     enclosing multipart also ends the inner multiparts;
//   - nesting beyond MaxDepth and parts beyond MaxParts are not split out.
//
// A message that is not MIME at all thus becomes a single text/plain part
// covering the whole body.
func Parse(r io.Reader) (*Message, error) {
	p := &parser{s: newScanner(r)}
	defer p.s.release()
	root := &Part{Envelope: &Envelope{}}
	p.parts = 1
	p.parsePart(root, partCtx{env: root.Envelope, root: true, text: true})
	if p.s.err != nil {
		return nil, fmt.Errorf("mimeparse: reading message at offset %d: %w", p.s.off, p.s.err)
	}
	// The root part always runs to the end of the input: no boundary of
	// an enclosing multipart can stop it.
	clampChildren(root)
	m := &Message{
		Size:        p.s.off,
		Lines:       p.s.lf,
		Root:        root,
		HeaderBytes: Headers7bit,
		Text: SearchText{
			Headers: p.headerText.String(),
			Body:    p.bodyText.String(),
		},
	}
	if m.Size > 0 && p.s.last != '\n' {
		m.Lines++
	}
	if p.header8bit {
		m.HeaderBytes = Headers8bit
	}
	return m, nil
}

// boundaryHit describes a boundary line that ended a part.
type boundaryHit struct {
	set         bool
	level       int // index into parser.stack
	final       bool
	start       int64 // offset of the boundary line
	lfBefore    int64 // LF bytes before the boundary line
	prevEOL     int   // line ending length of the line before it
	prevContent bool  // whether the line before it had content
}

type parser struct {
	s *scanner
	// stack holds the delimiters ("--" + boundary) of the open
	// multiparts, outermost first; delims maps each delimiter to the
	// levels (stack indexes) where it is open.
	stack   []string
	delims  map[string][]int
	pending boundaryHit
	parts   int

	headerText textBuf
	bodyText   textBuf
	val        []byte // reused header value buffer
	header8bit bool   // some header line has an 8-bit byte
}

// partCtx is what a part needs to know about where it is.
type partCtx struct {
	depth  int
	digest bool      // the parent is a multipart/digest
	env    *Envelope // where to store envelope fields, if any
	root   bool      // the top-level part: collect search header text
	text   bool      // the body may contribute to the search text
}

// matchAny checks whether c is a boundary line of an open multipart: the
// delimiter, optionally followed by "--" (close-delimiter), then only white
// space. When several open multiparts use the same boundary, the
// innermost one wins.
func (p *parser) matchAny(c chunk) (boundaryHit, bool) {
	if !c.atStart || !c.complete || len(p.stack) == 0 || len(c.b) < 2 || c.b[0] != '-' || c.b[1] != '-' {
		return boundaryHit{}, false
	}
	line := bytes.TrimRight(c.b, " \t\r\n")
	level, final := -1, false
	if lv := p.delims[string(line)]; len(lv) > 0 {
		level = lv[len(lv)-1]
	}
	if n := len(line); n >= 4 && line[n-1] == '-' && line[n-2] == '-' {
		if lv := p.delims[string(line[:n-2])]; len(lv) > 0 && lv[len(lv)-1] > level {
			level, final = lv[len(lv)-1], true
		}
	}
	if level < 0 {
		return boundaryHit{}, false
	}
	return boundaryHit{
		set:         true,
		level:       level,
		final:       final,
		start:       c.start,
		lfBefore:    c.lfBefore,
		prevEOL:     c.prevEOL,
		prevContent: c.prevContent,
	}, true
}

// push opens a multipart with the given delimiter ("--" + boundary) and
// returns its level.
func (p *parser) push(delim string) int {
	level := len(p.stack)
	p.stack = append(p.stack, delim)
	if p.delims == nil {
		p.delims = map[string][]int{}
	}
	p.delims[delim] = append(p.delims[delim], level)
	return level
}

// pop closes the innermost multipart.
func (p *parser) pop() {
	delim := p.stack[len(p.stack)-1]
	p.stack = p.stack[:len(p.stack)-1]
	if lv := p.delims[delim]; len(lv) > 1 {
		p.delims[delim] = lv[:len(lv)-1]
	} else {
		delete(p.delims, delim)
	}
}

// endOf computes the end offset and line count of a body that started at
// bodyStart (with lfAtBody LFs before it) and that ends at the pending
// boundary, or at the current offset when there is none (end of input).
func (p *parser) endOf(bodyStart, lfAtBody int64) (end, lines int64) {
	if h := p.pending; h.set {
		end = h.start - int64(h.prevEOL)
		if end <= bodyStart {
			return bodyStart, 0
		}
		// The LF of the line ending before the boundary is not in the body.
		lines = h.lfBefore - lfAtBody - 1
		if h.prevContent {
			lines++
		}
		return end, lines
	}
	end = p.s.off
	lines = p.s.lf - lfAtBody
	if end > bodyStart && p.s.last != '\n' {
		lines++
	}
	return end, lines
}

// parsePart parses a part whose header starts at the current offset. It
// returns at the end of the input or when it has read a boundary line of
// an enclosing multipart, which is then left in p.pending.
func (p *parser) parsePart(part *Part, ctx partCtx) {
	part.HeaderStart = p.s.off
	h := p.readHeader(ctx)
	part.BodyStart = h.bodyStart
	h.apply(part, ctx.digest)
	if ctx.env != nil {
		h.fillEnvelope(ctx.env)
	}
	text := ctx.text && !isAttachment(part)

	switch {
	case part.Type == "multipart":
		boundary, _ := part.Param("boundary")
		boundary = strings.TrimRight(boundary, " \t")
		if boundary == "" || ctx.depth >= MaxDepth || p.pending.set {
			toTextPlain(part)
			p.parseLeaf(part, h.lfAtBody, text)
			return
		}
		p.parseMultipart(part, boundary, ctx, h.lfAtBody, text)

	case part.Type == "message" && (part.Subtype == "rfc822" || part.Subtype == "global"):
		part.Envelope = &Envelope{}
		if !identityEncoding(part.Encoding) || ctx.depth >= MaxDepth || p.parts >= MaxParts || p.pending.set {
			p.parseLeaf(part, h.lfAtBody, false)
			part.Embedded = &Part{
				Type:        "text",
				Subtype:     "plain",
				HeaderStart: part.BodyStart,
				BodyStart:   part.BodyStart,
				End:         part.End,
				Lines:       part.Lines,
			}
			return
		}
		p.parts++
		emb := &Part{}
		part.Embedded = emb
		p.parsePart(emb, partCtx{depth: ctx.depth + 1, env: part.Envelope, text: text})
		part.End, part.Lines = p.endOf(part.BodyStart, h.lfAtBody)

	default:
		p.parseLeaf(part, h.lfAtBody, text)
	}
}

// parseLeaf scans the body of a non-multipart part up to the next boundary
// line of an enclosing multipart, or the end of the input.
func (p *parser) parseLeaf(part *Part, lfAtBody int64, text bool) {
	var col *collector
	if text && part.Type == "text" && !p.pending.set {
		col = p.newCollector(part)
	}
	if !p.pending.set {
		for {
			c, ok := p.s.next()
			if !ok {
				break
			}
			if hit, ok := p.matchAny(c); ok {
				p.pending = hit
				break
			}
			if col != nil {
				col.write(c.b)
			}
		}
	}
	end, lines := p.endOf(part.BodyStart, lfAtBody)
	part.End = end
	if part.Type == "text" || part.Type == "message" {
		part.Lines = lines
	}
	if col != nil {
		p.addBodyText(part, col)
	}
}

// parseMultipart scans the body of a multipart: preamble, body parts and
// epilogue.
func (p *parser) parseMultipart(part *Part, boundary string, ctx partCtx, lfAtBody int64, text bool) {
	level := p.push("--" + boundary)

	// Preamble. Its text is kept in case no body part is found and the
	// multipart turns into text/plain.
	var pre *collector
	if text {
		pre = p.newCollector(part)
	}
	for {
		c, ok := p.s.next()
		if !ok {
			break
		}
		if hit, ok := p.matchAny(c); ok {
			p.pending = hit
			break
		}
		if pre != nil {
			pre.write(c.b)
		}
	}

	alternative := part.Subtype == "alternative"
	altDone := false
	for p.pending.set && p.pending.level == level && !p.pending.final {
		p.pending = boundaryHit{}
		if p.parts >= MaxParts || !p.s.more() {
			break
		}
		// There is a body part, so the preamble will not be needed: drop
		// it now, so that at most one collector holds memory at a time.
		pre = nil
		p.parts++
		child := &Part{}
		part.Parts = append(part.Parts, child)
		before := p.bodyText.Len()
		p.parsePart(child, partCtx{
			depth:  ctx.depth + 1,
			digest: part.Subtype == "digest",
			text:   text && !altDone,
		})
		if alternative && p.bodyText.Len() > before {
			altDone = true
		}
	}

	// Epilogue (or what is left after MaxParts): skip to a boundary of an
	// enclosing multipart.
	if !p.pending.set || p.pending.level == level {
		p.pending = boundaryHit{}
		for {
			c, ok := p.s.next()
			if !ok {
				break
			}
			if hit, ok := p.matchAny(c); ok && hit.level < level {
				p.pending = hit
				break
			}
		}
	}
	p.pop()

	end, lines := p.endOf(part.BodyStart, lfAtBody)
	part.End = end
	if len(part.Parts) == 0 {
		toTextPlain(part)
		part.Lines = lines
		p.addBodyText(part, pre)
	}
}

// toTextPlain turns a part whose structure cannot be used into text/plain.
func toTextPlain(part *Part) {
	part.Type, part.Subtype, part.Params = "text", "plain", nil
}

// identityEncoding reports whether a Content-Transfer-Encoding leaves the
// body as it is, so that an embedded message can be parsed in place.
func identityEncoding(enc string) bool {
	switch strings.ToLower(strings.TrimSpace(enc)) {
	case "", "7bit", "8bit", "binary":
		return true
	}
	return false
}

// isAttachment reports whether a part is an attachment for the purpose of
// the search text.
func isAttachment(part *Part) bool {
	if part.Disposition == "attachment" {
		return true
	}
	if part.Disposition == "" {
		if _, ok := part.Param("name"); ok {
			return true
		}
	}
	return false
}

// clampChildren makes sure every descendant lies within its parent's body
// and that HeaderStart <= BodyStart <= End. Only degenerate input (an
// empty part directly followed by the boundary of an enclosing multipart)
// needs this: the CRLF that ends such a part's header is also the CRLF
// that belongs to the enclosing boundary.
func clampChildren(parent *Part) {
	clamp := func(c *Part) {
		lo, hi := parent.BodyStart, parent.End
		c.HeaderStart = min(max(c.HeaderStart, lo), hi)
		c.BodyStart = min(max(c.BodyStart, c.HeaderStart), hi)
		c.End = min(max(c.End, c.BodyStart), hi)
		clampChildren(c)
	}
	for _, c := range parent.Parts {
		clamp(c)
	}
	if parent.Embedded != nil {
		clamp(parent.Embedded)
	}
}
