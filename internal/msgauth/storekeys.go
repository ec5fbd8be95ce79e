package msgauth

import (
	"bytes"
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/pochta-mail/pochta/internal/store"
)

// KeyStore is the part of the store that keeps DKIM keys.
type KeyStore interface {
	AddDKIMKeys(ctx context.Context, keys []store.DKIMKey) error
	DKIMKeys(ctx context.Context, domain string) ([]store.DKIMKey, error)
}

// Sealer encrypts private keys at rest: auth.SecretKey, the server key
// that also seals APOP secrets (data_dir/secret.key, the same file on
// every node).
type Sealer interface {
	SealBytes(plain []byte, context string) (string, error)
	OpenBytes(sealed, context string) ([]byte, error)
}

// DefaultKeyCacheTTL is how long StoreKeys keeps a domain's keys in
// memory before reading the store again.
const DefaultKeyCacheTTL = time.Minute

// maxCachedDomains bounds the key cache; past it the cache starts over.
const maxCachedDomains = 10000

// StoreKeys keeps DKIM keys in the store, private keys sealed, and signs
// with them. Parsed keys are cached in memory per process for TTL, so
// that signing does not read the store for every message; keys made by
// another process or node are seen after at most TTL. It is safe for
// concurrent use.
type StoreKeys struct {
	store  KeyStore
	sealer Sealer
	ttl    time.Duration
	log    *slog.Logger

	mu    sync.Mutex
	cache map[string]cachedKeys
}

// cachedKeys are the parsed keys of one domain (active and retired).
type cachedKeys struct {
	keys []Key
	at   time.Time
}

// NewStoreKeys makes a StoreKeys over st, sealing with sealer. ttl <= 0
// means DefaultKeyCacheTTL; log nil means slog.Default().
func NewStoreKeys(st KeyStore, sealer Sealer, ttl time.Duration, log *slog.Logger) *StoreKeys {
	if ttl <= 0 {
		ttl = DefaultKeyCacheTTL
	}
	if log == nil {
		log = slog.Default()
	}
	return &StoreKeys{store: st, sealer: sealer, ttl: ttl, log: log, cache: map[string]cachedKeys{}}
}

// sealContext binds a sealed private key to its domain and selector.
func sealContext(domain, selector string) string {
	return "dkim key " + domain + " " + selector
}

// all returns every key of domain (active and retired), from the cache
// when it is fresh. Keys that do not open with the server key are left
// out and logged; when none opens, that is the error.
func (sk *StoreKeys) all(ctx context.Context, domain string) ([]Key, error) {
	d, err := cleanDomain(domain)
	if err != nil {
		return nil, fmt.Errorf("dkim keys: %w", err)
	}
	now := time.Now()
	sk.mu.Lock()
	c, ok := sk.cache[d]
	sk.mu.Unlock()
	if ok && now.Sub(c.at) < sk.ttl {
		return c.keys, nil
	}
	stored, err := sk.store.DKIMKeys(ctx, d)
	if err != nil {
		return nil, fmt.Errorf("dkim keys for %s: %w", d, err)
	}
	keys, err := sk.open(stored)
	if err != nil {
		return nil, err
	}
	sk.mu.Lock()
	if len(sk.cache) >= maxCachedDomains {
		clear(sk.cache)
	}
	sk.cache[d] = cachedKeys{keys: keys, at: now}
	sk.mu.Unlock()
	return keys, nil
}

// open unseals and parses stored keys.
func (sk *StoreKeys) open(stored []store.DKIMKey) ([]Key, error) {
	var keys []Key
	var firstErr error
	for _, s := range stored {
		k, err := sk.openOne(s)
		if err != nil {
			sk.log.Error("DKIM key not usable", "domain", s.Domain, "selector", s.Selector, "err", err)
			if firstErr == nil {
				firstErr = err
			}
			continue
		}
		keys = append(keys, k)
	}
	if len(keys) == 0 && firstErr != nil {
		return nil, firstErr
	}
	return keys, nil
}

func (sk *StoreKeys) openOne(s store.DKIMKey) (Key, error) {
	data, err := sk.sealer.OpenBytes(s.PrivateKey, sealContext(s.Domain, s.Selector))
	if err != nil {
		return Key{}, fmt.Errorf("dkim key %s for %s: %w (is data_dir/secret.key the same on every node?)", s.Selector, s.Domain, err)
	}
	k, err := ParseKeyPEM(s.Domain, s.Selector, data)
	if err != nil {
		return Key{}, err
	}
	k.Created, k.Active = s.Created, s.Active
	return k, nil
}

// Keys returns the active keys of domain, sorted by selector; none is
// not an error.
func (sk *StoreKeys) Keys(ctx context.Context, domain string) ([]Key, error) {
	all, err := sk.all(ctx, domain)
	if err != nil {
		return nil, err
	}
	var out []Key
	for _, k := range all {
		if k.Active {
			out = append(out, k)
		}
	}
	return out, nil
}

// Sign implements Signer.
func (sk *StoreKeys) Sign(ctx context.Context, domain string, msg io.Reader) ([]byte, error) {
	keys, err := sk.Keys(ctx, domain)
	if err != nil {
		return nil, err
	}
	return SignWith(ctx, keys, msg)
}

// Generate makes a new ed25519 key and a new RSA-2048 key for domain,
// with selectors named after the current month ("e202611", "r202611"),
// unless the domain has keys already. It returns every key of the domain
// (retired ones too: their DNS records stay published), read from the
// store. Two processes generating at once end up with one pair.
func (sk *StoreKeys) Generate(ctx context.Context, domain string, now time.Time) ([]Key, error) {
	d, err := cleanDomain(domain)
	if err != nil {
		return nil, fmt.Errorf("dkim keys: %w", err)
	}
	sk.forget(d)
	if keys, err := sk.all(ctx, d); err != nil || len(keys) > 0 {
		return keys, err
	}
	made, err := NewKeys(d, now)
	if err != nil {
		return nil, err
	}
	stored := make([]store.DKIMKey, len(made))
	for i, k := range made {
		if stored[i], err = sk.seal(k); err != nil {
			return nil, err
		}
	}
	if err := sk.store.AddDKIMKeys(ctx, stored); err != nil && !errors.Is(err, store.ErrExists) {
		return nil, fmt.Errorf("dkim keys for %s: %w", d, err)
	}
	sk.forget(d)
	return sk.all(ctx, d)
}

// Rotate makes a new ed25519 key and a new RSA-2048 key for domain that
// do not sign yet: their DNS records must be published first (then the
// store's SetDKIMKeyActive makes them sign and retires the old ones).
// Selectors are named after the month as in Generate, with a letter
// added when the month's name is taken ("e202612b"). It returns the new
// keys.
func (sk *StoreKeys) Rotate(ctx context.Context, domain string, now time.Time) ([]Key, error) {
	d, err := cleanDomain(domain)
	if err != nil {
		return nil, fmt.Errorf("dkim keys: %w", err)
	}
	existing, err := sk.store.DKIMKeys(ctx, d)
	if err != nil {
		return nil, fmt.Errorf("dkim keys for %s: %w", d, err)
	}
	taken := map[string]bool{}
	for _, k := range existing {
		taken[k.Selector] = true
	}
	made, err := NewKeys(d, now)
	if err != nil {
		return nil, err
	}
	suffix := ""
	for n := 'b'; slices.ContainsFunc(made, func(k Key) bool { return taken[k.Selector+suffix] }); n++ {
		if n > 'z' {
			return nil, fmt.Errorf("dkim keys for %s: every selector of this month is taken", d)
		}
		suffix = string(n)
	}
	stored := make([]store.DKIMKey, len(made))
	for i := range made {
		made[i].Selector += suffix
		made[i].Active = false
		if stored[i], err = sk.seal(made[i]); err != nil {
			return nil, err
		}
	}
	if err := sk.store.AddDKIMKeys(ctx, stored); err != nil {
		return nil, fmt.Errorf("dkim keys for %s: %w", d, err)
	}
	sk.forget(d)
	return made, nil
}

// seal turns a key into its stored form.
func (sk *StoreKeys) seal(k Key) (store.DKIMKey, error) {
	data, err := k.MarshalPEM()
	if err != nil {
		return store.DKIMKey{}, err
	}
	sealed, err := sk.sealer.SealBytes(data, sealContext(k.Domain, k.Selector))
	if err != nil {
		return store.DKIMKey{}, fmt.Errorf("dkim key %s for %s: %w", k.Selector, k.Domain, err)
	}
	return store.DKIMKey{Domain: k.Domain, Selector: k.Selector, Algorithm: k.Algorithm(), PrivateKey: sealed,
		Created: k.Created, Active: k.Active}, nil
}

// forget drops a domain from the cache.
func (sk *StoreKeys) forget(domain string) {
	sk.mu.Lock()
	delete(sk.cache, domain)
	sk.mu.Unlock()
}

// Import copies the key files of kd into the store: each key whose
// domain and selector the store does not have yet. It is idempotent (a
// second run imports nothing) and leaves the files in place. A file whose
// selector the store has with another key is not imported (the store's
// key signs) and is logged. It returns the keys imported.
func (sk *StoreKeys) Import(ctx context.Context, kd KeyDir) ([]Key, error) {
	domains, err := kd.Domains()
	if err != nil {
		return nil, err
	}
	var imported []Key
	for _, d := range domains {
		files, err := kd.Keys(d)
		if err != nil {
			return imported, fmt.Errorf("import dkim keys: %w", err)
		}
		for _, f := range files {
			if f.Created.IsZero() {
				f.Created = time.Now().UTC().Truncate(time.Second)
			}
			s, err := sk.seal(f)
			if err != nil {
				return imported, fmt.Errorf("import dkim keys: %w", err)
			}
			err = sk.store.AddDKIMKeys(ctx, []store.DKIMKey{s})
			if errors.Is(err, store.ErrExists) {
				sk.checkSame(ctx, f)
				continue
			}
			if err != nil {
				return imported, fmt.Errorf("import dkim keys: %w", err)
			}
			imported = append(imported, f)
		}
		sk.forget(d)
	}
	return imported, nil
}

// checkSame logs when the store's key of a file's selector is another key.
func (sk *StoreKeys) checkSame(ctx context.Context, f Key) {
	sk.forget(f.Domain)
	keys, err := sk.all(ctx, f.Domain)
	if err != nil {
		return
	}
	for _, k := range keys {
		if k.Selector != f.Selector {
			continue
		}
		a, errA := k.MarshalPEM()
		b, errB := f.MarshalPEM()
		if errA == nil && errB == nil && subtle.ConstantTimeCompare(bytes.TrimSpace(a), bytes.TrimSpace(b)) != 1 {
			sk.log.Warn("DKIM key file differs from the stored key of its selector; the stored key signs",
				"domain", f.Domain, "selector", f.Selector)
		}
	}
}
