// Package web serves the settings pages: «Почтовые программы» and the rest
// of each account's settings, automatic client configuration (Thunderbird
// autoconfig, Outlook Autodiscover, Apple configuration profiles), the
// operator's admin pages and /metrics.
//
// Pages are rendered on the server with html/template in English and
// Russian; assets are embedded. Sessions live in HttpOnly, SameSite
// cookies (Secure over HTTPS); every form carries a CSRF token and every
// unsafe request also passes http.CrossOriginProtection.
package web

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/tls"
	"embed"
	"encoding/base64"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/pochta-mail/pochta/internal/auth"
	"github.com/pochta-mail/pochta/internal/config"
	"github.com/pochta-mail/pochta/internal/delivery"
	"github.com/pochta-mail/pochta/internal/msgauth"
	"github.com/pochta-mail/pochta/internal/store"
)

//go:embed templates/*.html static/*
var assets embed.FS

// Cookie names. They name nothing about the software.
const (
	sessionCookie = "sid"
	csrfCookie    = "csrf"
)

// Options configure a Server.
type Options struct {
	Config *config.Config
	Store  store.Store
	Auth   *auth.Authenticator
	// HashParams is the cost of password hashes made here (new passwords,
	// app passwords); zero fields take the defaults.
	HashParams auth.HashParams
	// Sessions keeps web sessions; nil means in the Store with the
	// lifetimes of Config.Web. The sign-in log shown to account owners is
	// the Store's: register a SignInRecorder with the Authenticator so
	// that every protocol's attempts appear.
	Sessions *Sessions
	// Metrics are served on /metrics; nil makes a fresh set.
	Metrics *Metrics
	// Listeners returns the listeners that serve, with their real
	// addresses; nil means Config.Listeners().
	Listeners func() []config.Listener
	// TLSConfig serves the https listener.
	TLSConfig *tls.Config
	// Certificate describes the certificate for the health page; may be
	// nil.
	Certificate func() (notAfter time.Time, selfSigned bool)
	// Queue is the outbound queue the admin pages list, retry and drop
	// from; nil hides it.
	Queue delivery.Queue
	// WakeQueue, when set, tells the delivery engine to look at the
	// queue now (after a retry).
	WakeQueue func()
	// QueueSize returns the number of messages in the outbound queue; may
	// be nil.
	QueueSize func(ctx context.Context) (int, error)
	// OpenConnections returns the number of open mail connections; may
	// be nil.
	OpenConnections func() int
	// DKIM makes the DKIM keys of domains added on the admin pages and
	// gives those shown in their DNS records; nil makes none.
	DKIM DKIMKeys
	// MetricsOnWeb serves /metrics on the http/https listeners too (the
	// default unless a metrics listener of its own is configured).
	MetricsOnWeb bool
	// MinPasswordLength is the shortest new password accepted; 0 means 10.
	MinPasswordLength int
	Logger            *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// DKIMKeys makes and lists the DKIM keys of domains
// (msgauth.StoreKeys).
type DKIMKeys interface {
	// Generate makes a domain's keys, or returns those it has.
	Generate(ctx context.Context, domain string, now time.Time) ([]msgauth.Key, error)
	// Keys returns a domain's active keys.
	Keys(ctx context.Context, domain string) ([]msgauth.Key, error)
}

// Server is the web application. It is safe for concurrent use.
type Server struct {
	o       Options
	cat     catalog
	pages   map[string]*template.Template
	csrfKey []byte
	started time.Time
	handler http.Handler
}

// New makes a Server.
func New(o Options) (*Server, error) {
	if o.Config == nil || o.Store == nil || o.Auth == nil {
		return nil, errors.New("web: Config, Store and Auth are required")
	}
	if o.Sessions == nil {
		o.Sessions = &Sessions{Store: o.Store, Idle: o.Config.Web.SessionIdle.Duration(), Max: o.Config.Web.SessionMax.Duration()}
	}
	if o.Metrics == nil {
		o.Metrics = NewMetrics(MetricsOptions{})
	}
	if o.Listeners == nil {
		o.Listeners = o.Config.Listeners
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.MinPasswordLength <= 0 {
		o.MinPasswordLength = 10
	}
	key, err := randomToken(32)
	if err != nil {
		return nil, fmt.Errorf("web: %w", err)
	}
	s := &Server{o: o, cat: newCatalog(), csrfKey: []byte(key), started: o.Now()}
	if err := s.parseTemplates(); err != nil {
		return nil, err
	}
	s.handler = s.routes()
	return s, nil
}

// parseTemplates makes one template set per page: the layout plus the
// page's file.
func (s *Server) parseTemplates() error {
	names, err := fs.Glob(assets, "templates/*.html")
	if err != nil {
		return fmt.Errorf("web templates: %w", err)
	}
	funcs := template.FuncMap{
		"size": formatSize,
		"time": func(t time.Time) string {
			if t.IsZero() {
				return "—"
			}
			return t.UTC().Format("2006-01-02 15:04")
		},
		"has": func(list []string, v string) bool {
			for _, x := range list {
				if strings.EqualFold(x, v) {
					return true
				}
			}
			return false
		},
	}
	s.pages = map[string]*template.Template{}
	for _, n := range names {
		base := strings.TrimSuffix(strings.TrimPrefix(n, "templates/"), ".html")
		if base == "layout" {
			continue
		}
		t, err := template.New(base).Funcs(funcs).ParseFS(assets, "templates/layout.html", n)
		if err != nil {
			return fmt.Errorf("web template %s: %w", n, err)
		}
		s.pages[base] = t
	}
	return nil
}

// Handler returns the whole site: pages, autoconfig, static files and,
// with MetricsOnWeb, /metrics.
func (s *Server) Handler() http.Handler { return s.handler }

// MetricsHandler serves only /metrics, for a listener of its own.
func (s *Server) MetricsHandler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", s.o.Metrics.Handler())
	return mux
}

// Serve serves h on ln until ctx ends, then shuts down gracefully. With
// implicitTLS the connections are TLS with Options.TLSConfig.
func (s *Server) Serve(ctx context.Context, ln net.Listener, implicitTLS bool, h http.Handler) error {
	if implicitTLS {
		if s.o.TLSConfig == nil {
			return errors.New("https: no TLS configuration")
		}
		ln = tls.NewListener(ln, s.o.TLSConfig)
	}
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(s.o.Logger.Handler(), slog.LevelDebug),
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(sctx)
	}()
	err := srv.Serve(ln)
	if errors.Is(err, http.ErrServerClosed) {
		<-done
		return nil
	}
	return fmt.Errorf("web: %w", err)
}

// routes builds the site's handler.
func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	static, _ := fs.Sub(assets, "static")
	mux.Handle("GET /static/", http.StripPrefix("/static/", http.FileServerFS(static)))
	mux.HandleFunc("GET /{$}", s.home)
	mux.HandleFunc("GET /lang", s.switchLang)
	mux.HandleFunc("GET /login", s.loginPage)
	mux.HandleFunc("POST /login", s.loginPost)
	mux.HandleFunc("POST /logout", s.user(s.logout))

	mux.HandleFunc("GET /account", s.user(s.accountPage))
	mux.HandleFunc("GET /account/programs", s.user(s.programsPage))
	mux.HandleFunc("POST /account/programs", s.user(s.programsPost))
	mux.HandleFunc("GET /account/security", s.user(s.securityPage))
	mux.HandleFunc("POST /account/app-passwords", s.user(s.appPasswordCreate))
	mux.HandleFunc("POST /account/app-passwords/revoke", s.user(s.appPasswordRevoke))
	mux.HandleFunc("POST /account/logout-all", s.user(s.logoutAll))
	mux.HandleFunc("POST /account/password", s.user(s.passwordPost))
	mux.HandleFunc("GET /account/mail.mobileconfig", s.user(s.mobileconfig))
	mux.HandleFunc("POST /account/forward", s.user(s.forwardPost))
	mux.HandleFunc("POST /account/aliases", s.user(s.aliasAddSelf))
	mux.HandleFunc("POST /account/aliases/delete", s.user(s.aliasDeleteSelf))

	mux.HandleFunc("GET /admin", s.admin(s.adminDomains))
	mux.HandleFunc("POST /admin/domains", s.admin(s.adminDomainAdd))
	mux.HandleFunc("POST /admin/domains/delete", s.admin(s.adminDomainDelete))
	mux.HandleFunc("GET /admin/accounts", s.admin(s.adminAccounts))
	mux.HandleFunc("POST /admin/accounts", s.admin(s.adminAccountCreate))
	mux.HandleFunc("GET /admin/account", s.admin(s.adminAccount))
	mux.HandleFunc("POST /admin/account", s.admin(s.adminAccountUpdate))
	mux.HandleFunc("POST /admin/account/reset", s.admin(s.adminAccountReset))
	mux.HandleFunc("GET /admin/aliases", s.admin(s.adminAliases))
	mux.HandleFunc("POST /admin/aliases", s.admin(s.adminAliasAdd))
	mux.HandleFunc("POST /admin/aliases/delete", s.admin(s.adminAliasDelete))
	mux.HandleFunc("GET /admin/health", s.admin(s.adminHealth))
	mux.HandleFunc("GET /admin/queue", s.admin(s.adminQueue))
	mux.HandleFunc("POST /admin/queue/retry", s.admin(s.adminQueueRetry))
	mux.HandleFunc("POST /admin/queue/drop", s.admin(s.adminQueueDrop))
	mux.HandleFunc("GET /admin/settings", s.admin(s.adminSettings))
	mux.HandleFunc("POST /admin/settings", s.admin(s.adminSettingsPost))

	// Automatic client configuration.
	mux.HandleFunc("GET /.well-known/autoconfig/mail/config-v1.1.xml", s.autoconfig)
	mux.HandleFunc("GET /mail/config-v1.1.xml", s.autoconfig)
	mux.HandleFunc("GET /.well-known/mta-sts.txt", s.mtaSTS)
	for _, p := range []string{"/autodiscover/autodiscover.xml", "/Autodiscover/Autodiscover.xml"} {
		mux.HandleFunc("POST "+p, s.autodiscover)
		mux.HandleFunc("GET "+p, s.autodiscover)
	}
	if s.o.MetricsOnWeb {
		mux.Handle("GET /metrics", s.o.Metrics.Handler())
	}
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		s.fail(w, r, http.StatusNotFound, "err.notfound")
	})
	cop := http.NewCrossOriginProtection()
	cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.fail(w, r, http.StatusForbidden, "err.csrf")
	}))
	// Autodiscover is posted by mail programs, never by a browser form;
	// it changes nothing.
	cop.AddInsecureBypassPattern("POST /autodiscover/autodiscover.xml")
	cop.AddInsecureBypassPattern("POST /Autodiscover/Autodiscover.xml")
	return securityHeaders(cop.Handler(mux))
}

// securityHeaders sets the headers every response carries.
func securityHeaders(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; form-action 'self'; base-uri 'none'")
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("X-Frame-Options", "DENY")
		hd.Set("Referrer-Policy", "same-origin")
		if r.TLS != nil {
			hd.Set("Strict-Transport-Security", "max-age=31536000")
		}
		h.ServeHTTP(w, r)
	})
}

// req is what a handler knows about a request.
type req struct {
	lang    Lang
	session *Session
	account store.Account
	csrf    string
}

// page is the data every template gets.
type page struct {
	L       Lang
	Title   string
	CSRF    string
	Signed  bool
	Account store.Account
	Path    string
	Flash   string
	Error   string
	// Secret is a password shown once (app password, reset password).
	Secret string
	Data   any
}

func (s *Server) newReq(w http.ResponseWriter, r *http.Request) *req {
	q := &req{lang: Lang{Code: pickLang(r), cat: s.cat}}
	if c, err := r.Cookie(sessionCookie); err == nil && c.Value != "" {
		if sess, err := s.o.Sessions.Get(r.Context(), c.Value, s.o.Now()); err == nil {
			if a, err := s.o.Store.Account(r.Context(), sess.AccountID); err == nil && !a.Disabled {
				q.session, q.account = &sess, a
			}
		}
	}
	if q.session != nil {
		q.csrf = s.mac("s|" + q.session.ID)
	} else {
		pre := ""
		if c, err := r.Cookie(csrfCookie); err == nil && len(c.Value) >= 20 {
			pre = c.Value
		} else {
			pre, _ = randomToken(24)
			http.SetCookie(w, s.cookie(r, csrfCookie, pre, 0))
		}
		q.csrf = s.mac("p|" + pre)
	}
	return q
}

// mac returns the CSRF token bound to v.
func (s *Server) mac(v string) string {
	m := hmac.New(sha256.New, s.csrfKey)
	m.Write([]byte(v))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// checkCSRF reports whether a POST carries the token of its session (or
// of its pre-session cookie).
func (s *Server) checkCSRF(r *http.Request, q *req) bool {
	got := r.PostFormValue("csrf")
	return got != "" && hmac.Equal([]byte(got), []byte(q.csrf))
}

// cookie makes a cookie with the site's security attributes; maxAge 0
// means a browser-session cookie, < 0 deletes it.
func (s *Server) cookie(r *http.Request, name, value string, maxAge int) *http.Cookie {
	return &http.Cookie{Name: name, Value: value, Path: "/", MaxAge: maxAge, HttpOnly: true,
		Secure: r.TLS != nil, SameSite: http.SameSiteLaxMode}
}

// user wraps a handler that needs a signed-in account; POSTs must carry
// the CSRF token.
func (s *Server) user(h func(http.ResponseWriter, *http.Request, *req)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		q := s.newReq(w, r)
		if q.session == nil {
			if r.Method == http.MethodGet {
				http.Redirect(w, r, "/login?next="+urlQueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
				return
			}
			s.fail(w, r, http.StatusForbidden, "err.csrf")
			return
		}
		if r.Method == http.MethodPost && !s.checkCSRF(r, q) {
			s.fail(w, r, http.StatusForbidden, "err.csrf")
			return
		}
		h(w, r, q)
	}
}

// admin wraps a handler for administrators only.
func (s *Server) admin(h func(http.ResponseWriter, *http.Request, *req)) http.HandlerFunc {
	return s.user(func(w http.ResponseWriter, r *http.Request, q *req) {
		if !s.isAdmin(q.account) {
			s.fail(w, r, http.StatusForbidden, "err.forbidden")
			return
		}
		h(w, r, q)
	})
}

// isAdmin reports whether an account may use the admin pages: it has the
// admin flag or is in the configuration's [web] admins list.
func (s *Server) isAdmin(a store.Account) bool {
	if a.Admin {
		return true
	}
	for _, x := range s.o.Config.Web.Admins {
		if strings.EqualFold(strings.TrimSpace(x), a.Address) {
			return true
		}
	}
	return false
}

// getPath returns the page that shows a template, for pages rendered as
// the answer to a form.
func getPath(template string) string {
	switch template {
	case "login":
		return "/login"
	case "programs":
		return "/account/programs"
	case "security":
		return "/account/security"
	case "admin_domains":
		return "/admin"
	case "admin_accounts", "admin_account":
		return "/admin/accounts"
	case "admin_aliases":
		return "/admin/aliases"
	case "admin_health":
		return "/admin/health"
	case "admin_queue":
		return "/admin/queue"
	case "admin_settings":
		return "/admin/settings"
	}
	return "/account"
}

// render writes a page.
func (s *Server) render(w http.ResponseWriter, r *http.Request, q *req, status int, name, titleKey string, p page) {
	t, ok := s.pages[name]
	if !ok {
		s.internal(w, r, fmt.Errorf("no template %q", name))
		return
	}
	p.L, p.CSRF, p.Path = q.lang, q.csrf, r.URL.RequestURI()
	if r.Method != http.MethodGet {
		// The language switch must lead back to a page, not to a form
		// target.
		p.Path = getPath(name)
	}
	p.Title = q.lang.T(titleKey)
	if q.session != nil {
		p.Signed, p.Account = true, q.account
		// The menu shows the admin pages to configured admins too.
		p.Account.Admin = s.isAdmin(q.account)
	}
	var buf strings.Builder
	if err := t.ExecuteTemplate(&buf, "layout", p); err != nil {
		s.internal(w, r, fmt.Errorf("render %s: %w", name, err))
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Language", q.lang.Code)
	w.WriteHeader(status)
	w.Write([]byte(buf.String()))
}

// fail shows an error page with a message from the catalog.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, status int, key string) {
	q := &req{lang: Lang{Code: pickLang(r), cat: s.cat}}
	if c, err := r.Cookie(sessionCookie); err == nil {
		if sess, err := s.o.Sessions.Get(r.Context(), c.Value, s.o.Now()); err == nil {
			if a, err := s.o.Store.Account(r.Context(), sess.AccountID); err == nil {
				q.session, q.account = &sess, a
				q.csrf = s.mac("s|" + sess.ID)
			}
		}
	}
	s.render(w, r, q, status, "error", "err.title", page{Error: q.lang.T(key)})
}

// internal logs err and shows the internal-error page.
func (s *Server) internal(w http.ResponseWriter, r *http.Request, err error) {
	s.o.Logger.Error("web request failed", "path", r.URL.Path, "err", err)
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(http.StatusInternalServerError)
	l := Lang{Code: pickLang(r), cat: s.cat}
	fmt.Fprintln(w, l.T("err.internal"))
}

// remoteIP returns the client's address.
func remoteIP(r *http.Request) netip.Addr {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr().Unmap()
}

// secureRequest reports whether a password in this request travels
// protected: over TLS, or from the machine itself (a TLS-terminating
// proxy on loopback, or a browser on the server).
func secureRequest(r *http.Request) bool {
	return r.TLS != nil || remoteIP(r).IsLoopback()
}

// localPath returns next if it is a path on this site, else "/account".
func localPath(next string) string {
	if strings.HasPrefix(next, "/") && !strings.HasPrefix(next, "//") && !strings.HasPrefix(next, "/\\") && !strings.ContainsAny(next, "\r\n") {
		return next
	}
	return "/account"
}

// formatSize prints a byte count with a binary unit.
func formatSize(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
