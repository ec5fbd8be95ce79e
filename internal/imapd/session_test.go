package imapd

import (
	"encoding/base64"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pochta-mail/pochta/internal/store"
)

func TestSecurePolicyBeforeTLS(t *testing.T) {
	e := newEnv(t, envOptions{})
	c := e.dial()
	caps := c.ok("CAPABILITY")
	mustHave(t, caps, "LOGINDISABLED", "STARTTLS", "IMAP4rev2")
	if has(caps, "AUTH=") {
		t.Fatalf("AUTH= offered before TLS under the secure policy: %q", caps)
	}
	c.expect("LOGIN anna@example.org x", "NO [PRIVACYREQUIRED]")
	c.expect("AUTHENTICATE PLAIN", "NO [PRIVACYREQUIRED]")
	c.startTLS()
	caps = c.ok("CAPABILITY")
	mustHave(t, caps, "AUTH=PLAIN")
	if has(caps, "LOGINDISABLED") || has(caps, "STARTTLS") {
		t.Fatalf("after TLS: %q", caps)
	}
	c.expect("LOGIN anna@example.org wrong", "NO [AUTHENTICATIONFAILED] Login failure or IMAP disabled")
	c.expect("SELECT INBOX", "BAD")
	u, tagged := c.cmd("LOGIN anna@example.org " + quoteASCII(testPassword))
	if !strings.HasPrefix(tagged, "OK [CAPABILITY ") || !strings.Contains(tagged, "UIDPLUS") {
		t.Fatalf("login: %q %q", u, tagged)
	}
	c.expect("LOGIN anna@example.org x", "BAD")
}

func TestPlaintextPolicyAndLiterals(t *testing.T) {
	e := newEnv(t, envOptions{allowPlaintext: true})
	c := e.dial()
	mustHave(t, c.ok("CAPABILITY"), "AUTH=PLAIN", "LITERAL+")
	// A synchronising literal: the server must ask for it.
	c.write("a LOGIN {16}\r\n")
	if l := c.line(); !strings.HasPrefix(l, "+ ") {
		t.Fatalf("no continuation: %q", l)
	}
	c.write("anna@example.org {" + itoa(len(testPassword)) + "+}\r\n" + testPassword + "\r\n")
	if _, tagged := c.readUntil("a"); !strings.HasPrefix(tagged, "OK") {
		t.Fatalf("login with literals: %q", tagged)
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

func TestAuthenticatePlain(t *testing.T) {
	e := newEnv(t, envOptions{})
	c := e.dial()
	c.startTLS()
	bad := base64.StdEncoding.EncodeToString([]byte("\x00anna@example.org\x00nope"))
	c.expect("AUTHENTICATE PLAIN "+bad, "NO [AUTHENTICATIONFAILED]")
	// Without initial response: "+ " then the response.
	c.write("a AUTHENTICATE PLAIN\r\n")
	if l := c.line(); l != "+ " {
		t.Fatalf("continuation %q", l)
	}
	c.write(base64.StdEncoding.EncodeToString([]byte("\x00anna\x00"+testPassword)) + "\r\n")
	if _, tagged := c.readUntil("a"); !strings.HasPrefix(tagged, "OK") {
		t.Fatalf("authenticate: %q", tagged)
	}
}

func TestIMAPDisabledForAccount(t *testing.T) {
	set := store.DefaultSettings()
	set.IMAPEnabled = false
	e := newEnv(t, envOptions{settings: &set})
	c := e.dial()
	c.startTLS()
	c.expect("LOGIN anna@example.org "+quoteASCII(testPassword), "NO [AUTHENTICATIONFAILED] Login failure or IMAP disabled")
}

func TestIDEnableNamespace(t *testing.T) {
	e := newEnv(t, envOptions{})
	c := e.dial()
	u := c.ok(`ID ("name" "test" "version" NIL)`)
	mustHave(t, u, "* ID NIL")
	c.ok("ID NIL")
	c.expect("ID (", "BAD")
	c.startTLS()
	c.ok("LOGIN anna " + quoteASCII(testPassword))
	mustHave(t, c.ok("ENABLE CONDSTORE UTF8=ACCEPT X-UNKNOWN"), "* ENABLED CONDSTORE UTF8=ACCEPT")
	mustHave(t, c.ok("NAMESPACE"), `* NAMESPACE (("" "/")) NIL NIL`)
	c.expect("FROBNICATE", "BAD")
	c.ok("NOOP")
	u, tagged := c.cmd("LOGOUT")
	if !has(u, "* BYE") || !strings.HasPrefix(tagged, "OK") {
		t.Fatalf("logout %q %q", u, tagged)
	}
}

func TestLineTooLong(t *testing.T) {
	e := newEnv(t, envOptions{})
	c := e.dial()
	c.write("a NOOP " + strings.Repeat("x", maxLineLen+100) + "\r\n")
	if l := c.line(); !strings.Contains(l, "BAD [TOOBIG]") {
		t.Fatalf("got %q", l)
	}
	c.ok("NOOP")
	// A literal over the in-memory limit is refused before it is sent.
	c.write("b LOGIN {999999}\r\n")
	if l := c.line(); !strings.HasPrefix(l, "b BAD [TOOBIG]") {
		t.Fatalf("got %q", l)
	}
	// A refused non-synchronising literal is skipped, not run as commands.
	c.write("c LOGIN {99999+}\r\n" + strings.Repeat("d NOOP\r\n", 12499) + "abcdefg" + "\r\n")
	_, tagged := c.readUntil("c")
	if !strings.HasPrefix(tagged, "BAD [TOOBIG]") {
		t.Fatalf("got %q", tagged)
	}
	c.ok("NOOP")
}

func TestMailboxCommands(t *testing.T) {
	e := newEnv(t, envOptions{})
	c := e.login()
	u := c.ok(`LIST "" "*"`)
	mustHave(t, u, `* LIST (\HasNoChildren) "/" "INBOX"`, `\Sent) "/" "Sent"`, `\Junk) "/" "Spam"`, `\Trash`, `\Drafts`, `\Archive`)
	mustHave(t, c.ok(`LIST "" ""`), `* LIST (\Noselect) "/" ""`)
	c.ok("CREATE Work")
	c.ok("CREATE Work/Projects/2024")
	u = c.ok(`LIST "" "Work/%"`)
	// The superior name CREATE needed is a name only (RFC 3501 §6.3.3),
	// as Dovecot lists it.
	mustHave(t, u, `* LIST (\NonExistent \Noselect \HasChildren) "/" "Work/Projects"`)
	if has(u, "2024") {
		t.Fatalf("%% matched across levels: %q", u)
	}
	c.expect("CREATE Work", "NO [ALREADYEXISTS]")
	c.expect("CREATE inbox", "NO [ALREADYEXISTS]")
	// Modified UTF-7 for rev1 clients.
	c.ok("CREATE &BBIERQQ+BDQETwRJBDgENQ-")
	f, err := e.st.Folder(t.Context(), e.acct.ID, "Входящие")
	if err != nil {
		t.Fatalf("UTF-7 name not decoded: %v", err)
	}
	mustHave(t, c.ok(`LIST "" "&BBIERQQ+BDQETwRJBDgENQ-"`), `"&BBIERQQ+BDQETwRJBDgENQ-"`)
	c.ok("RENAME &BBIERQQ+BDQETwRJBDgENQ- Work/Old")
	if _, err := e.st.FolderByID(t.Context(), f.ID); err != nil {
		t.Fatal(err)
	}
	mustHave(t, c.ok(`LIST "" Work/*`), `"Work/Old"`)
	c.ok("SUBSCRIBE Work")
	c.ok("UNSUBSCRIBE Work/Old")
	u = c.ok(`LSUB "" "*"`)
	if has(u, "Work/Old") || !has(u, `"INBOX"`) {
		t.Fatalf("LSUB %q", u)
	}
	u = c.ok(`LIST (SUBSCRIBED) "" "Work*" RETURN (CHILDREN)`)
	if has(u, "Work/Old") || !has(u, `\Subscribed`) {
		t.Fatalf("LIST (SUBSCRIBED) %q", u)
	}
	mustHave(t, c.ok(`LIST (SPECIAL-USE) "" "*"`), `\Sent`)
	e.deliver("INBOX", "Subject: hi\r\n\r\nbody\r\n")
	u = c.ok("STATUS INBOX (MESSAGES UIDNEXT UIDVALIDITY UNSEEN SIZE HIGHESTMODSEQ)")
	mustHave(t, u, "* STATUS \"INBOX\" (MESSAGES 1 UIDNEXT 2 UIDVALIDITY ", "UNSEEN 1 SIZE 21 HIGHESTMODSEQ")
	mustHave(t, c.ok(`LIST "" "INBOX" RETURN (STATUS (MESSAGES))`), `* STATUS "INBOX" (MESSAGES 1)`)
	c.ok("DELETE Work/Old")
	c.expect("DELETE Work/Old", "NO [NONEXISTENT]")
	c.expect("DELETE INBOX", "NO")
	c.ok(`CREATE MySent (USE (\Sent))`)
	c.expect("STATUS Nope (MESSAGES)", "NO [NONEXISTENT]")
	// UTF-8 names after ENABLE UTF8=ACCEPT.
	c.ok("ENABLE UTF8=ACCEPT")
	c.ok(`CREATE "Архив/2023"`)
	mustHave(t, c.ok(`LIST "" "Архив/*"`), `"Архив/2023"`)
}

const msg1 = "From: Anna <anna@example.org>\r\n" +
	"To: Boris <boris@example.org>, team: c@d.example, e@f.example;\r\n" +
	"Subject: =?UTF-8?B?0J/RgNC40LLQtdGC?= report\r\n" +
	"Date: Tue, 05 Mar 2024 10:00:00 +0000\r\n" +
	"Message-ID: <1@example.org>\r\n" +
	"MIME-Version: 1.0\r\n" +
	"Content-Type: multipart/mixed; boundary=XX\r\n" +
	"\r\n" +
	"--XX\r\n" +
	"Content-Type: text/plain; charset=utf-8\r\n" +
	"\r\n" +
	"Hello quarterly numbers\r\n" +
	"--XX\r\n" +
	"Content-Type: application/octet-stream; name=a.bin\r\n" +
	"Content-Transfer-Encoding: base64\r\n" +
	"Content-Disposition: attachment; filename=a.bin\r\n" +
	"\r\n" +
	"AAECAwQ=\r\n" +
	"--XX--\r\n"

func TestSelectFetch(t *testing.T) {
	e := newEnv(t, envOptions{})
	m := e.deliver("INBOX", msg1)
	e.deliver("INBOX", "Subject: second\r\n\r\nsecond body\r\n", `\Seen`, "$Work")
	c := e.login()
	u := c.ok("SELECT INBOX")
	mustHave(t, u, "* 2 EXISTS", "* 2 RECENT", "* OK [UNSEEN 1]", "[UIDVALIDITY ", "* OK [UIDNEXT 3]", "[HIGHESTMODSEQ ", "[PERMANENTFLAGS (", "* FLAGS (", "$Work")
	u = c.ok("FETCH 1:* (UID FLAGS RFC822.SIZE INTERNALDATE)")
	mustHave(t, u, "* 1 FETCH (UID 1 FLAGS (\\Recent) RFC822.SIZE ", `INTERNALDATE " 5-Mar-2024 10:00:00 +0000"`, `* 2 FETCH (UID 2 FLAGS ($Work \Seen \Recent)`)
	u = c.ok("FETCH 1 ENVELOPE")
	mustHave(t, u, `ENVELOPE ("Tue, 05 Mar 2024 10:00:00 +0000" "=?UTF-8?B?0J/RgNC40LLQtdGC?= report" (("Anna" NIL "anna" "example.org")) (("Anna" NIL "anna" "example.org")) (("Anna" NIL "anna" "example.org")) (("Boris" NIL "boris" "example.org")(NIL NIL "team" NIL)(NIL NIL "c" "d.example")(NIL NIL "e" "f.example")(NIL NIL NIL NIL)) NIL NIL NIL "<1@example.org>")`)
	u = c.ok("FETCH 1 BODYSTRUCTURE")
	mustHave(t, u, `BODYSTRUCTURE (("TEXT" "PLAIN" ("charset" "utf-8") NIL NIL "7BIT" 23 1 NIL NIL NIL NIL)("APPLICATION" "OCTET-STREAM" ("name" "a.bin") NIL NIL "BASE64" 8 NIL ("attachment" ("filename" "a.bin")) NIL NIL) "MIXED" ("boundary" "XX") NIL NIL NIL)`)
	mustHave(t, c.ok("FETCH 1 BODY"), `BODY (("TEXT" "PLAIN" ("charset" "utf-8") NIL NIL "7BIT" 23 1)("APPLICATION" "OCTET-STREAM" ("name" "a.bin") NIL NIL "BASE64" 8) "MIXED")`)
	// PEEK does not set \Seen; sections, partials, header fields.
	u = c.ok("FETCH 1 (BODY.PEEK[1] BODY.PEEK[HEADER.FIELDS (subject message-id)] BODY.PEEK[TEXT]<0.4> BODY.PEEK[2.MIME])")
	mustHave(t, u, "BODY[1] {23}\r\nHello quarterly numbers BODY[", "BODY[HEADER.FIELDS (SUBJECT MESSAGE-ID)] {77}\r\nSubject: =?UTF-8?B?0J/RgNC40LLQtdGC?= report\r\nMessage-ID: <1@example.org>\r\n\r\n",
		"BODY[TEXT]<0> {4}\r\n--XX", "BODY[2.MIME] {")
	if has(c.ok("FETCH 1 FLAGS"), `\Seen`) {
		t.Fatal("BODY.PEEK set \\Seen")
	}
	u = c.ok("FETCH 1 (BINARY[2] BINARY.SIZE[2])")
	mustHave(t, u, "BINARY[2] ~{5}\r\n\x00\x01\x02\x03\x04", "BINARY.SIZE[2] 5")
	// BINARY is not PEEK: \Seen set and reported.
	mustHave(t, u, `\Seen`)
	c.ok(`STORE 1 -FLAGS.SILENT (\Seen)`)
	u = c.ok("FETCH 1 BODY[]")
	mustHave(t, u, "BODY[] {"+itoa(int(m.Size))+"}\r\nFrom: Anna", `FLAGS (\Seen \Recent)`)
	u = c.ok("UID FETCH 2 (RFC822.HEADER BODY.PEEK[HEADER.FIELDS.NOT (Subject)])")
	mustHave(t, u, "* 2 FETCH (UID 2 RFC822.HEADER {19}\r\nSubject: second\r\n\r\n BODY[HEADER.FIELDS.NOT (SUBJECT)] {2}\r\n\r\n)")
	mustHave(t, c.ok("FETCH 1 BODY.PEEK[9]"), "BODY[9] NIL")
	c.expect("FETCH 3 FLAGS", "BAD")
	c.expect("FETCH 1 (FLAGS", "BAD")
	c.expect("FETCH 1 BODY[HEADER.FOO]", "BAD")
	mustHave(t, c.ok("FETCH * (FLAGS MODSEQ)"), "* 2 FETCH (FLAGS ($Work \\Seen \\Recent) MODSEQ (")
	if u := c.ok("UID FETCH 99:* UID"); !has(u, "UID 2") {
		t.Fatalf("UID 99:* must match the highest UID: %q", u)
	}
	mustHave(t, c.ok("EXAMINE INBOX"), "* OK [CLOSED]")
	u, tagged := c.cmd("FETCH 1 BODY[]")
	if has(u, "FLAGS") || !strings.HasPrefix(tagged, "OK") {
		t.Fatalf("EXAMINE: BODY[] changed flags: %q", u)
	}
}

func TestStoreSearchExpunge(t *testing.T) {
	e := newEnv(t, envOptions{})
	e.deliver("INBOX", msg1)
	e.deliver("INBOX", "From: boris@example.org\r\nSubject: lunch\r\nDate: Wed, 06 Mar 2024 12:00:00 +0100\r\n\r\nsoup today\r\n")
	e.deliver("INBOX", "From: carl@example.org\r\nSubject: Re: lunch\r\n\r\npizza\r\n", `\Flagged`)
	c := e.login()
	c.ok("SELECT INBOX")
	u := c.ok(`STORE 1:2 +FLAGS (\Seen $Important)`)
	mustHave(t, u, `* 1 FETCH (FLAGS ($Important \Seen \Recent))`, "* FLAGS (")
	c.ok(`STORE 2 -FLAGS.SILENT ($Important)`)
	for q, want := range map[string]string{
		"SEARCH ALL":                "* SEARCH 1 2 3",
		"SEARCH SEEN":               "* SEARCH 1 2",
		"SEARCH UNSEEN":             "* SEARCH 3",
		"SEARCH KEYWORD $Important": "* SEARCH 1",
		"SEARCH FLAGGED":            "* SEARCH 3",
		"SEARCH FROM boris":         "* SEARCH 2",
		"SEARCH SUBJECT lunch":      "* SEARCH 2 3",
		"SEARCH SUBJECT \"Привет\"": "* SEARCH 1",
		"SEARCH CHARSET UTF-8 SUBJECT {12+}\r\nПривет": "* SEARCH 1",
		"SEARCH TO boris":               "* SEARCH 1",
		"SEARCH BODY quarterly":         "* SEARCH 1",
		"SEARCH TEXT pizza":             "* SEARCH 3",
		"SEARCH OR FROM carl BODY soup": "* SEARCH 2 3",
		"SEARCH NOT SEEN":               "* SEARCH 3",
		"SEARCH (SEEN UNFLAGGED) 2:3":   "* SEARCH 2",
		"UID SEARCH UID 2:*":            "* SEARCH 2 3",
		"SEARCH HEADER Message-ID <1@":  "* SEARCH 1",
		"SEARCH SENTON 6-Mar-2024":      "* SEARCH 2",
		"SEARCH SENTBEFORE 6-Mar-2024":  "* SEARCH 1",
		"SEARCH ON 5-Mar-2024":          "* SEARCH 1 2 3",
		"SEARCH SINCE 6-Mar-2024":       "* SEARCH",
		"SEARCH LARGER 200":             "* SEARCH 1",
		"SEARCH SMALLER 200":            "* SEARCH 2 3",
		"SEARCH NEW":                    "* SEARCH 3",
		"SEARCH MODSEQ 1":               "* SEARCH 1 2 3 (MODSEQ ",
	} {
		u := c.ok(q)
		if !has(u, want) {
			t.Errorf("%s: %q, want %q", q, u, want)
		}
		if want == "* SEARCH" && !has(u, "* SEARCH") {
			t.Errorf("%s: %q", q, u)
		}
		if strings.HasPrefix(want, "* SEARCH") && !strings.Contains(want, "(") {
			for _, l := range u {
				if strings.HasPrefix(l, "* SEARCH") && l != want {
					t.Errorf("%s: %q, want exactly %q", q, l, want)
				}
			}
		}
	}
	c.expect("SEARCH CHARSET KOI8-R ALL", "NO [BADCHARSET")
	c.expect("SEARCH FOO", "BAD")
	mustHave(t, c.ok("SEARCH RETURN (MIN MAX COUNT ALL) SEEN"), `* ESEARCH (TAG "t`, `MIN 1 MAX 2 COUNT 2 ALL 1:2`)
	mustHave(t, c.ok("UID SEARCH RETURN () FROM carl"), `UID ALL 3`)
	// SEARCHRES.
	c.ok("SEARCH RETURN (SAVE) SUBJECT lunch")
	mustHave(t, c.ok("FETCH $ UID"), "* 2 FETCH (UID 2)", "* 3 FETCH (UID 3)")
	c.ok(`STORE 2:3 +FLAGS.SILENT (\Deleted)`)
	u = c.ok("UID EXPUNGE 3")
	mustHave(t, u, "* 3 EXPUNGE")
	if has(u, "* 2 EXPUNGE") {
		t.Fatalf("UID EXPUNGE removed outside its set: %q", u)
	}
	mustHave(t, c.ok("EXPUNGE"), "* 2 EXPUNGE")
	mustHave(t, c.ok("SEARCH ALL"), "* SEARCH 1")
	c.ok("CLOSE")
	c.expect("FETCH 1 FLAGS", "BAD")
}

func TestCopyMoveAppend(t *testing.T) {
	e := newEnv(t, envOptions{})
	e.deliver("INBOX", "Subject: one\r\n\r\n1\r\n", `\Flagged`)
	e.deliver("INBOX", "Subject: two\r\n\r\n2\r\n")
	c := e.login()
	c.ok("SELECT INBOX")
	sent, _ := e.st.Folder(t.Context(), e.acct.ID, "Sent")
	_, tagged := c.cmd("COPY 1:2 Sent")
	want := "OK [COPYUID " + itoa(int(sent.UIDValidity)) + " 1:2 1:2]"
	if !strings.HasPrefix(tagged, want) {
		t.Fatalf("COPY: %q, want %q", tagged, want)
	}
	c.expect("COPY 1 Nowhere", "NO [TRYCREATE]")
	u := c.ok("UID MOVE 1 Archive")
	mustHave(t, u, "* OK [COPYUID ", " 1 1]", "* 1 EXPUNGE")
	arch, _ := e.st.Folder(t.Context(), e.acct.ID, "Archive")
	ms, _ := e.st.MessagesByUID(t.Context(), arch.ID, []uint32{1})
	if len(ms) != 1 || !ms[0].HasFlag(`\Flagged`) {
		t.Fatalf("MOVE lost flags: %+v", ms)
	}
	mustHave(t, c.ok("FETCH 1 UID"), "* 1 FETCH (UID 2)")
	// APPEND with flags and date, synchronising literal.
	msg := "Subject: draft\r\n\r\nhello\r\n"
	c.write("a APPEND Drafts (\\Draft \\Seen) \"14-Feb-2024 09:30:00 +0100\" {" + itoa(len(msg)) + "}\r\n")
	if l := c.line(); !strings.HasPrefix(l, "+") {
		t.Fatalf("no continuation: %q", l)
	}
	c.write(msg + "\r\n")
	_, tagged = c.readUntil("a")
	drafts, _ := e.st.Folder(t.Context(), e.acct.ID, "Drafts")
	if !strings.HasPrefix(tagged, "OK [APPENDUID "+itoa(int(drafts.UIDValidity))+" 1]") {
		t.Fatalf("APPEND: %q", tagged)
	}
	ms, _ = e.st.MessagesByUID(t.Context(), drafts.ID, []uint32{1})
	if len(ms) != 1 || !ms[0].HasFlag(`\Draft`) || !ms[0].HasFlag(`\Seen`) || ms[0].InternalDate.UTC().Hour() != 8 {
		t.Fatalf("appended %+v", ms)
	}
	// MULTIAPPEND with LITERAL+, into the selected mailbox: EXISTS follows.
	u, tagged = c.cmd("APPEND INBOX {6+}\r\nA: b\r\n {6+}\r\nC: d\r\n")
	if !strings.HasPrefix(tagged, "OK [APPENDUID ") || !strings.Contains(tagged, " 3:4]") {
		t.Fatalf("MULTIAPPEND: %q", tagged)
	}
	mustHave(t, u, "* 3 EXISTS")
	c.expect("APPEND Nowhere {3+}\r\nabc", "NO [TRYCREATE]")
	c.ok("NOOP")
	c.expect("APPEND INBOX {999999999}", "NO [TOOBIG]")
	// MOVE into the selected mailbox itself succeeds with a new UID, as in
	// Dovecot (TestMoveIntoSelectedMailbox).
	c.ok("MOVE 1 INBOX")
}

func TestTwoSessionsAndIdle(t *testing.T) {
	e := newEnv(t, envOptions{})
	e.deliver("INBOX", "Subject: one\r\n\r\n1\r\n")
	e.deliver("INBOX", "Subject: two\r\n\r\n2\r\n")
	a, b := e.login(), e.login()
	a.ok("SELECT INBOX")
	b.ok("SELECT INBOX")
	// b changes flags and expunges; a learns at NOOP.
	b.ok(`STORE 1 +FLAGS (\Deleted)`)
	// The messages are recent in a, which selected first.
	mustHave(t, a.ok("NOOP"), `* 1 FETCH (UID 1 FLAGS (\Deleted \Recent))`)
	b.ok("EXPUNGE")
	// No EXPUNGE during FETCH by sequence number...
	u := a.ok("FETCH 1:* UID")
	if has(u, "EXPUNGE") {
		t.Fatalf("EXPUNGE sent during FETCH: %q", u)
	}
	// ...but at the next allowed moment.
	mustHave(t, a.ok("NOOP"), "* 1 EXPUNGE")
	// IDLE wakes on a delivery.
	a.write("i IDLE\r\n")
	if l := a.line(); !strings.HasPrefix(l, "+ ") {
		t.Fatalf("IDLE: %q", l)
	}
	time.Sleep(50 * time.Millisecond)
	e.deliver("INBOX", "Subject: three\r\n\r\n3\r\n")
	if l := a.line(); l != "* 2 EXISTS" {
		t.Fatalf("IDLE got %q, want * 2 EXISTS", l)
	}
	// Both messages are recent in a: the old one since its SELECT,
	// the new one claimed now.
	if l := a.line(); l != "* 2 RECENT" {
		t.Fatalf("IDLE got %q, want * 2 RECENT", l)
	}
	// ...and on another session's flag change.
	b.ok(`STORE 1 +FLAGS (\Answered)`)
	if l := a.line(); !strings.Contains(l, `FLAGS (\Answered \Recent)`) {
		t.Fatalf("IDLE got %q", l)
	}
	a.write("DONE\r\n")
	if _, tagged := a.readUntil("i"); !strings.HasPrefix(tagged, "OK") {
		t.Fatalf("IDLE end: %q", tagged)
	}
	// The session's own STORE is not echoed again later.
	u = a.ok(`STORE 1 +FLAGS (\Flagged)`)
	if len(u) != 1 {
		t.Fatalf("STORE: %q", u)
	}
	if u := a.ok("NOOP"); len(u) != 0 {
		t.Fatalf("own change echoed: %q", u)
	}
}

func TestCondstoreQresync(t *testing.T) {
	e := newEnv(t, envOptions{})
	e.deliver("INBOX", "Subject: one\r\n\r\n1\r\n")
	e.deliver("INBOX", "Subject: two\r\n\r\n2\r\n")
	e.deliver("INBOX", "Subject: three\r\n\r\n3\r\n")
	c := e.login()
	mustHave(t, c.ok("ENABLE QRESYNC"), "* ENABLED QRESYNC")
	u := c.ok("SELECT INBOX (CONDSTORE)")
	var uv, hm string
	for _, l := range u {
		if strings.HasPrefix(l, "* OK [UIDVALIDITY ") {
			uv = strings.Fields(l)[3]
			uv = strings.TrimSuffix(uv, "]")
		}
		if strings.HasPrefix(l, "* OK [HIGHESTMODSEQ ") {
			hm = strings.TrimSuffix(strings.Fields(l)[3], "]")
		}
	}
	if uv == "" || hm == "" {
		t.Fatalf("SELECT %q", u)
	}
	_, tagged := c.cmd("STORE 1 (UNCHANGEDSINCE 1) +FLAGS (\\Seen)")
	if !strings.HasPrefix(tagged, "OK [MODIFIED 1]") {
		t.Fatalf("UNCHANGEDSINCE: %q", tagged)
	}
	c.ok(`STORE 2 +FLAGS (\Deleted)`)
	c.ok("EXPUNGE")
	c.ok(`STORE 1 +FLAGS (\Seen)`)
	c.ok("UNSELECT")
	// Resync from the old mod-sequence.
	u = c.ok("SELECT INBOX (QRESYNC (" + uv + " " + hm + "))")
	mustHave(t, u, "* VANISHED (EARLIER) 2", `FETCH (UID 1 FLAGS (\Seen) MODSEQ (`)
	if has(u, "UID 3 FLAGS") {
		t.Fatalf("unchanged message reported: %q", u)
	}
	u = c.ok("UID FETCH 1:* (FLAGS) (CHANGEDSINCE " + hm + " VANISHED)")
	mustHave(t, u, "* VANISHED (EARLIER) 2", "UID 1 FLAGS (\\Seen) MODSEQ")
}

func TestQuota(t *testing.T) {
	e := newEnv(t, envOptions{quotaBytes: 10 << 20})
	e.deliver("INBOX", "Subject: one\r\n\r\n1\r\n")
	c := e.login()
	mustHave(t, c.ok("GETQUOTAROOT INBOX"), `* QUOTAROOT "INBOX" ""`, `* QUOTA "" (STORAGE 1 10240)`)
	mustHave(t, c.ok(`GETQUOTA ""`), `* QUOTA "" (STORAGE 1 10240)`)
}

// TestSuperiorNames: CREATE a/b/c leaves a and a/b names only, listed
// \Noselect (and \NonExistent) with children, as Dovecot does and
// imaptest's list script expects; they cannot be selected or deleted, a
// CREATE of their own makes them folders, and RENAME of such a name moves
// everything below it.
func TestSuperiorNames(t *testing.T) {
	e := newEnv(t, envOptions{})
	c := e.login()
	c.ok("CREATE a/b/c")
	mustHave(t, c.ok(`LIST "" "a/%"`), `* LIST (\NonExistent \Noselect \HasChildren) "/" "a/b"`)
	mustHave(t, c.ok(`LIST "" "%"`), `* LIST (\NonExistent \Noselect \HasChildren) "/" "a"`)
	if u := c.ok(`LIST "" "a/*"`); !has(u, `"a/b/c"`) || has(u, `\HasChildren) "/" "a/b/c"`) {
		t.Errorf(`LIST "" "a/*": %q`, u)
	}
	c.expect("SELECT a/b", "NO [NONEXISTENT]")
	c.expect("DELETE a/b", "NO [NONEXISTENT]")
	c.expect("APPEND a/b {1+}\r\nx", "NO [TRYCREATE]")

	c.ok("CREATE a/b")
	mustHave(t, c.ok(`LIST "" "a/%"`), `* LIST (\HasChildren) "/" "a/b"`)
	c.ok("SELECT a/b")

	// Renaming the name "a" renames a/b (selected: the session follows
	// it) and a/b/c.
	c.ok("RENAME a z")
	u := c.ok(`LIST "" "*"`)
	if has(u, `"a/b"`) || !has(u, `(\HasChildren) "/" "z/b"`) || !has(u, `"z/b/c"`) {
		t.Errorf("after RENAME a z: %q", u)
	}
	mustHave(t, c.ok(`LIST "" "%"`), `\Noselect \HasChildren) "/" "z"`)
	c.ok("CLOSE")
	c.ok("SELECT z/b/c")
	c.expect("RENAME nosuch x", "NO [NONEXISTENT]")
	c.ok("CREATE y/q")
	c.expect("RENAME z y", "NO [ALREADYEXISTS]")
}

// A name that is no folder is not listed when another pattern of the same
// LIST lists a folder below it (RFC 5258 §3: names that do not exist are
// listed only when something calls for them).
func TestSuperiorNameWithSeveralPatterns(t *testing.T) {
	e := newEnv(t, envOptions{})
	c := e.login()
	c.ok("CREATE p/q")
	u := c.ok(`LIST "" (p p/q)`)
	if listed(u, "p") || !listed(u, "p/q") {
		t.Errorf(`LIST "" (p p/q): %q, want p/q alone`, u)
	}
	if u := c.ok(`LIST "" (p)`); !has(u, `\NonExistent \Noselect \HasChildren) "/" "p"`) {
		t.Errorf(`LIST "" (p): %q`, u)
	}
}
