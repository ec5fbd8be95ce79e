package e2e

import (
	"strings"
	"testing"
	"time"
)

// waitInbox polls an account's inbox until it holds n messages (the
// forward goes through the queue, which delivers in the background).
func waitInbox(t *testing.T, s *Server, addr string, n int) []string {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		got := inbox(t, s, addr)
		if len(got) >= n || time.Now().After(deadline) {
			return got
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestForwardToLocalAccount: mail to an account that forwards reaches the
// target account through the queue, with the original sender and the
// forwarding account in Delivered-To; with forward-keep the account keeps
// its copy, without it the account's inbox stays empty.
func TestForwardToLocalAccount(t *testing.T) {
	t.Parallel()
	s := StartServer(t, "")
	for _, u := range []string{"alice", "bob", "carol", "dave"} {
		s.AddUser(t, u+"@example.org", u+"-secret-1")
	}
	s.Pochta(t, "user", "set", "alice@example.org", "--forward", "bob@example.org", "--forward-keep=off")
	s.Pochta(t, "user", "set", "dave@example.org", "--forward", "bob@example.org", "--forward-keep=on")

	for _, to := range []string{"alice@example.org", "dave@example.org"} {
		msg := simpleMessage("carol@example.org", to, "for "+to, "hello "+to)
		if r := submit(t, s, "carol@example.org", "carol-secret-1", "carol@example.org", []string{to}, msg); r.Code != 250 {
			t.Fatalf("submit to %s: %v", to, r)
		}
	}
	got := waitInbox(t, s, "bob@example.org", 2)
	if len(got) != 2 {
		t.Fatalf("bob got %d messages, want the 2 forwards:\n%s\n%s", len(got), strings.Join(got, "\n---\n"), s.Logs())
	}
	for _, m := range got {
		from := "carol@example.org"
		if !strings.HasPrefix(m, "Return-Path: <"+from+">\r\nDelivered-To: bob@example.org\r\nDelivered-To: ") {
			t.Errorf("forwarded copy starts:\n%s", m[:min(len(m), 300)])
		}
	}
	if !strings.Contains(got[0]+got[1], "Delivered-To: alice@example.org") || !strings.Contains(got[0]+got[1], "Delivered-To: dave@example.org") {
		t.Error("the forwards do not name the forwarding accounts")
	}
	if n := len(inbox(t, s, "alice@example.org")); n != 0 {
		t.Errorf("alice forwards without a copy but has %d messages", n)
	}
	if d := inbox(t, s, "dave@example.org"); len(d) != 1 || !strings.Contains(d[0], "hello dave@example.org") {
		t.Errorf("dave keeps a copy, has %d messages", len(d))
	}
	// The SMTP server, the queue and the listeners feed /metrics.
	m := curlWeb(t, "http://"+s.Addr("http")+"/metrics")
	for _, want := range []string{`mail_messages_received_total{kind="submission"} 2`, `mail_messages_sent_total{result="delivered"} 2`,
		`mail_connections_total{listener="submission"} 2`, `mail_logins_total{protocol="smtp",result="ok"} 2`, "mail_delivery_latency_seconds_count 2"} {
		if !strings.Contains(m, want) {
			t.Errorf("metrics lack %s:\n%s", want, grepLines(m, "mail_"))
		}
	}
}
