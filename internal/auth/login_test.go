package auth

import (
	"context"
	"errors"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/pochta-mail/pochta/internal/store"
	"github.com/pochta-mail/pochta/internal/store/sqlite"
)

// fixture is an authenticator over a real store with one account whose
// password is "right-password", on a fake clock that records delays.
type fixture struct {
	a      *Authenticator
	st     store.Store
	acct   store.Account
	mu     sync.Mutex
	now    time.Time
	slept  []time.Duration
	client netip.Addr
}

func newFixture(t *testing.T, p Policy) *fixture {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, sqlite.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if _, err := st.CreateDomain(ctx, "example.org"); err != nil {
		t.Fatal(err)
	}
	hash, err := testHashParams.Hash("right-password")
	if err != nil {
		t.Fatal(err)
	}
	acct, err := st.CreateAccount(ctx, store.NewAccount{Address: "anna@example.org", PasswordHash: hash, Settings: store.DefaultSettings()})
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{st: st, acct: acct, now: time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC), client: netip.MustParseAddr("192.0.2.7")}
	f.a = NewAuthenticator(st, p, nil)
	f.a.now = func() time.Time { f.mu.Lock(); defer f.mu.Unlock(); return f.now }
	f.a.sleep = func(_ context.Context, d time.Duration) { f.mu.Lock(); f.slept = append(f.slept, d); f.mu.Unlock() }
	return f
}

func (f *fixture) login(user, pw string, proto Protocol, tls bool) (Result, error) {
	return f.a.Login(context.Background(), Request{Username: user, Password: pw, Protocol: proto, TLS: tls, RemoteIP: f.client})
}

var defaultPolicy = Policy{FailureDelay: time.Second, MaxFailures: 5, Window: 15 * time.Minute, PrimaryDomain: "example.org"}

func TestLoginPasswordAndLocalPart(t *testing.T) {
	f := newFixture(t, defaultPolicy)
	for _, user := range []string{"anna@example.org", "ANNA@Example.Org", "anna"} {
		res, err := f.login(user, "right-password", ProtoIMAP, true)
		if err != nil || res.Account.ID != f.acct.ID {
			t.Fatalf("login as %q: %v", user, err)
		}
	}
	if _, err := f.login("anna@example.org", "wrong", ProtoIMAP, true); !errors.Is(err, ErrBadCredentials) {
		t.Fatalf("wrong password: %v", err)
	}
	if _, err := f.login("nobody@example.org", "right-password", ProtoIMAP, true); !errors.Is(err, ErrBadCredentials) {
		t.Fatalf("unknown user: %v, want the same error as a wrong password", err)
	}
}

func TestLoginAliasCannotLogIn(t *testing.T) {
	f := newFixture(t, defaultPolicy)
	if _, err := f.st.CreateAlias(context.Background(), "info@example.org", []int64{f.acct.ID}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.login("info@example.org", "right-password", ProtoPOP3, true); !errors.Is(err, ErrBadCredentials) {
		t.Fatalf("alias login: %v, want ErrBadCredentials", err)
	}
}

func TestLoginPolicy(t *testing.T) {
	f := newFixture(t, defaultPolicy)
	if f.a.PasswordAllowed(false) || !f.a.PasswordAllowed(true) {
		t.Fatal("secure policy must allow passwords only over TLS")
	}
	if _, err := f.login("anna", "right-password", ProtoPOP3, false); !errors.Is(err, ErrTLSRequired) {
		t.Fatalf("plaintext under secure policy: %v", err)
	}
	// The account may override the server policy.
	f.acct.Settings.LoginPolicy = store.PolicyPlaintext
	if err := f.st.UpdateAccount(context.Background(), f.acct); err != nil {
		t.Fatal(err)
	}
	if _, err := f.login("anna", "right-password", ProtoPOP3, false); err != nil {
		t.Fatalf("plaintext with account override: %v", err)
	}

	g := newFixture(t, Policy{AllowPlaintext: true, Window: time.Minute})
	if !g.a.PasswordAllowed(false) {
		t.Fatal("plaintext policy must allow passwords without TLS")
	}
	g.acct.Settings.LoginPolicy = store.PolicySecure
	if err := g.st.UpdateAccount(context.Background(), g.acct); err != nil {
		t.Fatal(err)
	}
	if _, err := g.login("anna@example.org", "right-password", ProtoIMAP, false); !errors.Is(err, ErrTLSRequired) {
		t.Fatalf("account forcing secure: %v", err)
	}
}

// TestLoginAllowPlaintextOverride checks the per-listener override: it
// permits a password without TLS under the secure policy, even for an
// account that forces secure logins, and still checks the password.
func TestLoginAllowPlaintextOverride(t *testing.T) {
	f := newFixture(t, defaultPolicy)
	f.acct.Settings.LoginPolicy = store.PolicySecure
	if err := f.st.UpdateAccount(context.Background(), f.acct); err != nil {
		t.Fatal(err)
	}
	req := Request{Username: "anna", Password: "right-password", Protocol: ProtoSMTP, RemoteIP: f.client}
	if _, err := f.a.Login(context.Background(), req); !errors.Is(err, ErrTLSRequired) {
		t.Fatalf("plaintext without the override: %v, want ErrTLSRequired", err)
	}
	req.AllowPlaintext = true
	res, err := f.a.Login(context.Background(), req)
	if err != nil || res.Account.ID != f.acct.ID {
		t.Fatalf("plaintext with the override: %v", err)
	}
	req.Password = "wrong"
	if _, err := f.a.Login(context.Background(), req); !errors.Is(err, ErrBadCredentials) {
		t.Fatalf("wrong password with the override: %v, want ErrBadCredentials", err)
	}
}

func TestLoginProtocolSwitchesAndDisabled(t *testing.T) {
	f := newFixture(t, defaultPolicy)
	f.acct.Settings.POP3Enabled = false
	if err := f.st.UpdateAccount(context.Background(), f.acct); err != nil {
		t.Fatal(err)
	}
	if _, err := f.login("anna", "right-password", ProtoPOP3, true); !errors.Is(err, ErrProtocolDisabled) {
		t.Fatalf("POP3 off: %v", err)
	}
	if _, err := f.login("anna", "right-password", ProtoIMAP, true); err != nil {
		t.Fatalf("IMAP still on: %v", err)
	}
	// A wrong password with POP3 off reports the password, not the switch.
	if _, err := f.login("anna", "wrong", ProtoPOP3, true); !errors.Is(err, ErrBadCredentials) {
		t.Fatalf("wrong password with POP3 off: %v", err)
	}
	f.acct.Disabled = true
	if err := f.st.UpdateAccount(context.Background(), f.acct); err != nil {
		t.Fatal(err)
	}
	if _, err := f.login("anna", "right-password", ProtoIMAP, true); !errors.Is(err, ErrAccountDisabled) {
		t.Fatalf("disabled account: %v", err)
	}
}

func TestLoginAppPasswords(t *testing.T) {
	f := newFixture(t, defaultPolicy)
	ctx := context.Background()
	h1, _ := testHashParams.Hash("app-mail-only")
	h2, _ := testHashParams.Hash("app-anything")
	ap1, err := f.st.CreateAppPassword(ctx, store.AppPassword{AccountID: f.acct.ID, Name: "phone", Hash: h1, Protocols: []string{"imap"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.st.CreateAppPassword(ctx, store.AppPassword{AccountID: f.acct.ID, Name: "laptop", Hash: h2}); err != nil {
		t.Fatal(err)
	}
	res, err := f.login("anna", "app-mail-only", ProtoIMAP, true)
	if err != nil || res.AppPassword != ap1.ID {
		t.Fatalf("app password for IMAP: %+v, %v", res, err)
	}
	if _, err := f.login("anna", "app-mail-only", ProtoSMTP, true); !errors.Is(err, ErrBadCredentials) {
		t.Fatalf("IMAP-only app password used for SMTP: %v", err)
	}
	if _, err := f.login("anna", "app-anything", ProtoPOP3, true); err != nil {
		t.Fatalf("unrestricted app password: %v", err)
	}
	aps, _ := f.st.AppPasswords(ctx, f.acct.ID)
	if aps[0].LastUsed.IsZero() {
		t.Fatal("use of the app password was not recorded")
	}
	if err := f.st.DeleteAppPassword(ctx, f.acct.ID, ap1.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := f.login("anna", "app-mail-only", ProtoIMAP, true); !errors.Is(err, ErrBadCredentials) {
		t.Fatalf("revoked app password: %v", err)
	}
}

func TestLoginThrottling(t *testing.T) {
	f := newFixture(t, defaultPolicy)
	for i := 0; i < 5; i++ {
		if _, err := f.login("anna", "wrong", ProtoIMAP, true); !errors.Is(err, ErrBadCredentials) {
			t.Fatalf("failure %d: %v", i+1, err)
		}
	}
	want := []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 15 * time.Second}
	if len(f.slept) != len(want) {
		t.Fatalf("slept %v, want %v", f.slept, want)
	}
	for i := range want {
		if f.slept[i] != want[i] {
			t.Fatalf("delays %v, want %v (doubling, capped)", f.slept, want)
		}
	}
	// Now even the right password is refused, without trying it.
	if _, err := f.login("anna", "right-password", ProtoIMAP, true); !errors.Is(err, ErrThrottled) {
		t.Fatalf("after 5 failures: %v, want ErrThrottled", err)
	}
	// Another client IP is refused too: the account itself is throttled.
	f.client = netip.MustParseAddr("198.51.100.1")
	if _, err := f.login("anna", "right-password", ProtoIMAP, true); !errors.Is(err, ErrThrottled) {
		t.Fatalf("other IP, same account: %v, want ErrThrottled", err)
	}
	// After the window, logins work again.
	f.mu.Lock()
	f.now = f.now.Add(16 * time.Minute)
	f.mu.Unlock()
	if _, err := f.login("anna", "right-password", ProtoIMAP, true); err != nil {
		t.Fatalf("after the window: %v", err)
	}
}

// testHashParams makes cheap hashes: these tests exercise the login rules,
// not the hash (password_test.go does, with the default cost).
var testHashParams = HashParams{Time: 1, MemoryKiB: 64, Threads: 1}

// TestLoginHashBound checks that no more than MaxConcurrentHashes password
// hashes run at once: further logins wait for a slot (and succeed when
// one is free), and a login whose context ends while it waits gives up
// without hashing.
func TestLoginHashBound(t *testing.T) {
	p := defaultPolicy
	p.MaxConcurrentHashes = 2
	f := newFixture(t, p)
	var mu sync.Mutex
	cur, peak, calls := 0, 0, 0
	entered := make(chan struct{}, 16)
	release := make(chan struct{})
	f.a.verify = func(hash, pw string) error {
		mu.Lock()
		cur++
		calls++
		peak = max(peak, cur)
		over := cur > p.MaxConcurrentHashes
		mu.Unlock()
		defer func() { mu.Lock(); cur--; mu.Unlock() }()
		if !over { // over the bound: fail fast, the test reports it
			entered <- struct{}{}
			<-release
		}
		if pw != "right-password" { // the real hash is slow under -race
			return ErrMismatch
		}
		return nil
	}
	login := func(ctx context.Context) error {
		_, err := f.a.Login(ctx, Request{Username: "anna", Password: "right-password", Protocol: ProtoPOP3, TLS: true, RemoteIP: f.client})
		return err
	}
	results := make(chan error, 3)
	for range 2 {
		go func() { results <- login(context.Background()) }()
	}
	<-entered
	<-entered // both slots are taken and held

	// A third login whose context is already over gives up waiting.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := login(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("login with a cancelled context while the slots are full: %v, want context.Canceled", err)
	}
	// A fourth one queues and gets a slot when one is released.
	go func() { results <- login(context.Background()) }()
	release <- struct{}{}
	<-entered
	close(release)
	for range 3 {
		if err := <-results; err != nil {
			t.Fatalf("login: %v", err)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if peak != 2 || calls != 3 {
		t.Fatalf("%d hashes, at most %d at once; want 3 hashes, 2 at once (the bound)", calls, peak)
	}
	if len(f.slept) != 0 {
		t.Fatalf("a cancelled wait counted as a failed login: slept %v", f.slept)
	}
}

func TestOnLoginTellsEveryAttempt(t *testing.T) {
	f := newFixture(t, defaultPolicy)
	ctx := context.Background()
	hash, err := testHashParams.Hash("phone-app-password")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.st.CreateAppPassword(ctx, store.AppPassword{AccountID: f.acct.ID, Name: "Phone", Hash: hash, Protocols: []string{"imap"}}); err != nil {
		t.Fatal(err)
	}
	var got []Attempt
	f.a.OnLogin(func(_ context.Context, at Attempt) { got = append(got, at) })
	f.login("anna", "right-password", ProtoPOP3, true)
	f.login("anna", "phone-app-password", ProtoIMAP, true)
	f.login("anna", "phone-app-password", ProtoSMTP, true)
	f.login("anna", "wrong", ProtoIMAP, false)
	f.login("nobody", "wrong", ProtoIMAP, true)
	want := []struct {
		proto   Protocol
		account int64
		app     string
		err     error
	}{
		{ProtoPOP3, f.acct.ID, "", nil},
		{ProtoIMAP, f.acct.ID, "Phone", nil},
		{ProtoSMTP, f.acct.ID, "Phone", ErrBadCredentials},
		{ProtoIMAP, f.acct.ID, "", ErrTLSRequired},
		{ProtoIMAP, 0, "", ErrBadCredentials},
	}
	if len(got) != len(want) {
		t.Fatalf("told of %d attempts, want %d", len(got), len(want))
	}
	for i, w := range want {
		g := got[i]
		if g.Protocol != w.proto || g.Account.ID != w.account || g.AppPassword.Name != w.app || !errors.Is(g.Err, w.err) || (w.err == nil) != (g.Err == nil) {
			t.Errorf("attempt %d: %s account %d app %q err %v; want %s %d %q %v", i, g.Protocol, g.Account.ID, g.AppPassword.Name, g.Err, w.proto, w.account, w.app, w.err)
		}
		if g.RemoteIP != f.client || g.Time.IsZero() {
			t.Errorf("attempt %d: ip %v time %v", i, g.RemoteIP, g.Time)
		}
	}
}

func TestRuntimeLoginPolicyOverridesConfig(t *testing.T) {
	f := newFixture(t, defaultPolicy) // config: TLS required
	ctx := context.Background()
	if f.a.PasswordAllowed(false) {
		t.Fatal("plaintext allowed under the secure policy")
	}
	if err := f.st.SetServerSetting(ctx, store.SettingAllowPlaintext, "true"); err != nil {
		t.Fatal(err)
	}
	if !f.a.PasswordAllowed(false) {
		t.Error("the saved setting does not allow plaintext")
	}
	if _, err := f.login("anna", "right-password", ProtoIMAP, false); err != nil {
		t.Errorf("plaintext login after the switch: %v", err)
	}
	if err := f.st.SetServerSetting(ctx, store.SettingAllowPlaintext, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := f.login("anna", "right-password", ProtoIMAP, false); !errors.Is(err, ErrTLSRequired) {
		t.Errorf("plaintext login after removing the setting: %v", err)
	}
}

// TestLoginThrottlingSharedCounters: with the store's counters, failures
// made on one node throttle the account on another node, and the window
// still ends.
func TestLoginThrottlingSharedCounters(t *testing.T) {
	f := newFixture(t, defaultPolicy)
	f.a.SetCounter(StoreCounter{Store: f.st, Window: defaultPolicy.Window})
	// A second node: another Authenticator on the same store.
	other := NewAuthenticator(f.st, defaultPolicy, nil)
	other.SetCounter(StoreCounter{Store: f.st, Window: defaultPolicy.Window})
	other.now = f.a.now
	other.sleep = func(context.Context, time.Duration) {}
	for i := 0; i < 5; i++ {
		if _, err := f.login("anna", "wrong", ProtoIMAP, true); !errors.Is(err, ErrBadCredentials) {
			t.Fatalf("failure %d: %v", i+1, err)
		}
	}
	if f.slept[4] != 15*time.Second {
		t.Errorf("delays %v: the shared count does not grow them", f.slept)
	}
	req := Request{Username: "anna", Password: "right-password", Protocol: ProtoPOP3, TLS: true, RemoteIP: netip.MustParseAddr("198.51.100.1")}
	if _, err := other.Login(context.Background(), req); !errors.Is(err, ErrThrottled) {
		t.Fatalf("other node after 5 failures on the first: %v, want ErrThrottled", err)
	}
	f.mu.Lock()
	f.now = f.now.Add(16 * time.Minute)
	f.mu.Unlock()
	if _, err := other.Login(context.Background(), req); err != nil {
		t.Fatalf("other node after the window: %v", err)
	}
}
