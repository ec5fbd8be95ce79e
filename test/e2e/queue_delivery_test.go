package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/pochta-mail/pochta/internal/store"
)

// twoServers starts B (domain b.example) and A (domain a.example) whose
// mail for b.example goes to B, with DNS records of a.example in a test
// DNS server both use. queueExtra is more [queue] settings for A.
func twoServers(t *testing.T, queueExtra, routesExtra string) (a, b *Server, d *testDNS) {
	t.Helper()
	d = startDNS(t)
	b = StartServer(t, dnsConfig(d))
	b.Pochta(t, "domain", "add", "b.example")
	a = StartServer(t, dnsConfig(d)+"\n[queue]\n"+queueExtra+"\n[queue.routes]\n"+
		fmt.Sprintf("%q = %q\n", "b.example", b.Addr("smtp"))+routesExtra)
	a.Pochta(t, "domain", "add", "a.example")
	a.AddUser(t, "alice@a.example", "alice-secret-1")
	d.AddZoneText(t, a.Pochta(t, "domain", "dns", "a.example"))
	// The MX host of a.example is A's hostname.
	d.Add(t, "mail.example.org. 300 IN A 127.0.0.1")
	return a, b, d
}

func TestQueueDeliversToOtherServerWithDKIM(t *testing.T) {
	t.Parallel()
	a, b, _ := twoServers(t, "", "")
	b.AddUser(t, "bob@b.example", "bob-secret-1")

	msg := simpleMessage("Alice <alice@a.example>", "bob@b.example", "Привет from A", "Hello Bob.\r\nЭто проверка.")
	if r := submit(t, a, "alice@a.example", "alice-secret-1", "alice@a.example", []string{"bob@b.example"}, msg); r.Code != 250 {
		t.Fatalf("submit: %v", r)
	}
	var got []string
	waitFor(t, 30*time.Second, "the message in bob's inbox on B", func() bool {
		got = inbox(t, b, "bob@b.example")
		return len(got) > 0
	})
	if len(got) != 1 {
		t.Fatalf("bob has %d messages", len(got))
	}
	m := got[0]
	head := m[:strings.Index(m, "\r\n\r\n")]
	for _, want := range []string{"DKIM-Signature:", "d=a.example", "Authentication-Results: mail.example.org;",
		"dkim=pass", "header.d=a.example", "spf=pass", "dmarc=pass", "a=ed25519-sha256", "a=rsa-sha256"} {
		if !strings.Contains(head, want) {
			t.Errorf("received header lacks %q:\n%s", want, head)
		}
	}
	if !strings.Contains(m, "Это проверка.") {
		t.Errorf("body changed:\n%s", m)
	}
	if strings.Contains(strings.ToLower(m), "pochta") {
		t.Errorf("the message names the software:\n%s", m)
	}
	waitFor(t, 10*time.Second, "A's queue to empty", func() bool { return queueLen(t, a) == 0 })
	if out := a.Pochta(t, "queue", "list"); !strings.Contains(out, "empty") {
		t.Errorf("queue list = %q", out)
	}
}

func TestQueueRemote550BouncesAtOnce(t *testing.T) {
	t.Parallel()
	// The default retry schedule (5 minutes) would make a retried
	// failure miss the deadline: the bounce must come at once.
	a, _, _ := twoServers(t, "", "")
	msg := simpleMessage("alice@a.example", "nobody@b.example", "to nobody", "hi")
	if r := submit(t, a, "alice@a.example", "alice-secret-1", "alice@a.example", []string{"nobody@b.example"}, msg); r.Code != 250 {
		t.Fatalf("submit: %v", r)
	}
	var got []string
	waitFor(t, 30*time.Second, "a bounce in alice's inbox", func() bool {
		got = inbox(t, a, "alice@a.example")
		return len(got) > 0
	})
	human, status := reportText(t, got[0])
	for _, want := range []string{"nobody@b.example", "550", "5.1.1", "could not be delivered", "не удалось доставить", "Причина"} {
		if !strings.Contains(human, want) {
			t.Errorf("human part lacks %q:\n%s", want, human)
		}
	}
	for _, want := range []string{"Final-Recipient: rfc822; nobody@b.example", "Action: failed", "Status: 5.1.1", "Diagnostic-Code: smtp; 550"} {
		if !strings.Contains(status, want) {
			t.Errorf("delivery-status lacks %q:\n%s", want, status)
		}
	}
	if !strings.Contains(got[0], "Return-Path: <>") || !strings.Contains(got[0], "Subject: to nobody") {
		t.Errorf("bounce lacks the null return path or the original header:\n%s", got[0])
	}
	waitFor(t, 10*time.Second, "A's queue to empty", func() bool { return queueLen(t, a) == 0 })
}

func TestQueueClosedPortRetriesThenBounces(t *testing.T) {
	t.Parallel()
	closed := closedPort(t)
	a, _, _ := twoServers(t, "retry_initial = \"1s\"\nretry_max = \"1s\"\nmax_age = \"5s\"\ndelay_notice = \"2s\"\n",
		fmt.Sprintf("%q = %q\n", "c.example", closed))
	msg := simpleMessage("alice@a.example", "carol@c.example", "to a closed port", "hi")
	if r := submit(t, a, "alice@a.example", "alice-secret-1", "alice@a.example", []string{"carol@c.example"}, msg); r.Code != 250 {
		t.Fatalf("submit: %v", r)
	}
	var got []string
	waitFor(t, 40*time.Second, "the failure report in alice's inbox", func() bool {
		got = inbox(t, a, "alice@a.example")
		for _, m := range got {
			if strings.Contains(m, "Action: failed") {
				return true
			}
		}
		return false
	})
	if n := strings.Count(a.Logs(), "msg=\"will retry\""); n < 2 {
		t.Errorf("%d retries logged, want at least 2:\n%s", n, a.Logs())
	}
	var delayed, failed int
	for _, m := range got {
		human, status := reportText(t, m)
		switch {
		case strings.Contains(status, "Action: delayed"):
			delayed++
			if !strings.Contains(human, "not been delivered yet") || !strings.Contains(human, "пока не доставлено") {
				t.Errorf("delay notice:\n%s", human)
			}
		case strings.Contains(status, "Action: failed"):
			failed++
			for _, want := range []string{"connection refused", "gave up after", "отклонил соединение", "попытки доставки прекращены", "carol@c.example"} {
				if !strings.Contains(human, want) {
					t.Errorf("failure report lacks %q:\n%s", want, human)
				}
			}
		}
	}
	if delayed != 1 || failed != 1 {
		t.Errorf("%d delay notices and %d failure reports, want 1 and 1", delayed, failed)
	}
	waitFor(t, 10*time.Second, "A's queue to empty", func() bool { return queueLen(t, a) == 0 })
}

func TestQueueRestartMidRetryLosesNothing(t *testing.T) {
	t.Parallel()
	later := closedPort(t)
	a, _, _ := twoServers(t, "retry_initial = \"1s\"\nretry_max = \"1s\"\n",
		fmt.Sprintf("%q = %q\n", "d.example", later))
	const n = 5
	c := loginSubmission(t, a, "alice@a.example", "alice-secret-1")
	for i := range n {
		to := fmt.Sprintf("u%d@d.example", i)
		if r := c.send("alice@a.example", []string{to}, simpleMessage("alice@a.example", to, fmt.Sprintf("restart %d", i), "hi")); r.Code != 250 {
			t.Fatalf("send %d: %v", i, r)
		}
	}
	c.cmd("QUIT")
	// A guard against a hang, not a speed check: a loaded machine was
	// once slower than 20 s here.
	waitFor(t, time.Minute, "a failed attempt", func() bool { return strings.Count(a.Logs(), "msg=\"will retry\"") >= n })
	a.Restart(t)
	if q := queueLen(t, a); q != n {
		t.Fatalf("after the restart the queue has %d messages, want %d", q, n)
	}
	s := startSink(t, later)
	waitFor(t, 30*time.Second, "every message at the sink", func() bool { return len(s.Messages()) >= n })
	// An empty queue has no attempt left that could send a duplicate.
	waitFor(t, 10*time.Second, "A's queue to empty", func() bool { return queueLen(t, a) == 0 })
	seen := map[string]int{}
	for _, m := range s.Messages() {
		seen[strings.Join(m.To, ",")]++
	}
	for i := range n {
		if k := fmt.Sprintf("u%d@d.example", i); seen[k] != 1 {
			t.Errorf("%s got %d copies", k, seen[k])
		}
	}
	if len(s.Messages()) != n {
		t.Errorf("sink got %d messages, want %d", len(s.Messages()), n)
	}
}

func TestQueueManyMessagesExactlyOnce(t *testing.T) {
	t.Parallel()
	a, b, _ := twoServers(t, "", "")
	const users, msgs = 20, 200
	for i := range users {
		b.AddUser(t, fmt.Sprintf("r%d@b.example", i), "recipient-pw-1")
	}
	start := time.Now()
	c := loginSubmission(t, a, "alice@a.example", "alice-secret-1")
	for i := range msgs {
		to := []string{fmt.Sprintf("r%d@b.example", i%users), fmt.Sprintf("r%d@b.example", (i+1)%users)}
		body := simpleMessage("alice@a.example", strings.Join(to, ", "), fmt.Sprintf("bulk %d", i), strings.Repeat("x", 1000))
		if r := c.send("alice@a.example", to, body); r.Code != 250 {
			t.Fatalf("send %d: %v", i, r)
		}
	}
	c.cmd("QUIT")
	t.Logf("%d messages submitted in %s", msgs, time.Since(start))
	waitFor(t, 6*time.Minute, "A's queue to empty", func() bool { return queueLen(t, a) == 0 })
	t.Logf("all delivered %s after the first submission", time.Since(start))
	var addrs []string
	for i := range users {
		addrs = append(addrs, fmt.Sprintf("r%d@b.example", i))
	}
	for addr, subjects := range inboxSubjects(t, b, addrs) {
		n := 0
		for s, k := range subjects {
			n += k
			if k != 1 {
				t.Errorf("%s got %q %d times", addr, s, k)
			}
		}
		if n != 2*msgs/users {
			t.Errorf("%s has %d messages, want %d", addr, n, 2*msgs/users)
		}
	}
}

func TestIncomingDMARCPolicies(t *testing.T) {
	t.Parallel()
	d := startDNS(t)
	b := StartServer(t, dnsConfig(d))
	b.Pochta(t, "domain", "add", "b.example")
	b.AddUser(t, "bob@b.example", "bob-secret-1")
	d.Add(t,
		`reject.example. 300 IN TXT "v=spf1 -all"`,
		`_dmarc.reject.example. 300 IN TXT "v=DMARC1; p=reject"`,
		`quar.example. 300 IN TXT "v=spf1 -all"`,
		`_dmarc.quar.example. 300 IN TXT "v=DMARC1; p=quarantine"`,
		`ok.example. 300 IN TXT "v=spf1 ip4:127.0.0.1 -all"`,
		`_dmarc.ok.example. 300 IN TXT "v=DMARC1; p=reject"`,
	)
	send := func(from, extraHeader string) smtpReply {
		c := dialSMTP(t, b.Addr("smtp"))
		defer c.cmd("QUIT")
		c.expect("EHLO peer.test", "250")
		return c.send(from, []string{"bob@b.example"}, extraHeader+simpleMessage(from, "bob@b.example", "from "+from, "hi"))
	}
	if r := send("x@reject.example", ""); r.Code != 550 || !strings.Contains(r.Text(), "5.7.1") || !strings.Contains(r.Text(), "DMARC") {
		t.Errorf("p=reject failure: %v", r)
	}
	if r := send("x@quar.example", ""); r.Code != 250 {
		t.Fatalf("p=quarantine: %v", r)
	}
	forged := "Authentication-Results: mail.example.org; dkim=pass header.d=ok.example\r\nAuthentication-Results: other.example; spf=pass\r\n"
	if r := send("x@ok.example", forged); r.Code != 250 {
		t.Fatalf("aligned SPF: %v", r)
	}
	spam := folderMessages(t, b, "bob@b.example", store.RoleJunk)
	if len(spam) != 1 || !strings.Contains(spam[0], "quar.example") || !strings.Contains(spam[0], "dmarc=fail") {
		t.Errorf("spam folder = %q", spam)
	}
	got := inbox(t, b, "bob@b.example")
	if len(got) != 1 {
		t.Fatalf("inbox has %d messages", len(got))
	}
	if strings.Contains(got[0], "dkim=pass") || strings.Count(got[0], "Authentication-Results: mail.example.org") != 1 ||
		!strings.Contains(got[0], "Authentication-Results: other.example") || !strings.Contains(got[0], "spf=pass") || !strings.Contains(got[0], "dmarc=pass") {
		t.Errorf("forged field kept or results wrong:\n%s", got[0])
	}
}
