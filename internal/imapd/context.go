package imapd

import (
	"fmt"
	"slices"
	"strconv"
)

// CONTEXT=SEARCH and CONTEXT=SORT (RFC 5267): the RETURN options PARTIAL
// and UPDATE, and CANCELUPDATE.
//
// An UPDATE context keeps the result of one SEARCH or SORT as UIDs. When
// the selected folder changed (its mod-sequence moved on), each context
// is evaluated again at the next moment untagged responses are allowed
// and the difference is sent as ADDTO and REMOVEFROM; expunges remove
// their messages from the contexts just before EXPUNGE or VANISHED is
// sent, with the numbers still valid.

// maxUpdateContexts bounds the live UPDATE contexts of one session.
const maxUpdateContexts = 10

// partialRange is the range of PARTIAL: positions lo to hi (1-based,
// lo <= hi) from the start of the result, or from its end when last is
// set (RFC 9394's -lo:-hi).
type partialRange struct {
	lo, hi uint32
	last   bool
}

// retOpts are the RETURN options of SEARCH and SORT.
type retOpts struct {
	// ret holds MIN, MAX, ALL, COUNT and SAVE, each once.
	ret     []string
	partial *partialRange
	update  bool
}

// parseReturnOpts reads the parenthesised list after RETURN. An empty
// list means ALL (RFC 4731).
func parseReturnOpts(r *reader, what string) (retOpts, error) {
	var o retOpts
	given := 0
	err := r.list(true, func() error {
		given++
		opt, err := r.keyword()
		if err != nil {
			return err
		}
		switch opt {
		case "MIN", "MAX", "ALL", "COUNT", "SAVE":
			if !slices.Contains(o.ret, opt) {
				o.ret = append(o.ret, opt)
			}
		case "UPDATE":
			o.update = true
		case "CONTEXT":
			// A hint that more requests on the result follow.
		case "PARTIAL":
			if err := r.sp(); err != nil {
				return err
			}
			p, err := parsePartialRange(r)
			if err != nil {
				return err
			}
			o.partial = &p
		default:
			return errSyntax("unknown %s RETURN option %s", what, opt)
		}
		return nil
	})
	if err != nil {
		return o, err
	}
	if o.partial != nil && slices.Contains(o.ret, "ALL") {
		return o, errSyntax("RETURN PARTIAL and ALL cannot be combined")
	}
	if given == 0 {
		o.ret = []string{"ALL"}
	}
	return o, nil
}

// parsePartialRange reads "n:m" or "-n:-m" (non-zero numbers).
func parsePartialRange(r *reader) (partialRange, error) {
	var p partialRange
	neg := r.consume('-')
	a, err := r.number()
	if err != nil {
		return p, err
	}
	if err := r.expect(':'); err != nil {
		return p, err
	}
	if r.consume('-') != neg {
		return p, errSyntax("PARTIAL range must have both ends from the start or both from the end")
	}
	b, err := r.number()
	if err != nil {
		return p, err
	}
	if a == 0 || b == 0 {
		return p, errSyntax("PARTIAL range positions start at 1")
	}
	p.lo, p.hi, p.last = min(a, b), max(a, b), neg
	return p, nil
}

// apply returns the part of results the range selects.
func (p *partialRange) apply(results []uint32) []uint32 {
	n := uint64(len(results))
	lo, hi := uint64(p.lo), uint64(p.hi)
	if p.last {
		if lo > n {
			return nil
		}
		start := uint64(0)
		if hi < n {
			start = n - hi
		}
		return results[start : n-lo+1]
	}
	if lo > n {
		return nil
	}
	return results[lo-1 : min(hi, n)]
}

// appendPartial appends " PARTIAL (range set)" for the results.
func appendPartial(b []byte, p *partialRange, results []uint32, all func([]byte, []uint32) []byte) []byte {
	b = append(b, " PARTIAL ("...)
	if p.last {
		b = append(b, '-')
	}
	b = strconv.AppendUint(b, uint64(p.lo), 10)
	b = append(b, ':')
	if p.last {
		b = append(b, '-')
	}
	b = strconv.AppendUint(b, uint64(p.hi), 10)
	b = append(b, ' ')
	if part := p.apply(results); len(part) > 0 {
		b = all(b, part)
	} else {
		b = append(b, "NIL"...)
	}
	return append(b, ')')
}

// searchContext is a SEARCH or SORT result kept up to date.
type searchContext struct {
	tag      string
	uid      bool
	sorted   bool
	criteria []sortCriterion
	need     envNeeds
	key      *searchKey
	// uids is the result as UIDs, in result order (ascending for SEARCH).
	uids []uint32
}

// usesSeqNumbers reports whether a search program has a sequence set
// or "$": their meaning moves as messages come and go.
func usesSeqNumbers(k *searchKey) bool {
	if k.op == "SEQ" {
		return true
	}
	for _, kid := range k.kids {
		if usesSeqNumbers(kid) {
			return true
		}
	}
	return false
}

// checkUpdateTag refuses a search with UPDATE whose tag names a context
// that is still kept up to date: the notifications could not be told
// apart (RFC 5267 §4.3 asks for BAD).
func (s *session) checkUpdateTag(tag string, update bool) error {
	if !update || s.sel == nil {
		return nil
	}
	if slices.ContainsFunc(s.sel.contexts, func(c *searchContext) bool { return c.tag == tag }) {
		return errSyntax("Tag reuse: tag %s names a search kept up to date; CANCELUPDATE it or use another tag", tag)
	}
	return nil
}

// startContext keeps the result of the command tagged tag up to date if
// it can, or says NOUPDATE why not. c.uids is the whole result in result
// order: UPDATE does not interact with the other return options (RFC 5267
// §4.1), so a search answered with PARTIAL, MIN, MAX or COUNT is followed
// by notifications about all of its matches.
func (s *session) startContext(c *searchContext) {
	mb := s.sel
	why := ""
	switch {
	case usesSeqNumbers(c.key):
		why = "UPDATE is not kept for searches by sequence number or $"
	case len(mb.contexts) >= maxUpdateContexts:
		why = fmt.Sprintf("Too many searches kept up to date (at most %d); CANCELUPDATE one first", maxUpdateContexts)
	}
	if why != "" {
		s.writef("* NO [NOUPDATE %s] %s\r\n", quoteASCII(c.tag), why)
		return
	}
	if len(mb.contexts) == 0 {
		mb.ctxModSeq = mb.modseq
	}
	mb.contexts = append(mb.contexts, c)
}

func cmdCancelUpdate(s *session, tag string) (string, error) {
	var tags []string
	for {
		if err := s.r.sp(); err != nil {
			return "", err
		}
		t, err := s.r.quoted()
		if err != nil {
			return "", err
		}
		tags = append(tags, t)
		if s.r.atEnd() {
			break
		}
	}
	mb := s.sel
	mb.contexts = slices.DeleteFunc(mb.contexts, func(c *searchContext) bool { return slices.Contains(tags, c.tag) })
	return "", nil
}

// updateContexts evaluates the contexts again when the folder changed
// and sends what entered and left each result.
func (s *session) updateContexts() error {
	mb := s.sel
	if mb == nil || len(mb.contexts) == 0 || mb.modseq <= mb.ctxModSeq {
		return nil
	}
	mb.ctxModSeq = mb.modseq
	for _, c := range mb.contexts {
		msgs, err := s.collect(c.key, c.need)
		if err != nil {
			return fmt.Errorf("update search context: %w", err)
		}
		if c.sorted {
			slices.SortFunc(msgs, func(x, y sortMsg) int { return compareSort(&x, &y, c.criteria) })
		}
		uids := make([]uint32, len(msgs))
		for i := range msgs {
			uids[i] = msgs[i].uid
		}
		s.sendContextDiff(c, uids)
	}
	return nil
}

// contextsExpunge takes the messages about to be announced as expunged
// out of the contexts, while their sequence numbers are still valid.
func (s *session) contextsExpunge() {
	mb := s.sel
	for _, c := range mb.contexts {
		if !slices.ContainsFunc(c.uids, func(u uint32) bool { return mb.expunged[u] }) {
			continue
		}
		kept := slices.DeleteFunc(slices.Clone(c.uids), func(u uint32) bool { return mb.expunged[u] })
		s.sendContextDiff(c, kept)
	}
}

// sendContextDiff sends REMOVEFROM and ADDTO that turn c's result into
// next, then keeps next. The relative order of messages in both stays
// the same (sort keys do not change), so removals are runs of the old
// list at their position after the runs before them are gone, and
// additions runs of the new list at their final positions. SEARCH
// results are unordered sets: position 0.
func (s *session) sendContextDiff(c *searchContext, next []uint32) {
	inNext := make(map[uint32]bool, len(next))
	for _, u := range next {
		inNext[u] = true
	}
	inOld := make(map[uint32]bool, len(c.uids))
	for _, u := range c.uids {
		inOld[u] = true
	}
	s.sendRuns(c, "REMOVEFROM", c.uids, func(u uint32) bool { return !inNext[u] }, true)
	s.sendRuns(c, "ADDTO", next, func(u uint32) bool { return !inOld[u] }, false)
	c.uids = next
}

// sendRuns writes one ESEARCH response per run of list members that
// changed. When removing, the position counts only the members kept so
// far.
func (s *session) sendRuns(c *searchContext, item string, list []uint32, changed func(uint32) bool, removing bool) {
	var run []uint32
	pos, start := 1, 0
	flush := func() {
		if len(run) == 0 {
			return
		}
		nums := make([]uint32, 0, len(run))
		for _, u := range run {
			if c.uid {
				nums = append(nums, u)
			} else if seq := s.sel.seqOf(u); seq > 0 {
				nums = append(nums, uint32(seq))
			}
		}
		run = run[:0]
		if len(nums) == 0 {
			return
		}
		b := []byte("* ESEARCH (TAG ")
		b = append(b, quoteASCII(c.tag)...)
		b = append(b, ')')
		if c.uid {
			b = append(b, " UID"...)
		}
		b = append(b, ' ')
		b = append(b, item...)
		b = append(b, " ("...)
		if c.sorted {
			b = strconv.AppendInt(b, int64(start), 10)
			b = append(b, ' ')
			b = appendOrderedSet(b, nums)
		} else {
			b = append(b, "0 "...)
			b = append(b, formatUIDs(nums)...)
		}
		s.bw.Write(append(b, ")\r\n"...))
	}
	for _, u := range list {
		if changed(u) {
			if len(run) == 0 {
				start = pos
			}
			run = append(run, u)
			if !removing {
				pos++
			}
			continue
		}
		if c.sorted {
			flush()
		}
		pos++
	}
	flush()
}
