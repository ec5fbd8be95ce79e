package msgauth

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-msgauth/dkim"

	"github.com/pochta-mail/pochta/internal/auth"
	"github.com/pochta-mail/pochta/internal/store"
	"github.com/pochta-mail/pochta/internal/store/sqlite"
)

// testStore opens an embedded store in a temporary folder.
func testStore(t *testing.T) store.Store {
	t.Helper()
	st, err := sqlite.Open(t.Context(), sqlite.Options{Dir: t.TempDir(), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// testSecret makes a server key in a temporary folder.
func testSecret(t *testing.T) *auth.SecretKey {
	t.Helper()
	k, err := auth.LoadSecretKey(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func newTestKeys(t *testing.T) *StoreKeys {
	return NewStoreKeys(testStore(t), testSecret(t), 0, nil)
}

// verify checks the signatures in front of msg against the records of
// keys and returns the domains whose signatures verify.
func verify(t *testing.T, keys []Key, signed string) []string {
	t.Helper()
	recs := map[string]string{}
	for _, k := range keys {
		r, err := k.Record()
		if err != nil {
			t.Fatal(err)
		}
		recs[k.RecordName()] = r
	}
	vs, err := dkim.VerifyWithOptions(strings.NewReader(signed), &dkim.VerifyOptions{LookupTXT: func(name string) ([]string, error) {
		if r, ok := recs[name]; ok {
			return []string{r}, nil
		}
		return nil, &dkimNotFound{name}
	}})
	if err != nil {
		t.Fatal(err)
	}
	var ok []string
	for _, v := range vs {
		if v.Err == nil {
			ok = append(ok, v.Domain+"/"+v.Identifier)
		}
	}
	return ok
}

type dkimNotFound struct{ name string }

func (e *dkimNotFound) Error() string { return "no record " + e.name }

// TestStoreKeysSharedByProcesses: keys made by one process (its own
// StoreKeys and cache) sign in another that shares the store and the
// server key, and verify with the records the first one printed.
func TestStoreKeysSharedByProcesses(t *testing.T) {
	st, secret := testStore(t), testSecret(t)
	node1 := NewStoreKeys(st, secret, 0, nil)
	node2 := NewStoreKeys(st, secret, 0, nil)
	if keys, err := node2.Keys(t.Context(), "signed.example"); err != nil || len(keys) != 0 {
		t.Fatalf("keys before any were made: %v, %v", keys, err)
	}
	made, err := node1.Generate(t.Context(), "signed.example", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	// node2 read "no keys" a moment ago; a second Generate (as `pochta
	// domain dns` on another node) finds node1's keys and makes none.
	again, err := node2.Generate(t.Context(), "signed.example", time.Now().AddDate(0, 1, 0))
	if err != nil || len(again) != 2 || again[0].Selector != made[0].Selector {
		t.Fatalf("Generate on the second node: %v, %v; want the first node's keys", again, err)
	}
	sig, err := node2.Sign(t.Context(), "signed.example", strings.NewReader(testMsg))
	if err != nil {
		t.Fatal(err)
	}
	if got := verify(t, made, string(sig)+testMsg); len(got) != 2 {
		t.Errorf("signatures of the second node verifying with the first node's records: %v, want 2", got)
	}
}

// TestStoreKeysSealed: the store holds no readable private key, and a
// node with another server key cannot use the keys (a clear error, no
// unsigned mail).
func TestStoreKeysSealed(t *testing.T) {
	st := testStore(t)
	sk := NewStoreKeys(st, testSecret(t), 0, nil)
	if _, err := sk.Generate(t.Context(), "signed.example", time.Now()); err != nil {
		t.Fatal(err)
	}
	stored, err := st.DKIMKeys(t.Context(), "signed.example")
	if err != nil || len(stored) != 2 {
		t.Fatalf("stored keys: %v, %v", stored, err)
	}
	for _, k := range stored {
		if strings.Contains(k.PrivateKey, "PRIVATE KEY") || !strings.HasPrefix(k.PrivateKey, "v1:") {
			t.Errorf("key %s stored as %q, not sealed", k.Selector, k.PrivateKey[:min(40, len(k.PrivateKey))])
		}
	}
	other := NewStoreKeys(st, testSecret(t), 0, slog.New(slog.DiscardHandler))
	if _, err := other.Sign(t.Context(), "signed.example", strings.NewReader(testMsg)); err == nil || !strings.Contains(err.Error(), "secret.key") {
		t.Errorf("signing with another server key: %v, want an error naming secret.key", err)
	}
	// A sealed key moved to another selector does not open either.
	moved := stored[0]
	moved.Selector = "stolen"
	if err := st.AddDKIMKeys(t.Context(), []store.DKIMKey{moved}); err != nil {
		t.Fatal(err)
	}
	fresh := NewStoreKeys(st, sk.sealer, 0, slog.New(slog.DiscardHandler))
	keys, err := fresh.Keys(t.Context(), "signed.example")
	if err != nil || len(keys) != 2 {
		t.Errorf("keys with one moved sealed key: %d, %v; want the 2 good ones", len(keys), err)
	}
}

// countingKeyStore counts reads of the store.
type countingKeyStore struct {
	KeyStore
	reads atomic.Int64
}

func (c *countingKeyStore) DKIMKeys(ctx context.Context, domain string) ([]store.DKIMKey, error) {
	c.reads.Add(1)
	return c.KeyStore.DKIMKeys(ctx, domain)
}

// TestStoreKeysCache: signing many messages reads the store once per TTL,
// and a key retired in the store stops signing once the cache is stale.
func TestStoreKeysCache(t *testing.T) {
	st := testStore(t)
	cs := &countingKeyStore{KeyStore: st}
	secret := testSecret(t)
	sk := NewStoreKeys(cs, secret, time.Hour, nil)
	if _, err := sk.Generate(t.Context(), "signed.example", time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)); err != nil {
		t.Fatal(err)
	}
	before := cs.reads.Load()
	for range 20 {
		if _, err := sk.Sign(t.Context(), "signed.example", strings.NewReader(testMsg)); err != nil {
			t.Fatal(err)
		}
	}
	if n := cs.reads.Load() - before; n != 0 {
		t.Errorf("20 signatures read the store %d times, want 0 (cached)", n)
	}
	if err := st.SetDKIMKeyActive(t.Context(), "signed.example", "r202611", false); err != nil {
		t.Fatal(err)
	}
	// A cache that is always stale sees the change at once.
	stale := NewStoreKeys(cs, secret, time.Nanosecond, nil)
	sig, err := stale.Sign(t.Context(), "signed.example", strings.NewReader(testMsg))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Count(sig, []byte("DKIM-Signature:")) != 1 || !bytes.Contains(sig, []byte("s=e202611")) {
		t.Errorf("signatures after retiring r202611:\n%s", sig)
	}
	all, err := stale.Generate(t.Context(), "signed.example", time.Now())
	if err != nil || len(all) != 2 {
		t.Errorf("Generate lists retired keys too (for DNS): %d, %v", len(all), err)
	}
}

// writeKeyFiles writes keys as earlier versions did:
// dir/<domain>/<selector>.key.
func writeKeyFiles(t *testing.T, dir string, keys []Key) {
	t.Helper()
	for _, k := range keys {
		data, err := k.MarshalPEM()
		if err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(filepath.Join(dir, k.Domain), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, k.Domain, k.Selector+".key"), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

// TestImportKeyFiles: key files of an earlier version move into the
// store once; they keep signing (same public keys) and stay on disk.
func TestImportKeyFiles(t *testing.T) {
	dir := t.TempDir()
	files, err := NewKeys("Пример.РФ", time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	other, err := NewKeys("b.example", time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	writeKeyFiles(t, dir, append(files, other[0]))
	os.WriteFile(filepath.Join(dir, "b.example", "notes.txt"), []byte("not a key"), 0o600)

	sk := newTestKeys(t)
	// b.example already has a key under the file's selector in the
	// store: the store's key stays.
	if _, err := sk.Generate(t.Context(), "b.example", time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC)); err != nil {
		t.Fatal(err)
	}
	imported, err := sk.Import(t.Context(), KeyDir{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if len(imported) != 2 || imported[0].Domain != "xn--e1afmkfd.xn--p1ai" {
		t.Fatalf("imported %v, want the 2 keys of xn--e1afmkfd.xn--p1ai", imported)
	}
	again, err := sk.Import(t.Context(), KeyDir{Dir: dir})
	if err != nil || len(again) != 0 {
		t.Errorf("second import: %v, %v; want nothing", again, err)
	}
	sig, err := sk.Sign(t.Context(), "пример.рф", strings.NewReader(testMsg))
	if err != nil {
		t.Fatal(err)
	}
	if got := verify(t, files, string(sig)+testMsg); len(got) != 2 {
		t.Errorf("imported keys verify with the files' records: %v, want 2", got)
	}
	bKeys, err := sk.Keys(t.Context(), "b.example")
	if err != nil || len(bKeys) != 2 {
		t.Fatalf("b.example keys: %v, %v", bKeys, err)
	}
	if rec, _ := bKeys[0].Record(); func() bool { fr, _ := other[0].Record(); return fr == rec }() {
		t.Error("the file replaced the stored key of the same selector")
	}
	if _, err := os.Stat(filepath.Join(dir, "xn--e1afmkfd.xn--p1ai", files[0].Selector+".key")); err != nil {
		t.Errorf("key file gone after the import: %v", err)
	}
	if missing, err := sk.Import(t.Context(), KeyDir{Dir: filepath.Join(dir, "none")}); err != nil || len(missing) != 0 {
		t.Errorf("import from a missing folder: %v, %v", missing, err)
	}
}

// FuzzParseKeyPEM: key files and unsealed store values never crash the
// parser, and what it accepts signs and writes back to the same key.
func FuzzParseKeyPEM(f *testing.F) {
	keys, err := NewKeys("seed.example", time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	if err != nil {
		f.Fatal(err)
	}
	for _, k := range keys {
		data, err := k.MarshalPEM()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"))
	f.Add([]byte("not a key"))
	f.Fuzz(func(t *testing.T, data []byte) {
		k, err := ParseKeyPEM("seed.example", "s1", data)
		if err != nil {
			return
		}
		again, err := k.MarshalPEM()
		if err != nil {
			t.Fatalf("accepted key does not marshal: %v", err)
		}
		k2, err := ParseKeyPEM("seed.example", "s1", again)
		if err != nil {
			t.Fatalf("marshalled key does not parse: %v", err)
		}
		r1, err1 := k.Record()
		r2, err2 := k2.Record()
		if err1 != nil || err2 != nil || r1 != r2 {
			t.Fatalf("records differ after a round trip: %q %v / %q %v", r1, err1, r2, err2)
		}
	})
}
