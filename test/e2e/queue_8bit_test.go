package e2e

import (
	"fmt"
	"io"
	"mime/quotedprintable"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-msgauth/dkim"
	"github.com/miekg/dns"
)

// TestQueue8BitToPostfixWithout8BITMIME: Postfix told not to announce
// 8BITMIME (nor DSN) gets 8-bit mail converted to quoted-printable, with
// a DKIM signature that still verifies; NOTIFY=SUCCESS brings a
// "relayed" notice.
func TestQueue8BitToPostfixWithout8BITMIME(t *testing.T) {
	t.Parallel()
	pfAddr, mailDir := startPostfix(t, "smtpd_discard_ehlo_keywords = 8bitmime, dsn, smtputf8")
	d := startDNS(t)
	a := StartServer(t, dnsConfig(d)+fmt.Sprintf("\n[queue.routes]\n%q = %q\n", "pf.example", pfAddr))
	a.Pochta(t, "domain", "add", "a.example")
	a.AddUser(t, "alice@a.example", "alice-secret-1")
	zone := a.Pochta(t, "domain", "dns", "a.example")
	// Date and Message-ID are there: Postfix would add them for a
	// loopback client, and that alone would break the signatures.
	msg := "From: alice@a.example\r\nTo: user@pf.example\r\nSubject: 8bit\r\nMIME-Version: 1.0\r\n" +
		"Date: " + time.Now().Format(time.RFC1123Z) + "\r\nMessage-ID: <8bit." + fmt.Sprint(time.Now().UnixNano()) + "@a.example>\r\n" +
		"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\nПривет, Postfix = 7 бит.\r\n"
	c := loginSubmission(t, a, "alice@a.example", "alice-secret-1")
	c.expect("MAIL FROM:<alice@a.example> BODY=8BITMIME", "250")
	c.expect("RCPT TO:<user@pf.example> NOTIFY=SUCCESS", "250")
	if r := c.sendData(msg); r.Code != 250 {
		t.Fatalf("DATA: %v", r)
	}
	c.cmd("QUIT")
	var files []string
	waitFor(t, 60*time.Second, "the message in Postfix's Maildir", func() bool {
		files, _ = filepath.Glob(filepath.Join(mailDir, "user", "new", "*"))
		return len(files) > 0
	})
	b, err := os.ReadFile(files[0])
	if err != nil {
		t.Fatal(err)
	}
	got := strings.ReplaceAll(string(b), "\r\n", "\n")
	_, body, _ := strings.Cut(got, "\n\n")
	for _, c := range []byte(got) {
		if c >= 0x80 {
			t.Fatalf("8-bit data reached a server without 8BITMIME:\n%s", got)
		}
	}
	if !strings.Contains(got, "Content-Transfer-Encoding: quoted-printable") {
		t.Errorf("not quoted-printable:\n%s", got)
	}
	decB, _ := io.ReadAll(quotedprintable.NewReader(strings.NewReader(body)))
	dec := string(decB)
	if !strings.Contains(dec, "Привет, Postfix = 7 бит.") {
		t.Errorf("decoded body %q", dec)
	}
	// The signature is over what Postfix got (Postfix added only trace
	// fields above it).
	txt := map[string][]string{}
	for _, l := range strings.Split(zone, "\n") {
		if rr, err := dns.NewRR(l); err == nil && rr != nil {
			if t, ok := rr.(*dns.TXT); ok {
				txt[strings.TrimSuffix(t.Hdr.Name, ".")] = []string{strings.Join(t.Txt, "")}
			}
		}
	}
	vs, err := dkim.VerifyWithOptions(strings.NewReader(string(b)), &dkim.VerifyOptions{LookupTXT: func(name string) ([]string, error) {
		return txt[strings.TrimSuffix(name, ".")], nil
	}})
	if err != nil || len(vs) != 2 {
		t.Fatalf("verify: %d signatures, %v", len(vs), err)
	}
	for _, v := range vs {
		if v.Err != nil {
			t.Errorf("signature of %s: %v", v.Domain, v.Err)
		}
	}
	var notices []string
	waitFor(t, 30*time.Second, "the relayed notice", func() bool {
		notices = inbox(t, a, "alice@a.example")
		return len(notices) > 0
	})
	if _, status := reportText(t, notices[0]); !strings.Contains(status, "Action: relayed") {
		t.Errorf("notice:\n%s", status)
	}
}
