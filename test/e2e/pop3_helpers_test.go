package e2e

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/base64"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pochta-mail/pochta/internal/mimeparse"
	"github.com/pochta-mail/pochta/internal/store"
	"github.com/pochta-mail/pochta/internal/store/sqlite"
)

// pop3Downgraded returns stored messages as a POP3 session that did not
// issue UTF8 gets them (RFC 6856): those with UTF-8 headers downgraded
// (RFC 6857), the others unchanged.
func pop3Downgraded(t *testing.T, stored []string) []string {
	t.Helper()
	out := make([]string, len(stored))
	for i, m := range stored {
		st, err := mimeparse.Parse(strings.NewReader(m))
		if err != nil {
			t.Fatalf("parse message %d: %v", i+1, err)
		}
		dg, err := mimeparse.Downgrade(st, strings.NewReader(m), int64(len(m)))
		if err != nil {
			t.Fatalf("downgrade message %d: %v", i+1, err)
		}
		if dg == nil {
			out[i] = m
			continue
		}
		b, err := io.ReadAll(io.NewSectionReader(dg, 0, dg.Size()))
		if err != nil {
			t.Fatalf("read downgraded message %d: %v", i+1, err)
		}
		out[i] = string(b)
	}
	return out
}

// deliverPOP3Mail puts messages into an account's inbox, in order.
//
// Until the SMTP server exists it opens the server's own SQLite store from
// the test process (WAL lets two processes share it); when SMTP is there,
// only this function changes. It returns the stored bodies (CRLF line
// endings, as POP3 serves them).
func deliverPOP3Mail(t *testing.T, s *Server, addr string, bodies []string) []string {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, sqlite.Options{Dir: filepath.Join(s.Dir, "data"), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	defer st.Close()
	acct, err := st.AccountByAddress(ctx, addr)
	if err != nil {
		t.Fatalf("account %s: %v", addr, err)
	}
	var stored []string
	for _, b := range bodies {
		if _, err := st.Deliver(ctx, store.Delivery{AccountID: acct.ID, Body: strings.NewReader(b)}); err != nil {
			t.Fatalf("deliver: %v", err)
		}
		stored = append(stored, strings.ReplaceAll(strings.ReplaceAll(b, "\r\n", "\n"), "\n", "\r\n"))
	}
	return stored
}

// mixedMailbox makes n messages of the kinds a real mailbox has: plain
// ASCII, UTF-8 headers and bodies (8-bit), lines starting with dots,
// multipart messages with base64 attachments, and one 5 MB message (the
// 7th). The same seed gives the same mail.
func mixedMailbox(n int) []string {
	rng := rand.New(rand.NewPCG(1, 2))
	var out []string
	for i := range n {
		var b strings.Builder
		fmt.Fprintf(&b, "From: sender%d@example.net\r\nTo: pop@example.org\r\nMessage-ID: <m%d@example.net>\r\nDate: Mon, 2 Feb 2026 10:%02d:00 +0000\r\n", i, i, i%60)
		switch i % 4 {
		case 0:
			fmt.Fprintf(&b, "Subject: plain %d\r\n\r\nHello number %d.\r\n.leading dot\r\n..two\r\n.\r\nend\r\n", i, i)
		case 1:
			fmt.Fprintf(&b, "Subject: Привет, мир %d — проверка\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n", i)
			for range 1 + rng.IntN(40) {
				b.WriteString("Съешь же ещё этих мягких французских булок, да выпей чаю. 日本語 ✓\r\n")
			}
		case 2:
			att := make([]byte, 1000+rng.IntN(200_000))
			for j := range att {
				att[j] = byte(rng.UintN(256))
			}
			fmt.Fprintf(&b, "Subject: attachment %d\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b%d\"\r\n\r\n--b%d\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n--b%d\r\nContent-Type: application/octet-stream; name=\"f%d.bin\"\r\nContent-Transfer-Encoding: base64\r\n\r\n", i, i, i, i, i)
			enc := base64.StdEncoding.EncodeToString(att)
			for len(enc) > 76 {
				b.WriteString(enc[:76] + "\r\n")
				enc = enc[76:]
			}
			fmt.Fprintf(&b, "%s\r\n--b%d--\r\n", enc, i)
		case 3:
			fmt.Fprintf(&b, "Subject: short %d\r\n\r\nx\r\n", i)
		}
		if i == 6 {
			b.WriteString("\r\n")
			line := strings.Repeat("0123456789", 7) + "\r\n"
			for b.Len() < 5<<20 {
				b.WriteString(line)
				b.WriteString("." + line)
			}
		}
		out = append(out, b.String())
	}
	return out
}

// popClient is a small raw POP3 client for e2e checks.
type popClient struct {
	t    *testing.T
	conn net.Conn
	r    *bufio.Reader
}

// dialPOP3 connects; with tlsConf it uses implicit TLS.
func dialPOP3(t *testing.T, addr string, tlsConf *tls.Config) *popClient {
	t.Helper()
	var c net.Conn
	var err error
	if tlsConf != nil {
		c, err = tls.DialWithDialer(&net.Dialer{Timeout: 10 * time.Second}, "tcp", addr, tlsConf)
	} else {
		c, err = net.DialTimeout("tcp", addr, 10*time.Second)
	}
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	t.Cleanup(func() { c.Close() })
	p := &popClient{t: t, conn: c, r: bufio.NewReader(c)}
	if g := p.line(); !strings.HasPrefix(g, "+OK") {
		t.Fatalf("greeting %q", g)
	}
	return p
}

func (p *popClient) line() string {
	p.t.Helper()
	p.conn.SetReadDeadline(time.Now().Add(30 * time.Second))
	l, err := p.r.ReadString('\n')
	if err != nil {
		p.t.Fatalf("read: %v", err)
	}
	return strings.TrimSuffix(l, "\r\n")
}

func (p *popClient) cmd(s string) string {
	p.t.Helper()
	if _, err := io.WriteString(p.conn, s+"\r\n"); err != nil {
		p.t.Fatalf("write: %v", err)
	}
	return p.line()
}

// multi reads a multi-line body, un-stuffed, with CRLF line endings.
func (p *popClient) multi() string {
	p.t.Helper()
	var b strings.Builder
	for {
		l := p.line()
		if l == "." {
			return b.String()
		}
		b.WriteString(strings.TrimPrefix(l, "."))
		b.WriteString("\r\n")
	}
}

// tlsClientConn runs a client TLS handshake over c for the server's name.
func tlsClientConn(c net.Conn, s *Server) net.Conn {
	tc := tls.Client(c, s.TLSConfig())
	tc.SetDeadline(time.Now().Add(30 * time.Second))
	if err := tc.Handshake(); err != nil {
		s.t.Fatalf("TLS handshake: %v", err)
	}
	tc.SetDeadline(time.Time{})
	return tc
}

func newReader(c net.Conn) *bufio.Reader { return bufio.NewReader(c) }
