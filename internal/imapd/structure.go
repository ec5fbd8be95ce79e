package imapd

import (
	"strconv"
	"strings"

	"github.com/pochta-mail/pochta/internal/mimeparse"
)

// appendEnvelope appends an ENVELOPE structure (RFC 9051 §7.5.2).
func (s *session) appendEnvelope(b []byte, e *mimeparse.Envelope) []byte {
	if e == nil {
		e = &mimeparse.Envelope{}
	}
	if !s.utf8 {
		// RFC 6857: no UTF-8 for a client that did not ask for it.
		e = mimeparse.DowngradeEnvelope(e)
	}
	b = append(b, '(')
	b = s.appendNString(b, e.Date)
	b = append(b, ' ')
	b = s.appendNString(b, e.Subject)
	for _, list := range [][]mimeparse.Address{e.From, e.SenderOrFrom(), e.ReplyToOrFrom(), e.To, e.Cc, e.Bcc} {
		b = append(b, ' ')
		b = s.appendAddresses(b, list)
	}
	b = append(b, ' ')
	b = s.appendNString(b, e.InReplyTo)
	b = append(b, ' ')
	b = s.appendNString(b, e.MessageID)
	return append(b, ')')
}

func (s *session) appendAddresses(b []byte, list []mimeparse.Address) []byte {
	if len(list) == 0 {
		return append(b, "NIL"...)
	}
	b = append(b, '(')
	for _, a := range list {
		switch {
		case a.GroupStart:
			b = append(b, "(NIL NIL "...)
			b = s.appendString(b, a.Mailbox)
			b = append(b, " NIL)"...)
		case a.GroupEnd:
			b = append(b, "(NIL NIL NIL NIL)"...)
		default:
			b = append(b, '(')
			b = s.appendNString(b, a.Name)
			b = append(b, ' ')
			b = s.appendNString(b, a.Route)
			b = append(b, ' ')
			b = s.appendString(b, a.Mailbox)
			b = append(b, ' ')
			b = s.appendString(b, a.Host)
			b = append(b, ')')
		}
	}
	return append(b, ')')
}

// appendParams appends a parameter list or NIL.
func (s *session) appendParams(b []byte, params []mimeparse.Param) []byte {
	if len(params) == 0 {
		return append(b, "NIL"...)
	}
	if !s.utf8 {
		params = mimeparse.DowngradeParams(params)
	}
	b = append(b, '(')
	for i, p := range params {
		if i > 0 {
			b = append(b, ' ')
		}
		b = s.appendString(b, p.Name)
		b = append(b, ' ')
		b = s.appendString(b, p.Value)
	}
	return append(b, ')')
}

// appendExtension appends disposition, language and location.
func (s *session) appendExtension(b []byte, p *mimeparse.Part) []byte {
	b = append(b, ' ')
	if p.Disposition == "" {
		b = append(b, "NIL"...)
	} else {
		b = append(b, '(')
		b = s.appendString(b, p.Disposition)
		b = append(b, ' ')
		b = s.appendParams(b, p.DispositionParams)
		b = append(b, ')')
	}
	b = append(b, ' ')
	switch len(p.Language) {
	case 0:
		b = append(b, "NIL"...)
	case 1:
		b = s.appendString(b, p.Language[0])
	default:
		b = append(b, '(')
		for i, l := range p.Language {
			if i > 0 {
				b = append(b, ' ')
			}
			b = s.appendString(b, l)
		}
		b = append(b, ')')
	}
	b = append(b, ' ')
	return s.appendNString(b, s.text7(p.Location))
}

// text7 returns a header value for a session without UTF-8 as RFC 2047
// encoded-words when it is not ASCII.
func (s *session) text7(str string) string {
	if s.utf8 || isASCII(str) {
		return str
	}
	return mimeparse.EncodeWords(str)
}

// appendBodyStructure appends BODYSTRUCTURE (ext) or BODY of a part.
func (s *session) appendBodyStructure(b []byte, p *mimeparse.Part, ext bool, depth int) []byte {
	if p == nil || depth > mimeparse.MaxDepth+2 {
		return append(b, `("TEXT" "PLAIN" NIL NIL NIL "7BIT" 0 0)`...)
	}
	if p.IsMultipart() {
		b = append(b, '(')
		for _, c := range p.Parts {
			b = s.appendBodyStructure(b, c, ext, depth+1)
		}
		b = append(b, ' ')
		b = s.appendString(b, strings.ToUpper(p.Subtype))
		if ext {
			b = append(b, ' ')
			b = s.appendParams(b, p.Params)
			b = s.appendExtension(b, p)
		}
		return append(b, ')')
	}
	typ, sub := strings.ToUpper(p.Type), strings.ToUpper(p.Subtype)
	if typ == "" {
		typ, sub = "TEXT", "PLAIN"
	}
	b = append(b, '(')
	b = s.appendString(b, typ)
	b = append(b, ' ')
	b = s.appendString(b, sub)
	b = append(b, ' ')
	params := p.Params
	if len(params) == 0 && typ == "TEXT" {
		params = []mimeparse.Param{{Name: "charset", Value: "us-ascii"}}
	}
	b = s.appendParams(b, params)
	b = append(b, ' ')
	b = s.appendNString(b, s.text7(p.ID))
	b = append(b, ' ')
	b = s.appendNString(b, s.text7(p.Description))
	b = append(b, ' ')
	enc := strings.ToUpper(strings.TrimSpace(p.Encoding))
	if enc == "" {
		enc = "7BIT"
	}
	b = s.appendString(b, enc)
	b = append(b, ' ')
	b = strconv.AppendInt(b, max(p.End-p.BodyStart, 0), 10)
	isMessage := typ == "MESSAGE" && (sub == "RFC822" || sub == "GLOBAL") && p.Embedded != nil
	if isMessage {
		b = append(b, ' ')
		b = s.appendEnvelope(b, p.Envelope)
		b = append(b, ' ')
		b = s.appendBodyStructure(b, p.Embedded, ext, depth+1)
	}
	if typ == "TEXT" || isMessage {
		b = append(b, ' ')
		b = strconv.AppendInt(b, p.Lines, 10)
	}
	if ext {
		b = append(b, ' ')
		b = s.appendNString(b, s.text7(p.MD5))
		b = s.appendExtension(b, p)
	}
	return append(b, ')')
}
