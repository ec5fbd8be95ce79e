package imapd

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"math"
	"mime/quotedprintable"
	"slices"
	"strconv"
	"strings"

	"github.com/pochta-mail/pochta/internal/mimeparse"
	"github.com/pochta-mail/pochta/internal/store"
)

// fetchChunk is how many messages FETCH loads from the store at once;
// memory use of a FETCH is bounded by it, not by the folder size.
const fetchChunk = 128

// fetchKind is the kind of a FETCH item.
type fetchKind int

const (
	fetchUID fetchKind = iota
	fetchFlags
	fetchInternalDate
	fetchSize
	fetchEnvelope
	fetchBodyStructure
	fetchBody // BODY without section: non-extensible structure
	fetchSection
	fetchBinary
	fetchBinarySize
	fetchModSeq
	fetchRFC822
	fetchRFC822Header
	fetchRFC822Text
)

// section is a BODY[...] or BINARY[...] section.
type section struct {
	path      []int
	specifier string // "", HEADER, HEADER.FIELDS, HEADER.FIELDS.NOT, TEXT, MIME
	fields    []string
}

func (sec section) String() string {
	var b strings.Builder
	for i, n := range sec.path {
		if i > 0 {
			b.WriteByte('.')
		}
		b.WriteString(strconv.Itoa(n))
	}
	if sec.specifier != "" {
		if len(sec.path) > 0 {
			b.WriteByte('.')
		}
		b.WriteString(sec.specifier)
		if len(sec.fields) > 0 {
			b.WriteString(" (")
			b.WriteString(strings.Join(sec.fields, " "))
			b.WriteByte(')')
		}
	}
	return b.String()
}

// fetchItem is one item of a FETCH command.
type fetchItem struct {
	kind    fetchKind
	sec     section
	peek    bool
	partial bool
	start   int64
	count   int64
}

// needsStructure reports whether the item needs the cached MIME structure.
func (it fetchItem) needsStructure() bool {
	switch it.kind {
	case fetchEnvelope, fetchBodyStructure, fetchBody, fetchBinary, fetchBinarySize, fetchRFC822Header, fetchRFC822Text:
		return true
	case fetchSection:
		return len(it.sec.path) > 0 || it.sec.specifier != ""
	}
	return false
}

// needsBytes reports whether the item depends on the message's bytes or
// size.
func (it fetchItem) needsBytes() bool {
	switch it.kind {
	case fetchSize, fetchSection, fetchRFC822, fetchRFC822Header, fetchRFC822Text, fetchBinary, fetchBinarySize:
		return true
	}
	return false
}

// setsSeen reports whether fetching the item sets \Seen.
func (it fetchItem) setsSeen() bool {
	switch it.kind {
	case fetchSection, fetchBinary:
		return !it.peek
	case fetchRFC822, fetchRFC822Text:
		return true
	}
	return false
}

// fetchArgs is a parsed FETCH command.
type fetchArgs struct {
	set          seqSet
	items        []fetchItem
	changedSince uint64
	vanished     bool
}

// parseFetch parses the arguments of FETCH after the command name.
func parseFetch(r *reader) (fetchArgs, error) {
	var a fetchArgs
	if err := r.sp(); err != nil {
		return a, err
	}
	set, err := r.seqSet()
	if err != nil {
		return a, err
	}
	a.set = set
	if err := r.sp(); err != nil {
		return a, err
	}
	if r.peek() == '(' {
		err = r.list(false, func() error {
			items, err := parseFetchAtt(r)
			a.items = append(a.items, items...)
			return err
		})
	} else {
		a.items, err = parseFetchAtt(r)
	}
	if err != nil {
		return a, err
	}
	if r.consume(' ') {
		if err := r.list(false, func() error {
			kw, err := r.keyword()
			if err != nil {
				return err
			}
			switch kw {
			case "CHANGEDSINCE":
				if err := r.sp(); err != nil {
					return err
				}
				a.changedSince, err = r.number64()
				return err
			case "VANISHED":
				a.vanished = true
				return nil
			}
			return errSyntax("unknown FETCH modifier %s", kw)
		}); err != nil {
			return a, err
		}
		if a.vanished && a.changedSince == 0 {
			return a, errSyntax("VANISHED needs CHANGEDSINCE")
		}
	}
	return a, r.end()
}

// parseFetchAtt parses one fetch attribute (or macro).
func parseFetchAtt(r *reader) ([]fetchItem, error) {
	start := r.pos
	for r.pos < len(r.line) {
		c := r.line[r.pos]
		if c == '[' || c == ' ' || c == ')' || c == '(' {
			break
		}
		r.pos++
	}
	name := strings.ToUpper(string(r.line[start:r.pos]))
	switch name {
	case "ALL":
		return []fetchItem{{kind: fetchFlags}, {kind: fetchInternalDate}, {kind: fetchSize}, {kind: fetchEnvelope}}, nil
	case "FAST":
		return []fetchItem{{kind: fetchFlags}, {kind: fetchInternalDate}, {kind: fetchSize}}, nil
	case "FULL":
		return []fetchItem{{kind: fetchFlags}, {kind: fetchInternalDate}, {kind: fetchSize}, {kind: fetchEnvelope}, {kind: fetchBody}}, nil
	case "UID":
		return []fetchItem{{kind: fetchUID}}, nil
	case "FLAGS":
		return []fetchItem{{kind: fetchFlags}}, nil
	case "INTERNALDATE":
		return []fetchItem{{kind: fetchInternalDate}}, nil
	case "RFC822.SIZE":
		return []fetchItem{{kind: fetchSize}}, nil
	case "ENVELOPE":
		return []fetchItem{{kind: fetchEnvelope}}, nil
	case "BODYSTRUCTURE":
		return []fetchItem{{kind: fetchBodyStructure}}, nil
	case "MODSEQ":
		return []fetchItem{{kind: fetchModSeq}}, nil
	case "RFC822":
		return []fetchItem{{kind: fetchRFC822}}, nil
	case "RFC822.HEADER":
		return []fetchItem{{kind: fetchRFC822Header}}, nil
	case "RFC822.TEXT":
		return []fetchItem{{kind: fetchRFC822Text}}, nil
	case "BODY":
		if r.peek() != '[' {
			return []fetchItem{{kind: fetchBody}}, nil
		}
		fallthrough
	case "BODY.PEEK":
		it := fetchItem{kind: fetchSection, peek: name == "BODY.PEEK"}
		sec, err := parseSection(r)
		if err != nil {
			return nil, err
		}
		it.sec = sec
		if err := parsePartial(r, &it); err != nil {
			return nil, err
		}
		return []fetchItem{it}, nil
	case "BINARY", "BINARY.PEEK", "BINARY.SIZE":
		it := fetchItem{kind: fetchBinary, peek: name == "BINARY.PEEK"}
		if name == "BINARY.SIZE" {
			it.kind = fetchBinarySize
		}
		sec, err := parseSection(r)
		if err != nil {
			return nil, err
		}
		it.sec = sec
		if it.kind == fetchBinary {
			if err := parsePartial(r, &it); err != nil {
				return nil, err
			}
		}
		return []fetchItem{it}, nil
	}
	if name == "" {
		return nil, r.unexpected("fetch item")
	}
	return nil, errSyntax("unknown fetch item %s", name)
}

// parseSection parses "[" section "]". BINARY sections take the same
// specifiers as BODY ones: RFC 3516 allows part numbers only, Dovecot
// (and so clients tested against it) also HEADER, HEADER.FIELDS[.NOT],
// TEXT and MIME, whose bytes carry no transfer encoding to undo or are
// decoded like a part (see writeBinary).
func parseSection(r *reader) (section, error) {
	var sec section
	if err := r.expect('['); err != nil {
		return sec, err
	}
	for r.peek() >= '1' && r.peek() <= '9' {
		n, err := r.number()
		if err != nil {
			return sec, err
		}
		if len(sec.path) >= mimeparse.MaxDepth {
			return sec, errSyntax("section too deep")
		}
		sec.path = append(sec.path, int(n))
		if !r.consume('.') {
			break
		}
	}
	if r.peek() != ']' {
		start := r.pos
		for r.pos < len(r.line) && (isAtomChar(r.line[r.pos]) || r.line[r.pos] == '.') {
			r.pos++
		}
		spec := strings.ToUpper(string(r.line[start:r.pos]))
		switch spec {
		case "HEADER", "TEXT":
		case "MIME":
			if len(sec.path) == 0 {
				return sec, errSyntax("MIME needs a part number")
			}
		case "HEADER.FIELDS", "HEADER.FIELDS.NOT":
			if err := r.sp(); err != nil {
				return sec, err
			}
			if err := r.list(false, func() error {
				f, err := r.astring()
				sec.fields = append(sec.fields, strings.ToUpper(f))
				return err
			}); err != nil {
				return sec, err
			}
		default:
			return sec, errSyntax("unknown section %q", spec)
		}
		sec.specifier = spec
	}
	return sec, r.expect(']')
}

// parsePartial parses an optional "<start.count>", or "<start>" for
// everything from start on (not in RFC 3501's grammar; Dovecot takes it,
// and it is unambiguous).
func parsePartial(r *reader, it *fetchItem) error {
	if !r.consume('<') {
		return nil
	}
	start, err := r.number64()
	if err != nil {
		return err
	}
	if r.consume('>') {
		it.partial, it.start, it.count = true, int64(start), math.MaxInt64
		return nil
	}
	if err := r.expect('.'); err != nil {
		return err
	}
	count, err := r.number64()
	if err != nil {
		return err
	}
	if count == 0 {
		return errSyntax("partial count must not be 0")
	}
	it.partial, it.start, it.count = true, int64(start), int64(count)
	return r.expect('>')
}

// resolve turns a sequence set into indexes of the selected view.
func (s *session) resolve(set seqSet, uid bool) ([]int, error) {
	mb := s.sel
	if set.saved {
		var idx []int
		for _, u := range mb.saved {
			if i := mb.seqOf(u); i > 0 {
				idx = append(idx, i-1)
			}
		}
		return idx, nil
	}
	if uid {
		return set.resolveUIDs(mb.uids), nil
	}
	idx, ok := set.resolveSeqs(len(mb.uids))
	if !ok {
		return nil, errBad("Invalid message sequence number (the mailbox has %d messages)", len(mb.uids))
	}
	return idx, nil
}

func (s *session) cmdFetch(tag string, uid bool) (string, error) {
	a, err := parseFetch(s.r)
	if err != nil {
		return "", err
	}
	idx, err := s.resolve(a.set, uid)
	if err != nil {
		return "", err
	}
	mb := s.sel
	if uid {
		a.items = append([]fetchItem{{kind: fetchUID}}, a.items...)
	}
	if a.changedSince > 0 {
		s.condstore = true
		a.items = append(a.items, fetchItem{kind: fetchModSeq})
	}
	if a.vanished {
		if !uid || !s.qresync {
			return "", errBad("VANISHED needs UID FETCH and QRESYNC")
		}
		ch, err := s.srv.opts.Store.Changes(s.ctx, mb.folder.ID, a.changedSince)
		if err != nil {
			return "", fmt.Errorf("fetch: %w", err)
		}
		var gone []uint32
		for _, u := range ch.Expunged {
			if a.set.contains(u, mb.folder.UIDNext) {
				gone = append(gone, u)
			}
		}
		if len(gone) > 0 {
			s.writef("* VANISHED (EARLIER) %s\r\n", formatUIDs(gone))
		}
	}
	for _, it := range a.items {
		if it.kind == fetchModSeq {
			s.condstore = true
		}
	}
	s.fetchErr = nil
	defer func() { s.fetchBuf = nil }()
	markSeen, needStructure, needDowngrade := false, false, false
	for _, it := range a.items {
		if it.setsSeen() && !mb.readOnly {
			markSeen = true
		}
		if it.needsStructure() {
			needStructure = true
		}
		if !s.utf8 && it.needsBytes() {
			// Without UTF-8, sizes and bytes depend on whether the
			// message needs downgrading: the structures of messages
			// not known to have 7-bit headers are needed.
			needDowngrade = true
		}
	}
	uids := make([]uint32, 0, fetchChunk)
	expungeIssued, uidOnly := false, true
	for _, it := range a.items {
		if it.kind != fetchUID {
			uidOnly = false
		}
	}
	for len(idx) > 0 {
		n := min(len(idx), fetchChunk)
		uids = uids[:0]
		for _, i := range idx[:n] {
			uids = append(uids, mb.uids[i])
		}
		idx = idx[n:]
		msgs, err := s.srv.opts.Store.MessagesByUID(s.ctx, mb.folder.ID, uids)
		if err != nil {
			return "", fmt.Errorf("fetch: %w", err)
		}
		if len(msgs) < len(uids) && a.changedSince == 0 && !uidOnly {
			// Messages another session expunged that this one has not
			// been told of yet (they keep their numbers until it is):
			// their data is gone. The others are answered, and the
			// FETCH ends with OK [EXPUNGEISSUED] (RFC 9051 §7.1), as
			// Dovecot does: a NO would make clients drop the whole
			// answer.
			expungeIssued = true
		}
		if a.changedSince > 0 {
			msgs = slices.DeleteFunc(msgs, func(m store.Message) bool { return m.ModSeq <= a.changedSince })
		}
		seenNow := map[uint32]bool{}
		if markSeen {
			var unseen []uint32
			for _, m := range msgs {
				if !m.HasFlag(store.FlagSeen) {
					unseen = append(unseen, m.UID)
				}
			}
			if len(unseen) > 0 {
				res, err := s.srv.opts.Store.SetFlags(s.ctx, mb.folder.ID, unseen, store.FlagChange{Op: store.FlagsAdd, Flags: []string{store.FlagSeen}})
				if err != nil {
					return "", fmt.Errorf("fetch: set \\Seen: %w", err)
				}
				byUID := map[uint32]store.Message{}
				for _, m := range res.Changed {
					byUID[m.UID] = m
				}
				for i, m := range msgs {
					if c, ok := byUID[m.UID]; ok {
						msgs[i] = c
						seenNow[m.UID] = true
					}
				}
			}
		}
		// The structures of the whole chunk come in one read; a message
		// missing from it is read on its own (and fails there).
		var sts map[int64]*mimeparse.Message
		want := msgs
		if !needStructure && needDowngrade {
			want = downgradeCandidates(msgs)
		}
		if (needStructure || needDowngrade) && len(want) > 0 {
			if sts, err = s.srv.opts.Store.Structures(s.ctx, want); err != nil {
				return "", fmt.Errorf("fetch: %w", err)
			}
		}
		byUID := make(map[uint32]store.Message, len(msgs))
		for _, m := range msgs {
			byUID[m.UID] = m
		}
		for _, u := range uids {
			seq := mb.seqOf(u)
			if seq == 0 {
				continue
			}
			m, ok := byUID[u]
			if !ok {
				if uidOnly && a.changedSince == 0 {
					// Expunged by another session, not yet told: the
					// UID is still known (Dovecot answers so too).
					s.writef("* %d FETCH (UID %d)\r\n", seq, u)
				}
				continue
			}
			if err := s.writeFetch(seq, m, sts[m.BodyID], a.items, seenNow[m.UID]); errors.Is(err, errGoneMeanwhile) {
				expungeIssued = true
			} else if err != nil {
				return "", err
			}
		}
		if s.bw.Buffered() > 16<<10 {
			if err := s.bw.Flush(); err != nil {
				return "", err
			}
		}
	}
	if err := s.fetchErr; err != nil {
		s.fetchErr = nil
		return "", err
	}
	if expungeIssued {
		return "[EXPUNGEISSUED] Some messages were already expunged", nil
	}
	return "", nil
}

// downgradeCandidates returns the messages of msgs that may need
// downgrading for a session without UTF-8: those the store does not know
// to have 7-bit headers.
func downgradeCandidates(msgs []store.Message) []store.Message {
	var out []store.Message
	for _, m := range msgs {
		if m.HeaderBytes != mimeparse.Headers7bit {
			out = append(out, m)
		}
	}
	return out
}

// msgData loads what the items of one message need, once.
type msgData struct {
	s      *session
	m      store.Message
	st     *mimeparse.Message
	body   store.Body
	stErr  error
	bodyEr error
	// dg is the message downgraded for a session without UTF-8
	// (RFC 6857), once dgDone; nil when it is served as stored.
	dg     *mimeparse.Downgraded
	dgDone bool
}

// structure returns the structure of the message as the session sees
// it: downgraded (offsets, sizes and line counts of the downgraded
// bytes) for a session without UTF-8 when the message needs it.
func (d *msgData) structure() (*mimeparse.Message, error) {
	if dg := d.downgraded(); dg != nil {
		return dg.Message, nil
	}
	return d.rawStructure()
}

// open returns the bytes of the message as the session sees them (see
// structure).
func (d *msgData) open() (store.Body, error) {
	if dg := d.downgraded(); dg != nil {
		return downgradedBody{io.NewSectionReader(dg, 0, dg.Size())}, nil
	}
	return d.openRaw()
}

// downgradedBody reads a downgraded message; closing it is left to the
// msgData.
type downgradedBody struct {
	*io.SectionReader
}

func (downgradedBody) Close() error { return nil }

// downgraded returns the message downgraded for a session that did not
// enable UTF8=ACCEPT (or IMAP4rev2), or nil when the session takes UTF-8
// or the message has no header to downgrade. A message the store knows
// to have 7-bit headers is served as stored without reading its
// structure; only messages with 8-bit headers (or, stored before that was
// recorded, whose structure shows non-ASCII text) have their headers
// read. When that fails, the message is served as stored.
func (d *msgData) downgraded() *mimeparse.Downgraded {
	if d.s.utf8 || d.dgDone {
		return d.dg
	}
	d.dgDone = true
	if d.m.HeaderBytes == mimeparse.Headers7bit {
		return nil
	}
	st, err := d.rawStructure()
	if err != nil || !mimeparse.MayNeedDowngrade(st) {
		return nil
	}
	body, err := d.openRaw()
	if err != nil {
		return nil
	}
	dg, err := mimeparse.Downgrade(st, body, body.Size())
	if err != nil {
		d.s.log.Warn("downgrade message", "uid", d.m.UID, "err", err)
		return nil
	}
	d.dg = dg
	return dg
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// rawStructure returns the structure cached for the stored message.
func (d *msgData) rawStructure() (*mimeparse.Message, error) {
	if d.st == nil && d.stErr == nil {
		d.st, d.stErr = d.s.srv.opts.Store.Structure(d.s.ctx, d.m)
		if d.stErr == nil && (d.st == nil || d.st.Root == nil) {
			d.stErr = errors.New("message has no cached structure")
		}
	}
	return d.st, d.stErr
}

// openRaw opens the stored message.
func (d *msgData) openRaw() (store.Body, error) {
	if d.body == nil && d.bodyEr == nil {
		d.body, d.bodyEr = d.s.srv.opts.Store.OpenBody(d.s.ctx, d.m)
	}
	return d.body, d.bodyEr
}

func (d *msgData) close() {
	if d.body != nil {
		d.body.Close()
	}
}

// errGoneMeanwhile is writeFetch's answer for a message that another
// session expunged after this FETCH listed it: its data is gone, and no
// byte of its response was written.
var errGoneMeanwhile = errors.New("message expunged while being fetched")

// errResponseBroken wraps an error that struck after part of a response
// went out (inside a literal, say): the client can no longer parse what
// follows, so the connection is closed rather than answered.
var errResponseBroken = errors.New("response cut short")

// load reads, before any byte of the response is written, what items
// need from the store: the structure, the stored bytes, and for a
// session without UTF-8 the downgraded form. A message expunged by
// another session since it was listed fails here, with store.ErrNotFound,
// while its response can still be left out; a body once open stays
// readable (an open file, an inline copy, a large object's snapshot).
func (d *msgData) load(items []fetchItem) error {
	needStructure, needBody, needSize := false, false, false
	for _, it := range items {
		needStructure = needStructure || it.needsStructure()
		switch it.kind {
		case fetchSection, fetchRFC822, fetchRFC822Header, fetchRFC822Text, fetchBinary, fetchBinarySize:
			needBody = true
		case fetchSize:
			needSize = true
		}
	}
	if needStructure {
		if _, err := d.rawStructure(); err != nil {
			return err
		}
	}
	if needBody {
		if _, err := d.openRaw(); err != nil {
			return err
		}
	}
	if (needBody || needSize) && !d.s.utf8 {
		d.downgraded()
		// downgraded serves the message as stored when it cannot read
		// it; a message that is gone must not be answered at all.
		for _, err := range []error{d.stErr, d.bodyEr} {
			if errors.Is(err, store.ErrNotFound) {
				return err
			}
		}
	}
	return nil
}

// writeFetch writes one FETCH response; st is the message's structure
// when the caller has it already (nil: read when needed). It returns
// errGoneMeanwhile, having written nothing, for a message expunged since
// it was listed, and an error wrapping errResponseBroken when a failure
// struck after part of the response went out.
func (s *session) writeFetch(seq int, m store.Message, st *mimeparse.Message, items []fetchItem, flagsChanged bool) (err error) {
	d := &msgData{s: s, m: m}
	if st != nil && st.Root != nil {
		d.st = st
	}
	defer d.close()
	if err := d.load(items); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return errGoneMeanwhile
		}
		return fmt.Errorf("fetch UID %d: %w", m.UID, err)
	}
	if s.sel != nil && s.sel.addKeywords(m.Flags) {
		// Another session set a keyword this one has not announced
		// yet: FLAGS first, then the response that shows it.
		s.bw.WriteString(s.sel.flagsLine())
	}
	begun := false
	defer func() {
		if err != nil && begun {
			err = fmt.Errorf("%w: %w", errResponseBroken, err)
		}
	}()
	b := s.fetchBuf[:0]
	defer func() {
		if cap(b) <= 64<<10 {
			s.fetchBuf = b[:0]
		}
	}()
	b = append(b, "* "...)
	b = strconv.AppendInt(b, int64(seq), 10)
	b = append(b, " FETCH ("...)
	first := true
	sepr := func() {
		if !first {
			b = append(b, ' ')
		}
		first = false
	}
	didUID, didFlags, didModSeq := false, false, false
	for _, it := range items {
		switch it.kind {
		case fetchUID:
			if didUID {
				continue
			}
			didUID = true
			sepr()
			b = append(b, "UID "...)
			b = strconv.AppendUint(b, uint64(m.UID), 10)
		case fetchFlags:
			if didFlags {
				continue
			}
			didFlags = true
			sepr()
			b = appendFlags(b, s.flagsOf(m))
		case fetchModSeq:
			if didModSeq {
				continue
			}
			didModSeq = true
			sepr()
			b = append(b, "MODSEQ ("...)
			b = strconv.AppendUint(b, m.ModSeq, 10)
			b = append(b, ')')
		case fetchInternalDate:
			sepr()
			b = append(b, "INTERNALDATE \""...)
			b = m.InternalDate.AppendFormat(b, "_2-Jan-2006 15:04:05 -0700")
			b = append(b, '"')
		case fetchSize:
			sepr()
			b = append(b, "RFC822.SIZE "...)
			size := m.Size
			if dg := d.downgraded(); dg != nil {
				// RFC 6857 §4: the size of what the client gets.
				size = dg.Size()
			}
			b = strconv.AppendInt(b, size, 10)
		case fetchEnvelope:
			// The envelope is rendered downgraded (appendEnvelope); it
			// needs no offsets, so not the downgraded structure.
			st, err := d.rawStructure()
			if err != nil {
				return fmt.Errorf("fetch envelope of UID %d: %w", m.UID, err)
			}
			sepr()
			b = append(b, "ENVELOPE "...)
			b = s.appendEnvelope(b, st.Root.Envelope)
		case fetchBodyStructure, fetchBody:
			st, err := d.structure()
			if err != nil {
				return fmt.Errorf("fetch structure of UID %d: %w", m.UID, err)
			}
			sepr()
			if it.kind == fetchBody {
				b = append(b, "BODY "...)
			} else {
				b = append(b, "BODYSTRUCTURE "...)
			}
			b = s.appendBodyStructure(b, st.Root, it.kind == fetchBodyStructure, 0)
		case fetchSection, fetchRFC822, fetchRFC822Header, fetchRFC822Text, fetchBinary, fetchBinarySize:
			sepr()
			var err error
			// Flush what is built so far, then stream the data.
			begun = true
			if _, err = s.bw.Write(b); err != nil {
				return err
			}
			b = b[:0]
			if it.kind == fetchBinary || it.kind == fetchBinarySize {
				err = s.writeBinary(d, it)
			} else {
				err = s.writeSection(d, it)
			}
			var ie *imapError
			if errors.As(err, &ie) {
				// The response has begun: finish it, fail the command.
				if it.kind == fetchBinarySize {
					s.writef("BINARY.SIZE[%s] 0", it.sec.String())
				} else {
					s.writef("BINARY[%s] NIL", it.sec.String())
				}
				s.fetchErr = err
				err = nil
			}
			if err != nil {
				return err
			}
		}
	}
	if flagsChanged && !didFlags {
		sepr()
		b = appendFlags(b, s.flagsOf(m))
	}
	if flagsChanged && s.condstore && !didModSeq {
		sepr()
		b = append(b, "MODSEQ ("...)
		b = strconv.AppendUint(b, m.ModSeq, 10)
		b = append(b, ')')
	}
	if flagsChanged {
		s.sel.flagsSent[m.UID] = max(s.sel.flagsSent[m.UID], m.ModSeq)
	}
	b = append(b, ")\r\n"...)
	_, err = s.bw.Write(b)
	return err
}

func appendFlags(b []byte, flags []string) []byte {
	b = append(b, "FLAGS ("...)
	for i, f := range flags {
		if i > 0 {
			b = append(b, ' ')
		}
		b = append(b, f...)
	}
	return append(b, ')')
}

// sectionRange finds the byte range of a BODY section; ok is false when
// the section does not exist.
func sectionRange(st *mimeparse.Message, sec section) (start, end int64, ok bool) {
	if len(sec.path) == 0 {
		switch sec.specifier {
		case "":
			return 0, st.Size, true
		case "TEXT":
			return st.Root.BodyStart, st.Root.End, true
		default: // HEADER, HEADER.FIELDS[.NOT]
			return st.Root.HeaderStart, st.Root.BodyStart, true
		}
	}
	p := st.FindPart(sec.path)
	if p == nil {
		return 0, 0, false
	}
	switch sec.specifier {
	case "":
		return p.BodyStart, p.End, true
	case "MIME":
		return p.HeaderStart, p.BodyStart, true
	case "TEXT":
		if p.Embedded == nil {
			return 0, 0, true
		}
		return p.Embedded.BodyStart, p.Embedded.End, true
	default:
		if p.Embedded == nil {
			return 0, 0, true
		}
		return p.Embedded.HeaderStart, p.Embedded.BodyStart, true
	}
}

// writeSection writes BODY[...] (and the RFC822 forms) of one message.
func (s *session) writeSection(d *msgData, it fetchItem) error {
	sec := it.sec
	name := "BODY[" + sec.String() + "]"
	switch it.kind {
	case fetchRFC822:
		name, sec = "RFC822", section{}
	case fetchRFC822Header:
		name, sec = "RFC822.HEADER", section{specifier: "HEADER"}
	case fetchRFC822Text:
		name, sec = "RFC822.TEXT", section{specifier: "TEXT"}
	}
	if it.partial {
		name += "<" + strconv.FormatInt(it.start, 10) + ">"
	}
	r, size, ok, err := d.section(sec)
	if err != nil {
		return err
	}
	if !ok {
		s.writef("%s NIL", name)
		return nil
	}
	if it.partial {
		off := min(it.start, size)
		n := min(it.count, size-off)
		if _, err := io.CopyN(io.Discard, r, off); err != nil {
			return fmt.Errorf("fetch UID %d: %w", d.m.UID, err)
		}
		r, size = io.LimitReader(r, n), n
	}
	s.writef("%s {%d}\r\n", name, size)
	if _, err := io.CopyN(s.bw, r, size); err != nil {
		return fmt.Errorf("fetch UID %d: %w", d.m.UID, err)
	}
	return nil
}

// section returns the bytes of a BODY section as the session sees them
// and their length; ok is false when the section does not exist.
func (d *msgData) section(sec section) (r io.Reader, size int64, ok bool, err error) {
	body, err := d.open()
	if err != nil {
		return nil, 0, false, fmt.Errorf("fetch body of UID %d: %w", d.m.UID, err)
	}
	var start, end int64
	if len(sec.path) == 0 && sec.specifier == "" {
		start, end = 0, body.Size()
	} else {
		st, err := d.structure()
		if err != nil {
			return nil, 0, false, fmt.Errorf("fetch section of UID %d: %w", d.m.UID, err)
		}
		if start, end, ok = sectionRange(st, sec); !ok {
			return nil, 0, false, nil
		}
	}
	end = min(end, body.Size())
	start = min(start, end)
	r, size = io.NewSectionReader(body, start, end-start), end-start
	if strings.HasPrefix(sec.specifier, "HEADER.FIELDS") {
		hdr, err := io.ReadAll(io.LimitReader(r, 8<<20))
		if err != nil {
			return nil, 0, false, fmt.Errorf("read header of UID %d: %w", d.m.UID, err)
		}
		hdr = filterHeader(hdr, sec.fields, sec.specifier == "HEADER.FIELDS.NOT")
		r, size = bytes.NewReader(hdr), int64(len(hdr))
	}
	return r, size, true, nil
}

// filterHeader keeps (or, with not, drops) the named fields of a header
// block and ends it with the empty line.
func filterHeader(hdr []byte, fields []string, not bool) []byte {
	want := func(line []byte) bool {
		i := bytes.IndexByte(line, ':')
		if i <= 0 {
			return false
		}
		name := strings.ToUpper(string(bytes.TrimRight(line[:i], " \t")))
		return slices.Contains(fields, name) != not
	}
	var out []byte
	keep := false
	for len(hdr) > 0 {
		i := bytes.IndexByte(hdr, '\n')
		var line []byte
		if i < 0 {
			line, hdr = hdr, nil
		} else {
			line, hdr = hdr[:i+1], hdr[i+1:]
		}
		trimmed := bytes.TrimRight(line, "\r\n")
		if len(trimmed) == 0 {
			break // the empty line that ends the header
		}
		if line[0] != ' ' && line[0] != '\t' {
			keep = want(trimmed)
		}
		if keep {
			out = append(out, trimmed...)
			out = append(out, '\r', '\n')
		}
	}
	return append(out, '\r', '\n')
}

// errReader turns decoding errors into the end of data, so that a broken
// encoding gives the same (truncated) bytes each time it is read.
type errReader struct{ r io.Reader }

func (e errReader) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	if err != nil && !errors.Is(err, io.EOF) {
		err = io.EOF
	}
	return n, err
}

// decoded returns a reader of a part's body with its transfer encoding
// removed; ok is false for an unknown encoding.
func decoded(body io.ReaderAt, p *mimeparse.Part) (io.Reader, bool) {
	raw := io.NewSectionReader(body, p.BodyStart, p.End-p.BodyStart)
	switch strings.ToLower(strings.TrimSpace(p.Encoding)) {
	case "", "7bit", "8bit", "binary":
		return raw, true
	case "base64":
		return errReader{base64.NewDecoder(base64.StdEncoding, bufio.NewReader(raw))}, true
	case "quoted-printable":
		return errReader{quotedprintable.NewReader(raw)}, true
	}
	return nil, false
}

// errNoSuchPart is writeBinary's word for a section the message does not
// have.
var errNoSuchPart = errors.New("no such message part")

// writeBinary writes BINARY[...] or BINARY.SIZE[...].
func (s *session) writeBinary(d *msgData, it fetchItem) error {
	body, err := d.open()
	if err != nil {
		return fmt.Errorf("fetch body of UID %d: %w", d.m.UID, err)
	}
	st, err := d.structure()
	if err != nil {
		return fmt.Errorf("fetch structure of UID %d: %w", d.m.UID, err)
	}
	open := func() (io.Reader, error) {
		var p *mimeparse.Part
		switch sec := it.sec; {
		case len(sec.path) == 0 && sec.specifier == "":
			return io.NewSectionReader(body, 0, body.Size()), nil
		case sec.specifier == "TEXT":
			// The body of the message (or of the attached one at
			// the part): decoded when it is a single part.
			p = st.Root
			if len(sec.path) > 0 {
				if p = st.FindPart(sec.path); p != nil {
					p = p.Embedded
				}
			}
			if p == nil || p.IsMultipart() {
				r, _, ok, err := d.section(sec)
				if err == nil && !ok {
					err = errNoSuchPart
				}
				return r, err
			}
		case sec.specifier != "":
			// Header blocks carry no transfer encoding.
			r, _, ok, err := d.section(sec)
			if err == nil && !ok {
				err = errNoSuchPart
			}
			return r, err
		default:
			p = st.FindPart(sec.path)
		}
		if p == nil {
			return nil, errNoSuchPart
		}
		if p.IsMultipart() {
			return nil, errNo("", "BINARY of a multipart is not allowed")
		}
		r, ok := decoded(body, p)
		if !ok {
			return nil, errNo("UNKNOWN-CTE", "Unknown content transfer encoding %q", p.Encoding)
		}
		return r, nil
	}
	r, err := open()
	if errors.Is(err, errNoSuchPart) {
		// As BODY[] of a part that does not exist: NIL (BINARY.SIZE
		// must be a number).
		if it.kind == fetchBinarySize {
			s.writef("BINARY.SIZE[%s] 0", it.sec.String())
		} else if it.partial {
			s.writef("BINARY[%s]<%d> NIL", it.sec.String(), it.start)
		} else {
			s.writef("BINARY[%s] NIL", it.sec.String())
		}
		return nil
	}
	if err != nil {
		return err
	}
	// Count (and look for NUL) first; then stream.
	cw := &countWriter{}
	if _, err := io.Copy(cw, r); err != nil {
		return fmt.Errorf("decode UID %d: %w", d.m.UID, err)
	}
	secName := "[" + it.sec.String() + "]"
	if it.kind == fetchBinarySize {
		s.writef("BINARY.SIZE%s %d", secName, cw.n)
		return nil
	}
	size := cw.n
	if r, err = open(); err != nil {
		return err
	}
	name := "BINARY" + secName
	if it.partial {
		name += "<" + strconv.FormatInt(it.start, 10) + ">"
		off := min(it.start, size)
		n := min(it.count, size-off)
		if _, err := io.CopyN(io.Discard, r, off); err != nil {
			return fmt.Errorf("fetch UID %d: %w", d.m.UID, err)
		}
		r, size = io.LimitReader(r, n), n
	}
	if cw.nul {
		s.writef("%s ~{%d}\r\n", name, size)
	} else {
		s.writef("%s {%d}\r\n", name, size)
	}
	if _, err := io.CopyN(s.bw, r, size); err != nil {
		return fmt.Errorf("fetch UID %d: %w", d.m.UID, err)
	}
	return nil
}

type countWriter struct {
	n   int64
	nul bool
}

func (c *countWriter) Write(p []byte) (int, error) {
	c.n += int64(len(p))
	if !c.nul && bytes.IndexByte(p, 0) >= 0 {
		c.nul = true
	}
	return len(p), nil
}
