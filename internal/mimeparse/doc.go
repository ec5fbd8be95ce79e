// Package mimeparse parses a stored RFC 5322 / MIME message once, at
// delivery time, into a compact structure that the mail store caches (in
// the binary form of [Encode]; [Decode] also reads the JSON form cached by
// earlier versions) and from which the IMAP server answers FETCH ENVELOPE,
// BODYSTRUCTURE, BODY[section], BINARY[section] and RFC822.SIZE without
// parsing the message again.
//
// # Input
//
// The message is expected to use CRLF line endings, exactly as it is
// served to IMAP clients; use [NormalizeCRLF] when storing a message to get
// there. [Parse] also copes with bare LF line endings (offsets and line
// counts stay correct for the bytes it was given), but the store should
// always parse exactly the bytes it serves.
//
// [Parse] never fails because of bad MIME: structural problems degrade
// gracefully (see the notes on [Parse]); it only returns an error when
// reading the input fails. It streams: memory use is bounded by the
// limits below, not by the size of the message.
//
// # Offsets and IMAP sections
//
// Every [Part] carries three byte offsets into the whole message:
//
//	HeaderStart  start of the part's (MIME) header
//	BodyStart    first byte after the header, i.e. after the empty line
//	             that ends it (the header includes that CRLF CRLF)
//	End          end of the body (exclusive)
//
// For a part inside a multipart, the CRLF that precedes the next boundary
// line belongs to the boundary (RFC 2046 §5.1.1) and is therefore not part
// of the body: End points at that CRLF. For the root part HeaderStart is 0
// and End is [Message.Size].
//
// Ranges for the IMAP sections (RFC 3501 §6.4.5, RFC 9051 §6.4.5), with
// m the [Message] and p the part found by [Message.FindPart] for the
// section's part number (if any):
//
//	BODY[]              [0, m.Size)
//	BODY[HEADER]        [m.Root.HeaderStart, m.Root.BodyStart)
//	BODY[TEXT]          [m.Root.BodyStart, m.Root.End)
//	BODY[n]             [p.BodyStart, p.End)
//	BODY[n.MIME]        [p.HeaderStart, p.BodyStart)   (n must not be empty)
//	BODY[n.HEADER]      [p.Embedded.HeaderStart, p.Embedded.BodyStart)
//	BODY[n.TEXT]        [p.Embedded.BodyStart, p.Embedded.End)
//	BINARY[n]           [p.BodyStart, p.End) decoded according to p.Encoding
//
// n.HEADER and n.TEXT are only valid when p is a message/rfc822 (or
// message/global) part, i.e. p.Embedded != nil. HEADER.FIELDS[.NOT] are
// computed by the IMAP layer by filtering the bytes of the HEADER range.
// The body of a non-multipart message (or embedded message) is its part 1,
// so BODY[1] of a single-part message is the same range as BODY[TEXT];
// [Message.FindPart] implements these numbering rules.
//
// # Envelopes
//
// [Envelope] values hold raw, unfolded header values: RFC 2047
// encoded-words in subjects and display names are not decoded, as RFC 3501
// ENVELOPE requires. Decoded header text is available in [SearchText]. The envelope of the top-level message is Root.Envelope; the
// envelope of an attached message is on the message/rfc822 part itself
// (not on its Embedded part). Sender and Reply-To are NOT defaulted to From
// here (to keep the cache small); the IMAP layer must apply the RFC 3501
// rule, for which [Envelope.SenderOrFrom] and [Envelope.ReplyToOrFrom]
// exist.
//
// # Strings
//
// All strings in the result are valid UTF-8: invalid byte sequences in
// 8-bit header fields are replaced with U+FFFD, so that the value before
// and after a JSON round trip is the same. Raw 8-bit UTF-8 header content
// (RFC 6532) is kept as is.
//
// # Limits
//
// To bound work and memory on hostile input, nesting is limited to
// [MaxDepth] levels and the number of parts to [MaxParts]; a retained
// header field value is cut at [MaxFieldLen] bytes; the search text is cut
// at [MaxHeaderText] and [MaxBodyText] bytes.
package mimeparse
