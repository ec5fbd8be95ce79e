package pop3

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"mime"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/pochta-mail/pochta/internal/mimeparse"
	"github.com/pochta-mail/pochta/internal/store"
	"github.com/pochta-mail/pochta/internal/store/sqlite"
)

// utf8Msg has UTF-8 (RFC 6532) headers in the message header and in a
// body part's MIME header, and a body line that starts with ".".
const utf8Msg = "From: Dörte Müller <dörte@example.org>\r\n" +
	"To: Anna <anna@bücher.example>\r\n" +
	"Subject: Grüße aus Köln\r\n" +
	"Message-ID: <grüße@example.org>\r\n" +
	"MIME-Version: 1.0\r\n" +
	"Content-Type: multipart/mixed; boundary=\"b\"\r\n" +
	"\r\n" +
	"--b\r\n" +
	"Content-Type: text/plain; charset=utf-8\r\n" +
	"Content-Transfer-Encoding: 8bit\r\n" +
	"Content-Description: Überblick\r\n" +
	"\r\n" +
	"Grüße!\r\n" +
	".dot line\r\n" +
	"--b--\r\n"

// retr sends RETR n and returns what the status line announced and the
// message as sent (un-stuffed, with its CRLFs).
func (c *client) retr(n int) (announced int, msg string) {
	c.t.Helper()
	st := c.cmd(fmt.Sprintf("RETR %d", n))
	num, ok := strings.CutSuffix(strings.TrimPrefix(st, "+OK "), " octets")
	announced, err := strconv.Atoi(num)
	if !ok || err != nil {
		c.t.Fatalf("RETR %d: %q", n, st)
	}
	return announced, c.unstuffed()
}

// unstuffed reads a multi-line response and returns its lines un-stuffed
// with their CRLFs.
func (c *client) unstuffed() string {
	c.t.Helper()
	var b strings.Builder
	for _, l := range c.multi() {
		b.WriteString(strings.TrimPrefix(l, "."))
		b.WriteString("\r\n")
	}
	return b.String()
}

// listSize returns the size LIST n gives.
func (c *client) listSize(n int) int {
	c.t.Helper()
	st := c.cmd(fmt.Sprintf("LIST %d", n))
	f := strings.Fields(st)
	if len(f) != 3 || f[0] != "+OK" || f[1] != strconv.Itoa(n) {
		c.t.Fatalf("LIST %d: %q", n, st)
	}
	size, _ := strconv.Atoi(f[2])
	return size
}

// stat returns STAT's count and size.
func (c *client) stat() (int, int) {
	c.t.Helper()
	st := c.cmd("STAT")
	var n, size int
	if _, err := fmt.Sscanf(st, "+OK %d %d", &n, &size); err != nil {
		c.t.Fatalf("STAT: %q", st)
	}
	return n, size
}

func eightBit(s string) int {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return i
		}
	}
	return -1
}

// A session that did not issue UTF8 gets messages with UTF-8 headers
// downgraded (RFC 6856, RFC 6857): 7-bit headers that decode back to the
// UTF-8 text, the body untouched, and STAT, LIST and RETR's status
// counting exactly the octets RETR sends. TOP sends the downgraded
// header. ASCII mail is sent as stored.
func TestDowngradeWithoutUTF8(t *testing.T) {
	e := newEnv(t, envConfig{allowPlaintext: true})
	plain := "From: a@example.org\r\nSubject: plain\r\n\r\nGrüße im Text\r\n"
	// Only a header, no line ending at all: the downgraded field ends in
	// CRLF, so RETR adds none, unlike for the stored bytes.
	headerOnly := "Subject: Grüße"
	noEnd := "Subject: Grüße\r\n\r\nno line ending"
	for _, m := range []string{utf8Msg, plain, headerOnly, noEnd} {
		e.deliver(m, "")
	}
	c := e.dial()
	c.login()

	total := 0
	var sent []string
	for n := 1; n <= 4; n++ {
		size := c.listSize(n)
		announced, msg := c.retr(n)
		if size != len(msg) || announced != len(msg) {
			t.Errorf("message %d: LIST %d, RETR says %d octets, sends %d", n, size, announced, len(msg))
		}
		total += size
		sent = append(sent, msg)
	}
	if n, size := c.stat(); n != 4 || size != total {
		t.Errorf("STAT %d %d, want 4 %d", n, size, total)
	}

	whole := sent[0]
	head, body, _ := strings.Cut(whole, "\r\n\r\n")
	if i := eightBit(head); i >= 0 {
		t.Fatalf("8-bit header at %d:\n%s", i, head)
	}
	dec := new(mime.WordDecoder)
	if subj, _ := dec.DecodeHeader(headerValue(head, "Subject")); subj != "Grüße aus Köln" {
		t.Errorf("Subject decodes to %q", subj)
	}
	for _, want := range []string{
		"To: Anna <anna@xn--bcher-kva.example>\r\n",
		"Downgraded-Message-Id: =?UTF-8?Q?=3Cgr=C3=BC=C3=9Fe=40example=2Eorg=3E?=\r\n",
		"Content-Description: =?UTF-8?Q?=C3=9Cberblick?=\r\n",
		"\r\n\r\nGrüße!\r\n.dot line\r\n--b--\r\n",
	} {
		if !strings.Contains(whole, want) {
			t.Errorf("no %q in\n%s", want, whole)
		}
	}
	if !strings.HasSuffix(body, "Grüße!\r\n.dot line\r\n--b--\r\n") {
		t.Errorf("body changed: %q", body)
	}
	if sent[1] != plain {
		t.Errorf("ASCII message changed:\n%q\nwant\n%q", sent[1], plain)
	}
	if want := "Subject: =?UTF-8?Q?Gr=C3=BC=C3=9Fe?=\r\n"; sent[2] != want {
		t.Errorf("header-only message: %q, want %q", sent[2], want)
	}
	if want := "Subject: =?UTF-8?Q?Gr=C3=BC=C3=9Fe?=\r\n\r\nno line ending\r\n"; sent[3] != want {
		t.Errorf("message without final line ending: %q, want %q", sent[3], want)
	}

	// TOP: the downgraded header, the blank line, then body lines.
	if r := c.cmd("TOP 1 0"); !strings.HasPrefix(r, "+OK") {
		t.Fatalf("TOP 1 0: %q", r)
	}
	if got := c.unstuffed(); got != head+"\r\n\r\n" {
		t.Errorf("TOP 1 0:\n%q\nwant\n%q", got, head+"\r\n\r\n")
	}
	if r := c.cmd("TOP 1 4"); !strings.HasPrefix(r, "+OK") {
		t.Fatalf("TOP 1 4: %q", r)
	}
	if got, want := c.unstuffed(), head+"\r\n\r\n--b\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\nContent-Description: =?UTF-8?Q?=C3=9Cberblick?=\r\n"; got != want {
		t.Errorf("TOP 1 4:\n%q\nwant\n%q", got, want)
	}
	if r := c.cmd("UTF8"); r != "-ERR Already logged in" {
		t.Errorf("UTF8 after login: %q", r)
	}
	if r := c.cmd("QUIT"); !strings.HasPrefix(r, "+OK") {
		t.Errorf("QUIT: %q", r)
	}
}

// headerValue returns the unfolded value of the first field called name.
func headerValue(head, name string) string {
	lines := strings.Split(head, "\r\n")
	for i, l := range lines {
		k, v, ok := strings.Cut(l, ":")
		if !ok || !strings.EqualFold(k, name) {
			continue
		}
		for _, c := range lines[i+1:] {
			if c == "" || c[0] != ' ' && c[0] != '\t' {
				break
			}
			v += c
		}
		return strings.TrimSpace(v)
	}
	return ""
}

// After UTF8 (RFC 6856) the session gets the stored bytes, UTF-8 headers
// included, and the stored sizes.
func TestUTF8SessionGetsRawBytes(t *testing.T) {
	e := newEnv(t, envConfig{allowPlaintext: true})
	e.deliver(utf8Msg, "")
	noEnd := "Subject: Grüße\r\n\r\nno line ending"
	e.deliver(noEnd, "")
	c := e.dial()
	if r := c.cmd("UTF8"); r != "+OK UTF8 enabled" {
		t.Fatalf("UTF8: %q", r)
	}
	c.login()
	if size := c.listSize(1); size != len(utf8Msg) {
		t.Errorf("LIST 1 = %d, want %d", size, len(utf8Msg))
	}
	if announced, msg := c.retr(1); msg != utf8Msg || announced != len(utf8Msg) {
		t.Errorf("RETR 1 (%d octets):\n%s", announced, msg)
	}
	if size := c.listSize(2); size != len(noEnd)+2 {
		t.Errorf("LIST 2 = %d, want %d", size, len(noEnd)+2)
	}
	if _, msg := c.retr(2); msg != noEnd+"\r\n" {
		t.Errorf("RETR 2: %q", msg)
	}
	if n, size := c.stat(); n != 2 || size != len(utf8Msg)+len(noEnd)+2 {
		t.Errorf("STAT %d %d", n, size)
	}
	if r := c.cmd("TOP 1 0"); !strings.HasPrefix(r, "+OK") {
		t.Fatalf("TOP 1 0: %q", r)
	}
	head, _, _ := strings.Cut(utf8Msg, "\r\n\r\n")
	if got := c.unstuffed(); got != head+"\r\n\r\n" {
		t.Errorf("TOP 1 0: %q", got)
	}
}

// Messages stored before the store recorded whether their headers are
// 8-bit (header_bytes 0) are judged by their cached structure: the UTF-8
// one is downgraded with a LIST size that matches RETR, the ASCII one is
// sent as stored.
func TestDowngradeMessageStoredBeforeHeaderBytes(t *testing.T) {
	dir := t.TempDir()
	st, err := sqlite.Open(context.Background(), sqlite.Options{Dir: dir, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	e := newEnvOn(t, st, dir, envConfig{allowPlaintext: true})
	plain := "Subject: plain\r\n\r\nx\r\n"
	e.deliver(plain, "")
	e.deliver(utf8Msg, "")
	db, err := sql.Open("sqlite", "file:"+filepath.Join(dir, "pochta.db"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec("UPDATE messages SET header_bytes = 0"); err != nil {
		t.Fatal(err)
	}
	db.Close()

	c := e.dial()
	c.login()
	if _, msg := c.retr(1); msg != plain {
		t.Errorf("ASCII message: %q", msg)
	}
	size := c.listSize(2)
	announced, msg := c.retr(2)
	if msg == utf8Msg || eightBit(strings.SplitN(msg, "\r\n\r\n", 2)[0]) >= 0 {
		t.Fatalf("UTF-8 message not downgraded:\n%s", msg)
	}
	if size != len(msg) || announced != len(msg) {
		t.Errorf("LIST %d, RETR says %d octets, sends %d", size, announced, len(msg))
	}
}

// readCounter counts the structures and bodies a store is asked for.
type readCounter struct {
	store.Store
	mu         sync.Mutex
	structures int // messages whose structure was read
	bodies     int
}

func (r *readCounter) Structures(ctx context.Context, msgs []store.Message) (map[int64]*mimeparse.Message, error) {
	r.mu.Lock()
	r.structures += len(msgs)
	r.mu.Unlock()
	return r.Store.Structures(ctx, msgs)
}

func (r *readCounter) Structure(ctx context.Context, m store.Message) (*mimeparse.Message, error) {
	r.mu.Lock()
	r.structures++
	r.mu.Unlock()
	return r.Store.Structure(ctx, m)
}

func (r *readCounter) OpenBody(ctx context.Context, m store.Message) (store.Body, error) {
	r.mu.Lock()
	r.bodies++
	r.mu.Unlock()
	return r.Store.OpenBody(ctx, m)
}

func (r *readCounter) counts() (int, int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	s, b := r.structures, r.bodies
	r.structures, r.bodies = 0, 0
	return s, b
}

// A login reads the structure and body of the messages with UTF-8
// headers only, and none at all after UTF8: the sizes of 7-bit mail come
// from the message list.
func TestLoginReadsOnlyUTF8Messages(t *testing.T) {
	dir := t.TempDir()
	st, err := sqlite.Open(context.Background(), sqlite.Options{Dir: dir, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	rc := &readCounter{Store: st}
	e := newEnvOn(t, rc, dir, envConfig{allowPlaintext: true})
	for i := range 5 {
		e.deliver(fmt.Sprintf("Subject: plain %d\r\n\r\nx\r\n", i), "")
	}
	e.deliver(utf8Msg, "")
	rc.counts()

	c := e.dial()
	c.login()
	if s, b := rc.counts(); s != 1 || b != 1 {
		t.Errorf("login without UTF8 read %d structures and %d bodies, want 1 and 1", s, b)
	}
	c.cmd("QUIT")
	c = e.dial()
	c.cmd("UTF8")
	c.login()
	if s, b := rc.counts(); s != 0 || b != 0 {
		t.Errorf("login after UTF8 read %d structures and %d bodies, want none", s, b)
	}
	c.cmd("QUIT")
}
