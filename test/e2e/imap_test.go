package e2e

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/smtp"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// imapConn is a raw IMAP client for end-to-end dialogues.
type imapConn struct {
	t    testing.TB
	conn net.Conn
	br   *bufio.Reader
	n    int
}

func dialIMAPS(t testing.TB, s *Server) *imapConn {
	t.Helper()
	c, err := tls.Dial("tcp", s.Addr("imaps"), s.TLSConfig())
	if err != nil {
		t.Fatalf("dial imaps: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	ic := &imapConn{t: t, conn: c, br: bufio.NewReader(c)}
	if g := ic.line(); !strings.HasPrefix(g, "* OK [CAPABILITY ") {
		t.Fatalf("greeting %q", g)
	}
	return ic
}

var imapLiteralRE = regexp.MustCompile(`~?\{(\d+)\}$`)

func (c *imapConn) line() string {
	c.t.Helper()
	c.conn.SetReadDeadline(time.Now().Add(15 * time.Second))
	var b strings.Builder
	for {
		l, err := c.br.ReadString('\n')
		if err != nil {
			c.t.Fatalf("imap read: %v (so far %q)", err, b.String()+l)
		}
		l = strings.TrimSuffix(l, "\r\n")
		b.WriteString(l)
		m := imapLiteralRE.FindStringSubmatch(l)
		if m == nil {
			return b.String()
		}
		n, _ := strconv.Atoi(m[1])
		buf := make([]byte, n)
		if _, err := io.ReadFull(c.br, buf); err != nil {
			c.t.Fatal(err)
		}
		b.WriteString("\r\n")
		b.Write(buf)
	}
}

func (c *imapConn) write(s string) {
	c.t.Helper()
	if _, err := io.WriteString(c.conn, s); err != nil {
		c.t.Fatal(err)
	}
}

// ok sends a command, requires a tagged OK and returns the untagged lines.
func (c *imapConn) ok(cmd string) []string {
	c.t.Helper()
	c.n++
	tag := fmt.Sprintf("e%d", c.n)
	c.write(tag + " " + cmd + "\r\n")
	var untagged []string
	for {
		l := c.line()
		if strings.HasPrefix(l, tag+" ") {
			if !strings.HasPrefix(l, tag+" OK") {
				c.t.Fatalf("%s: %s (untagged %q)", cmd, l, untagged)
			}
			return untagged
		}
		untagged = append(untagged, l)
	}
}

// TestIMAPPythonImaplib drives the real server with python3's imaplib over
// IMAPS and over STARTTLS.
func TestIMAPPythonImaplib(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("python3"); err != nil {
		t.Skip("python3 not installed")
	}
	s := StartServer(t, "")
	s.AddUser(t, "anna@example.org", "anna-secret-1")
	host, port993, _ := net.SplitHostPort(s.Addr("imaps"))
	_, port143, _ := net.SplitHostPort(s.Addr("imap"))
	ca := filepath.Join(s.Dir, "data", "tls", "selfsigned.crt")
	script := `
import imaplib, ssl, sys
host, p993, p143, ca = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
ctx = ssl.create_default_context(cafile=ca)
ctx.check_hostname = False
def check(r):
    typ, data = r
    if typ != 'OK':
        print('FAIL', typ, data); sys.exit(1)
    return data

# Plain connection: login refused before STARTTLS.
m = imaplib.IMAP4(host, p143)
print('PRECAPS', ' '.join(m.capabilities))
try:
    m.login('anna@example.org', 'anna-secret-1')
    print('LOGIN-WITHOUT-TLS-ACCEPTED')
except imaplib.IMAP4.error as e:
    print('PLAINLOGIN', e)
m.starttls(ssl_context=ctx)
check(m.login('anna@example.org', 'anna-secret-1'))
m.logout()

m = imaplib.IMAP4_SSL(host, p993, ssl_context=ctx)
check(m.login('anna', 'anna-secret-1'))
for l in check(m.list()):
    print('LIST', l.decode())
check(m.create('&BB8EQAQ+BDUEOgRCBEs-'))
msg = b'From: Boris <boris@example.org>\r\nTo: anna@example.org\r\nSubject: python test\r\n\r\nHello from imaplib\r\n'
check(m.append('INBOX', '(\\Flagged)', imaplib.Time2Internaldate(1700000000), msg))
check(m.append('INBOX', None, None, b'Subject: second\r\n\r\nanother body\r\n'))
typ, data = m.select('INBOX')
print('SELECT', typ, data)
print('SEARCH', check(m.search(None, 'FROM', 'boris'))[0].decode())
print('TEXT', check(m.search(None, 'BODY', 'another'))[0].decode())
for part in check(m.fetch('1', '(FLAGS BODY.PEEK[HEADER.FIELDS (SUBJECT)] RFC822.SIZE)')):
    print('FETCH', part)
print('UIDFETCH', check(m.uid('FETCH', '1:*', '(UID FLAGS)')))
body = check(m.fetch('2', '(BODY[TEXT])'))[0][1]
print('BODY', body)
print('STORE', check(m.store('1', '+FLAGS', '\\Deleted')))
print('COPY', check(m.copy('2', 'Archive')))
print('EXPUNGE', check(m.expunge()))
print('STATUS', check(m.status('Archive', '(MESSAGES UIDNEXT)')))
print('LISTUTF7', check(m.list('""', '&BB8EQAQ+BDUEOgRCBEs-')))
check(m.close())
m.logout()
print('DONE')
`
	out, err := exec.Command("python3", "-c", script, host, port993, port143, ca).CombinedOutput()
	if err != nil {
		t.Fatalf("imaplib: %v\n%s\nserver log:\n%s", err, out, s.Logs())
	}
	o := string(out)
	for _, want := range []string{
		"LOGINDISABLED", "PLAINLOGIN", "PRIVACYREQUIRED",
		`LIST (\HasNoChildren) "/" "INBOX"`, `\Sent) "/" "Sent"`,
		"SELECT OK [b'2']", "SEARCH 1", "TEXT 2",
		"BODY[HEADER.FIELDS (SUBJECT)] {24}", "Subject: python test", `\\Flagged`,
		"BODY b'another body\\r\\n'", "EXPUNGE [b'1']", "[COPYUID ", "STATUS [b'\"Archive\" (MESSAGES 1 UIDNEXT 2)']",
		`"&BB8EQAQ+BDUEOgRCBEs-"`, "DONE",
	} {
		if !strings.Contains(o, want) {
			t.Errorf("imaplib output lacks %q:\n%s", want, o)
		}
	}
	if strings.Contains(o, "LOGIN-WITHOUT-TLS-ACCEPTED") {
		t.Errorf("password accepted without TLS:\n%s", o)
	}
}

// TestIMAPIdleWakesOnSMTPDelivery checks that a message arriving by SMTP
// reaches an IDLE session at once, and that a second session sees flag
// changes and expunges of the first.
func TestIMAPIdleWakesOnSMTPDelivery(t *testing.T) {
	t.Parallel()
	s := StartServer(t, "")
	s.AddUser(t, "anna@example.org", "anna-secret-1")
	a := dialIMAPS(t, s)
	a.ok(`LOGIN anna@example.org anna-secret-1`)
	mustContain(t, a.ok("SELECT INBOX"), "* 0 EXISTS")
	a.write("i IDLE\r\n")
	if l := a.line(); !strings.HasPrefix(l, "+ ") {
		t.Fatalf("IDLE: %q", l)
	}
	msg := "From: boris@example.net\r\nTo: anna@example.org\r\nSubject: hello\r\nMessage-ID: <idle-1@example.net>\r\nDate: Mon, 01 Jan 2024 10:00:00 +0000\r\n\r\nhi\r\n"
	if err := sendSMTP(s, "boris@example.net", "anna@example.org", msg); err != nil {
		t.Fatalf("SMTP delivery: %v\n%s", err, s.Logs())
	}
	if l := a.line(); l != "* 1 EXISTS" {
		t.Fatalf("IDLE after delivery: %q, want * 1 EXISTS", l)
	}
	if l := a.line(); l != "* 1 RECENT" {
		t.Fatalf("IDLE after delivery: %q, want * 1 RECENT (a is the first to see it)", l)
	}
	a.write("DONE\r\n")
	if l := a.line(); !strings.HasPrefix(l, "i OK") {
		t.Fatalf("DONE: %q", l)
	}
	b := dialIMAPS(t, s)
	b.ok(`LOGIN anna@example.org anna-secret-1`)
	b.ok("SELECT INBOX")
	b.ok(`STORE 1 +FLAGS (\Seen \Deleted)`)
	mustContain(t, a.ok("NOOP"), `* 1 FETCH (UID 1 FLAGS (\Deleted \Seen \Recent))`)
	b.ok("EXPUNGE")
	mustContain(t, a.ok("NOOP"), "* 1 EXPUNGE")
}

// TestIMAPShutdownSaysBye checks that stopping the server ends sessions
// with BYE.
func TestIMAPShutdownSaysBye(t *testing.T) {
	t.Parallel()
	s := StartServer(t, "")
	c := dialIMAPS(t, s)
	c.ok("NOOP")
	s.Stop(t)
	if l := c.line(); !strings.HasPrefix(l, "* BYE") {
		t.Fatalf("on shutdown: %q", l)
	}
}

func mustContain(t testing.TB, lines []string, want string) {
	t.Helper()
	for _, l := range lines {
		if strings.Contains(l, want) {
			return
		}
	}
	t.Fatalf("no line contains %q: %q", want, lines)
}

// sendSMTP delivers a message to the server's MX listener over STARTTLS.
func sendSMTP(s *Server, from, to, msg string) error {
	c, err := smtp.Dial(s.Addr("smtp"))
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.StartTLS(s.TLSConfig()); err != nil {
		return fmt.Errorf("starttls: %w", err)
	}
	if err := c.Mail(from); err != nil {
		return fmt.Errorf("mail: %w", err)
	}
	if err := c.Rcpt(to); err != nil {
		return fmt.Errorf("rcpt: %w", err)
	}
	w, err := c.Data()
	if err != nil {
		return fmt.Errorf("data: %w", err)
	}
	if _, err := io.WriteString(w, msg); err != nil {
		return err
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("end of data: %w", err)
	}
	return c.Quit()
}
