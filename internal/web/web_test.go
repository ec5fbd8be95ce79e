package web

import (
	"context"
	"encoding/xml"
	"errors"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pochta-mail/pochta/internal/auth"
	"github.com/pochta-mail/pochta/internal/config"
	"github.com/pochta-mail/pochta/internal/store"
)

func TestLoginAndAccountPage(t *testing.T) {
	s := newSite(t, testListeners())
	b := s.browser()
	code, loc, _ := b.get("/account")
	if code != http.StatusSeeOther || !strings.HasPrefix(loc, "/login?next=") {
		t.Fatalf("anonymous /account: %d %q, want a redirect to the login page", code, loc)
	}
	b.get("/login")
	code, _, body := b.post("/login", url.Values{"address": {"alice@example.org"}, "password": {"wrong"}})
	if code != http.StatusUnauthorized {
		t.Fatalf("wrong password: %d", code)
	}
	wantContains(t, body, "Wrong address or password.")
	b.login("alice")
	ctx := context.Background()
	if _, err := s.st.CreateAlias(ctx, "al@example.org", []int64{s.ids["alice"]}); err != nil {
		t.Fatal(err)
	}
	code, _, body = b.get("/account")
	if code != http.StatusOK {
		t.Fatalf("/account: %d", code)
	}
	wantContains(t, body, "alice@example.org", "al@example.org", "alice&#43;anything@example.org", "of 1.0 GiB used",
		`data-kind="imap" data-port="993"`, `data-kind="imap" data-port="143"`, `data-kind="pop3" data-port="995"`,
		`data-kind="pop3" data-port="110"`, `data-kind="smtp" data-port="465"`, `data-kind="smtp" data-port="587"`,
		"<code>mail.example.org</code>", "/account/mail.mobileconfig", "never “none”")
	// The MX port is not for mail programs.
	if strings.Contains(body, `data-port="25"`) {
		t.Error("the client table lists the MX port 25")
	}
	// The SSL/TLS port comes before STARTTLS.
	if strings.Index(body, `data-port="993"`) > strings.Index(body, `data-port="143"`) {
		t.Error("IMAP STARTTLS listed before SSL/TLS")
	}
	for _, p := range []string{"/account", "/account/programs", "/account/security", "/login"} {
		_, _, body := b.get(p)
		if regexp.MustCompile(`(?i)pochta`).MatchString(body) {
			t.Errorf("%s names the software", p)
		}
	}
	// Log out ends the session.
	code, loc, _ = b.post("/logout", nil)
	if code != http.StatusSeeOther || !strings.HasPrefix(loc, "/login") {
		t.Fatalf("logout: %d %q", code, loc)
	}
	if code, _, _ := b.get("/account"); code != http.StatusSeeOther {
		t.Errorf("after logout /account gives %d", code)
	}
}

func TestLoginNeedsTLSFromOtherMachines(t *testing.T) {
	s := newSite(t, testListeners())
	// Get a pre-session cookie and its token from a loopback request.
	rec := httptest.NewRecorder()
	s.srv.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/login", nil))
	token := csrfRE.FindStringSubmatch(rec.Body.String())[1]
	form := url.Values{"csrf": {token}, "address": {"alice@example.org"}, "password": {"alice-password-1"}}
	req := httptest.NewRequest("POST", "/login", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.RemoteAddr = "203.0.113.5:40000"
	for _, c := range rec.Result().Cookies() {
		req.AddCookie(c)
	}
	rec = httptest.NewRecorder()
	s.srv.Handler().ServeHTTP(rec, req)
	if rec.Code != http.StatusUnauthorized || !strings.Contains(rec.Body.String(), "https://") {
		t.Fatalf("plain HTTP login from another machine: %d\n%s", rec.Code, rec.Body.String())
	}
	recent, _ := s.st.SignIns(context.Background(), s.ids["alice"], 1)
	if len(recent) != 1 || recent[0].Reason != string(ReasonTLS) || recent[0].RemoteIP != "203.0.113.5" {
		t.Errorf("sign-in log: %+v, want a TLS failure from 203.0.113.5", recent)
	}
}

func TestCookiesAndHeaders(t *testing.T) {
	s := newSite(t, testListeners())
	b := s.browser()
	b.get("/login")
	req, _ := http.NewRequest("POST", s.ts.URL+"/login", strings.NewReader(url.Values{"csrf": {b.csrf},
		"address": {"alice@example.org"}, "password": {"alice-password-1"}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := b.c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	var sid *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == sessionCookie {
			sid = c
		}
	}
	if sid == nil || !sid.HttpOnly || sid.SameSite != http.SameSiteLaxMode || sid.Secure {
		t.Fatalf("session cookie over http: %+v", sid)
	}
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "frame-ancestors 'none'") {
		t.Errorf("CSP %q", csp)
	}
	// Over HTTPS the cookie is Secure.
	ts := httptest.NewTLSServer(s.srv.Handler())
	defer ts.Close()
	resp, err = ts.Client().Get(ts.URL + "/login")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	for _, c := range resp.Cookies() {
		if !c.Secure || !c.HttpOnly {
			t.Errorf("cookie %s over https: Secure=%v HttpOnly=%v", c.Name, c.Secure, c.HttpOnly)
		}
	}
}

func TestCSRFRefused(t *testing.T) {
	s := newSite(t, testListeners())
	alice, bob := s.browser(), s.browser()
	alice.login("alice")
	bob.login("bob")
	anon := s.browser()
	anon.get("/login")
	off := url.Values{"imap": {"on"}, "delete": {"trash"}, "since": {"all"}}
	for name, form := range map[string]url.Values{
		"no token":            withCSRF(off, ""),
		"bad token":           withCSRF(off, "x"+alice.csrf),
		"another's token":     withCSRF(off, bob.csrf),
		"a pre-session token": withCSRF(off, anon.csrf),
	} {
		code, _, body := alice.post("/account/programs", form)
		if code != http.StatusForbidden || !strings.Contains(body, "did not come from this site") {
			t.Errorf("%s: %d", name, code)
		}
	}
	if !s.account("alice").Settings.POP3Enabled {
		t.Fatal("a refused form changed the settings")
	}
	// Cross-origin browser requests are refused even with a token.
	req, _ := http.NewRequest("POST", s.ts.URL+"/account/programs", strings.NewReader(withCSRF(off, alice.csrf).Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	if code, _, _ := alice.do(req); code != http.StatusForbidden {
		t.Errorf("cross-site POST: %d", code)
	}
	// The login form needs its token too.
	if code, _, _ := anon.post("/login", url.Values{"csrf": {"nope"}, "address": {"alice@example.org"}, "password": {"alice-password-1"}}); code != http.StatusForbidden {
		t.Errorf("login without a valid token: %d", code)
	}
	// Every state-changing route refuses a missing token.
	for _, p := range []string{"/logout", "/account/programs", "/account/app-passwords", "/account/app-passwords/revoke",
		"/account/logout-all", "/account/password", "/admin/domains", "/admin/accounts", "/admin/account", "/admin/aliases"} {
		if code, _, _ := alice.post(p, url.Values{"csrf": {""}}); code != http.StatusForbidden {
			t.Errorf("POST %s without a token: %d", p, code)
		}
	}
}

func withCSRF(v url.Values, token string) url.Values {
	out := url.Values{}
	for k, vs := range v {
		out[k] = vs
	}
	out.Set("csrf", token)
	return out
}

func TestProgramsSettings(t *testing.T) {
	s := newSite(t, testListeners())
	b := s.browser()
	b.login("alice")
	code, _, body := b.get("/account/programs")
	if code != http.StatusOK {
		t.Fatalf("programs: %d", code)
	}
	wantContains(t, body, `id="pop3" checked`, `id="imap" checked`, `value="Spam"`)
	code, loc, _ := b.post("/account/programs", url.Values{"imap": {"on"}, "folders": {"INBOX", "Spam"},
		"mark_seen": {"on"}, "since": {"now"}, "delete": {"keep"}})
	if code != http.StatusSeeOther || loc != "/account/programs?saved=1" {
		t.Fatalf("save: %d %q", code, loc)
	}
	a := s.account("alice")
	st := a.Settings
	if st.POP3Enabled || !st.IMAPEnabled || !st.POP3MarkSeen || st.POP3Delete != store.POP3DeleteKeep ||
		strings.Join(st.POP3Folders, ",") != "INBOX,Spam" || time.Since(st.POP3Since) > time.Minute {
		t.Fatalf("saved settings: %+v", st)
	}
	_, _, body = b.get("/account/programs?saved=1")
	wantContains(t, body, "Saved.", "Only mail that arrived after", `value="keep" checked`)
	// The POP3 login now fails with the reason recorded for the owner.
	_, err := s.auth.Login(context.Background(), auth.Request{Username: "alice", Password: "alice-password-1",
		Protocol: auth.ProtoPOP3, TLS: true, RemoteIP: netip.MustParseAddr("198.51.100.7")})
	if !errors.Is(err, auth.ErrProtocolDisabled) {
		t.Fatalf("POP3 login with POP3 off: %v", err)
	}
	_, _, body = b.get("/account/security")
	wantContains(t, body, "198.51.100.7", "the protocol is switched off for this mailbox")
	// "keep" keeps the date; an unknown folder is refused.
	since := st.POP3Since
	code, _, body = b.post("/account/programs", url.Values{"pop3": {"on"}, "folders": {"Nope"}, "since": {"keep"}, "delete": {"trash"}})
	if code != http.StatusBadRequest || !strings.Contains(body, `There is no folder &#34;Nope&#34;`) {
		t.Fatalf("unknown folder: %d\n%s", code, body)
	}
	code, _, _ = b.post("/account/programs", url.Values{"pop3": {"on"}, "folders": {"INBOX"}, "since": {"keep"}, "delete": {"delete"}})
	if code != http.StatusSeeOther {
		t.Fatalf("save 2: %d", code)
	}
	st = s.account("alice").Settings
	if !st.POP3Enabled || st.IMAPEnabled || st.POP3Folders != nil || !st.POP3Since.Equal(since) || st.POP3Delete != store.POP3DeleteExpunge {
		t.Fatalf("settings after second save: %+v", st)
	}
	if code, _, _ := b.post("/account/programs", url.Values{"delete": {"shred"}}); code != http.StatusBadRequest {
		t.Errorf("bad delete action: %d", code)
	}
	// Bob's settings are untouched.
	if bs := s.account("bob").Settings; !bs.POP3Enabled || !bs.IMAPEnabled {
		t.Errorf("bob's settings changed: %+v", bs)
	}
}

func TestAppPasswords(t *testing.T) {
	s := newSite(t, testListeners())
	b := s.browser()
	b.login("alice")
	code, _, body := b.post("/account/app-passwords", url.Values{"name": {"<b>Phone</b>"}, "protocols": {"imap"}})
	if code != http.StatusOK {
		t.Fatalf("create: %d", code)
	}
	m := regexp.MustCompile(`<code id="secret">([^<]+)</code>`).FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no password shown:\n%s", body)
	}
	pw := m[1]
	if strings.Contains(body, "<b>Phone</b>") || !strings.Contains(body, "&lt;b&gt;Phone&lt;/b&gt;") {
		t.Error("the name is not escaped")
	}
	ctx := context.Background()
	login := func(p auth.Protocol) error {
		_, err := s.auth.Login(ctx, auth.Request{Username: "alice@example.org", Password: pw, Protocol: p, TLS: true, RemoteIP: netip.MustParseAddr("127.0.0.1")})
		return err
	}
	if err := login(auth.ProtoIMAP); err != nil {
		t.Fatalf("IMAP with the app password: %v", err)
	}
	if err := login(auth.ProtoPOP3); !errors.Is(err, auth.ErrBadCredentials) {
		t.Fatalf("POP3 with an IMAP-only app password: %v", err)
	}
	// Shown once: the page no longer has it.
	_, _, body = b.get("/account/security")
	if strings.Contains(body, pw) {
		t.Error("the app password is shown again")
	}
	wantContains(t, body, "the app password is not allowed for this protocol")
	// An app password does not sign in to the web.
	anon := s.browser()
	anon.get("/login")
	if code, _, _ := anon.post("/login", url.Values{"address": {"alice@example.org"}, "password": {pw}}); code != http.StatusUnauthorized {
		t.Errorf("web login with an app password: %d", code)
	}
	aps, _ := s.st.AppPasswords(ctx, s.ids["alice"])
	if len(aps) != 1 || aps[0].Name != "<b>Phone</b>" || strings.Join(aps[0].Protocols, ",") != "imap" {
		t.Fatalf("stored: %+v", aps)
	}
	// Bob cannot revoke alice's password.
	bob := s.browser()
	bob.login("bob")
	if code, _, _ := bob.post("/account/app-passwords/revoke", url.Values{"id": {itoa(aps[0].ID)}}); code != http.StatusNotFound {
		t.Errorf("bob revoking alice's password: %d", code)
	}
	if code, _, _ := b.post("/account/app-passwords", url.Values{"name": {""}}); code != http.StatusBadRequest {
		t.Errorf("empty name: %d", code)
	}
	code, loc, _ := b.post("/account/app-passwords/revoke", url.Values{"id": {itoa(aps[0].ID)}})
	if code != http.StatusSeeOther || loc != "/account/security?m=revoked" {
		t.Fatalf("revoke: %d %q", code, loc)
	}
	if err := login(auth.ProtoIMAP); err == nil {
		t.Fatal("a revoked app password still works")
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func TestLogoutAllAndPasswordChange(t *testing.T) {
	s := newSite(t, testListeners())
	b1, b2 := s.browser(), s.browser()
	b1.login("alice")
	b2.login("alice")
	b1.post("/account/app-passwords", url.Values{"name": {"a"}})
	b1.post("/account/app-passwords", url.Values{"name": {"b"}})
	code, loc, _ := b1.post("/account/logout-all", nil)
	if code != http.StatusSeeOther || loc != "/login?m=loggedoutall" {
		t.Fatalf("logout-all: %d %q", code, loc)
	}
	for i, b := range []*browser{b1, b2} {
		if code, _, _ := b.get("/account"); code != http.StatusSeeOther {
			t.Errorf("browser %d still signed in: %d", i, code)
		}
	}
	if aps, _ := s.st.AppPasswords(context.Background(), s.ids["alice"]); len(aps) != 0 {
		t.Errorf("%d app passwords left", len(aps))
	}
	b1.login("alice")
	for _, c := range []struct {
		form url.Values
		want string
	}{
		{url.Values{"current": {"bad"}, "new": {"new-password-22"}, "repeat": {"new-password-22"}}, "The current password is wrong."},
		{url.Values{"current": {"alice-password-1"}, "new": {"new-password-22"}, "repeat": {"other"}}, "do not match"},
		{url.Values{"current": {"alice-password-1"}, "new": {"short"}, "repeat": {"short"}}, "at least 10 characters"},
	} {
		code, _, body := b1.post("/account/password", c.form)
		if code != http.StatusBadRequest || !strings.Contains(body, c.want) {
			t.Errorf("password change %v: %d, want %q", c.form, code, c.want)
		}
	}
	code, loc, _ = b1.post("/account/password", url.Values{"current": {"alice-password-1"}, "new": {"new-password-22"}, "repeat": {"new-password-22"}})
	if code != http.StatusSeeOther || loc != "/login?m=passwordnew" {
		t.Fatalf("password change: %d %q", code, loc)
	}
	if err := auth.VerifyPassword(s.account("alice").PasswordHash, "new-password-22"); err != nil {
		t.Fatalf("new password not stored: %v", err)
	}
}

func TestAdminAuthorization(t *testing.T) {
	s := newSite(t, testListeners())
	alice := s.browser()
	alice.login("alice")
	_, _, body := alice.get("/account")
	if strings.Contains(body, `href="/admin"`) {
		t.Error("a user sees the admin link")
	}
	for _, p := range []string{"/admin", "/admin/accounts", "/admin/aliases", "/admin/health", "/admin/account?id=" + itoa(s.ids["bob"])} {
		if code, _, body := alice.get(p); code != http.StatusForbidden || strings.Contains(body, "bob@example.org") {
			t.Errorf("user GET %s: %d", p, code)
		}
	}
	for _, p := range []string{"/admin/domains", "/admin/accounts", "/admin/account", "/admin/account/reset", "/admin/aliases", "/admin/aliases/delete"} {
		if code, _, _ := alice.post(p, url.Values{"id": {itoa(s.ids["bob"])}, "domain": {"evil.example"}, "address": {"x@example.org"}}); code != http.StatusForbidden {
			t.Errorf("user POST %s: %d", p, code)
		}
	}
	if _, err := s.st.Domain(context.Background(), "evil.example"); err == nil {
		t.Error("a user added a domain")
	}
	anon := s.browser()
	if code, loc, _ := anon.get("/admin"); code != http.StatusSeeOther || !strings.HasPrefix(loc, "/login") {
		t.Errorf("anonymous /admin: %d %q", code, loc)
	}
}

func TestAdminPages(t *testing.T) {
	s := newSite(t, testListeners())
	b := s.browser()
	b.login("root")
	ctx := context.Background()
	code, _, body := b.get("/admin")
	if code != http.StatusOK {
		t.Fatalf("/admin: %d", code)
	}
	wantContains(t, body, "example.org.\t3600\tIN\tMX\t10 mail.example.org.", "_imaps._tcp.example.org.\t3600\tIN\tSRV\t0 1 993 mail.example.org.",
		"_dmarc.example.org.\t3600\tIN\tTXT")
	if code, _, _ := b.post("/admin/domains", url.Values{"domain": {"example.net"}}); code != http.StatusSeeOther {
		t.Fatalf("add domain: %d", code)
	}
	// A domain added on the web gets its DKIM keys at once, and its
	// records show them.
	if keys, err := s.st.DKIMKeys(ctx, "example.net"); err != nil || len(keys) != 2 {
		t.Fatalf("DKIM keys of a domain added on the web: %v, %v", keys, err)
	}
	_, _, body = b.get("/admin")
	wantContains(t, body, "._domainkey.example.net.\t3600\tIN\tTXT\t", "v=DKIM1; k=ed25519; p=", "k=rsa; p=")
	if _, err := s.st.Domain(ctx, "example.net"); err != nil {
		t.Fatalf("domain not added: %v", err)
	}
	if code, _, body := b.post("/admin/domains", url.Values{"domain": {"example.net"}}); code != http.StatusBadRequest || !strings.Contains(body, "Not done") {
		t.Errorf("duplicate domain: %d", code)
	}
	// Accounts: create with a quota, password shown once.
	code, _, body = b.post("/admin/accounts", url.Values{"address": {"carol@example.net"}, "quota": {"2GiB"}})
	if code != http.StatusOK {
		t.Fatalf("create account: %d\n%s", code, body)
	}
	m := regexp.MustCompile(`<code id="secret">([^<]+)</code>`).FindStringSubmatch(body)
	if m == nil {
		t.Fatal("no password shown for the new account")
	}
	carol, err := s.st.AccountByAddress(ctx, "carol@example.net")
	if err != nil || carol.QuotaBytes != 2<<30 || auth.VerifyPassword(carol.PasswordHash, m[1]) != nil {
		t.Fatalf("carol: %+v %v", carol, err)
	}
	if code, _, _ := b.post("/admin/accounts", url.Values{"address": {"dave@example.net"}, "quota": {"lots"}}); code != http.StatusBadRequest {
		t.Errorf("bad quota: %d", code)
	}
	_, _, body = b.get("/admin/accounts")
	wantContains(t, body, "carol@example.net", "2.0 GiB")
	// Change quota, switches, disable.
	id := itoa(carol.ID)
	if code, _, body := b.get("/admin/account?id=" + id); code != http.StatusOK || !strings.Contains(body, "carol@example.net") {
		t.Fatalf("account page: %d", code)
	}
	code, _, _ = b.post("/admin/account", url.Values{"id": {id}, "quota": {"500MiB"}, "imap": {"on"}, "disabled": {"on"}, "policy": {"plaintext"}})
	if code != http.StatusSeeOther {
		t.Fatalf("update: %d", code)
	}
	carol, _ = s.st.Account(ctx, carol.ID)
	if carol.QuotaBytes != 500<<20 || carol.Settings.POP3Enabled || !carol.Settings.IMAPEnabled || !carol.Disabled || carol.Settings.LoginPolicy != store.PolicyPlaintext {
		t.Fatalf("after update: %+v", carol)
	}
	// Reset password.
	code, _, body = b.post("/admin/account/reset", url.Values{"id": {id}})
	m = regexp.MustCompile(`<code id="secret">([^<]+)</code>`).FindStringSubmatch(body)
	if code != http.StatusOK || m == nil {
		t.Fatalf("reset: %d", code)
	}
	carol, _ = s.st.Account(ctx, carol.ID)
	if auth.VerifyPassword(carol.PasswordHash, m[1]) != nil {
		t.Fatal("reset password not stored")
	}
	if code, _, _ := b.get("/admin/account?id=999999"); code != http.StatusNotFound {
		t.Errorf("unknown account: %d", code)
	}
	// An admin cannot disable themselves.
	b.post("/admin/account", url.Values{"id": {itoa(s.ids["root"])}, "disabled": {"on"}, "imap": {"on"}, "pop3": {"on"}})
	if root := s.account("root"); root.Disabled || !root.Admin {
		t.Errorf("root locked out: %+v", root)
	}
	// Aliases.
	if code, _, _ := b.post("/admin/aliases", url.Values{"alias": {"team@example.org"}, "targets": {"alice@example.org, bob@example.org"}}); code != http.StatusSeeOther {
		t.Fatalf("add alias: %d", code)
	}
	ids, err := s.st.ResolveAddress(ctx, "team@example.org")
	if err != nil || len(ids) != 2 {
		t.Fatalf("alias: %v %v", ids, err)
	}
	_, _, body = b.get("/admin/aliases")
	wantContains(t, body, "team@example.org", "alice@example.org, bob@example.org")
	if code, _, _ := b.post("/admin/aliases", url.Values{"alias": {"x@example.org"}, "targets": {"nobody@example.org"}}); code != http.StatusBadRequest {
		t.Errorf("alias to nobody: %d", code)
	}
	if code, _, _ := b.post("/admin/aliases/delete", url.Values{"alias": {"team@example.org"}}); code != http.StatusSeeOther {
		t.Fatalf("delete alias: %d", code)
	}
	if _, err := s.st.ResolveAddress(ctx, "team@example.org"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("alias still there: %v", err)
	}
	// Health.
	code, _, body = b.get("/admin/health")
	if code != http.StatusOK {
		t.Fatalf("health: %d", code)
	}
	wantContains(t, body, `id="store-status">working`, "<td>7</td>", "<td>3</td>", "127.0.0.1:993")
	// Deleting a domain with accounts fails with a message.
	if code, _, body := b.post("/admin/domains/delete", url.Values{"domain": {"example.net"}}); code != http.StatusBadRequest || !strings.Contains(body, "Not done") {
		t.Errorf("delete a used domain: %d", code)
	}
}

func TestAutoconfigThunderbird(t *testing.T) {
	s := newSite(t, testListeners())
	for _, p := range []string{"/.well-known/autoconfig/mail/config-v1.1.xml?emailaddress=alice%40example.org", "/mail/config-v1.1.xml?emailaddress=alice@example.org"} {
		resp, err := http.Get(s.ts.URL + p)
		if err != nil {
			t.Fatal(err)
		}
		var c tbConfig
		err = xml.NewDecoder(resp.Body).Decode(&c)
		resp.Body.Close()
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("%s: %d %v", p, resp.StatusCode, err)
		}
		if c.Version != "1.1" || c.Provider.ID != "example.org" || len(c.Provider.Domains) != 1 || c.Provider.Domains[0] != "example.org" {
			t.Errorf("provider: %+v", c.Provider)
		}
		var in []string
		for _, x := range c.Provider.Incoming {
			in = append(in, x.Type+":"+x.Port+":"+x.SocketType)
			if x.Hostname != "mail.example.org" || x.Username != "%EMAILADDRESS%" || x.Authentication != "password-cleartext" {
				t.Errorf("incoming server: %+v", x)
			}
		}
		if got := strings.Join(in, " "); got != "imap:993:SSL imap:143:STARTTLS pop3:995:SSL pop3:110:STARTTLS" {
			t.Errorf("incoming servers: %s", got)
		}
		var out []string
		for _, x := range c.Provider.Outgoing {
			out = append(out, x.Type+":"+x.Port+":"+x.SocketType)
		}
		if got := strings.Join(out, " "); got != "smtp:465:SSL smtp:587:STARTTLS" {
			t.Errorf("outgoing servers: %s", got)
		}
	}
	resp, err := http.Get(s.ts.URL + "/mail/config-v1.1.xml?emailaddress=x@elsewhere.example")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 404 {
		t.Errorf("foreign domain: %d", resp.StatusCode)
	}
}

func TestAutoconfigOnlyEnabledListeners(t *testing.T) {
	// POP3 switched off server-wide, no implicit TLS for IMAP.
	s := newSite(t, []config.Listener{
		{Name: "submission", Addr: "0.0.0.0:2587"},
		{Name: "imap", Addr: "0.0.0.0:1143"},
	})
	resp, err := http.Get(s.ts.URL + "/.well-known/autoconfig/mail/config-v1.1.xml")
	if err != nil {
		t.Fatal(err)
	}
	var c tbConfig
	if err := xml.NewDecoder(resp.Body).Decode(&c); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if len(c.Provider.Incoming) != 1 || c.Provider.Incoming[0].Type != "imap" || c.Provider.Incoming[0].Port != "1143" || c.Provider.Incoming[0].SocketType != "STARTTLS" {
		t.Errorf("incoming: %+v", c.Provider.Incoming)
	}
	if len(c.Provider.Outgoing) != 1 || c.Provider.Outgoing[0].Port != "2587" {
		t.Errorf("outgoing: %+v", c.Provider.Outgoing)
	}
	// Outlook.
	body := `<?xml version="1.0" encoding="utf-8"?><Autodiscover xmlns="http://schemas.microsoft.com/exchange/autodiscover/outlook/requestschema/2006"><Request><EMailAddress>alice@example.org</EMailAddress><AcceptableResponseSchema>http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a</AcceptableResponseSchema></Request></Autodiscover>`
	resp, err = http.Post(s.ts.URL+"/autodiscover/autodiscover.xml", "text/xml", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	var ad adResponse
	err = xml.NewDecoder(resp.Body).Decode(&ad)
	resp.Body.Close()
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("autodiscover: %d %v", resp.StatusCode, err)
	}
	ps := ad.Response.Account.Protocols
	if len(ps) != 2 || ps[0].Type != "IMAP" || ps[0].Port != "1143" || ps[0].Encryption != "TLS" || ps[0].LoginName != "alice@example.org" ||
		ps[1].Type != "SMTP" || ps[1].Port != "2587" || ad.Response.Account.Action != "settings" {
		t.Errorf("autodiscover protocols: %+v", ad.Response.Account)
	}
}

func TestAutodiscoverFullAndMobileconfig(t *testing.T) {
	s := newSite(t, testListeners())
	body := `<Autodiscover><Request><EMailAddress>bob@example.org</EMailAddress></Request></Autodiscover>`
	resp, err := http.Post(s.ts.URL+"/Autodiscover/Autodiscover.xml", "text/xml", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	var ad adResponse
	if err := xml.NewDecoder(resp.Body).Decode(&ad); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	var got []string
	for _, p := range ad.Response.Account.Protocols {
		got = append(got, p.Type+":"+p.Port+":"+p.Encryption)
	}
	if strings.Join(got, " ") != "IMAP:993:SSL POP3:995:SSL SMTP:465:SSL" {
		t.Errorf("autodiscover: %v", got)
	}
	resp, _ = http.Post(s.ts.URL+"/autodiscover/autodiscover.xml", "text/xml", strings.NewReader("<Autodiscover><Request><EMailAddress>x@nowhere.example</EMailAddress></Request></Autodiscover>"))
	resp.Body.Close()
	if resp.StatusCode != 404 {
		t.Errorf("foreign autodiscover: %d", resp.StatusCode)
	}
	// The Apple profile: needs a session, lists IMAPS and SUBMISSIONS.
	b := s.browser()
	if code, _, _ := b.get("/account/mail.mobileconfig"); code != http.StatusSeeOther {
		t.Errorf("anonymous profile: %d", code)
	}
	b.login("alice")
	code, _, prof := b.get("/account/mail.mobileconfig")
	if code != 200 {
		t.Fatalf("profile: %d", code)
	}
	kv := plistPairs(t, prof)
	for k, want := range map[string]string{"EmailAccountType": "EmailTypeIMAP", "IncomingMailServerHostName": "mail.example.org",
		"IncomingMailServerPortNumber": "993", "OutgoingMailServerPortNumber": "465", "IncomingMailServerUsername": "alice@example.org",
		"IncomingMailServerUseSSL": "true", "PayloadType": "Configuration", "EmailAddress": "alice@example.org"} {
		if kv[k] != want {
			t.Errorf("profile %s = %q, want %q", k, kv[k], want)
		}
	}
	// IMAP off for alice: the profile falls back to POP3.
	a := s.account("alice")
	a.Settings.IMAPEnabled = false
	if err := s.st.UpdateAccount(context.Background(), a); err != nil {
		t.Fatal(err)
	}
	_, _, prof = b.get("/account/mail.mobileconfig")
	if kv := plistPairs(t, prof); kv["EmailAccountType"] != "EmailTypePOP" || kv["IncomingMailServerPortNumber"] != "995" {
		t.Errorf("POP profile: %v", kv)
	}
}

// plistPairs parses a plist and returns key → value of every <key> that
// is followed by a simple value (the last one wins: the outer dict's keys come last).
func plistPairs(t *testing.T, doc string) map[string]string {
	t.Helper()
	d := xml.NewDecoder(strings.NewReader(doc))
	d.Strict = true
	out := map[string]string{}
	key, inKey := "", false
	var text strings.Builder
	for {
		tok, err := d.Token()
		if err != nil {
			if err.Error() == "EOF" {
				break
			}
			t.Fatalf("profile is not valid XML: %v\n%s", err, doc)
		}
		switch v := tok.(type) {
		case xml.StartElement:
			text.Reset()
			inKey = v.Name.Local == "key"
			if key != "" && (v.Name.Local == "true" || v.Name.Local == "false") {
				out[key] = v.Name.Local
				key = ""
			}
		case xml.CharData:
			text.Write(v)
		case xml.EndElement:
			switch {
			case inKey && v.Name.Local == "key":
				key, inKey = text.String(), false
			case key != "" && (v.Name.Local == "string" || v.Name.Local == "integer"):
				out[key] = text.String()
				key = ""
			}
		}
	}
	return out
}

func TestLanguages(t *testing.T) {
	s := newSite(t, testListeners())
	b := s.browser()
	b.lang = "ru-RU,ru;q=0.9,en;q=0.5"
	_, _, body := b.get("/login")
	wantContains(t, body, `<html lang="ru">`, "Адрес почты", "English")
	b.login("alice")
	_, _, body = b.get("/account/programs")
	wantContains(t, body, "Разрешить доступ по протоколу POP3", "Сохранить изменения")
	code, loc, _ := b.get("/lang?l=en&next=/account/programs")
	if code != http.StatusSeeOther || loc != "/account/programs" {
		t.Fatalf("switch: %d %q", code, loc)
	}
	_, _, body = b.get("/account/programs")
	wantContains(t, body, `<html lang="en">`, "Allow access with POP3", "Русский")
	// No open redirect through the switch.
	if _, loc, _ := b.get("/lang?l=ru&next=//evil.example/"); loc != "/account" {
		t.Errorf("switch redirected to %q", loc)
	}
	b2 := s.browser()
	b2.lang = "de, en;q=0.1"
	if _, _, body := b2.get("/login"); !strings.Contains(body, `<html lang="en">`) {
		t.Error("German browser not given English")
	}
}

func TestCatalogComplete(t *testing.T) {
	cat := newCatalog()
	for k, v := range cat {
		if v[0] == "" || v[1] == "" {
			t.Errorf("%s lacks a language", k)
		}
	}
	// Every key the templates name exists.
	keyRE := regexp.MustCompile(`\.(?:T|F) "([a-z0-9_.]+)"`)
	err := fs.WalkDir(assets, "templates", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(assets, p)
		if err != nil {
			return err
		}
		for _, m := range keyRE.FindAllStringSubmatch(string(b), -1) {
			if _, ok := cat[m[1]]; !ok {
				t.Errorf("%s uses missing key %q", p, m[1])
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"setup.imap", "setup.pop3", "setup.smtp", "proto.imap", "proto.pop3", "proto.smtp", "proto.web",
		"reason.password", "reason.appproto", "reason.protocol", "reason.tls", "reason.throttled", "reason.disabled", "reason.other"} {
		if _, ok := cat[k]; !ok {
			t.Errorf("computed key %q missing", k)
		}
	}
}

func TestMetricsAndThrottle(t *testing.T) {
	s := newSite(t, testListeners())
	b := s.browser()
	b.get("/login")
	for range 6 {
		b.post("/login", url.Values{"address": {"bob@example.org"}, "password": {"nope"}})
	}
	code, _, body := b.post("/login", url.Values{"address": {"bob@example.org"}, "password": {"bob-password-1"}})
	if code != http.StatusTooManyRequests || !strings.Contains(body, "Too many failed attempts") {
		t.Errorf("throttled login: %d", code)
	}
	resp, err := http.Get(s.ts.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var sb strings.Builder
	buf := make([]byte, 1<<16)
	for {
		n, err := resp.Body.Read(buf)
		sb.Write(buf[:n])
		if err != nil {
			break
		}
	}
	m := sb.String()
	wantContains(t, m, `mail_logins_total{protocol="web",result="password"} 5`, `mail_logins_total{protocol="web",result="throttled"}`,
		"mail_open_connections 3", "# TYPE mail_delivery_latency_seconds histogram")
	if regexp.MustCompile(`(?i)pochta`).MatchString(m) {
		t.Error("metrics name the software")
	}
	// The metrics listener's handler serves only /metrics.
	rec := httptest.NewRecorder()
	s.srv.MetricsHandler().ServeHTTP(rec, httptest.NewRequest("GET", "/login", nil))
	if rec.Code != 404 {
		t.Errorf("metrics listener serves /login: %d", rec.Code)
	}
}

func TestSessionsExpire(t *testing.T) {
	st := newSite(t, testListeners()).st
	m := &Sessions{Store: st, Idle: time.Hour, Max: 24 * time.Hour}
	ctx := context.Background()
	t0 := time.Now()
	a, err := st.AccountByAddress(ctx, "alice@example.org")
	if err != nil {
		t.Fatal(err)
	}
	s, err := m.Create(ctx, Session{AccountID: a.ID, Created: t0, LastSeen: t0})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Get(ctx, s.ID, t0.Add(50*time.Minute)); err != nil {
		t.Fatalf("fresh session: %v", err)
	}
	if _, err := m.Get(ctx, s.ID, t0.Add(100*time.Minute)); err != nil {
		t.Fatalf("session used 50 minutes ago: %v", err)
	}
	if _, err := m.Get(ctx, s.ID, t0.Add(200*time.Minute)); !errors.Is(err, ErrNoSession) {
		t.Fatalf("idle session: %v", err)
	}
	s2, _ := m.Create(ctx, Session{AccountID: a.ID, Created: t0, LastSeen: t0})
	for h := time.Duration(1); h <= 35; h++ {
		_, err = m.Get(ctx, s2.ID, t0.Add(h*50*time.Minute))
	}
	if !errors.Is(err, ErrNoSession) {
		t.Fatal("a session outlived its maximum age")
	}
	if _, err := m.Get(ctx, "nonsense", t0); !errors.Is(err, ErrNoSession) {
		t.Fatal("unknown id accepted")
	}
}

// A session lives in the store: a second server over the same store (a
// restart, another node) knows it, and the sign-in log with it.
func TestSessionSurvivesRestart(t *testing.T) {
	s := newSite(t, testListeners())
	b := s.browser()
	b.login("alice")
	srv2, err := New(Options{Config: s.cfg, Store: s.st, Auth: s.auth, Listeners: testListeners})
	if err != nil {
		t.Fatal(err)
	}
	ts2 := httptest.NewServer(srv2.Handler())
	defer ts2.Close()
	old := s.ts.URL
	s.ts.URL = ts2.URL
	defer func() { s.ts.URL = old }()
	// The cookie jar is per host; copy the session cookie over.
	u1, _ := url.Parse(old)
	u2, _ := url.Parse(ts2.URL)
	b.c.Jar.SetCookies(u2, b.c.Jar.Cookies(u1))
	code, _, body := b.get("/account/security")
	if code != http.StatusOK {
		t.Fatalf("security page on the second server: %d", code)
	}
	wantContains(t, body, "alice@example.org", "127.0.0.1")
}

func TestLanguageSwitchAfterForm(t *testing.T) {
	s := newSite(t, testListeners())
	b := s.browser()
	b.login("alice")
	_, _, body := b.post("/account/app-passwords", url.Values{"name": {"x"}})
	if !strings.Contains(body, `href="/lang?l=ru&amp;next=%2faccount%2fsecurity"`) {
		t.Errorf("the switch on a form's answer does not lead to the page:\n%s", body)
	}
}
