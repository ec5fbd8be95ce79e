package e2e

import (
	"context"

	"bufio"
	"errors"
	"fmt"
	"github.com/pochta-mail/pochta/internal/store"
	"github.com/pochta-mail/pochta/internal/store/sqlite"
	"io"
	"mime/multipart"
	"net"
	"net/mail"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/miekg/dns"
)

// testDNS is a small authoritative DNS server on loopback (UDP and TCP
// on one port) whose records a test sets.
type testDNS struct {
	Addr string
	mu   sync.Mutex
	rrs  map[string][]dns.RR // lower-case FQDN
}

// startDNS runs a test DNS server until the test ends.
func startDNS(t testing.TB) *testDNS {
	t.Helper()
	d := &testDNS{rrs: map[string][]dns.RR{}}
	var pc net.PacketConn
	var ln net.Listener
	for i := 0; ; i++ {
		var err error
		pc, err = net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ln, err = net.Listen("tcp", pc.LocalAddr().String())
		if err == nil {
			break
		}
		pc.Close()
		if i > 20 {
			t.Fatal(err)
		}
	}
	d.Addr = pc.LocalAddr().String()
	h := dns.HandlerFunc(d.serve)
	us := &dns.Server{PacketConn: pc, Handler: h}
	ts := &dns.Server{Listener: ln, Handler: h}
	go us.ActivateAndServe()
	go ts.ActivateAndServe()
	t.Cleanup(func() { us.Shutdown(); ts.Shutdown() })
	return d
}

// Add adds records in zone-file syntax ("name. 300 IN TXT \"...\"").
func (d *testDNS) Add(t testing.TB, lines ...string) {
	t.Helper()
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, l := range lines {
		rr, err := dns.NewRR(l)
		if err != nil {
			t.Fatalf("record %q: %v", l, err)
		}
		if rr == nil {
			continue
		}
		name := strings.ToLower(rr.Header().Name)
		d.rrs[name] = append(d.rrs[name], rr)
	}
}

// AddZoneText adds every record line of `pochta domain dns` output.
func (d *testDNS) AddZoneText(t testing.TB, text string) {
	t.Helper()
	for _, l := range strings.Split(text, "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, ";") {
			d.Add(t, l)
		}
	}
}

func (d *testDNS) serve(w dns.ResponseWriter, req *dns.Msg) {
	m := new(dns.Msg)
	m.SetReply(req)
	m.Authoritative = true
	if len(req.Question) == 1 {
		q := req.Question[0]
		d.mu.Lock()
		rrs, ok := d.rrs[strings.ToLower(q.Name)]
		d.mu.Unlock()
		if !ok {
			m.Rcode = dns.RcodeNameError
		}
		for _, rr := range rrs {
			if rr.Header().Rrtype == q.Qtype {
				m.Answer = append(m.Answer, rr)
			}
		}
	}
	if _, udp := w.RemoteAddr().(*net.UDPAddr); udp {
		size := 512
		if o := req.IsEdns0(); o != nil {
			size = int(o.UDPSize())
		}
		m.Truncate(size)
	}
	w.WriteMsg(m)
}

// sink is an SMTP server that records what it receives.
type sink struct {
	Addr string
	mu   sync.Mutex
	msgs []sinkMsg
	// rcptReply, when set, refuses RCPT TO with it.
	rcptReply *smtp.SMTPError
	srv       *smtp.Server
}

type sinkMsg struct {
	From string
	To   []string
	Data string
}

// startSink runs a sink on addr ("127.0.0.1:0" for any port).
func startSink(t testing.TB, addr string) *sink {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	s := &sink{Addr: ln.Addr().String()}
	s.srv = smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) { return &sinkSession{s: s}, nil }))
	s.srv.Domain = "sink.test"
	s.srv.EnableSMTPUTF8 = true
	go s.srv.Serve(ln)
	t.Cleanup(func() { s.srv.Close() })
	return s
}

// Messages returns what was received so far.
func (s *sink) Messages() []sinkMsg {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]sinkMsg(nil), s.msgs...)
}

type sinkSession struct {
	s    *sink
	from string
	to   []string
}

func (ss *sinkSession) Mail(from string, _ *smtp.MailOptions) error { ss.from = from; return nil }
func (ss *sinkSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	ss.s.mu.Lock()
	r := ss.s.rcptReply
	ss.s.mu.Unlock()
	if r != nil {
		return r
	}
	ss.to = append(ss.to, to)
	return nil
}
func (ss *sinkSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	ss.s.mu.Lock()
	ss.s.msgs = append(ss.s.msgs, sinkMsg{From: ss.from, To: ss.to, Data: string(b)})
	ss.s.mu.Unlock()
	return nil
}
func (ss *sinkSession) Reset()        { ss.from, ss.to = "", nil }
func (ss *sinkSession) Logout() error { return nil }

// closedPort returns a loopback address where nothing listens.
func closedPort(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// waitFor polls cond until it holds or the timeout passes.
func waitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// reportText returns the decoded human-readable part of a delivery
// status notification and the delivery-status part.
func reportText(t testing.TB, raw string) (human, status string) {
	t.Helper()
	m, err := mail.ReadMessage(bufio.NewReader(strings.NewReader(raw)))
	if err != nil {
		t.Fatalf("report: %v\n%s", err, raw)
	}
	ct := m.Header.Get("Content-Type")
	if !strings.HasPrefix(ct, "multipart/report") || !strings.Contains(ct, "delivery-status") {
		t.Fatalf("report Content-Type = %q", ct)
	}
	_, params, _ := strings.Cut(ct, "boundary=\"")
	boundary, _, _ := strings.Cut(params, "\"")
	mr := multipart.NewReader(m.Body, boundary)
	for i := 0; ; i++ {
		p, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("report part %d: %v", i, err)
		}
		b, _ := io.ReadAll(p)
		switch {
		case i == 0:
			human = string(b)
		case strings.HasPrefix(p.Header.Get("Content-Type"), "message/delivery-status"):
			status = string(b)
		}
	}
	if human == "" || status == "" {
		t.Fatalf("report lacks parts:\n%s", raw)
	}
	return human, status
}

// dnsConfig is the [dns] section pointing at a test DNS server.
func dnsConfig(d *testDNS) string {
	return fmt.Sprintf("[dns]\nresolver = %q\n", d.Addr)
}

// queueLen counts the messages in a server's outbound queue.
func queueLen(t testing.TB, s *Server) int {
	t.Helper()
	return len(queued(t, s))
}

// inboxCounts counts the messages per Subject in the inboxes of
// addresses, opening the store once.
func inboxSubjects(t testing.TB, s *Server, addrs []string) map[string]map[string]int {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, sqlite.Options{Dir: filepath.Join(s.Dir, "data")})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	out := map[string]map[string]int{}
	for _, addr := range addrs {
		acct, err := st.AccountByAddress(ctx, addr)
		if err != nil {
			t.Fatalf("account %s: %v", addr, err)
		}
		f, err := st.FolderByRole(ctx, acct.ID, store.RoleInbox)
		if err != nil {
			t.Fatal(err)
		}
		subjects := map[string]int{}
		for m, err := range st.Messages(ctx, f.ID) {
			if err != nil {
				t.Fatal(err)
			}
			b, err := st.OpenBody(ctx, m)
			if err != nil {
				t.Fatal(err)
			}
			msg, err := mail.ReadMessage(b)
			if err != nil {
				b.Close()
				t.Fatal(err)
			}
			subjects[msg.Header.Get("Subject")]++
			b.Close()
		}
		out[addr] = subjects
	}
	return out
}
