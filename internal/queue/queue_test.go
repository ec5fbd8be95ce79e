package queue

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"mime/quotedprintable"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/miekg/dns"

	"github.com/pochta-mail/pochta/internal/auth"
	"github.com/pochta-mail/pochta/internal/config"
	"github.com/pochta-mail/pochta/internal/delivery"
	"github.com/pochta-mail/pochta/internal/msgauth"
	"github.com/pochta-mail/pochta/internal/store"
	"github.com/pochta-mail/pochta/internal/store/sqlite"
)

// fakeDNS answers from a fixed zone.
func fakeDNS(t *testing.T, records ...string) string {
	t.Helper()
	return startZone(t, records...).addr
}

// zone is a test DNS server whose records can change. With secure set,
// its answers carry the AD bit (as a validating resolver's would).
type zone struct {
	addr   string
	mu     sync.Mutex
	rrs    map[string][]dns.RR
	secure bool
}

func startZone(t *testing.T, records ...string) *zone {
	t.Helper()
	z := &zone{rrs: map[string][]dns.RR{}}
	z.set(t, records...)
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	z.addr = pc.LocalAddr().String()
	srv := &dns.Server{PacketConn: pc, Handler: dns.HandlerFunc(func(w dns.ResponseWriter, req *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(req)
		m.Authoritative = true
		q := req.Question[0]
		z.mu.Lock()
		rrs, ok := z.rrs[strings.ToLower(q.Name)]
		m.AuthenticatedData = z.secure
		z.mu.Unlock()
		if !ok {
			m.Rcode = dns.RcodeNameError
		}
		for _, rr := range rrs {
			if rr.Header().Rrtype == q.Qtype {
				m.Answer = append(m.Answer, rr)
			}
		}
		w.WriteMsg(m)
	})}
	go srv.ActivateAndServe()
	t.Cleanup(func() { srv.Shutdown() })
	return z
}

// set replaces the records of the names in records.
func (z *zone) set(t *testing.T, records ...string) {
	t.Helper()
	z.mu.Lock()
	defer z.mu.Unlock()
	seen := map[string]bool{}
	for _, l := range records {
		rr, err := dns.NewRR(l)
		if err != nil {
			t.Fatal(err)
		}
		n := strings.ToLower(rr.Header().Name)
		if !seen[n] {
			delete(z.rrs, n)
			seen[n] = true
		}
		z.rrs[n] = append(z.rrs[n], rr)
	}
}

// fakeMX is an SMTP server whose RCPT replies a test chooses.
type fakeMX struct {
	addr string
	mu   sync.Mutex
	got  []string // "rcpt|data"
	// gotTLS counts the copies received over TLS.
	gotTLS int
	// mailOpts and rcptOpts are the parameters of every MAIL and RCPT.
	mailOpts []smtp.MailOptions
	rcptOpts []smtp.RcptOptions
	rcpt     func(to string) error
	srv      *smtp.Server
}

func startFakeMX(t *testing.T, addr string, maxSize int64) *fakeMX {
	t.Helper()
	return startFakeMXWith(t, addr, maxSize, func(*smtp.Server) {})
}

// startFakeMXWith lets a test set up the server (TLS, extensions) before
// it serves.
func startFakeMXWith(t *testing.T, addr string, maxSize int64, setup func(*smtp.Server)) *fakeMX {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeMX{addr: ln.Addr().String()}
	f.srv = smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) { return &fakeSession{f: f, c: c}, nil }))
	f.srv.Domain = "mx.test"
	f.srv.MaxMessageBytes = maxSize
	setup(f.srv)
	go f.srv.Serve(ln)
	t.Cleanup(func() { f.srv.Close() })
	return f
}

func (f *fakeMX) received() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.got...)
}

func (f *fakeMX) setRcpt(fn func(string) error) {
	f.mu.Lock()
	f.rcpt = fn
	f.mu.Unlock()
}

type fakeSession struct {
	f  *fakeMX
	c  *smtp.Conn
	to []string
}

func (s *fakeSession) Mail(_ string, o *smtp.MailOptions) error {
	s.f.mu.Lock()
	s.f.mailOpts = append(s.f.mailOpts, *o)
	s.f.mu.Unlock()
	return nil
}
func (s *fakeSession) Rcpt(to string, o *smtp.RcptOptions) error {
	s.f.mu.Lock()
	fn := s.f.rcpt
	s.f.rcptOpts = append(s.f.rcptOpts, *o)
	s.f.mu.Unlock()
	if fn != nil {
		if err := fn(to); err != nil {
			return err
		}
	}
	s.to = append(s.to, to)
	return nil
}
func (s *fakeSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.f.mu.Lock()
	_, tls := s.c.TLSConnectionState()
	for _, to := range s.to {
		s.f.got = append(s.f.got, to+"|"+string(b))
		if tls {
			s.f.gotTLS++
		}
	}
	s.f.mu.Unlock()
	return nil
}
func (s *fakeSession) Reset()        { s.to = nil }
func (s *fakeSession) Logout() error { return nil }

// env is a runner with a queue, a store with sender@local.example, and a
// DNS server.
type testEnv struct {
	q      delivery.Queue
	st     store.Store
	sender store.Account
	runner *Runner
	cancel context.CancelFunc
	done   chan struct{}
}

func newTestEnv(t *testing.T, dnsAddr string, mxPort int, tweak func(*Options)) *testEnv {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	st, err := sqlite.Open(ctx, sqlite.Options{Dir: dir + "/store", Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	q := delivery.StoreQueue{Store: st}
	if _, err := st.CreateDomain(ctx, "local.example"); err != nil {
		t.Fatal(err)
	}
	acct, err := st.CreateAccount(ctx, store.NewAccount{Address: "sender@local.example", PasswordHash: "x"})
	if err != nil {
		t.Fatal(err)
	}
	secret, err := auth.LoadSecretKey(dir)
	if err != nil {
		t.Fatal(err)
	}
	kd := msgauth.NewStoreKeys(st, secret, 0, nil)
	if _, err := kd.Generate(ctx, "local.example", time.Now()); err != nil {
		t.Fatal(err)
	}
	opts := Options{Queue: q, Store: st, Resolver: &delivery.Resolver{Store: st}, DNS: msgauth.NewResolver(dnsAddr),
		DKIM: kd, Hostname: "mail.local.example", RetryInitial: 200 * time.Millisecond, RetryMax: 400 * time.Millisecond,
		MaxAge: time.Hour, MXPort: mxPort, ConnectTimeout: 2 * time.Second, PollInterval: 100 * time.Millisecond,
		Log: slog.New(slog.NewTextHandler(testWriter{t}, nil))}
	if tweak != nil {
		tweak(&opts)
	}
	e := &testEnv{q: q, st: st, sender: acct, runner: New(opts), done: make(chan struct{})}
	rctx, cancel := context.WithCancel(ctx)
	e.cancel = cancel
	go func() { e.runner.Run(rctx); close(e.done) }()
	t.Cleanup(func() { cancel(); <-e.done })
	return e
}

func (e *testEnv) enqueue(t *testing.T, from string, to ...string) {
	t.Helper()
	msg := "From: " + from + "\r\nTo: " + strings.Join(to, ", ") + "\r\nSubject: test message\r\n\r\nHello.\r\n"
	acct := int64(0)
	if from != "" {
		acct = e.sender.ID
	}
	if _, err := e.runner.Notify(e.q).Enqueue(context.Background(), delivery.QueueEnvelope{From: from, To: to, AccountID: acct}, strings.NewReader(msg)); err != nil {
		t.Fatal(err)
	}
}

func (e *testEnv) inbox(t *testing.T) []string {
	t.Helper()
	ctx := context.Background()
	f, err := e.st.FolderByRole(ctx, e.sender.ID, store.RoleInbox)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for m, err := range e.st.Messages(ctx, f.ID) {
		if err != nil {
			t.Fatal(err)
		}
		b, err := e.st.OpenBody(ctx, m)
		if err != nil {
			t.Fatal(err)
		}
		data, _ := io.ReadAll(b)
		b.Close()
		out = append(out, string(data))
	}
	return out
}

func (e *testEnv) queueLen(t *testing.T) int {
	t.Helper()
	envs, err := e.q.List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return len(envs)
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestMXOrderFallbackAndDKIM(t *testing.T) {
	mx := startFakeMX(t, "127.0.0.1:0", 0)
	_, port, _ := net.SplitHostPort(mx.addr)
	var p int
	fmt.Sscan(port, &p)
	d := fakeDNS(t,
		"remote.example. 300 IN MX 20 live.remote.example.",
		"remote.example. 300 IN MX 10 dead.remote.example.",
		"dead.remote.example. 300 IN A 127.0.0.2",
		"live.remote.example. 300 IN A 127.0.0.1",
		"implicit.example. 300 IN A 127.0.0.1",
	)
	e := newTestEnv(t, d, p, nil)
	e.enqueue(t, "sender@local.example", "a@remote.example", "b@remote.example", "c@implicit.example")
	eventually(t, "three copies", func() bool { return len(mx.received()) == 3 })
	eventually(t, "an empty queue", func() bool { return e.queueLen(t) == 0 })
	for _, m := range mx.received() {
		if !strings.Contains(m, "DKIM-Signature: a=ed25519-sha256") || !strings.Contains(m, "d=local.example") {
			t.Errorf("not signed: %s", m)
		}
	}
	if n := len(e.inbox(t)); n != 0 {
		t.Errorf("%d bounces for delivered mail", n)
	}
}

func TestPermanentFailuresBounceAtOnce(t *testing.T) {
	mx := startFakeMX(t, "127.0.0.1:0", 0)
	_, port, _ := net.SplitHostPort(mx.addr)
	var p int
	fmt.Sscan(port, &p)
	mx.setRcpt(func(to string) error {
		if strings.HasPrefix(to, "gone@") {
			return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such user here"}
		}
		return nil
	})
	d := fakeDNS(t,
		"remote.example. 300 IN MX 10 mx.remote.example.",
		"mx.remote.example. 300 IN A 127.0.0.1",
		"nullmx.example. 300 IN MX 0 .",
	)
	e := newTestEnv(t, d, p, nil)
	e.enqueue(t, "sender@local.example", "ok@remote.example", "gone@remote.example", "x@nullmx.example", "y@nxdomain.example")
	eventually(t, "an empty queue", func() bool { return e.queueLen(t) == 0 })
	got := e.inbox(t)
	if len(got) != 1 {
		t.Fatalf("%d bounces, want 1", len(got))
	}
	for _, want := range []string{"gone@remote.example", "no such user here", "Status: 5.1.1",
		"x@nullmx.example", "null MX", "y@nxdomain.example", "not found", "multipart/report"} {
		if !strings.Contains(got[0], want) {
			t.Errorf("bounce lacks %q:\n%s", want, got[0])
		}
	}
	if strings.Contains(got[0], "Final-Recipient: rfc822; ok@remote.example") {
		t.Errorf("bounce names the delivered recipient")
	}
	if n := len(mx.received()); n != 1 {
		t.Errorf("%d copies delivered, want 1", n)
	}
}

func TestTemporaryFailureRetriesThenDelivers(t *testing.T) {
	mx := startFakeMX(t, "127.0.0.1:0", 0)
	var mu sync.Mutex
	tries := 0
	mx.setRcpt(func(string) error {
		mu.Lock()
		defer mu.Unlock()
		tries++
		if tries < 3 {
			return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "try later"}
		}
		return nil
	})
	e := newTestEnv(t, "", 25, func(o *Options) {
		o.Routes = config.Routes{"*": {Host: mx.addr}}
	})
	e.enqueue(t, "sender@local.example", "a@anywhere.example")
	eventually(t, "delivery after retries", func() bool { return len(mx.received()) == 1 })
	eventually(t, "an empty queue", func() bool { return e.queueLen(t) == 0 })
	if n := len(e.inbox(t)); n != 0 {
		t.Errorf("%d bounces for mail that was delivered", n)
	}
	mu.Lock()
	defer mu.Unlock()
	if tries != 3 {
		t.Errorf("%d tries, want 3", tries)
	}
}

func TestNeverBounceABounce(t *testing.T) {
	mx := startFakeMX(t, "127.0.0.1:0", 0)
	mx.setRcpt(func(string) error {
		return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no"}
	})
	e := newTestEnv(t, "", 25, func(o *Options) { o.Routes = config.Routes{"*": {Host: mx.addr}} })
	e.enqueue(t, "", "sender@remote.example")
	eventually(t, "an empty queue", func() bool { return e.queueLen(t) == 0 })
	time.Sleep(300 * time.Millisecond)
	if n := e.queueLen(t); n != 0 {
		t.Errorf("a bounce of a bounce was queued")
	}
}

func TestTooBigAndMaxAge(t *testing.T) {
	mx := startFakeMX(t, "127.0.0.1:0", 50)
	e := newTestEnv(t, "", 25, func(o *Options) {
		o.Routes = config.Routes{"big.example": {Host: mx.addr}, "closed.example": {Host: "127.0.0.1:1"}}
		o.MaxAge = time.Second
	})
	e.enqueue(t, "sender@local.example", "a@big.example")
	e.enqueue(t, "sender@local.example", "b@closed.example")
	eventually(t, "an empty queue", func() bool { return e.queueLen(t) == 0 })
	var all string
	for _, raw := range e.inbox(t) {
		// Decode the quoted-printable human part (after the header,
		// whose DKIM-Signature is no quoted-printable).
		_, body, _ := strings.Cut(raw, "\r\n\r\n")
		dec, _ := io.ReadAll(quotedprintable.NewReader(strings.NewReader(body)))
		all += raw + string(dec)
	}
	for _, want := range []string{"larger than", "5.3.4", "gave up after", "connection refused", "отклонил соединение"} {
		if !strings.Contains(all, want) {
			t.Errorf("bounces lack %q:\n%s", want, all)
		}
	}
}

func TestRequireTLSRoute(t *testing.T) {
	mx := startFakeMX(t, "127.0.0.1:0", 0) // no STARTTLS
	e := newTestEnv(t, "", 25, func(o *Options) {
		o.Routes = config.Routes{"*": {Host: mx.addr, RequireTLS: true}}
	})
	e.enqueue(t, "sender@local.example", "a@tls.example")
	eventually(t, "a failed attempt", func() bool {
		envs, _ := e.q.List(context.Background())
		return len(envs) == 1 && strings.Contains(envs[0].LastError, "STARTTLS")
	})
	if n := len(mx.received()); n != 0 {
		t.Errorf("delivered without TLS")
	}
}

func TestBackoff(t *testing.T) {
	r := New(Options{RetryInitial: 5 * time.Minute, RetryMax: 4 * time.Hour})
	want := []time.Duration{5 * time.Minute, 10 * time.Minute, 20 * time.Minute, 40 * time.Minute, 80 * time.Minute, 160 * time.Minute, 4 * time.Hour, 4 * time.Hour}
	for i, w := range want {
		if got := r.backoff(i + 1); got != w {
			t.Errorf("backoff(%d) = %s, want %s", i+1, got, w)
		}
	}
}

// testWriter sends logs to t.Log.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

func TestLeases(t *testing.T) {
	mx := startFakeMX(t, "127.0.0.1:0", 0)
	ctx := context.Background()
	e := newTestEnv(t, "", 25, func(o *Options) { o.Routes = config.Routes{"*": {Host: mx.addr}} })
	host, _, _ := strings.Cut(e.runner.owner, "/")
	enqueueLeased := func(to, owner string) {
		env := delivery.QueueEnvelope{From: "sender@local.example", To: []string{to}, AccountID: e.sender.ID,
			LeaseOwner: owner, LeaseUntil: time.Now().Add(time.Hour)}
		if _, err := e.q.Enqueue(ctx, env, strings.NewReader("Subject: x\r\n\r\nx\r\n")); err != nil {
			t.Fatal(err)
		}
	}
	// Left by a crashed process on this host: taken over at once.
	enqueueLeased("crashed@remote.example", host+"/deadbeef")
	// Held by an engine on another node: left alone until it expires.
	enqueueLeased("other@remote.example", "other-node/12345678")
	e.runner.Wake()
	eventually(t, "the crashed attempt retried", func() bool { return len(mx.received()) == 1 })
	time.Sleep(500 * time.Millisecond)
	if got := mx.received(); len(got) != 1 || !strings.HasPrefix(got[0], "crashed@") {
		t.Errorf("received %d: %v", len(got), got)
	}
	if n := e.queueLen(t); n != 1 {
		t.Errorf("queue has %d messages, want the other node's one", n)
	}
}
