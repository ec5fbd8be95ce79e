package delivery

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/pochta-mail/pochta/internal/store"
)

// Resolution errors. Test with errors.Is.
var (
	// ErrNotLocal reports an address in a domain this server does not
	// serve.
	ErrNotLocal = errors.New("not a local domain")
	// ErrUnknownUser reports an address in a local domain that names no
	// account, alias or catch-all.
	ErrUnknownUser = errors.New("user unknown")
)

// Resolver maps recipient addresses to local accounts.
type Resolver struct {
	// Store holds the domains, accounts and aliases.
	Store store.Store
	// PlusSeparators holds the sub-addressing separator characters ("+"
	// by default, "" disables plus addresses).
	PlusSeparators string
}

// Recipient is a resolved local recipient.
type Recipient struct {
	// Address is the recipient address in canonical form (lowercase, or
	// with the local part's case kept in a case-sensitive domain), as the
	// sender wrote it (with its plus tag).
	Address string
	// Accounts are the ids of the accounts that get a copy.
	Accounts []int64
}

// IsLocalDomain reports whether the server serves a domain.
func (r *Resolver) IsLocalDomain(ctx context.Context, domain string) (bool, error) {
	if strings.HasPrefix(domain, "[") {
		return false, nil
	}
	_, err := r.Store.Domain(ctx, domain)
	if errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrInvalid) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("look up domain %s: %w", domain, err)
	}
	return true, nil
}

// Resolve finds the local accounts an address delivers to: the account or
// alias with exactly that address; else, for local+tag@domain, the
// account or alias local@domain; else the domain's catch-all. It returns
// ErrNotLocal for other domains and ErrUnknownUser when nothing matches.
// Local parts compare case-insensitively unless the domain's
// LocalPartCaseSensitive is set.
func (r *Resolver) Resolve(ctx context.Context, a Address) (Recipient, error) {
	if a.IsLiteral() {
		return Recipient{}, fmt.Errorf("%s: %w", a.Domain, ErrNotLocal)
	}
	dom, err := r.Store.Domain(ctx, a.Domain)
	if errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrInvalid) {
		return Recipient{}, fmt.Errorf("%s: %w", a.Domain, ErrNotLocal)
	}
	if err != nil {
		return Recipient{}, fmt.Errorf("resolve %s: look up domain: %w", a, err)
	}
	canon, err := a.CanonicalCase(dom.LocalPartCaseSensitive)
	if err != nil {
		return Recipient{}, fmt.Errorf("%s: %w", a, ErrUnknownUser)
	}
	ids, err := r.lookup(ctx, canon)
	if err == nil {
		return Recipient{Address: canon, Accounts: ids}, nil
	}
	if !errors.Is(err, store.ErrNotFound) {
		return Recipient{}, err
	}
	local, domain, _ := strings.Cut(canon, "@")
	if base, ok := StripPlus(local, r.PlusSeparators); ok {
		ids, err = r.lookup(ctx, base+"@"+domain)
		if err == nil {
			return Recipient{Address: canon, Accounts: ids}, nil
		}
		if !errors.Is(err, store.ErrNotFound) {
			return Recipient{}, err
		}
	}
	if dom.CatchAll != "" {
		ids, err = r.lookup(ctx, dom.CatchAll)
		if err == nil {
			return Recipient{Address: canon, Accounts: ids}, nil
		}
		if !errors.Is(err, store.ErrNotFound) {
			return Recipient{}, err
		}
	}
	return Recipient{}, fmt.Errorf("%s: %w", canon, ErrUnknownUser)
}

// Key returns the form an address of a local domain is stored in
// (CanonicalCase under the domain's case rule), and false when the address
// is not in a local domain or cannot name a local mailbox.
func (r *Resolver) Key(ctx context.Context, a Address) (string, bool, error) {
	if a.IsLiteral() {
		return "", false, nil
	}
	dom, err := r.Store.Domain(ctx, a.Domain)
	if errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrInvalid) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("look up domain %s: %w", a.Domain, err)
	}
	key, err := a.CanonicalCase(dom.LocalPartCaseSensitive)
	if err != nil {
		return "", false, nil
	}
	return key, true, nil
}

func (r *Resolver) lookup(ctx context.Context, addr string) ([]int64, error) {
	ids, err := r.Store.ResolveAddress(ctx, addr)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrInvalid) {
			return nil, store.ErrNotFound
		}
		return nil, fmt.Errorf("resolve %s: %w", addr, err)
	}
	if len(ids) == 0 {
		return nil, store.ErrNotFound
	}
	return ids, nil
}

// StripPlus removes a sub-address tag from a local part: with separators
// "+", "user+tag" gives "user", true. The first separator character found
// ends the base; a local part that starts with a separator is left alone.
func StripPlus(local, separators string) (string, bool) {
	if separators == "" {
		return local, false
	}
	i := strings.IndexAny(local, separators)
	if i <= 0 {
		return local, false
	}
	return local[:i], true
}
