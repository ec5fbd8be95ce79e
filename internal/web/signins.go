package web

import (
	"context"
	"errors"
	"log/slog"
	"strings"

	"github.com/pochta-mail/pochta/internal/auth"
	"github.com/pochta-mail/pochta/internal/store"
)

// SignInRecorder turns the Authenticator's login attempts of every protocol
// into sign-in records in the store and login metrics. Register Observe
// with auth.Authenticator.OnLogin.
type SignInRecorder struct {
	// Store resolves login names and keeps the records.
	Store store.Store
	// PrimaryDomain is the domain whose users may log in with the local
	// part alone (as in auth.Policy).
	PrimaryDomain string
	// Metrics counts the attempts; may be nil.
	Metrics *Metrics
	// Logger gets failures to record; nil means slog.Default().
	Logger *slog.Logger
}

// ReasonOf maps an error from auth.Authenticator.Login to a Reason.
func ReasonOf(err error) Reason {
	switch {
	case err == nil:
		return ReasonNone
	case errors.Is(err, auth.ErrTLSRequired):
		return ReasonTLS
	case errors.Is(err, auth.ErrProtocolDisabled):
		return ReasonProtocol
	case errors.Is(err, auth.ErrAccountDisabled):
		return ReasonDisabled
	case errors.Is(err, auth.ErrThrottled):
		return ReasonThrottled
	case errors.Is(err, auth.ErrBadCredentials):
		if strings.Contains(err.Error(), "app password") {
			return ReasonAppProto
		}
		return ReasonPassword
	}
	return ReasonOther
}

// Observe records one attempt: fit for auth.Authenticator.OnLogin.
// Attempts on names that are no account are only counted: nobody could
// read their record.
func (h *SignInRecorder) Observe(ctx context.Context, at auth.Attempt) {
	why := ReasonOf(at.Err)
	if h.Metrics != nil {
		h.Metrics.Login(string(at.Protocol), why)
	}
	if h.Store == nil {
		return
	}
	acct := at.Account
	if acct.ID == 0 && at.Username != "" && why == ReasonThrottled {
		name := strings.TrimSpace(at.Username)
		if !strings.Contains(name, "@") && h.PrimaryDomain != "" {
			name += "@" + h.PrimaryDomain
		}
		a, err := h.Store.AccountByAddress(ctx, name)
		if err != nil {
			return
		}
		acct = a
	}
	if acct.ID == 0 {
		return
	}
	ip := ""
	if at.RemoteIP.IsValid() {
		ip = at.RemoteIP.String()
	}
	// Recording must not fail a login: a failure is only logged.
	err := h.Store.RecordSignIn(context.WithoutCancel(ctx), store.SignIn{AccountID: acct.ID, Time: at.Time.UTC(), Protocol: string(at.Protocol),
		RemoteIP: ip, TLS: at.TLS, Reason: string(why), AppPassword: at.AppPassword.Name})
	if err != nil {
		log := h.Logger
		if log == nil {
			log = slog.Default()
		}
		log.Warn("record sign-in", "account", acct.Address, "err", err)
	}
}
