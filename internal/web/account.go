package web

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/pochta-mail/pochta/internal/auth"
	"github.com/pochta-mail/pochta/internal/store"
)

func urlQueryEscape(s string) string { return url.QueryEscape(s) }

func (s *Server) home(w http.ResponseWriter, r *http.Request) {
	http.Redirect(w, r, "/account", http.StatusSeeOther)
}

// switchLang sets the language cookie and goes back to next.
func (s *Server) switchLang(w http.ResponseWriter, r *http.Request) {
	l := r.URL.Query().Get("l")
	if l != LangEN && l != LangRU {
		l = LangEN
	}
	http.SetCookie(w, s.cookie(r, langCookie, l, 365*24*3600))
	http.Redirect(w, r, localPath(r.URL.Query().Get("next")), http.StatusSeeOther)
}

type loginData struct {
	Next, Address string
}

func (s *Server) loginPage(w http.ResponseWriter, r *http.Request) {
	q := s.newReq(w, r)
	if q.session != nil {
		http.Redirect(w, r, localPath(r.URL.Query().Get("next")), http.StatusSeeOther)
		return
	}
	p := page{Data: loginData{Next: r.URL.Query().Get("next")}}
	if m := r.URL.Query().Get("m"); m == "loggedout" || m == "loggedoutall" || m == "passwordnew" {
		p.Flash = q.lang.T("login." + m)
	}
	s.render(w, r, q, http.StatusOK, "login", "login.title", p)
}

func (s *Server) loginPost(w http.ResponseWriter, r *http.Request) {
	q := s.newReq(w, r)
	if !s.checkCSRF(r, q) {
		s.fail(w, r, http.StatusForbidden, "err.csrf")
		return
	}
	addr := strings.TrimSpace(r.PostFormValue("address"))
	next := r.PostFormValue("next")
	res, err := s.o.Auth.Login(r.Context(), auth.Request{
		Username: addr, Password: r.PostFormValue("password"), Protocol: auth.ProtoWeb,
		TLS: secureRequest(r), RemoteIP: remoteIP(r), NoAppPasswords: true,
	})
	if err != nil {
		key := "login.failed"
		status := http.StatusUnauthorized
		switch ReasonOf(err) {
		case ReasonThrottled:
			key, status = "login.throttled", http.StatusTooManyRequests
		case ReasonTLS:
			key = "login.tls"
		case ReasonDisabled:
			key = "login.disabled"
		}
		s.render(w, r, q, status, "login", "login.title", page{Error: q.lang.T(key), Data: loginData{Next: next, Address: addr}})
		return
	}
	now := s.o.Now()
	sess, err := s.o.Sessions.Create(r.Context(), Session{AccountID: res.Account.ID, Created: now, LastSeen: now,
		RemoteIP: remoteIP(r).String(), UserAgent: r.UserAgent()})
	if err != nil {
		s.internal(w, r, err)
		return
	}
	http.SetCookie(w, s.cookie(r, sessionCookie, sess.ID, 0))
	http.Redirect(w, r, localPath(next), http.StatusSeeOther)
}

func (s *Server) logout(w http.ResponseWriter, r *http.Request, q *req) {
	if err := s.o.Sessions.Delete(r.Context(), q.session.ID); err != nil {
		s.internal(w, r, fmt.Errorf("logout: %w", err))
		return
	}
	http.SetCookie(w, s.cookie(r, sessionCookie, "", -1))
	http.Redirect(w, r, "/login?m=loggedout", http.StatusSeeOther)
}

// setupRow is one line of the client settings table.
type setupRow struct {
	Kind     string // imap, pop3, smtp
	Host     string
	Port     string
	Implicit bool
	// Off is set when the account has this protocol switched off.
	Off bool
}

// clientListeners returns the listeners mail programs use, in the order
// they are shown and offered: IMAP, POP3, SMTP submission; implicit TLS
// first within each.
func (s *Server) clientListeners() []setupRow {
	var rows []setupRow
	for _, l := range s.o.Listeners() {
		kind := ""
		switch l.Name {
		case "imap", "imaps":
			kind = "imap"
		case "pop3", "pop3s":
			kind = "pop3"
		case "submission", "submissions", "submission_extra":
			kind = "smtp"
		default:
			continue
		}
		_, port, err := net.SplitHostPort(l.Addr)
		if err != nil {
			continue
		}
		rows = append(rows, setupRow{Kind: kind, Host: s.o.Config.Hostname, Port: port, Implicit: l.ImplicitTLS})
	}
	order := map[string]int{"imap": 0, "pop3": 1, "smtp": 2}
	slices.SortStableFunc(rows, func(a, b setupRow) int {
		if order[a.Kind] != order[b.Kind] {
			return order[a.Kind] - order[b.Kind]
		}
		if a.Implicit != b.Implicit {
			if a.Implicit {
				return -1
			}
			return 1
		}
		return 0
	})
	return rows
}

// setupFor returns the client settings table of an account.
func (s *Server) setupFor(a store.Account) []setupRow {
	rows := s.clientListeners()
	for i := range rows {
		rows[i].Off = (rows[i].Kind == "imap" && !a.Settings.IMAPEnabled) || (rows[i].Kind == "pop3" && !a.Settings.POP3Enabled)
	}
	return rows
}

// plaintextAllowed reports whether the account may send a password without
// TLS.
func (s *Server) plaintextAllowed(ctx context.Context, a store.Account) bool {
	switch a.Settings.LoginPolicy {
	case store.PolicyPlaintext:
		return true
	case store.PolicySecure:
		return false
	}
	return s.serverPlaintext(ctx)
}

// serverPlaintext is the server-wide login policy in effect: the setting
// saved on the admin page, else the configuration file's.
func (s *Server) serverPlaintext(ctx context.Context) bool {
	m, err := s.o.Store.ServerSettings(ctx)
	if err != nil {
		s.o.Logger.Warn("read server settings", "err", err)
		return s.o.Config.Auth.AllowPlaintext
	}
	return store.BoolSetting(m, store.SettingAllowPlaintext, s.o.Config.Auth.AllowPlaintext)
}

type accountData struct {
	Aliases []string
	// SelfAliases lets the owner add and delete aliases, up to
	// MaxAliases.
	SelfAliases bool
	MaxAliases  int
	// Own are the aliases that deliver to this account alone: the ones
	// the owner may delete.
	Own []string
	// Forward is the forwarding list as typed; ForwardKeep keeps a copy.
	Forward     string
	ForwardKeep bool
	Usage       string
	Percent     int
	Plus        string
	Setup       []setupRow
	Plaintext   bool
	HasApple    bool
}

func (s *Server) accountPage(w http.ResponseWriter, r *http.Request, q *req) {
	p := page{}
	switch m := r.URL.Query().Get("m"); m {
	case "fwd":
		p.Flash = q.lang.T("fwd.saved")
	case "aliasadded", "aliasgone":
		p.Flash = q.lang.T("acct." + m)
	}
	s.showAccountPage(w, r, q, http.StatusOK, p)
}

// showAccountPage renders the account page with p's flash or error; a
// string in p.Data is the forwarding text of a refused form.
func (s *Server) showAccountPage(w http.ResponseWriter, r *http.Request, q *req, status int, p page) {
	a := q.account
	aliases, err := s.o.Store.AliasesOf(r.Context(), a.ID)
	if err != nil {
		s.internal(w, r, fmt.Errorf("aliases of %s: %w", a.Address, err))
		return
	}
	u, err := s.o.Store.Usage(r.Context(), a.ID)
	if err != nil {
		s.internal(w, r, fmt.Errorf("usage of %s: %w", a.Address, err))
		return
	}
	d := accountData{Aliases: aliases, Setup: s.setupFor(a), Plaintext: s.plaintextAllowed(r.Context(), a),
		SelfAliases: s.o.Config.Web.SelfServiceAliases, MaxAliases: s.o.Config.Web.MaxSelfServiceAliases,
		Forward: strings.Join(a.Settings.Forward, ", "), ForwardKeep: a.Settings.ForwardKeep}
	if p.Data != nil {
		d.Forward = p.Data.(string) // the text of a form that was refused
	}
	if d.SelfAliases {
		if d.Own, err = s.ownAliases(r, a); err != nil {
			s.internal(w, r, err)
			return
		}
	}
	if a.QuotaBytes > 0 {
		d.Usage = q.lang.F("acct.quotaused", formatSize(u.Bytes), formatSize(a.QuotaBytes), u.Messages)
		d.Percent = int(min(100, u.Bytes*100/a.QuotaBytes))
	} else {
		d.Usage = q.lang.F("acct.quotanolim", formatSize(u.Bytes), u.Messages)
	}
	if sep := s.o.Config.SMTP.PlusSeparator; sep != "" {
		local, domain, _ := strings.Cut(a.Address, "@")
		d.Plus = local + sep[:1] + "anything@" + domain
	}
	for _, row := range d.Setup {
		if row.Kind != "smtp" && !row.Off {
			d.HasApple = true
		}
	}
	p.Data = d
	s.render(w, r, q, status, "account", "acct.title", p)
}

type programsData struct {
	Settings   store.Settings
	Folders    []string
	Selected   []string
	ServerPOP3 bool
	ServerIMAP bool
	Since      string
}

func (s *Server) programsData(r *http.Request, a store.Account) (programsData, error) {
	folders, err := s.o.Store.Folders(r.Context(), a.ID)
	if err != nil {
		return programsData{}, fmt.Errorf("folders of %s: %w", a.Address, err)
	}
	d := programsData{Settings: a.Settings, Selected: a.Settings.POP3Folders,
		ServerPOP3: s.o.Config.POP3.Enabled, ServerIMAP: s.o.Config.IMAP.Enabled}
	for _, f := range folders {
		if f.Role == store.RoleInbox {
			d.Folders = append([]string{f.Name}, d.Folders...)
		} else {
			d.Folders = append(d.Folders, f.Name)
		}
	}
	if len(d.Selected) == 0 {
		d.Selected = []string{"INBOX"}
	}
	if !a.Settings.POP3Since.IsZero() {
		d.Since = a.Settings.POP3Since.UTC().Format("2006-01-02 15:04 UTC")
	}
	if d.Settings.POP3Delete == "" {
		d.Settings.POP3Delete = store.POP3DeleteTrash
	}
	return d, nil
}

func (s *Server) programsPage(w http.ResponseWriter, r *http.Request, q *req) {
	d, err := s.programsData(r, q.account)
	if err != nil {
		s.internal(w, r, err)
		return
	}
	p := page{Data: d}
	if r.URL.Query().Get("saved") == "1" {
		p.Flash = q.lang.T("saved")
	}
	s.render(w, r, q, http.StatusOK, "programs", "prog.title", p)
}

// applyPrograms changes a's settings from the «Mail programs» form: the
// same settings `pochta user set` changes.
func applyPrograms(a *store.Account, f url.Values, now time.Time) error {
	st := &a.Settings
	st.IMAPEnabled = f.Get("imap") == "on"
	st.POP3Enabled = f.Get("pop3") == "on"
	st.POP3MarkSeen = f.Get("mark_seen") == "on"
	switch f.Get("since") {
	case "all":
		st.POP3Since = time.Time{}
	case "now":
		st.POP3Since = now.UTC().Truncate(time.Second)
	case "keep", "":
	default:
		return fmt.Errorf("since: %w", store.ErrInvalid)
	}
	switch v := store.POP3DeleteAction(f.Get("delete")); v {
	case store.POP3DeleteTrash, store.POP3DeleteKeep, store.POP3DeleteExpunge:
		st.POP3Delete = v
	case "":
	default:
		return fmt.Errorf("delete action %q: %w", v, store.ErrInvalid)
	}
	folders := f["folders"]
	if len(folders) == 1 && strings.EqualFold(folders[0], "INBOX") {
		folders = nil // the default
	}
	st.POP3Folders = folders
	return nil
}

func (s *Server) programsPost(w http.ResponseWriter, r *http.Request, q *req) {
	a := q.account
	if err := applyPrograms(&a, r.PostForm, s.o.Now()); err != nil {
		s.fail(w, r, http.StatusBadRequest, "err.badrequest")
		return
	}
	for _, name := range a.Settings.POP3Folders {
		if _, err := s.o.Store.Folder(r.Context(), a.ID, name); err != nil {
			d, derr := s.programsData(r, q.account)
			if derr != nil {
				s.internal(w, r, derr)
				return
			}
			s.render(w, r, q, http.StatusBadRequest, "programs", "prog.title", page{Data: d, Error: q.lang.F("prog.badfolder", name)})
			return
		}
	}
	if err := s.o.Store.UpdateAccount(r.Context(), a); err != nil {
		s.internal(w, r, fmt.Errorf("save settings of %s: %w", a.Address, err))
		return
	}
	s.o.Logger.Info("account settings changed on the web", "account", a.Address, "pop3", a.Settings.POP3Enabled, "imap", a.Settings.IMAPEnabled)
	http.Redirect(w, r, "/account/programs?saved=1", http.StatusSeeOther)
}

type signInRow struct {
	store.SignIn
	OK  bool
	Why string
}

type securityData struct {
	AppPasswords []store.AppPassword
	SignIns      []signInRow
	CreatedName  string
	MinLength    int
}

func (s *Server) securityData(r *http.Request, q *req) (securityData, error) {
	aps, err := s.o.Store.AppPasswords(r.Context(), q.account.ID)
	if err != nil {
		return securityData{}, fmt.Errorf("app passwords of %s: %w", q.account.Address, err)
	}
	recent, err := s.o.Store.SignIns(r.Context(), q.account.ID, 50)
	if err != nil {
		return securityData{}, fmt.Errorf("sign-ins of %s: %w", q.account.Address, err)
	}
	d := securityData{AppPasswords: aps, MinLength: s.o.MinPasswordLength}
	for _, si := range recent {
		row := signInRow{SignIn: si, OK: si.Reason == "", Why: q.lang.T("log.ok")}
		if !row.OK {
			row.Why = q.lang.T("reason." + si.Reason)
		}
		d.SignIns = append(d.SignIns, row)
	}
	return d, nil
}

func (s *Server) securityPage(w http.ResponseWriter, r *http.Request, q *req) {
	s.showSecurity(w, r, q, http.StatusOK, page{})
}

func (s *Server) showSecurity(w http.ResponseWriter, r *http.Request, q *req, status int, p page) {
	d, err := s.securityData(r, q)
	if err != nil {
		s.internal(w, r, err)
		return
	}
	if p.Data != nil {
		d.CreatedName = p.Data.(string)
	}
	switch r.URL.Query().Get("m") {
	case "revoked":
		p.Flash = q.lang.T("app.revoked")
	}
	p.Data = d
	s.render(w, r, q, status, "security", "sec.title", p)
}

func (s *Server) appPasswordCreate(w http.ResponseWriter, r *http.Request, q *req) {
	name := strings.TrimSpace(r.PostFormValue("name"))
	if name == "" || len([]rune(name)) > 64 {
		s.showSecurity(w, r, q, http.StatusBadRequest, page{Error: q.lang.T("app.badname")})
		return
	}
	var protos []string
	for _, p := range r.PostForm["protocols"] {
		if (p == "imap" || p == "pop3" || p == "smtp") && !slices.Contains(protos, p) {
			protos = append(protos, p)
		}
	}
	if len(protos) == 3 {
		protos = nil
	}
	pw, err := auth.GeneratePassword(16)
	if err != nil {
		s.internal(w, r, fmt.Errorf("app password: %w", err))
		return
	}
	hash, err := s.o.HashParams.Hash(pw)
	if err != nil {
		s.internal(w, r, fmt.Errorf("app password: %w", err))
		return
	}
	if _, err := s.o.Store.CreateAppPassword(r.Context(), store.AppPassword{AccountID: q.account.ID, Name: name, Hash: hash, Protocols: protos, CreatedAt: s.o.Now()}); err != nil {
		s.internal(w, r, fmt.Errorf("create app password for %s: %w", q.account.Address, err))
		return
	}
	s.showSecurity(w, r, q, http.StatusOK, page{Secret: pw, Flash: q.lang.F("app.created", name), Data: name})
}

func (s *Server) appPasswordRevoke(w http.ResponseWriter, r *http.Request, q *req) {
	id, err := strconv.ParseInt(r.PostFormValue("id"), 10, 64)
	if err != nil {
		s.fail(w, r, http.StatusBadRequest, "err.badrequest")
		return
	}
	// The store deletes only an app password of this account, so another
	// account's id is not found.
	if err := s.o.Store.DeleteAppPassword(r.Context(), q.account.ID, id); errors.Is(err, store.ErrNotFound) {
		s.fail(w, r, http.StatusNotFound, "err.notfound")
		return
	} else if err != nil {
		s.internal(w, r, fmt.Errorf("revoke app password: %w", err))
		return
	}
	http.Redirect(w, r, "/account/security?m=revoked", http.StatusSeeOther)
}

func (s *Server) logoutAll(w http.ResponseWriter, r *http.Request, q *req) {
	aps, err := s.o.Store.AppPasswords(r.Context(), q.account.ID)
	if err != nil {
		s.internal(w, r, fmt.Errorf("log out everywhere: %w", err))
		return
	}
	for _, ap := range aps {
		if err := s.o.Store.DeleteAppPassword(r.Context(), q.account.ID, ap.ID); err != nil && !errors.Is(err, store.ErrNotFound) {
			s.internal(w, r, fmt.Errorf("log out everywhere: %w", err))
			return
		}
	}
	if err := s.o.Sessions.DeleteAccount(r.Context(), q.account.ID, ""); err != nil {
		s.internal(w, r, fmt.Errorf("log out everywhere: %w", err))
		return
	}
	s.o.Logger.Info("logged out on all devices", "account", q.account.Address, "app_passwords", len(aps))
	http.SetCookie(w, s.cookie(r, sessionCookie, "", -1))
	http.Redirect(w, r, "/login?m=loggedoutall", http.StatusSeeOther)
}

func (s *Server) passwordPost(w http.ResponseWriter, r *http.Request, q *req) {
	cur, nw, again := r.PostFormValue("current"), r.PostFormValue("new"), r.PostFormValue("repeat")
	fail := func(msg string) { s.showSecurity(w, r, q, http.StatusBadRequest, page{Error: msg}) }
	if err := auth.VerifyPassword(q.account.PasswordHash, cur); err != nil {
		fail(q.lang.T("pw.wrongcurrent"))
		return
	}
	if nw != again {
		fail(q.lang.T("pw.mismatch"))
		return
	}
	if len([]rune(nw)) < s.o.MinPasswordLength {
		fail(q.lang.F("pw.short", s.o.MinPasswordLength))
		return
	}
	hash, err := s.o.HashParams.Hash(nw)
	if err != nil {
		s.internal(w, r, fmt.Errorf("change password: %w", err))
		return
	}
	a := q.account
	a.PasswordHash = hash
	if err := s.o.Store.UpdateAccount(r.Context(), a); err != nil {
		s.internal(w, r, fmt.Errorf("change password of %s: %w", a.Address, err))
		return
	}
	if err := s.o.Sessions.DeleteAccount(r.Context(), a.ID, ""); err != nil {
		s.internal(w, r, fmt.Errorf("change password: %w", err))
		return
	}
	s.o.Logger.Info("password changed on the web", "account", a.Address)
	http.SetCookie(w, s.cookie(r, sessionCookie, "", -1))
	http.Redirect(w, r, "/login?m=passwordnew", http.StatusSeeOther)
}
