package auth

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/pochta-mail/pochta/internal/store"
)

// Protocol names a service a password is used for.
type Protocol string

// Protocols that log in.
const (
	ProtoPOP3 Protocol = "pop3"
	ProtoIMAP Protocol = "imap"
	ProtoSMTP Protocol = "smtp"
	ProtoWeb  Protocol = "web"
)

// Login failures. The protocols show a client the same text for
// ErrBadCredentials, ErrProtocolDisabled and ErrAccountDisabled where the
// protocol's specification says so, so that accounts cannot be probed; the
// real reason is logged and recorded for the account owner.
var (
	// ErrBadCredentials: unknown user or wrong password.
	ErrBadCredentials = errors.New("invalid credentials")
	// ErrTLSRequired: a password was offered without TLS under the secure
	// login policy.
	ErrTLSRequired = errors.New("encryption required for password login")
	// ErrProtocolDisabled: the account has this protocol switched off.
	ErrProtocolDisabled = errors.New("protocol disabled for this account")
	// ErrAccountDisabled: the operator disabled the account.
	ErrAccountDisabled = errors.New("account disabled")
	// ErrThrottled: too many failures from this client or for this
	// account; try again later.
	ErrThrottled = errors.New("too many failed logins, try again later")
)

// Policy is the server-wide part of the login rules.
type Policy struct {
	// AllowPlaintext allows passwords over connections without TLS.
	AllowPlaintext bool
	// FailureDelay is the delay after the first failure; it doubles with
	// each further failure of the same client or account, up to
	// MaxFailureDelay.
	FailureDelay time.Duration
	// MaxFailures within Window from one client IP or for one account
	// makes further attempts fail with ErrThrottled until the window
	// passes. 0 disables the lockout.
	MaxFailures int
	Window      time.Duration
	// PrimaryDomain lets users log in with the local part alone.
	PrimaryDomain string
}

// maxFailureDelay caps the growing delay so a session is never stuck for
// long (clients time out).
const maxFailureDelay = 15 * time.Second

// Request is one login attempt.
type Request struct {
	Username string
	Password string
	Protocol Protocol
	// TLS is true when the connection is encrypted.
	TLS bool
	// AllowPlaintext is a per-listener override: it permits a password
	// on this connection even without TLS, whatever the server-wide and
	// per-account login policy say (the SMTP device port for scanners).
	AllowPlaintext bool
	// RemoteIP is the client's address, for throttling and the records.
	RemoteIP netip.Addr
}

// Result is a successful login.
type Result struct {
	Account store.Account
	// AppPassword is the id of the app password used, 0 for the main
	// password.
	AppPassword int64
}

// Authenticator checks logins against the store. It is safe for concurrent
// use; one serves every protocol so throttling counts failures across them.
type Authenticator struct {
	store  store.Store
	policy Policy
	log    *slog.Logger
	now    func() time.Time
	sleep  func(ctx context.Context, d time.Duration)

	// counter, when not nil, keeps the failure counts (in the store,
	// shared by every node); nil counts in failures.
	counter FailureCounter

	mu       sync.Mutex
	failures map[string]*failureCount
}

// FailureCounter keeps failed-login counts per key (a client IP, a user
// name) over the policy's window. The Authenticator counts in memory by
// default; StoreCounter shares the counts between nodes.
type FailureCounter interface {
	// Failures returns key's failures in the window ending at now.
	Failures(ctx context.Context, key string, now time.Time) (int, error)
	// AddFailure counts a failure of key at now and returns key's
	// failures in the window ending at now.
	AddFailure(ctx context.Context, key string, now time.Time) (int, error)
}

// StoreCounter is a FailureCounter in the store's counters (buckets of a
// sixtieth of the window), seen by every node sharing the store.
type StoreCounter struct {
	Store  store.CounterStore
	Window time.Duration
}

// bucket is the counting bucket: a sixtieth of the window, at least a
// second.
func (c StoreCounter) bucket() time.Duration { return max(c.Window/60, time.Second) }

// Failures implements FailureCounter.
func (c StoreCounter) Failures(ctx context.Context, key string, now time.Time) (int, error) {
	n, err := c.Store.Count(ctx, "login-fail:"+key, now, c.bucket(), c.Window)
	return int(n), err
}

// AddFailure implements FailureCounter.
func (c StoreCounter) AddFailure(ctx context.Context, key string, now time.Time) (int, error) {
	n, err := c.Store.AddCount(ctx, "login-fail:"+key, 1, now, c.bucket(), c.Window)
	return int(n), err
}

// SetCounter makes the Authenticator keep failure counts in c (for
// example a StoreCounter, so that throttling holds across nodes). Call it
// before the first Login.
func (a *Authenticator) SetCounter(c FailureCounter) { a.counter = c }

type failureCount struct {
	n     int
	first time.Time
}

// NewAuthenticator makes an Authenticator.
func NewAuthenticator(st store.Store, p Policy, log *slog.Logger) *Authenticator {
	if log == nil {
		log = slog.Default()
	}
	return &Authenticator{
		store: st, policy: p, log: log, now: time.Now,
		sleep:    sleepCtx,
		failures: make(map[string]*failureCount),
	}
}

func sleepCtx(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// PasswordAllowed reports whether this connection may carry a password at
// all under the server-wide policy (before the account is known): what
// decides whether USER/AUTH PLAIN/LOGIN are advertised.
func (a *Authenticator) PasswordAllowed(tls bool) bool {
	return tls || a.policy.AllowPlaintext
}

// passwordAllowedFor applies an account's own login policy override.
func (a *Authenticator) passwordAllowedFor(acct store.Account, tls bool) bool {
	if tls {
		return true
	}
	switch acct.Settings.LoginPolicy {
	case store.PolicyPlaintext:
		return true
	case store.PolicySecure:
		return false
	}
	return a.policy.AllowPlaintext
}

// ResolveUser finds the account for a login name: a full address, or a
// local part of the primary domain. Aliases cannot log in.
func (a *Authenticator) ResolveUser(ctx context.Context, username string) (store.Account, error) {
	name := strings.TrimSpace(username)
	if !strings.Contains(name, "@") && a.policy.PrimaryDomain != "" {
		name += "@" + a.policy.PrimaryDomain
	}
	acct, err := a.store.AccountByAddress(ctx, name)
	if errors.Is(err, store.ErrNotFound) {
		return acct, ErrBadCredentials
	}
	return acct, err
}

// Login checks a username and password for a protocol. On failure it
// waits the growing delay before returning (so callers answer late), and
// the error is one of the Err values above, wrapped with the detail that
// goes to the log. The protocol must still refuse a password offered over
// plaintext before calling Login when PasswordAllowed(false) is false, to
// give its specific error early; Login checks the account's override.
func (a *Authenticator) Login(ctx context.Context, req Request) (Result, error) {
	ipKey, userKey := "ip:"+req.RemoteIP.String(), "user:"+strings.ToLower(strings.TrimSpace(req.Username))
	if a.throttled(ctx, ipKey) || a.throttled(ctx, userKey) {
		a.log.Info("login refused: throttled", "protocol", req.Protocol, "user", req.Username, "ip", req.RemoteIP)
		return Result{}, ErrThrottled
	}
	res, err := a.check(ctx, req)
	if err == nil {
		return res, nil
	}
	if errors.Is(err, ErrBadCredentials) {
		n := max(a.fail(ctx, ipKey), a.fail(ctx, userKey))
		d := a.policy.FailureDelay
		for i := 1; i < n && d < maxFailureDelay; i++ {
			d *= 2
		}
		a.sleep(ctx, min(d, maxFailureDelay))
	}
	a.log.Info("login failed", "protocol", req.Protocol, "user", req.Username, "ip", req.RemoteIP, "tls", req.TLS, "reason", err)
	return Result{}, err
}

// check does the work of Login without throttling.
func (a *Authenticator) check(ctx context.Context, req Request) (Result, error) {
	acct, err := a.ResolveUser(ctx, req.Username)
	if err != nil {
		if errors.Is(err, ErrBadCredentials) {
			return Result{}, fmt.Errorf("%w: no account %q", ErrBadCredentials, req.Username)
		}
		return Result{}, fmt.Errorf("login: %w", err)
	}
	if !req.AllowPlaintext && !a.passwordAllowedFor(acct, req.TLS) {
		return Result{}, ErrTLSRequired
	}
	var appID int64
	if err := VerifyPassword(acct.PasswordHash, req.Password); err != nil {
		if !errors.Is(err, ErrMismatch) {
			return Result{}, fmt.Errorf("login %s: %w", acct.Address, err)
		}
		appID, err = a.checkAppPassword(ctx, acct, req)
		if err != nil {
			return Result{}, err
		}
	}
	if acct.Disabled {
		return Result{}, ErrAccountDisabled
	}
	switch req.Protocol {
	case ProtoPOP3:
		if !acct.Settings.POP3Enabled {
			return Result{}, ErrProtocolDisabled
		}
	case ProtoIMAP:
		if !acct.Settings.IMAPEnabled {
			return Result{}, ErrProtocolDisabled
		}
	}
	if appID != 0 {
		if err := a.store.TouchAppPassword(ctx, appID, a.now()); err != nil {
			a.log.Warn("record app password use", "err", err)
		}
	}
	return Result{Account: acct, AppPassword: appID}, nil
}

// checkAppPassword tries the account's app passwords.
func (a *Authenticator) checkAppPassword(ctx context.Context, acct store.Account, req Request) (int64, error) {
	aps, err := a.store.AppPasswords(ctx, acct.ID)
	if err != nil {
		return 0, fmt.Errorf("login %s: %w", acct.Address, err)
	}
	for _, ap := range aps {
		if VerifyPassword(ap.Hash, req.Password) != nil {
			continue
		}
		if len(ap.Protocols) > 0 && !slices.Contains(ap.Protocols, string(req.Protocol)) {
			return 0, fmt.Errorf("%w: app password %q is not for %s", ErrBadCredentials, ap.Name, req.Protocol)
		}
		return ap.ID, nil
	}
	return 0, fmt.Errorf("%w: wrong password for %s", ErrBadCredentials, acct.Address)
}

// throttled reports whether a key has used up its failures in the window.
func (a *Authenticator) throttled(ctx context.Context, key string) bool {
	if a.policy.MaxFailures <= 0 {
		return false
	}
	if a.counter != nil {
		n, err := a.counter.Failures(ctx, key, a.now())
		if err != nil {
			a.log.Warn("failed logins not counted", "key", key, "err", err)
		}
		return n >= a.policy.MaxFailures
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	f := a.failures[key]
	if f == nil {
		return false
	}
	if a.now().Sub(f.first) > a.policy.Window {
		delete(a.failures, key)
		return false
	}
	return f.n >= a.policy.MaxFailures
}

// fail counts a failure for a key and returns the count in the window.
func (a *Authenticator) fail(ctx context.Context, key string) int {
	if a.counter != nil {
		n, err := a.counter.AddFailure(ctx, key, a.now())
		if err != nil {
			a.log.Warn("failed login not counted", "key", key, "err", err)
			n = 1
		}
		return n
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	now := a.now()
	f := a.failures[key]
	if f == nil || now.Sub(f.first) > a.policy.Window {
		f = &failureCount{first: now}
		a.failures[key] = f
	}
	f.n++
	// Keep the map bounded: forget expired entries now and then.
	if len(a.failures) > 100_000 {
		for k, v := range a.failures {
			if now.Sub(v.first) > a.policy.Window {
				delete(a.failures, k)
			}
		}
	}
	return f.n
}
