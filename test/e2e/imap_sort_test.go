package e2e

import (
	"fmt"
	"net"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestIMAPSortAndThread delivers a small conversation by SMTP, then
// sorts and threads it over IMAPS, with a raw dialogue and with python3's
// imaplib.
func TestIMAPSortAndThread(t *testing.T) {
	t.Parallel()
	s := StartServer(t, "")
	s.AddUser(t, "anna@example.org", "anna-secret-1")
	mails := []struct{ from, subject, id, refs string }{
		{"boris@example.net", "Plans", "<p1@example.net>", ""},
		{"carla@example.net", "Re: Plans", "<p2@example.net>", "<p1@example.net>"},
		{"dmitri@example.net", "Invoice", "<i1@example.net>", ""},
		{"anton@example.net", "Re: Plans", "<p3@example.net>", "<p1@example.net> <p2@example.net>"},
		{"boris@example.net", "Fwd: Invoice", "<i2@example.net>", ""},
	}
	for i, m := range mails {
		msg := fmt.Sprintf("From: %s\r\nTo: anna@example.org\r\nSubject: %s\r\nMessage-ID: %s\r\nDate: Mon, %d Jan 2024 10:00:00 +0000\r\n",
			m.from, m.subject, m.id, i+1)
		if m.refs != "" {
			msg += "References: " + m.refs + "\r\n"
		}
		msg += "\r\nmessage " + fmt.Sprint(i+1) + "\r\n"
		if err := sendSMTP(s, m.from, "anna@example.org", msg); err != nil {
			t.Fatalf("SMTP delivery %d: %v\n%s", i+1, err, s.Logs())
		}
	}

	c := dialIMAPS(t, s)
	c.ok(`LOGIN anna@example.org anna-secret-1`)
	caps := strings.Join(c.ok("CAPABILITY"), " ")
	for _, want := range []string{" SORT ", "THREAD=REFERENCES", "THREAD=ORDEREDSUBJECT", "ESORT"} {
		if !strings.Contains(caps+" ", want) {
			t.Errorf("capabilities lack %q: %s", want, caps)
		}
	}
	mustContain(t, c.ok("SELECT INBOX"), "* 5 EXISTS")
	for _, tt := range []struct{ cmd, want string }{
		{"SORT (FROM) UTF-8 ALL", "* SORT 4 1 5 2 3"},
		{"SORT (REVERSE DATE) UTF-8 ALL", "* SORT 5 4 3 2 1"},
		{"SORT (SUBJECT) UTF-8 ALL", "* SORT 3 5 1 2 4"},
		{"UID SORT (SUBJECT REVERSE DATE) UTF-8 FROM boris", "* SORT 5 1"},
		{"THREAD REFERENCES UTF-8 ALL", "* THREAD (1 2 4)(3 5)"},
		{"THREAD ORDEREDSUBJECT UTF-8 ALL", "* THREAD (1 (2)(4))(3 5)"},
		{"UID THREAD REFERENCES UTF-8 NOT FROM carla", "* THREAD (1 4)(3 5)"},
	} {
		u := c.ok(tt.cmd)
		if len(u) != 1 || u[0] != tt.want {
			t.Errorf("%s: %q, want %q", tt.cmd, u, tt.want)
		}
	}

	if _, err := exec.LookPath("python3"); err != nil {
		t.Skip("python3 not installed")
	}
	host, port, _ := net.SplitHostPort(s.Addr("imaps"))
	script := `
import imaplib, ssl, sys
ctx = ssl.create_default_context(cafile=sys.argv[3])
ctx.check_hostname = False
m = imaplib.IMAP4_SSL(sys.argv[1], int(sys.argv[2]), ssl_context=ctx)
m.login('anna@example.org', 'anna-secret-1')
m.select('INBOX')
print('SORT', m.sort('(REVERSE DATE)', 'UTF-8', 'ALL'))
print('THREAD', m.thread('REFERENCES', 'UTF-8', 'ALL'))
print('UIDTHREAD', m.uid('THREAD', 'ORDEREDSUBJECT', 'UTF-8', 'SUBJECT', 'plans'))
m.logout()
`
	out, err := exec.Command("python3", "-c", script, host, port, filepath.Join(s.Dir, "data", "tls", "selfsigned.crt")).CombinedOutput()
	if err != nil {
		t.Fatalf("imaplib: %v\n%s", err, out)
	}
	for _, want := range []string{
		"SORT ('OK', [b'5 4 3 2 1'])",
		"THREAD ('OK', [b'(1 2 4)(3 5)'])",
		"UIDTHREAD ('OK', [b'(1 (2)(4))'])",
	} {
		if !strings.Contains(string(out), want) {
			t.Errorf("imaplib output lacks %q:\n%s", want, out)
		}
	}
}
