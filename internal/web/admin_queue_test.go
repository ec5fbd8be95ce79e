package web

import (
	"context"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/pochta-mail/pochta/internal/auth"
	"github.com/pochta-mail/pochta/internal/config"
	"github.com/pochta-mail/pochta/internal/delivery"
	"github.com/pochta-mail/pochta/internal/store"
)

func TestAdminQueuePage(t *testing.T) {
	s := newSite(t, testListeners())
	ctx := context.Background()
	later := time.Now().Add(time.Hour).UTC()
	var ids []string
	for _, to := range []string{"far@elsewhere.example", "<b>x</b>@elsewhere.example"} {
		id, err := s.q.Enqueue(ctx, delivery.QueueEnvelope{From: "alice@example.org", To: []string{to}, Attempts: 3,
			NextAttempt: later, LastError: "451 try <later>"}, strings.NewReader("Subject: x\r\n\r\nbody\r\n"))
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	// Users cannot see it.
	u := s.browser()
	u.login("alice")
	if code, _, _ := u.get("/admin/queue"); code != http.StatusForbidden {
		t.Errorf("user on the queue page: %d", code)
	}
	if code, _, _ := u.post("/admin/queue/drop", url.Values{"id": {ids[0]}}); code != http.StatusForbidden {
		t.Errorf("user drops: %d", code)
	}
	b := s.browser()
	b.login("root")
	code, _, body := b.get("/admin/queue")
	if code != http.StatusOK {
		t.Fatalf("queue page: %d", code)
	}
	wantContains(t, body, ids[0], ids[1], "far@elsewhere.example", "451 try &lt;later&gt;", "&lt;b&gt;x&lt;/b&gt;@elsewhere.example",
		"<td>3</td>", later.Format("2006-01-02 15:04"))
	// Forged token: nothing happens.
	if code, _, _ := b.post("/admin/queue/drop", url.Values{"id": {ids[0]}, "csrf": {"forged"}}); code != http.StatusForbidden {
		t.Errorf("forged drop: %d", code)
	}
	// Retry one: it is due now.
	code, loc, _ := b.post("/admin/queue/retry", url.Values{"id": {ids[0]}})
	if code != http.StatusSeeOther || loc != "/admin/queue?m=retry" {
		t.Fatalf("retry: %d %q", code, loc)
	}
	envs, _ := s.q.List(ctx)
	if len(envs) != 2 || !envs[0].NextAttempt.Before(later.Add(-30*time.Minute)) || !envs[1].NextAttempt.Equal(later) {
		t.Errorf("after retrying the first: %+v", envs)
	}
	// Drop the second; an unknown id is not found.
	if code, _, _ := b.post("/admin/queue/drop", url.Values{"id": {ids[1]}}); code != http.StatusSeeOther {
		t.Errorf("drop: %d", code)
	}
	if code, _, _ := b.post("/admin/queue/drop", url.Values{"id": {ids[1]}}); code != http.StatusNotFound {
		t.Errorf("drop again: %d", code)
	}
	envs, _ = s.q.List(ctx)
	if len(envs) != 1 || envs[0].ID != ids[0] {
		t.Errorf("after the drop: %+v", envs)
	}
	_, _, body = b.get("/admin/queue?m=drop")
	wantContains(t, body, "The message was dropped")
	b.post("/admin/queue/retry", url.Values{"all": {"1"}})
	b.post("/admin/queue/drop", url.Values{"id": {ids[0]}})
	_, _, body = b.get("/admin/queue")
	wantContains(t, body, "The queue is empty")
}

func TestAdminServerSettings(t *testing.T) {
	s := newSite(t, testListeners())
	ctx := context.Background()
	plain := auth.Request{Username: "alice", Password: "alice-password-1", Protocol: auth.ProtoIMAP, RemoteIP: netip.MustParseAddr("198.51.100.9")}
	if _, err := s.auth.Login(ctx, plain); err == nil {
		t.Fatal("plaintext login allowed by default")
	}
	b := s.browser()
	b.login("root")
	_, _, body := b.get("/admin/settings")
	wantContains(t, body, `name="policy" value="" checked`, `id="new_pop3" checked`, `id="new_imap" checked`)
	if code, _, _ := b.post("/admin/settings", url.Values{"policy": {"plaintext"}, "csrf": {"forged"}}); code != http.StatusForbidden {
		t.Errorf("forged token: %d", code)
	}
	code, loc, _ := b.post("/admin/settings", url.Values{"policy": {"plaintext"}, "new_imap": {"on"}})
	if code != http.StatusSeeOther || loc != "/admin/settings?m=done" {
		t.Fatalf("save: %d %q", code, loc)
	}
	// The next login reads the switch; new accounts get POP3 off.
	if _, err := s.auth.Login(ctx, plain); err != nil {
		t.Errorf("plaintext login after the switch: %v", err)
	}
	b.get("/admin/accounts")
	if code, _, _ := b.post("/admin/accounts", url.Values{"address": {"new@example.org"}}); code != http.StatusOK {
		t.Fatalf("create account: %d", code)
	}
	na, err := s.st.AccountByAddress(ctx, "new@example.org")
	if err != nil || na.Settings.POP3Enabled || !na.Settings.IMAPEnabled {
		t.Errorf("new account settings: %+v, %v", na.Settings, err)
	}
	if s.account("alice").Settings.POP3Enabled != true {
		t.Error("an existing account changed")
	}
	_, _, body = b.get("/admin/settings")
	wantContains(t, body, `name="policy" value="plaintext" checked`)
	if strings.Contains(body, `id="new_pop3" checked`) {
		t.Error("the page does not show POP3 off for new accounts")
	}
	// Back to the configuration's policy.
	b.post("/admin/settings", url.Values{"policy": {""}, "new_pop3": {"on"}, "new_imap": {"on"}})
	if _, err := s.auth.Login(ctx, plain); err == nil {
		t.Error("plaintext login allowed after going back to the configured policy")
	}
	if m, _ := s.st.ServerSettings(ctx); m[store.SettingAllowPlaintext] != "" {
		t.Errorf("settings: %v", m)
	}
	if code, _, _ := b.post("/admin/settings", url.Values{"policy": {"sometimes"}}); code != http.StatusBadRequest {
		t.Errorf("bad policy: %d", code)
	}
}

func TestConfigAdmins(t *testing.T) {
	s := newSiteWith(t, testListeners(), func(c *config.Config) { c.Web.Admins = []string{"Alice@example.org"} })
	a := s.browser()
	a.login("alice")
	code, _, body := a.get("/admin/settings")
	if code != http.StatusOK {
		t.Fatalf("configured admin on the admin pages: %d", code)
	}
	wantContains(t, body, `id="nav-admin"`, "<code>Alice@example.org</code>")
	b := s.browser()
	b.login("bob")
	if code, _, _ := b.get("/admin"); code != http.StatusForbidden {
		t.Errorf("bob on the admin pages: %d", code)
	}
}

// scrape returns the /metrics text of a site.
func scrape(t *testing.T, s *site) string {
	t.Helper()
	code, _, body := s.browser().get("/metrics")
	if code != http.StatusOK {
		t.Fatalf("/metrics: %d", code)
	}
	return body
}

// Logins of the mail protocols reach /metrics through the Authenticator's
// OnLogin, and so do the counters other packages feed.
func TestMetricsMoveAfterLogins(t *testing.T) {
	s := newSite(t, testListeners())
	ctx := context.Background()
	before := scrape(t, s)
	wantContains(t, before, `mail_logins_total{protocol="imap",result="ok"} 0`, `mail_messages_received_total{kind="mx"} 0`)
	ip := netip.MustParseAddr("192.0.2.50")
	for _, r := range []auth.Request{
		{Username: "alice", Password: "alice-password-1", Protocol: auth.ProtoIMAP, TLS: true, RemoteIP: ip},
		{Username: "alice", Password: "alice-password-1", Protocol: auth.ProtoIMAP, TLS: true, RemoteIP: ip},
		{Username: "bob", Password: "bob-password-1", Protocol: auth.ProtoSMTP, TLS: true, RemoteIP: ip},
		{Username: "bob", Password: "wrong", Protocol: auth.ProtoPOP3, TLS: true, RemoteIP: ip},
		{Username: "bob", Password: "bob-password-1", Protocol: auth.ProtoPOP3, TLS: false, RemoteIP: ip},
	} {
		s.auth.Login(ctx, r)
	}
	s.srv.o.Metrics.Accepted("mx")
	s.srv.o.Metrics.Delivery("delivered", 3*time.Second)
	s.srv.o.Metrics.Connection("imaps")
	wantContains(t, scrape(t, s),
		`mail_logins_total{protocol="imap",result="ok"} 2`,
		`mail_logins_total{protocol="smtp",result="ok"} 1`,
		`mail_logins_total{protocol="pop3",result="password"} 1`,
		`mail_logins_total{protocol="pop3",result="tls"} 1`,
		`mail_messages_received_total{kind="mx"} 1`,
		`mail_messages_sent_total{result="delivered"} 1`,
		`mail_delivery_latency_seconds_count 1`,
		`mail_connections_total{listener="imaps"} 1`)
	// The successes are in the owners' sign-in logs too.
	l, _ := s.st.SignIns(ctx, s.ids["alice"], 10)
	if len(l) != 2 || l[0].Protocol != "imap" || l[0].Reason != "" || l[0].RemoteIP != "192.0.2.50" {
		t.Errorf("alice's log: %+v", l)
	}
}
