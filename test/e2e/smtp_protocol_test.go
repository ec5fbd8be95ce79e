package e2e

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestSMTPPipelining(t *testing.T) {
	t.Parallel()
	s := policyServer(t, "")
	c := dialSMTP(t, s.Addr("smtp"))
	c.expect("EHLO mx.sender.example", "250")
	// Two transactions, each sent in one write, as a pipelining client
	// does (RFC 2920): MAIL, RCPTs and DATA together, then the body.
	for i, rcpts := range [][]string{{"anna@example.org", "nobody@example.org", "boris@example.org"}, {"boris@example.org"}} {
		batch := "MAIL FROM:<x@sender.example>\r\n"
		for _, r := range rcpts {
			batch += "RCPT TO:<" + r + ">\r\n"
		}
		batch += "DATA\r\n"
		c.write(batch)
		if r := c.read(); r.Code != 250 {
			t.Fatalf("MAIL: %v", r)
		}
		for _, rc := range rcpts {
			r := c.read()
			want := 250
			if strings.HasPrefix(rc, "nobody") {
				want = 550
			}
			if r.Code != want {
				t.Fatalf("RCPT %s: %v", rc, r)
			}
		}
		if r := c.read(); r.Code != 354 {
			t.Fatalf("DATA: %v", r)
		}
		c.write(dotStuff(simpleMessage("x@sender.example", "you", fmt.Sprintf("pipelined-%d", i), ".leading dot\r\nbody")) + ".\r\n")
		if r := c.read(); r.Code != 250 {
			t.Fatalf("end of data: %v", r)
		}
	}
	// RSET, NOOP and QUIT pipelined too.
	c.write("RSET\r\nNOOP\r\nQUIT\r\n")
	for _, want := range []int{250, 250, 221} {
		if r := c.read(); r.Code != want {
			t.Fatalf("got %v, want %d", r, want)
		}
	}
	anna, boris := inbox(t, s, "anna@example.org"), inbox(t, s, "boris@example.org")
	if len(anna) != 1 || len(boris) != 2 {
		t.Fatalf("anna has %d, boris %d messages; want 1 and 2", len(anna), len(boris))
	}
	if !strings.Contains(boris[1], "pipelined-1") || !strings.Contains(boris[0], "\r\n.leading dot\r\n") {
		t.Fatalf("stored messages wrong:\n%s\n%s", boris[0], boris[1])
	}
}

func TestSMTPBDAT(t *testing.T) {
	t.Parallel()
	s := policyServer(t, "")
	c := dialSMTP(t, s.Addr("smtp"))
	c.expect("EHLO mx.sender.example", "250")
	c.expect("MAIL FROM:<x@sender.example>", "250")
	c.expect("RCPT TO:<anna@example.org>", "250")
	c.expect("RCPT TO:<boris@example.org>", "250")
	// Chunks cut anywhere; a line starting with a dot and a lone dot line
	// are data in BDAT (no stuffing).
	msg := "Subject: chunked\r\n\r\n.not stuffed\r\n.\r\nend\r\n"
	chunks := []string{msg[:7], msg[7:25], msg[25:]}
	for i, ch := range chunks {
		last := ""
		if i == len(chunks)-1 {
			last = " LAST"
		}
		c.write(fmt.Sprintf("BDAT %d%s\r\n%s", len(ch), last, ch))
		if r := c.read(); r.Code != 250 {
			t.Fatalf("BDAT chunk %d: %v", i, r)
		}
	}
	// BDAT over the size limit.
	c.expect("MAIL FROM:<x@sender.example>", "250")
	c.expect("RCPT TO:<anna@example.org>", "250")
	big := strings.Repeat("x", 6000)
	c.write("BDAT 6000\r\n" + big)
	if r := c.read(); r.Code != 250 {
		t.Fatalf("first big chunk: %v", r)
	}
	c.write("BDAT 6000 LAST\r\n" + big)
	if r := c.read(); r.Code != 552 {
		t.Fatalf("chunks over the limit: %v", r)
	}
	c.expect("NOOP", "250")
	for _, who := range []string{"anna@example.org", "boris@example.org"} {
		got := inbox(t, s, who)
		if len(got) != 1 || !strings.HasSuffix(got[0], "\r\n\r\n"+msg[strings.Index(msg, "\r\n\r\n")+4:]) {
			t.Fatalf("%s: %q", who, got)
		}
	}
}

func TestSMTPUTF8(t *testing.T) {
	t.Parallel()
	s := policyServer(t, "")
	s.AddUser(t, "пользователь@example.org", "utf8-secret-1")
	c := dialSMTP(t, s.Addr("smtp"))
	c.expect("EHLO mx.sender.example", "250")
	// A UTF-8 address needs SMTPUTF8.
	c.expect("MAIL FROM:<отправитель@sender.example>", "553 5.6.7")
	c.expect("MAIL FROM:<отправитель@sender.example> SMTPUTF8 BODY=8BITMIME", "250")
	c.expect("RCPT TO:<Пользователь@example.org>", "250")
	body := "From: Отправитель <отправитель@sender.example>\r\nSubject: Привет, мир\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\nТекст письма: ёжик — 8 бит.\r\n"
	if r := c.sendData(body); r.Code != 250 {
		t.Fatalf("DATA: %v", r)
	}
	// 8-bit body to an ASCII address without SMTPUTF8.
	c.expect("MAIL FROM:<x@sender.example> BODY=8BITMIME", "250")
	c.expect("RCPT TO:<anna@example.org>", "250")
	if r := c.sendData("Subject: 8bit\r\n\r\nÜberraschung\r\n"); r.Code != 250 {
		t.Fatalf("8bit DATA: %v", r)
	}
	got := inbox(t, s, "пользователь@example.org")
	if len(got) != 1 || !strings.HasSuffix(got[0], body) || !strings.Contains(got[0], "Delivered-To: пользователь@example.org\r\n") || !strings.Contains(got[0], "with UTF8SMTP id") {
		t.Fatalf("UTF-8 message: %q", got)
	}
	if a := inbox(t, s, "anna@example.org"); len(a) != 1 || !strings.HasSuffix(a[0], "\r\n\r\nÜberraschung\r\n") {
		t.Fatalf("8-bit message: %q", a)
	}
}

// TestSMTPSmuggling: only CRLF.CRLF ends DATA; <LF>.<CRLF> and <CR>.<CR>
// variants are data, so a second message cannot be smuggled in.
func TestSMTPSmuggling(t *testing.T) {
	t.Parallel()
	s := policyServer(t, "")
	c := dialSMTP(t, s.Addr("smtp"))
	c.expect("EHLO mx.sender.example", "250")
	c.expect("MAIL FROM:<x@sender.example>", "250")
	c.expect("RCPT TO:<anna@example.org>", "250")
	c.expect("DATA", "354")
	c.write("Subject: outer\r\n\r\nhello\n.\r\nMAIL FROM:<ceo@example.org>\r\nRCPT TO:<boris@example.org>\r\nDATA\r\nSubject: smuggled\r\n\r\nsmuggled\r\n" +
		"also\r\n.\r\nNOOP\r\n")
	// Wait: the first reply must be for the real end (the second
	// CRLF.CRLF), and then NOOP.
	if r := c.read(); r.Code != 250 || !strings.Contains(r.Text(), "queued") {
		t.Fatalf("end of data: %v", r)
	}
	c.expect("NOOP", "250")
	if b := inbox(t, s, "boris@example.org"); len(b) != 0 {
		t.Fatalf("smuggled message delivered to boris: %q", b)
	}
	a := inbox(t, s, "anna@example.org")
	if len(a) != 1 || !strings.Contains(a[0], "RCPT TO:<boris@example.org>") {
		t.Fatalf("anna's message: %q", a)
	}
	// The bare LF was normalised on storing.
	if strings.Contains(strings.ReplaceAll(a[0], "\r\n", ""), "\n") {
		t.Fatalf("bare LF stored: %q", a[0])
	}
}

func TestSMTPTLS(t *testing.T) {
	t.Parallel()
	s := policyServer(t, "")
	t.Run("implicit TLS on submissions", func(t *testing.T) {
		c := dialSMTPS(t, s.Addr("submissions"), s.TLSConfig())
		r := c.expect("EHLO client.test", "250")
		if _, ok := ehloHas(r, "STARTTLS"); ok {
			t.Error("STARTTLS offered inside TLS")
		}
		if _, ok := ehloHas(r, "AUTH"); !ok {
			t.Error("AUTH not offered on 465")
		}
		c.expect("MAIL FROM:<anna@example.org>", "530 5.7.0")
		if r := c.authPlain("anna@example.org", annaPass); r.Code != 235 {
			t.Fatalf("AUTH: %v", r)
		}
		c.expect("MAIL FROM:<anna@example.org>", "250")
		c.expect("RCPT TO:<boris@example.org>", "250")
		if r := c.sendData(simpleMessage("anna@example.org", "boris@example.org", "via-465", "x")); r.Code != 250 {
			t.Fatalf("DATA: %v", r)
		}
		got := inbox(t, s, "boris@example.org")
		if len(got) != 1 || !strings.Contains(got[0], "with ESMTPSA id") {
			t.Fatalf("boris: %q", got)
		}
	})
	t.Run("a client that does not trust the certificate fails", func(t *testing.T) {
		cfg := &tls.Config{RootCAs: x509.NewCertPool(), ServerName: "mail.example.org"}
		if c, err := tls.Dial("tcp", s.Addr("submissions"), cfg); err == nil {
			c.Close()
			t.Fatal("handshake succeeded without trusting the certificate")
		}
		wrongName := s.TLSConfig()
		wrongName.ServerName = "other.example"
		c := dialSMTP(t, s.Addr("submission"))
		c.expect("EHLO client.test", "250")
		c.expect("STARTTLS", "220")
		if err := tls.Client(c.conn, wrongName).Handshake(); err == nil {
			t.Fatal("STARTTLS handshake succeeded with the wrong name")
		}
	})
	t.Run("STARTTLS on submission and MX", func(t *testing.T) {
		for _, l := range []string{"submission", "smtp"} {
			c := dialSMTP(t, s.Addr(l))
			r := c.expect("EHLO client.test", "250")
			if _, ok := ehloHas(r, "AUTH"); ok {
				t.Errorf("%s: AUTH before TLS", l)
			}
			c.starttls(s.TLSConfig())
			r = c.expect("EHLO client.test", "250")
			if _, ok := ehloHas(r, "AUTH"); !ok {
				t.Errorf("%s: no AUTH after TLS", l)
			}
			if st := c.conn.(*tls.Conn).ConnectionState(); st.Version < tls.VersionTLS12 {
				t.Errorf("%s: TLS version %x", l, st.Version)
			}
		}
	})
}

// TestSMTPConcurrentSubmissions sends 100 messages at once, each on its
// own connection: 20 over submission with STARTTLS and AUTH (logins are
// slow by design, argon2id), 80 over MX. Every one must be stored exactly
// once.
func TestSMTPConcurrentSubmissions(t *testing.T) {
	t.Parallel()
	s := policyServer(t, "[limits]\nmax_connections_per_ip = 200\n")
	const n, viaSubmission = 100, 20
	var wg sync.WaitGroup
	errs := make(chan string, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			msg := fmt.Sprintf("From: anna@example.org\r\nTo: boris@example.org\r\nSubject: concurrent\r\nMessage-ID: <c-%d@test>\r\n\r\nmessage number %d\r\n%s", i, i, strings.Repeat("filler line\r\n", 500))
			if r := submitNoFatal(s, i < viaSubmission, "anna@example.org", annaPass, msg); r != "" {
				errs <- fmt.Sprintf("message %d: %s", i, r)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	got := inbox(t, s, "boris@example.org")
	seen := map[string]bool{}
	for _, m := range got {
		i := strings.Index(m, "Message-ID: <c-")
		if i < 0 {
			t.Fatalf("message without id: %q", m)
		}
		id := m[i : i+strings.Index(m[i:], ">")]
		if seen[id] {
			t.Errorf("duplicate %s", id)
		}
		seen[id] = true
	}
	if len(got) != n || len(seen) != n {
		t.Fatalf("boris has %d messages (%d distinct), want %d", len(got), len(seen), n)
	}
}

// submitNoFatal sends one message from a goroutine, over submission or
// MX; it returns "" or what went wrong.
func submitNoFatal(s *Server, submission bool, user, pass, msg string) (problem string) {
	ft := &goroutineTB{}
	defer func() {
		if r := recover(); r != nil {
			problem = fmt.Sprint(r)
		}
		ft.runCleanups()
	}()
	var r smtpReply
	if submission {
		r = submit(ft, s, user, pass, user, []string{"boris@example.org"}, msg)
	} else {
		c := dialSMTP(ft, s.Addr("smtp"))
		c.expect("EHLO mx.sender.example", "250")
		r = c.send("x@sender.example", []string{"boris@example.org"}, msg)
	}
	if r.Code != 250 {
		return r.String()
	}
	return ""
}

// goroutineTB is a testing.TB for helpers used off the test goroutine:
// Fatal panics (recovered by submitNoFatal).
type goroutineTB struct {
	testing.TB
	failed   string
	mu       sync.Mutex
	cleanups []func()
}

func (g *goroutineTB) Helper() {}
func (g *goroutineTB) Fatal(args ...any) {
	g.failed = fmt.Sprint(args...)
	g.runCleanups()
	panic(g.failed)
}
func (g *goroutineTB) Fatalf(f string, args ...any) { g.Fatal(fmt.Sprintf(f, args...)) }
func (g *goroutineTB) Cleanup(f func()) {
	g.mu.Lock()
	g.cleanups = append(g.cleanups, f)
	g.mu.Unlock()
}
func (g *goroutineTB) runCleanups() {
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, f := range g.cleanups {
		f()
	}
	g.cleanups = nil
}

func TestSMTPShutdown421(t *testing.T) {
	t.Parallel()
	s := policyServer(t, "")
	c := dialSMTP(t, s.Addr("smtp"))
	c.expect("EHLO mx.sender.example", "250")
	done := make(chan smtpReply, 1)
	go func() {
		ft := &goroutineTB{}
		defer func() { recover() }()
		cl := &smtpClient{t: ft, conn: c.conn, r: c.r}
		done <- cl.read()
	}()
	time.Sleep(100 * time.Millisecond)
	s.Stop(t)
	select {
	case r := <-done:
		if r.Code != 421 {
			t.Fatalf("on shutdown: %v", r)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("no 421 on shutdown")
	}
}

func TestSMTPRealClients(t *testing.T) {
	t.Parallel()
	s := policyServer(t, "")
	ca := filepath.Join(s.Dir, "data", "tls", "selfsigned.crt")
	t.Run("python smtplib", func(t *testing.T) {
		py, err := exec.LookPath("python3")
		if err != nil {
			t.Skip("python3 not installed (Debian: python3)")
		}
		script := `
import smtplib, socket, ssl, sys
from email.message import EmailMessage
ip, port587, port465, ca = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
ctx = ssl.create_default_context(cafile=ca)  # verifies the chain and the name

class Plain(smtplib.SMTP):
    # Connect to the test address, but use the server's name for TLS.
    def _get_socket(self, host, port, timeout):
        return socket.create_connection((ip, port), timeout)

class Implicit(smtplib.SMTP_SSL):
    def _get_socket(self, host, port, timeout):
        return self.context.wrap_socket(socket.create_connection((ip, port), timeout), server_hostname=host)

msg = EmailMessage()
msg["From"] = "Анна <anna@example.org>"
msg["To"] = "boris@example.org"
msg["Subject"] = "из python"
msg.set_content("Привет из smtplib\n")
with Plain("mail.example.org", port587, local_hostname="py.client") as s:
    s.starttls(context=ctx)
    s.login("anna@example.org", "` + annaPass + `")
    s.send_message(msg)
with Implicit("mail.example.org", port465, local_hostname="py.client", context=ctx) as s:
    s.login("anna@example.org", "` + annaPass + `")
    msg.replace_header("Subject", "из python 465")
    s.send_message(msg)
try:
    with Plain("mail.example.org", port587) as s:
        s.starttls(context=ctx)
        s.login("anna@example.org", "wrong")
    print("LOGIN-ACCEPTED")
except smtplib.SMTPAuthenticationError as e:
    print("AUTH-FAILED", e.smtp_code)
`
		host, p587, _ := net.SplitHostPort(s.Addr("submission"))
		_, p465, _ := net.SplitHostPort(s.Addr("submissions"))
		out, err := exec.Command(py, "-c", script, host, p587, p465, ca).CombinedOutput()
		if err != nil {
			t.Fatalf("python: %v\n%s", err, out)
		}
		if !strings.Contains(string(out), "AUTH-FAILED 535") {
			t.Fatalf("python output %q", out)
		}
		got := inbox(t, s, "boris@example.org")
		if len(got) != 2 || !strings.Contains(got[0], "Subject: =?utf-8?") || !strings.Contains(got[1], "with ESMTPSA") {
			t.Fatalf("boris: %q", got)
		}
	})
	t.Run("swaks", func(t *testing.T) {
		sw, err := exec.LookPath("swaks")
		if err != nil {
			t.Skip("swaks not installed (Debian: swaks)")
		}
		before := len(inbox(t, s, "anna@example.org"))
		run := func(args ...string) string {
			out, _ := exec.Command(sw, args...).CombinedOutput()
			return string(out)
		}
		// MX, plain.
		out := run("--server", s.Addr("smtp"), "--from", "x@sender.example", "--to", "anna@example.org", "--helo", "swaks.test", "--header", "Subject: swaks-mx")
		if !strings.Contains(out, "250 2.0.0 Ok: queued as") {
			t.Fatalf("swaks MX:\n%s", out)
		}
		// Submission with STARTTLS and AUTH LOGIN, certificate verified.
		out = run("--server", s.Addr("submission"), "--tls", "--tls-verify", "--tls-ca-path", ca, "--tls-sni", "mail.example.org",
			"--auth", "LOGIN", "--auth-user", "boris@example.org", "--auth-password", borisPass,
			"--from", "boris@example.org", "--to", "anna@example.org", "--header", "Subject: swaks-587")
		if !strings.Contains(out, "250 2.0.0 Ok: queued as") {
			t.Fatalf("swaks 587:\n%s", out)
		}
		// Relay refused.
		out = run("--server", s.Addr("smtp"), "--from", "x@sender.example", "--to", "someone@elsewhere.example")
		if !strings.Contains(out, "554 5.7.1 Relay access denied") {
			t.Fatalf("swaks relay:\n%s", out)
		}
		if got := inbox(t, s, "anna@example.org"); len(got) != before+2 {
			t.Fatalf("anna has %d new messages, want 2", len(got)-before)
		}
	})
}
