package e2e

import (
	"encoding/base64"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

// expectClosed fails unless the server closes the connection (EOF) within
// d without sending anything more.
func (c *smtpClient) expectClosed(d time.Duration) {
	c.t.Helper()
	c.conn.SetReadDeadline(time.Now().Add(d))
	line, err := c.r.ReadString('\n')
	if err == nil {
		c.t.Fatalf("connection still open; got %q", line)
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		c.t.Fatalf("connection not closed within %s", d)
	}
	if !errors.Is(err, io.EOF) && !strings.Contains(err.Error(), "reset") {
		c.t.Fatalf("reading after the end: %v", err)
	}
}

// TestSMTPSizeAnnounced checks that EHLO announces SIZE with exactly
// max_message_size, before and after STARTTLS (a message of exactly that
// size is accepted and one byte more refused: TestSMTPPolicies).
func TestSMTPSizeAnnounced(t *testing.T) {
	t.Parallel()
	s := policyServer(t, "")
	c := dialSMTP(t, s.Addr("smtp"))
	r := c.expect("EHLO mx.sender.example", "250")
	if l, ok := ehloHas(r, "SIZE"); !ok || l != "SIZE 10000" {
		t.Fatalf("EHLO on smtp: SIZE line %q, want \"SIZE 10000\"", l)
	}
	c = dialSMTP(t, s.Addr("submission"))
	c.expect("EHLO client.test", "250")
	c.starttls(s.TLSConfig())
	r = c.expect("EHLO client.test", "250")
	if l, ok := ehloHas(r, "SIZE"); !ok || l != "SIZE 10000" {
		t.Fatalf("EHLO after STARTTLS: SIZE line %q, want \"SIZE 10000\"", l)
	}
	c.expect("MAIL FROM:<anna@example.org> SIZE=10001", "552 5.3.4")
}

// TestSMTPConnectionLimitPerIP checks the 421 for a client over
// [limits] max_connections_per_ip, and that a freed slot can be reused.
func TestSMTPConnectionLimitPerIP(t *testing.T) {
	t.Parallel()
	s := StartServer(t, "[limits]\nmax_connections_per_ip = 2\n")
	first := dialSMTP(t, s.Addr("smtp"))
	second := dialSMTP(t, s.Addr("submission"))

	conn, err := net.DialTimeout("tcp", s.Addr("smtp"), 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	third := &smtpClient{t: t, conn: conn, r: newReader(conn)}
	t.Cleanup(func() { conn.Close() })
	if r := third.read(); r.Code != 421 || !strings.HasPrefix(r.Text(), "4.7.0 ") {
		t.Fatalf("third connection from one IP: %v, want 421 4.7.0", r)
	}
	third.expectClosed(10 * time.Second)

	// The first two still work.
	first.expect("NOOP", "250")
	second.expect("NOOP", "250")

	// Once one of them ends, a new connection is served again.
	first.expect("QUIT", "221")
	first.expectClosed(10 * time.Second)
	deadline := time.Now().Add(10 * time.Second)
	for {
		conn, err := net.DialTimeout("tcp", s.Addr("smtp"), 10*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		c := &smtpClient{t: t, conn: conn, r: newReader(conn)}
		r := c.read()
		conn.Close()
		if r.Code == 220 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after QUIT of one connection: %v, want 220", r)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestSMTPTooManyErrors checks that a session is closed with 421 after
// ten refused commands, and that a new session starts afresh.
func TestSMTPTooManyErrors(t *testing.T) {
	t.Parallel()
	s := policyServer(t, "")
	c := dialSMTP(t, s.Addr("submission"))
	c.expect("EHLO client.test", "250")
	for i := 1; i < 10; i++ {
		c.expect("MAIL FROM:<anna@example.org>", "530 5.7.0")
	}
	if r := c.cmd("MAIL FROM:<anna@example.org>"); r.Code != 421 || !strings.Contains(r.Text(), "Too many errors") {
		t.Fatalf("tenth refused command: %v, want 421 Too many errors", r)
	}
	c.expectClosed(10 * time.Second)

	// Nine errors are not enough, and a good command does not reset
	// the count of a session.
	c = dialSMTP(t, s.Addr("submission"))
	c.expect("EHLO client.test", "250")
	for i := 1; i < 10; i++ {
		c.expect("MAIL FROM:<anna@example.org>", "530 5.7.0")
		c.expect("NOOP", "250")
	}
	c.starttls(s.TLSConfig())
	c.expect("EHLO client.test", "250")
	if r := c.authPlain("anna@example.org", annaPass); r.Code != 235 {
		t.Fatalf("AUTH after nine errors: %v", r)
	}
	c.expect("QUIT", "221")
}

// TestSMTPCommandTimeout checks [smtp] command_timeout: a silent client
// is sent 421 and disconnected, one that keeps talking is not.
func TestSMTPCommandTimeout(t *testing.T) {
	t.Parallel()
	s := StartServer(t, "[smtp]\ncommand_timeout = \"2s\"\n")

	busy := dialSMTP(t, s.Addr("smtp"))
	busy.expect("EHLO mx.sender.example", "250")

	idle := dialSMTP(t, s.Addr("smtp"))
	idle.expect("EHLO mx.sender.example", "250")
	start := time.Now()

	// busy talks every second for longer than the timeout.
	for time.Since(start) < 3500*time.Millisecond {
		time.Sleep(time.Second)
		busy.expect("NOOP", "250")
	}

	idle.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	line, err := idle.r.ReadString('\n')
	if err != nil {
		t.Fatalf("silent client: %v after %s, want a 421", err, time.Since(start))
	}
	if !strings.HasPrefix(line, "421 4.4.2") {
		t.Fatalf("silent client got %q, want 421 4.4.2", line)
	}
	if el := time.Since(start); el < 1500*time.Millisecond {
		t.Fatalf("timed out after %s, before the 2s timeout", el)
	}
	idle.expectClosed(5 * time.Second)
	busy.expect("QUIT", "221")

	// The default (5 minutes) does not close a client silent for 3s.
	d := StartServer(t, "")
	c := dialSMTP(t, d.Addr("smtp"))
	c.expect("EHLO mx.sender.example", "250")
	time.Sleep(3 * time.Second)
	c.expect("NOOP", "250")
}

// TestSMTPDevicesListener checks the devices port: AUTH offered and
// accepted without TLS under the secure policy, required before MAIL,
// local recipients only, and a wrong password refused.
func TestSMTPDevicesListener(t *testing.T) {
	t.Parallel()
	s := policyServer(t, "")
	c := dialSMTP(t, s.Addr("devices"))
	r := c.expect("EHLO scanner.lan", "250")
	if l, ok := ehloHas(r, "AUTH"); !ok || !strings.Contains(l, "PLAIN") || !strings.Contains(l, "LOGIN") {
		t.Fatalf("devices: AUTH PLAIN LOGIN not offered without TLS: %v", r)
	}
	c.expect("MAIL FROM:<anna@example.org>", "530 5.7.0")
	if r := c.authPlain("anna@example.org", "wrong"); r.Code != 535 {
		t.Fatalf("devices: wrong password: %v, want 535", r)
	}
	// AUTH LOGIN, the mechanism old scanners use.
	c.expect("AUTH LOGIN", "334")
	c.expect(base64.StdEncoding.EncodeToString([]byte("anna@example.org")), "334")
	c.expect(base64.StdEncoding.EncodeToString([]byte(annaPass)), "235")
	c.expect("MAIL FROM:<anna@example.org>", "250")
	c.expect("RCPT TO:<someone@elsewhere.example>", "554 5.7.1")
	c.expect("RCPT TO:<boris@example.org>", "250")
	if r := c.sendData(simpleMessage("anna@example.org", "boris@example.org", "scan 1", "scanned page")); r.Code != 250 {
		t.Fatalf("devices: DATA: %v", r)
	}
	c.expect("QUIT", "221")
	found := false
	for _, m := range inbox(t, s, "boris@example.org") {
		if strings.Contains(m, "Subject: scan 1") {
			found = true
		}
	}
	if !found {
		t.Fatal("devices: message not delivered")
	}
	if q := queued(t, s); len(q) != 0 {
		t.Fatalf("devices: %d messages queued for other domains", len(q))
	}

	// The same password on plain submission is refused (538): the
	// override belongs to the devices listener only.
	c = dialSMTP(t, s.Addr("submission"))
	c.expect("EHLO client.test", "250")
	if r := c.authPlain("anna@example.org", annaPass); r.Code != 538 {
		t.Fatalf("submission without TLS: AUTH %v, want 538", r)
	}
}

// TestSMTPSubmissionExtra checks a submission_extra port: STARTTLS with
// the certificate checked, AUTH required before MAIL, then delivery.
func TestSMTPSubmissionExtra(t *testing.T) {
	t.Parallel()
	s := policyServer(t, "")
	c := dialSMTP(t, s.Addr("submission_extra"))
	r := c.expect("EHLO client.test", "250")
	if _, ok := ehloHas(r, "STARTTLS"); !ok {
		t.Fatalf("submission_extra: no STARTTLS: %v", r)
	}
	if l, ok := ehloHas(r, "AUTH"); ok {
		t.Fatalf("submission_extra: AUTH offered before TLS: %q", l)
	}
	c.expect("MAIL FROM:<anna@example.org>", "530 5.7.0")
	c.starttls(s.TLSConfig())
	c.expect("EHLO client.test", "250")
	c.expect("MAIL FROM:<anna@example.org>", "530 5.7.0")
	if r := c.authPlain("anna@example.org", annaPass); r.Code != 235 {
		t.Fatalf("submission_extra: AUTH: %v", r)
	}
	c.expect("MAIL FROM:<boris@example.org>", "553 5.7.1")
	if r := c.send("anna@example.org", []string{"boris@example.org"}, simpleMessage("anna@example.org", "boris@example.org", "via 2525", "hello")); r.Code != 250 {
		t.Fatalf("submission_extra: send: %v", r)
	}
	c.expect("QUIT", "221")
	found := false
	for _, m := range inbox(t, s, "boris@example.org") {
		if strings.Contains(m, "Subject: via 2525") {
			found = true
		}
	}
	if !found {
		t.Fatal("submission_extra: message not delivered")
	}
}

// TestSMTPSendingLimitsPerAccount checks the per-account overrides of the
// [smtp] limits set with `pochta user set`: an account with a lower limit
// is refused at its limit while another account is not, an account made
// unlimited is not stopped by the server-wide limit, and the overrides are
// shown by `pochta user show`.
func TestSMTPSendingLimitsPerAccount(t *testing.T) {
	t.Parallel()
	s := policyServer(t, "max_messages_per_hour = 3\nmax_messages_per_day = 4\n")
	s.AddUser(t, "vera@example.org", "vera-secret-1")
	s.Pochta(t, "user", "set", "anna@example.org", "--send-per-hour", "1", "--max-recipients", "1")
	s.Pochta(t, "user", "set", "boris@example.org", "--send-per-hour", "unlimited", "--send-per-day", "unlimited", "--max-recipients", "5")
	s.Pochta(t, "user", "set", "vera@example.org", "--send-per-day", "2")

	out := s.Pochta(t, "user", "show", "anna@example.org")
	for _, want := range []string{"send per hour:  1\n", "send per day:   4 (server default)\n", "max recipients: 1\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("user show anna lacks %q:\n%s", want, out)
		}
	}
	out = s.Pochta(t, "user", "show", "boris@example.org")
	for _, want := range []string{"send per hour:  unlimited\n", "send per day:   unlimited\n", "max recipients: 5\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("user show boris lacks %q:\n%s", want, out)
		}
	}
	if _, errOut, err := s.PochtaErr("user", "set", "anna@example.org", "--send-per-hour", "lots"); err == nil || !strings.Contains(errOut, "send-per-hour") {
		t.Errorf("user set --send-per-hour lots: %v %s, want a usage error", err, errOut)
	}

	msg := func(from string) string { return simpleMessage(from, "boris@example.org", "n", "x") }

	// anna: one message per hour, one recipient per message.
	c := loginSubmission(t, s, "anna@example.org", annaPass)
	c.expect("MAIL FROM:<anna@example.org>", "250")
	c.expect("RCPT TO:<boris@example.org>", "250")
	c.expect("RCPT TO:<vera@example.org>", "452 4.5.3")
	if r := c.sendData(msg("anna@example.org")); r.Code != 250 {
		t.Fatalf("anna's first message: %v", r)
	}
	r := c.send("anna@example.org", []string{"boris@example.org"}, msg("anna@example.org"))
	if !strings.HasPrefix(r.String(), "450 4.7.1") || !strings.Contains(r.Text(), "1 messages per hour") {
		t.Fatalf("anna's second message in an hour: %v, want 450 4.7.1 naming 1 per hour", r)
	}
	c.cmd("QUIT")

	// boris: unlimited, past the server's 3 per hour and 4 per day, and
	// five recipients where the server allows three.
	c = loginSubmission(t, s, "boris@example.org", borisPass)
	for i := 0; i < 6; i++ {
		if r := c.send("boris@example.org", []string{"anna@example.org", "vera@example.org", "team@example.org", "anna@other.example", "boris@example.org"}, msg("boris@example.org")); r.Code != 250 {
			t.Fatalf("boris's message %d: %v", i+1, r)
		}
	}
	c.cmd("QUIT")

	// vera: the server's 3 per hour still applies, her day limit is 2.
	c = loginSubmission(t, s, "vera@example.org", "vera-secret-1")
	c.expect("MAIL FROM:<vera@example.org>", "250")
	for _, rc := range []string{"anna@example.org", "boris@example.org", "team@example.org"} {
		c.expect("RCPT TO:<"+rc+">", "250")
	}
	c.expect("RCPT TO:<anna@other.example>", "452 4.5.3")
	if r := c.sendData(msg("vera@example.org")); r.Code != 250 {
		t.Fatalf("vera's first message: %v", r)
	}
	if r := c.send("vera@example.org", []string{"boris@example.org"}, msg("vera@example.org")); r.Code != 250 {
		t.Fatalf("vera's second message: %v", r)
	}
	r = c.send("vera@example.org", []string{"boris@example.org"}, msg("vera@example.org"))
	if !strings.HasPrefix(r.String(), "550 5.7.1") || !strings.Contains(r.Text(), "2 messages per day") {
		t.Fatalf("vera's third message in a day: %v, want 550 5.7.1 naming 2 per day", r)
	}
	c.cmd("QUIT")

	// Back to the server's limits: anna is now refused by its 3 per hour
	// only after her third message.
	s.Pochta(t, "user", "set", "anna@example.org", "--send-per-hour", "default")
	if out := s.Pochta(t, "user", "show", "anna@example.org"); !strings.Contains(out, "send per hour:  3 (server default)\n") {
		t.Errorf("user show after --send-per-hour default:\n%s", out)
	}
	c = loginSubmission(t, s, "anna@example.org", annaPass)
	for i := 0; i < 2; i++ {
		if r := c.send("anna@example.org", []string{"boris@example.org"}, msg("anna@example.org")); r.Code != 250 {
			t.Fatalf("anna's message %d under the server limit: %v", i+2, r)
		}
	}
	r = c.send("anna@example.org", []string{"boris@example.org"}, msg("anna@example.org"))
	if !strings.HasPrefix(r.String(), "450 4.7.1") || !strings.Contains(r.Text(), "3 messages per hour") {
		t.Fatalf("anna's fourth message: %v, want 450 4.7.1 naming 3 per hour", r)
	}
}
