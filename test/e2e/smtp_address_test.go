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
