package e2e

import (
	"net"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/emersion/go-imap/v2"
)

// TestIMAPDowngradeSMTPUTF8 delivers a message with UTF-8 headers with
// python3's smtplib over SMTPUTF8, reads it with python3's imaplib (which
// does not enable UTF8=ACCEPT) and gets it downgraded (RFC 6857): 7-bit
// headers that python's email.header decodes back to the same text, and
// an RFC822.SIZE that is the size of what FETCH sends. go-imap's client
// with UTF8=ACCEPT gets the message as it was delivered.
func TestIMAPDowngradeSMTPUTF8(t *testing.T) {
	t.Parallel()
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 not installed (Debian: python3)")
	}
	s := StartServer(t, "")
	s.AddUser(t, "anna@example.org", "anna-secret-1")
	host, pSMTP, _ := net.SplitHostPort(s.Addr("smtp"))
	_, pIMAPS, _ := net.SplitHostPort(s.Addr("imaps"))
	ca := filepath.Join(s.Dir, "data", "tls", "selfsigned.crt")
	script := pyUTF8Mail + `
import imaplib, re, ssl
host, psmtp, pimaps, ca = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
send_utf8(host, psmtp, "anna@example.org", "Anna <anna@example.org>", "Hallo Anna, viele Grüße!\n")

ctx = ssl.create_default_context(cafile=ca)
ctx.check_hostname = False
m = imaplib.IMAP4_SSL(host, pimaps, ssl_context=ctx)
m.login("anna@example.org", "anna-secret-1")
typ, data = m.select("INBOX")
assert typ == "OK" and data[0] == b"1", data
typ, data = m.fetch("1", "(RFC822.SIZE BODY.PEEK[])")
assert typ == "OK", data
head, body = data[0]
size = int(re.search(rb"RFC822\.SIZE (\d+)", head).group(1))
print("SIZE", size, len(body))
report_downgraded(body)
typ, data = m.fetch("1", "(ENVELOPE)")
env = data[0]
print("ENVELOPE8BIT", any(c >= 0x80 for c in env))
subj = re.search(rb'ENVELOPE \((?:NIL|"[^"]*") "([^"]*)"', env)
print("ENVSUBJECT", str(make_header(decode_header(subj.group(1).decode()))) if subj else env)
# 8-bit search text goes in a literal (imaplib's documented way).
m.literal = "Köln".encode("utf-8")
typ, data = m.search("UTF-8", "SUBJECT")
print("SEARCH", data[0].decode())
m.logout()
print("DONE")
`
	out, err := exec.Command(py, "-c", script, host, pSMTP, pIMAPS, ca).CombinedOutput()
	if err != nil {
		t.Fatalf("python: %v\n%s\nserver log:\n%s", err, out, s.Logs())
	}
	o := string(out)
	for _, want := range append(downgradedReport("Anna <anna@example.org>", "Hallo Anna, viele Grüße!"),
		"ENVELOPE8BIT False",
		"ENVSUBJECT Grüße aus Köln, schöne Stadt",
		"SEARCH 1",
		"DONE",
	) {
		if !strings.Contains(o, want) {
			t.Errorf("python output lacks %q:\n%s", want, o)
		}
	}
	// RFC822.SIZE is the length of the BODY[] literal.
	for _, l := range strings.Split(o, "\n") {
		if f := strings.Fields(l); len(f) == 3 && f[0] == "SIZE" && f[1] != f[2] {
			t.Errorf("RFC822.SIZE %s but BODY[] of %s octets", f[1], f[2])
		}
	}

	// With UTF8=ACCEPT: the bytes as delivered.
	c := goIMAP(t, s, "anna@example.org", "anna-secret-1")
	if _, err := c.Enable(imap.CapUTF8Accept).Wait(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	msgs, err := c.Fetch(imap.SeqSetNum(1), &imap.FetchOptions{Envelope: true, RFC822Size: true, BodySection: []*imap.FetchItemBodySection{{Peek: true}}}).Collect()
	if err != nil || len(msgs) != 1 {
		t.Fatalf("fetch: %v %v", msgs, err)
	}
	body := string(msgs[0].FindBodySection(&imap.FetchItemBodySection{}))
	if !strings.Contains(body, "Subject: Grüße aus Köln, schöne Stadt\r\n") || !strings.Contains(body, "Message-ID: <grüße.1@bücher.example>") {
		t.Errorf("UTF8=ACCEPT body not as delivered:\n%s", body)
	}
	if int64(len(body)) != msgs[0].RFC822Size {
		t.Errorf("RFC822.SIZE %d, body %d", msgs[0].RFC822Size, len(body))
	}
	if env := msgs[0].Envelope; env.Subject != "Grüße aus Köln, schöne Stadt" || len(env.From) != 1 || env.From[0].Mailbox != "dörte" || env.From[0].Host != "bücher.example" {
		t.Errorf("UTF8=ACCEPT envelope %+v", env)
	}
}
