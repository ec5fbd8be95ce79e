package mimeparse

import "strings"

// Version identifies the format and semantics of the [Message] that
// Parse produces. It is incremented whenever they change, so that a store
// caching the structure can tell stale entries apart and parse again. (The
// encoding of the cache has its own version byte; see [Encode].)
const Version = 1

// Limits applied by [Parse].
const (
	// MaxDepth is the maximum nesting depth of parts (the root part has
	// depth 0). A multipart at this depth is not split into children but
	// treated as a text/plain leaf; a message/rfc822 part at this depth
	// is not parsed (see [Part.Embedded]).
	MaxDepth = 100

	// MaxParts is the maximum number of parts (including the root and
	// embedded message roots) that Parse creates. Once reached, further
	// body parts are not split out: they stay inside the body of their
	// multipart (in its epilogue, as far as the structure is concerned).
	MaxParts = 10000

	// MaxFieldLen is the maximum number of bytes of a header field value
	// that Parse retains (for envelopes, MIME fields and the search text).
	// Longer values are cut; offsets are not affected.
	MaxFieldLen = 64 << 10

	// MaxHeaderText is the maximum size in bytes of [SearchText.Headers].
	MaxHeaderText = 1 << 20

	// MaxBodyText is the maximum size in bytes of [SearchText.Body].
	MaxBodyText = 1 << 20
)

// Message is the parsed structure of one stored message. Stores cache it
// in the binary form of [Encode]; the JSON tags (short names, to keep the
// cache small) are for the structures cached as JSON before that, which
// [Decode] still reads.
type Message struct {
	// Size is the size of the message in bytes (RFC822.SIZE).
	Size int64 `json:"s,omitempty"`
	// Lines is the number of lines in the whole message: the number of
	// LF bytes, plus one if the message does not end with LF.
	Lines int64 `json:"l,omitempty"`
	// Root is the top-level part: its header is the message header and
	// it carries the message's Envelope. It is never nil after a
	// successful Parse.
	Root *Part `json:"r,omitempty"`
	// HeaderBytes tells whether some header of the message (the
	// top-level one, a body part's or an attached message's) has 8-bit
	// bytes, as RFC 6532 UTF-8 headers do: such a message is downgraded
	// (see [Downgrade]) for IMAP clients without UTF-8 support.
	// Structures cached before it was recorded have HeadersUnknown.
	HeaderBytes HeaderBytes `json:"hb,omitempty"`
	// Text is the text for the substring search index. Stores that keep
	// it elsewhere can zero it before caching the structure.
	Text SearchText `json:"t,omitzero"`
}

// HeaderBytes is what [Parse] found in the headers of a message.
type HeaderBytes uint8

// Values of HeaderBytes.
const (
	// HeadersUnknown: the structure was cached before Parse recorded it.
	HeadersUnknown HeaderBytes = iota
	// Headers7bit: every header is 7-bit.
	Headers7bit
	// Headers8bit: some header has 8-bit bytes.
	Headers8bit
)

// Part is one MIME entity: the root of a message, a body part of a
// multipart, or the root of a message embedded in a message/rfc822 part.
type Part struct {
	// Type and Subtype are the lowercased media type. When the
	// Content-Type field is absent or cannot be parsed they are
	// "text"/"plain", or "message"/"rfc822" for a child of
	// multipart/digest. A multipart that has no usable boundary, no body
	// parts at all, or that sits at MaxDepth is turned into "text"/"plain"
	// (with no Params), so a "multipart" Part always has len(Parts) > 0.
	Type string `json:"t,omitempty"`
	// Subtype is the lowercased media subtype; see Type.
	Subtype string `json:"st,omitempty"`
	// Params are the Content-Type parameters in order of appearance, with
	// lowercased names. RFC 2231 continuations are joined and
	// charset-encoded values are converted to UTF-8 (the name has no
	// trailing '*'). RFC 2047 encoded-words in values are left as they are.
	// When the Content-Type field is absent or unparseable Params is empty;
	// RFC 2045 implies charset=us-ascii, which the IMAP layer may add when
	// rendering BODYSTRUCTURE.
	Params []Param `json:"p,omitempty"`
	// ID is the raw Content-ID value.
	ID string `json:"id,omitempty"`
	// Description is the raw Content-Description value (not decoded).
	Description string `json:"de,omitempty"`
	// Encoding is the raw Content-Transfer-Encoding value, as given (so
	// compare case-insensitively), or "" when the field is absent; the
	// IMAP layer decides the "7BIT" default.
	Encoding string `json:"e,omitempty"`
	// Disposition is the lowercased Content-Disposition type, or "" when
	// absent or unparseable; DispositionParams are its parameters, decoded
	// like Params.
	Disposition string `json:"di,omitempty"`
	// DispositionParams are the Content-Disposition parameters; see
	// Disposition.
	DispositionParams []Param `json:"dp,omitempty"`
	// Language holds the Content-Language tags.
	Language []string `json:"la,omitempty"`
	// Location is the raw Content-Location value.
	Location string `json:"lo,omitempty"`
	// MD5 is the raw Content-MD5 value.
	MD5 string `json:"md5,omitempty"`

	// HeaderStart is the offset of the first byte of the part's header.
	HeaderStart int64 `json:"hs,omitempty"`
	// BodyStart is the offset just after the header (after the empty line
	// that ends it, which belongs to the header). When the header is not
	// terminated by an empty line (it runs into a boundary or the end of
	// the message) the body is empty and BodyStart is where the header
	// stopped.
	BodyStart int64 `json:"bs,omitempty"`
	// End is the offset just after the last byte of the body. The CRLF
	// before a boundary line belongs to the boundary, not to the body.
	End int64 `json:"en,omitempty"`
	// Lines is the number of lines in the body [BodyStart, End): the
	// number of LF bytes plus one if the body is not empty and does not
	// end with LF. It is only set for text/* and message/rfc822 (and
	// message/global) parts, where IMAP BODYSTRUCTURE needs it.
	Lines int64 `json:"l,omitempty"`

	// Parts are the body parts of a multipart, in order.
	Parts []*Part `json:"c,omitempty"`
	// Envelope is set on the root part (the message's envelope) and on
	// message/rfc822 and message/global parts (the envelope of the
	// embedded message). It is not set on Embedded parts.
	Envelope *Envelope `json:"env,omitempty"`
	// Embedded is set on message/rfc822 and message/global parts: the
	// root part of the embedded message, whose offsets are, like all
	// offsets, relative to the start of the whole message.
	// Embedded.HeaderStart == BodyStart and Embedded.End == End.
	//
	// If the part cannot be parsed in place (its Content-Transfer-Encoding
	// is not 7bit/8bit/binary, or the depth/part limits were reached),
	// Envelope is an empty Envelope and Embedded is a text/plain part with
	// an empty header whose body is the whole body of this part, so the
	// IMAP layer can always render a well-formed BODYSTRUCTURE.
	Embedded *Part `json:"m,omitempty"`
}

// Param is one parameter of a Content-Type or Content-Disposition field.
type Param struct {
	// Name is the lowercased parameter name.
	Name string `json:"n"`
	// Value is the parameter value, unquoted and decoded to UTF-8.
	Value string `json:"v"`
}

// Envelope holds the fields of an IMAP ENVELOPE (RFC 3501 §7.4.2). The
// string fields are the raw header values, unfolded and trimmed but not
// decoded; "" means the field is absent (or empty). When a field occurs
// more than once, the first occurrence is used, except for the address
// fields, whose occurrences are concatenated.
type Envelope struct {
	// Date is the raw Date field.
	Date string `json:"d,omitempty"`
	// Subject is the raw Subject field (encoded-words not decoded).
	Subject string `json:"s,omitempty"`
	// From is the parsed From field.
	From []Address `json:"f,omitempty"`
	// Sender is the parsed Sender field; see SenderOrFrom.
	Sender []Address `json:"se,omitempty"`
	// ReplyTo is the parsed Reply-To field; see ReplyToOrFrom.
	ReplyTo []Address `json:"rt,omitempty"`
	// To is the parsed To field.
	To []Address `json:"to,omitempty"`
	// Cc is the parsed Cc field.
	Cc []Address `json:"cc,omitempty"`
	// Bcc is the parsed Bcc field.
	Bcc []Address `json:"bcc,omitempty"`
	// InReplyTo is the raw In-Reply-To field.
	InReplyTo string `json:"irt,omitempty"`
	// MessageID is the raw Message-ID field.
	MessageID string `json:"mid,omitempty"`
	// References is the raw References field. It is not part of the IMAP
	// ENVELOPE; THREAD=REFERENCES (RFC 5256) needs it. Structures cached
	// before it was added lack it.
	References string `json:"ref,omitempty"`
}

// SenderOrFrom returns Sender, or From when Sender is empty, as RFC 3501
// requires for the ENVELOPE sender.
func (e *Envelope) SenderOrFrom() []Address {
	if len(e.Sender) > 0 {
		return e.Sender
	}
	return e.From
}

// ReplyToOrFrom returns ReplyTo, or From when ReplyTo is empty, as RFC
// 3501 requires for the ENVELOPE reply-to.
func (e *Envelope) ReplyToOrFrom() []Address {
	if len(e.ReplyTo) > 0 {
		return e.ReplyTo
	}
	return e.From
}

// Address is one element of an envelope address list, ready to be
// rendered as an IMAP address structure (name, adl, mailbox, host). The
// source route (adl) is not kept and is always NIL.
//
// A plain address has GroupStart and GroupEnd false. Its Mailbox and
// Host may be "" (an address without domain, or a bare display name
// without any address); the IMAP layer must still send them as strings,
// never NIL (for example "" or "MISSING_DOMAIN"), because a NIL host marks
// group syntax.
//
// RFC 5322 group syntax ("name: a@b, c@d;") is represented as in RFC 3501:
// an Address with GroupStart set and the group's display name in Mailbox
// (render as NIL NIL "name" NIL), then the members, then an Address with
// GroupEnd set and all strings empty (render as NIL NIL NIL NIL).
type Address struct {
	// Name is the display name, raw: quotes are removed and quoted pairs
	// unescaped, comments dropped and white space collapsed, but
	// encoded-words are not decoded. For "addr (comment)" without a
	// display name, the comment text is used.
	Name string `json:"n,omitempty"`
	// Mailbox is the local part (for a group start: the group name).
	Mailbox string `json:"m,omitempty"`
	// Host is the domain.
	Host string `json:"h,omitempty"`
	// Route is the obsolete source route of an angle-addr
	// ("<@a,@b:user@host>" gives "@a,@b"), the ENVELOPE's adl.
	Route string `json:"r,omitempty"`
	// GroupStart marks the start of a group.
	GroupStart bool `json:"gs,omitempty"`
	// GroupEnd marks the end of a group.
	GroupEnd bool `json:"ge,omitempty"`
}

// SearchText is the text of a message for the substring search index.
type SearchText struct {
	// Headers holds every field of the top-level header, one per line as
	// "Name: value\n", unfolded, with RFC 2047 encoded-words decoded to
	// UTF-8. An address field (From, To, Cc, Bcc, Sender, Reply-To) is
	// followed by a second line in [AddressText] form when that differs.
	// Cut at MaxHeaderText bytes.
	Headers string `json:"h,omitempty"`
	// Body holds the decoded text (transfer encoding removed, charset
	// converted to UTF-8, line endings turned into LF) of the text/* parts
	// that are not attachments, in message order, separated by "\n". Tags
	// of text/html parts are stripped (roughly) and entities decoded. A
	// part counts as an attachment when its disposition is "attachment" or
	// when it has no disposition but a Content-Type "name" parameter;
	// everything below an attachment is excluded too. Of the children of
	// a multipart/alternative only the first one that yields text is used.
	// Parts of embedded messages are included unless the message/rfc822
	// part itself is an attachment. Cut at MaxBodyText bytes, at a UTF-8
	// character boundary.
	Body string `json:"b,omitempty"`
}

// Param returns the value of the Content-Type parameter with the given
// name (compared case-insensitively) and whether it is present.
func (p *Part) Param(name string) (string, bool) {
	return findParam(p.Params, name)
}

// DispositionParam returns the value of the Content-Disposition parameter
// with the given name (compared case-insensitively) and whether it is
// present.
func (p *Part) DispositionParam(name string) (string, bool) {
	return findParam(p.DispositionParams, name)
}

func findParam(params []Param, name string) (string, bool) {
	for _, pr := range params {
		if strings.EqualFold(pr.Name, name) {
			return pr.Value, true
		}
	}
	return "", false
}

// IsMultipart reports whether p is a multipart (and thus has Parts).
func (p *Part) IsMultipart() bool {
	return p.Type == "multipart" && len(p.Parts) > 0
}

// FindPart returns the part addressed by an IMAP section part number
// (RFC 3501 §6.4.5), given as a list of 1-based numbers: nil or empty for
// the message itself (m.Root), []int{1} for part 1, []int{2, 1} for part
// 2.1 and so on. It returns nil when there is no such part.
//
// The rules: the parts of a multipart are numbered from 1; a non-multipart
// message (or embedded message) has exactly one part, numbered 1, which is
// its own body (the returned Part is then the message's root part, and
// its [BodyStart, End) range is the section's content); the numbers after
// a message/rfc822 part address the parts of the embedded message.
func (m *Message) FindPart(path []int) *Part {
	if m == nil || m.Root == nil {
		return nil
	}
	cur := m.Root
	atMessage := true // cur is the root part of a (possibly embedded) message
	for _, n := range path {
		if n < 1 {
			return nil
		}
		if !atMessage && cur.Embedded != nil {
			cur, atMessage = cur.Embedded, true
		}
		switch {
		case cur.IsMultipart():
			if n > len(cur.Parts) {
				return nil
			}
			cur, atMessage = cur.Parts[n-1], false
		case atMessage && n == 1:
			// The body of a non-multipart message is its part 1.
			atMessage = false
		default:
			return nil
		}
	}
	return cur
}
