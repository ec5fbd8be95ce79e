package e2e

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/smtp"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// submitOverSMTP sends each message from popUser to popUser over the
// submission port: STARTTLS with the server certificate verified, AUTH
// PLAIN, one transaction per message on one connection.
func submitOverSMTP(t *testing.T, s *Server, msgs []string) {
	t.Helper()
	conn, err := net.DialTimeout("tcp", s.Addr("submission"), 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	c, err := smtp.NewClient(conn, "mail.example.org")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.StartTLS(s.TLSConfig()); err != nil {
		t.Fatalf("STARTTLS: %v", err)
	}
	if err := c.Auth(smtp.PlainAuth("", popUser, popPassword, "mail.example.org")); err != nil {
		t.Fatalf("AUTH: %v", err)
	}
	for i, m := range msgs {
		if err := c.Mail(popUser); err != nil {
			t.Fatalf("message %d: MAIL: %v", i+1, err)
		}
		if err := c.Rcpt(popUser); err != nil {
			t.Fatalf("message %d: RCPT: %v", i+1, err)
		}
		w, err := c.Data()
		if err != nil {
			t.Fatalf("message %d: DATA: %v", i+1, err)
		}
		if _, err := w.Write([]byte(m)); err != nil {
			t.Fatalf("message %d: %v", i+1, err)
		}
		if err := w.Close(); err != nil {
			t.Fatalf("message %d: end of DATA: %v", i+1, err)
		}
	}
	if err := c.Quit(); err != nil {
		t.Fatalf("QUIT: %v", err)
	}
}

// strangerCert writes a self-signed certificate for mail.example.org that
// the server does not use, for a client that must refuse the server.
func strangerCert(t *testing.T, path string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "mail.example.org"},
		DNSNames: []string{"mail.example.org"}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}

// getmailrc writes a getmail configuration that downloads popUser's
// mailbox over pop3s into the Maildir out, trusting only caFile and
// checking the name mail.example.org, adding no header fields; with
// deliverAs it writes the files as that user. Its timeout (of network
// reads, and of its wait for the child that delivers a message) is 20 s
// instead of 180 s.
func getmailrc(t *testing.T, s *Server, dir, name, caFile, out, deliverAs string) string {
	t.Helper()
	host, p, _ := net.SplitHostPort(s.Addr("pop3s"))
	userLine := ""
	if deliverAs != "" {
		userLine = "user = " + deliverAs + "\n"
	}
	conf := fmt.Sprintf(`[retriever]
type = SimplePOP3SSLRetriever
server = %s
port = %s
username = %s
password = %s
ca_certs = %s
ssl_cert_hostname = mail.example.org

[destination]
type = Maildir
path = %s/
%s
timeout = 20

[options]
read_all = false
delete = false
delivered_to = false
received = false
verbose = 1
`, host, p, popUser, popPassword, caFile, out, userLine)
	rc := filepath.Join(dir, name)
	if err := os.WriteFile(rc, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	return rc
}

// getmailLostChildRE is getmail's error when it missed the exit of the
// child it forked to deliver a message.
var getmailLostChildRE = regexp.MustCompile(`waiting child pid \d+ timed out`)

var messageIDRE = regexp.MustCompile(`(?mi)^Message-ID: (<[^>]+>)\r?$`)

// emptyFirstLineRE finds header fields whose value starts on a
// continuation line.
var emptyFirstLineRE = regexp.MustCompile(`(?m)^([A-Za-z0-9-]+):\r\n `)

// TestPOP3Getmail delivers a mailbox of 80 mixed messages (UTF-8,
// attachments, 5 MB, leading dots) through SMTP submission, downloads it
// with getmail over pop3s with certificate verification, and compares
// every downloaded message byte for byte with the stored copy (getmail
// writes LF line endings). A getmail that trusts another certificate must
// fetch nothing, and a second run fetches nothing new.
func TestPOP3Getmail(t *testing.T) {
	// Not parallel: getmail forks a child per delivered message and waits
	// for its SIGCHLD on a condition variable it starts waiting on only
	// after the fork (getmailcore/baseclasses.py _wait_for_child); a child
	// that ends first is missed and getmail gives up after its timeout
	// ("waiting child pid ... timed out"). A busy machine makes that
	// likely, so this test runs before the parallel ones start, and
	// starts over when it happens anyway (below).
	gm, err := exec.LookPath("getmail")
	if err != nil {
		t.Skip("getmail not installed (Debian package getmail6)")
	}
	s := StartServer(t, "")
	s.AddUser(t, popUser, popPassword)
	sent := mixedMailbox(80) // every kind of message mixedMailbox makes; getmail runs alone, so kept short
	fromRE := regexp.MustCompile(`(?m)^From: sender\d+@example\.net\r$`)
	for i := range sent {
		// Submission accepts only the account's own From address.
		sent[i] = fromRE.ReplaceAllString(sent[i], "From: "+popUser+"\r")
	}
	submitOverSMTP(t, s, sent)

	stored := inbox(t, s, popUser)
	if len(stored) != len(sent) {
		t.Fatalf("%d messages stored, want %d", len(stored), len(sent))
	}
	byID := map[string]string{}
	for i, m := range stored {
		// The stored copy is the submitted message after the trace
		// fields the server prepends.
		if !strings.HasSuffix(m, sent[i]) {
			t.Fatalf("stored message %d does not end with the submitted one", i+1)
		}
		id := messageIDRE.FindStringSubmatch(m)
		if id == nil {
			t.Fatalf("stored message %d has no Message-ID", i+1)
		}
		// getmail does not issue UTF8 (RFC 6856): it gets UTF-8
		// headers downgraded. A downgraded field whose first
		// encoded-word does not fit beside the name starts on a
		// continuation line ("Subject:\r\n =?UTF-8?Q?…"); getmail
		// (Python's email generator) writes a space after its colon.
		byID[id[1]] = emptyFirstLineRE.ReplaceAllString(pop3Downgraded(t, []string{m})[0], "$1: \r\n ")
	}

	dir := t.TempDir()
	// getmail refuses to write mail as root: under root it delivers as
	// nobody, into folders nobody can reach.
	deliverAs, uid, gid := "", -1, -1
	if os.Geteuid() == 0 {
		u, err := user.Lookup("nobody")
		if err != nil {
			t.Skipf("running as root and no user nobody for getmail: %v", err)
		}
		deliverAs = "nobody"
		uid, _ = strconv.Atoi(u.Uid)
		gid, _ = strconv.Atoi(u.Gid)
		for d := dir; d != filepath.Dir(d) && d != os.TempDir(); d = filepath.Dir(d) {
			if err := os.Chmod(d, 0o755); err != nil {
				t.Fatal(err)
			}
		}
	}
	run := func(rc string) ([]byte, error) {
		cmd := exec.Command(gm, "--getmaildir", dir, "--rcfile", rc)
		cmd.Env = append(os.Environ(), "HOME="+dir)
		return runWithTimeout(cmd, 6*time.Minute)
	}
	maildir := func(name string) string {
		md := filepath.Join(dir, name)
		for _, sub := range []string{"new", "cur", "tmp"} {
			if err := os.MkdirAll(filepath.Join(md, sub), 0o700); err != nil {
				t.Fatal(err)
			}
			if uid >= 0 {
				if err := os.Chown(filepath.Join(md, sub), uid, gid); err != nil {
					t.Fatal(err)
				}
			}
		}
		if uid >= 0 {
			if err := os.Chown(md, uid, gid); err != nil {
				t.Fatal(err)
			}
		}
		return md
	}

	// Trusting a different certificate: the TLS handshake must fail.
	stranger := filepath.Join(dir, "stranger.pem")
	strangerCert(t, stranger)
	wrongOut := maildir("wrong")
	res, err := run(getmailrc(t, s, dir, "rc-wrong", stranger, wrongOut, deliverAs))
	if entries, _ := os.ReadDir(filepath.Join(wrongOut, "new")); len(entries) != 0 {
		t.Fatalf("getmail trusting another certificate fetched %d messages (err %v)\n%s", len(entries), err, res)
	}
	if !strings.Contains(strings.ToLower(string(res)), "certificate") {
		t.Fatalf("getmail trusting another certificate: no certificate error reported (err %v)\n%s", err, res)
	}

	out := maildir("mail")
	rc := getmailrc(t, s, dir, "rc", s.certFile(), out, deliverAs)
	// Should getmail still miss a child's exit (the race above; more
	// likely when other packages' tests load the machine), it stops with
	// "waiting child pid N timed out": getmail's bug, not the server's.
	// Then it starts over with an empty Maildir and no memory of what it
	// fetched, at most three times; one whole run must succeed.
	for attempt := 1; ; attempt++ {
		res, err = run(rc)
		if err == nil || attempt == 3 || !getmailLostChildRE.Match(res) {
			break
		}
		t.Logf("getmail missed a child's exit (attempt %d); starting over:\n%s", attempt, lastLines(string(res), 2))
		old, _ := filepath.Glob(filepath.Join(dir, "oldmail-*"))
		for _, sub := range []string{"new", "cur", "tmp"} {
			files, _ := filepath.Glob(filepath.Join(out, sub, "*"))
			old = append(old, files...)
		}
		for _, f := range old {
			if err := os.Remove(f); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err != nil {
		t.Fatalf("getmail: %v\n%s", err, res)
	}
	entries, err := os.ReadDir(filepath.Join(out, "new"))
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != len(stored) {
		t.Fatalf("getmail fetched %d messages, want %d\n%s", len(entries), len(stored), res)
	}
	seen := map[string]bool{}
	for _, e := range entries {
		got, err := os.ReadFile(filepath.Join(out, "new", e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		id := messageIDRE.FindStringSubmatch(string(got))
		if id == nil {
			t.Fatalf("downloaded %s has no Message-ID", e.Name())
		}
		want, ok := byID[id[1]]
		if !ok || seen[id[1]] {
			t.Fatalf("downloaded %s: unexpected or repeated Message-ID %s", e.Name(), id[1])
		}
		seen[id[1]] = true
		w := strings.ReplaceAll(want, "\r\n", "\n")
		if string(got) != w {
			t.Fatalf("message %s: got %d octets, want %d (first difference at %d)", id[1], len(got), len(w), firstDiff(got, []byte(w)))
		}
	}

	// getmail remembers the UIDLs it fetched: a second run gets nothing.
	res, err = run(rc)
	if err != nil {
		t.Fatalf("second getmail run: %v\n%s", err, res)
	}
	if entries, _ := os.ReadDir(filepath.Join(out, "new")); len(entries) != len(stored) {
		t.Fatalf("%d messages after the second run, want %d\n%s", len(entries), len(stored), res)
	}
	// Nothing was deleted on the server (delete = false).
	if n := len(inbox(t, s, popUser)); n != len(stored) {
		t.Fatalf("%d messages left on the server, want %d", n, len(stored))
	}
}
