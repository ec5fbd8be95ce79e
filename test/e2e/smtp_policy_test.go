package e2e

import (
	"archive/zip"
	"bytes"
	"encoding/base64"
	"strings"
	"testing"
)

const (
	annaPass  = "anna-secret-1"
	borisPass = "boris-secret-1"
)

// policyServer starts a server with small limits and two accounts:
// anna (alias team@example.org, anna@other.example) and boris.
func policyServer(t *testing.T, extra string) *Server {
	t.Helper()
	if !strings.Contains(extra, "max_message_size") {
		extra = "max_message_size = 10000\n" + extra
	}
	s := StartServer(t, "[smtp]\nmax_recipients = 3\n"+extra)
	t.Cleanup(func() {
		if strings.Contains(s.Logs(), "DATA RACE") {
			t.Errorf("the server reported a data race:\n%s", s.Logs())
		}
	})
	s.Pochta(t, "domain", "add", "other.example")
	s.AddUser(t, "anna@example.org", annaPass)
	s.AddUser(t, "boris@example.org", borisPass)
	s.Pochta(t, "alias", "add", "team@example.org", "anna@example.org")
	s.Pochta(t, "alias", "add", "anna@other.example", "anna@example.org")
	return s
}

// submissionSession opens submission, STARTTLS, EHLO and logs in as anna.
func submissionSession(t *testing.T, s *Server) *smtpClient {
	t.Helper()
	c := dialSMTP(t, s.Addr("submission"))
	c.expect("EHLO client.test", "250")
	c.starttls(s.TLSConfig())
	c.expect("EHLO client.test", "250")
	if r := c.authPlain("anna@example.org", annaPass); r.Code != 235 {
		t.Fatalf("AUTH: %v", r)
	}
	return c
}

func TestSMTPPolicies(t *testing.T) {
	t.Parallel()
	s := policyServer(t, "")

	t.Run("greeting and EHLO name no software; extensions", func(t *testing.T) {
		c := dialSMTP(t, s.Addr("submission"))
		r := c.expect("EHLO client.test", "250")
		all := strings.ToLower(r.Text())
		for _, bad := range []string{"pochta", "go-smtp", "golang", "emersion"} {
			if strings.Contains(all, bad) {
				t.Errorf("EHLO reply names %q: %v", bad, r)
			}
		}
		for _, ext := range []string{"PIPELINING", "8BITMIME", "SMTPUTF8", "ENHANCEDSTATUSCODES", "CHUNKING", "STARTTLS", "SIZE"} {
			if _, ok := ehloHas(r, ext); !ok {
				t.Errorf("EHLO lacks %s: %v", ext, r)
			}
		}
		// Secure policy: no AUTH before TLS on submission.
		if l, ok := ehloHas(r, "AUTH"); ok {
			t.Errorf("AUTH advertised before TLS: %q", l)
		}
		c.starttls(s.TLSConfig())
		r = c.expect("EHLO client.test", "250")
		if l, ok := ehloHas(r, "AUTH"); !ok || !strings.Contains(l, "PLAIN") || !strings.Contains(l, "LOGIN") {
			t.Errorf("AUTH PLAIN LOGIN not advertised after TLS: %v", r)
		}
		if _, ok := ehloHas(r, "STARTTLS"); ok {
			t.Errorf("STARTTLS advertised after TLS")
		}
	})

	t.Run("MAIL without AUTH on submission is 530", func(t *testing.T) {
		c := dialSMTP(t, s.Addr("submission"))
		c.expect("EHLO client.test", "250")
		c.starttls(s.TLSConfig())
		c.expect("EHLO client.test", "250")
		c.expect("MAIL FROM:<anna@example.org>", "530 5.7.0 Authentication required")
		// After AUTH the same MAIL works.
		if r := c.authPlain("anna@example.org", annaPass); r.Code != 235 {
			t.Fatalf("AUTH: %v", r)
		}
		c.expect("MAIL FROM:<anna@example.org>", "250")
	})

	t.Run("AUTH failure is 535 5.7.8, success is 235", func(t *testing.T) {
		c := dialSMTP(t, s.Addr("submission"))
		c.expect("EHLO client.test", "250")
		c.starttls(s.TLSConfig())
		c.expect("EHLO client.test", "250")
		if r := c.authPlain("anna@example.org", "wrong"); !strings.HasPrefix(r.String(), "535 5.7.8 Authentication credentials invalid") {
			t.Fatalf("bad password: %v", r)
		}
		if r := c.authPlain("nobody@example.org", "wrong"); !strings.HasPrefix(r.String(), "535 5.7.8") {
			t.Fatalf("unknown user: %v", r)
		}
		// LOGIN, step by step.
		c.expect("AUTH LOGIN", "334 "+base64.StdEncoding.EncodeToString([]byte("Username:")))
		c.expect(base64.StdEncoding.EncodeToString([]byte("anna@example.org")), "334 "+base64.StdEncoding.EncodeToString([]byte("Password:")))
		c.expect(base64.StdEncoding.EncodeToString([]byte(annaPass)), "235")
	})

	t.Run("password AUTH without TLS under the secure policy is 538", func(t *testing.T) {
		c := dialSMTP(t, s.Addr("submission"))
		c.expect("EHLO client.test", "250")
		if r := c.authPlain("anna@example.org", annaPass); !strings.HasPrefix(r.String(), "538 5.7.11 Encryption required for requested authentication mechanism") {
			t.Fatalf("plaintext AUTH: %v", r)
		}
		c.expect("AUTH LOGIN", "538 5.7.11")
	})

	t.Run("sender ownership", func(t *testing.T) {
		c := submissionSession(t, s)
		c.expect("MAIL FROM:<boris@example.org>", "553 5.7.1 Sender address rejected: not owned by auth user")
		c.expect("MAIL FROM:<someone@elsewhere.example>", "553 5.7.1")
		c.expect("MAIL FROM:<>", "553 5.7.1")
		// Own address in any case, aliases across domains, plus forms.
		for _, from := range []string{"anna@example.org", "Anna@Example.ORG", "team@example.org", "anna@other.example", "anna+lists@example.org", "team+x@example.org"} {
			c.expect("MAIL FROM:<"+from+">", "250")
			c.expect("RSET", "250")
		}
		// The From: header is checked too.
		c.expect("MAIL FROM:<anna@example.org>", "250")
		c.expect("RCPT TO:<boris@example.org>", "250")
		if r := c.sendData(simpleMessage("Boris <boris@example.org>", "boris@example.org", "forged", "x")); !strings.HasPrefix(r.String(), "553 5.7.1 Sender address rejected: not owned by auth user") {
			t.Fatalf("forged From: %v", r)
		}
		c.expect("MAIL FROM:<anna@example.org>", "250")
		c.expect("RCPT TO:<boris@example.org>", "250")
		if r := c.sendData(simpleMessage("Anna <anna@example.org>, Boris <boris@example.org>", "boris@example.org", "two froms", "x")); r.Code != 553 {
			t.Fatalf("From with a second, foreign address: %v", r)
		}
		c.expect("MAIL FROM:<anna@example.org>", "250")
		c.expect("RCPT TO:<boris@example.org>", "250")
		if r := c.sendData(simpleMessage("Team <team+news@example.org>", "boris@example.org", "owned-from-alias", "x")); r.Code != 250 {
			t.Fatalf("owned alias From: %v", r)
		}
		if got := inbox(t, s, "boris@example.org"); len(got) != 1 || !strings.Contains(got[0], "owned-from-alias") {
			t.Fatalf("boris's inbox: %d messages", len(got))
		}
	})

	t.Run("unknown local recipient is 550 5.1.1 at RCPT", func(t *testing.T) {
		c := dialSMTP(t, s.Addr("smtp"))
		c.expect("EHLO mx.sender.example", "250")
		c.expect("MAIL FROM:<x@sender.example>", "250")
		c.expect("RCPT TO:<nobody@example.org>", "550 5.1.1 <nobody@example.org>: Recipient address rejected: user unknown")
		c.expect("RCPT TO:<nobody@other.example>", "550 5.1.1")
		// Known ones, in any case, with plus tags and via aliases, pass.
		c.expect("RCPT TO:<BORIS@example.org>", "250")
		c.expect("RCPT TO:<anna+tag@other.example>", "250")
	})

	t.Run("relay on MX without AUTH is 554 5.7.1", func(t *testing.T) {
		c := dialSMTP(t, s.Addr("smtp"))
		c.expect("EHLO mx.sender.example", "250")
		c.expect("MAIL FROM:<x@sender.example>", "250")
		c.expect("RCPT TO:<victim@elsewhere.example>", "554 5.7.1 Relay access denied")
		c.expect("RCPT TO:<x@[192.0.2.1]>", "554 5.7.1")
		c.expect("RCPT TO:<anna@example.org>", "250")
		if r := c.sendData(simpleMessage("x@sender.example", "anna@example.org", "mx-in", "hello")); r.Code != 250 {
			t.Fatalf("MX delivery: %v", r)
		}
		msgs := inbox(t, s, "anna@example.org")
		if len(msgs) == 0 || !strings.Contains(msgs[len(msgs)-1], "mx-in") {
			t.Fatalf("MX message not in anna's inbox")
		}
		m := msgs[len(msgs)-1]
		for _, want := range []string{"Return-Path: <x@sender.example>\r\n", "Delivered-To: anna@example.org\r\n", "Received: from mx.sender.example ([127.0.0.1])\r\n\tby mail.example.org with ESMTP id "} {
			if !strings.Contains(m, want) {
				t.Errorf("stored message lacks %q:\n%s", want, m)
			}
		}
		if strings.Contains(strings.ToLower(m), "pochta") {
			t.Errorf("stored message names the software:\n%s", m)
		}
	})

	t.Run("authenticated mail to other domains is queued", func(t *testing.T) {
		before := len(queued(t, s))
		c := submissionSession(t, s)
		c.expect("MAIL FROM:<anna@example.org>", "250")
		c.expect("RCPT TO:<friend@elsewhere.example>", "250")
		c.expect("RCPT TO:<boris@example.org>", "250")
		if r := c.sendData(simpleMessage("anna@example.org", "friend@elsewhere.example", "outbound", "hi")); r.Code != 250 {
			t.Fatalf("submission to remote: %v", r)
		}
		q := queued(t, s)
		if len(q) != before+1 || !strings.Contains(q[len(q)-1], `"to":["friend@elsewhere.example"]`) || !strings.Contains(q[len(q)-1], `"from":"anna@example.org"`) {
			t.Fatalf("queue = %v", q)
		}
		got := inbox(t, s, "boris@example.org")
		if !strings.Contains(got[len(got)-1], "outbound") {
			t.Fatalf("local copy missing")
		}
	})

	t.Run("size limit: SIZE= early, exactly at the limit, one over", func(t *testing.T) {
		c := dialSMTP(t, s.Addr("smtp"))
		c.expect("EHLO mx.sender.example", "250")
		c.expect("MAIL FROM:<x@sender.example> SIZE=10001", "552 5.3.4")
		c.expect("MAIL FROM:<x@sender.example> SIZE=10000", "250")
		c.expect("RCPT TO:<boris@example.org>", "250")
		head := "Subject: exact\r\n\r\n"
		exact := head + strings.Repeat("a", 10000-len(head)-2) + "\r\n"
		if len(exact) != 10000 {
			t.Fatal(len(exact))
		}
		if r := c.sendData(exact); r.Code != 250 {
			t.Fatalf("message of exactly max_message_size: %v", r)
		}
		c.expect("MAIL FROM:<x@sender.example>", "250")
		c.expect("RCPT TO:<boris@example.org>", "250")
		over := head + strings.Repeat("b", 10000-len(head)-1) + "\r\n"
		if r := c.sendData(over); !strings.HasPrefix(r.String(), "552 5.3.4 Message size exceeds fixed maximum message size") {
			t.Fatalf("message one byte over: %v", r)
		}
		// Much bigger, too; the session goes on.
		c.expect("MAIL FROM:<x@sender.example>", "250")
		c.expect("RCPT TO:<boris@example.org>", "250")
		if r := c.sendData(head + strings.Repeat("c\r\n", 20000)); r.Code != 552 {
			t.Fatalf("big message: %v", r)
		}
		c.expect("NOOP", "250")
		n := 0
		for _, m := range inbox(t, s, "boris@example.org") {
			if strings.Contains(m, "Subject: exact") {
				n++
			}
			if strings.Contains(m, "bbbb") || strings.Contains(m, "c\r\nc\r\n") {
				t.Fatal("an oversized message was stored")
			}
		}
		if n != 1 {
			t.Fatalf("%d messages at the limit stored, want 1", n)
		}
	})

	t.Run("too many recipients is 452 4.5.3 for the extra ones", func(t *testing.T) {
		c := dialSMTP(t, s.Addr("smtp"))
		c.expect("EHLO mx.sender.example", "250")
		c.expect("MAIL FROM:<x@sender.example>", "250")
		c.expect("RCPT TO:<anna@example.org>", "250")
		c.expect("RCPT TO:<boris@example.org>", "250")
		c.expect("RCPT TO:<team@example.org>", "250")
		c.expect("RCPT TO:<anna+4@example.org>", "452 4.5.3 Too many recipients")
		if r := c.sendData(simpleMessage("x@sender.example", "many", "three-rcpts", "x")); r.Code != 250 {
			t.Fatalf("DATA: %v", r)
		}
		// anna got it once, though named three times.
		n := 0
		for _, m := range inbox(t, s, "anna@example.org") {
			if strings.Contains(m, "three-rcpts") {
				n++
			}
		}
		if n != 1 {
			t.Fatalf("anna got %d copies, want 1", n)
		}
	})
}

func TestSMTPQuota(t *testing.T) {
	t.Parallel()
	s := policyServer(t, "")
	s.Pochta(t, "user", "set", "boris@example.org", "--quota", "2KiB")
	big := simpleMessage("x@sender.example", "boris@example.org", "fills", strings.Repeat("z", 2500))

	c := dialSMTP(t, s.Addr("smtp"))
	c.expect("EHLO mx.sender.example", "250")
	// Declared size over the quota: refused at RCPT, for boris only.
	c.expect("MAIL FROM:<x@sender.example> SIZE=3000", "250")
	c.expect("RCPT TO:<boris@example.org>", "452 4.2.2 Mailbox full")
	c.expect("RCPT TO:<anna@example.org>", "250")
	if r := c.sendData(big); r.Code != 250 {
		t.Fatalf("DATA to anna: %v", r)
	}
	// Without SIZE=: accepted at RCPT, refused after DATA (the only
	// recipient), nothing stored.
	c.expect("MAIL FROM:<x@sender.example>", "250")
	c.expect("RCPT TO:<boris@example.org>", "250")
	if r := c.sendData(big); !strings.HasPrefix(r.String(), "452 4.2.2 Mailbox full") {
		t.Fatalf("over quota after DATA: %v", r)
	}
	if n := len(inbox(t, s, "boris@example.org")); n != 0 {
		t.Fatalf("boris has %d messages", n)
	}
	// Two recipients, one over quota after DATA: the other's copy is
	// stored, the full one is queued for retry, the reply is 250.
	before := len(queued(t, s))
	c.expect("MAIL FROM:<x@sender.example>", "250")
	c.expect("RCPT TO:<boris@example.org>", "250")
	c.expect("RCPT TO:<anna@example.org>", "250")
	if r := c.sendData(big); r.Code != 250 {
		t.Fatalf("mixed: %v", r)
	}
	if n := len(inbox(t, s, "anna@example.org")); n != 2 {
		t.Fatalf("anna has %d messages, want 2", n)
	}
	q := queued(t, s)
	if len(q) != before+1 || !strings.Contains(q[len(q)-1], `"local":true`) || !strings.Contains(q[len(q)-1], "boris@example.org") {
		t.Fatalf("queue after partial failure: %v", q)
	}
	// Small mail still fits.
	c.expect("MAIL FROM:<x@sender.example>", "250")
	c.expect("RCPT TO:<boris@example.org>", "250")
	if r := c.sendData(simpleMessage("x@sender.example", "boris@example.org", "small", "ok")); r.Code != 250 {
		t.Fatalf("small: %v", r)
	}
}

func TestSMTPSendingLimits(t *testing.T) {
	t.Parallel()
	msg := simpleMessage("anna@example.org", "boris@example.org", "n", "x")
	t.Run("per hour", func(t *testing.T) {
		s := policyServer(t, "max_messages_per_hour = 2\n")
		c := loginSubmission(t, s, "anna@example.org", annaPass)
		for i := 0; i < 2; i++ {
			if r := c.send("anna@example.org", []string{"boris@example.org"}, msg); r.Code != 250 {
				t.Fatalf("message %d: %v", i, r)
			}
		}
		r := c.send("anna@example.org", []string{"boris@example.org"}, msg)
		if !strings.HasPrefix(r.String(), "450 4.7.1") || !strings.Contains(r.Text(), "2 messages per hour") {
			t.Fatalf("third message in an hour: %v", r)
		}
		// Another account is not affected.
		if r := submit(t, s, "boris@example.org", borisPass, "boris@example.org", []string{"anna@example.org"}, simpleMessage("boris@example.org", "anna@example.org", "n", "x")); r.Code != 250 {
			t.Fatalf("boris: %v", r)
		}
	})
	t.Run("per day", func(t *testing.T) {
		s := policyServer(t, "max_messages_per_day = 1\n")
		c := loginSubmission(t, s, "anna@example.org", annaPass)
		if r := c.send("anna@example.org", []string{"boris@example.org"}, msg); r.Code != 250 {
			t.Fatalf("first: %v", r)
		}
		r := c.send("anna@example.org", []string{"boris@example.org"}, msg)
		if !strings.HasPrefix(r.String(), "550 5.7.1") || !strings.Contains(r.Text(), "1 messages per day") {
			t.Fatalf("second message in a day: %v", r)
		}
	})
}

// zipWith makes a zip archive holding files with the given names.
func zipWith(t *testing.T, names ...string) []byte {
	var b bytes.Buffer
	zw := zip.NewWriter(&b)
	for _, n := range names {
		w, err := zw.Create(n)
		if err != nil {
			t.Fatal(err)
		}
		w.Write([]byte("content of " + n))
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// withAttachment makes a multipart message with one base64 attachment.
func withAttachment(from, name, ctype string, data []byte) string {
	enc := base64.StdEncoding.EncodeToString(data)
	var lines []string
	for len(enc) > 76 {
		lines = append(lines, enc[:76])
		enc = enc[76:]
	}
	lines = append(lines, enc)
	return "From: " + from + "\r\nTo: boris@example.org\r\nSubject: attachment " + name + "\r\nMIME-Version: 1.0\r\n" +
		"Content-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n--b1\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n" +
		"--b1\r\nContent-Type: " + ctype + "; name=\"" + name + "\"\r\nContent-Disposition: attachment; filename=\"" + name + "\"\r\n" +
		"Content-Transfer-Encoding: base64\r\n\r\n" + strings.Join(lines, "\r\n") + "\r\n--b1--\r\n"
}

func TestSMTPBlockedAttachments(t *testing.T) {
	t.Parallel()
	s := policyServer(t, "blocked_extensions = [\"exe\", \".scr\"]\nmax_message_size = \"1MiB\"\n")
	s2 := policyServer(t, "max_message_size = \"1MiB\"\n") // default: nothing blocked
	cases := []struct {
		name, ctype string
		data        []byte
		blocked     bool
	}{
		{"setup.exe", "application/octet-stream", []byte("MZ..."), true},
		{"SCREEN.SCR", "application/octet-stream", []byte("MZ..."), true},
		{"report.pdf", "application/pdf", []byte("%PDF-1.4"), false},
		{"docs.zip", "application/zip", zipWith(t, "readme.txt", "tools/run.exe"), true},
		{"nested.zip", "application/zip", zipWith(t, "inner.zip"), false},
		{"photos.zip", "application/zip", zipWith(t, "a.jpg", "b.jpg"), false},
	}
	// A zip inside a zip with a blocked file.
	var inner bytes.Buffer
	{
		zw := zip.NewWriter(&inner)
		w, _ := zw.Create("deep/virus.scr")
		w.Write([]byte("x"))
		zw.Close()
		var outer bytes.Buffer
		zw = zip.NewWriter(&outer)
		w, _ = zw.Create("inner.zip")
		w.Write(inner.Bytes())
		zw.Close()
		cases = append(cases, struct {
			name, ctype string
			data        []byte
			blocked     bool
		}{"outer.zip", "application/octet-stream", outer.Bytes(), true})
	}
	c1 := loginSubmission(t, s, "anna@example.org", annaPass)
	c2 := loginSubmission(t, s2, "anna@example.org", annaPass)
	for _, tc := range cases {
		msg := withAttachment("anna@example.org", tc.name, tc.ctype, tc.data)
		r := c1.send("anna@example.org", []string{"boris@example.org"}, msg)
		if tc.blocked && !strings.HasPrefix(r.String(), "552 5.7.1 Message rejected: attachment type not allowed") {
			t.Errorf("%s: got %v, want 552 5.7.1", tc.name, r)
		}
		if !tc.blocked && r.Code != 250 {
			t.Errorf("%s: got %v, want 250", tc.name, r)
		}
		// Off by default.
		if r := c2.send("anna@example.org", []string{"boris@example.org"}, msg); r.Code != 250 {
			t.Errorf("%s with no blocked_extensions: %v", tc.name, r)
		}
	}
	// Also on the MX port.
	c := dialSMTP(t, s.Addr("smtp"))
	c.expect("EHLO mx.sender.example", "250")
	c.expect("MAIL FROM:<x@sender.example>", "250")
	c.expect("RCPT TO:<boris@example.org>", "250")
	if r := c.sendData(withAttachment("x@sender.example", "setup.exe", "application/octet-stream", []byte("MZ"))); r.Code != 552 {
		t.Errorf("MX with .exe: %v", r)
	}
}
