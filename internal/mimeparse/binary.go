package mimeparse

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
)

// The cached form of a [Message]: what [Encode] writes and [Decode] reads.
//
// The first byte tells the encodings apart. Structures cached before the
// binary encoding existed are JSON objects and start with '{'; the binary
// encoding starts with its version byte, binaryV1 (a control character,
// which never starts a JSON document written by encoding/json).
//
// Binary version 1, after the version byte:
//
//	uvarint  parts      number of Parts in the tree (a hint for allocation)
//	uvarint  envelopes  number of Envelopes (hint)
//	uvarint  addresses  number of Addresses (hint)
//	uvarint  params     number of Params, disposition params included (hint)
//	varint   Size
//	varint   Lines
//	byte     HeaderBytes
//	string   Text.Headers
//	string   Text.Body
//	byte     1 if Root follows, 0 if not
//	part     Root
//
// A part is a uvarint bit mask of the fields present (part* constants
// below), then those fields in the order of the bits. A string is a
// uvarint length and the bytes; a list a uvarint count and its elements;
// a param its name and value strings. Integers are zig-zag varints;
// BodyStart is stored as BodyStart-HeaderStart and End as End-BodyStart,
// which are small. Parts are the child parts, Envelope an envelope,
// Embedded a part. An envelope is a uvarint mask (env* constants), then
// its fields; an address a flags byte (addr* constants), then the strings
// it flags. The hints need not be exact: the decoder allocates by them,
// in bounded chunks, and never trusts them for anything else.
//
// A new version gets a new first byte; Decode keeps reading the old ones.
const binaryV1 = 0x01

// Field bits of an encoded part.
const (
	partType = 1 << iota
	partSubtype
	partParams
	partID
	partDescription
	partEncoding
	partDisposition
	partDispositionParams
	partLanguage
	partLocation
	partMD5
	partHeaderStart
	partBodyStart
	partEnd
	partLines
	partParts
	partEnvelope
	partEmbedded
	partAll = partEmbedded<<1 - 1
)

// Field bits of an encoded envelope.
const (
	envDate = 1 << iota
	envSubject
	envFrom
	envSender
	envReplyTo
	envTo
	envCc
	envBcc
	envInReplyTo
	envMessageID
	envReferences
	envAll = envReferences<<1 - 1
)

// Flag bits of an encoded address.
const (
	addrName = 1 << iota
	addrMailbox
	addrHost
	addrGroupStart
	addrGroupEnd
	addrRoute
	addrAll = addrRoute<<1 - 1
)

// maxDecodeDepth bounds the nesting of decoded parts. [Parse] nests at
// most about MaxDepth levels (multipart children and embedded messages
// each add one); the bound only stops corrupt input from recursing deep.
const maxDecodeDepth = 4 * MaxDepth

// maxChunk is the most elements the decoder allocates at once on the
// strength of a hint.
const maxChunk = 256

// ErrCorrupt is returned (wrapped) by [Decode] for bytes that are not a
// well-formed encoded structure.
var ErrCorrupt = errors.New("corrupt cached structure")

// Encode returns the compact binary form of m, which [Decode] reads back.
// It is what stores cache; the result starts with a version byte.
func Encode(m *Message) []byte {
	var c counts
	c.message(m)
	b := make([]byte, 0, 64+c.bytes)
	b = append(b, binaryV1)
	b = binary.AppendUvarint(b, uint64(c.parts))
	b = binary.AppendUvarint(b, uint64(c.envelopes))
	b = binary.AppendUvarint(b, uint64(c.addresses))
	b = binary.AppendUvarint(b, uint64(c.params))
	b = binary.AppendVarint(b, m.Size)
	b = binary.AppendVarint(b, m.Lines)
	b = append(b, byte(m.HeaderBytes))
	b = appendString(b, m.Text.Headers)
	b = appendString(b, m.Text.Body)
	if m.Root == nil {
		return append(b, 0)
	}
	b = append(b, 1)
	return appendPart(b, m.Root)
}

// counts totals what an encoding holds, for the hints and the buffer size.
type counts struct {
	parts, envelopes, addresses, params, bytes int
}

func (c *counts) message(m *Message) {
	c.bytes += len(m.Text.Headers) + len(m.Text.Body)
	if m.Root != nil {
		c.part(m.Root)
	}
}

func (c *counts) part(p *Part) {
	c.parts++
	c.params += len(p.Params) + len(p.DispositionParams)
	c.bytes += 16 + len(p.Type) + len(p.Subtype) + len(p.ID) + len(p.Description) + len(p.Encoding) +
		len(p.Disposition) + len(p.Location) + len(p.MD5)
	for _, pr := range p.Params {
		c.bytes += 4 + len(pr.Name) + len(pr.Value)
	}
	for _, pr := range p.DispositionParams {
		c.bytes += 4 + len(pr.Name) + len(pr.Value)
	}
	for _, l := range p.Language {
		c.bytes += 2 + len(l)
	}
	for _, ch := range p.Parts {
		if ch != nil {
			c.part(ch)
		}
	}
	if e := p.Envelope; e != nil {
		c.envelopes++
		c.bytes += 8 + len(e.Date) + len(e.Subject) + len(e.InReplyTo) + len(e.MessageID) + len(e.References)
		for _, list := range [][]Address{e.From, e.Sender, e.ReplyTo, e.To, e.Cc, e.Bcc} {
			c.addresses += len(list)
			for _, a := range list {
				c.bytes += 5 + len(a.Name) + len(a.Mailbox) + len(a.Host) + len(a.Route)
			}
		}
	}
	if p.Embedded != nil {
		c.part(p.Embedded)
	}
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func appendParams(b []byte, ps []Param) []byte {
	b = binary.AppendUvarint(b, uint64(len(ps)))
	for _, p := range ps {
		b = appendString(b, p.Name)
		b = appendString(b, p.Value)
	}
	return b
}

// appendPart encodes p. Nil entries of Parts are left out.
func appendPart(b []byte, p *Part) []byte {
	var mask uint64
	set := func(bit uint64, present bool) {
		if present {
			mask |= bit
		}
	}
	set(partType, p.Type != "")
	set(partSubtype, p.Subtype != "")
	set(partParams, len(p.Params) > 0)
	set(partID, p.ID != "")
	set(partDescription, p.Description != "")
	set(partEncoding, p.Encoding != "")
	set(partDisposition, p.Disposition != "")
	set(partDispositionParams, len(p.DispositionParams) > 0)
	set(partLanguage, len(p.Language) > 0)
	set(partLocation, p.Location != "")
	set(partMD5, p.MD5 != "")
	set(partHeaderStart, p.HeaderStart != 0)
	set(partBodyStart, p.BodyStart != 0)
	set(partEnd, p.End != 0)
	set(partLines, p.Lines != 0)
	children := 0
	for _, ch := range p.Parts {
		if ch != nil {
			children++
		}
	}
	set(partParts, children > 0)
	set(partEnvelope, p.Envelope != nil)
	set(partEmbedded, p.Embedded != nil)
	b = binary.AppendUvarint(b, mask)
	for _, f := range []struct {
		bit uint64
		s   string
	}{{partType, p.Type}, {partSubtype, p.Subtype}} {
		if mask&f.bit != 0 {
			b = appendString(b, f.s)
		}
	}
	if mask&partParams != 0 {
		b = appendParams(b, p.Params)
	}
	for _, f := range []struct {
		bit uint64
		s   string
	}{{partID, p.ID}, {partDescription, p.Description}, {partEncoding, p.Encoding}, {partDisposition, p.Disposition}} {
		if mask&f.bit != 0 {
			b = appendString(b, f.s)
		}
	}
	if mask&partDispositionParams != 0 {
		b = appendParams(b, p.DispositionParams)
	}
	if mask&partLanguage != 0 {
		b = binary.AppendUvarint(b, uint64(len(p.Language)))
		for _, l := range p.Language {
			b = appendString(b, l)
		}
	}
	if mask&partLocation != 0 {
		b = appendString(b, p.Location)
	}
	if mask&partMD5 != 0 {
		b = appendString(b, p.MD5)
	}
	if mask&partHeaderStart != 0 {
		b = binary.AppendVarint(b, p.HeaderStart)
	}
	if mask&partBodyStart != 0 {
		b = binary.AppendVarint(b, p.BodyStart-p.HeaderStart)
	}
	if mask&partEnd != 0 {
		b = binary.AppendVarint(b, p.End-p.BodyStart)
	}
	if mask&partLines != 0 {
		b = binary.AppendVarint(b, p.Lines)
	}
	if mask&partParts != 0 {
		b = binary.AppendUvarint(b, uint64(children))
		for _, ch := range p.Parts {
			if ch != nil {
				b = appendPart(b, ch)
			}
		}
	}
	if mask&partEnvelope != 0 {
		b = appendEnvelope(b, p.Envelope)
	}
	if mask&partEmbedded != 0 {
		b = appendPart(b, p.Embedded)
	}
	return b
}

func appendEnvelope(b []byte, e *Envelope) []byte {
	strs := [...]struct {
		bit uint64
		s   *string
	}{{envDate, &e.Date}, {envSubject, &e.Subject}, {envInReplyTo, &e.InReplyTo}, {envMessageID, &e.MessageID}, {envReferences, &e.References}}
	lists := [...]struct {
		bit  uint64
		list []Address
	}{{envFrom, e.From}, {envSender, e.Sender}, {envReplyTo, e.ReplyTo}, {envTo, e.To}, {envCc, e.Cc}, {envBcc, e.Bcc}}
	var mask uint64
	for _, f := range strs {
		if *f.s != "" {
			mask |= f.bit
		}
	}
	for _, f := range lists {
		if len(f.list) > 0 {
			mask |= f.bit
		}
	}
	b = binary.AppendUvarint(b, mask)
	if mask&envDate != 0 {
		b = appendString(b, e.Date)
	}
	if mask&envSubject != 0 {
		b = appendString(b, e.Subject)
	}
	for _, f := range lists {
		if mask&f.bit == 0 {
			continue
		}
		b = binary.AppendUvarint(b, uint64(len(f.list)))
		for _, a := range f.list {
			b = appendAddress(b, a)
		}
	}
	for _, f := range strs[2:] {
		if mask&f.bit != 0 {
			b = appendString(b, *f.s)
		}
	}
	return b
}

func appendAddress(b []byte, a Address) []byte {
	var flags byte
	if a.Name != "" {
		flags |= addrName
	}
	if a.Mailbox != "" {
		flags |= addrMailbox
	}
	if a.Host != "" {
		flags |= addrHost
	}
	if a.GroupStart {
		flags |= addrGroupStart
	}
	if a.GroupEnd {
		flags |= addrGroupEnd
	}
	if a.Route != "" {
		flags |= addrRoute
	}
	b = append(b, flags)
	if a.Name != "" {
		b = appendString(b, a.Name)
	}
	if a.Mailbox != "" {
		b = appendString(b, a.Mailbox)
	}
	if a.Host != "" {
		b = appendString(b, a.Host)
	}
	if a.Route != "" {
		b = appendString(b, a.Route)
	}
	return b
}

// Decode reads a structure cached by a store: the binary form [Encode]
// writes, or the JSON form stores wrote before it. Bytes that are neither
// give an error wrapping [ErrCorrupt]; Decode never panics on them. The
// strings of a binary structure share one copy of b, so the caller may
// reuse b afterwards.
func Decode(b []byte) (*Message, error) {
	if len(b) == 0 {
		return nil, fmt.Errorf("%w: empty", ErrCorrupt)
	}
	switch b[0] {
	case binaryV1:
		d := decoder{s: string(b), i: 1}
		m, err := d.message()
		if err != nil {
			return nil, fmt.Errorf("%w: %v at byte %d", ErrCorrupt, err, d.i)
		}
		return m, nil
	case '{':
		m := new(Message)
		if err := json.Unmarshal(b, m); err != nil {
			return nil, fmt.Errorf("%w: JSON: %v", ErrCorrupt, err)
		}
		return m, nil
	}
	return nil, fmt.Errorf("%w: unknown encoding %#02x", ErrCorrupt, b[0])
}

// decoder reads binary version 1. Its slabs hand out elements of larger
// allocations, sized by the hints of the encoding but never more than
// maxChunk (or what the remaining bytes could hold) at once.
type decoder struct {
	s string // the whole encoding; decoded strings are substrings of it
	i int    // read position

	hintParts, hintPtrs, hintEnvelopes, hintAddresses, hintParams int

	spare    *Part     // the root, allocated with the Message
	spareEnv *Envelope // its envelope, likewise

	parts     []Part
	ptrs      []*Part
	envelopes []Envelope
	addresses []Address
	params    []Param
}

var (
	errShort          = errors.New("truncated")
	errVarint         = errors.New("bad varint")
	errTooLong        = errors.New("length beyond the end")
	errTooDeep        = errors.New("parts nested too deep")
	errBadMask        = errors.New("unknown field bits")
	errBadFlag        = errors.New("bad root flag")
	errBadHeaderBytes = errors.New("bad header bytes value")
	errTrailing       = errors.New("trailing bytes")
)

func (d *decoder) uvarint() (uint64, error) {
	v, n := uvarintString(d.s[d.i:])
	if n <= 0 {
		if n == 0 {
			return 0, errShort
		}
		return 0, errVarint
	}
	d.i += n
	return v, nil
}

// uvarintString is binary.Uvarint for a string.
func uvarintString(s string) (uint64, int) {
	var x uint64
	var shift uint
	for i := 0; i < len(s); i++ {
		if i == binary.MaxVarintLen64 {
			return 0, -(i + 1)
		}
		c := s[i]
		if c < 0x80 {
			if i == binary.MaxVarintLen64-1 && c > 1 {
				return 0, -(i + 1)
			}
			return x | uint64(c)<<shift, i + 1
		}
		x |= uint64(c&0x7f) << shift
		shift += 7
	}
	return 0, 0
}

func (d *decoder) varint() (int64, error) {
	u, err := d.uvarint()
	x := int64(u >> 1)
	if u&1 != 0 {
		x = ^x
	}
	return x, err
}

// count reads a list length or a hint: at most the number of bytes left,
// since every element takes at least one byte.
func (d *decoder) count() (int, error) {
	v, err := d.uvarint()
	if err != nil {
		return 0, err
	}
	if v > uint64(len(d.s)-d.i) {
		return 0, errTooLong
	}
	return int(v), nil
}

func (d *decoder) string() (string, error) {
	n, err := d.count()
	if err != nil {
		return "", err
	}
	s := d.s[d.i : d.i+n]
	d.i += n
	return s, nil
}

// chunk is the size of the next slab allocation for want more elements.
func (d *decoder) chunk(hint *int, want int) int {
	n := max(*hint, want)
	n = min(n, maxChunk, max(len(d.s)-d.i, want))
	*hint = max(*hint-n, 0)
	return n
}

func (d *decoder) newPart() *Part {
	if p := d.spare; p != nil {
		d.spare = nil
		return p
	}
	if len(d.parts) == 0 {
		d.parts = make([]Part, d.chunk(&d.hintParts, 1))
	}
	p := &d.parts[0]
	d.parts = d.parts[1:]
	return p
}

func (d *decoder) partPtrs(n int) []*Part {
	if len(d.ptrs) < n {
		d.ptrs = make([]*Part, max(n, d.chunk(&d.hintPtrs, n)))
	}
	s := d.ptrs[:n:n]
	d.ptrs = d.ptrs[n:]
	return s
}

func (d *decoder) newEnvelope() *Envelope {
	if e := d.spareEnv; e != nil {
		d.spareEnv = nil
		return e
	}
	if len(d.envelopes) == 0 {
		d.envelopes = make([]Envelope, d.chunk(&d.hintEnvelopes, 1))
	}
	e := &d.envelopes[0]
	d.envelopes = d.envelopes[1:]
	return e
}

func (d *decoder) addressSlice(n int) []Address {
	if len(d.addresses) < n {
		d.addresses = make([]Address, max(n, d.chunk(&d.hintAddresses, n)))
	}
	s := d.addresses[:n:n]
	d.addresses = d.addresses[n:]
	return s
}

func (d *decoder) paramSlice(n int) []Param {
	if len(d.params) < n {
		d.params = make([]Param, max(n, d.chunk(&d.hintParams, n)))
	}
	s := d.params[:n:n]
	d.params = d.params[n:]
	return s
}

func (d *decoder) message() (*Message, error) {
	var err error
	hint := func(p *int) {
		if err == nil {
			*p, err = d.count()
		}
	}
	hint(&d.hintParts)
	hint(&d.hintEnvelopes)
	hint(&d.hintAddresses)
	hint(&d.hintParams)
	if err != nil {
		return nil, err
	}
	d.hintPtrs = d.hintParts
	// The message, its root part and the root's envelope: one allocation.
	blk := new(struct {
		m Message
		p Part
		e Envelope
	})
	m := &blk.m
	d.spare, d.spareEnv = &blk.p, &blk.e
	d.hintParts = max(d.hintParts-1, 0)
	d.hintEnvelopes = max(d.hintEnvelopes-1, 0)
	if m.Size, err = d.varint(); err != nil {
		return nil, err
	}
	if m.Lines, err = d.varint(); err != nil {
		return nil, err
	}
	if d.i >= len(d.s) {
		return nil, errShort
	}
	if m.HeaderBytes = HeaderBytes(d.s[d.i]); m.HeaderBytes > Headers8bit {
		return nil, errBadHeaderBytes
	}
	d.i++
	if m.Text.Headers, err = d.string(); err != nil {
		return nil, err
	}
	if m.Text.Body, err = d.string(); err != nil {
		return nil, err
	}
	if d.i >= len(d.s) {
		return nil, errShort
	}
	switch d.s[d.i] {
	case 0:
		d.i++
	case 1:
		d.i++
		if m.Root, err = d.part(0); err != nil {
			return nil, err
		}
	default:
		return nil, errBadFlag
	}
	if d.i != len(d.s) {
		return nil, errTrailing
	}
	return m, nil
}

func (d *decoder) paramList() ([]Param, error) {
	n, err := d.count()
	if err != nil {
		return nil, err
	}
	if n == 0 {
		return nil, nil
	}
	ps := d.paramSlice(n)
	for i := range ps {
		if ps[i].Name, err = d.string(); err != nil {
			return nil, err
		}
		if ps[i].Value, err = d.string(); err != nil {
			return nil, err
		}
	}
	return ps, nil
}

func (d *decoder) part(depth int) (*Part, error) {
	if depth > maxDecodeDepth {
		return nil, errTooDeep
	}
	mask, err := d.uvarint()
	if err != nil {
		return nil, err
	}
	if mask&^partAll != 0 {
		return nil, errBadMask
	}
	p := d.newPart()
	str := func(bit uint64, dst *string) {
		if err == nil && mask&bit != 0 {
			*dst, err = d.string()
		}
	}
	num := func(bit uint64, dst *int64, base int64) {
		if err == nil && mask&bit != 0 {
			var v int64
			v, err = d.varint()
			*dst = base + v
		}
	}
	str(partType, &p.Type)
	str(partSubtype, &p.Subtype)
	if err == nil && mask&partParams != 0 {
		p.Params, err = d.paramList()
	}
	str(partID, &p.ID)
	str(partDescription, &p.Description)
	str(partEncoding, &p.Encoding)
	str(partDisposition, &p.Disposition)
	if err == nil && mask&partDispositionParams != 0 {
		p.DispositionParams, err = d.paramList()
	}
	if err == nil && mask&partLanguage != 0 {
		var n int
		if n, err = d.count(); err == nil && n > 0 {
			p.Language = make([]string, n)
			for i := range p.Language {
				if p.Language[i], err = d.string(); err != nil {
					break
				}
			}
		}
	}
	str(partLocation, &p.Location)
	str(partMD5, &p.MD5)
	num(partHeaderStart, &p.HeaderStart, 0)
	num(partBodyStart, &p.BodyStart, p.HeaderStart)
	num(partEnd, &p.End, p.BodyStart)
	num(partLines, &p.Lines, 0)
	if err != nil {
		return nil, err
	}
	if mask&partParts != 0 {
		n, err := d.count()
		if err != nil {
			return nil, err
		}
		if n > 0 {
			p.Parts = d.partPtrs(n)
			for i := range p.Parts {
				if p.Parts[i], err = d.part(depth + 1); err != nil {
					return nil, err
				}
			}
		}
	}
	if mask&partEnvelope != 0 {
		if p.Envelope, err = d.envelope(); err != nil {
			return nil, err
		}
	}
	if mask&partEmbedded != 0 {
		if p.Embedded, err = d.part(depth + 1); err != nil {
			return nil, err
		}
	}
	return p, nil
}

func (d *decoder) envelope() (*Envelope, error) {
	mask, err := d.uvarint()
	if err != nil {
		return nil, err
	}
	if mask&^envAll != 0 {
		return nil, errBadMask
	}
	e := d.newEnvelope()
	str := func(bit uint64, dst *string) {
		if err == nil && mask&bit != 0 {
			*dst, err = d.string()
		}
	}
	str(envDate, &e.Date)
	str(envSubject, &e.Subject)
	for _, f := range [...]struct {
		bit  uint64
		list *[]Address
	}{{envFrom, &e.From}, {envSender, &e.Sender}, {envReplyTo, &e.ReplyTo}, {envTo, &e.To}, {envCc, &e.Cc}, {envBcc, &e.Bcc}} {
		if err == nil && mask&f.bit != 0 {
			*f.list, err = d.addressList()
		}
	}
	str(envInReplyTo, &e.InReplyTo)
	str(envMessageID, &e.MessageID)
	str(envReferences, &e.References)
	if err != nil {
		return nil, err
	}
	return e, nil
}

func (d *decoder) addressList() ([]Address, error) {
	n, err := d.count()
	if err != nil || n == 0 {
		return nil, err
	}
	list := d.addressSlice(n)
	for i := range list {
		a := &list[i]
		if d.i >= len(d.s) {
			return nil, errShort
		}
		flags := d.s[d.i]
		d.i++
		if flags&^addrAll != 0 {
			return nil, errBadMask
		}
		a.GroupStart = flags&addrGroupStart != 0
		a.GroupEnd = flags&addrGroupEnd != 0
		if flags&addrName != 0 {
			if a.Name, err = d.string(); err != nil {
				return nil, err
			}
		}
		if flags&addrMailbox != 0 {
			if a.Mailbox, err = d.string(); err != nil {
				return nil, err
			}
		}
		if flags&addrHost != 0 {
			if a.Host, err = d.string(); err != nil {
				return nil, err
			}
		}
		if flags&addrRoute != 0 {
			if a.Route, err = d.string(); err != nil {
				return nil, err
			}
		}
	}
	return list, nil
}
