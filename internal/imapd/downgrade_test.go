package imapd

import (
	"database/sql"
	"mime"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/emersion/go-imap/v2"

	"github.com/pochta-mail/pochta/internal/mimeparse"
)

// utf8Msg has UTF-8 (RFC 6532) headers in the message header, in a body
// part's MIME header and in an attached message/global.
const utf8Msg = "Return-Path: <dörte@example.org>\r\n" +
	"From: Dörte Müller <dörte@example.org>\r\n" +
	"To: Anna <anna@bücher.example>\r\n" +
	"Subject: Grüße aus Köln\r\n" +
	"Message-ID: <grüße@example.org>\r\n" +
	"MIME-Version: 1.0\r\n" +
	"Content-Type: multipart/mixed; boundary=\"b\"\r\n" +
	"\r\n" +
	"--b\r\n" +
	"Content-Type: text/plain; charset=utf-8\r\n" +
	"Content-Transfer-Encoding: 8bit\r\n" +
	"Content-Description: Überblick\r\n" +
	"\r\n" +
	"Grüße!\r\n" +
	"--b\r\n" +
	"Content-Type: application/octet-stream; name=\"Bericht über 2024.bin\"\r\n" +
	"Content-Disposition: attachment; filename=\"Bericht über 2024.bin\"\r\n" +
	"Content-Transfer-Encoding: base64\r\n" +
	"\r\n" +
	"AAAA\r\n" +
	"--b\r\n" +
	"Content-Type: message/global\r\n" +
	"\r\n" +
	"From: Jörg <jörg@example.org>\r\n" +
	"Subject: ältere Nachricht\r\n" +
	"\r\n" +
	"Text\r\n" +
	"--b--\r\n"

// eightBit finds the first 8-bit byte of s, or -1.
func eightBit(s string) int {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return i
		}
	}
	return -1
}

// literalOf returns the first literal after item in a FETCH response
// line (as client.line inlines it).
func literalOf(t *testing.T, line, item string) string {
	t.Helper()
	re := regexp.MustCompile(regexp.QuoteMeta(item) + ` \{(\d+)\}\r\n`)
	m := re.FindStringSubmatchIndex(line)
	if m == nil {
		t.Fatalf("no literal for %s in %q", item, line)
	}
	n, _ := strconv.Atoi(line[m[2]:m[3]])
	return line[m[1] : m[1]+n]
}

var sizeRE = regexp.MustCompile(`RFC822\.SIZE (\d+)`)

func sizeOf(t *testing.T, line string) int {
	t.Helper()
	m := sizeRE.FindStringSubmatch(line)
	if m == nil {
		t.Fatalf("no RFC822.SIZE in %q", line)
	}
	n, _ := strconv.Atoi(m[1])
	return n
}

// An IMAP4rev1 client that did not enable UTF8=ACCEPT gets the message
// downgraded (RFC 6857): 7-bit headers, ENVELOPE and BODYSTRUCTURE, and
// an RFC822.SIZE equal to what BODY[] sends.
func TestDowngradeForClientsWithoutUTF8(t *testing.T) {
	e := newEnv(t, envOptions{})
	e.deliver("INBOX", utf8Msg)
	c := e.login()
	c.ok("SELECT INBOX")

	u := c.ok("FETCH 1 (RFC822.SIZE BODY.PEEK[])")
	whole := literalOf(t, u[0], "BODY[]")
	if size := sizeOf(t, u[0]); size != len(whole) {
		t.Errorf("RFC822.SIZE %d, BODY[] has %d octets", size, len(whole))
	}
	if whole == utf8Msg {
		t.Fatal("BODY[] not downgraded")
	}
	head, body, _ := strings.Cut(whole, "\r\n\r\n")
	if i := eightBit(head); i >= 0 {
		t.Errorf("8-bit header at %d: %q", i, head)
	}
	// Body text is not touched; the MIME headers of the parts and of the
	// attached message are.
	if !strings.Contains(body, "\r\n\r\nGrüße!\r\n") {
		t.Errorf("body text changed: %q", body)
	}
	for _, want := range []string{
		"Subject: =?UTF-8?Q?Gr=C3=BC=C3=9Fe?= aus =?UTF-8?Q?K=C3=B6ln?=\r\n",
		"From: =?UTF-8?Q?D=C3=B6rte_M=C3=BCller?=\r\n =?UTF-8?Q?=3Cd=C3=B6rte=40example=2Eorg=3E?=:;\r\n",
		"To: Anna <anna@xn--bcher-kva.example>\r\n",
		"Downgraded-Message-Id: =?UTF-8?Q?=3Cgr=C3=BC=C3=9Fe=40example=2Eorg=3E?=\r\n",
		"Content-Description: =?UTF-8?Q?=C3=9Cberblick?=\r\n",
		"filename*=utf-8''Bericht%20%C3%BCber%202024.bin",
		"Subject: =?UTF-8?Q?=C3=A4ltere?= Nachricht\r\n",
	} {
		if !strings.Contains(whole, want) {
			t.Errorf("no %q in\n%s", want, whole)
		}
	}
	if strings.Contains(whole, "\r\nMessage-ID:") {
		t.Error("Message-ID kept beside Downgraded-Message-Id")
	}

	// The same bytes in the other forms; partial fetches count in them.
	u = c.ok("FETCH 1 (RFC822.HEADER BODY.PEEK[HEADER] BODY.PEEK[TEXT] BODY.PEEK[3] BODY.PEEK[2.MIME] BODY.PEEK[]<10.20> BINARY.SIZE[3])")
	if got := literalOf(t, u[0], "RFC822.HEADER"); got != head+"\r\n\r\n" {
		t.Errorf("RFC822.HEADER %q", got)
	}
	if got := literalOf(t, u[0], "BODY[HEADER]"); got != head+"\r\n\r\n" {
		t.Errorf("BODY[HEADER] %q", got)
	}
	if got := literalOf(t, u[0], "BODY[TEXT]"); got != body {
		t.Errorf("BODY[TEXT] %q", got)
	}
	part3 := literalOf(t, u[0], "BODY[3]")
	if part3 != "From: =?UTF-8?Q?J=C3=B6rg?= =?UTF-8?Q?=3Cj=C3=B6rg=40example=2Eorg=3E?=:;\r\nSubject: =?UTF-8?Q?=C3=A4ltere?= Nachricht\r\n\r\nText" {
		t.Errorf("BODY[3] %q", part3)
	}
	if got := literalOf(t, u[0], "BODY[2.MIME]"); eightBit(got) >= 0 || !strings.HasSuffix(got, "\r\n\r\n") {
		t.Errorf("BODY[2.MIME] %q", got)
	}
	if got := literalOf(t, u[0], "BODY[]<10>"); got != whole[10:30] {
		t.Errorf("BODY[]<10.20> %q, want %q", got, whole[10:30])
	}
	if !strings.Contains(u[0], "BINARY.SIZE[3] "+strconv.Itoa(len(part3))) {
		t.Errorf("BINARY.SIZE[3] not %d: %q", len(part3), u[0])
	}

	// ENVELOPE and BODYSTRUCTURE: 7-bit, sizes matching the sections.
	u = c.ok("FETCH 1 (ENVELOPE BODYSTRUCTURE)")
	if i := eightBit(u[0]); i >= 0 {
		t.Fatalf("8-bit byte at %d in %q", i, u[0])
	}
	mustHave(t, u,
		`"=?UTF-8?Q?Gr=C3=BC=C3=9Fe?= aus =?UTF-8?Q?K=C3=B6ln?="`,
		`((NIL NIL "=?UTF-8?Q?D=C3=B6rte_M=C3=BCller?= =?UTF-8?Q?=3Cd=C3=B6rte=40example=2Eorg=3E?=" NIL)(NIL NIL NIL NIL))`,
		`(("Anna" NIL "anna" "xn--bcher-kva.example"))`,
		`"filename*" "utf-8''Bericht%20%C3%BCber%202024.bin"`,
		`"=?UTF-8?Q?=C3=9Cberblick?="`,
		`"MESSAGE" "GLOBAL" NIL NIL NIL "7BIT" `+strconv.Itoa(len(part3))+` (`,
	)
	// The ENVELOPE message-id is NIL: the field was encapsulated.
	mustHave(t, u, `"xn--bcher-kva.example")) NIL NIL NIL NIL) BODYSTRUCTURE`)

	// FETCH FAST alone gives the downgraded size too.
	u = c.ok("FETCH 1 FAST")
	if sizeOf(t, u[0]) != len(whole) {
		t.Errorf("FAST size %d, want %d", sizeOf(t, u[0]), len(whole))
	}
}

// A client that enabled UTF8=ACCEPT gets the stored bytes unchanged.
func TestNoDowngradeAfterUTF8Accept(t *testing.T) {
	e := newEnv(t, envOptions{})
	e.deliver("INBOX", utf8Msg)
	c := e.login()
	c.ok("ENABLE UTF8=ACCEPT")
	c.ok("SELECT INBOX")
	u := c.ok("FETCH 1 (RFC822.SIZE ENVELOPE BODYSTRUCTURE BODY.PEEK[])")
	if got := literalOf(t, u[0], "BODY[]"); got != utf8Msg {
		t.Errorf("BODY[] changed:\n%s", got)
	}
	if sizeOf(t, u[0]) != len(utf8Msg) {
		t.Errorf("RFC822.SIZE %d, want %d", sizeOf(t, u[0]), len(utf8Msg))
	}
	mustHave(t, u, `"Grüße aus Köln"`, `("Dörte Müller" NIL "dörte" "example.org")`, `"filename" "Bericht über 2024.bin"`)

	// IMAP4rev2 includes UTF-8.
	c2 := e.login()
	c2.ok("ENABLE IMAP4rev2")
	c2.ok("SELECT INBOX")
	u = c2.ok("FETCH 1 (BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
	mustHave(t, u, "Subject: Grüße aus Köln\r\n")
}

// SEARCH matches UTF-8 text whether or not the client takes UTF-8.
func TestSearchUTF8Headers(t *testing.T) {
	e := newEnv(t, envOptions{})
	e.deliver("INBOX", "From: a@example.org\r\nSubject: plain\r\n\r\nx\r\n")
	e.deliver("INBOX", utf8Msg)
	rev1 := e.login()
	rev1.ok("SELECT INBOX")
	utf := e.login()
	utf.ok("ENABLE UTF8=ACCEPT")
	utf.ok("SELECT INBOX")
	key := "Köln"
	u := rev1.ok("SEARCH CHARSET UTF-8 SUBJECT {" + strconv.Itoa(len(key)) + "+}\r\n" + key)
	mustHave(t, u, "* SEARCH 2")
	u = rev1.ok("SEARCH CHARSET UTF-8 FROM {" + strconv.Itoa(len("dörte")) + "+}\r\ndörte")
	mustHave(t, u, "* SEARCH 2")
	u = utf.ok(`SEARCH SUBJECT "Grüße"`)
	mustHave(t, u, "* SEARCH 2")
	u = utf.ok(`SEARCH HEADER Message-ID "grüße"`)
	mustHave(t, u, "* SEARCH 2")
}

// go-imap's client without UTF8=ACCEPT: the envelope decodes back to the
// UTF-8 text, and every body section is as long as BODYSTRUCTURE says.
func TestDowngradeIMAPClient(t *testing.T) {
	e := newEnv(t, envOptions{})
	e.deliver("INBOX", utf8Msg)
	c := e.imapClient(nil)
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	msgs, err := c.Fetch(imap.SeqSetNum(1), &imap.FetchOptions{
		Envelope: true, BodyStructure: &imap.FetchItemBodyStructure{Extended: true}, RFC822Size: true,
		BodySection: []*imap.FetchItemBodySection{{Peek: true}, {Part: []int{1}, Peek: true}, {Part: []int{2}, Peek: true}, {Part: []int{3}, Peek: true}},
	}).Collect()
	if err != nil || len(msgs) != 1 {
		t.Fatalf("fetch: %v %v", msgs, err)
	}
	m := msgs[0]
	dec := new(mime.WordDecoder)
	if s, _ := dec.DecodeHeader(m.Envelope.Subject); s != "Grüße aus Köln" {
		t.Errorf("subject %q (%q)", s, m.Envelope.Subject)
	}
	whole := m.FindBodySection(&imap.FetchItemBodySection{})
	if int64(len(whole)) != m.RFC822Size {
		t.Errorf("RFC822.SIZE %d, BODY[] %d", m.RFC822Size, len(whole))
	}
	mp, ok := m.BodyStructure.(*imap.BodyStructureMultiPart)
	if !ok || len(mp.Children) != 3 {
		t.Fatalf("body structure %#v", m.BodyStructure)
	}
	for i, ch := range mp.Children {
		sp := ch.(*imap.BodyStructureSinglePart)
		got := m.FindBodySection(&imap.FetchItemBodySection{Part: []int{i + 1}})
		if int64(len(got)) != int64(sp.Size) {
			t.Errorf("part %d: BODYSTRUCTURE size %d, section %d octets", i+1, sp.Size, len(got))
		}
		if sp.MessageRFC822 != nil {
			if lines := int64(strings.Count(string(got), "\n") + 1); lines != sp.MessageRFC822.NumLines {
				t.Errorf("part %d: %d lines, BODYSTRUCTURE says %d", i+1, lines, sp.MessageRFC822.NumLines)
			}
		}
	}
}

// Messages stored before the store recorded whether their headers are
// 8-bit (header_bytes 0, unknown) are judged by their cached structure:
// the UTF-8 one is still downgraded, with a FETCH FAST size that matches
// its bytes, and the ASCII one is served as stored.
func TestDowngradeMessageStoredBeforeHeaderBytes(t *testing.T) {
	e := newEnv(t, envOptions{})
	plain := "From: a@example.org\r\nSubject: plain\r\n\r\nx\r\n"
	for _, msg := range []string{plain, utf8Msg} {
		m := e.deliver("INBOX", msg)
		if m.HeaderBytes == mimeparse.HeadersUnknown {
			t.Fatalf("delivery did not record HeaderBytes")
		}
	}
	db, err := sql.Open("sqlite", "file:"+filepath.Join(e.dir, "pochta.db"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec("UPDATE messages SET header_bytes = 0"); err != nil {
		t.Fatal(err)
	}
	db.Close()

	c := e.login()
	c.ok("SELECT INBOX")
	u := c.ok("FETCH 1:2 FAST")
	if len(u) != 2 {
		t.Fatalf("FETCH FAST: %q", u)
	}
	if got := sizeOf(t, u[0]); got != len(plain) {
		t.Errorf("ASCII message: RFC822.SIZE %d, want %d", got, len(plain))
	}
	fast := sizeOf(t, u[1])
	u = c.ok("FETCH 2 (BODY.PEEK[])")
	whole := literalOf(t, u[0], "BODY[]")
	if whole == utf8Msg || eightBit(strings.SplitN(whole, "\r\n\r\n", 2)[0]) >= 0 {
		t.Fatalf("UTF-8 message not downgraded:\n%s", whole)
	}
	if fast != len(whole) {
		t.Errorf("UTF-8 message: FETCH FAST size %d, BODY[] has %d octets", fast, len(whole))
	}
}
