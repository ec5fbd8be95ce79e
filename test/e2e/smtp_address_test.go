package e2e

import (
	"strings"
	"testing"
)

// TestSMTPCaseSensitiveDomain checks a domain added with --case-sensitive:
// through SMTP, User@ and user@ are different mailboxes (RCPT, delivery,
// AUTH and sender ownership), while example.org stays case-insensitive;
// `domain list/show/set` show and change the setting.
func TestSMTPCaseSensitiveDomain(t *testing.T) {
	t.Parallel()
	s := policyServer(t, "")
	out := s.Pochta(t, "domain", "add", "cs.example", "--case-sensitive")
	if !strings.Contains(out, "case-sensitive") {
		t.Errorf("domain add --case-sensitive: %q", out)
	}
	if out := s.Pochta(t, "domain", "list"); !strings.Contains(out, "cs.example\t(case-sensitive)") || strings.Contains(out, "example.org\t(case-sensitive") {
		t.Errorf("domain list:\n%s", out)
	}
	if out := s.Pochta(t, "domain", "show", "cs.example"); !strings.Contains(out, "case-sensitive: yes") {
		t.Errorf("domain show cs.example:\n%s", out)
	}
	if out := s.Pochta(t, "domain", "show", "example.org"); !strings.Contains(out, "case-sensitive: no") {
		t.Errorf("domain show example.org:\n%s", out)
	}
	s.AddUser(t, "Vera@cs.example", "vera-upper-1")

	mx := dialSMTP(t, s.Addr("smtp"))
	mx.expect("EHLO mx.sender.example", "250")
	mx.expect("MAIL FROM:<x@sender.example>", "250")
	mx.expect("RCPT TO:<vera@cs.example>", "550 5.1.1")
	mx.expect("RCPT TO:<VERA@cs.example>", "550 5.1.1")
	mx.expect("RCPT TO:<Vera@CS.Example>", "250")
	mx.expect("RCPT TO:<ANNA@example.org>", "250")
	if r := mx.sendData(simpleMessage("x@sender.example", "Vera@cs.example", "to upper vera", "hi")); r.Code != 250 {
		t.Fatalf("DATA: %v", r)
	}

	// A second account that differs only in case.
	s.AddUser(t, "vera@cs.example", "vera-lower-1")
	mx.expect("MAIL FROM:<x@sender.example>", "250")
	mx.expect("RCPT TO:<vera@cs.example>", "250")
	if r := mx.sendData(simpleMessage("x@sender.example", "vera@cs.example", "to lower vera", "hi")); r.Code != 250 {
		t.Fatalf("DATA: %v", r)
	}
	mx.expect("QUIT", "221")
	upper, lower := inbox(t, s, "Vera@cs.example"), inbox(t, s, "vera@cs.example")
	if len(upper) != 1 || !strings.Contains(upper[0], "Subject: to upper vera") || !strings.Contains(upper[0], "Delivered-To: Vera@cs.example") {
		t.Errorf("Vera@ got %d messages: %q", len(upper), upper)
	}
	if len(lower) != 1 || !strings.Contains(lower[0], "Subject: to lower vera") {
		t.Errorf("vera@ got %d messages: %q", len(lower), lower)
	}

	// AUTH takes the exact name; a sender address of the other account
	// is not owned.
	c := dialSMTP(t, s.Addr("submission"))
	c.expect("EHLO client.test", "250")
	c.starttls(s.TLSConfig())
	c.expect("EHLO client.test", "250")
	if r := c.authPlain("VERA@cs.example", "vera-upper-1"); r.Code != 535 {
		t.Errorf("AUTH as VERA@: %v, want 535", r)
	}
	if r := c.authPlain("Vera@cs.example", "vera-upper-1"); r.Code != 235 {
		t.Fatalf("AUTH as Vera@: %v", r)
	}
	c.expect("MAIL FROM:<vera@cs.example>", "553 5.7.1")
	c.expect("MAIL FROM:<Vera+tag@cs.example>", "250")
	c.expect("RSET", "250")
	if r := c.send("Vera@cs.example", []string{"vera@cs.example"}, simpleMessage("vera@cs.example", "vera@cs.example", "forged", "x")); r.Code != 553 {
		t.Errorf("From: of the other account: %v, want 553", r)
	}
	if r := c.send("Vera@cs.example", []string{"vera@cs.example"}, simpleMessage("Vera@cs.example", "vera@cs.example", "between veras", "x")); r.Code != 250 {
		t.Errorf("Vera@ to vera@: %v", r)
	}
	c.expect("QUIT", "221")

	// Turning case sensitivity off is refused while both exist.
	if _, errOut, err := s.PochtaErr("domain", "set", "cs.example", "--case-sensitive=off"); err == nil || !strings.Contains(errOut, "same address") {
		t.Errorf("domain set --case-sensitive=off with Vera@ and vera@: %v %q", err, errOut)
	}
	s.Pochta(t, "user", "remove", "vera@cs.example")
	s.Pochta(t, "domain", "set", "cs.example", "--case-sensitive=off")
	if out := s.Pochta(t, "domain", "show", "cs.example"); !strings.Contains(out, "case-sensitive: no") {
		t.Errorf("domain show after set off:\n%s", out)
	}
	mx = dialSMTP(t, s.Addr("smtp"))
	mx.expect("EHLO mx.sender.example", "250")
	mx.expect("MAIL FROM:<x@sender.example>", "250")
	mx.expect("RCPT TO:<VERA@cs.example>", "250")
	if r := mx.sendData(simpleMessage("x@sender.example", "VERA@cs.example", "any case now", "hi")); r.Code != 250 {
		t.Fatalf("DATA: %v", r)
	}
	if n := len(inbox(t, s, "vera@cs.example")); n != 2 {
		t.Errorf("vera@ (was Vera@) has %d messages, want 2", n)
	}
}

// TestSMTPInternationalDomain checks IDNA: a domain added in Unicode is
// stored in A-labels, and mail reaches the same mailbox whether RCPT TO
// names it with A-labels (plain SMTP) or U-labels (SMTPUTF8 required);
// AUTH works with either form, either form is an owned sender, remote IDN
// recipients are queued in A-labels, and `domain dns` prints A-labels.
func TestSMTPInternationalDomain(t *testing.T) {
	t.Parallel()
	// Mail for bücher.example goes to a closed port: it stays queued (a
	// route named in A-labels matches the queued recipients).
	s := policyServer(t, "\n[queue.routes]\n\"xn--bcher-kva.example\" = \"127.0.0.1:1\"\n")
	const alabel = "xn--e1afmkfd.xn--p1ai"
	out := s.Pochta(t, "domain", "add", "Пример.РФ")
	if !strings.Contains(out, alabel+" (пример.рф)") {
		t.Errorf("domain add Пример.РФ: %q", out)
	}
	if _, errOut, err := s.PochtaErr("domain", "add", alabel); err == nil || !strings.Contains(errOut, "exists") {
		t.Errorf("domain add %s after пример.рф: %v %q, want it to exist", alabel, err, errOut)
	}
	if out := s.Pochta(t, "domain", "list"); !strings.Contains(out, alabel+"\t(пример.рф)") {
		t.Errorf("domain list:\n%s", out)
	}
	if out := s.Pochta(t, "domain", "show", alabel); !strings.Contains(out, "unicode:        пример.рф") {
		t.Errorf("domain show %s:\n%s", alabel, out)
	}
	s.AddUser(t, "anna@пример.рф", "anna-idn-1")
	s.AddUser(t, "почта@"+alabel, "pochta-idn-1")

	dnsOut := s.Pochta(t, "domain", "dns", "пример.рф")
	for _, want := range []string{alabel + ".\t3600\tIN\tMX\t10 mail.example.org.", "._domainkey." + alabel + ".\t3600\tIN\tTXT", "_dmarc." + alabel + "."} {
		if !strings.Contains(dnsOut, want) {
			t.Errorf("domain dns lacks %q:\n%s", want, dnsOut)
		}
	}
	for _, line := range strings.Split(dnsOut, "\n") {
		if !strings.HasPrefix(line, ";") && strings.Contains(line, "пример") {
			t.Errorf("domain dns record not in A-labels: %q", line)
		}
	}

	mx := dialSMTP(t, s.Addr("smtp"))
	mx.expect("EHLO mx.sender.example", "250")
	// Plain SMTP: the A-label form works, the U-label form needs SMTPUTF8.
	mx.expect("MAIL FROM:<x@sender.example>", "250")
	mx.expect("RCPT TO:<anna@пример.рф>", "553 5.6.7")
	mx.expect("RCPT TO:<ANNA@XN--E1AFMKFD.xn--p1ai>", "250")
	if r := mx.sendData(simpleMessage("x@sender.example", "anna@"+alabel, "via a-labels", "hi")); r.Code != 250 {
		t.Fatalf("DATA: %v", r)
	}
	mx.expect("MAIL FROM:<x@sender.example> SMTPUTF8", "250")
	mx.expect("RCPT TO:<anna@Пример.рф>", "250")
	mx.expect("RCPT TO:<почта@пример.рф>", "250")
	if r := mx.sendData(simpleMessage("x@sender.example", "anna@пример.рф", "via u-labels", "привет")); r.Code != 250 {
		t.Fatalf("DATA: %v", r)
	}
	mx.expect("MAIL FROM:<x@sender.example> SMTPUTF8", "250")
	mx.expect("RCPT TO:<nobody@пример.рф>", "550 5.1.1")
	mx.expect("QUIT", "221")
	for _, addr := range []string{"anna@пример.рф", "anna@" + alabel} {
		msgs := inbox(t, s, addr)
		if len(msgs) != 2 || !strings.Contains(msgs[0], "Subject: via a-labels") || !strings.Contains(msgs[1], "Subject: via u-labels") {
			t.Fatalf("inbox of %s: %d messages %q, want both", addr, len(msgs), msgs)
		}
	}
	if msgs := inbox(t, s, "почта@пример.рф"); len(msgs) != 1 {
		t.Errorf("почта@ has %d messages, want 1", len(msgs))
	}

	// AUTH with either form; either form is an owned sender; a remote
	// IDN recipient is queued in A-labels.
	for _, user := range []string{"anna@пример.рф", "anna@" + alabel} {
		c := dialSMTP(t, s.Addr("submission"))
		c.expect("EHLO client.test", "250")
		c.starttls(s.TLSConfig())
		c.expect("EHLO client.test", "250")
		if r := c.authPlain(user, "anna-idn-1"); r.Code != 235 {
			t.Fatalf("AUTH as %s: %v", user, r)
		}
		c.expect("MAIL FROM:<anna@"+alabel+">", "250")
		c.expect("RSET", "250")
		c.expect("MAIL FROM:<anna@пример.рф> SMTPUTF8", "250")
		c.expect("RCPT TO:<nobody@example.org>", "550 5.1.1")
		c.expect("RCPT TO:<someone@bücher.example>", "250")
		if r := c.sendData(simpleMessage("Анна <anna@пример.рф>", "someone@bücher.example", "from "+user, "x")); r.Code != 250 {
			t.Fatalf("send as %s: %v", user, r)
		}
		c.expect("MAIL FROM:<boris@example.org>", "553 5.7.1")
		c.expect("QUIT", "221")
	}
	q := queued(t, s)
	if len(q) != 2 {
		t.Fatalf("%d queued messages, want 2", len(q))
	}
	for _, env := range q {
		if !strings.Contains(env, "someone@xn--bcher-kva.example") {
			t.Errorf("queued recipient not in A-labels: %s", env)
		}
	}
}
