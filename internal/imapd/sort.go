package imapd

import (
	"cmp"
	"fmt"
	"net/mail"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/pochta-mail/pochta/internal/mimeparse"
	"github.com/pochta-mail/pochta/internal/store"
)

// SORT (RFC 5256), SORT=DISPLAY (RFC 5957) and ESORT (RFC 5267).
//
// The sort keys come from the envelope cached at delivery (the store's
// Structures), never from the message file: one read of the structures
// of up to 1,000 matching messages at a time, then an in-memory sort.

// sortKey is the key of one sort criterion.
type sortKey int

const (
	sortArrival sortKey = iota
	sortCc
	sortDate
	sortFrom
	sortSize
	sortSubject
	sortTo
	sortDisplayFrom
	sortDisplayTo
)

// sortCriterion is one element of the sort program.
type sortCriterion struct {
	key     sortKey
	reverse bool
}

// parseSortKey maps a sort-key atom (upper case) to its key.
func parseSortKey(kw string) (sortKey, bool) {
	switch kw {
	case "ARRIVAL":
		return sortArrival, true
	case "CC":
		return sortCc, true
	case "DATE":
		return sortDate, true
	case "FROM":
		return sortFrom, true
	case "SIZE":
		return sortSize, true
	case "SUBJECT":
		return sortSubject, true
	case "TO":
		return sortTo, true
	case "DISPLAYFROM":
		return sortDisplayFrom, true
	case "DISPLAYTO":
		return sortDisplayTo, true
	}
	return 0, false
}

// sortArgs is a parsed SORT command.
type sortArgs struct {
	// ret holds the ESORT RETURN options; esort is set when RETURN was
	// given.
	ret      []string
	esort    bool
	partial  *partialRange // RETURN (PARTIAL ...), RFC 5267
	update   bool          // RETURN (UPDATE), RFC 5267
	criteria []sortCriterion
	key      *searchKey
}

// maxSortCriteria bounds the sort program (there are nine keys; a
// longer list only repeats them).
const maxSortCriteria = 32

// parseSort reads the arguments of SORT:
//
//	SP [ "RETURN" SP "(" [opt *(SP opt)] ")" SP ] "(" criteria ")" SP charset SP keys
func parseSort(r *reader) (sortArgs, error) {
	var a sortArgs
	if err := r.sp(); err != nil {
		return a, err
	}
	if r.peek() != '(' {
		kw, err := r.keyword()
		if err != nil {
			return a, err
		}
		if kw != "RETURN" {
			return a, errSyntax("expected sort criteria or RETURN, got %s", kw)
		}
		if err := r.sp(); err != nil {
			return a, err
		}
		a.esort = true
		o, err := parseReturnOpts(r, "SORT")
		if err != nil {
			return a, err
		}
		a.ret, a.partial, a.update = o.ret, o.partial, o.update
		if err := r.sp(); err != nil {
			return a, err
		}
	}
	if err := r.list(false, func() error {
		if len(a.criteria) >= maxSortCriteria {
			return errSyntax("too many sort criteria")
		}
		kw, err := r.keyword()
		if err != nil {
			return err
		}
		c := sortCriterion{}
		if kw == "REVERSE" {
			c.reverse = true
			if err := r.sp(); err != nil {
				return err
			}
			if kw, err = r.keyword(); err != nil {
				return err
			}
		}
		k, ok := parseSortKey(kw)
		if !ok {
			return errSyntax("unknown sort key %s", kw)
		}
		c.key = k
		a.criteria = append(a.criteria, c)
		return nil
	}); err != nil {
		return a, err
	}
	if err := r.sp(); err != nil {
		return a, err
	}
	if err := parseCharset(r); err != nil {
		return a, err
	}
	if !a.esort {
		// Dovecot also takes RETURN after the charset, as in
		// "SORT (ARRIVAL) US-ASCII RETURN (PARTIAL 1:10) ALL".
		save := r.pos
		if kw, _ := r.keyword(); kw == "RETURN" {
			if err := r.sp(); err != nil {
				return a, err
			}
			o, err := parseReturnOpts(r, "SORT")
			if err != nil {
				return a, err
			}
			a.esort = true
			a.ret, a.partial, a.update = o.ret, o.partial, o.update
			if err := r.sp(); err != nil {
				return a, err
			}
		} else {
			r.pos = save
		}
	}
	key, err := parseKeys(r)
	if err != nil {
		return a, err
	}
	a.key = key
	return a, r.end()
}

// parseCharsetKeys reads "charset SP search-key *(SP search-key)", the
// search part of SORT and THREAD (where the charset is not optional).
func parseCharsetKeys(r *reader) (*searchKey, error) {
	if err := parseCharset(r); err != nil {
		return nil, err
	}
	return parseKeys(r)
}

// parseCharset reads "charset SP".
func parseCharset(r *reader) error {
	cs, err := r.astring()
	if err != nil {
		return err
	}
	if !strings.EqualFold(cs, "UTF-8") && !strings.EqualFold(cs, "US-ASCII") {
		return errNo("BADCHARSET (UTF-8 US-ASCII)", "Unsupported charset %s", cs)
	}
	return r.sp()
}

// parseKeys reads "search-key *(SP search-key)" as one AND.
func parseKeys(r *reader) (*searchKey, error) {
	root := &searchKey{op: "AND"}
	for {
		k, err := parseSearchKey(r, 0)
		if err != nil {
			return nil, err
		}
		root.kids = append(root.kids, k)
		if !r.consume(' ') {
			return root, nil
		}
	}
}

// sortMsg is what SORT and THREAD keep of one matching message: only
// the keys, so a large result costs little memory.
type sortMsg struct {
	seq     uint32
	uid     uint32
	modseq  uint64
	size    int64
	arrival time.Time
	// sent is the Date field's time, or the internal date when there is
	// no usable Date field (RFC 5256 §2.2).
	sent time.Time
	// subject is the base subject (RFC 5256 §2.1), case-mapped; reply
	// is set when extracting it removed a reply or forward marker.
	subject string
	reply   bool
	// Case-mapped address keys.
	from, to, cc           string
	displayFrom, displayTo string
	msgID                  string   // THREAD: the Message-ID, "" if none
	refs                   []string // THREAD: the references, oldest first
}

// usesModSeq reports whether a search program has a MODSEQ key.
func usesModSeq(k *searchKey) bool {
	if k.op == "MODSEQ" {
		return true
	}
	for _, kid := range k.kids {
		if usesModSeq(kid) {
			return true
		}
	}
	return false
}

// envNeeds says which envelope-derived keys collect fills.
type envNeeds struct {
	subject, date, addresses, threading bool
}

func (n envNeeds) any() bool { return n.subject || n.date || n.addresses || n.threading }

// collect evaluates a search program over the selected mailbox and
// returns the matching messages in sequence order with the keys asked
// for filled in.
func (s *session) collect(key *searchKey, need envNeeds) ([]sortMsg, error) {
	mb := s.sel
	if err := s.prepareSearch(key); err != nil {
		return nil, err
	}
	cand := candidates(key)
	var out []sortMsg
	e := &evalCtx{s: s, n: len(mb.uids), now: time.Now()}
	if len(mb.uids) > 0 {
		e.maxUID = mb.uids[len(mb.uids)-1]
	}
	batch := make([]uint32, 0, 1000)
	var seqs []int
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		msgs, err := s.srv.opts.Store.MessagesByUID(s.ctx, mb.folder.ID, batch)
		if err != nil {
			return fmt.Errorf("sort: %w", err)
		}
		// The search key first, then the envelopes of the matches in one
		// read.
		matched, seqs := msgs[:0], seqs[:0]
		for _, m := range msgs {
			seq := mb.seqOf(m.UID)
			if seq == 0 || mb.expunged[m.UID] {
				continue
			}
			e.m, e.seq, e.st, e.header = m, seq, nil, nil
			if !key.eval(e) {
				continue
			}
			matched, seqs = append(matched, m), append(seqs, seq)
		}
		var sts map[int64]*mimeparse.Message
		if need.any() && len(matched) > 0 {
			if sts, err = s.srv.opts.Store.Structures(s.ctx, matched); err != nil {
				return fmt.Errorf("sort: %w", err)
			}
		}
		for i, m := range matched {
			sm := sortMsg{seq: uint32(seqs[i]), uid: m.UID, modseq: m.ModSeq, size: m.Size, arrival: m.InternalDate, sent: m.InternalDate}
			if need.any() {
				st := sts[m.BodyID]
				if st == nil || st.Root == nil {
					e.m, e.st, e.header = m, nil, nil
					st = e.structure()
				}
				env := st.Root.Envelope
				if env == nil {
					env = &mimeparse.Envelope{}
				}
				fillSortMsg(&sm, env, m, need)
			}
			out = append(out, sm)
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
				return nil, err
			}
		}
	}
	if err := flush(); err != nil {
		return nil, err
	}
	return out, nil
}

// fillSortMsg sets the envelope-derived keys of sm.
func fillSortMsg(sm *sortMsg, env *mimeparse.Envelope, m store.Message, need envNeeds) {
	if need.date || need.threading {
		sm.sent = sentDate(env.Date, m.InternalDate)
	}
	if need.subject || need.threading {
		base, reply := baseSubject(env.Subject)
		sm.subject, sm.reply = casemap(base), reply
	}
	if need.addresses {
		sm.from = addrKey(env.From)
		sm.to = addrKey(env.To)
		sm.cc = addrKey(env.Cc)
		sm.displayFrom = displayKey(env.From)
		sm.displayTo = displayKey(env.To)
	}
	if need.threading {
		sm.msgID = firstMsgID(env.MessageID)
		sm.refs = msgIDs(env.References, maxReferences)
		if len(sm.refs) == 0 {
			if id := firstMsgID(env.InReplyTo); id != "" {
				sm.refs = []string{id}
			}
		}
	}
}

// sentDate is the time of a Date field, or fallback when it is missing
// or cannot be parsed.
func sentDate(field string, fallback time.Time) time.Time {
	if field == "" {
		return fallback
	}
	t, err := mail.ParseDate(field)
	if err != nil {
		return fallback
	}
	return t
}

// casemap applies the i;ascii-casemap collation: ASCII letters are
// compared as upper case, every other byte as itself.
func casemap(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= 'a' && c <= 'z' {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				if b[j] >= 'a' && b[j] <= 'z' {
					b[j] -= 'a' - 'A'
				}
			}
			return string(b)
		}
	}
	return s
}

// firstAddress returns the first real address of a list (group markers
// skipped).
func firstAddress(list []mimeparse.Address) (mimeparse.Address, bool) {
	for _, a := range list {
		if !a.GroupStart && !a.GroupEnd {
			return a, true
		}
	}
	return mimeparse.Address{}, false
}

// addrKey is the FROM/TO/CC sort key: the mailbox (local part) of the
// first address (RFC 5256 §3).
func addrKey(list []mimeparse.Address) string {
	a, ok := firstAddress(list)
	if !ok {
		return ""
	}
	return casemap(a.Mailbox)
}

// displayKey is the DISPLAYFROM/DISPLAYTO sort key (RFC 5957): the
// decoded display name of the first address, or its addr-spec when the
// name is absent or empty.
func displayKey(list []mimeparse.Address) string {
	a, ok := firstAddress(list)
	if !ok {
		return ""
	}
	name := a.Name
	if dec, err := wordDecoder.DecodeHeader(name); err == nil {
		name = dec
	}
	if name = strings.TrimSpace(name); name != "" {
		return casemap(name)
	}
	if a.Host == "" {
		return casemap(a.Mailbox)
	}
	return casemap(a.Mailbox + "@" + a.Host)
}

// compareSort orders two messages by a sort program; ties go by
// sequence number (RFC 5256 §3).
func compareSort(a, b *sortMsg, crit []sortCriterion) int {
	for _, c := range crit {
		var r int
		switch c.key {
		case sortArrival:
			r = a.arrival.Compare(b.arrival)
		case sortCc:
			r = strings.Compare(a.cc, b.cc)
		case sortDate:
			r = a.sent.Compare(b.sent)
		case sortFrom:
			r = strings.Compare(a.from, b.from)
		case sortSize:
			r = cmp.Compare(a.size, b.size)
		case sortSubject:
			r = strings.Compare(a.subject, b.subject)
		case sortTo:
			r = strings.Compare(a.to, b.to)
		case sortDisplayFrom:
			r = strings.Compare(a.displayFrom, b.displayFrom)
		case sortDisplayTo:
			r = strings.Compare(a.displayTo, b.displayTo)
		}
		if c.reverse {
			r = -r
		}
		if r != 0 {
			return r
		}
	}
	return cmp.Compare(a.seq, b.seq)
}

func (s *session) cmdSort(tag string, uid bool) (string, error) {
	a, err := parseSort(s.r)
	if err != nil {
		return "", err
	}
	if err := s.checkUpdateTag(tag, a.update); err != nil {
		return "", err
	}
	var need envNeeds
	for _, c := range a.criteria {
		switch c.key {
		case sortSubject:
			need.subject = true
		case sortDate:
			need.date = true
		case sortCc, sortFrom, sortTo, sortDisplayFrom, sortDisplayTo:
			need.addresses = true
		}
	}
	modseq := usesModSeq(a.key)
	if modseq {
		s.condstore = true
	}
	msgs, err := s.collect(a.key, need)
	if err != nil {
		return "", err
	}
	slices.SortFunc(msgs, func(x, y sortMsg) int { return compareSort(&x, &y, a.criteria) })
	var highest uint64
	results := make([]uint32, len(msgs))
	for i := range msgs {
		highest = max(highest, msgs[i].modseq)
		if uid {
			results[i] = msgs[i].uid
		} else {
			results[i] = msgs[i].seq
		}
	}
	if !a.esort {
		s.bw.Write(appendNumbersResponse(nil, "SORT", results, modseq, highest))
		return "", nil
	}
	if slices.Contains(a.ret, "SAVE") {
		s.sel.saved = savedSortResult(msgs, a.ret)
		if len(a.ret) == 1 && a.partial == nil && !a.update {
			return "", nil
		}
	}
	var hm uint64
	if modseq {
		hm = highest
	}
	s.bw.Write(appendESearch(nil, tag, uid, a.ret, a.partial, results, appendOrderedSet, hm))
	if a.update {
		uids := make([]uint32, len(msgs))
		for i := range msgs {
			uids[i] = msgs[i].uid
		}
		s.startContext(&searchContext{tag: tag, uid: uid, sorted: true, criteria: a.criteria, need: need, key: a.key, uids: uids})
	}
	return "", nil
}

// savedSortResult is what RETURN (... SAVE) keeps as "$" (RFC 5182): all
// matches, or only the MIN/MAX ones when those are the only other
// options. The saved result is a set, kept as ascending UIDs.
func savedSortResult(msgs []sortMsg, ret []string) []uint32 {
	var uids []uint32
	switch {
	case len(ret) == 1 || slices.Contains(ret, "ALL") || slices.Contains(ret, "COUNT"):
		for _, m := range msgs {
			uids = append(uids, m.uid)
		}
	case len(msgs) > 0:
		if slices.Contains(ret, "MIN") {
			uids = append(uids, msgs[0].uid)
		}
		if slices.Contains(ret, "MAX") && len(msgs) > 1 {
			uids = append(uids, msgs[len(msgs)-1].uid)
		}
	}
	slices.Sort(uids)
	return slices.Compact(uids)
}

// appendOrderedSet appends numbers in their given order as a sequence
// set: ascending runs of consecutive numbers become ranges, everything
// else is separated by commas, so the order survives (RFC 5267 §3.2).
func appendOrderedSet(b []byte, nums []uint32) []byte {
	for i := 0; i < len(nums); {
		j := i
		for j+1 < len(nums) && nums[j+1] == nums[j]+1 {
			j++
		}
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendUint(b, uint64(nums[i]), 10)
		if j > i {
			b = append(b, ':')
			b = strconv.AppendUint(b, uint64(nums[j]), 10)
		}
		i = j + 1
	}
	return b
}

// baseSubject extracts the base subject of a raw Subject field (RFC 5256
// §2.1). reply reports whether a reply or forward marker ("Re:", "Fwd:",
// "(fwd)", "[fwd: ...]") was removed, which THREAD=REFERENCES uses when
// merging threads by subject. Comparisons of the markers are
// case-insensitive; the result keeps the original case.
func baseSubject(raw string) (base string, reply bool) {
	// (1) Decode encoded-words; turn tabs and continuations into spaces
	// and runs of spaces into one.
	s := raw
	if dec, err := wordDecoder.DecodeHeader(raw); err == nil {
		s = dec
	}
	s = packSpace(s)
	for {
		// (2) Remove trailers: "(fwd)" and white space.
		for {
			if strings.HasSuffix(s, " ") {
				s = s[:len(s)-1]
			} else if len(s) >= 5 && strings.EqualFold(s[len(s)-5:], "(fwd)") {
				s = s[:len(s)-5]
				reply = true
			} else {
				break
			}
		}
		// (3)-(5) Remove leaders and leading blobs until nothing changes.
		for {
			found := false
			if rest, refwd, ok := trimLeader(s); ok {
				s, found = rest, true
				reply = reply || refwd
			}
			if rest, ok := trimBlob(s); ok && rest != "" {
				s, found = rest, true
			}
			if !found {
				break
			}
		}
		// (6) "[fwd: ...]" around the whole text: unwrap and start over.
		if len(s) >= 6 && strings.EqualFold(s[:5], "[fwd:") && s[len(s)-1] == ']' {
			s = s[5 : len(s)-1]
			reply = true
			continue
		}
		return s, reply
	}
}

// packSpace turns tabs, CR and LF into spaces and runs of spaces into
// one.
func packSpace(s string) string {
	if !strings.ContainsAny(s, "\t\r\n") && !strings.Contains(s, "  ") {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	space := false
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case ' ', '\t', '\r', '\n':
			if !space {
				b.WriteByte(' ')
			}
			space = true
		default:
			b.WriteByte(c)
			space = false
		}
	}
	return b.String()
}

// trimBlob removes a subj-blob ("[" *BLOBCHAR "]" *WSP) from the start
// of s.
func trimBlob(s string) (string, bool) {
	if !strings.HasPrefix(s, "[") {
		return s, false
	}
	end := strings.IndexAny(s[1:], "[]")
	if end < 0 || s[1+end] != ']' {
		return s, false
	}
	return strings.TrimLeft(s[end+2:], " "), true
}

// trimLeader removes a subj-leader from the start of s: a space, or
// *subj-blob subj-refwd where subj-refwd is ("re" / "fw" / "fwd") *WSP
// [subj-blob] ":". refwd reports the second form.
func trimLeader(s string) (rest string, refwd, ok bool) {
	if strings.HasPrefix(s, " ") {
		return s[1:], false, true
	}
	p := s
	for strings.HasPrefix(p, "[") {
		var ok bool
		if p, ok = trimBlob(p); !ok {
			return s, false, false
		}
	}
	switch {
	case hasPrefixFold(p, "re"):
		p = p[2:]
	case hasPrefixFold(p, "fwd"):
		p = p[3:]
	case hasPrefixFold(p, "fw"):
		p = p[2:]
	default:
		return s, false, false
	}
	p = strings.TrimLeft(p, " ")
	if strings.HasPrefix(p, "[") {
		var ok bool
		if p, ok = trimBlob(p); !ok {
			return s, false, false
		}
	}
	if !strings.HasPrefix(p, ":") {
		return s, false, false
	}
	return p[1:], true, true
}

func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}
