package imapd

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pochta-mail/pochta/internal/auth"
	"github.com/pochta-mail/pochta/internal/store"
	"github.com/pochta-mail/pochta/internal/store/sqlite"
)

// testEnv is an in-process server on loopback over a fresh store.
type testEnv struct {
	t      testing.TB
	st     store.Store
	addr   string
	acct   store.Account
	policy auth.Policy
	tlsCfg *tls.Config
	dir    string // the store's data folder
}

const testPassword = "correct horse"

// hashOnce keeps the test suite fast: argon2id hashing is slow on purpose.
var hashOnce = sync.OnceValues(func() (string, error) { return auth.HashParams{Time: 1, MemoryKiB: 64, Threads: 1}.Hash(testPassword) })

type envOptions struct {
	allowPlaintext bool
	settings       *store.Settings
	quotaBytes     int64
	// wrapStore, when set, wraps the store the server uses (the test's
	// e.st stays the store itself).
	wrapStore func(store.Store) store.Store
}

func newEnv(t testing.TB, o envOptions) *testEnv {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	st, err := sqlite.Open(ctx, sqlite.Options{Dir: dir, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if _, err := st.CreateDomain(ctx, "example.org"); err != nil {
		t.Fatal(err)
	}
	hash, err := hashOnce()
	if err != nil {
		t.Fatal(err)
	}
	settings := store.DefaultSettings()
	if o.settings != nil {
		settings = *o.settings
	}
	acct, err := st.CreateAccount(ctx, store.NewAccount{Address: "anna@example.org", PasswordHash: hash, Settings: settings, QuotaBytes: o.quotaBytes})
	if err != nil {
		t.Fatal(err)
	}
	policy := auth.Policy{AllowPlaintext: o.allowPlaintext, PrimaryDomain: "example.org"}
	authn := auth.NewAuthenticator(st, policy, slog.New(slog.DiscardHandler))
	tlsCfg := testTLSConfig(t)
	served := store.Store(st)
	if o.wrapStore != nil {
		served = o.wrapStore(st)
	}
	srv, err := New(Options{Store: served, Auth: authn, TLSConfig: tlsCfg, Logger: slog.New(slog.DiscardHandler), AppendLimit: 40 << 20})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	sctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { srv.Serve(sctx, ln); close(done) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Error("server did not stop")
		}
	})
	return &testEnv{t: t, st: st, addr: ln.Addr().String(), acct: acct, policy: policy, tlsCfg: tlsCfg, dir: dir}
}

func testTLSConfig(t testing.TB) *tls.Config {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "mail.example.org"},
		DNSNames: []string{"mail.example.org"}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}}
}

// deliver stores a message in a folder of the test account.
func (e *testEnv) deliver(folder, msg string, flags ...string) store.Message {
	e.t.Helper()
	f, err := e.st.Folder(context.Background(), e.acct.ID, folder)
	if err != nil {
		e.t.Fatal(err)
	}
	m, err := e.st.Deliver(context.Background(), store.Delivery{AccountID: e.acct.ID, FolderID: f.ID, Flags: flags, Body: strings.NewReader(msg),
		InternalDate: time.Date(2024, 3, 5, 10, 0, 0, 0, time.UTC)})
	if err != nil {
		e.t.Fatal(err)
	}
	return m
}

// client is a raw IMAP dialogue.
type client struct {
	t    testing.TB
	conn net.Conn
	br   *bufio.Reader
	n    int
}

func (e *testEnv) dial() *client {
	e.t.Helper()
	c, err := net.Dial("tcp", e.addr)
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { c.Close() })
	cl := &client{t: e.t, conn: c, br: bufio.NewReader(c)}
	if g := cl.line(); !strings.HasPrefix(g, "* OK ") {
		e.t.Fatalf("greeting %q", g)
	}
	return cl
}

// login dials and logs in (over STARTTLS, as the secure policy wants).
func (e *testEnv) login() *client {
	e.t.Helper()
	c := e.dial()
	c.startTLS()
	c.ok("LOGIN anna@example.org " + quoteASCII(testPassword))
	return c
}

func (c *client) startTLS() {
	c.t.Helper()
	c.ok("STARTTLS")
	tc := tls.Client(c.conn, &tls.Config{InsecureSkipVerify: true})
	if err := tc.Handshake(); err != nil {
		c.t.Fatal(err)
	}
	c.conn = tc
	c.br = bufio.NewReader(tc)
}

func (c *client) write(s string) {
	c.t.Helper()
	c.conn.SetWriteDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c.conn, s); err != nil {
		c.t.Fatal(err)
	}
}

// line reads one response line, with any literals it carries inlined.
func (c *client) line() string {
	c.t.Helper()
	c.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	var b strings.Builder
	for {
		l, err := c.br.ReadString('\n')
		if err != nil {
			c.t.Fatalf("read: %v (so far %q)", err, b.String()+l)
		}
		l = strings.TrimSuffix(l, "\r\n")
		b.WriteString(l)
		m := literalRE.FindStringSubmatch(l)
		if m == nil {
			return b.String()
		}
		var n int
		fmt.Sscan(m[1], &n)
		buf := make([]byte, n)
		if _, err := io.ReadFull(c.br, buf); err != nil {
			c.t.Fatal(err)
		}
		b.WriteString("\r\n")
		b.Write(buf)
	}
}

var literalRE = regexp.MustCompile(`~?\{(\d+)\}$`)

// cmd sends a command and returns the untagged lines and the tagged line.
func (c *client) cmd(s string) (untagged []string, tagged string) {
	c.t.Helper()
	c.n++
	tag := fmt.Sprintf("t%d", c.n)
	c.write(tag + " " + s + "\r\n")
	return c.readUntil(tag)
}

func (c *client) readUntil(tag string) (untagged []string, tagged string) {
	c.t.Helper()
	for {
		l := c.line()
		if strings.HasPrefix(l, tag+" ") {
			return untagged, strings.TrimPrefix(l, tag+" ")
		}
		untagged = append(untagged, l)
	}
}

// ok runs a command that must succeed and returns its untagged lines.
func (c *client) ok(s string) []string {
	c.t.Helper()
	u, tagged := c.cmd(s)
	if !strings.HasPrefix(tagged, "OK") {
		c.t.Fatalf("%s: %s (untagged %q)", s, tagged, u)
	}
	return u
}

// expect runs a command whose tagged answer must start with want.
func (c *client) expect(s, want string) []string {
	c.t.Helper()
	u, tagged := c.cmd(s)
	if !strings.HasPrefix(tagged, want) {
		c.t.Fatalf("%s: got %q, want %q (untagged %q)", s, tagged, want, u)
	}
	return u
}

// has reports whether some line contains sub.
func has(lines []string, sub string) bool {
	for _, l := range lines {
		if strings.Contains(l, sub) {
			return true
		}
	}
	return false
}

func mustHave(t *testing.T, lines []string, subs ...string) {
	t.Helper()
	for _, sub := range subs {
		if !has(lines, sub) {
			t.Fatalf("no line contains %q in %q", sub, lines)
		}
	}
}
