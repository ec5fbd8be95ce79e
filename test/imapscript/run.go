package imapscript

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Target is the server and account a script runs against. The account
// should be fresh: the runner creates and fills the test mailbox.
type Target struct {
	Addr     string // host:port of a plaintext IMAP listener
	User     string
	Password string
	Mailbox  string        // the test mailbox ($mailbox); "imaptest" if empty
	Mbox     []Message     // the messages to append
	Timeout  time.Duration // the longest wait for one response; 10 s if zero
}

// Outcome is the result of one script.
type Outcome int

// Script outcomes.
const (
	Passed Outcome = iota
	Failed
	Skipped
)

func (o Outcome) String() string {
	return [...]string{"passed", "failed", "skipped"}[o]
}

// Result is what running one script found.
type Result struct {
	Outcome  Outcome
	Reason   string   // why it was skipped
	Failures []string // one entry per mismatch, with the script line
}

type response struct {
	tag  string // "*" untagged, "+" continuation
	args []Arg
	raw  string
	err  error
}

type conn struct {
	idx    int
	nc     net.Conn
	w      *bufio.Writer
	in     chan response
	exists int
	nextID int
	caps   []string
	closed bool
}

type runner struct {
	ctx     context.Context
	sc      *Script
	tg      Target
	conns   []*conn
	vars    map[string]string
	added   []string
	modIdx  uint64
	modVal  uint64
	seqmap  []int
	res     *Result
	group   *Group
	msgNext int
}

// Run runs one script against the target and returns what it found. An
// error means the runner could not run the script at all (no connection,
// a broken script); mismatches are in the Result.
func Run(ctx context.Context, sc *Script, tg Target) (*Result, error) {
	if tg.Mailbox == "" {
		tg.Mailbox = "imaptest"
	}
	if tg.Timeout == 0 {
		tg.Timeout = 10 * time.Second
	}
	r := &runner{ctx: ctx, sc: sc, tg: tg, vars: map[string]string{}, res: &Result{}}
	for idx, u := range sc.Users {
		if u != "$user" && u != "${user}" && u != tg.User {
			return &Result{Outcome: Skipped, Reason: fmt.Sprintf("connection %d wants user %q; the runner has one account", idx+1, u)}, nil
		}
	}
	defer r.close()
	for i := 0; i < sc.Connections; i++ {
		c, err := r.dial(i)
		if err != nil {
			return nil, err
		}
		r.conns = append(r.conns, c)
		suffix := ""
		if i > 0 {
			suffix = strconv.Itoa(i + 1)
		}
		user, domain, _ := strings.Cut(tg.User, "@")
		r.vars["user"+suffix] = tg.User
		r.vars["username"+suffix] = user
		r.vars["domain"+suffix] = domain
		r.vars["password"+suffix] = tg.Password
	}
	r.vars["mailbox"] = tg.Mailbox
	r.vars["mailbox_url"] = tg.Mailbox
	if skip, err := r.setup(); err != nil {
		return nil, err
	} else if skip != "" {
		return &Result{Outcome: Skipped, Reason: skip}, nil
	}
	for _, g := range sc.Groups {
		if err := r.runGroup(g); err != nil {
			r.fail(g, "%v", err)
			break
		}
	}
	if len(r.res.Failures) > 0 {
		r.res.Outcome = Failed
	}
	return r.res, nil
}

func (r *runner) close() {
	for _, c := range r.conns {
		c.nc.Close()
	}
}

func (r *runner) dial(idx int) (*conn, error) {
	d := net.Dialer{Timeout: r.tg.Timeout}
	nc, err := d.DialContext(r.ctx, "tcp", r.tg.Addr)
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %w", r.tg.Addr, err)
	}
	c := &conn{idx: idx, nc: nc, w: bufio.NewWriter(nc), in: make(chan response, 1024)}
	go readResponses(nc, c.in)
	return c, nil
}

var literalEnd = regexp.MustCompile(`~?\{(\d+)[+-]?\}\r?\n$`)

// readResponses reads whole responses (a line and the literals it
// announces) and sends them on ch until the connection ends.
func readResponses(nc net.Conn, ch chan<- response) {
	defer close(ch)
	br := bufio.NewReaderSize(nc, 64<<10)
	for {
		var raw strings.Builder
		for {
			line, err := br.ReadString('\n')
			raw.WriteString(line)
			if err != nil {
				if raw.Len() > 0 && err == io.EOF {
					err = io.ErrUnexpectedEOF
				}
				ch <- response{err: err}
				return
			}
			m := literalEnd.FindStringSubmatch(line)
			if m == nil {
				break
			}
			n, _ := strconv.Atoi(m[1])
			buf := make([]byte, n)
			if _, err := io.ReadFull(br, buf); err != nil {
				ch <- response{err: err}
				return
			}
			raw.Write(buf)
		}
		text := strings.TrimSuffix(strings.TrimSuffix(raw.String(), "\n"), "\r")
		tag, rest, _ := strings.Cut(text, " ")
		resp := response{tag: tag, raw: text}
		if tag != "+" {
			args, err := ParseArgs(rest)
			if err != nil {
				// Human-readable text may hold unbalanced parentheses:
				// fall back to words.
				args = nil
				for _, w := range strings.Fields(rest) {
					args = append(args, Arg{Type: ArgAtom, Str: w})
				}
			}
			resp.args = args
		}
		ch <- resp
	}
}

func (r *runner) next(c *conn) (response, error) {
	t := time.NewTimer(r.tg.Timeout)
	defer t.Stop()
	select {
	case resp, ok := <-c.in:
		if !ok {
			return response{}, fmt.Errorf("connection %d: closed", c.idx+1)
		}
		if resp.err != nil {
			c.closed = true
			return response{}, fmt.Errorf("connection %d: unexpected disconnection: %v", c.idx+1, resp.err)
		}
		return resp, nil
	case <-t.C:
		return response{}, fmt.Errorf("connection %d: no response within %v", c.idx+1, r.tg.Timeout)
	case <-r.ctx.Done():
		return response{}, r.ctx.Err()
	}
}

// track follows the mailbox size a connection has been told about.
func (c *conn) track(resp response) {
	if resp.tag != "*" || len(resp.args) < 2 || resp.args[1].Type != ArgAtom {
		return
	}
	n, err := strconv.Atoi(resp.args[0].Str)
	if err != nil {
		return
	}
	switch strings.ToUpper(resp.args[1].Str) {
	case "EXISTS":
		c.exists = n
	case "EXPUNGE":
		if c.exists > 0 {
			c.exists--
		}
	}
}

// send writes one command with a new tag; synchronising literals become
// LITERAL+ ones so the command goes out at once.
func (c *conn) send(text string) (string, error) {
	c.nextID++
	tag := fmt.Sprintf("%d.%d", c.idx+1, c.nextID)
	if _, err := c.w.WriteString(tag + " " + nonSyncLiterals(text) + "\r\n"); err != nil {
		return "", err
	}
	return tag, c.w.Flush()
}

var literalStart = regexp.MustCompile(`~?\{(\d+)\}\r\n`)

func nonSyncLiterals(s string) string {
	var b strings.Builder
	for {
		loc := literalStart.FindStringSubmatchIndex(s)
		if loc == nil {
			b.WriteString(s)
			return b.String()
		}
		n, _ := strconv.Atoi(s[loc[2]:loc[3]])
		end := loc[1] + n
		if end > len(s) {
			end = len(s)
		}
		b.WriteString(s[:loc[3]])
		b.WriteString("+}\r\n")
		b.WriteString(s[loc[1]:end])
		s = s[end:]
	}
}

// simple sends a setup command and waits for its tagged reply.
func (r *runner) simple(c *conn, text string) (response, []response, error) {
	tag, err := c.send(text)
	if err != nil {
		return response{}, nil, fmt.Errorf("send %q: %w", text, err)
	}
	var untagged []response
	for {
		resp, err := r.next(c)
		if err != nil {
			return response{}, nil, fmt.Errorf("%s: %w", text, err)
		}
		c.track(resp)
		if resp.tag == tag {
			return resp, untagged, nil
		}
		untagged = append(untagged, resp)
	}
}

func isOK(resp response) bool {
	return len(resp.args) > 0 && strings.EqualFold(resp.args[0].Str, "OK")
}

func quote(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}

func (r *runner) nextMessage() Message {
	if len(r.tg.Mbox) == 0 {
		return Message{Body: []byte("\r\n"), Date: time.Date(2008, 2, 22, 17, 6, 23, 0, time.UTC)}
	}
	m := r.tg.Mbox[r.msgNext%len(r.tg.Mbox)]
	r.msgNext++
	return m
}

func literal(m Message) string {
	return fmt.Sprintf("{%d}\r\n%s", len(m.Body), m.Body)
}

func appendCommand(mailbox string, m Message) string {
	return fmt.Sprintf("APPEND %s %s %s", quote(mailbox), quote(m.Date.Format("02-Jan-2006 15:04:05 -0700")), literal(m))
}

// setup brings every connection to the script's start state; it returns
// a reason when the script is to be skipped.
func (r *runner) setup() (string, error) {
	for _, c := range r.conns {
		resp, err := r.next(c)
		if err != nil {
			return "", fmt.Errorf("greeting: %w", err)
		}
		c.track(resp)
		if len(r.sc.Groups) > 0 && r.sc.Groups[0].IsBanner && c.idx == 0 {
			r.group = r.sc.Groups[0]
			found := make([]bool, len(r.group.Untagged))
			best := make([]string, len(r.group.Untagged))
			bestN := make([]int, len(r.group.Untagged))
			var extra []string
			r.matchUntagged(resp, found, best, bestN, &extra)
			r.checkMissing(r.group, found, best, extra)
		}
	}
	if r.sc.State == StateNonAuth {
		resp, untagged, err := r.simple(r.conns[0], "CAPABILITY")
		if err != nil {
			return "", err
		}
		if miss := missingCaps(r.sc.Capabilities, capsOf(untagged)); len(miss) > 0 && isOK(resp) {
			return "server lacks " + strings.Join(miss, " "), nil
		}
		return "", nil
	}
	for _, c := range r.conns {
		resp, _, err := r.simple(c, "LOGIN "+quote(r.tg.User)+" "+quote(r.tg.Password))
		if err != nil {
			return "", err
		}
		if !isOK(resp) {
			return "", fmt.Errorf("login: %s", resp.raw)
		}
	}
	c0 := r.conns[0]
	resp, untagged, err := r.simple(c0, "CAPABILITY")
	if err != nil {
		return "", err
	}
	if miss := missingCaps(r.sc.Capabilities, capsOf(untagged)); len(miss) > 0 || !isOK(resp) {
		return "server lacks " + strings.Join(miss, " "), nil
	}
	// Remove what an earlier run left in the account.
	_, untagged, err = r.simple(c0, "LIST \"\" "+quote(r.tg.Mailbox+"*"))
	if err != nil {
		return "", err
	}
	var boxes []string
	for _, u := range untagged {
		if len(u.args) >= 4 && strings.EqualFold(u.args[0].Str, "LIST") {
			if s, ok := u.args[3].astring(); ok {
				boxes = append(boxes, s)
			}
		}
	}
	slices.Sort(boxes)
	slices.Reverse(boxes)
	for _, b := range boxes {
		if _, _, err := r.simple(c0, "DELETE "+quote(b)); err != nil {
			return "", err
		}
	}
	if r.sc.State == StateAuth {
		return "", nil
	}
	if !strings.EqualFold(r.tg.Mailbox, "INBOX") {
		resp, _, err := r.simple(c0, "CREATE "+quote(r.tg.Mailbox))
		if err != nil {
			return "", err
		}
		if !isOK(resp) {
			return "", fmt.Errorf("create %s: %s", r.tg.Mailbox, resp.raw)
		}
	}
	if r.sc.State == StateCreated {
		return "", nil
	}
	n := r.sc.Messages
	if n < 0 {
		n = len(r.tg.Mbox)
	}
	for i := 0; i < n; i++ {
		resp, _, err := r.simple(c0, appendCommand(r.tg.Mailbox, r.nextMessage()))
		if err != nil {
			return "", err
		}
		if !isOK(resp) {
			return "", fmt.Errorf("append: %s", resp.raw)
		}
	}
	if r.sc.State == StateAppended {
		return "", nil
	}
	for _, c := range r.conns {
		resp, _, err := r.simple(c, "SELECT "+quote(r.tg.Mailbox))
		if err != nil {
			return "", err
		}
		if !isOK(resp) {
			return "", fmt.Errorf("select: %s", resp.raw)
		}
	}
	return "", nil
}

func capsOf(untagged []response) []string {
	var caps []string
	for _, u := range untagged {
		if len(u.args) > 0 && strings.EqualFold(u.args[0].Str, "CAPABILITY") {
			for _, a := range u.args[1:] {
				caps = append(caps, a.Str)
			}
		}
	}
	return caps
}

func missingCaps(want, have []string) []string {
	var miss []string
	for _, w := range want {
		if !slices.ContainsFunc(have, func(h string) bool { return strings.EqualFold(h, w) }) {
			miss = append(miss, w)
		}
	}
	return miss
}

func (r *runner) fail(g *Group, format string, args ...any) {
	line := 0
	text := ""
	if g != nil && len(g.Commands) > 0 {
		line, text = g.Commands[0].Line, g.Commands[0].Text
	}
	if len(text) > 200 {
		text = text[:200] + "…"
	}
	r.res.Failures = append(r.res.Failures, fmt.Sprintf("line %d: %s\n   command: %s", line, fmt.Sprintf(format, args...), text))
}

// hasBody reports whether APPEND arguments carry the message themselves.
func hasBody(args string) bool {
	a, err := ParseArgs(args)
	if err != nil || len(a) == 0 {
		return false
	}
	a = a[1:]
	if len(a) > 0 && a[0].Type == ArgList {
		a = a[1:]
	}
	if len(a) > 0 && a[0].Type == ArgString {
		a = a[1:]
	}
	return len(a) > 0 && (a[0].Type == ArgLiteral || (a[0].Type == ArgAtom && strings.EqualFold(a[0].Str, "catenate")))
}

func (r *runner) runGroup(g *Group) error {
	if g.IsBanner {
		return nil
	}
	r.group = g
	c := r.conns[g.Conn]
	r.seqmap = r.seqmap[:0]
	for i := 1; i <= c.exists; i++ {
		r.seqmap = append(r.seqmap, i)
	}
	tags := map[string]*Command{}
	for _, cmd := range g.Commands {
		text, err := r.expandAll(cmd.Text)
		if err != nil {
			return err
		}
		low := strings.ToLower(text)
		switch {
		case low == "append":
			text = appendCommand(r.tg.Mailbox, r.nextMessage())
		case strings.HasPrefix(low, "append ") && !hasBody(text[7:]):
			text = text + " " + literal(r.nextMessage())
		}
		tag, err := c.send(text)
		if err != nil {
			return fmt.Errorf("send: %w", err)
		}
		tags[tag] = cmd
	}
	found := make([]bool, len(g.Untagged))
	best := make([]string, len(g.Untagged))
	bestN := make([]int, len(g.Untagged))
	var extra []string
	for len(tags) > 0 {
		resp, err := r.next(c)
		if err != nil {
			if c.closed && g.HasBye {
				break
			}
			if c.closed && strings.EqualFold(g.Commands[0].Text, "logout") {
				break
			}
			return err
		}
		if cmd, ok := tags[resp.tag]; ok {
			delete(tags, resp.tag)
			r.vars["tag"] = resp.tag
			m := r.matchArgs(cmd.Reply, resp.args, -1, true)
			delete(r.vars, "tag")
			if m != -1 {
				r.fail(g, "expected tagged reply %q, got %q", argsString(cmd.Reply), resp.raw)
			}
			continue
		}
		if resp.tag == "*" {
			r.matchUntagged(resp, found, best, bestN, &extra)
			r.expunged(resp)
			c.track(resp)
		}
	}
	r.checkMissing(g, found, best, extra)
	return nil
}

// expunged moves the $N sequence map on after an EXPUNGE.
func (r *runner) expunged(resp response) {
	if len(resp.args) < 2 || !strings.EqualFold(resp.args[1].Str, "EXPUNGE") {
		return
	}
	seq, err := strconv.Atoi(resp.args[0].Str)
	if err != nil || seq > len(r.seqmap) || seq < 1 {
		return
	}
	for i := seq - 1; i < len(r.seqmap); i++ {
		switch {
		case r.seqmap[i] == seq:
			r.seqmap[i] = 0
		case r.seqmap[i] > seq:
			r.seqmap[i]--
		}
	}
}

func (r *runner) matchUntagged(resp response, found []bool, best []string, bestN []int, extra *[]string) {
	g := r.group
	prefix := false
	if len(resp.args) > 0 && resp.args[0].Type == ArgAtom {
		switch strings.ToUpper(resp.args[0].Str) {
		case "OK", "NO", "BAD", "BYE":
			prefix = true
		}
	}
	tag := ""
	if len(g.Commands) > 0 {
		tag = fmt.Sprintf("%d.%d", g.Conn+1, r.conns[g.Conn].nextID-len(g.Commands)+1)
	}
	matched := false
	for i, ex := range g.Untagged {
		if found[i] {
			continue
		}
		r.added = r.added[:0]
		if tag != "" {
			r.vars["tag"] = tag
		}
		m := r.matchArgs(ex.Args, resp.args, -1, prefix)
		delete(r.vars, "tag")
		if m == -1 {
			if ex.Existence == MustNotExist {
				r.fail(g, "unexpected untagged response (script line %d: %s)\n   reply: %s", ex.Line, argsString(ex.Args), clip(resp.raw))
				return
			}
			found[i] = true
			matched = true
			r.added = r.added[:0]
			if g.Ordered {
				break
			}
			continue
		}
		if m > bestN[i] || best[i] == "" {
			bestN[i] = m
			best[i] = resp.raw
		}
		for _, v := range r.added {
			delete(r.vars, v)
		}
		r.added = r.added[:0]
		if g.Ordered && ex.Existence == MustExist {
			break
		}
	}
	if !matched && !r.sc.IgnoreExtra {
		*extra = append(*extra, resp.raw)
	}
}

func (r *runner) checkMissing(g *Group, found []bool, best []string, extra []string) {
	missing, first := 0, -1
	for i, ex := range g.Untagged {
		if ex.Existence == MustExist && !found[i] {
			missing++
			if first < 0 {
				first = i
			}
		}
	}
	if missing > 0 {
		ex := g.Untagged[first]
		r.fail(g, "missing %d untagged replies\n   first expected (script line %d): %s\n   best match: %s", missing, ex.Line, argsString(ex.Args), clip(best[first]))
	}
	if len(extra) > 0 {
		r.fail(g, "%d unexpected untagged replies, first: %s", len(extra), clip(extra[0]))
	}
}

func isVarChar(c byte) bool {
	return c == '_' || (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
}

func (r *runner) relSeq(name string) (string, bool) {
	n, err := strconv.ParseUint(name, 10, 32)
	if err != nil {
		return "", false
	}
	switch {
	case n == 0:
		return "<zero seq>", true
	case int(n) > len(r.seqmap):
		return "<out of range>", true
	case r.seqmap[n-1] == 0:
		return "<expunged>", true
	}
	return strconv.Itoa(r.seqmap[n-1]), true
}

// expandAll replaces the variables of a command.
func (r *runner) expandAll(s string) (string, error) {
	if !strings.Contains(s, "$") {
		return s, nil
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		if s[i] != '$' || i == len(s)-1 {
			b.WriteByte(s[i])
			i++
			continue
		}
		i++
		switch {
		case s[i] == '$':
			b.WriteByte('$')
			i++
			continue
		case s[i] == '!':
			for i < len(s) && s[i] != ' ' {
				i++
			}
			i++
			continue
		}
		var name string
		if s[i] == '{' {
			end := strings.IndexByte(s[i:], '}')
			if end < 0 {
				return "", errors.New("missing '}'")
			}
			name = s[i+1 : i+end]
			i += end + 1
		} else {
			j := i
			for j < len(s) && isVarChar(s[j]) {
				j++
			}
			name = s[i:j]
			i = j
		}
		if v, ok := r.relSeq(name); ok {
			b.WriteString(v)
			continue
		}
		v, ok := r.vars[name]
		if !ok {
			return "", fmt.Errorf("uninitialized variable $%s", name)
		}
		b.WriteString(v)
	}
	return b.String(), nil
}

func upper(c byte) byte {
	if c >= 'a' && c <= 'z' {
		return c - 32
	}
	return c
}

// expandInput matches the pattern str against the server's input,
// binding unset variables to what stands in their place; it returns the
// expanded pattern.
func (r *runner) expandInput(str, input string) (string, bool, bool) {
	icase := true
	var out strings.Builder
	for len(str) > 0 {
		if str[0] != '$' || (len(str) > 1 && str[1] == '$') {
			if str[0] == '$' {
				str = str[1:]
			}
			if len(input) == 0 || upper(str[0]) != upper(input[0]) {
				return "", icase, false
			}
			input = input[1:]
			out.WriteByte(str[0])
			str = str[1:]
			continue
		}
		str = str[1:]
		var name string
		if len(str) > 0 && str[0] == '{' {
			end := strings.IndexByte(str, '}')
			if end < 0 {
				return "", icase, true
			}
			name = str[1:end]
			str = str[end+1:]
		} else {
			j := 0
			for j < len(str) && isVarChar(str[j]) {
				j++
			}
			name = str[:j]
			str = str[j:]
		}
		var value string
		if v, ok := r.relSeq(name); ok {
			value = v
		} else if v, ok := strings.CutPrefix(name, "case:"); ok {
			value = v
			icase = false
		} else if v, ok := r.vars[name]; ok && name != "" {
			value = v
		} else {
			tmp := str
			tmpICase := true
			if len(str) > 0 && str[0] == '$' {
				var ok bool
				tmp, tmpICase, ok = r.expandInput(str, input)
				if !ok {
					tmp = ""
				}
			}
			p := 0
			for p < len(input) {
				if tmp != "" && (input[p] == tmp[0] || (tmpICase && upper(input[p]) == upper(tmp[0]))) {
					break
				}
				p++
			}
			value = input[:p]
			switch {
			case name == "":
			case strings.HasPrefix(name, "modseq"):
				if idx, err := strconv.ParseUint(name[6:], 10, 32); err == nil {
					value = r.newModseq(idx, value)
					r.vars[name] = value
					break
				}
				r.vars[name] = value
				r.added = append(r.added, name)
			default:
				r.vars[name] = value
				r.added = append(r.added, name)
			}
		}
		out.WriteString(value)
		if !strings.HasPrefix(input, value) {
			return "", icase, false
		}
		input = input[len(value):]
	}
	return out.String(), icase, true
}

// newModseq checks that $modseqN values grow at least as fast as their
// numbers do.
func (r *runner) newModseq(idx uint64, value string) string {
	v, err := strconv.ParseUint(value, 10, 64)
	if err != nil {
		return "$modseq-not-number"
	}
	if r.modIdx > idx {
		return "$modseq-order-mismatch"
	}
	least := r.modVal + (idx - r.modIdx)
	out := value
	if v < least {
		out = fmt.Sprintf("$modseq-at-least-%d", least)
		v = least
	}
	r.modIdx, r.modVal = idx, v
	return out
}

func (r *runner) matchList(match, args []Arg) int {
	unordered, chain, noextra := false, 1, -1
	var ignores, bans []string
	for len(match) > 0 && match[0].Type == ArgAtom && strings.HasPrefix(match[0].Str, "$!") {
		d := match[0].Str[2:]
		switch {
		case strings.HasPrefix(d, "unordered"):
			unordered = true
			if noextra == -1 {
				noextra = 0
			}
			if n, ok := strings.CutPrefix(d, "unordered="); ok {
				if v, err := strconv.Atoi(n); err == nil && v > 0 {
					chain = v
				}
			}
		case d == "ordered":
			unordered = false
		case d == "extra":
			noextra = 0
		case d == "noextra":
			noextra = 1
		case strings.HasPrefix(d, "ignore="):
			ignores = append(ignores, d[7:])
		case strings.HasPrefix(d, "ban="):
			bans = append(bans, d[4:])
		}
		match = match[1:]
	}
	if noextra == -1 {
		noextra = 1
	}
	if !unordered {
		return r.matchArgs(match, args, -1, false)
	}
	if len(args)%chain != 0 {
		return 0
	}
	matched := make([]bool, len(args))
	ret := 0
	for mi := 0; mi < len(match); mi, ret = mi+chain, ret+1 {
		ok := false
		for i := 0; i < len(args); i += chain {
			if r.matchArgs(match[mi:], args[i:], chain, false) == -1 {
				matched[i], ok = true, true
				break
			}
		}
		if !ok {
			return ret
		}
	}
	inList := func(list []string, s string) bool {
		return slices.ContainsFunc(list, func(x string) bool { return strings.EqualFold(x, s) })
	}
	for i := 0; i < len(args); i += chain {
		if matched[i] {
			continue
		}
		s, ok := args[i].astring()
		if !ok {
			continue
		}
		if noextra > 0 && !inList(ignores, s) {
			return ret
		}
		if noextra == 0 && inList(bans, s) {
			return ret
		}
	}
	return -1
}

// matchArgs matches a pattern against arguments: -1 on a match, else how
// many arguments matched before the first difference. max < 0 means no
// limit; with prefix the last pattern argument may be a prefix and more
// arguments may follow.
func (r *runner) matchArgs(match, args []Arg, max int, prefix bool) int {
	ret, j := 0, 0
	i := 0
	for ; i < len(match) && max != 0; i, j, max = i+1, j+1, max-1 {
		m := match[i]
		var a *Arg
		if j < len(args) {
			a = &args[j]
		}
		switch m.Type {
		case ArgNil:
			if a == nil || a.Type != ArgNil {
				return ret
			}
		case ArgAtom, ArgString, ArgLiteral:
			if m.Str == "$" && a != nil && a.Type == ArgList {
				break
			}
			if m.Str == "$]" {
				for j < len(args) && args[j].Type == ArgAtom && !strings.Contains(args[j].Str, "]") {
					j++
				}
				break
			}
			if a == nil {
				return ret
			}
			s, ok := a.astring()
			if !ok {
				return ret
			}
			exp, icase, ok := r.expandInput(m.Str, s)
			if !ok {
				return ret
			}
			if prefix && i == len(match)-1 {
				if len(s) < len(exp) || !(s[:len(exp)] == exp || (icase && strings.EqualFold(s[:len(exp)], exp))) {
					return ret
				}
			} else if !(s == exp || (icase && strings.EqualFold(s, exp))) {
				return ret
			}
		case ArgList:
			if a == nil || a.Type != ArgList {
				return ret
			}
			if sub := r.matchList(m.List, a.List); sub != -1 {
				return ret + sub
			}
		}
		ret++
	}
	if prefix || j >= len(args) || max == 0 {
		return -1
	}
	return ret
}
