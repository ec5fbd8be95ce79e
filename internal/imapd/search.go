package imapd

import (
	"bytes"
	"fmt"
	"io"
	"mime"
	"net/mail"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/emersion/go-message/charset"

	"github.com/pochta-mail/pochta/internal/mimeparse"
	"github.com/pochta-mail/pochta/internal/store"
)

// searchKey is one node of a parsed SEARCH.
type searchKey struct {
	op   string
	kids []*searchKey
	// Arguments, by op.
	field string // HEADER field name (upper case)
	str   string
	date  time.Time
	n     uint64
	set   seqSet
	// set of UIDs from the store's substring index (text keys).
	hits map[uint32]bool
}

// maxSearchDepth bounds nesting of NOT/OR/parentheses.
const maxSearchDepth = 100

// searchArgs is a parsed SEARCH command.
type searchArgs struct {
	ret    []string // RETURN options; nil when no RETURN was given
	esarch bool     // RETURN given
	// partial and update are the RFC 5267 RETURN options PARTIAL and
	// UPDATE.
	partial *partialRange
	update  bool
	key     *searchKey
}

func parseSearch(r *reader) (searchArgs, error) {
	var a searchArgs
	if err := r.sp(); err != nil {
		return a, err
	}
	save := r.pos
	kw, _ := r.keyword()
	if kw == "RETURN" {
		a.esarch = true
		if err := r.sp(); err != nil {
			return a, err
		}
		o, err := parseReturnOpts(r, "SEARCH")
		if err != nil {
			return a, err
		}
		a.ret, a.partial, a.update = o.ret, o.partial, o.update
		if err := r.sp(); err != nil {
			return a, err
		}
		save = r.pos
		kw, _ = r.keyword()
	}
	if kw == "CHARSET" {
		if err := r.sp(); err != nil {
			return a, err
		}
		cs, err := r.astring()
		if err != nil {
			return a, err
		}
		if !strings.EqualFold(cs, "UTF-8") && !strings.EqualFold(cs, "US-ASCII") {
			return a, errNo("BADCHARSET (UTF-8 US-ASCII)", "Unsupported charset %s", cs)
		}
		if err := r.sp(); err != nil {
			return a, err
		}
	} else {
		r.pos = save
	}
	root := &searchKey{op: "AND"}
	for {
		k, err := parseSearchKey(r, 0)
		if err != nil {
			return a, err
		}
		root.kids = append(root.kids, k)
		if !r.consume(' ') {
			break
		}
	}
	a.key = root
	return a, r.end()
}

func parseSearchKey(r *reader, depth int) (*searchKey, error) {
	if depth > maxSearchDepth {
		return nil, errSyntax("search too deeply nested")
	}
	if r.peek() == '(' {
		k := &searchKey{op: "AND"}
		err := r.list(false, func() error {
			kid, err := parseSearchKey(r, depth+1)
			k.kids = append(k.kids, kid)
			return err
		})
		return k, err
	}
	if c := r.peek(); c >= '0' && c <= '9' || c == '*' || c == '$' {
		set, err := r.seqSet()
		return &searchKey{op: "SEQ", set: set}, err
	}
	op, err := r.keyword()
	if err != nil {
		return nil, err
	}
	k := &searchKey{op: op}
	arg := func() error { return r.sp() }
	switch op {
	case "ALL", "ANSWERED", "DELETED", "DRAFT", "FLAGGED", "NEW", "OLD", "RECENT", "SEEN",
		"UNANSWERED", "UNDELETED", "UNDRAFT", "UNFLAGGED", "UNSEEN":
	case "BCC", "CC", "FROM", "SUBJECT", "TO", "BODY", "TEXT":
		if err := arg(); err != nil {
			return nil, err
		}
		k.str, err = r.astring()
	case "HEADER":
		if err := arg(); err != nil {
			return nil, err
		}
		if k.field, err = r.astring(); err != nil {
			return nil, err
		}
		k.field = strings.ToUpper(k.field)
		if err := arg(); err != nil {
			return nil, err
		}
		k.str, err = r.astring()
	case "BEFORE", "ON", "SINCE", "SENTBEFORE", "SENTON", "SENTSINCE":
		if err := arg(); err != nil {
			return nil, err
		}
		k.date, err = r.date()
	case "KEYWORD", "UNKEYWORD":
		if err := arg(); err != nil {
			return nil, err
		}
		k.str, err = r.flag(false)
	case "LARGER", "SMALLER", "YOUNGER", "OLDER":
		if err := arg(); err != nil {
			return nil, err
		}
		k.n, err = r.number64()
	case "UID":
		if err := arg(); err != nil {
			return nil, err
		}
		k.set, err = r.seqSet()
	case "MODSEQ":
		if err := arg(); err != nil {
			return nil, err
		}
		if r.peek() == '"' {
			// entry name and type: only flags' mod-sequences exist here.
			if _, err := r.quoted(); err != nil {
				return nil, err
			}
			if err := arg(); err != nil {
				return nil, err
			}
			if _, err := r.keyword(); err != nil {
				return nil, err
			}
			if err := arg(); err != nil {
				return nil, err
			}
		}
		k.n, err = r.number64()
	case "NOT":
		if err := arg(); err != nil {
			return nil, err
		}
		kid, err := parseSearchKey(r, depth+1)
		if err != nil {
			return nil, err
		}
		k.kids = []*searchKey{kid}
	case "OR":
		for range 2 {
			if err := arg(); err != nil {
				return nil, err
			}
			kid, err := parseSearchKey(r, depth+1)
			if err != nil {
				return nil, err
			}
			k.kids = append(k.kids, kid)
		}
	default:
		return nil, errSyntax("unknown search key %s", op)
	}
	return k, err
}

// headerFieldOf maps address/subject keys to their header field.
func headerFieldOf(op string) string {
	switch op {
	case "BCC", "CC", "FROM", "SUBJECT", "TO":
		return op
	}
	return ""
}

// evalCtx holds what evaluating one message has loaded.
type evalCtx struct {
	s      *session
	m      store.Message
	seq    int
	maxUID uint32
	n      int
	st     *mimeparse.Message
	header []byte
	now    time.Time
}

func (e *evalCtx) structure() *mimeparse.Message {
	if e.st == nil {
		st, err := e.s.srv.opts.Store.Structure(e.s.ctx, e.m)
		if err != nil || st == nil || st.Root == nil {
			st = &mimeparse.Message{Root: &mimeparse.Part{}}
		}
		e.st = st
	}
	return e.st
}

func (e *evalCtx) headerBytes() []byte {
	if e.header == nil {
		st := e.structure()
		e.header = []byte{}
		body, err := e.s.srv.opts.Store.OpenBody(e.s.ctx, e.m)
		if err != nil {
			return e.header
		}
		defer body.Close()
		end := min(st.Root.BodyStart, 8<<20)
		if end == 0 {
			end = min(body.Size(), 8<<20)
		}
		buf, _ := io.ReadAll(io.NewSectionReader(body, 0, end))
		e.header = buf
	}
	return e.header
}

var wordDecoder = &mime.WordDecoder{CharsetReader: charset.Reader}

// headerValues returns the decoded values of a header field.
func headerValues(hdr []byte, field string) []string {
	var out []string
	var cur []byte
	in := false
	flush := func() {
		if in {
			v := strings.TrimSpace(string(cur))
			if dec, err := wordDecoder.DecodeHeader(v); err == nil {
				v = dec
			}
			out = append(out, v)
		}
		cur, in = cur[:0], false
	}
	for len(hdr) > 0 {
		i := bytes.IndexByte(hdr, '\n')
		var line []byte
		if i < 0 {
			line, hdr = hdr, nil
		} else {
			line, hdr = hdr[:i], hdr[i+1:]
		}
		line = bytes.TrimRight(line, "\r")
		if len(line) == 0 {
			break
		}
		if line[0] == ' ' || line[0] == '\t' {
			if in {
				cur = append(cur, line...)
			}
			continue
		}
		flush()
		if c := bytes.IndexByte(line, ':'); c > 0 && strings.EqualFold(string(bytes.TrimRight(line[:c], " \t")), field) {
			in = true
			cur = append(cur, line[c+1:]...)
		}
	}
	flush()
	return out
}

func containsFold(s, sub string) bool {
	return strings.Contains(strings.ToLower(s), strings.ToLower(sub))
}

func sameDay(a, b time.Time) int {
	ay, am, ad := a.Date()
	by, bm, bd := b.Date()
	return time.Date(ay, am, ad, 0, 0, 0, 0, time.UTC).Compare(time.Date(by, bm, bd, 0, 0, 0, 0, time.UTC))
}

// eval evaluates a key against one message.
func (k *searchKey) eval(e *evalCtx) bool {
	m := e.m
	switch k.op {
	case "AND":
		for _, kid := range k.kids {
			if !kid.eval(e) {
				return false
			}
		}
		return true
	case "OR":
		return k.kids[0].eval(e) || k.kids[1].eval(e)
	case "NOT":
		return !k.kids[0].eval(e)
	case "ALL":
		return true
	case "ANSWERED":
		return m.HasFlag(store.FlagAnswered)
	case "DELETED":
		return m.HasFlag(store.FlagDeleted)
	case "DRAFT":
		return m.HasFlag(store.FlagDraft)
	case "FLAGGED":
		return m.HasFlag(store.FlagFlagged)
	case "SEEN":
		return m.HasFlag(store.FlagSeen)
	case "UNANSWERED":
		return !m.HasFlag(store.FlagAnswered)
	case "UNDELETED":
		return !m.HasFlag(store.FlagDeleted)
	case "UNDRAFT":
		return !m.HasFlag(store.FlagDraft)
	case "UNFLAGGED":
		return !m.HasFlag(store.FlagFlagged)
	case "UNSEEN":
		return !m.HasFlag(store.FlagSeen)
	case "RECENT":
		return e.s.isRecent(m.UID)
	case "NEW":
		return e.s.isRecent(m.UID) && !m.HasFlag(store.FlagSeen)
	case "OLD":
		return !e.s.isRecent(m.UID)
	case "KEYWORD":
		return m.HasFlag(k.str)
	case "UNKEYWORD":
		return !m.HasFlag(k.str)
	case "LARGER":
		return uint64(m.Size) > k.n
	case "SMALLER":
		return uint64(m.Size) < k.n
	case "YOUNGER":
		return e.now.Sub(m.InternalDate) <= time.Duration(k.n)*time.Second
	case "OLDER":
		return e.now.Sub(m.InternalDate) >= time.Duration(k.n)*time.Second
	case "MODSEQ":
		return m.ModSeq >= k.n
	case "UID":
		return k.set.contains(m.UID, e.maxUID)
	case "SEQ":
		if k.set.saved {
			return slices.Contains(e.s.sel.saved, m.UID)
		}
		return k.set.contains(uint32(e.seq), uint32(e.n))
	case "BEFORE":
		return sameDay(m.InternalDate, k.date) < 0
	case "ON":
		return sameDay(m.InternalDate, k.date) == 0
	case "SINCE":
		return sameDay(m.InternalDate, k.date) >= 0
	case "SENTBEFORE", "SENTON", "SENTSINCE":
		env := e.structure().Root.Envelope
		if env == nil || env.Date == "" {
			return false
		}
		d, err := mail.ParseDate(env.Date)
		if err != nil {
			return false
		}
		c := sameDay(d, k.date)
		switch k.op {
		case "SENTBEFORE":
			return c < 0
		case "SENTON":
			return c == 0
		}
		return c >= 0
	case "BODY", "TEXT":
		return k.hits[m.UID]
	case "BCC", "CC", "FROM", "SUBJECT", "TO", "HEADER":
		field := k.field
		if field == "" {
			field = headerFieldOf(k.op)
		}
		if k.hits != nil && !k.hits[m.UID] {
			return false
		}
		address := k.op != "HEADER" && k.op != "SUBJECT"
		for _, v := range headerValues(e.headerBytes(), field) {
			if containsFold(v, k.str) {
				return true
			}
			// Address keys also match the addresses as written without
			// comments and folding (as Dovecot does): "user@host" finds
			// "<user (c)@ (c) host>".
			if address && k.str != "" && containsFold(mimeparse.AddressText(v), k.str) {
				return true
			}
		}
		return false
	}
	return false
}

// prepare runs the index look-ups of text keys.
func (s *session) prepareSearch(k *searchKey) error {
	for _, kid := range k.kids {
		if err := s.prepareSearch(kid); err != nil {
			return err
		}
	}
	var field store.SearchField
	switch k.op {
	case "BODY":
		field = store.SearchBody
	case "TEXT":
		field = store.SearchText
	case "BCC", "CC", "FROM", "SUBJECT", "TO", "HEADER":
		if k.str == "" {
			return nil // presence of the field: checked message by message
		}
		field = store.SearchHeaders
	default:
		return nil
	}
	uids, err := s.srv.opts.Store.Search(s.ctx, s.sel.folder.ID, field, k.str)
	if err != nil {
		return fmt.Errorf("search: %w", err)
	}
	k.hits = make(map[uint32]bool, len(uids))
	for _, u := range uids {
		k.hits[u] = true
	}
	return nil
}

// candidates narrows the messages to look at: when the top-level AND has
// an indexed key, only its hits can match.
func candidates(root *searchKey) map[uint32]bool {
	var best map[uint32]bool
	for _, k := range root.kids {
		if k.hits != nil && (best == nil || len(k.hits) < len(best)) {
			best = k.hits
		}
	}
	return best
}

func (s *session) cmdSearch(tag string, uid bool) (string, error) {
	a, err := parseSearch(s.r)
	if err != nil {
		return "", err
	}
	if err := s.checkUpdateTag(tag, a.update); err != nil {
		return "", err
	}
	mb := s.sel
	if err := s.prepareSearch(a.key); err != nil {
		return "", err
	}
	usesModSeq := false
	var walk func(k *searchKey)
	walk = func(k *searchKey) {
		if k.op == "MODSEQ" {
			usesModSeq = true
		}
		for _, kid := range k.kids {
			walk(kid)
		}
	}
	walk(a.key)
	if usesModSeq {
		s.condstore = true
	}
	cand := candidates(a.key)
	var matchUIDs []uint32
	var matchSeqs []uint32
	// highest is the largest mod-sequence of the matches; firstMod and
	// lastMod are those of the first and last match (MIN and MAX).
	var highest, firstMod, lastMod uint64
	e := &evalCtx{s: s, n: len(mb.uids), now: time.Now()}
	if len(mb.uids) > 0 {
		e.maxUID = mb.uids[len(mb.uids)-1]
	}
	batch := make([]uint32, 0, 1000)
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		msgs, err := s.srv.opts.Store.MessagesByUID(s.ctx, mb.folder.ID, batch)
		if err != nil {
			return fmt.Errorf("search: %w", err)
		}
		for _, m := range msgs {
			seq := mb.seqOf(m.UID)
			if seq == 0 || mb.expunged[m.UID] {
				continue
			}
			e.m, e.seq, e.st, e.header = m, seq, nil, nil
			if a.key.eval(e) {
				matchUIDs = append(matchUIDs, m.UID)
				matchSeqs = append(matchSeqs, uint32(seq))
				highest = max(highest, m.ModSeq)
				if len(matchUIDs) == 1 {
					firstMod = m.ModSeq
				}
				lastMod = m.ModSeq
			}
		}
		batch = batch[:0]
		return nil
	}
	for _, u := range mb.uids {
		if cand != nil && !cand[u] {
			continue
		}
		batch = append(batch, u)
		if len(batch) == cap(batch) {
			if err := flush(); err != nil {
				return "", err
			}
		}
	}
	if err := flush(); err != nil {
		return "", err
	}
	results := matchSeqs
	if uid {
		results = matchUIDs
	}
	if !a.esarch && !s.rev2 {
		s.bw.Write(appendNumbersResponse(nil, "SEARCH", results, usesModSeq, highest))
		return "", nil
	}
	ret := a.ret
	if !a.esarch {
		ret = []string{"ALL"}
	}
	if slices.Contains(ret, "SAVE") {
		switch {
		case len(ret) == 1 || slices.Contains(ret, "ALL") || slices.Contains(ret, "COUNT"):
			mb.saved = slices.Clone(matchUIDs)
		default:
			mb.saved = nil
			if len(matchUIDs) > 0 {
				if slices.Contains(ret, "MIN") {
					mb.saved = append(mb.saved, matchUIDs[0])
				}
				if slices.Contains(ret, "MAX") && len(matchUIDs) > 1 {
					mb.saved = append(mb.saved, matchUIDs[len(matchUIDs)-1])
				}
			}
		}
		if len(ret) == 1 && a.partial == nil && !a.update {
			return "", nil
		}
	}
	var modseq uint64
	if usesModSeq {
		modseq = highest
		if !slices.Contains(ret, "ALL") && !slices.Contains(ret, "COUNT") && a.partial == nil {
			// Only MIN and/or MAX: the mod-sequence is the highest of the
			// messages returned (RFC 7162 section 3.1.5).
			modseq = 0
			if slices.Contains(ret, "MIN") {
				modseq = firstMod
			}
			if slices.Contains(ret, "MAX") {
				modseq = max(modseq, lastMod)
			}
		}
	}
	s.bw.Write(appendESearch(nil, tag, uid, ret, a.partial, results, func(b []byte, r []uint32) []byte { return append(b, formatUIDs(r)...) }, modseq))
	if a.update {
		s.startContext(&searchContext{tag: tag, uid: uid, key: a.key, uids: slices.Clone(matchUIDs)})
	}
	return "", nil
}

// appendNumbersResponse appends the untagged SEARCH or SORT response
// (name) listing results, with RFC 7162's (MODSEQ highest) when the
// search used MODSEQ and found something.
func appendNumbersResponse(b []byte, name string, results []uint32, withModSeq bool, highest uint64) []byte {
	b = append(append(b, "* "...), name...)
	for _, n := range results {
		b = append(b, ' ')
		b = strconv.AppendUint(b, uint64(n), 10)
	}
	if withModSeq && len(results) > 0 {
		b = append(b, " (MODSEQ "...)
		b = strconv.AppendUint(b, highest, 10)
		b = append(b, ')')
	}
	return append(b, "\r\n"...)
}

// appendESearch appends an ESEARCH response line (RFC 4731, and RFC 5267
// for ESORT) with the return options ret over results: MIN and MAX are
// the first and last of results, ALL is written by all. modseq, when not
// 0 and there are results, is the highest mod-sequence of the matches
// (RFC 7162). partial, when not nil, adds the PARTIAL data (RFC 5267).
func appendESearch(b []byte, tag string, uid bool, ret []string, partial *partialRange, results []uint32,
	all func([]byte, []uint32) []byte, modseq uint64) []byte {
	b = append(b, "* ESEARCH (TAG "...)
	b = append(b, quoteASCII(tag)...)
	b = append(b, ')')
	if uid {
		b = append(b, " UID"...)
	}
	for _, opt := range ret {
		switch opt {
		case "MIN":
			if len(results) > 0 {
				b = append(b, " MIN "...)
				b = strconv.AppendUint(b, uint64(results[0]), 10)
			}
		case "MAX":
			if len(results) > 0 {
				b = append(b, " MAX "...)
				b = strconv.AppendUint(b, uint64(results[len(results)-1]), 10)
			}
		case "COUNT":
			b = append(b, " COUNT "...)
			b = strconv.AppendInt(b, int64(len(results)), 10)
		case "ALL":
			if len(results) > 0 {
				b = append(b, " ALL "...)
				b = all(b, results)
			}
		}
	}
	if partial != nil {
		b = appendPartial(b, partial, results, all)
	}
	if modseq != 0 && len(results) > 0 {
		b = append(b, " MODSEQ "...)
		b = strconv.AppendUint(b, modseq, 10)
	}
	return append(b, "\r\n"...)
}
