package e2e

import (
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
)

// startNode starts another `pochta serve` node with its own data folder
// and config made like StartServer's, sharing whatever store extra names.
// Unlike StartServer it adds no domain (the shared store has it). The
// server key (data_dir/secret.key, which seals the DKIM keys and APOP
// secrets in the store) of keyFrom's data folder is copied in, as an
// operator gives every node the same key.
func startNode(t testing.TB, extra string, keyFrom *Server) *Server {
	t.Helper()
	dir := t.TempDir()
	s := &Server{t: t, Dir: dir, Config: filepath.Join(dir, "pochta.toml"), Addrs: map[string]string{}, done: make(chan struct{})}
	cfg := fmt.Sprintf("hostname = \"mail.example.org\"\ndata_dir = %q\n\n%s\n[auth]\nfailed_login_delay = \"0s\"\n\n%s\n",
		filepath.Join(dir, "data"), allListeners, extra)
	if err := os.WriteFile(s.Config, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	if keyFrom != nil {
		if err := os.MkdirAll(filepath.Join(dir, "data"), 0o700); err != nil {
			t.Fatal(err)
		}
		if out, err := exec.Command("cp", "-a", filepath.Join(keyFrom.Dir, "data", "secret.key"), filepath.Join(dir, "data", "secret.key")).CombinedOutput(); err != nil {
			t.Fatalf("copy the server key: %v %s", err, out)
		}
	}
	s.start(t)
	return s
}

// Kill ends the server with SIGKILL: no clean-up of any kind.
func (s *Server) Kill(t testing.TB) {
	t.Helper()
	if err := s.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	s.cmd.Wait()
	<-s.done
}

// countingPeer is an SMTP server standing for the rest of the Internet:
// it counts what it accepts, each DATA takes a while, and it can be held
// so that every delivery in progress waits inside DATA. A message counts
// only if its sender is still connected when the reply goes out.
type countingPeer struct {
	Addr  string
	delay time.Duration

	mu      sync.Mutex
	cond    *sync.Cond
	held    bool
	waiting int
	got     map[string]int // Subject → times accepted
	srv     *smtp.Server
}

func startCountingPeer(t *testing.T, delay time.Duration) *countingPeer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &countingPeer{Addr: ln.Addr().String(), delay: delay, got: map[string]int{}}
	p.cond = sync.NewCond(&p.mu)
	p.srv = smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
		return &peerSession{p: p, conn: c.Conn()}, nil
	}))
	p.srv.Domain = "peer.test"
	go p.srv.Serve(ln)
	t.Cleanup(func() { p.release(); p.srv.Close() })
	return p
}

// hold makes new and running DATA commands wait until release.
func (p *countingPeer) hold() { p.mu.Lock(); p.held = true; p.mu.Unlock() }

func (p *countingPeer) release() {
	p.mu.Lock()
	p.held = false
	p.cond.Broadcast()
	p.mu.Unlock()
}

// state returns how many deliveries wait in DATA and the counts.
func (p *countingPeer) state() (waiting int, got map[string]int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	got = map[string]int{}
	for k, v := range p.got {
		got[k] = v
	}
	return p.waiting, got
}

type peerSession struct {
	p    *countingPeer
	conn net.Conn
}

var subjectRE = regexp.MustCompile(`(?m)^Subject: (.*)\r?$`)

func (s *peerSession) Mail(string, *smtp.MailOptions) error { return nil }
func (s *peerSession) Rcpt(string, *smtp.RcptOptions) error { return nil }
func (s *peerSession) Reset()                               {}
func (s *peerSession) Logout() error                        { return nil }
func (s *peerSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	m := subjectRE.FindSubmatch(b)
	if m == nil {
		return &smtp.SMTPError{Code: 550, Message: "no subject"}
	}
	time.Sleep(s.p.delay)
	s.p.mu.Lock()
	s.p.waiting++
	for s.p.held {
		s.p.cond.Wait()
	}
	s.p.waiting--
	s.p.mu.Unlock()
	// Is the sender still there? It sends nothing until it has the
	// reply, so a read can only time out (alive) or fail (gone).
	s.conn.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	_, rerr := s.conn.Read(make([]byte, 1))
	s.conn.SetReadDeadline(time.Time{})
	if ne, ok := rerr.(net.Error); !ok || !ne.Timeout() {
		return &smtp.SMTPError{Code: 451, Message: "sender gone"}
	}
	s.p.mu.Lock()
	s.p.got[strings.TrimSpace(string(m[1]))]++
	s.p.mu.Unlock()
	return nil
}

// deliveredBy counts the remote deliveries a node logged, and those of
// them that took over a message another node had claimed (attempt > 1:
// every first attempt here succeeds unless its node died).
func deliveredBy(s *Server) (all, takenOver int) {
	for _, l := range strings.Split(s.Logs(), "\n") {
		if !strings.Contains(l, "msg=delivered service=queue ") {
			continue
		}
		all++
		if !strings.Contains(l, " attempt=1 ") {
			takenOver++
			s.t.Logf("not a first attempt: %s", l)
		}
	}
	return all, takenOver
}

// TestThreeNodes runs three `pochta serve` processes on one PostgreSQL
// database: mail delivered on node 1 wakes an IMAP IDLE on node 2; a POP3
// session on node 2 locks the maildrop against node 3 until node 2 is
// killed; and the outbound queue is worked by all three nodes, each
// message reaching the remote server exactly once although node 2 is
// killed (SIGKILL) in the middle with deliveries in progress.
func TestThreeNodes(t *testing.T) {
	t.Parallel()
	dsn := pgDatabase(t)
	peer := startCountingPeer(t, 300*time.Millisecond)
	extra := fmt.Sprintf(`[store]
backend = "postgres"
dsn = %q

[queue]
concurrency = 2
concurrency_per_domain = 2
retry_initial = "1s"
retry_max = "2s"
lease_time = "30s"

[queue.routes]
"*" = %q
`, dsn, peer.Addr)
	n1 := StartServer(t, extra)
	n2 := startNode(t, extra, n1)
	n3 := startNode(t, extra, n1)
	n1.AddUser(t, "alice@example.org", "alice-secret-1")
	n1.AddUser(t, "bob@example.org", "bob-secret-1")

	// IMAP IDLE on node 2 hears of a delivery on node 1.
	im := dialIMAPS(t, n2)
	im.ok("LOGIN bob@example.org bob-secret-1")
	im.ok("SELECT INBOX")
	im.write("i IDLE\r\n")
	if l := im.line(); !strings.HasPrefix(l, "+ ") {
		t.Fatalf("IDLE: %q", l)
	}
	msg := "From: someone@elsewhere.example\r\nTo: bob@example.org\r\nSubject: through node 1\r\n\r\nHello.\r\n"
	if err := sendSMTP(n1, "someone@elsewhere.example", "bob@example.org", msg); err != nil {
		t.Fatalf("SMTP on node 1: %v", err)
	}
	if l := im.line(); l != "* 1 EXISTS" {
		t.Fatalf("IDLE on node 2 after a delivery on node 1: %q, want * 1 EXISTS", l)
	}
	im.write("DONE\r\n")
	for l := im.line(); !strings.HasPrefix(l, "i "); l = im.line() {
	}

	// POP3 on node 2 holds bob's maildrop: node 3 gets [IN-USE].
	p2 := dialPOP3(t, n2.Addr("pop3s"), n2.TLSConfig())
	p2.cmd("USER bob@example.org")
	if r := p2.cmd("PASS bob-secret-1"); !strings.HasPrefix(r, "+OK") {
		t.Fatalf("POP3 on node 2: %q", r)
	}
	p3 := dialPOP3(t, n3.Addr("pop3s"), n3.TLSConfig())
	p3.cmd("USER bob@example.org")
	if r := p3.cmd("PASS bob-secret-1"); !strings.HasPrefix(r, "-ERR [IN-USE]") {
		t.Fatalf("POP3 on node 3 while node 2 holds the maildrop: %q, want -ERR [IN-USE]", r)
	}
	p3.cmd("QUIT")

	// Queue work: submitted on node 1, delivered by every node.
	const total = 90
	c := loginSubmission(t, n1, "alice@example.org", "alice-secret-1")
	for i := range total {
		to := fmt.Sprintf("r%d@remote.example", i)
		if r := c.send("alice@example.org", []string{to}, simpleMessage("alice@example.org", to, fmt.Sprintf("m%03d", i), "text")); r.Code != 250 {
			t.Fatalf("submit %d: %v", i, r)
		}
	}
	c.cmd("QUIT")
	waitFor(t, 2*time.Minute, "nodes 2 and 3 to deliver some", func() bool {
		a2, _ := deliveredBy(n2)
		a3, _ := deliveredBy(n3)
		return a2 > 0 && a3 > 0
	})
	// Hold the peer until every delivery in progress waits in DATA (none
	// is between the peer's reply and its node's record of it), then
	// kill node 2 with its deliveries in progress.
	peer.hold()
	waitFor(t, time.Minute, "every delivery in progress to wait at the peer", func() bool {
		w, got := peer.state()
		n := 0
		for _, k := range got {
			n += k
		}
		return w == 6 || (w > 0 && w+n == total)
	})
	w, _ := peer.state()
	n2.Kill(t)
	peer.release()
	t.Logf("node 2 killed with %d deliveries waiting at the peer", w)

	// Its POP3 lock went with it.
	waitFor(t, 30*time.Second, "node 3 to get bob's maildrop", func() bool {
		p := dialPOP3(t, n3.Addr("pop3s"), n3.TLSConfig())
		defer p.cmd("QUIT")
		p.cmd("USER bob@example.org")
		return strings.HasPrefix(p.cmd("PASS bob-secret-1"), "+OK")
	})

	waitFor(t, 3*time.Minute, "every message to reach the peer", func() bool {
		_, got := peer.state()
		return len(got) == total
	})
	waitFor(t, time.Minute, "the queue to empty", func() bool { return queueLen(t, n1) == 0 })
	_, got := peer.state()
	for i := range total {
		if k := got[fmt.Sprintf("m%03d", i)]; k != 1 {
			t.Errorf("m%03d reached the peer %d times", i, k)
		}
	}
	a1, t1 := deliveredBy(n1)
	a2, _ := deliveredBy(n2)
	a3, t3 := deliveredBy(n3)
	t.Logf("delivered by node 1: %d, node 2: %d (killed), node 3: %d; taken over from node 2: %d", a1, a2, a3, t1+t3)
	if w == 6 && t1+t3 == 0 {
		t.Errorf("node 2 had deliveries in progress when killed, but nobody took its messages over")
	}
}
