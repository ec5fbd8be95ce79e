package web

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/pochta-mail/pochta/internal/auth"
	"github.com/pochta-mail/pochta/internal/config"
	"github.com/pochta-mail/pochta/internal/delivery"
	"github.com/pochta-mail/pochta/internal/msgauth"
	"github.com/pochta-mail/pochta/internal/store"
	"github.com/pochta-mail/pochta/internal/store/sqlite"
)

// site is a web server over a real sqlite store with three accounts:
// alice and bob (users) and root (admin), passwords "<name>-password-1".
type site struct {
	t    *testing.T
	st   store.Store
	auth *auth.Authenticator
	srv  *Server
	ts   *httptest.Server
	cfg  *config.Config
	q    *delivery.DirQueue
	ids  map[string]int64
}

// testListeners are the listeners the test site pretends to serve.
func testListeners() []config.Listener {
	return []config.Listener{
		{Name: "smtp", Addr: "127.0.0.1:25"},
		{Name: "submission", Addr: "127.0.0.1:587"},
		{Name: "submissions", Addr: "127.0.0.1:465", ImplicitTLS: true},
		{Name: "pop3", Addr: "127.0.0.1:110"},
		{Name: "pop3s", Addr: "127.0.0.1:995", ImplicitTLS: true},
		{Name: "imap", Addr: "127.0.0.1:143"},
		{Name: "imaps", Addr: "127.0.0.1:993", ImplicitTLS: true},
		{Name: "http", Addr: "127.0.0.1:8080"},
	}
}

func newSite(t *testing.T, listeners []config.Listener) *site {
	t.Helper()
	return newSiteWith(t, listeners, nil)
}

// newSiteWith is newSite with a change to the configuration, made before
// the server starts.
func newSiteWith(t *testing.T, listeners []config.Listener, change func(*config.Config)) *site {
	t.Helper()
	ctx := context.Background()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	st, err := sqlite.Open(ctx, sqlite.Options{Dir: t.TempDir(), Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if _, err := st.CreateDomain(ctx, "example.org"); err != nil {
		t.Fatal(err)
	}
	s := &site{t: t, st: st, ids: map[string]int64{}}
	for _, u := range []struct {
		name  string
		admin bool
	}{{"alice", false}, {"bob", false}, {"root", true}} {
		hash, err := auth.HashParams{Time: 1, MemoryKiB: 64, Threads: 1}.Hash(u.name + "-password-1")
		if err != nil {
			t.Fatal(err)
		}
		a, err := st.CreateAccount(ctx, store.NewAccount{Address: u.name + "@example.org", PasswordHash: hash,
			QuotaBytes: 1 << 30, Admin: u.admin, Settings: store.DefaultSettings()})
		if err != nil {
			t.Fatal(err)
		}
		s.ids[u.name] = a.ID
	}
	s.cfg = config.Default()
	s.cfg.Hostname = "mail.example.org"
	if change != nil {
		change(s.cfg)
	}
	metrics := NewMetrics(MetricsOptions{OpenConnections: func() int { return 3 }})
	rec := &SignInRecorder{Store: st, PrimaryDomain: "example.org", Metrics: metrics, Logger: log}
	s.auth = auth.NewAuthenticator(st, auth.Policy{MaxFailures: 5, Window: time.Minute, PrimaryDomain: "example.org"}, log)
	s.auth.OnLogin(rec.Observe)
	if s.q, err = delivery.OpenDirQueue(t.TempDir()); err != nil {
		t.Fatal(err)
	}
	secret, err := auth.NewSecretKey(bytes.Repeat([]byte{7}, 32))
	if err != nil {
		t.Fatal(err)
	}
	s.srv, err = New(Options{Config: s.cfg, Store: st, Auth: s.auth, Metrics: metrics, Queue: s.q,
		DKIM:      msgauth.NewStoreKeys(st, secret, 0, log),
		Listeners: func() []config.Listener { return listeners }, MetricsOnWeb: true, Logger: log,
		QueueSize:       func(context.Context) (int, error) { return 7, nil },
		OpenConnections: func() int { return 3 }})
	if err != nil {
		t.Fatal(err)
	}
	s.ts = httptest.NewServer(s.srv.Handler())
	t.Cleanup(s.ts.Close)
	return s
}

// browser is a client with its own cookies that does not follow
// redirects, remembering the CSRF token of the last page.
type browser struct {
	s    *site
	c    *http.Client
	csrf string
	lang string
}

func (s *site) browser() *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{s: s, c: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}}
}

var csrfRE = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// do sends a request and returns the status, the Location and the body.
func (b *browser) do(req *http.Request) (int, string, string) {
	b.s.t.Helper()
	if b.lang != "" {
		req.Header.Set("Accept-Language", b.lang)
	}
	resp, err := b.c.Do(req)
	if err != nil {
		b.s.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if m := csrfRE.FindSubmatch(body); m != nil {
		b.csrf = string(m[1])
	}
	return resp.StatusCode, resp.Header.Get("Location"), string(body)
}

func (b *browser) get(path string) (int, string, string) {
	b.s.t.Helper()
	req, _ := http.NewRequest("GET", b.s.ts.URL+path, nil)
	return b.do(req)
}

// post sends a form with the current CSRF token (unless form has one).
func (b *browser) post(path string, form url.Values) (int, string, string) {
	b.s.t.Helper()
	if form == nil {
		form = url.Values{}
	}
	if _, ok := form["csrf"]; !ok {
		form.Set("csrf", b.csrf)
	}
	req, _ := http.NewRequest("POST", b.s.ts.URL+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return b.do(req)
}

// login signs in and fails the test if it does not work.
func (b *browser) login(name string) {
	b.s.t.Helper()
	b.get("/login")
	code, loc, body := b.post("/login", url.Values{"address": {name + "@example.org"}, "password": {name + "-password-1"}})
	if code != http.StatusSeeOther || loc != "/account" {
		b.s.t.Fatalf("login %s: %d %q\n%s", name, code, loc, body)
	}
	b.get("/account")
}

func (s *site) account(name string) store.Account {
	s.t.Helper()
	a, err := s.st.Account(context.Background(), s.ids[name])
	if err != nil {
		s.t.Fatal(err)
	}
	return a
}

func wantContains(t *testing.T, body string, subs ...string) {
	t.Helper()
	for _, sub := range subs {
		if !strings.Contains(body, sub) {
			t.Errorf("page lacks %q", sub)
		}
	}
}
