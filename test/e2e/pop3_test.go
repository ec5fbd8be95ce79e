package e2e

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

const (
	popUser     = "pop@example.org"
	popPassword = "pop-secret 123"
)

// certFile is the server's self-signed certificate, for real clients.
func (s *Server) certFile() string { return filepath.Join(s.Dir, "data", "tls", "selfsigned.crt") }

// TestPOP3Protocol checks the served protocol end to end: the secure
// login policy on port 110, STLS, port 995, the POP3 switch, and what the
// operator sees in the log.
func TestPOP3Protocol(t *testing.T) {
	t.Parallel()
	s := StartServer(t, "")
	s.AddUser(t, popUser, popPassword)
	stored := deliverPOP3Mail(t, s, popUser, []string{"Subject: a\r\n\r\nbody\r\n", "Subject: b\r\n\r\n.dot\r\n"})

	c := dialPOP3(t, s.Addr("pop3"), nil)
	if r := c.cmd("USER " + popUser); r != "-ERR [AUTH] Authentication requires TLS (use STLS or port 995)" {
		t.Fatalf("USER without TLS: %q", r)
	}
	if r := c.cmd("STLS"); r != "+OK Begin TLS negotiation" {
		t.Fatalf("STLS: %q", r)
	}
	tc := tlsUpgrade(t, c, s)
	tc.cmd("USER pop") // local part of the primary domain
	if r := tc.cmd("PASS " + popPassword); r != fmt.Sprintf("+OK Logged in, 2 messages (%d octets)", len(stored[0])+len(stored[1])) {
		t.Fatalf("PASS after STLS: %q", r)
	}
	if r := tc.cmd("RETR 2"); r != fmt.Sprintf("+OK %d octets", len(stored[1])) {
		t.Fatalf("RETR: %q", r)
	}
	if got := tc.multi(); got != stored[1] {
		t.Fatalf("RETR 2 = %q, want %q", got, stored[1])
	}
	// A second session is locked out while this one is in TRANSACTION.
	c2 := dialPOP3(t, s.Addr("pop3s"), s.TLSConfig())
	c2.cmd("USER " + popUser)
	if r := c2.cmd("PASS " + popPassword); r != "-ERR [IN-USE] Mailbox is locked by another session" {
		t.Fatalf("second session: %q", r)
	}
	if r := tc.cmd("QUIT"); !strings.HasPrefix(r, "+OK") {
		t.Fatalf("QUIT: %q", r)
	}

	// POP3 off: the same text as a wrong password; the log says why.
	s.Pochta(t, "user", "set", popUser, "--pop3=off")
	c3 := dialPOP3(t, s.Addr("pop3s"), s.TLSConfig())
	c3.cmd("USER " + popUser)
	if r := c3.cmd("PASS " + popPassword); r != "-ERR [AUTH] Login failure or POP3 disabled" {
		t.Fatalf("POP3 off: %q", r)
	}
	c3.cmd("USER " + popUser)
	if r := c3.cmd("PASS wrong"); r != "-ERR [AUTH] Login failure or POP3 disabled" {
		t.Fatalf("wrong password: %q", r)
	}
	// The server's log is read asynchronously: wait for the lines.
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(s.Logs(), "protocol disabled") || !strings.Contains(s.Logs(), "wrong password") {
		if time.Now().After(deadline) {
			t.Fatalf("reasons not logged:\n%s", s.Logs())
		}
		time.Sleep(50 * time.Millisecond)
	}
	if strings.Contains(s.Logs(), popPassword) {
		t.Fatal("the log holds the password")
	}
}

// tlsUpgrade runs the TLS handshake after STLS.
func tlsUpgrade(t *testing.T, c *popClient, s *Server) *popClient {
	t.Helper()
	conn := tlsClientConn(c.conn, s)
	return &popClient{t: t, conn: conn, r: newReader(conn)}
}

// TestPOP3Python downloads an 80-message mailbox with python3's poplib
// over port 995 and over STLS, compares every message byte for byte, then
// deletes them and checks where they went.
func TestPOP3Python(t *testing.T) {
	t.Parallel()
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 not installed (Debian package python3)")
	}
	s := StartServer(t, "")
	s.AddUser(t, popUser, popPassword)
	// 80 messages hold every kind mixedMailbox makes (4 kinds, 20 of
	// each, and the 5 MB one), as in the getmail test.
	const n = 80
	stored := deliverPOP3Mail(t, s, popUser, mixedMailbox(n))
	script := `
import os, poplib, ssl, sys
host, port = os.environ["POP_ADDR"].rsplit(":", 1)
ctx = ssl.create_default_context(cafile=os.environ["POP_CA"])
if os.environ["POP_MODE"] == "pop3s":
    p = poplib.POP3_SSL(host, int(port), context=ctx)
else:
    p = poplib.POP3(host, int(port))
    p.stls(context=ctx)
if os.environ.get("POP_UTF8"):
    p.utf8()
p.user(os.environ["POP_USER"]); p.pass_(os.environ["POP_PASS"])
caps = p.capa()
assert "UIDL" in caps and "TOP" in caps and "PIPELINING" in caps, caps
out = os.environ["POP_OUT"]
n, size = p.stat()
uids = [l.split()[1].decode() for l in p.uidl()[1]]
for i in range(1, n + 1):
    resp, lines, octets = p.retr(i)
    with open(os.path.join(out, "%03d" % i), "wb") as f:
        f.write(b"".join(l + b"\r\n" for l in lines))
with open(os.path.join(out, "uidl"), "w") as f:
    f.write(" ".join(uids))
if os.environ.get("POP_DELETE"):
    for i in range(1, n + 1):
        p.dele(i)
print(p.quit().decode())
`
	var firstUIDs string
	for _, mode := range []string{"pop3s", "pop3"} {
		t.Run(mode, func(t *testing.T) {
			out := t.TempDir()
			cmd := exec.Command(py, "-c", script)
			cmd.Env = append(os.Environ(), "POP_ADDR="+s.Addr(mode), "POP_CA="+s.certFile(), "POP_MODE="+mode,
				"POP_USER="+popUser, "POP_PASS="+popPassword, "POP_OUT="+out)
			// pop3s issues UTF8 and gets the stored bytes; pop3 does
			// not, and gets UTF-8 headers downgraded.
			want := stored
			if mode == "pop3" {
				cmd.Env = append(cmd.Env, "POP_DELETE=1")
				want = pop3Downgraded(t, stored)
			} else {
				cmd.Env = append(cmd.Env, "POP_UTF8=1")
			}
			res, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("poplib: %v\n%s", err, res)
			}
			for i, want := range want {
				got, err := os.ReadFile(filepath.Join(out, fmt.Sprintf("%03d", i+1)))
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(got, []byte(want)) {
					t.Fatalf("message %d: got %d octets, want %d (first difference at %d)", i+1, len(got), len(want), firstDiff(got, []byte(want)))
				}
			}
			uids, _ := os.ReadFile(filepath.Join(out, "uidl"))
			if firstUIDs == "" {
				firstUIDs = string(uids)
			} else if string(uids) != firstUIDs {
				t.Fatal("UIDL changed between sessions")
			}
			if mode == "pop3" && !strings.Contains(string(res), fmt.Sprintf("%d messages removed", n)) {
				t.Fatalf("QUIT after deleting all: %s", res)
			}
		})
	}
	// Deleted with the default action: moved to Trash, so the next
	// session is empty.
	c := dialPOP3(t, s.Addr("pop3s"), s.TLSConfig())
	c.cmd("USER " + popUser)
	if r := c.cmd("PASS " + popPassword); r != "+OK Logged in, 0 messages (0 octets)" {
		t.Fatalf("after deleting: %q", r)
	}
	// Serving the Trash folder shows them again, with the same ids.
	c.cmd("QUIT")
	s.Pochta(t, "user", "set", popUser, "--pop3-folders=Trash")
	c = dialPOP3(t, s.Addr("pop3s"), s.TLSConfig())
	c.cmd("USER " + popUser)
	if r := c.cmd("PASS " + popPassword); !strings.HasPrefix(r, fmt.Sprintf("+OK Logged in, %d messages", n)) {
		t.Fatalf("Trash over POP3: %q", r)
	}
	c.cmd("UIDL")
	var ids []string
	for _, l := range strings.Split(strings.TrimSpace(c.multi()), "\r\n") {
		ids = append(ids, strings.Fields(l)[1])
	}
	if strings.Join(ids, " ") != firstUIDs {
		t.Fatal("unique ids changed when the messages moved to Trash")
	}
}

// firstDiff returns the index of the first differing byte.
func firstDiff(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

// TestPOP3Curl fetches messages with curl over pop3s:// and over pop3://
// with STLS, and lists the mailbox.
func TestPOP3Curl(t *testing.T) {
	t.Parallel()
	curl, err := exec.LookPath("curl")
	if err != nil {
		t.Skip("curl not installed (Debian package curl)")
	}
	s := StartServer(t, "")
	s.AddUser(t, popUser, popPassword)
	all := mixedMailbox(8)
	// curl does not issue UTF8: UTF-8 headers come downgraded.
	stored := pop3Downgraded(t, deliverPOP3Mail(t, s, popUser, all))
	run := func(url string, extra ...string) []byte {
		t.Helper()
		args := append([]string{"-sS", "--max-time", "60", "--cacert", s.certFile(), "--user", popUser + ":" + popPassword,
			"--connect-to", "mail.example.org:" + port(t, s.Addr("pop3s")) + ":" + s.Addr("pop3s")}, extra...)
		out, err := exec.Command(curl, append(args, url)...).Output()
		if err != nil {
			var stderr []byte
			if ee, ok := err.(*exec.ExitError); ok {
				stderr = ee.Stderr
			}
			t.Fatalf("curl %s: %v\n%s", url, err, stderr)
		}
		return out
	}
	for _, n := range []int{1, 2, 3, 7} { // dots, UTF-8, attachment, 5 MB
		got := run(fmt.Sprintf("pop3s://mail.example.org:%s/%d", port(t, s.Addr("pop3s")), n))
		if !bytes.Equal(got, []byte(stored[n-1])) {
			t.Fatalf("pop3s message %d: got %d octets, want %d (first difference at %d)", n, len(got), len(stored[n-1]), firstDiff(got, []byte(stored[n-1])))
		}
	}
	// pop3:// with STLS required.
	url := fmt.Sprintf("pop3://mail.example.org:%s/2", port(t, s.Addr("pop3")))
	got := run(url, "--ssl-reqd", "--connect-to", "mail.example.org:"+port(t, s.Addr("pop3"))+":"+s.Addr("pop3"))
	if !bytes.Equal(got, []byte(stored[1])) {
		t.Fatalf("pop3+STLS message 2 differs")
	}
	list := run(fmt.Sprintf("pop3s://mail.example.org:%s/", port(t, s.Addr("pop3s"))))
	var want strings.Builder
	for i, m := range stored {
		fmt.Fprintf(&want, "%d %d\r\n", i+1, len(m))
	}
	if string(list) != want.String() {
		t.Fatalf("LIST via curl = %q, want %q", list, want.String())
	}
}

// port returns the port of a host:port address.
func port(t *testing.T, addr string) string {
	t.Helper()
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := strconv.Atoi(p); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestPOP3Fetchmail downloads the 80-message mailbox with fetchmail over
// port 995 and compares each message (fetchmail hands them to its MDA
// with LF line endings; headers and bodies must be unchanged).
func TestPOP3Fetchmail(t *testing.T) {
	t.Parallel()
	fm, err := exec.LookPath("fetchmail")
	if err != nil {
		t.Skip("fetchmail not installed (Debian package fetchmail)")
	}
	s := StartServer(t, "")
	s.AddUser(t, popUser, popPassword)
	// fetchmail does not issue UTF8: UTF-8 headers come downgraded. 80
	// messages hold every kind mixedMailbox makes, as for getmail.
	const n = 80
	stored := pop3Downgraded(t, deliverPOP3Mail(t, s, popUser, mixedMailbox(n)))
	dir := t.TempDir()
	out := filepath.Join(dir, "out")
	if err := os.Mkdir(out, 0o700); err != nil {
		t.Fatal(err)
	}
	mda := filepath.Join(dir, "mda.sh")
	if err := os.WriteFile(mda, []byte("#!/bin/sh\nn=$(ls \"$1\" | wc -l)\nexec cat > \"$1/$(printf %03d $((n+1)))\"\n"), 0o700); err != nil {
		t.Fatal(err)
	}
	rc := filepath.Join(dir, "fetchmailrc")
	host, p, _ := net.SplitHostPort(s.Addr("pop3s"))
	conf := fmt.Sprintf("set no syslog\npoll %s service %s protocol pop3 uidl\n  user %q password %q\n  ssl sslcertck sslcertfile %q sslcommonname mail.example.org\n  keep no rewrite mda %q\n",
		host, p, popUser, popPassword, s.certFile(), mda+" "+out)
	if err := os.WriteFile(rc, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(fm, "-f", rc, "--invisible", "--nodetach", "-i", filepath.Join(dir, "ids"))
	cmd.Env = append(os.Environ(), "HOME="+dir, "FETCHMAILHOME="+dir)
	res, err := runWithTimeout(cmd, 6*time.Minute)
	if err != nil {
		t.Fatalf("fetchmail: %v\n%s", err, res)
	}
	for i, want := range stored {
		got, err := os.ReadFile(filepath.Join(out, fmt.Sprintf("%03d", i+1)))
		if err != nil {
			t.Fatalf("message %d not delivered: %v\n%s", i+1, err, res)
		}
		w := strings.ReplaceAll(want, "\r\n", "\n")
		if string(got) != w {
			t.Fatalf("message %d: got %d octets, want %d (first difference at %d)", i+1, len(got), len(w), firstDiff(got, []byte(w)))
		}
	}
	// A second run with the same id file fetches nothing new.
	res, err = runWithTimeout(exec.Command(fm, "-f", rc, "--invisible", "--nodetach", "-i", filepath.Join(dir, "ids")), time.Minute)
	// fetchmail exits with 1 when there was no new mail.
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 {
		t.Fatalf("second fetchmail run: %v (want exit status 1, no mail)\n%s", err, res)
	}
	if entries, _ := os.ReadDir(out); len(entries) != n {
		t.Fatalf("%d messages after the second run, want %d", len(entries), n)
	}
}

// runWithTimeout runs a command, killing it after d.
func runWithTimeout(cmd *exec.Cmd, d time.Duration) ([]byte, error) {
	var buf bytes.Buffer
	cmd.Stdout, cmd.Stderr = &buf, &buf
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		return buf.Bytes(), err
	case <-time.After(d):
		cmd.Process.Kill()
		<-done
		return buf.Bytes(), fmt.Errorf("timed out after %v", d)
	}
}
