package imapd

import (
	"cmp"
	"slices"
	"strconv"
	"strings"
)

// THREAD=ORDEREDSUBJECT and THREAD=REFERENCES (RFC 5256 §3).

// maxReferences bounds the references of one message that threading
// looks at. Longer lists keep their first entry and the newest ones: that
// is what RFC 5322 §3.6.4 suggests writers trim to, and it keeps a
// hostile References field from making the linking step quadratic.
const maxReferences = 256

// threadNode is a message, or a dummy standing for a referenced message
// that is not in the result, in a thread tree.
type threadNode struct {
	msg    *sortMsg // nil for a dummy
	parent *threadNode
	kids   []*threadNode
}

// rep is the message that stands for a node when sorting and when
// taking its subject: the node's own message or, for a dummy, its first
// child's (a dummy always has children when this is asked).
func (n *threadNode) rep() *sortMsg {
	for n.msg == nil {
		n = n.kids[0]
	}
	return n.msg
}

// compareThreadNodes orders siblings by sent date, then sequence number.
func compareThreadNodes(a, b *threadNode) int {
	ma, mb := a.rep(), b.rep()
	if c := ma.sent.Compare(mb.sent); c != 0 {
		return c
	}
	return cmp.Compare(ma.seq, mb.seq)
}

// isAncestor reports whether a is n or one of n's ancestors.
func isAncestor(a, n *threadNode) bool {
	if len(a.kids) == 0 {
		return a == n
	}
	for ; n != nil; n = n.parent {
		if n == a {
			return true
		}
	}
	return false
}

func (n *threadNode) setParent(p *threadNode) {
	n.parent = p
	p.kids = append(p.kids, n)
}

func (n *threadNode) unlink() {
	p := n.parent
	if p == nil {
		return
	}
	if i := slices.Index(p.kids, n); i >= 0 {
		p.kids = slices.Delete(p.kids, i, i+1)
	}
	n.parent = nil
}

// threadReferences threads messages (in sequence order) by the
// REFERENCES algorithm of RFC 5256 §3 and returns the top-level threads
// in presentation order.
func threadReferences(msgs []sortMsg) []*threadNode {
	table := make(map[string]*threadNode, len(msgs))
	all := make([]*threadNode, 0, len(msgs))
	get := func(id string) *threadNode {
		if n := table[id]; n != nil {
			return n
		}
		n := &threadNode{}
		table[id] = n
		all = append(all, n)
		return n
	}
	// (1) Link messages by their references.
	for i := range msgs {
		m := &msgs[i]
		var c *threadNode
		if m.msgID != "" {
			if n := table[m.msgID]; n == nil || n.msg == nil {
				c = get(m.msgID)
			}
		}
		if c == nil {
			// No Message-ID, or one already used by an earlier message:
			// a unique ID of its own.
			c = &threadNode{}
			all = append(all, c)
		}
		c.msg = m
		// (1A) Each reference is the parent of the next, unless it
		// already has a parent or the link would make a loop.
		var prev *threadNode
		for _, id := range m.refs {
			r := get(id)
			if prev != nil && r.parent == nil && !isAncestor(r, prev) {
				r.setParent(prev)
			}
			prev = r
		}
		// (1B) The last reference is the message's parent; the message
		// knows best, so an existing parent link is broken first.
		if c.parent != nil && c.parent != prev {
			c.unlink()
		}
		if prev != nil && c.parent == nil && !isAncestor(c, prev) {
			c.setParent(prev)
		}
	}
	// (2) The root set: everything without a parent.
	var roots []*threadNode
	for _, n := range all {
		if n.parent == nil {
			roots = append(roots, n)
		}
	}
	// (3) Prune dummies.
	roots = pruneDummies(roots, nil)
	// (4) Sort the root set by sent date (a dummy by its oldest child).
	for _, n := range roots {
		if n.msg == nil {
			slices.SortStableFunc(n.kids, compareThreadNodes)
		}
	}
	slices.SortStableFunc(roots, compareThreadNodes)
	// (5) Merge threads with the same base subject.
	roots = mergeBySubject(roots)
	// (6) Sort every set of siblings by sent date.
	sortThreadTree(roots)
	return roots
}

// pruneDummies applies step (3) to a set of siblings whose parent is
// parent (nil for the root set): dummies without children go, dummies
// with children are replaced by them, except that at the top only a
// single child is promoted.
func pruneDummies(list []*threadNode, parent *threadNode) []*threadNode {
	var out []*threadNode
	for _, n := range list {
		n.kids = pruneDummies(n.kids, n)
		if n.msg != nil {
			out = append(out, n)
			continue
		}
		switch {
		case len(n.kids) == 0:
		case parent != nil || len(n.kids) == 1:
			for _, k := range n.kids {
				k.parent = parent
			}
			out = append(out, n.kids...)
		default:
			out = append(out, n)
		}
	}
	return out
}

// mergeBySubject is step (5): top-level threads with the same base
// subject are gathered under one message or a new dummy.
func mergeBySubject(roots []*threadNode) []*threadNode {
	// (5B) One thread per subject, preferring dummies, then messages
	// that are not replies.
	table := make(map[string]*threadNode)
	for _, n := range roots {
		subj := n.rep().subject
		if subj == "" {
			continue
		}
		t, ok := table[subj]
		switch {
		case !ok:
			table[subj] = n
		case t.msg != nil && (n.msg == nil || (t.msg.reply && !n.msg.reply)):
			table[subj] = n
		}
	}
	// (5C) Merge the others into it.
	gone := make(map[*threadNode]bool)
	var added []*threadNode
	for _, n := range roots {
		if gone[n] {
			continue
		}
		subj := n.rep().subject
		if subj == "" {
			continue
		}
		t := table[subj]
		if t == n {
			continue
		}
		switch {
		case n.msg == nil && t.msg == nil:
			for _, k := range n.kids {
				k.parent = t
			}
			t.kids = append(t.kids, n.kids...)
			n.kids = nil
		case t.msg == nil, n.msg != nil && n.msg.reply && !t.msg.reply:
			n.setParent(t)
		default:
			d := &threadNode{}
			t.setParent(d)
			n.setParent(d)
			gone[t] = true
			table[subj] = d
			added = append(added, d)
		}
		gone[n] = true
	}
	out := roots[:0]
	for _, n := range roots {
		if !gone[n] {
			out = append(out, n)
		}
	}
	return append(out, added...)
}

// sortThreadTree sorts every set of siblings by sent date, children
// before their parents (a dummy sorts by its first child).
func sortThreadTree(roots []*threadNode) {
	var order []*threadNode
	stack := slices.Clone(roots)
	for len(stack) > 0 {
		n := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		order = append(order, n)
		stack = append(stack, n.kids...)
	}
	for i := len(order) - 1; i >= 0; i-- {
		if kids := order[i].kids; len(kids) > 1 {
			slices.SortStableFunc(kids, compareThreadNodes)
		}
	}
	slices.SortStableFunc(roots, compareThreadNodes)
}

// threadOrderedSubject threads by the ORDEREDSUBJECT algorithm: messages
// grouped by base subject, each group's oldest message the parent of
// the rest, threads in order of their first message's sent date.
func threadOrderedSubject(msgs []sortMsg) []*threadNode {
	sorted := make([]*sortMsg, len(msgs))
	for i := range msgs {
		sorted[i] = &msgs[i]
	}
	slices.SortFunc(sorted, func(a, b *sortMsg) int {
		if c := strings.Compare(a.subject, b.subject); c != 0 {
			return c
		}
		if c := a.sent.Compare(b.sent); c != 0 {
			return c
		}
		return cmp.Compare(a.seq, b.seq)
	})
	var roots []*threadNode
	var cur *threadNode
	for _, m := range sorted {
		n := &threadNode{msg: m}
		if cur != nil && cur.msg.subject == m.subject {
			n.setParent(cur)
			continue
		}
		cur = n
		roots = append(roots, n)
	}
	slices.SortStableFunc(roots, compareThreadNodes)
	return roots
}

// appendThreads appends the threads in the THREAD response syntax:
// "(1)(2 3 (4)(5))".
func appendThreads(b []byte, roots []*threadNode, uid bool) []byte {
	for _, n := range roots {
		b = append(b, '(')
		b = appendThreadMembers(b, n, uid)
		b = append(b, ')')
	}
	return b
}

// appendThreadMembers appends a node and its descendants without the
// surrounding parentheses: a chain of only children as "1 2 3", several
// children as "(...)(...)".
func appendThreadMembers(b []byte, n *threadNode, uid bool) []byte {
	wrote := false
	for {
		if n.msg != nil {
			if wrote {
				b = append(b, ' ')
			}
			if uid {
				b = strconv.AppendUint(b, uint64(n.msg.uid), 10)
			} else {
				b = strconv.AppendUint(b, uint64(n.msg.seq), 10)
			}
			wrote = true
		}
		switch len(n.kids) {
		case 0:
			return b
		case 1:
			n = n.kids[0]
			continue
		}
		if wrote {
			b = append(b, ' ')
		}
		for _, k := range n.kids {
			b = append(b, '(')
			b = appendThreadMembers(b, k, uid)
			b = append(b, ')')
		}
		return b
	}
}

// msgIDs extracts the message IDs ("<left@right>", brackets dropped,
// white space inside removed) of a field such as References. When there
// are more than limit, the first and the last limit-1 are kept.
func msgIDs(field string, limit int) []string {
	var ids []string
	for {
		i := strings.IndexByte(field, '<')
		if i < 0 {
			break
		}
		j := strings.IndexByte(field[i+1:], '>')
		if j < 0 {
			break
		}
		id := field[i+1 : i+1+j]
		field = field[i+2+j:]
		if k := strings.LastIndexByte(id, '<'); k >= 0 {
			id = id[k+1:]
		}
		if strings.ContainsAny(id, " \t\r\n") {
			id = strings.Join(strings.Fields(id), "")
		}
		if at := strings.IndexByte(id, '@'); at <= 0 || at == len(id)-1 {
			continue
		}
		ids = append(ids, id)
		if len(ids) > limit {
			ids = slices.Delete(ids, 1, 2)
		}
	}
	return ids
}

// firstMsgID returns the first message ID of a field, or "".
func firstMsgID(field string) string {
	if ids := msgIDs(field, 1); len(ids) > 0 {
		return ids[0]
	}
	return ""
}

// parseThread reads the arguments of THREAD: SP algorithm SP charset SP
// search-keys.
func parseThread(r *reader) (alg string, key *searchKey, err error) {
	if err := r.sp(); err != nil {
		return "", nil, err
	}
	if alg, err = r.keyword(); err != nil {
		return "", nil, err
	}
	if alg != "REFERENCES" && alg != "ORDEREDSUBJECT" {
		return "", nil, errSyntax("unknown threading algorithm %s", alg)
	}
	if err := r.sp(); err != nil {
		return "", nil, err
	}
	if key, err = parseCharsetKeys(r); err != nil {
		return "", nil, err
	}
	return alg, key, r.end()
}

func (s *session) cmdThread(tag string, uid bool) (string, error) {
	alg, key, err := parseThread(s.r)
	if err != nil {
		return "", err
	}
	if usesModSeq(key) {
		s.condstore = true
	}
	msgs, err := s.collect(key, envNeeds{threading: true})
	if err != nil {
		return "", err
	}
	var roots []*threadNode
	if alg == "REFERENCES" {
		roots = threadReferences(msgs)
	} else {
		roots = threadOrderedSubject(msgs)
	}
	b := []byte("* THREAD")
	if len(roots) > 0 {
		b = append(b, ' ')
		b = appendThreads(b, roots, uid)
	}
	s.bw.Write(append(b, "\r\n"...))
	return "", nil
}
