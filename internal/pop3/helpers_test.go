package pop3

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"net"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pochta-mail/pochta/internal/auth"
	"github.com/pochta-mail/pochta/internal/store"
	"github.com/pochta-mail/pochta/internal/store/sqlite"
	"github.com/pochta-mail/pochta/internal/tlsutil"
)

const (
	testUser     = "user@example.org"
	testPassword = "correct horse battery"
)

// testEnv is a store, an authenticator and a POP3 server on loopback.
type testEnv struct {
	t         testing.TB
	st        store.Store
	srv       *Server
	acct      store.Account
	addr      string // STLS listener
	tlsAddr   string // implicit TLS listener
	clientTLS *tls.Config
	logs      *syncBuffer
	cancel    context.CancelFunc
	served    chan struct{} // closed when both Serve calls returned
}

// envConfig tunes newEnv.
type envConfig struct {
	allowPlaintext bool
	loginDelay     time.Duration
	timeout        time.Duration // overrides the 10-minute floor for tests
	spamRetention  time.Duration
	settings       func(*store.Settings)
	// apop turns the server's APOP switch on; apopSecret, when set, is
	// the test account's APOP secret.
	apop       bool
	apopSecret string
}

// syncBuffer is a bytes.Buffer safe for the logger and the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// newEnv starts a server with one account, testUser, with plaintext
// passwords allowed unless cfg says otherwise.
func newEnv(t testing.TB, cfg envConfig) *testEnv {
	t.Helper()
	dir := t.TempDir()
	st, err := sqlite.Open(context.Background(), sqlite.Options{Dir: dir, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return newEnvOn(t, st, dir, cfg)
}

// newEnvOn starts a server on st (another node, or a restarted process,
// when st has the test account already), keeping its key and certificate
// in dir.
func newEnvOn(t testing.TB, st store.Store, dir string, cfg envConfig) *testEnv {
	t.Helper()
	ctx := context.Background()
	if _, err := st.CreateDomain(ctx, "example.org"); err != nil && !errors.Is(err, store.ErrExists) {
		t.Fatal(err)
	}
	acct, err := st.AccountByAddress(ctx, testUser)
	if errors.Is(err, store.ErrNotFound) {
		var hash string
		hash, err = auth.HashParams{Time: 1, MemoryKiB: 64, Threads: 1}.Hash(testPassword)
		if err != nil {
			t.Fatal(err)
		}
		settings := store.DefaultSettings()
		if cfg.settings != nil {
			cfg.settings(&settings)
		}
		acct, err = st.CreateAccount(ctx, store.NewAccount{Address: testUser, PasswordHash: hash, Settings: settings})
	}
	if err != nil {
		t.Fatal(err)
	}
	key, err := auth.LoadSecretKey(dir)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.apopSecret != "" {
		if acct.Settings.APOPSecret, err = key.Seal(cfg.apopSecret, acct.ID); err != nil {
			t.Fatal(err)
		}
		if err := st.UpdateAccount(ctx, acct); err != nil {
			t.Fatal(err)
		}
	}
	logs := &syncBuffer{}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	authn := auth.NewAuthenticator(st, auth.Policy{AllowPlaintext: cfg.allowPlaintext, PrimaryDomain: "example.org", SecretKey: key}, log)
	tm, err := tlsutil.Load(tlsutil.Options{DataDir: dir, Hostname: "localhost"})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := New(Options{Store: st, Auth: authn, TLSConfig: tm.TLSConfig(), Logger: log,
		LoginDelay: cfg.loginDelay, TrashRetention: 30 * 24 * time.Hour, SpamRetention: cfg.spamRetention,
		APOP: cfg.apop})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.timeout > 0 {
		srv.timeout = cfg.timeout
	}
	e := &testEnv{t: t, st: st, srv: srv, acct: acct, logs: logs, served: make(chan struct{}),
		clientTLS: &tls.Config{RootCAs: tm.CertPool(), ServerName: "localhost"}}
	sctx, cancel := context.WithCancel(ctx)
	e.cancel = cancel
	ln1, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln2, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	e.addr, e.tlsAddr = ln1.Addr().String(), ln2.Addr().String()
	var wg sync.WaitGroup
	for _, l := range []struct {
		ln       net.Listener
		implicit bool
	}{{ln1, false}, {ln2, true}} {
		wg.Go(func() {
			if err := srv.Serve(sctx, l.ln, l.implicit); err != nil {
				t.Errorf("Serve: %v", err)
			}
		})
	}
	go func() { wg.Wait(); close(e.served) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-e.served:
		case <-time.After(10 * time.Second):
			t.Error("Serve did not return after cancel")
		}
		if t.Failed() {
			t.Logf("server log:\n%s", logs.String())
		}
	})
	return e
}

// deliver stores a message in a folder of the test account ("" = inbox).
func (e *testEnv) deliver(body, folder string) store.Message {
	e.t.Helper()
	ctx := context.Background()
	d := store.Delivery{AccountID: e.acct.ID, Body: strings.NewReader(body)}
	if folder != "" {
		f, err := e.st.Folder(ctx, e.acct.ID, folder)
		if err != nil {
			e.t.Fatal(err)
		}
		d.FolderID = f.ID
	}
	m, err := e.st.Deliver(ctx, d)
	if err != nil {
		e.t.Fatal(err)
	}
	return m
}

// folderMessages lists the messages of a folder.
func (e *testEnv) folderMessages(name string) []store.Message {
	e.t.Helper()
	ctx := context.Background()
	f, err := e.st.Folder(ctx, e.acct.ID, name)
	if err != nil {
		e.t.Fatal(err)
	}
	var out []store.Message
	for m, err := range e.st.Messages(ctx, f.ID) {
		if err != nil {
			e.t.Fatal(err)
		}
		out = append(out, m)
	}
	return out
}

// client is a raw POP3 connection.
type client struct {
	t    testing.TB
	conn net.Conn
	r    *bufio.Reader
	// timestamp is the APOP timestamp of the greeting, if any.
	timestamp string
}

// apopTimestampRE is the greeting timestamp: <pid.clock.random@host>.
var apopTimestampRE = regexp.MustCompile(`^<[0-9]+\.[0-9]+\.[0-9a-f]{16}@localhost>$`)

// dial connects to the STLS listener and checks the greeting.
func (e *testEnv) dial() *client {
	e.t.Helper()
	c, err := net.DialTimeout("tcp", e.addr, 5*time.Second)
	if err != nil {
		e.t.Fatal(err)
	}
	return e.newClient(c)
}

// dialTLS connects to the implicit TLS listener.
func (e *testEnv) dialTLS() *client {
	e.t.Helper()
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", e.tlsAddr, e.clientTLS)
	if err != nil {
		e.t.Fatal(err)
	}
	return e.newClient(c)
}

func (e *testEnv) newClient(c net.Conn) *client {
	e.t.Helper()
	e.t.Cleanup(func() { c.Close() })
	cl := &client{t: e.t, conn: c, r: bufio.NewReader(c)}
	g := cl.line()
	if e.srv.opts.APOP {
		// With APOP on, and only then, the greeting carries a timestamp.
		ts, ok := strings.CutPrefix(g, replyGreeting+" ")
		if !ok || !apopTimestampRE.MatchString(ts) {
			e.t.Fatalf("greeting %q has no APOP timestamp", g)
		}
		cl.timestamp = ts
	} else if g != replyGreeting {
		e.t.Fatalf("greeting %q", g)
	}
	return cl
}

// line reads one response line without CRLF, failing on a bare LF.
func (c *client) line() string {
	c.t.Helper()
	c.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	l, err := c.r.ReadString('\n')
	if err != nil {
		c.t.Fatalf("read response: %v (got %q)", err, l)
	}
	if !strings.HasSuffix(l, "\r\n") {
		c.t.Fatalf("response line %q does not end in CRLF", l)
	}
	return strings.TrimSuffix(l, "\r\n")
}

// send writes raw text (lines must carry their CRLF).
func (c *client) send(s string) {
	c.t.Helper()
	if _, err := io.WriteString(c.conn, s); err != nil {
		c.t.Fatalf("send: %v", err)
	}
}

// cmd sends one command and returns the first response line.
func (c *client) cmd(s string) string {
	c.t.Helper()
	c.send(s + "\r\n")
	return c.line()
}

// multi reads the lines of a multi-line response after its status line,
// raw (still byte-stuffed), up to the terminating ".".
func (c *client) multi() []string {
	c.t.Helper()
	var out []string
	for {
		l := c.line()
		if l == "." {
			return out
		}
		out = append(out, l)
	}
}

// login logs in with USER/PASS and checks for +OK.
func (c *client) login() {
	c.t.Helper()
	if r := c.cmd("USER " + testUser); !strings.HasPrefix(r, "+OK") {
		c.t.Fatalf("USER: %q", r)
	}
	if r := c.cmd("PASS " + testPassword); !strings.HasPrefix(r, "+OK") {
		c.t.Fatalf("PASS: %q", r)
	}
}

// dialog runs a script of client lines ("C: ...") and expected server
// lines ("S: exact" or "S~ regexp"). Consecutive client lines are sent in
// one write (pipelined) before any response is read.
func (c *client) dialog(script string) {
	c.t.Helper()
	var batch strings.Builder
	flush := func() {
		if batch.Len() > 0 {
			c.send(batch.String())
			batch.Reset()
		}
	}
	for n, l := range strings.Split(strings.TrimSpace(script), "\n") {
		l = strings.TrimLeft(l, "\t ")
		switch {
		case strings.HasPrefix(l, "C: "):
			batch.WriteString(l[3:] + "\r\n")
		case strings.HasPrefix(l, "S: "):
			flush()
			if got := c.line(); got != l[3:] {
				c.t.Fatalf("script line %d: got %q, want %q", n+1, got, l[3:])
			}
		case strings.HasPrefix(l, "S~ "):
			flush()
			if got := c.line(); !regexp.MustCompile(l[3:]).MatchString(got) {
				c.t.Fatalf("script line %d: got %q, want match of %q", n+1, got, l[3:])
			}
		case l == "":
		default:
			c.t.Fatalf("bad script line %q", l)
		}
	}
	flush()
}

// closed reports whether the server closed the connection (reads EOF
// within the timeout).
func (c *client) closed(within time.Duration) bool {
	c.conn.SetReadDeadline(time.Now().Add(within))
	_, err := c.r.ReadByte()
	return err == io.EOF
}

// tlsClient upgrades a client after STLS.
func tlsClient(c *client, e *testEnv) *client {
	c.t.Helper()
	tc := tls.Client(c.conn, e.clientTLS)
	if err := tc.Handshake(); err != nil {
		c.t.Fatalf("TLS handshake: %v", err)
	}
	return &client{t: c.t, conn: tc, r: bufio.NewReader(tc), timestamp: c.timestamp}
}
