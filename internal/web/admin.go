package web

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/pochta-mail/pochta/internal/auth"
	"github.com/pochta-mail/pochta/internal/config"
	"github.com/pochta-mail/pochta/internal/dnsrecords"
	"github.com/pochta-mail/pochta/internal/msgauth"
	"github.com/pochta-mail/pochta/internal/store"
)

type domainRow struct {
	store.Domain
	DNS []string
}

// dnsRecords returns the records an operator publishes for a domain, as
// zone-file lines (the list `pochta domain dns` prints).
func (s *Server) dnsRecords(ctx context.Context, domain string) []string {
	var lines []string
	var keys []msgauth.Key
	if s.o.DKIM != nil {
		var err error
		if keys, err = s.o.DKIM.Keys(ctx, domain); err != nil {
			s.o.Logger.Warn("DKIM keys not read", "domain", domain, "err", err)
			lines = append(lines, "; DKIM keys not readable: "+err.Error())
		}
	}
	recs, err := dnsrecords.For(dnsrecords.Params{Domain: domain, Host: s.o.Config.Hostname, Keys: keys,
		Ports: dnsrecords.Ports(s.o.Listeners()), MTASTSMode: s.o.Config.Queue.MTASTSPolicy})
	if err != nil {
		return append(lines, "; "+err.Error())
	}
	for _, r := range recs {
		if r.Note != "" {
			lines = append(lines, "; "+r.Note)
		}
		lines = append(lines, r.Zone)
	}
	return lines
}

func (s *Server) adminDomains(w http.ResponseWriter, r *http.Request, q *req) {
	s.showDomains(w, r, q, http.StatusOK, page{})
}

func (s *Server) showDomains(w http.ResponseWriter, r *http.Request, q *req, status int, p page) {
	ds, err := s.o.Store.Domains(r.Context())
	if err != nil {
		s.internal(w, r, fmt.Errorf("domains: %w", err))
		return
	}
	var rows []domainRow
	for _, d := range ds {
		rows = append(rows, domainRow{Domain: d, DNS: s.dnsRecords(r.Context(), d.Name)})
	}
	if r.URL.Query().Get("m") == "done" {
		p.Flash = q.lang.T("admin.done")
	}
	p.Data = rows
	s.render(w, r, q, status, "admin_domains", "admin.domains", p)
}

func (s *Server) adminDomainAdd(w http.ResponseWriter, r *http.Request, q *req) {
	name := strings.TrimSpace(r.PostFormValue("domain"))
	d, err := s.o.Store.CreateDomain(r.Context(), name)
	if err != nil {
		s.showDomains(w, r, q, http.StatusBadRequest, page{Error: q.lang.F("admin.bad", err.Error())})
		return
	}
	if s.o.DKIM != nil {
		// Mail from the domain is signed from the start, as after
		// `pochta domain add`.
		if _, err := s.o.DKIM.Generate(r.Context(), d.Name, s.o.Now()); err != nil {
			s.o.Logger.Error("DKIM keys of a domain added on the web not made", "domain", d.Name, "err", err)
			s.showDomains(w, r, q, http.StatusInternalServerError, page{Error: q.lang.F("admin.bad", err.Error())})
			return
		}
	}
	s.o.Logger.Info("domain added on the web", "domain", name, "by", q.account.Address)
	http.Redirect(w, r, "/admin?m=done", http.StatusSeeOther)
}

func (s *Server) adminDomainDelete(w http.ResponseWriter, r *http.Request, q *req) {
	name := r.PostFormValue("domain")
	if err := s.o.Store.DeleteDomain(r.Context(), name); err != nil {
		s.showDomains(w, r, q, http.StatusBadRequest, page{Error: q.lang.F("admin.bad", err.Error())})
		return
	}
	s.o.Logger.Info("domain removed on the web", "domain", name, "by", q.account.Address)
	http.Redirect(w, r, "/admin?m=done", http.StatusSeeOther)
}

type accountRow struct {
	store.Account
	Used string
}

type accountsData struct {
	Accounts []accountRow
	Domains  []store.Domain
}

func (s *Server) adminAccounts(w http.ResponseWriter, r *http.Request, q *req) {
	s.showAccounts(w, r, q, http.StatusOK, page{})
}

func (s *Server) showAccounts(w http.ResponseWriter, r *http.Request, q *req, status int, p page) {
	as, err := s.o.Store.Accounts(r.Context(), "")
	if err != nil {
		s.internal(w, r, fmt.Errorf("accounts: %w", err))
		return
	}
	ds, err := s.o.Store.Domains(r.Context())
	if err != nil {
		s.internal(w, r, fmt.Errorf("domains: %w", err))
		return
	}
	d := accountsData{Domains: ds}
	for _, a := range as {
		u, err := s.o.Store.Usage(r.Context(), a.ID)
		if err != nil {
			s.internal(w, r, fmt.Errorf("usage of %s: %w", a.Address, err))
			return
		}
		d.Accounts = append(d.Accounts, accountRow{Account: a, Used: formatSize(u.Bytes)})
	}
	p.Data = d
	s.render(w, r, q, status, "admin_accounts", "admin.accounts", p)
}

// parseQuota reads a quota field: "" gives def, "0" unlimited.
func parseQuota(v string, def int64) (int64, error) {
	v = strings.TrimSpace(v)
	if v == "" {
		return def, nil
	}
	var sz config.Size
	if err := sz.UnmarshalText([]byte(v)); err != nil {
		return 0, fmt.Errorf("quota: %w", err)
	}
	if sz < 0 {
		return 0, fmt.Errorf("quota %q: %w", v, store.ErrInvalid)
	}
	return sz.Bytes(), nil
}

func (s *Server) adminAccountCreate(w http.ResponseWriter, r *http.Request, q *req) {
	addr := strings.TrimSpace(r.PostFormValue("address"))
	quota, err := parseQuota(r.PostFormValue("quota"), s.o.Config.Quota.DefaultBytes.Bytes())
	if err != nil {
		s.showAccounts(w, r, q, http.StatusBadRequest, page{Error: q.lang.F("admin.badquota", err.Error())})
		return
	}
	pw, err := auth.GeneratePassword(16)
	if err != nil {
		s.internal(w, r, fmt.Errorf("create account: %w", err))
		return
	}
	hash, err := s.o.HashParams.Hash(pw)
	if err != nil {
		s.internal(w, r, fmt.Errorf("create account: %w", err))
		return
	}
	settings, err := store.NewAccountSettings(r.Context(), s.o.Store)
	if err != nil {
		s.internal(w, r, fmt.Errorf("create account: %w", err))
		return
	}
	a, err := s.o.Store.CreateAccount(r.Context(), store.NewAccount{Address: addr, PasswordHash: hash, QuotaBytes: quota,
		QuotaMessages: int64(s.o.Config.Quota.DefaultMessages), Admin: r.PostFormValue("admin") == "on", Settings: settings})
	if err != nil {
		s.showAccounts(w, r, q, http.StatusBadRequest, page{Error: q.lang.F("admin.bad", err.Error())})
		return
	}
	s.o.Logger.Info("account created on the web", "account", a.Address, "by", q.account.Address)
	s.showAccounts(w, r, q, http.StatusOK, page{Flash: q.lang.F("admin.createdpw", a.Address), Secret: pw})
}

type adminAccountData struct {
	A       store.Account
	Used    string
	Aliases []string
}

func (s *Server) targetAccount(w http.ResponseWriter, r *http.Request, v string) (store.Account, bool) {
	id, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		s.fail(w, r, http.StatusBadRequest, "err.badrequest")
		return store.Account{}, false
	}
	a, err := s.o.Store.Account(r.Context(), id)
	if errors.Is(err, store.ErrNotFound) {
		s.fail(w, r, http.StatusNotFound, "err.notfound")
		return a, false
	} else if err != nil {
		s.internal(w, r, fmt.Errorf("account %d: %w", id, err))
		return a, false
	}
	return a, true
}

func (s *Server) adminAccount(w http.ResponseWriter, r *http.Request, q *req) {
	a, ok := s.targetAccount(w, r, r.URL.Query().Get("id"))
	if !ok {
		return
	}
	p := page{}
	if r.URL.Query().Get("m") == "done" {
		p.Flash = q.lang.T("admin.done")
	}
	s.showAccount(w, r, q, a, http.StatusOK, p)
}

func (s *Server) showAccount(w http.ResponseWriter, r *http.Request, q *req, a store.Account, status int, p page) {
	u, err := s.o.Store.Usage(r.Context(), a.ID)
	if err != nil {
		s.internal(w, r, fmt.Errorf("usage of %s: %w", a.Address, err))
		return
	}
	aliases, err := s.o.Store.AliasesOf(r.Context(), a.ID)
	if err != nil {
		s.internal(w, r, fmt.Errorf("aliases of %s: %w", a.Address, err))
		return
	}
	p.Data = adminAccountData{A: a, Used: formatSize(u.Bytes), Aliases: aliases}
	s.render(w, r, q, status, "admin_account", "admin.edit", p)
}

func (s *Server) adminAccountUpdate(w http.ResponseWriter, r *http.Request, q *req) {
	a, ok := s.targetAccount(w, r, r.PostFormValue("id"))
	if !ok {
		return
	}
	quota, err := parseQuota(r.PostFormValue("quota"), a.QuotaBytes)
	if err != nil {
		s.showAccount(w, r, q, a, http.StatusBadRequest, page{Error: q.lang.F("admin.badquota", err.Error())})
		return
	}
	a.QuotaBytes = quota
	a.Disabled = r.PostFormValue("disabled") == "on"
	a.Settings.POP3Enabled = r.PostFormValue("pop3") == "on"
	a.Settings.IMAPEnabled = r.PostFormValue("imap") == "on"
	switch v := store.LoginPolicy(r.PostFormValue("policy")); v {
	case store.PolicyDefault, store.PolicySecure, store.PolicyPlaintext:
		a.Settings.LoginPolicy = v
	default:
		s.fail(w, r, http.StatusBadRequest, "err.badrequest")
		return
	}
	if a.ID != q.account.ID { // an admin cannot lock themselves out
		a.Admin = r.PostFormValue("admin") == "on"
	} else {
		a.Disabled = false
	}
	if err := s.o.Store.UpdateAccount(r.Context(), a); err != nil {
		s.internal(w, r, fmt.Errorf("update %s: %w", a.Address, err))
		return
	}
	if a.Disabled {
		if err := s.o.Sessions.DeleteAccount(r.Context(), a.ID, ""); err != nil {
			s.internal(w, r, fmt.Errorf("disable %s: %w", a.Address, err))
			return
		}
	}
	s.o.Logger.Info("account changed on the web", "account", a.Address, "by", q.account.Address)
	http.Redirect(w, r, fmt.Sprintf("/admin/account?id=%d&m=done", a.ID), http.StatusSeeOther)
}

func (s *Server) adminAccountReset(w http.ResponseWriter, r *http.Request, q *req) {
	a, ok := s.targetAccount(w, r, r.PostFormValue("id"))
	if !ok {
		return
	}
	pw, err := auth.GeneratePassword(16)
	if err != nil {
		s.internal(w, r, fmt.Errorf("reset password: %w", err))
		return
	}
	if a.PasswordHash, err = s.o.HashParams.Hash(pw); err != nil {
		s.internal(w, r, fmt.Errorf("reset password: %w", err))
		return
	}
	if err := s.o.Store.UpdateAccount(r.Context(), a); err != nil {
		s.internal(w, r, fmt.Errorf("reset password of %s: %w", a.Address, err))
		return
	}
	keep := ""
	if a.ID == q.account.ID {
		keep = q.session.ID
	}
	if err := s.o.Sessions.DeleteAccount(r.Context(), a.ID, keep); err != nil {
		s.internal(w, r, fmt.Errorf("reset password: %w", err))
		return
	}
	s.o.Logger.Info("password reset on the web", "account", a.Address, "by", q.account.Address)
	s.showAccount(w, r, q, a, http.StatusOK, page{Flash: q.lang.F("admin.resetdone", a.Address), Secret: pw})
}

func (s *Server) adminAliases(w http.ResponseWriter, r *http.Request, q *req) {
	p := page{}
	if r.URL.Query().Get("m") == "done" {
		p.Flash = q.lang.T("admin.done")
	}
	s.showAliases(w, r, q, http.StatusOK, p)
}

func (s *Server) showAliases(w http.ResponseWriter, r *http.Request, q *req, status int, p page) {
	as, err := s.o.Store.Aliases(r.Context(), "")
	if err != nil {
		s.internal(w, r, fmt.Errorf("aliases: %w", err))
		return
	}
	p.Data = as
	s.render(w, r, q, status, "admin_aliases", "admin.aliases", p)
}

func (s *Server) adminAliasAdd(w http.ResponseWriter, r *http.Request, q *req) {
	addr := strings.TrimSpace(r.PostFormValue("alias"))
	var ids []int64
	for _, t := range strings.Split(r.PostFormValue("targets"), ",") {
		if t = strings.TrimSpace(t); t == "" {
			continue
		}
		a, err := s.o.Store.AccountByAddress(r.Context(), t)
		if err != nil {
			s.showAliases(w, r, q, http.StatusBadRequest, page{Error: q.lang.F("admin.bad", t+": "+err.Error())})
			return
		}
		ids = append(ids, a.ID)
	}
	if len(ids) == 0 {
		s.showAliases(w, r, q, http.StatusBadRequest, page{Error: q.lang.F("admin.bad", q.lang.T("admin.targets"))})
		return
	}
	if _, err := s.o.Store.CreateAlias(r.Context(), addr, ids); err != nil {
		s.showAliases(w, r, q, http.StatusBadRequest, page{Error: q.lang.F("admin.bad", err.Error())})
		return
	}
	s.o.Logger.Info("alias added on the web", "alias", addr, "by", q.account.Address)
	http.Redirect(w, r, "/admin/aliases?m=done", http.StatusSeeOther)
}

func (s *Server) adminAliasDelete(w http.ResponseWriter, r *http.Request, q *req) {
	addr := r.PostFormValue("alias")
	if err := s.o.Store.DeleteAlias(r.Context(), addr); err != nil {
		s.showAliases(w, r, q, http.StatusBadRequest, page{Error: q.lang.F("admin.bad", err.Error())})
		return
	}
	s.o.Logger.Info("alias removed on the web", "alias", addr, "by", q.account.Address)
	http.Redirect(w, r, "/admin/aliases?m=done", http.StatusSeeOther)
}

type healthData struct {
	StoreError string
	Uptime     string
	Conns      string
	Queue      string
	Cert       string
	Listeners  []config.Listener
	Plaintext  bool
	POP3, IMAP bool
}

func (s *Server) adminHealth(w http.ResponseWriter, r *http.Request, q *req) {
	d := healthData{Listeners: s.o.Listeners(), Plaintext: s.serverPlaintext(r.Context()),
		POP3: s.o.Config.POP3.Enabled, IMAP: s.o.Config.IMAP.Enabled,
		Uptime: s.o.Now().Sub(s.started).Round(time.Second).String(),
		Conns:  q.lang.T("admin.unknown"), Queue: q.lang.T("admin.unknown")}
	if _, err := s.o.Store.Domains(r.Context()); err != nil {
		d.StoreError = err.Error()
	}
	if s.o.OpenConnections != nil {
		d.Conns = strconv.Itoa(s.o.OpenConnections())
	}
	if s.o.QueueSize != nil {
		if n, err := s.o.QueueSize(r.Context()); err == nil {
			d.Queue = strconv.Itoa(n)
		} else {
			d.Queue = q.lang.F("admin.fail", err.Error())
		}
	}
	if s.o.Certificate != nil {
		notAfter, self := s.o.Certificate()
		d.Cert = q.lang.F("admin.validuntil", notAfter.UTC().Format("2006-01-02"))
		if self {
			d.Cert += "; " + q.lang.T("admin.selfsigned")
		}
	}
	status := http.StatusOK
	if d.StoreError != "" {
		status = http.StatusServiceUnavailable
	}
	s.render(w, r, q, status, "admin_health", "admin.health", page{Data: d})
}
