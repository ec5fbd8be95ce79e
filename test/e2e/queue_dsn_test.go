package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestQueueDSNParameters submits with RFC 3461 parameters: NOTIFY=NEVER
// suppresses the bounce of a refused recipient, NOTIFY=SUCCESS to a
// server without DSN brings a "relayed" notice with the ENVID, and to a
// local mailbox a "delivered" one.
func TestQueueDSNParameters(t *testing.T) {
	t.Parallel()
	snk := startSink(t, "127.0.0.1:0")
	a, _, _ := twoServers(t, "", fmt.Sprintf("%q = %q\n", "sink.example", snk.Addr))
	c := loginSubmission(t, a, "alice@a.example", "alice-secret-1")
	// Accepted only because the server offers DSN.
	c.expect("MAIL FROM:<alice@a.example> RET=HDRS ENVID=e2e+2Dtest", "250")
	c.expect("RCPT TO:<x@sink.example> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;X@sink.example", "250")
	c.expect("RCPT TO:<nobody@b.example> NOTIFY=NEVER", "250")
	c.expect("RCPT TO:<alice@a.example> NOTIFY=SUCCESS", "250")
	if r := c.sendData(simpleMessage("alice@a.example", "x@sink.example", "with DSN", "hello")); r.Code != 250 {
		t.Fatalf("DATA: %v", r)
	}
	c.cmd("QUIT")
	waitFor(t, 30*time.Second, "the sink to get the message", func() bool { return len(snk.Messages()) == 1 })
	waitFor(t, 30*time.Second, "A's queue to empty", func() bool { return queueLen(t, a) == 0 })
	var got []string
	waitFor(t, 30*time.Second, "two notices and the copy in alice's inbox", func() bool {
		got = inbox(t, a, "alice@a.example")
		return len(got) >= 3
	})
	if len(got) != 3 {
		t.Fatalf("alice has %d messages, want her copy and two notices", len(got))
	}
	var relayed, delivered string
	for _, m := range got {
		switch {
		case strings.Contains(m, "Action: relayed"):
			relayed = m
		case strings.Contains(m, "Action: delivered"):
			delivered = m
		}
	}
	if relayed == "" || delivered == "" {
		t.Fatalf("notices missing:\n%s", strings.Join(got, "\n----\n"))
	}
	if _, status := reportText(t, delivered); !strings.Contains(status, "Final-Recipient: rfc822; alice@a.example") || !strings.Contains(status, "Status: 2.0.0") {
		t.Errorf("delivered notice:\n%s", status)
	}
	human, status := reportText(t, relayed)
	for _, want := range []string{"Action: relayed", "Final-Recipient: rfc822; x@sink.example", "Original-Recipient: rfc822;X@sink.example",
		"Original-Envelope-Id: e2e-test"} {
		if !strings.Contains(status, want) {
			t.Errorf("notice lacks %q:\n%s", want, status)
		}
	}
	if !strings.Contains(human, "передано") || strings.Contains(status, "nobody@b.example") {
		t.Errorf("notice:\n%s", relayed)
	}
}
