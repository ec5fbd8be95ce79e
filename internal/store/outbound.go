package store

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// DKIMKeyStore keeps the DKIM signing keys of the local domains, so that
// every node sharing the store signs with the same keys. The store keeps
// private keys as the caller gives them (sealed with the server key by
// msgauth.StoreKeys); it never looks inside.
type DKIMKeyStore interface {
	// AddDKIMKeys stores new keys, all or none: it fails with ErrExists,
	// storing nothing, when a key with one of the (domain, selector)
	// pairs exists already. Domains are stored in canonical form
	// (CanonicalDomain); they need not be local domains.
	AddDKIMKeys(ctx context.Context, keys []DKIMKey) error
	// DKIMKeys lists the keys of a domain (any case, U-labels or
	// A-labels), or of every domain when domain is "", sorted by domain
	// and selector. Retired keys are listed too. No keys is not an error.
	DKIMKeys(ctx context.Context, domain string) ([]DKIMKey, error)
	// SetDKIMKeyActive retires a key (active false: it no longer signs)
	// or makes it sign again; ErrNotFound when there is no such key.
	SetDKIMKeyActive(ctx context.Context, domain, selector string, active bool) error
}

// DKIMKey is one stored DKIM key.
type DKIMKey struct {
	// Domain is the signing domain (d=), in canonical form.
	Domain string
	// Selector is the selector (s=).
	Selector string
	// Algorithm is the k= tag: "ed25519" or "rsa".
	Algorithm string
	// PrivateKey is the private key as the caller sealed it (opaque to
	// the store).
	PrivateKey string
	// Created is when the key was made (second precision).
	Created time.Time
	// Active keys sign; retired ones are kept so that their DNS records
	// can stay published until signatures made with them expire.
	Active bool
}

// MTASTSStore keeps the MTA-STS policies (RFC 8461) of destination
// domains that the delivery engines fetched, so that a restart does not
// fetch a valid policy again and every node uses what another fetched.
type MTASTSStore interface {
	// MTASTSPolicy returns the stored policy of a domain (any case),
	// ErrNotFound when there is none. Expired policies are returned
	// too: expiry is the caller's.
	MTASTSPolicy(ctx context.Context, domain string) (MTASTSPolicy, error)
	// PutMTASTSPolicy stores the policy of p.Domain, replacing the one
	// stored before.
	PutMTASTSPolicy(ctx context.Context, p MTASTSPolicy) error
	// DeleteExpiredMTASTSPolicies removes the policies that expired
	// before before and returns how many.
	DeleteExpiredMTASTSPolicies(ctx context.Context, before time.Time) (int, error)
}

// MTASTSPolicy is a fetched MTA-STS policy.
type MTASTSPolicy struct {
	// Domain is the policy domain, in canonical form.
	Domain string
	// ID is the id of the _mta-sts TXT record when the policy was
	// fetched.
	ID string
	// Policy is the policy file as fetched (msgauth.ParseSTSPolicy
	// reads it).
	Policy string
	// Fetched is when it was fetched, Expires when its max_age runs
	// out (second precision).
	Fetched, Expires time.Time
}

// CheckDKIMKey returns k with its domain in canonical form, or an
// ErrInvalid error for a key a backend must refuse: a bad domain, a
// selector that is not a dot-separated sequence of letters, digits and
// hyphens, an algorithm other than "ed25519" and "rsa", or no private
// key. Backends call it in AddDKIMKeys.
func CheckDKIMKey(k DKIMKey) (DKIMKey, error) {
	d, err := CanonicalDomain(k.Domain)
	if err != nil {
		return k, fmt.Errorf("dkim key: %w", err)
	}
	k.Domain = d
	if !validSelector(k.Selector) {
		return k, fmt.Errorf("%w: dkim selector %q", ErrInvalid, k.Selector)
	}
	if k.Algorithm != "ed25519" && k.Algorithm != "rsa" {
		return k, fmt.Errorf("%w: dkim algorithm %q", ErrInvalid, k.Algorithm)
	}
	if k.PrivateKey == "" {
		return k, fmt.Errorf("%w: dkim key %s of %s without a private key", ErrInvalid, k.Selector, k.Domain)
	}
	return k, nil
}

// validSelector reports a selector usable in a DNS name (RFC 6376 §3.1).
func validSelector(s string) bool {
	if s == "" || len(s) > 253 {
		return false
	}
	for _, label := range strings.Split(s, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, c := range []byte(label) {
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return false
			}
		}
	}
	return true
}

// CheckMTASTSPolicy returns p with its domain in canonical form, or an
// ErrInvalid error for a policy without an id or text.
func CheckMTASTSPolicy(p MTASTSPolicy) (MTASTSPolicy, error) {
	d, err := CanonicalDomain(p.Domain)
	if err != nil {
		return p, fmt.Errorf("mta-sts policy: %w", err)
	}
	p.Domain = d
	if p.ID == "" || p.Policy == "" {
		return p, fmt.Errorf("%w: mta-sts policy of %s without an id or text", ErrInvalid, d)
	}
	return p, nil
}
