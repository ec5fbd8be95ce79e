package imapd

import (
	"bufio"
	"compress/flate"
	"io"
	"net"
	"strings"
	"sync/atomic"
	"testing"
)

// countingConn counts the bytes read from the wire under the inflater.
type countingConn struct {
	net.Conn
	n atomic.Int64
}

func (c *countingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.n.Add(int64(n))
	return n, err
}

// deflateClientConn is the client side of COMPRESS=DEFLATE: raw DEFLATE
// both ways, each write sync-flushed.
type deflateClientConn struct {
	net.Conn
	zr io.Reader
	zw *flate.Writer
}

func (c *deflateClientConn) Read(p []byte) (int, error) { return c.zr.Read(p) }

func (c *deflateClientConn) Write(p []byte) (int, error) {
	if _, err := c.zw.Write(p); err != nil {
		return 0, err
	}
	return len(p), c.zw.Flush()
}

// compress sends COMPRESS DEFLATE and switches the client to DEFLATE.
// It returns the counter of compressed bytes received.
func (c *client) compress() *countingConn {
	c.t.Helper()
	c.ok("COMPRESS DEFLATE")
	if c.br.Buffered() > 0 {
		c.t.Fatalf("server sent %d bytes after the tagged OK of COMPRESS before any command", c.br.Buffered())
	}
	cc := &countingConn{Conn: c.conn}
	zw, err := flate.NewWriter(cc, flate.DefaultCompression)
	if err != nil {
		c.t.Fatal(err)
	}
	dc := &deflateClientConn{Conn: cc, zr: flate.NewReader(cc), zw: zw}
	c.conn = dc
	c.br = bufio.NewReader(dc)
	return cc
}

// TestCompressDeflate drives a whole session through COMPRESS=DEFLATE
// under TLS: commands, a large FETCH that spans many writes, a literal
// the client sends, IDLE woken by a delivery, and the refusal of a
// second COMPRESS.
func TestCompressDeflate(t *testing.T) {
	e := newEnv(t, envOptions{})
	big := "Subject: big\r\n\r\n" + strings.Repeat("All work and no play makes Jack a dull boy.\r\n", 4000)
	e.deliver("INBOX", big)
	c := e.dial()
	mustHave(t, c.ok("CAPABILITY"), "STARTTLS")
	c.expect("COMPRESS DEFLATE", "BAD") // not before login
	c.startTLS()
	c.ok("LOGIN anna@example.org " + quoteASCII(testPassword))
	mustHave(t, c.ok("CAPABILITY"), "COMPRESS=DEFLATE")
	c.expect("COMPRESS GZIP", "BAD")
	wire := c.compress()

	mustHave(t, c.ok("SELECT INBOX"), "* 1 EXISTS")
	before := wire.n.Load()
	u := c.ok("FETCH 1 BODY[]")
	if !has(u, "makes Jack a dull boy.\r\nAll work") || len(u[0]) < len(big) {
		t.Fatalf("FETCH over DEFLATE: got %d bytes", len(strings.Join(u, "")))
	}
	if n := wire.n.Load() - before; n <= 0 || n > int64(len(big))/4 {
		t.Errorf("a %d-byte FETCH took %d bytes on the wire: not compressed", len(big), n)
	}
	// A synchronising literal: the continuation request comes through
	// the compressed stream too.
	msg := "Subject: appended\r\n\r\nliteral\r\n"
	c.write("a1 APPEND INBOX {" + itoa(len(msg)) + "}\r\n")
	if l := c.line(); !strings.HasPrefix(l, "+ ") {
		t.Fatalf("continuation over DEFLATE: %q", l)
	}
	c.write(msg + "\r\n")
	u, tagged := c.readUntil("a1")
	if !strings.HasPrefix(tagged, "OK [APPENDUID ") {
		t.Fatalf("APPEND over DEFLATE: %q", tagged)
	}
	mustHave(t, append(u, c.ok("NOOP")...), "* 2 EXISTS")
	if got := only(t, c.ok("SORT (REVERSE SIZE) UTF-8 ALL"), "* SORT"); got != "* SORT 1 2" {
		t.Errorf("SORT over DEFLATE: %q", got)
	}

	// IDLE: a delivery must reach the client at once, not sit in the
	// compressor.
	c.write("i IDLE\r\n")
	if l := c.line(); !strings.HasPrefix(l, "+ ") {
		t.Fatalf("IDLE: %q", l)
	}
	e.deliver("INBOX", "Subject: during idle\r\n\r\nhello\r\n")
	if l := c.line(); l != "* 3 EXISTS" {
		t.Fatalf("IDLE over DEFLATE after a delivery: %q", l)
	}
	c.write("DONE\r\n")
	if _, tagged := c.readUntil("i"); !strings.HasPrefix(tagged, "OK") {
		t.Fatalf("DONE: %q", tagged)
	}

	c.expect("COMPRESS DEFLATE", "NO [COMPRESSIONACTIVE]")
	c.ok("NOOP")
	u, tagged = c.cmd("LOGOUT")
	if !strings.HasPrefix(tagged, "OK") || !has(u, "* BYE") {
		t.Fatalf("LOGOUT: %q %q", u, tagged)
	}
}

// TestCompressPlaintextAndManySessions runs compressed sessions without
// TLS, several open at once with their commands interleaved, so the
// pooled compressors pass from one session to another.
func TestCompressPlaintextAndManySessions(t *testing.T) {
	e := newEnv(t, envOptions{allowPlaintext: true})
	for i := range 20 {
		e.deliver("INBOX", "Subject: message "+itoa(i)+"\r\n\r\n"+strings.Repeat("body text ", 200)+"\r\n")
	}
	var clients []*client
	for range 4 {
		c := e.dial()
		c.ok("LOGIN anna@example.org " + quoteASCII(testPassword))
		c.compress()
		c.ok("SELECT INBOX")
		clients = append(clients, c)
	}
	// Interleave the sessions' commands.
	for round := range 3 {
		for i, c := range clients {
			u := c.ok("FETCH 1:* (BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
			if len(u) != 20 || !has(u, "Subject: message 19") {
				t.Fatalf("round %d session %d: %d lines", round, i, len(u))
			}
		}
	}
}

// TestCompressRefusesPipelinedCommands checks that bytes sent after
// COMPRESS before its answer end the session instead of being taken for
// compressed data.
func TestCompressRefusesPipelinedCommands(t *testing.T) {
	e := newEnv(t, envOptions{})
	c := e.login()
	c.write("a COMPRESS DEFLATE\r\nb NOOP\r\n")
	if l := c.line(); !strings.HasPrefix(l, "* BYE") {
		t.Fatalf("pipelined after COMPRESS: %q", l)
	}
}
