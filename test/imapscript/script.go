package imapscript

import (
	"fmt"
	"os"
	"strconv"
	"strings"
)

// State is where a script starts: how far the runner prepares the
// connections before the first scripted command.
type State int

// Start states, each doing the work of the ones before it.
const (
	StateNonAuth  State = iota // connected, not logged in
	StateAuth                  // logged in, test mailboxes gone
	StateCreated               // the test mailbox exists
	StateAppended              // the messages of the mbox are in it
	StateSelected              // every connection has it selected
)

// Existence says whether an expected untagged response must, must not or
// may come.
type Existence int

// The kinds of untagged expectations: `*`, `!` and `?` lines.
const (
	MustExist Existence = iota
	MustNotExist
	MayExist
)

// Expect is one expected untagged response.
type Expect struct {
	Args      []Arg
	Existence Existence
	Line      int
}

// Command is one scripted command and the tagged reply it must get.
type Command struct {
	Line  int
	Tag   int    // the script's tagN, 0 when it has none
	Text  string // with literals as {N}\r\n…
	Reply []Arg  // the expected tagged reply (a prefix of the server's)
}

// Group is a set of commands sent together on one connection, and the
// untagged responses expected while they run.
type Group struct {
	Conn     int // 0-based
	Commands []*Command
	Untagged []Expect
	Ordered  bool
	HasBye   bool
	pending  int
	IsBanner bool
}

// Script is one parsed test script.
type Script struct {
	Name         string
	Capabilities []string
	Connections  int
	State        State
	Messages     int // -1: every message of the mbox
	IgnoreExtra  bool
	Users        map[int]string // connection index → username from "user N:" lines
	Groups       []*Group
}

// ParseScript parses a script. env answers `!ifenv` questions (nil: the
// process environment).
func ParseScript(name, text string, env func(string) bool) (*Script, error) {
	if env == nil {
		env = func(k string) bool { _, ok := os.LookupEnv(k); return ok }
	}
	sc := &Script{Name: name, Connections: 1, State: StateSelected, Messages: -1, IgnoreExtra: true, Users: map[int]string{}}
	p := &scriptParser{sc: sc, env: env}
	if !strings.HasSuffix(text, "\n") {
		return nil, fmt.Errorf("%s: last line does not end with LF", name)
	}
	lines := strings.Split(strings.TrimSuffix(text, "\n"), "\n")
	header := true
	for i := 0; i < len(lines); i++ {
		line := lines[i]
		lineNum := i + 1
		if line == "" {
			header = false
			continue
		}
		if line[0] == '#' {
			continue
		}
		if strings.HasSuffix(line, "{{{") {
			full, next, err := joinMultiline(lines, i)
			if err != nil {
				return nil, fmt.Errorf("%s line %d: %w", name, lineNum, err)
			}
			line, i = full, next
		}
		var err error
		if header {
			err = p.header(line)
		} else {
			err = p.command(lineNum, line)
		}
		if err != nil {
			return nil, fmt.Errorf("%s line %d: %w", name, lineNum, err)
		}
	}
	if len(p.ifs) > 0 {
		return nil, fmt.Errorf("%s: !ifenv not closed with !endif", name)
	}
	if len(sc.Groups) == 0 {
		return nil, fmt.Errorf("%s: no commands in file", name)
	}
	if g := p.cur; g != nil && g.pending > 0 {
		return nil, fmt.Errorf("%s: missing reply for a command of the last group", name)
	}
	sc.addLogout()
	return sc, nil
}

// joinMultiline joins the lines of a `{{{` … `}}}` block starting at
// lines[i] into one line with IMAP literals ({N}\r\n or ~{N}\r\n for a
// `~{{{` block, whose lines keep bare LFs), and returns the index of the
// last line used.
func joinMultiline(lines []string, i int) (string, int, error) {
	var b strings.Builder
	cur := lines[i]
	for {
		binary := strings.HasSuffix(cur, "~{{{")
		if binary {
			b.WriteString(strings.TrimSuffix(cur, "~{{{"))
		} else {
			b.WriteString(strings.TrimSuffix(cur, "{{{"))
		}
		var body strings.Builder
		first := true
		for {
			i++
			if i >= len(lines) {
				return "", i, fmt.Errorf("multi-line literal not ended with }}}")
			}
			if strings.HasPrefix(lines[i], "}}}") {
				break
			}
			if !first {
				if binary {
					body.WriteString("\n")
				} else {
					body.WriteString("\r\n")
				}
			}
			body.WriteString(lines[i])
			first = false
		}
		if binary {
			b.WriteString("~")
		}
		fmt.Fprintf(&b, "{%d}\r\n%s", body.Len(), body.String())
		rest := strings.TrimPrefix(lines[i], "}}}")
		if strings.HasSuffix(rest, "{{{") {
			cur = rest
			continue
		}
		b.WriteString(rest)
		return b.String(), i, nil
	}
}

type ifenv struct {
	skip     bool // the skip state outside this block
	elseSeen bool
}

type scriptParser struct {
	sc   *Script
	env  func(string) bool
	cur  *Group
	ifs  []ifenv
	skip bool
}

func (p *scriptParser) header(line string) error {
	key, value, ok := strings.Cut(line, ":")
	if !ok {
		return fmt.Errorf("missing ':' in header line")
	}
	key = strings.ToLower(strings.TrimSpace(key))
	value = strings.TrimSpace(value)
	switch {
	case key == "capabilities":
		p.sc.Capabilities = strings.Fields(value)
	case key == "connections":
		n, err := strconv.Atoi(value)
		if err != nil || n < 1 || n > 100 {
			return fmt.Errorf("bad connection count %q", value)
		}
		p.sc.Connections = n
	case key == "ignore_extra_untagged":
		p.sc.IgnoreExtra = strings.HasPrefix(value, "y")
	case strings.HasPrefix(key, "user "):
		n, err := strconv.Atoi(strings.TrimSpace(key[5:]))
		if err != nil || n < 1 || n > 100 {
			return fmt.Errorf("bad header %q", key)
		}
		p.sc.Users[n-1] = value
	case key == "messages":
		if value == "all" {
			p.sc.Messages = -1
		} else {
			n, err := strconv.Atoi(value)
			if err != nil || n < 0 {
				return fmt.Errorf("bad message count %q", value)
			}
			p.sc.Messages = n
		}
	case key == "state":
		states := map[string]State{"nonauth": StateNonAuth, "auth": StateAuth, "created": StateCreated, "appended": StateAppended, "selected": StateSelected}
		st, ok := states[strings.ToLower(value)]
		if !ok {
			return fmt.Errorf("unknown state %q", value)
		}
		p.sc.State = st
	default:
		return fmt.Errorf("unknown setting %q", key)
	}
	return nil
}

func untaggedPrefix(line string) (Existence, bool) {
	switch {
	case strings.HasPrefix(line, "* "):
		return MustExist, true
	case strings.HasPrefix(line, "! "):
		return MustNotExist, true
	case strings.HasPrefix(line, "? "):
		return MayExist, true
	}
	return 0, false
}

// replyPrefix recognises "[tagN] ok|no|bad|\"\" …" and returns the tag,
// the reply word's position and whether the line is a reply.
func replyPrefix(line string) (tag int, rest string, ok bool) {
	rest = line
	first, after, _ := strings.Cut(rest, " ")
	if len(first) > 3 && strings.EqualFold(first[:3], "tag") {
		if n, err := strconv.Atoi(first[3:]); err == nil && n > 0 && after != "" {
			tag, rest = n, after
			first, _, _ = strings.Cut(rest, " ")
		}
	}
	switch strings.ToLower(first) {
	case "ok", "no", "bad", `""`:
		return tag, rest, true
	}
	return 0, line, false
}

func (p *scriptParser) command(lineNum int, line string) error {
	if env, ok := strings.CutPrefix(line, "!ifenv "); ok {
		p.ifs = append(p.ifs, ifenv{skip: p.skip})
		if !p.env(env) {
			p.skip = true
		}
		return nil
	}
	if env, ok := strings.CutPrefix(line, "!ifnenv "); ok {
		p.ifs = append(p.ifs, ifenv{skip: p.skip})
		if p.env(env) {
			p.skip = true
		}
		return nil
	}
	if line == "!else" {
		if len(p.ifs) == 0 {
			return fmt.Errorf("!else without !ifenv")
		}
		top := &p.ifs[len(p.ifs)-1]
		if top.elseSeen {
			return fmt.Errorf("!else already seen")
		}
		top.elseSeen = true
		if !top.skip {
			p.skip = !p.skip
		}
		return nil
	}
	if line == "!endif" {
		if len(p.ifs) == 0 {
			return fmt.Errorf("!endif without !ifenv")
		}
		p.skip = p.ifs[len(p.ifs)-1].skip
		p.ifs = p.ifs[:len(p.ifs)-1]
		return nil
	}
	if p.skip {
		return nil
	}
	g := p.cur
	if g != nil {
		switch {
		case strings.HasPrefix(line, "!sleep "), strings.HasPrefix(line, "!output "):
			return nil // no timing in our runs; output is informational
		case line == "!ordered":
			g.Ordered = true
			return nil
		}
		if ex, ok := untaggedPrefix(line); ok {
			return p.untagged(g, lineNum, line[2:], ex)
		}
		if g.pending > 0 {
			noConn, connIdx := line, 0
			if p.sc.Connections > 1 {
				if first, rest, ok := strings.Cut(line, " "); ok {
					if n, err := strconv.Atoi(first); err == nil && n > 0 {
						noConn, connIdx = rest, n
					}
				}
			}
			if tag, rest, ok := replyPrefix(noConn); ok {
				if p.sc.Connections > 1 {
					if connIdx == 0 {
						return fmt.Errorf("missing connection number")
					}
					if connIdx-1 != g.Conn {
						return fmt.Errorf("reply for the wrong connection")
					}
				}
				return p.finish(g, tag, rest)
			}
		}
	}
	if g == nil || g.pending == 0 {
		g = &Group{}
		p.cur = g
		p.sc.Groups = append(p.sc.Groups, g)
	}
	cmd := &Command{Line: lineNum}
	if p.sc.Connections > 1 {
		first, rest, _ := strings.Cut(line, " ")
		n, err := strconv.Atoi(first)
		if err != nil || n < 1 || n > 100 {
			return fmt.Errorf("missing connection number")
		}
		if len(g.Commands) > 0 && g.Conn != n-1 {
			return fmt.Errorf("all pipelined commands must use the same connection")
		}
		g.Conn = n - 1
		line = rest
	}
	tag, rest, isReply := replyPrefix(line)
	if isReply {
		word, after, _ := strings.Cut(rest, " ")
		w := strings.ToLower(word)
		if w == `""` {
			w = ""
		}
		cmd.Reply = []Arg{{Type: ArgAtom, Str: w}}
		line = after
		cmd.Tag = tag
	} else if first, after, ok := strings.Cut(line, " "); ok && len(first) > 3 && strings.EqualFold(first[:3], "tag") {
		if n, err := strconv.Atoi(first[3:]); err == nil && n > 0 {
			cmd.Tag, line = n, after
		}
	}
	if cmd.Tag == 0 {
		if g.pending > 0 {
			return fmt.Errorf("missing reply for the previous command")
		}
	} else {
		for _, c := range g.Commands {
			if c.Tag == cmd.Tag {
				return fmt.Errorf("tag reused within a command group")
			}
		}
	}
	if len(g.Commands) == 0 {
		if ex, ok := untaggedPrefix(line); ok {
			g.IsBanner = true
			return p.untagged(g, lineNum, line[2:], ex)
		}
	}
	if cmd.Reply == nil {
		g.pending++
	}
	cmd.Text = line
	g.Commands = append(g.Commands, cmd)
	return nil
}

func (p *scriptParser) finish(g *Group, tag int, rest string) error {
	var cmd *Command
	for _, c := range g.Commands {
		if c.Tag == tag {
			cmd = c
		}
	}
	if cmd == nil {
		return fmt.Errorf("reply for an unknown tag")
	}
	if cmd.Reply != nil {
		return fmt.Errorf("command already has a reply")
	}
	args, err := ParseArgs(rest)
	if err != nil {
		return err
	}
	if len(args) > 0 && args[0].Type == ArgAtom && args[0].Str == `""` {
		args[0].Str = ""
	}
	cmd.Reply = args
	g.pending--
	return nil
}

func (p *scriptParser) untagged(g *Group, lineNum int, text string, ex Existence) error {
	args, err := ParseArgs(text)
	if err != nil {
		return err
	}
	name := ""
	if len(args) > 0 && args[0].Type == ArgAtom {
		name = args[0].Str
		if name != "" && (name[0] == '$' || (name[0] >= '0' && name[0] <= '9')) {
			name = ""
			if len(args) > 1 && args[1].Type == ArgAtom {
				name = args[1].Str
			}
		}
	}
	name = strings.ToLower(name)
	addDefaultDirectives(name, args)
	if strings.HasPrefix(name, "bye") {
		switch ex {
		case MustExist:
			g.HasBye = true
		case MayExist:
			return fmt.Errorf("? BYE is not supported")
		}
	}
	g.Untagged = append(g.Untagged, Expect{Args: args, Existence: ex, Line: lineNum})
	return nil
}

func hasDirectives(list []Arg) bool {
	return len(list) > 0 && list[0].Type == ArgAtom && strings.HasPrefix(list[0].Str, "$!")
}

func prepend(list []Arg, atoms ...string) []Arg {
	out := make([]Arg, 0, len(list)+len(atoms))
	for _, a := range atoms {
		out = append(out, Arg{Type: ArgAtom, Str: a})
	}
	return append(out, list...)
}

// addDefaultDirectives gives the lists of LIST/LSUB flags, STATUS items,
// FETCH items and FETCH FLAGS the matching imaptest gives them when the
// script names no directive: order does not matter, and FETCH FLAGS must
// hold exactly the listed flags apart from \Recent.
func addDefaultDirectives(name string, args []Arg) {
	for i := range args {
		if args[i].Type != ArgList {
			continue
		}
		list := args[i].List
		switch {
		case (name == "list" || name == "lsub") && i == 1:
			if !hasDirectives(list) {
				args[i].List = prepend(list, "$!unordered")
			}
		case name == "status" && i == 2:
			if !hasDirectives(list) {
				args[i].List = prepend(list, "$!unordered=2")
			}
		case name == "fetch" && i == 2:
			if !hasDirectives(list) {
				list = prepend(list, "$!unordered=2")
			}
			for j := range list {
				if list[j].Type == ArgList && j > 0 && list[j-1].Type == ArgAtom && strings.EqualFold(list[j-1].Str, "flags") && !hasDirectives(list[j].List) {
					list[j].List = prepend(list[j].List, "$!unordered", "$!noextra", `$!ignore=\recent`, "$!ignore=$HasAttachment", "$!ignore=$HasNoAttachment")
				}
			}
			args[i].List = list
		}
	}
}

// addLogout ends the script with LOGOUT on the first connection, unless it
// logs out itself.
func (sc *Script) addLogout() {
	for _, g := range sc.Groups {
		if g.HasBye {
			return
		}
		for _, c := range g.Commands {
			if strings.EqualFold(c.Text, "logout") {
				return
			}
		}
	}
	sc.Groups = append(sc.Groups, &Group{Commands: []*Command{{Text: "logout", Reply: []Arg{{Type: ArgAtom, Str: "ok"}}}}})
}
