package imapd

import (
	"strings"
	"testing"
)

// sendSync sends a command whose literals synchronise: parts[0] is the
// command up to the first literal header, then literal, continuation,
// literal, continuation, … It waits for "+" before each literal and
// returns the tagged answer.
func sendSync(t *testing.T, c *client, tag string, parts ...string) (untagged []string, tagged string) {
	t.Helper()
	c.write(tag + " " + parts[0] + "\r\n")
	for i := 1; i < len(parts); i += 2 {
		if l := c.line(); !strings.HasPrefix(l, "+") {
			t.Fatalf("no continuation before literal %d: %q", i/2+1, l)
		}
		c.write(parts[i] + parts[i+1] + "\r\n")
	}
	return c.readUntil(tag)
}

func lit(s string) string { return "{" + itoa(len(s)) + "}" }

func TestMultiappend(t *testing.T) {
	e := newEnv(t, envOptions{})
	c := e.login()
	watcher := e.login()
	watcher.ok("SELECT Sent")
	sent, _ := e.st.Folder(t.Context(), e.acct.ID, "Sent")
	m1 := "Subject: first\r\n\r\none\r\n"
	m2 := "Subject: second\r\n\r\n" + strings.Repeat("two two two\r\n", 30000) // over the store's inline size
	m3 := "Subject: third\r\n\r\nthree\r\n"
	_, tagged := sendSync(t, c, "m",
		`APPEND Sent (\Seen) `+lit(m1), m1,
		` (\Flagged $Sent) "14-Feb-2024 09:30:00 +0100" `+lit(m2), m2,
		` `+lit(m3), m3, "")
	want := "OK [APPENDUID " + itoa(int(sent.UIDValidity)) + " 1:3]"
	if !strings.HasPrefix(tagged, want) {
		t.Fatalf("MULTIAPPEND: %q, want %q", tagged, want)
	}
	// The watching session learns of all three at once.
	mustHave(t, watcher.ok("NOOP"), "* 3 EXISTS", "* 3 RECENT")
	u := watcher.ok("FETCH 1:3 (FLAGS RFC822.SIZE INTERNALDATE BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
	mustHave(t, u,
		`* 1 FETCH (FLAGS (\Seen \Recent) RFC822.SIZE `+itoa(len(m1)),
		`* 2 FETCH (FLAGS ($Sent \Flagged \Recent) RFC822.SIZE `+itoa(len(m2))+` INTERNALDATE "14-Feb-2024 09:30:00 +0100"`,
		"Subject: second", "Subject: third")
	if l := searchLine(t, watcher, "SEARCH BODY three"); l != "* SEARCH 3" {
		t.Errorf("SEARCH BODY three: %q", l)
	}
}

func TestMultiappendAllOrNothing(t *testing.T) {
	body := "Subject: sized\r\n\r\n" + strings.Repeat("x", 4000) + "\r\n"
	// Room for two such messages, not three.
	e := newEnv(t, envOptions{quotaBytes: int64(2*len(body) + 100)})
	c := e.login()
	watcher := e.login()
	watcher.ok("SELECT Drafts")
	_, tagged := sendSync(t, c, "q", "APPEND Drafts "+lit(body), body, " "+lit(body), body, " "+lit(body), body, "")
	if !strings.HasPrefix(tagged, "NO [OVERQUOTA]") {
		t.Fatalf("third message over quota: %q, want NO [OVERQUOTA]", tagged)
	}
	mustHave(t, c.ok("STATUS Drafts (MESSAGES UIDNEXT)"), "(MESSAGES 0 UIDNEXT 1)")
	if u := watcher.ok("NOOP"); has(u, "EXISTS") || has(u, "EXPUNGE") {
		t.Fatalf("a refused MULTIAPPEND showed up in another session: %q", u)
	}
	// A syntax error in a later message stores nothing either.
	_, tagged = c.cmd("APPEND Drafts {5+}\r\nHello (\\Bogus) {5+}\r\nWorld")
	if !strings.HasPrefix(tagged, "BAD") {
		t.Fatalf("unknown system flag in the second message: %q", tagged)
	}
	// A later message over the size limit: the client is told before it
	// sends that literal, and nothing is stored.
	_, tagged = sendSync(t, c, "z", "APPEND Drafts "+lit(body), body, " {999999999}")
	if !strings.HasPrefix(tagged, "NO [TOOBIG]") {
		t.Fatalf("second message too big: %q", tagged)
	}
	mustHave(t, c.ok("STATUS Drafts (MESSAGES)"), "(MESSAGES 0)")
	// The session is in step: two messages fit.
	u, tagged := sendSync(t, c, "f", "APPEND Drafts "+lit(body), body, " "+lit(body), body, "")
	if !strings.HasPrefix(tagged, "OK [APPENDUID ") || !strings.Contains(tagged, " 1:2]") {
		t.Fatalf("two messages that fit: %q (%q)", tagged, u)
	}
	mustHave(t, watcher.ok("NOOP"), "* 2 EXISTS")
	// One APPEND holds at most maxMultiappend messages.
	many := "APPEND Drafts" + strings.Repeat(" {1+}\r\nx", maxMultiappend+1)
	c.expect(many, "NO [LIMIT]")
	mustHave(t, c.ok("STATUS Drafts (MESSAGES)"), "(MESSAGES 2)")
}

func TestAppendUTF8(t *testing.T) {
	e := newEnv(t, envOptions{})
	c := e.login()
	msg := "Subject: Привет, мир\r\nFrom: Анна <anna@example.org>\r\n\r\nТекст\r\n"
	n := itoa(len(msg))
	// Not before ENABLE UTF8=ACCEPT.
	c.expect("APPEND INBOX UTF8 (~{"+n+"}", "BAD")
	mustHave(t, c.ok("ENABLE UTF8=ACCEPT"), "* ENABLED UTF8=ACCEPT")
	_, tagged := c.cmd("APPEND INBOX (\\Seen) UTF8 (~{" + n + "+}\r\n" + msg + ") UTF8 (~{" + n + "+}\r\n" + msg + ")")
	if !strings.HasPrefix(tagged, "OK [APPENDUID ") || !strings.Contains(tagged, " 1:2]") {
		t.Fatalf("APPEND UTF8: %q", tagged)
	}
	c.ok("SELECT INBOX")
	mustHave(t, c.ok("FETCH 1 BODY.PEEK[HEADER.FIELDS (SUBJECT)]"), "Subject: Привет, мир")
	mustHave(t, c.ok("FETCH 1:2 RFC822.SIZE"), "* 1 FETCH (RFC822.SIZE "+n+")", "* 2 FETCH (RFC822.SIZE "+n+")")
	// The closing parenthesis is required.
	c.expect("APPEND INBOX UTF8 (~{"+n+"+}\r\n"+msg, "BAD")
	c.expect("APPEND INBOX UTF8 ({"+n+"+}\r\n"+msg+")", "BAD")
	mustHave(t, c.ok("STATUS INBOX (MESSAGES)"), "(MESSAGES 2)")
}

// fetchLiteral returns the literal of a one-item FETCH of one message.
func fetchLiteral(t *testing.T, c *client, cmd string) string {
	t.Helper()
	for _, l := range c.ok(cmd) {
		if i := strings.Index(l, "}\r\n"); i >= 0 && strings.Contains(l, " FETCH (") {
			return strings.TrimSuffix(l[i+3:], ")")
		}
	}
	t.Fatalf("%s: no literal", cmd)
	return ""
}

func TestCatenate(t *testing.T) {
	e := newEnv(t, envOptions{})
	src := e.deliver("INBOX", msg1)
	c := e.login()
	mustHave(t, c.ok("CAPABILITY"), " CATENATE")
	in, _ := e.st.Folder(t.Context(), e.acct.ID, "INBOX")
	c.ok("EXAMINE INBOX")
	part1 := fetchLiteral(t, c, "FETCH 1 BODY.PEEK[1]")
	whole := fetchLiteral(t, c, "FETCH 1 BODY.PEEK[]")
	if part1 != "Hello quarterly numbers" || len(whole) != int(src.Size) {
		t.Fatalf("source: part 1 %q, whole %d bytes", part1, len(whole))
	}

	head := "From: anna@example.org\r\nSubject: forward\r\n\r\nSee below:\r\n"
	tail := "\r\n-- \r\nAnna\r\n"
	// Synchronising TEXT literals, a URL to a section with UIDVALIDITY and
	// a full imap:// URL of the whole message, and a relative one.
	_, tagged := sendSync(t, c, "c",
		`APPEND Drafts (\Draft) CATENATE (TEXT `+lit(head), head,
		` URL "/INBOX;UIDVALIDITY=`+itoa(int(in.UIDValidity))+`/;UID=1/;SECTION=1" TEXT `+lit(tail), tail,
		` URL "imap://anna%40example.org@mail.example.org/INBOX/;UID=1" URL ";UID=1/;SECTION=1;PARTIAL=6.9")`)
	if !strings.HasPrefix(tagged, "OK [APPENDUID ") {
		t.Fatalf("CATENATE: %q", tagged)
	}
	c.ok("SELECT Drafts")
	got := fetchLiteral(t, c, "FETCH 1 BODY.PEEK[]")
	if want := head + part1 + tail + whole + "quarterly"; got != want {
		t.Fatalf("catenated message:\n%q\nwant\n%q", got, want)
	}
	mustHave(t, c.ok("FETCH 1 (FLAGS RFC822.SIZE)"), `\Draft`, "RFC822.SIZE "+itoa(len(got)))

	// MULTIAPPEND mixing a CATENATE and a plain literal.
	_, tagged = c.cmd(`APPEND Drafts CATENATE (URL "/INBOX/;UID=1/;SECTION=HEADER.FIELDS%20(SUBJECT)" TEXT {6+}` + "\r\nbody\r\n) {8+}\r\nSubject:")
	if !strings.HasPrefix(tagged, "OK [APPENDUID ") || !strings.Contains(tagged, " 2:3]") {
		t.Fatalf("MULTIAPPEND with CATENATE: %q", tagged)
	}
	if got := fetchLiteral(t, c, "FETCH 2 BODY.PEEK[]"); got != "Subject: =?UTF-8?B?0J/RgNC40LLQtdGC?= report\r\n\r\nbody\r\n" {
		t.Fatalf("catenated header and text: %q", got)
	}

	// URLs that name nothing of this account: NO [BADURL], nothing stored.
	for _, u := range []string{
		"/INBOX/;UID=9",
		"/INBOX;UIDVALIDITY=1234567/;UID=1",
		"/Nowhere/;UID=1",
		"/INBOX/;UID=1/;SECTION=7",
		"imap://boris@mail.example.org/INBOX/;UID=1",
		"/INBOX/;UID=1;EXPIRE=2030-01-01T00:00:00Z;URLAUTH=anonymous:internal:0123456789abcdef",
		"http://example.org/",
	} {
		_, tagged := c.cmd(`APPEND Drafts CATENATE (TEXT {3+}` + "\r\nabc" + ` URL "` + u + `" TEXT {3+}` + "\r\nxyz)")
		if !strings.HasPrefix(tagged, "NO [BADURL") {
			t.Errorf("URL %s: %q, want NO [BADURL", u, tagged)
		}
	}
	c.expect("APPEND Drafts CATENATE (TEXT {1+}\r\na BOGUS x)", "BAD")
	mustHave(t, c.ok("STATUS Drafts (MESSAGES)"), "(MESSAGES 3)")
	c.ok("NOOP")
}
