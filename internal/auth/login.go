package auth

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"runtime"
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
	// MaxConcurrentHashes bounds how many password hashes are computed at
	// once (argon2id takes 64 MiB and most of a core each); further
	// logins wait their turn, and give up when their context ends. 0
	// means runtime.GOMAXPROCS(0).
	MaxConcurrentHashes int
	// SecretKey decrypts the accounts' APOP secrets; nil refuses APOP.
	SecretKey *SecretKey
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
	// NoAppPasswords accepts only the account's own password (the web
	// pages: app passwords are for mail programs).
	NoAppPasswords bool
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
	// hashes holds one token per password hash being computed.
	hashes chan struct{}
	// verify checks a password against a hash (VerifyPassword; tests
	// count concurrent calls through it).
	verify func(hash, password string) error

	// counter, when not nil, keeps the failure counts (in the store,
	// shared by every node); nil counts in failures.
	counter FailureCounter

	mu       sync.Mutex
	failures map[string]*failureCount
	// observers are told of every attempt (OnLogin).
	observers []func(ctx context.Context, at Attempt)
}

// Attempt is one login attempt as told to the functions given to OnLogin.
type Attempt struct {
	Time     time.Time
	Protocol Protocol
	// Username is the login name as given.
	Username string
	// Account is the account the name belongs to; its ID is 0 when the
	// name is unknown or the attempt was throttled before the lookup.
	Account  store.Account
	RemoteIP netip.Addr
	TLS      bool
	// AppPassword is the app password that was used (ID 0: the account's
	// own password, or none matched).
	AppPassword store.AppPassword
	// Err is nil for a success, else the error Login returned.
	Err error
}

// OnLogin adds a function told of every login attempt, successful or not,
// after the attempt is decided (for the sign-in log and metrics). Call it
// before the Authenticator is used; f must not block for long.
func (a *Authenticator) OnLogin(f func(ctx context.Context, at Attempt)) {
	a.observers = append(a.observers, f)
}

func (a *Authenticator) tell(ctx context.Context, at Attempt) {
	at.Time = a.now()
	for _, f := range a.observers {
		f(ctx, at)
	}
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
	n := p.MaxConcurrentHashes
	if n <= 0 {
		n = runtime.GOMAXPROCS(0)
	}
	return &Authenticator{
		store: st, policy: p, log: log, now: time.Now,
		sleep:    sleepCtx,
		hashes:   make(chan struct{}, n),
		verify:   VerifyPassword,
		failures: make(map[string]*failureCount),
	}
}

// verifyPassword checks a password against a hash once one of the
// MaxConcurrentHashes slots is free. A burst of logins thus queues here
// instead of allocating argon2id's memory all at once; a caller whose
// context ends while it waits gets the context's error.
func (a *Authenticator) verifyPassword(ctx context.Context, hash, password string) error {
	select {
	case a.hashes <- struct{}{}:
	case <-ctx.Done():
		return fmt.Errorf("wait for a password check: %w", context.Cause(ctx))
	}
	defer func() { <-a.hashes }()
	return a.verify(hash, password)
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
	return tls || a.allowPlaintext(context.Background())
}

// allowPlaintext is the server-wide login policy in effect now: the
// server setting saved at runtime (store.SettingAllowPlaintext) when there
// is one, else Policy.AllowPlaintext.
func (a *Authenticator) allowPlaintext(ctx context.Context) bool {
	m, err := a.store.ServerSettings(ctx)
	if err != nil {
		a.log.Warn("read server settings; using the configured login policy", "err", err)
		return a.policy.AllowPlaintext
	}
	return store.BoolSetting(m, store.SettingAllowPlaintext, a.policy.AllowPlaintext)
}

// passwordAllowedFor applies an account's own login policy override.
func (a *Authenticator) passwordAllowedFor(ctx context.Context, acct store.Account, tls bool) bool {
	if tls {
		return true
	}
	switch acct.Settings.LoginPolicy {
	case store.PolicyPlaintext:
		return true
	case store.PolicySecure:
		return false
	}
	return a.allowPlaintext(ctx)
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
	return a.attempt(ctx, req.Username, req.Protocol, req.RemoteIP, req.TLS, "password", func() (Result, store.AppPassword, error) {
		return a.check(ctx, req)
	})
}

// attempt runs one login check under the throttling rules shared by every
// way of logging in: refused while the client or the account has used up
// its failures, the growing delay after a wrong credential, and one log
// line per failure. Every attempt is told to the OnLogin observers.
func (a *Authenticator) attempt(ctx context.Context, user string, proto Protocol, ip netip.Addr, tls bool, method string,
	check func() (Result, store.AppPassword, error)) (Result, error) {
	ipKey, userKey := "ip:"+ip.String(), "user:"+strings.ToLower(strings.TrimSpace(user))
	if a.throttled(ctx, ipKey) || a.throttled(ctx, userKey) {
		a.log.Info("login refused: throttled", "protocol", proto, "user", user, "ip", ip, "method", method)
		a.tell(ctx, Attempt{Protocol: proto, Username: user, RemoteIP: ip, TLS: tls, Err: ErrThrottled})
		return Result{}, ErrThrottled
	}
	res, ap, err := check()
	at := Attempt{Protocol: proto, Username: user, Account: res.Account, RemoteIP: ip, TLS: tls, AppPassword: ap, Err: err}
	if err == nil {
		a.tell(ctx, at)
		return res, nil
	}
	res = Result{}
	if errors.Is(err, ErrBadCredentials) {
		n := max(a.fail(ctx, ipKey), a.fail(ctx, userKey))
		d := a.policy.FailureDelay
		for i := 1; i < n && d < maxFailureDelay; i++ {
			d *= 2
		}
		a.sleep(ctx, min(d, maxFailureDelay))
	}
	a.log.Info("login failed", "protocol", proto, "user", user, "ip", ip, "tls", tls, "method", method, "reason", err)
	a.tell(ctx, at)
	return Result{}, err
}

// check does the work of Login without throttling. It returns the
// account in the Result and the app password used even when it fails
// after finding them, for the observers.
func (a *Authenticator) check(ctx context.Context, req Request) (Result, store.AppPassword, error) {
	var ap store.AppPassword
	acct, err := a.ResolveUser(ctx, req.Username)
	if err != nil {
		if errors.Is(err, ErrBadCredentials) {
			return Result{}, ap, fmt.Errorf("%w: no account %q", ErrBadCredentials, req.Username)
		}
		return Result{}, ap, fmt.Errorf("login: %w", err)
	}
	res := Result{Account: acct}
	if !req.AllowPlaintext && !a.passwordAllowedFor(ctx, acct, req.TLS) {
		return res, ap, ErrTLSRequired
	}
	if err := a.verifyPassword(ctx, acct.PasswordHash, req.Password); err != nil {
		if !errors.Is(err, ErrMismatch) {
			return res, ap, fmt.Errorf("login %s: %w", acct.Address, err)
		}
		if req.NoAppPasswords {
			return res, ap, fmt.Errorf("%w: wrong password for %s", ErrBadCredentials, acct.Address)
		}
		ap, err = a.checkAppPassword(ctx, acct, req)
		if err != nil {
			return res, ap, err
		}
	}
	if acct.Disabled {
		return res, ap, ErrAccountDisabled
	}
	switch req.Protocol {
	case ProtoPOP3:
		if !acct.Settings.POP3Enabled {
			return res, ap, ErrProtocolDisabled
		}
	case ProtoIMAP:
		if !acct.Settings.IMAPEnabled {
			return res, ap, ErrProtocolDisabled
		}
	}
	if ap.ID != 0 {
		if err := a.store.TouchAppPassword(ctx, ap.ID, a.now()); err != nil {
			a.log.Warn("record app password use", "err", err)
		}
	}
	res.AppPassword = ap.ID
	return res, ap, nil
}

// checkAppPassword tries the account's app passwords. It returns the one
// that matched also when it is not for this protocol.
func (a *Authenticator) checkAppPassword(ctx context.Context, acct store.Account, req Request) (store.AppPassword, error) {
	aps, err := a.store.AppPasswords(ctx, acct.ID)
	if err != nil {
		return store.AppPassword{}, fmt.Errorf("login %s: %w", acct.Address, err)
	}
	for _, ap := range aps {
		err := a.verifyPassword(ctx, ap.Hash, req.Password)
		if ctx.Err() != nil {
			return store.AppPassword{}, fmt.Errorf("login %s: %w", acct.Address, err)
		}
		if err != nil {
			continue
		}
		if len(ap.Protocols) > 0 && !slices.Contains(ap.Protocols, string(req.Protocol)) {
			return ap, fmt.Errorf("%w: app password %q is not for %s", ErrBadCredentials, ap.Name, req.Protocol)
		}
		return ap, nil
	}
	return store.AppPassword{}, fmt.Errorf("%w: wrong password for %s", ErrBadCredentials, acct.Address)
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
