package e2e

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pochta-mail/pochta/internal/store"
	"github.com/pochta-mail/pochta/internal/store/sqlite"
)

// smtpClient is a raw SMTP client: it sends exactly the bytes a test
// wants (pipelining, BDAT, bare LF) and reads replies.
type smtpClient struct {
	t    testing.TB
	conn net.Conn
	r    *bufio.Reader
}

// smtpReply is one (possibly multi-line) reply.
type smtpReply struct {
	Code  int
	Lines []string // text after "NNN-" / "NNN "
}

// Text joins the reply's lines.
func (r smtpReply) Text() string { return strings.Join(r.Lines, "\n") }

func (r smtpReply) String() string { return fmt.Sprintf("%d %s", r.Code, r.Text()) }

// dialSMTP connects and reads the greeting, which must be 220.
func dialSMTP(t testing.TB, addr string) *smtpClient {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	cl := &smtpClient{t: t, conn: c, r: bufio.NewReader(c)}
	t.Cleanup(func() { c.Close() })
	if g := cl.read(); g.Code != 220 {
		t.Fatalf("greeting %v", g)
	}
	return cl
}

// dialSMTPS connects with implicit TLS, verifying the server certificate.
func dialSMTPS(t testing.TB, addr string, cfg *tls.Config) *smtpClient {
	t.Helper()
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: 10 * time.Second}, "tcp", addr, cfg)
	if err != nil {
		t.Fatal(err)
	}
	cl := &smtpClient{t: t, conn: c, r: bufio.NewReader(c)}
	t.Cleanup(func() { c.Close() })
	if g := cl.read(); g.Code != 220 {
		t.Fatalf("greeting %v", g)
	}
	return cl
}

// write sends raw bytes.
func (c *smtpClient) write(s string) {
	c.t.Helper()
	c.conn.SetWriteDeadline(time.Now().Add(30 * time.Second))
	if _, err := io.WriteString(c.conn, s); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

// read reads one reply.
func (c *smtpClient) read() smtpReply {
	c.t.Helper()
	c.conn.SetReadDeadline(time.Now().Add(60 * time.Second))
	var rep smtpReply
	for {
		line, err := c.r.ReadString('\n')
		if err != nil {
			c.t.Fatalf("read reply: %v (so far %v)", err, rep)
		}
		line = strings.TrimRight(line, "\r\n")
		if len(line) < 4 {
			c.t.Fatalf("short reply line %q", line)
		}
		code, err := strconv.Atoi(line[:3])
		if err != nil {
			c.t.Fatalf("bad reply line %q", line)
		}
		rep.Code = code
		rep.Lines = append(rep.Lines, line[4:])
		if line[3] == ' ' {
			return rep
		}
	}
}

// cmd sends a command line and returns the reply.
func (c *smtpClient) cmd(line string) smtpReply {
	c.t.Helper()
	c.write(line + "\r\n")
	return c.read()
}

// expect sends a command and fails unless the reply starts with want
// (e.g. "250", "550 5.1.1").
func (c *smtpClient) expect(line, want string) smtpReply {
	c.t.Helper()
	r := c.cmd(line)
	if !strings.HasPrefix(r.String(), want) {
		c.t.Fatalf("%s: got %q, want %q…", line, r, want)
	}
	return r
}

// starttls upgrades the connection, verifying the certificate.
func (c *smtpClient) starttls(cfg *tls.Config) {
	c.t.Helper()
	c.expect("STARTTLS", "220")
	tc := tls.Client(c.conn, cfg)
	if err := tc.Handshake(); err != nil {
		c.t.Fatalf("STARTTLS handshake: %v", err)
	}
	c.conn = tc
	c.r = bufio.NewReader(tc)
}

// authPlain logs in with AUTH PLAIN and returns the reply.
func (c *smtpClient) authPlain(user, pass string) smtpReply {
	c.t.Helper()
	return c.cmd("AUTH PLAIN " + base64.StdEncoding.EncodeToString([]byte("\x00"+user+"\x00"+pass)))
}

// sendData sends DATA, the dot-stuffed body (CRLF line endings expected)
// and the terminator, and returns the final reply.
func (c *smtpClient) sendData(body string) smtpReply {
	c.t.Helper()
	c.expect("DATA", "354")
	c.write(dotStuff(body) + ".\r\n")
	return c.read()
}

// dotStuff doubles leading dots and makes sure the body ends with CRLF.
func dotStuff(body string) string {
	if !strings.HasSuffix(body, "\r\n") {
		body += "\r\n"
	}
	lines := strings.SplitAfter(body, "\r\n")
	for i, l := range lines {
		if strings.HasPrefix(l, ".") {
			lines[i] = "." + l
		}
	}
	return strings.Join(lines, "")
}

// ehloHas reports whether an EHLO reply lists an extension (prefix match
// on the keyword, e.g. "AUTH").
func ehloHas(r smtpReply, ext string) (string, bool) {
	for _, l := range r.Lines[1:] {
		if l == ext || strings.HasPrefix(l, ext+" ") {
			return l, true
		}
	}
	return "", false
}

// simpleMessage makes a small message.
func simpleMessage(from, to, subject, body string) string {
	return "From: " + from + "\r\nTo: " + to + "\r\nSubject: " + subject +
		"\r\nMessage-ID: <" + strconv.FormatInt(time.Now().UnixNano(), 36) + "@test>\r\n\r\n" + body + "\r\n"
}

// inbox returns the stored messages (whole bytes) in an account's inbox,
// read through the store beside the running server.
func inbox(t testing.TB, s *Server, addr string) []string {
	t.Helper()
	return folderMessages(t, s, addr, store.RoleInbox)
}

// folderMessages reads the messages of one of an account's folders.
func folderMessages(t testing.TB, s *Server, addr string, role store.Role) []string {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, sqlite.Options{Dir: filepath.Join(s.Dir, "data")})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	acct, err := st.AccountByAddress(ctx, addr)
	if err != nil {
		t.Fatalf("account %s: %v", addr, err)
	}
	f, err := st.FolderByRole(ctx, acct.ID, role)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for m, err := range st.Messages(ctx, f.ID) {
		if err != nil {
			t.Fatal(err)
		}
		b, err := st.OpenBody(ctx, m)
		if err != nil {
			t.Fatal(err)
		}
		data, err := io.ReadAll(b)
		b.Close()
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, string(data))
	}
	return out
}

// queued returns the envelopes (compact JSON text) of the outbound queue:
// read from the SQLite store directly (quick, so a message the engine is
// about to finish is still seen), or with `pochta queue list --json` for
// other stores.
func queued(t testing.TB, s *Server) []string {
	t.Helper()
	var envs []json.RawMessage
	cfg, err := os.ReadFile(s.Config)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(cfg), `backend = "postgres"`) {
		if err := json.Unmarshal([]byte(s.Pochta(t, "queue", "list", "--json")), &envs); err != nil {
			t.Fatalf("queue list --json: %v", err)
		}
	} else {
		ctx := context.Background()
		st, err := sqlite.Open(ctx, sqlite.Options{Dir: filepath.Join(s.Dir, "data")})
		if err != nil {
			t.Fatal(err)
		}
		list, err := st.QueuedMessages(ctx)
		st.Close()
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range list {
			b, err := json.Marshal(e)
			if err != nil {
				t.Fatal(err)
			}
			envs = append(envs, b)
		}
	}
	var out []string
	for _, e := range envs {
		var c bytes.Buffer
		if err := json.Compact(&c, e); err != nil {
			t.Fatal(err)
		}
		out = append(out, c.String())
	}
	return out
}

// loginSubmission opens submission with STARTTLS and logs in.
func loginSubmission(t testing.TB, s *Server, user, pass string) *smtpClient {
	t.Helper()
	c := dialSMTP(t, s.Addr("submission"))
	c.expect("EHLO client.test", "250")
	c.starttls(s.TLSConfig())
	c.expect("EHLO client.test", "250")
	c.expect("AUTH PLAIN "+base64.StdEncoding.EncodeToString([]byte("\x00"+user+"\x00"+pass)), "235")
	return c
}

// send runs one transaction on an open session and returns the first
// refusal or the final reply.
func (c *smtpClient) send(from string, to []string, msg string) smtpReply {
	c.t.Helper()
	if r := c.cmd("MAIL FROM:<" + from + ">"); r.Code != 250 {
		return r
	}
	for _, rc := range to {
		if r := c.cmd("RCPT TO:<" + rc + ">"); r.Code != 250 {
			c.cmd("RSET")
			return r
		}
	}
	return c.sendData(msg)
}

// submit sends one message over submission (STARTTLS + AUTH PLAIN) with
// the raw client and returns the final reply.
func submit(t testing.TB, s *Server, user, pass, from string, to []string, msg string) smtpReply {
	t.Helper()
	c := loginSubmission(t, s, user, pass)
	r := c.send(from, to, msg)
	c.cmd("QUIT")
	return r
}
