package auth

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/pochta-mail/pochta/internal/store"
)

func TestSecretKeyFile(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	// Several processes starting at once agree on one key.
	keys := make([]*SecretKey, 4)
	var wg sync.WaitGroup
	for i := range keys {
		wg.Go(func() {
			k, err := LoadSecretKey(dir)
			if err != nil {
				t.Error(err)
			}
			keys[i] = k
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	path := filepath.Join(dir, SecretKeyFile)
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 || st.Size() != 32 {
		t.Fatalf("key file mode %04o, %d bytes; want 0600, 32", st.Mode().Perm(), st.Size())
	}
	sealed, err := keys[0].Seal("s3cret", 7)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(sealed, "s3cret") {
		t.Fatal("sealed value holds the secret")
	}
	for i, k := range keys {
		if got, err := k.Open(sealed, 7); err != nil || got != "s3cret" {
			t.Fatalf("key %d: Open = %q, %v", i, got, err)
		}
	}
	again, err := LoadSecretKey(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := again.Open(sealed, 7); err != nil || got != "s3cret" {
		t.Fatalf("reloaded key: Open = %q, %v", got, err)
	}
	// Bound to the account; a damaged value or another key does not open.
	if _, err := again.Open(sealed, 8); err == nil {
		t.Fatal("a secret sealed for account 7 opened for account 8")
	}
	if _, err := again.Open(sealed[:len(sealed)-2]+"AA", 7); err == nil {
		t.Fatal("a damaged value opened")
	}
	other, _ := NewSecretKey(make([]byte, 32))
	if _, err := other.Open(sealed, 7); err == nil {
		t.Fatal("another key opened the value")
	}
	// A key others may read, or of the wrong size, is refused.
	os.Chmod(path, 0o644)
	if _, err := LoadSecretKey(dir); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Fatalf("world-readable key: %v", err)
	}
	os.WriteFile(path, []byte("short"), 0o600)
	os.Chmod(path, 0o600)
	if _, err := LoadSecretKey(dir); err == nil || !strings.Contains(err.Error(), "want 32") {
		t.Fatalf("short key: %v", err)
	}
}

func TestAPOPDigest(t *testing.T) {
	// The example of RFC 1939 §7.
	if d := APOPDigest("<1896.697170952@dbc.mtview.ca.us>", "tanstaaf"); d != "c4c9334bac560ecc979e58001b3e22fb" {
		t.Fatalf("digest %s", d)
	}
}

func TestCheckAPOPSecret(t *testing.T) {
	for _, bad := range []string{"", "a\x00b", "tab\there", strings.Repeat("x", MaxAPOPSecret+1)} {
		if CheckAPOPSecret(bad) == nil {
			t.Errorf("CheckAPOPSecret(%q) accepted", bad)
		}
	}
	s, err := GenerateAPOPSecret()
	if err != nil || CheckAPOPSecret(s) != nil || len(s) < 20 {
		t.Fatalf("generated %q: %v", s, err)
	}
}

// apopFixture is the fixture with a server key and an APOP secret set for
// the account.
func apopFixture(t *testing.T, p Policy) (*fixture, string) {
	t.Helper()
	key, err := LoadSecretKey(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	p.SecretKey = key
	f := newFixture(t, p)
	sealed, err := key.Seal("tanstaaf", f.acct.ID)
	if err != nil {
		t.Fatal(err)
	}
	f.acct.Settings.APOPSecret = sealed
	if err := f.st.UpdateAccount(context.Background(), f.acct); err != nil {
		t.Fatal(err)
	}
	return f, "<1896.697170952@dbc.mtview.ca.us>"
}

func (f *fixture) apop(user, ts, digest string, tls bool) (Result, error) {
	return f.a.LoginAPOP(context.Background(), APOPRequest{Username: user, Timestamp: ts, Digest: digest, TLS: tls, RemoteIP: f.client})
}

func TestLoginAPOP(t *testing.T) {
	p := defaultPolicy
	p.MaxFailures = 0 // no lockout: this test fails often
	f, ts := apopFixture(t, p)
	good := APOPDigest(ts, "tanstaaf")
	res, err := f.apop("anna", ts, good, true)
	if err != nil || res.Account.ID != f.acct.ID {
		t.Fatalf("right digest: %v", err)
	}
	if _, err := f.apop("anna", ts, strings.ToUpper(good), true); err != nil {
		t.Fatalf("upper-case hex digest: %v", err)
	}
	// A digest for another timestamp (a replay) or secret fails; so does
	// the login password used as the secret.
	for _, d := range []string{APOPDigest("<1.2@other>", "tanstaaf"), APOPDigest(ts, "tanstaaF"), APOPDigest(ts, "right-password"), "x"} {
		if _, err := f.apop("anna@example.org", ts, d, true); !errors.Is(err, ErrBadCredentials) {
			t.Fatalf("digest %q: %v, want ErrBadCredentials", d, err)
		}
	}
	if _, err := f.apop("nobody", ts, good, true); !errors.Is(err, ErrBadCredentials) {
		t.Fatalf("unknown user: %v", err)
	}
	// Under the secure policy, not without TLS.
	if _, err := f.apop("anna", ts, good, false); !errors.Is(err, ErrTLSRequired) {
		t.Fatalf("APOP without TLS, secure policy: %v", err)
	}
	// POP3 off and a disabled account: refused after a right digest only.
	f.acct.Settings.POP3Enabled = false
	f.st.UpdateAccount(context.Background(), f.acct)
	if _, err := f.apop("anna", ts, good, true); !errors.Is(err, ErrProtocolDisabled) {
		t.Fatalf("POP3 off: %v", err)
	}
	f.acct.Disabled = true
	f.st.UpdateAccount(context.Background(), f.acct)
	if _, err := f.apop("anna", ts, good, true); !errors.Is(err, ErrAccountDisabled) {
		t.Fatalf("disabled: %v", err)
	}
	// Without a secret, APOP fails like a wrong digest.
	f.acct.Disabled, f.acct.Settings.POP3Enabled, f.acct.Settings.APOPSecret = false, true, ""
	f.st.UpdateAccount(context.Background(), f.acct)
	if _, err := f.apop("anna", ts, good, true); !errors.Is(err, ErrBadCredentials) || !strings.Contains(err.Error(), "no APOP secret") {
		t.Fatalf("no secret: %v", err)
	}
}

func TestLoginAPOPPlaintextPolicyAndThrottling(t *testing.T) {
	p := defaultPolicy
	p.AllowPlaintext = true
	f, ts := apopFixture(t, p)
	good := APOPDigest(ts, "tanstaaf")
	if _, err := f.apop("anna", ts, good, false); err != nil {
		t.Fatalf("APOP without TLS, plaintext policy: %v", err)
	}
	// An account that forces secure logins keeps APOP off plaintext too.
	f.acct.Settings.LoginPolicy = store.PolicySecure
	f.st.UpdateAccount(context.Background(), f.acct)
	if _, err := f.apop("anna", ts, good, false); !errors.Is(err, ErrTLSRequired) {
		t.Fatalf("account forcing secure: %v", err)
	}
	// Wrong digests count with wrong passwords: after 5, even the right
	// digest is refused.
	for i := range 3 {
		if _, err := f.apop("anna", ts, "00", true); !errors.Is(err, ErrBadCredentials) {
			t.Fatalf("failure %d: %v", i+1, err)
		}
	}
	for range 2 {
		f.login("anna", "wrong", ProtoPOP3, true)
	}
	if _, err := f.apop("anna", ts, good, true); !errors.Is(err, ErrThrottled) {
		t.Fatalf("after 5 failures: %v, want ErrThrottled", err)
	}
	if len(f.slept) != 5 {
		t.Fatalf("failure delays %v, want 5", f.slept)
	}
}
