package queue

import (
	"context"
	"strings"
	"testing"

	"github.com/emersion/go-smtp"

	"github.com/pochta-mail/pochta/internal/config"
	"github.com/pochta-mail/pochta/internal/delivery"
)

// enqueueDSN queues a message from sender@local.example with DSN
// requests.
func (e *testEnv) enqueueDSN(t *testing.T, dsn delivery.DSN, to ...string) {
	t.Helper()
	msg := "From: sender@local.example\r\nTo: " + strings.Join(to, ", ") + "\r\nSubject: dsn test\r\n\r\nThe body of the message.\r\n"
	env := delivery.QueueEnvelope{From: "sender@local.example", To: to, AccountID: e.sender.ID, DSN: dsn}
	if _, err := e.runner.Notify(e.q).Enqueue(context.Background(), env, strings.NewReader(msg)); err != nil {
		t.Fatal(err)
	}
}

func TestNotifyNeverAndRetFull(t *testing.T) {
	mx := startFakeMX(t, "127.0.0.1:0", 0)
	mx.setRcpt(func(string) error {
		return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such user"}
	})
	e := newTestEnv(t, "", 25, func(o *Options) { o.Routes = config.Routes{"*": {Host: mx.addr}} })
	dsn := delivery.DSN{Ret: "FULL", EnvID: "env-42"}
	dsn.SetRcpt("quiet@remote.example", delivery.RcptDSN{Notify: []string{"NEVER"}})
	dsn.SetRcpt("loud@remote.example", delivery.RcptDSN{Notify: []string{"FAILURE"}, ORcpt: "rfc822;Loud@Remote.Example"})
	e.enqueueDSN(t, dsn, "quiet@remote.example", "loud@remote.example")
	eventually(t, "an empty queue", func() bool { return e.queueLen(t) == 0 })
	got := e.inbox(t)
	if len(got) != 1 {
		t.Fatalf("%d reports, want 1", len(got))
	}
	b := got[0]
	for _, want := range []string{"Final-Recipient: rfc822; loud@remote.example", "Original-Recipient: rfc822;Loud@Remote.Example",
		"Original-Envelope-Id: env-42", "Content-Type: message/rfc822", "The body of the message."} {
		if !strings.Contains(b, want) {
			t.Errorf("report lacks %q:\n%s", want, b)
		}
	}
	if strings.Contains(b, "rfc822; quiet@") || strings.Contains(b, "<quiet@") {
		t.Errorf("report names a NOTIFY=NEVER recipient:\n%s", b)
	}

	// NOTIFY=NEVER alone: no report at all; RET=HDRS: header only.
	dsn = delivery.DSN{Ret: "HDRS"}
	dsn.SetRcpt("quiet@remote.example", delivery.RcptDSN{Notify: []string{"NEVER"}})
	e.enqueueDSN(t, dsn, "quiet@remote.example")
	e.enqueueDSN(t, delivery.DSN{Ret: "HDRS"}, "other@remote.example")
	eventually(t, "an empty queue", func() bool { return e.queueLen(t) == 0 })
	got = e.inbox(t)
	if len(got) != 2 {
		t.Fatalf("%d reports, want 2", len(got))
	}
	if !strings.Contains(got[1], "other@remote.example") || strings.Contains(got[1], "The body of the message.") ||
		!strings.Contains(got[1], "text/rfc822-headers") {
		t.Errorf("RET=HDRS report:\n%s", got[1])
	}
}

func TestNotifySuccess(t *testing.T) {
	plain := startFakeMX(t, "127.0.0.1:0", 0)
	withDSN := startFakeMXWith(t, "127.0.0.1:0", 0, func(s *smtp.Server) { s.EnableDSN = true })
	e := newTestEnv(t, "", 25, func(o *Options) {
		o.Routes = config.Routes{"plain.example": {Host: plain.addr}, "dsn.example": {Host: withDSN.addr}}
	})
	dsn := delivery.DSN{Ret: "HDRS", EnvID: "env-7"}
	dsn.SetRcpt("a@plain.example", delivery.RcptDSN{Notify: []string{"SUCCESS", "FAILURE"}})
	dsn.SetRcpt("b@dsn.example", delivery.RcptDSN{Notify: []string{"SUCCESS"}, ORcpt: "rfc822;B@dsn.example"})
	e.enqueueDSN(t, dsn, "a@plain.example", "b@dsn.example", "c@plain.example")
	eventually(t, "an empty queue", func() bool { return e.queueLen(t) == 0 })
	eventually(t, "a success notice", func() bool { return len(e.inbox(t)) == 1 })
	n := e.inbox(t)[0]
	for _, want := range []string{"Final-Recipient: rfc822; a@plain.example", "Action: relayed", "Status: 2.0.0", "Original-Envelope-Id: env-7"} {
		if !strings.Contains(n, want) {
			t.Errorf("notice lacks %q:\n%s", want, n)
		}
	}
	// b's server does DSN itself: it got the requests, and we send no
	// notice for b; c asked for none.
	if strings.Contains(n, "b@dsn.example") || strings.Contains(n, "c@plain.example") {
		t.Errorf("notice names b or c:\n%s", n)
	}
	withDSN.mu.Lock()
	defer withDSN.mu.Unlock()
	if len(withDSN.mailOpts) != 1 || withDSN.mailOpts[0].Return != smtp.DSNReturnHeaders || withDSN.mailOpts[0].EnvelopeID != "env-7" {
		t.Errorf("MAIL parameters: %+v", withDSN.mailOpts)
	}
	if len(withDSN.rcptOpts) != 1 || len(withDSN.rcptOpts[0].Notify) != 1 || withDSN.rcptOpts[0].Notify[0] != smtp.DSNNotifySuccess ||
		withDSN.rcptOpts[0].OriginalRecipient != "B@dsn.example" {
		t.Errorf("RCPT parameters: %+v", withDSN.rcptOpts)
	}
}
