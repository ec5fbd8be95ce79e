package e2e

import (
	"net/mail"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// originMessage is a submitted message without Date and Message-ID.
func originMessage(from, to, subject string) string {
	return "From: " + from + "\r\nTo: " + to + "\r\nSubject: " + subject + "\r\n\r\nno date, no id\r\n"
}

// headerOf returns the header of a message, up to its empty line.
func headerOf(t *testing.T, msg string) mail.Header {
	t.Helper()
	m, err := mail.ReadMessage(strings.NewReader(msg))
	if err != nil {
		t.Fatalf("message does not parse: %v\n%s", err, msg)
	}
	return m.Header
}

// checkOriginFields checks that a message has exactly one Date field,
// dated between before and after (to the second), and one Message-ID of
// the form <random@mail.example.org>.
func checkOriginFields(t *testing.T, msg string, before, after time.Time) {
	t.Helper()
	h := headerOf(t, msg)
	if n := len(h["Date"]); n != 1 {
		t.Errorf("%d Date fields, want 1:\n%s", n, msg)
	}
	if n := len(h["Message-Id"]); n != 1 {
		t.Errorf("%d Message-ID fields, want 1:\n%s", n, msg)
	}
	d, err := h.Date()
	if err != nil {
		t.Errorf("Date %q: %v", h.Get("Date"), err)
	} else if d.Before(before.Truncate(time.Second)) || d.After(after) {
		t.Errorf("Date %v is not the time of submission (between %v and %v)", d, before, after)
	}
	if id := h.Get("Message-Id"); !regexp.MustCompile(`^<[0-9a-f]{32}@mail\.example\.org>$`).MatchString(id) {
		t.Errorf("Message-ID %q, want <random@mail.example.org>", id)
	}
}

// retrPOP3 logs in over POP3S and returns every message, in order.
func retrPOP3(t *testing.T, s *Server, user, pass string) []string {
	t.Helper()
	p := dialPOP3(t, s.Addr("pop3s"), s.TLSConfig())
	if r := p.cmd("USER " + user); !strings.HasPrefix(r, "+OK") {
		t.Fatalf("USER: %q", r)
	}
	if r := p.cmd("PASS " + pass); !strings.HasPrefix(r, "+OK") {
		t.Fatalf("PASS: %q", r)
	}
	r := p.cmd("STAT")
	f := strings.Fields(r) // "+OK n size"
	if len(f) != 3 || f[0] != "+OK" {
		t.Fatalf("STAT: %q", r)
	}
	n, err := strconv.Atoi(f[1])
	if err != nil {
		t.Fatalf("STAT: %q", r)
	}
	var out []string
	for i := 1; i <= n; i++ {
		if r := p.cmd("RETR " + strconv.Itoa(i)); !strings.HasPrefix(r, "+OK") {
			t.Fatalf("RETR %d: %q", i, r)
		}
		out = append(out, p.multi())
	}
	p.cmd("QUIT")
	return out
}

// TestSubmissionAddsDateAndMessageID submits mail without Date and
// Message-ID on submission, submissions and devices and reads it back
// over POP3: the server added one of each (RFC 6409 §8.2, §8.3). Mail
// that has them keeps them untouched, and mail from outside on the MX
// port is stored as received.
func TestSubmissionAddsDateAndMessageID(t *testing.T) {
	t.Parallel()
	s := policyServer(t, "")
	before := time.Now()

	// submission (STARTTLS).
	if r := submit(t, s, "anna@example.org", annaPass, "anna@example.org", []string{"boris@example.org"},
		originMessage("anna@example.org", "boris@example.org", "via submission")); r.Code != 250 {
		t.Fatalf("submission: %v", r)
	}
	// submissions (implicit TLS).
	c := dialSMTPS(t, s.Addr("submissions"), s.TLSConfig())
	c.expect("EHLO client.test", "250")
	if r := c.authPlain("anna@example.org", annaPass); r.Code != 235 {
		t.Fatalf("submissions AUTH: %v", r)
	}
	if r := c.send("anna@example.org", []string{"boris@example.org"}, originMessage("anna@example.org", "boris@example.org", "via submissions")); r.Code != 250 {
		t.Fatalf("submissions: %v", r)
	}
	c.cmd("QUIT")
	// devices.
	c = dialSMTP(t, s.Addr("devices"))
	c.expect("EHLO scanner.lan", "250")
	if r := c.authPlain("anna@example.org", annaPass); r.Code != 235 {
		t.Fatalf("devices AUTH: %v", r)
	}
	if r := c.send("anna@example.org", []string{"boris@example.org"}, originMessage("anna@example.org", "boris@example.org", "via devices")); r.Code != 250 {
		t.Fatalf("devices: %v", r)
	}
	c.cmd("QUIT")
	after := time.Now()

	// A message with both fields, folded and in odd case, is untouched.
	const keptDate = "Sun, 1 Mar 2026 12:00:00 +0100"
	const keptID = "<kept.1@client.example>"
	kept := "From: anna@example.org\r\nTo: boris@example.org\r\nSubject: has both\r\nDATE: " + keptDate +
		"\r\nmessage-id:\r\n " + keptID + "\r\n\r\nbody\r\n"
	if r := submit(t, s, "anna@example.org", annaPass, "anna@example.org", []string{"boris@example.org"}, kept); r.Code != 250 {
		t.Fatalf("submission with both fields: %v", r)
	}
	// Only one of the two: the other is added.
	onlyID := "From: anna@example.org\r\nTo: boris@example.org\r\nSubject: only id\r\nMessage-ID: <only.id@client.example>\r\n\r\nbody\r\n"
	if r := submit(t, s, "anna@example.org", annaPass, "anna@example.org", []string{"boris@example.org"}, onlyID); r.Code != 250 {
		t.Fatalf("submission with Message-ID only: %v", r)
	}
	afterAll := time.Now()
	// Mail from outside on the MX port: stored as received.
	c = dialSMTP(t, s.Addr("smtp"))
	c.expect("EHLO mx.sender.example", "250")
	if r := c.send("x@sender.example", []string{"boris@example.org"}, originMessage("x@sender.example", "boris@example.org", "via mx")); r.Code != 250 {
		t.Fatalf("MX: %v", r)
	}
	c.cmd("QUIT")

	msgs := retrPOP3(t, s, "boris@example.org", borisPass)
	if len(msgs) != 6 {
		t.Fatalf("boris has %d messages, want 6", len(msgs))
	}
	for i, subject := range []string{"via submission", "via submissions", "via devices"} {
		m := msgs[i]
		if got := headerOf(t, m).Get("Subject"); got != subject {
			t.Fatalf("message %d has subject %q, want %q", i+1, got, subject)
		}
		checkOriginFields(t, m, before, after)
		if !strings.HasSuffix(m, "\r\n\r\nno date, no id\r\n") {
			t.Errorf("%s: body changed:\n%s", subject, m)
		}
	}
	if !strings.HasSuffix(msgs[3], kept) {
		t.Errorf("message with Date and Message-ID changed:\n%s\nwant it to end with\n%s", msgs[3], kept)
	}
	if h := headerOf(t, msgs[3]); len(h["Date"]) != 1 || len(h["Message-Id"]) != 1 || h.Get("Message-Id") != keptID {
		t.Errorf("message with both fields: Date %q, Message-ID %q:\n%s", h["Date"], h["Message-Id"], msgs[3])
	}
	h := headerOf(t, msgs[4])
	if len(h["Message-Id"]) != 1 || h.Get("Message-Id") != "<only.id@client.example>" {
		t.Errorf("message with only a Message-ID: Message-ID %q:\n%s", h["Message-Id"], msgs[4])
	}
	if d, err := h.Date(); err != nil || len(h["Date"]) != 1 || d.Before(after.Truncate(time.Second)) || d.After(afterAll) {
		t.Errorf("message with only a Message-ID: Date %q (%v):\n%s", h["Date"], err, msgs[4])
	}
	if h := headerOf(t, msgs[5]); len(h["Date"]) != 0 || len(h["Message-Id"]) != 0 {
		t.Errorf("MX mail got Date %q, Message-ID %q added; want it stored as received:\n%s", h["Date"], h["Message-Id"], msgs[5])
	}
	// Each submitted message has its own Message-ID.
	ids := map[string]bool{}
	for _, m := range msgs[:3] {
		ids[headerOf(t, m).Get("Message-Id")] = true
	}
	if len(ids) != 3 {
		t.Errorf("Message-IDs not unique: %v", ids)
	}
}

// TestSubmissionAddedFieldsSigned sends mail without Date and Message-ID
// to another server: the fields arrive there, covered by a DKIM signature
// that verifies (they were added before signing).
func TestSubmissionAddedFieldsSigned(t *testing.T) {
	t.Parallel()
	a, b, _ := twoServers(t, "", "")
	b.AddUser(t, "bob@b.example", "bob-secret-1")
	before := time.Now()
	if r := submit(t, a, "alice@a.example", "alice-secret-1", "alice@a.example", []string{"bob@b.example"},
		originMessage("Alice <alice@a.example>", "bob@b.example", "signed origin")); r.Code != 250 {
		t.Fatalf("submit: %v", r)
	}
	after := time.Now()
	var got []string
	waitFor(t, 30*time.Second, "the message in bob's inbox on B", func() bool {
		got = inbox(t, b, "bob@b.example")
		return len(got) > 0
	})
	m := got[0]
	checkOriginFields(t, m, before, after)
	h := headerOf(t, m)
	if ar := strings.Join(h["Authentication-Results"], "\n"); !strings.Contains(ar, "dkim=pass") || !strings.Contains(ar, "header.d=a.example") {
		t.Errorf("DKIM does not pass at the receiver: %s", ar)
	}
	for _, sig := range h["Dkim-Signature"] {
		tags := strings.ToLower(strings.Join(strings.Fields(sig), ""))
		hl := regexp.MustCompile(`(?:^|;)h=([^;]*)`).FindStringSubmatch(tags)
		if hl == nil {
			t.Fatalf("DKIM-Signature without h=: %s", sig)
		}
		fields := strings.Split(hl[1], ":")
		for _, want := range []string{"date", "message-id"} {
			found := false
			for _, f := range fields {
				found = found || f == want
			}
			if !found {
				t.Errorf("DKIM-Signature does not sign %s: h=%s", want, hl[1])
			}
		}
	}
	if len(h["Dkim-Signature"]) == 0 {
		t.Errorf("no DKIM-Signature:\n%s", m)
	}
}
