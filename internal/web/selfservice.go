package web

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/pochta-mail/pochta/internal/delivery"
	"github.com/pochta-mail/pochta/internal/store"
)

// forwardPost saves the account's forwarding: the same setting as
// "pochta user set --forward/--forward-keep".
func (s *Server) forwardPost(w http.ResponseWriter, r *http.Request, q *req) {
	a := q.account
	text := r.PostFormValue("forward")
	to, err := delivery.ParseForwardTargets(text, a.Address)
	if err != nil {
		s.showAccountPage(w, r, q, http.StatusBadRequest, page{Error: q.lang.F("fwd.bad", err.Error()), Data: text})
		return
	}
	a.Settings.Forward, a.Settings.ForwardKeep = to, r.PostFormValue("keep") == "on"
	if err := s.o.Store.UpdateAccount(r.Context(), a); err != nil {
		s.internal(w, r, fmt.Errorf("save forwarding of %s: %w", a.Address, err))
		return
	}
	s.o.Logger.Info("forwarding changed on the web", "account", a.Address, "to", to, "keep", a.Settings.ForwardKeep)
	http.Redirect(w, r, "/account?m=fwd#forwarding", http.StatusSeeOther)
}

// reservedLocalParts are addresses people may not take for themselves:
// they belong to whoever runs the domain (RFC 2142) or look official.
var reservedLocalParts = []string{"postmaster", "abuse", "hostmaster", "webmaster", "security", "noc",
	"root", "admin", "administrator", "mailer-daemon", "noreply", "no-reply"}

// ownAliases returns the aliases that deliver to the account alone: the
// ones its owner may delete.
func (s *Server) ownAliases(r *http.Request, a store.Account) ([]string, error) {
	all, err := s.o.Store.Aliases(r.Context(), a.Domain)
	if err != nil {
		return nil, fmt.Errorf("aliases of %s: %w", a.Domain, err)
	}
	var out []string
	for _, al := range all {
		if len(al.Targets) == 1 && al.Targets[0] == a.ID {
			out = append(out, al.Address)
		}
	}
	return out, nil
}

// aliasAddSelf lets an account owner add an alias in the account's
// domain, when the operator allows it, up to the configured number.
func (s *Server) aliasAddSelf(w http.ResponseWriter, r *http.Request, q *req) {
	if !s.o.Config.Web.SelfServiceAliases {
		s.fail(w, r, http.StatusForbidden, "err.forbidden")
		return
	}
	a := q.account
	have, err := s.o.Store.AliasesOf(r.Context(), a.ID)
	if err != nil {
		s.internal(w, r, fmt.Errorf("aliases of %s: %w", a.Address, err))
		return
	}
	if len(have) >= s.o.Config.Web.MaxSelfServiceAliases {
		s.showAccountPage(w, r, q, http.StatusBadRequest, page{Error: q.lang.T("acct.aliasmax")})
		return
	}
	local := strings.ToLower(strings.TrimSpace(r.PostFormValue("local")))
	if local == "" || strings.ContainsAny(local, "@ \t\r\n") || slices.Contains(reservedLocalParts, local) {
		s.showAccountPage(w, r, q, http.StatusBadRequest, page{Error: q.lang.T("acct.aliastaken")})
		return
	}
	addr := local + "@" + a.Domain
	if _, err := s.o.Store.CreateAlias(r.Context(), addr, []int64{a.ID}); errors.Is(err, store.ErrExists) || errors.Is(err, store.ErrInvalid) {
		s.showAccountPage(w, r, q, http.StatusBadRequest, page{Error: q.lang.T("acct.aliastaken")})
		return
	} else if err != nil {
		s.internal(w, r, fmt.Errorf("add alias %s: %w", addr, err))
		return
	}
	s.o.Logger.Info("alias added by its owner", "alias", addr, "account", a.Address)
	http.Redirect(w, r, "/account?m=aliasadded#aliases", http.StatusSeeOther)
}

// aliasDeleteSelf deletes one of the account's own aliases (one that
// delivers to this account alone).
func (s *Server) aliasDeleteSelf(w http.ResponseWriter, r *http.Request, q *req) {
	if !s.o.Config.Web.SelfServiceAliases {
		s.fail(w, r, http.StatusForbidden, "err.forbidden")
		return
	}
	own, err := s.ownAliases(r, q.account)
	if err != nil {
		s.internal(w, r, err)
		return
	}
	addr := strings.ToLower(strings.TrimSpace(r.PostFormValue("alias")))
	if !slices.Contains(own, addr) {
		s.fail(w, r, http.StatusNotFound, "err.notfound")
		return
	}
	if err := s.o.Store.DeleteAlias(r.Context(), addr); err != nil {
		s.internal(w, r, fmt.Errorf("delete alias %s: %w", addr, err))
		return
	}
	s.o.Logger.Info("alias deleted by its owner", "alias", addr, "account", q.account.Address)
	http.Redirect(w, r, "/account?m=aliasgone#aliases", http.StatusSeeOther)
}
