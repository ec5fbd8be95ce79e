package pop3

import (
	"encoding/base64"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/pochta-mail/pochta/internal/store"
)

const (
	msgA = "From: a@example.net\r\nSubject: one\r\n\r\nfirst line\r\nsecond line\r\nthird line\r\n"
	// msgDots has lines that need byte-stuffing, including a lone ".".
	msgDots = "Subject: dots\r\n\r\n.starts with a dot\r\n..two dots\r\n.\r\nmiddle . dot\r\n.\r\n"
	// msgNoCRLF does not end with a line ending.
	msgNoCRLF = "Subject: open end\r\n\r\nno final line ending"
	// msgHeaderOnly has no blank line and no body.
	msgHeaderOnly = "Subject: header only\r\nX-A: b\r\n"
)

// TestDialogues is the table of raw dialogues: every command in every
// state, the errors, and the exact bytes of responses.
func TestDialogues(t *testing.T) {
	sizeA, sizeDots := len(msgA), len(msgDots)
	cases := []struct {
		name   string
		cfg    envConfig
		msgs   []string
		script string
	}{
		{name: "capa before login, plaintext allowed", cfg: envConfig{allowPlaintext: true}, script: `
			C: CAPA
			S: +OK Capability list follows
			S: TOP
			S: UIDL
			S: RESP-CODES
			S: AUTH-RESP-CODE
			S: PIPELINING
			S: UTF8
			S: USER
			S: SASL PLAIN LOGIN
			S: STLS
			S: EXPIRE 30 USER
			S: .`},
		{name: "secure policy without TLS", script: `
			C: CAPA
			S: +OK Capability list follows
			S: TOP
			S: UIDL
			S: RESP-CODES
			S: AUTH-RESP-CODE
			S: PIPELINING
			S: UTF8
			S: STLS
			S: EXPIRE 30 USER
			S: .
			C: USER ` + testUser + `
			S: ` + replyTLSRequired + `
			C: PASS ` + testPassword + `
			S: -ERR Send USER first
			C: AUTH PLAIN ` + b64("\x00"+testUser+"\x00"+testPassword) + `
			S: ` + replyTLSRequired + `
			C: AUTH
			S: +OK
			S: .
			C: QUIT
			S: +OK Bye`},
		{name: "commands in the AUTHORIZATION state", cfg: envConfig{allowPlaintext: true}, script: `
			C: STAT
			S: -ERR Not logged in
			C: LIST
			S: -ERR Not logged in
			C: RETR 1
			S: -ERR Not logged in
			C: DELE 1
			S: -ERR Not logged in
			C: NOOP
			S: -ERR Not logged in
			C: RSET
			S: -ERR Not logged in
			C: TOP 1 0
			S: -ERR Not logged in
			C: UIDL
			S: -ERR Not logged in
			C: APOP user 0123456789abcdef0123456789abcdef
			S: ` + replyAPOPOff + `
			C: XYZZY
			S: -ERR Unknown command
			C: RETRIEVE 1
			S: -ERR Unknown command
			C: 
			S: -ERR Unknown command
			C: UTF8
			S: +OK UTF8 enabled
			C: PASS x
			S: -ERR Send USER first
			C: USER
			S: -ERR USER needs a user name
			C: AUTH CRAM-MD5
			S: -ERR Unsupported authentication mechanism
			C: quit
			S: +OK Bye`},
		{name: "wrong password, unknown user", cfg: envConfig{allowPlaintext: true}, script: `
			C: USER ` + testUser + `
			S: +OK Send your password
			C: PASS wrong
			S: ` + replyLoginFailed + `
			C: USER nobody@example.org
			S: +OK Send your password
			C: PASS ` + testPassword + `
			S: ` + replyLoginFailed + `
			C: USER user
			S: +OK Send your password
			C: PASS ` + testPassword + `
			S~ ^\+OK Logged in, 0 messages \(0 octets\)$`},
		{name: "POP3 off gives the same text", cfg: envConfig{allowPlaintext: true, settings: func(s *store.Settings) { s.POP3Enabled = false }}, script: `
			C: USER ` + testUser + `
			S: +OK Send your password
			C: PASS ` + testPassword + `
			S: ` + replyLoginFailed},
		{name: "AUTH PLAIN and LOGIN", cfg: envConfig{allowPlaintext: true}, script: `
			C: AUTH
			S: +OK
			S: PLAIN
			S: LOGIN
			S: .
			C: AUTH PLAIN
			S: + 
			C: *
			S: -ERR Authentication cancelled
			C: AUTH PLAIN !!!
			S: -ERR Invalid base64 in SASL response
			C: AUTH PLAIN =
			S: -ERR Malformed PLAIN response
			C: AUTH PLAIN ` + b64("other@example.org\x00"+testUser+"\x00"+testPassword) + `
			S: -ERR [AUTH] Acting as another user is not allowed
			C: AUTH LOGIN
			S: + VXNlcm5hbWU6
			C: ` + b64(testUser) + `
			S: + UGFzc3dvcmQ6
			C: ` + b64("bad") + `
			S: ` + replyLoginFailed + `
			C: AUTH PLAIN
			S: + 
			C: ` + b64(testUser+"\x00"+testUser+"\x00"+testPassword) + `
			S~ ^\+OK Logged in`},
		{name: "AUTH LOGIN with initial response", cfg: envConfig{allowPlaintext: true}, script: `
			C: AUTH LOGIN ` + b64(testUser) + `
			S: + UGFzc3dvcmQ6
			C: ` + b64(testPassword) + `
			S~ ^\+OK Logged in`},
		{name: "TRANSACTION commands and errors", cfg: envConfig{allowPlaintext: true}, msgs: []string{msgA, msgDots}, script: `
			C: USER ` + testUser + `
			S: +OK Send your password
			C: PASS ` + testPassword + `
			S: +OK Logged in, 2 messages (` + fmt.Sprint(sizeA+sizeDots) + ` octets)
			C: STAT
			S: +OK 2 ` + fmt.Sprint(sizeA+sizeDots) + `
			C: LIST
			S: +OK 2 messages (` + fmt.Sprint(sizeA+sizeDots) + ` octets)
			S: 1 ` + fmt.Sprint(sizeA) + `
			S: 2 ` + fmt.Sprint(sizeDots) + `
			S: .
			C: LIST 2
			S: +OK 2 ` + fmt.Sprint(sizeDots) + `
			C: LIST 3
			S: -ERR No such message
			C: LIST 0
			S: -ERR No such message
			C: LIST -1
			S: -ERR No such message
			C: LIST x
			S: -ERR No such message
			C: LIST 1 2
			S: -ERR LIST needs 1 argument(s)
			C: UIDL 9999999999
			S: -ERR No such message
			C: RETR
			S: -ERR RETR needs 1 argument(s)
			C: TOP 1
			S: -ERR TOP needs a message number and a number of lines
			C: TOP 1 -1
			S: -ERR Invalid number of lines
			C: NOOP
			S: +OK
			C: NOOP x
			S: -ERR NOOP takes no arguments
			C: DELE 1
			S: +OK Message 1 marked deleted
			C: DELE 1
			S: -ERR Message already deleted
			C: RETR 1
			S: -ERR Message already deleted
			C: TOP 1 0
			S: -ERR Message already deleted
			C: LIST 1
			S: -ERR Message already deleted
			C: UIDL 1
			S: -ERR Message already deleted
			C: STAT
			S: +OK 1 ` + fmt.Sprint(sizeDots) + `
			C: LIST
			S: +OK 1 messages (` + fmt.Sprint(sizeDots) + ` octets)
			S: 2 ` + fmt.Sprint(sizeDots) + `
			S: .
			C: RSET
			S: +OK 1 messages unmarked
			C: STAT
			S: +OK 2 ` + fmt.Sprint(sizeA+sizeDots) + `
			C: USER x
			S: -ERR Already logged in
			C: PASS x
			S: -ERR Already logged in
			C: AUTH PLAIN
			S: -ERR Already logged in
			C: STLS
			S: -ERR Already logged in
			C: APOP a b
			S: -ERR Already logged in
			C: FOO
			S: -ERR Unknown command
			C: CAPA
			S: +OK Capability list follows
			S: TOP
			S: UIDL
			S: RESP-CODES
			S: AUTH-RESP-CODE
			S: PIPELINING
			S: UTF8
			S: EXPIRE NEVER
			S: .
			C: QUIT
			S: +OK Bye (0 messages removed)`},
		{name: "RETR byte-stuffs", cfg: envConfig{allowPlaintext: true}, msgs: []string{msgDots}, script: `
			C: USER user
			C: PASS ` + testPassword + `
			C: RETR 1
			S: +OK Send your password
			S~ ^\+OK Logged in
			S: +OK ` + fmt.Sprint(sizeDots) + ` octets
			S: Subject: dots
			S: 
			S: ..starts with a dot
			S: ...two dots
			S: ..
			S: middle . dot
			S: ..
			S: .`},
		{name: "RETR adds the missing final CRLF", cfg: envConfig{allowPlaintext: true}, msgs: []string{msgNoCRLF}, script: `
			C: USER user
			C: PASS ` + testPassword + `
			C: RETR 1
			S: +OK Send your password
			S~ ^\+OK Logged in
			S: +OK ` + fmt.Sprint(len(msgNoCRLF)+2) + ` octets
			S: Subject: open end
			S: 
			S: no final line ending
			S: .`},
		{name: "TOP", cfg: envConfig{allowPlaintext: true}, msgs: []string{msgA, msgHeaderOnly, msgDots, msgNoCRLF}, script: `
			C: USER user
			C: PASS ` + testPassword + `
			S: +OK Send your password
			S~ ^\+OK Logged in
			C: TOP 1 0
			S: +OK Top of message follows
			S: From: a@example.net
			S: Subject: one
			S: 
			S: .
			C: TOP 1 2
			S: +OK Top of message follows
			S: From: a@example.net
			S: Subject: one
			S: 
			S: first line
			S: second line
			S: .
			C: TOP 1 3
			S: +OK Top of message follows
			S: From: a@example.net
			S: Subject: one
			S: 
			S: first line
			S: second line
			S: third line
			S: .
			C: TOP 1 1000
			S: +OK Top of message follows
			S: From: a@example.net
			S: Subject: one
			S: 
			S: first line
			S: second line
			S: third line
			S: .
			C: TOP 2 5
			S: +OK Top of message follows
			S: Subject: header only
			S: X-A: b
			S: .
			C: TOP 3 1
			S: +OK Top of message follows
			S: Subject: dots
			S: 
			S: ..starts with a dot
			S: .
			C: TOP 4 9
			S: +OK Top of message follows
			S: Subject: open end
			S: 
			S: no final line ending
			S: .`},
		{name: "pipelined commands answered in order", cfg: envConfig{allowPlaintext: true}, msgs: []string{msgA, msgA}, script: `
			C: CAPA
			C: USER user
			C: PASS ` + testPassword + `
			C: STAT
			C: UIDL 2
			C: TOP 1 0
			C: DELE 2
			C: LIST
			C: NOOP
			C: QUIT
			S: +OK Capability list follows
			S: TOP
			S: UIDL
			S: RESP-CODES
			S: AUTH-RESP-CODE
			S: PIPELINING
			S: UTF8
			S: USER
			S: SASL PLAIN LOGIN
			S: STLS
			S: EXPIRE 30 USER
			S: .
			S: +OK Send your password
			S~ ^\+OK Logged in, 2 messages
			S: +OK 2 ` + fmt.Sprint(2*sizeA) + `
			S~ ^\+OK 2 \d+$
			S: +OK Top of message follows
			S: From: a@example.net
			S: Subject: one
			S: 
			S: .
			S: +OK Message 2 marked deleted
			S: +OK 1 messages (` + fmt.Sprint(sizeA) + ` octets)
			S: 1 ` + fmt.Sprint(sizeA) + `
			S: .
			S: +OK
			S: +OK Bye (1 messages removed)`},
		{name: "password with spaces, local part login", cfg: envConfig{allowPlaintext: true}, script: `
			C: USER user
			S: +OK Send your password
			C: PASS ` + testPassword + `
			S~ ^\+OK Logged in`},
		{name: "line too long", cfg: envConfig{allowPlaintext: true}, script: `
			C: NOOP ` + strings.Repeat("x", maxLine) + `
			S: -ERR Line too long
			C: QUIT
			S: +OK Bye`},
		{name: "login delay", cfg: envConfig{allowPlaintext: true, loginDelay: time.Hour}, script: `
			C: CAPA
			S: +OK Capability list follows
			S: TOP
			S: UIDL
			S: RESP-CODES
			S: AUTH-RESP-CODE
			S: PIPELINING
			S: UTF8
			S: USER
			S: SASL PLAIN LOGIN
			S: STLS
			S: EXPIRE 30 USER
			S: LOGIN-DELAY 3600
			S: .
			C: USER user
			C: PASS ` + testPassword + `
			C: QUIT
			S: +OK Send your password
			S~ ^\+OK Logged in
			S~ ^\+OK Bye`},
		{name: "EXPIRE from the served folders", cfg: envConfig{allowPlaintext: true, spamRetention: 10 * 24 * time.Hour,
			settings: func(s *store.Settings) { s.POP3Folders = []string{"INBOX", "Spam"} }}, script: `
			C: USER user
			C: PASS ` + testPassword + `
			C: CAPA
			S: +OK Send your password
			S~ ^\+OK Logged in
			S: +OK Capability list follows
			S: TOP
			S: UIDL
			S: RESP-CODES
			S: AUTH-RESP-CODE
			S: PIPELINING
			S: UTF8
			S: EXPIRE 10
			S: .`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, tc.cfg)
			for _, m := range tc.msgs {
				e.deliver(m, "")
			}
			e.dial().dialog(tc.script)
		})
	}
}

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

// TestRetrExactBytes checks that RETR sends exactly the stored octets
// after un-stuffing, and that LIST announced that many. The session
// issues UTF8, so the UTF-8 header is sent as stored too.
func TestRetrExactBytes(t *testing.T) {
	e := newEnv(t, envConfig{allowPlaintext: true})
	bodies := []string{msgA, msgDots, msgNoCRLF, msgHeaderOnly,
		"Subject: long\r\n\r\n" + strings.Repeat("y", 100_000) + "\r\n.\r\n" + strings.Repeat(".z", 50_000) + "\r\n",
		"Subject: utf8 \u043f\u0440\u0438\u0432\u0435\u0442\r\n\r\n\u043f\u0438\u0441\u044c\u043c\u043e\r\n"}
	for _, b := range bodies {
		e.deliver(b, "")
	}
	c := e.dial()
	if r := c.cmd("UTF8"); r != "+OK UTF8 enabled" {
		t.Fatalf("UTF8: %q", r)
	}
	c.login()
	for i, want := range bodies {
		n := i + 1
		// What RETR sends: a missing final CRLF is added, and counted.
		w := want
		if !strings.HasSuffix(w, "\r\n") {
			w += "\r\n"
		}
		st := c.cmd(fmt.Sprintf("LIST %d", n))
		if st != fmt.Sprintf("+OK %d %d", n, len(w)) {
			t.Fatalf("LIST %d = %q, want size %d", n, st, len(w))
		}
		if r := c.cmd(fmt.Sprintf("RETR %d", n)); r != fmt.Sprintf("+OK %d octets", len(w)) {
			t.Fatalf("RETR %d: %q", n, r)
		}
		var got strings.Builder
		for _, l := range c.multi() {
			got.WriteString(strings.TrimPrefix(l, ".")) // un-stuff
			got.WriteString("\r\n")
		}
		if got.String() != w {
			t.Fatalf("RETR %d: got %d octets, want %d", n, got.Len(), len(w))
		}
	}
}

// TestNoFinalCRLF checks byte for byte what the server says about a
// message whose last line has no line ending (and the dot-terminated
// message before it): RETR and TOP end it with CRLF before the
// terminating ".", and STAT, LIST and RETR's status count those two
// octets, so every size is the octets RETR sends before byte-stuffing.
func TestNoFinalCRLF(t *testing.T) {
	e := newEnv(t, envConfig{allowPlaintext: true})
	const dotEnd = "Subject: x\r\n\r\nends with a dot\r\n." // last line is a lone "." without CRLF
	e.deliver(msgNoCRLF, "")
	e.deliver(dotEnd, "")
	n1, n2 := len(msgNoCRLF)+2, len(dotEnd)+2
	c := e.dial()
	c.login()
	c.send("STAT\r\nLIST\r\nLIST 1\r\nRETR 1\r\nTOP 1 0\r\nTOP 1 1\r\nRETR 2\r\nQUIT\r\n")
	want := fmt.Sprintf("+OK 2 %d\r\n", n1+n2) +
		fmt.Sprintf("+OK 2 messages (%d octets)\r\n1 %d\r\n2 %d\r\n.\r\n", n1+n2, n1, n2) +
		fmt.Sprintf("+OK 1 %d\r\n", n1) +
		fmt.Sprintf("+OK %d octets\r\nSubject: open end\r\n\r\nno final line ending\r\n.\r\n", n1) +
		"+OK Top of message follows\r\nSubject: open end\r\n\r\n.\r\n" +
		"+OK Top of message follows\r\nSubject: open end\r\n\r\nno final line ending\r\n.\r\n" +
		fmt.Sprintf("+OK %d octets\r\nSubject: x\r\n\r\nends with a dot\r\n..\r\n.\r\n", n2) +
		"+OK Bye (0 messages removed)\r\n"
	got := make([]byte, len(want))
	c.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.ReadFull(c.r, got); err != nil {
		t.Fatalf("read: %v (got %q)", err, got)
	}
	if string(got) != want {
		t.Fatalf("got\n%q\nwant\n%q", got, want)
	}
	if !c.closed(5 * time.Second) {
		t.Fatal("more after QUIT")
	}
}

// TestSTLS upgrades a connection and logs in over TLS under the secure
// policy.
func TestSTLS(t *testing.T) {
	e := newEnv(t, envConfig{})
	c := e.dial()
	if r := c.cmd("STLS"); r != "+OK Begin TLS negotiation" {
		t.Fatalf("STLS: %q", r)
	}
	tc := tlsClient(c, e)
	tc.dialog(`
		C: CAPA
		S: +OK Capability list follows
		S: TOP
		S: UIDL
		S: RESP-CODES
		S: AUTH-RESP-CODE
		S: PIPELINING
		S: UTF8
		S: USER
		S: SASL PLAIN LOGIN
		S: EXPIRE 30 USER
		S: .
		C: STLS
		S: -ERR Already using TLS
		C: AUTH PLAIN ` + b64("\x00"+testUser+"\x00"+testPassword) + `
		S~ ^\+OK Logged in
		C: QUIT
		S~ ^\+OK Bye`)
}

// TestSTLSInjection refuses commands pipelined after STLS in the clear.
func TestSTLSInjection(t *testing.T) {
	e := newEnv(t, envConfig{})
	c := e.dial()
	c.send("STLS\r\nUSER " + testUser + "\r\n")
	if r := c.line(); !strings.HasPrefix(r, "-ERR [SYS/PERM]") {
		t.Fatalf("STLS with pipelined plaintext: %q", r)
	}
	if !c.closed(5 * time.Second) {
		t.Fatal("connection not closed")
	}
}

// TestImplicitTLS logs in on the pop3s listener.
func TestImplicitTLS(t *testing.T) {
	e := newEnv(t, envConfig{})
	e.deliver(msgA, "")
	c := e.dialTLS()
	c.dialog(`
		C: USER ` + testUser + `
		S: +OK Send your password
		C: PASS ` + testPassword + `
		S: +OK Logged in, 1 messages (` + fmt.Sprint(len(msgA)) + ` octets)
		C: QUIT
		S~ ^\+OK Bye`)
}

// TestTooManyFailures closes a connection after repeated failures.
func TestTooManyFailures(t *testing.T) {
	e := newEnv(t, envConfig{allowPlaintext: true})
	c := e.dial()
	for i := 0; i < maxAuthFailures; i++ {
		c.cmd("USER " + testUser)
		if r := c.cmd("PASS nope"); r != replyLoginFailed {
			t.Fatalf("attempt %d: %q", i, r)
		}
	}
	if r := c.line(); !strings.HasPrefix(r, "-ERR [AUTH] Too many") {
		t.Fatalf("after %d failures: %q", maxAuthFailures, r)
	}
	if !c.closed(5 * time.Second) {
		t.Fatal("connection not closed")
	}
}

// TestNoSoftwareName checks that nothing in the greeting or CAPA names the
// software or its version.
func TestNoSoftwareName(t *testing.T) {
	e := newEnv(t, envConfig{allowPlaintext: true})
	c := e.dial()
	c.send("CAPA\r\n")
	c.line()
	for _, l := range c.multi() {
		if strings.Contains(strings.ToLower(l), "pochta") || strings.HasPrefix(l, "IMPLEMENTATION") {
			t.Fatalf("CAPA line %q names the software", l)
		}
	}
	if strings.Contains(strings.ToLower(replyGreeting), "pochta") {
		t.Fatal("greeting names the software")
	}
}

// TestLoginDelayRefuses refuses a second login within LOGIN-DELAY.
func TestLoginDelayRefuses(t *testing.T) {
	e := newEnv(t, envConfig{allowPlaintext: true, loginDelay: time.Hour})
	c := e.dial()
	c.login()
	c.cmd("QUIT")
	c2 := e.dial()
	c2.cmd("USER " + testUser)
	if r := c2.cmd("PASS " + testPassword); r != "-ERR [LOGIN-DELAY] Wait 3600 seconds between logins" {
		t.Fatalf("second login: %q", r)
	}
}

// TestServerShutdown tells a waiting session goodbye and deletes nothing.
func TestServerShutdown(t *testing.T) {
	e := newEnv(t, envConfig{allowPlaintext: true})
	e.deliver(msgA, "")
	c := e.dial()
	c.login()
	c.cmd("DELE 1")
	e.cancel()
	if r := c.line(); r != replyShutdown {
		t.Fatalf("on shutdown: %q", r)
	}
	select {
	case <-e.served:
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not return")
	}
	if n := len(e.folderMessages("INBOX")); n != 1 {
		t.Fatalf("inbox has %d messages after shutdown, want 1", n)
	}
}
