package web

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/pochta-mail/pochta/internal/auth"
	"github.com/pochta-mail/pochta/internal/store"
)

// SignInHook turns the login failures the Authenticator logs into sign-in
// records and login metrics, for every protocol, without the auth package
// knowing about the web pages. Wrap the Authenticator's logger with
// Handler.
type SignInHook struct {
	// Store resolves login names to accounts.
	Store store.Store
	// PrimaryDomain is the domain whose users may log in with the local
	// part alone (as in auth.Policy).
	PrimaryDomain string
	// Log receives the records; may be nil.
	Log SignInLog
	// Metrics counts the attempts; may be nil.
	Metrics *Metrics
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Handler returns a slog.Handler that passes everything on to next and
// records the Authenticator's "login failed" and "login refused: throttled"
// lines.
func (h *SignInHook) Handler(next slog.Handler) slog.Handler {
	return &hookHandler{hook: h, next: next}
}

type hookHandler struct {
	hook  *SignInHook
	next  slog.Handler
	attrs []slog.Attr
}

// Enabled implements slog.Handler: Info records are always wanted here.
func (h *hookHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= slog.LevelInfo || h.next.Enabled(ctx, l)
}

// Handle implements slog.Handler.
func (h *hookHandler) Handle(ctx context.Context, r slog.Record) error {
	if r.Message == "login failed" || r.Message == "login refused: throttled" {
		h.hook.record(ctx, r, h.attrs)
	}
	if h.next.Enabled(ctx, r.Level) {
		if err := h.next.Handle(ctx, r); err != nil {
			return fmt.Errorf("log: %w", err)
		}
	}
	return nil
}

// WithAttrs implements slog.Handler.
func (h *hookHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return &hookHandler{hook: h.hook, next: h.next.WithAttrs(as), attrs: append(h.attrs[:len(h.attrs):len(h.attrs)], as...)}
}

// WithGroup implements slog.Handler. Records in a group are not
// recognised (the Authenticator logs without one).
func (h *hookHandler) WithGroup(name string) slog.Handler {
	return &hookHandler{hook: h.hook, next: h.next.WithGroup(name), attrs: h.attrs}
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

func (h *SignInHook) record(ctx context.Context, r slog.Record, pre []slog.Attr) {
	var user, proto, ip string
	var tls bool
	var reason error = auth.ErrThrottled
	take := func(a slog.Attr) bool {
		switch a.Key {
		case "user":
			user = fmt.Sprint(a.Value.Any())
		case "protocol":
			proto = fmt.Sprint(a.Value.Any())
		case "ip":
			ip = fmt.Sprint(a.Value.Any())
		case "tls":
			tls = a.Value.Kind() == slog.KindBool && a.Value.Bool()
		case "reason":
			if e, ok := a.Value.Any().(error); ok {
				reason = e
			} else {
				reason = errors.New(a.Value.String())
			}
		}
		return true
	}
	for _, a := range pre {
		take(a)
	}
	r.Attrs(take)
	why := ReasonOf(reason)
	if h.Metrics != nil {
		h.Metrics.Login(proto, why)
	}
	if h.Log == nil || h.Store == nil || user == "" {
		return
	}
	name := strings.TrimSpace(user)
	if !strings.Contains(name, "@") && h.PrimaryDomain != "" {
		name += "@" + h.PrimaryDomain
	}
	acct, err := h.Store.AccountByAddress(ctx, name)
	if err != nil {
		return // unknown users are not recorded: nobody could read it
	}
	now := time.Now
	if h.Now != nil {
		now = h.Now
	}
	// Recording must not fail a login; a failing log is visible on the
	// health page through the store anyway.
	_ = h.Log.Record(ctx, SignIn{AccountID: acct.ID, Time: now().UTC(), Protocol: proto, RemoteIP: ip, TLS: tls, Reason: why})
}
