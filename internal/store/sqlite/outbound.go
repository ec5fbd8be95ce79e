package sqlite

import (
	"context"
	"fmt"
	"time"

	"github.com/pochta-mail/pochta/internal/store"
)

// AddDKIMKeys implements store.Store.
func (s *Store) AddDKIMKeys(ctx context.Context, keys []store.DKIMKey) error {
	checked := make([]store.DKIMKey, len(keys))
	for i, k := range keys {
		var err error
		if checked[i], err = store.CheckDKIMKey(k); err != nil {
			return fmt.Errorf("add dkim keys: %w", err)
		}
	}
	err := s.update(ctx, func(w *wtx) error {
		for _, k := range checked {
			_, err := w.exec(`INSERT INTO dkim_keys (domain, selector, algorithm, private_key, created_at, active)
				VALUES ($1, $2, $3, $4, $5, $6)`, k.Domain, k.Selector, k.Algorithm, k.PrivateKey, unix(k.Created), k.Active)
			if isUnique(err) {
				return fmt.Errorf("dkim key %s of %s: %w", k.Selector, k.Domain, store.ErrExists)
			}
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("add dkim keys: %w", err)
	}
	return nil
}

// DKIMKeys implements store.Store.
func (s *Store) DKIMKeys(ctx context.Context, domain string) ([]store.DKIMKey, error) {
	if err := s.checkOpen(); err != nil {
		return nil, err
	}
	q := "SELECT domain, selector, algorithm, private_key, created_at, active FROM dkim_keys"
	var args []any
	if domain != "" {
		d, err := store.CanonicalDomain(domain)
		if err != nil {
			return nil, fmt.Errorf("dkim keys: %w", err)
		}
		q += " WHERE domain = $1"
		args = append(args, d)
	}
	rows, err := s.read.QueryContext(ctx, q+" ORDER BY domain, selector", args...)
	if err != nil {
		return nil, fmt.Errorf("dkim keys: %w", err)
	}
	defer rows.Close()
	var out []store.DKIMKey
	for rows.Next() {
		var k store.DKIMKey
		var created int64
		if err := rows.Scan(&k.Domain, &k.Selector, &k.Algorithm, &k.PrivateKey, &created, &k.Active); err != nil {
			return nil, fmt.Errorf("dkim keys: %w", err)
		}
		k.Created = fromUnix(created)
		out = append(out, k)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("dkim keys: %w", err)
	}
	return out, nil
}

// SetDKIMKeyActive implements store.Store.
func (s *Store) SetDKIMKeyActive(ctx context.Context, domain, selector string, active bool) error {
	d, err := store.CanonicalDomain(domain)
	if err != nil {
		return fmt.Errorf("dkim key: %w", err)
	}
	return s.update(ctx, func(w *wtx) error {
		res, err := w.exec("UPDATE dkim_keys SET active = $1 WHERE domain = $2 AND selector = $3", active, d, selector)
		if err != nil {
			return fmt.Errorf("dkim key %s of %s: %w", selector, d, err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("dkim key %s of %s: %w", selector, d, store.ErrNotFound)
		}
		return nil
	})
}

// MTASTSPolicy implements store.Store.
func (s *Store) MTASTSPolicy(ctx context.Context, domain string) (store.MTASTSPolicy, error) {
	if err := s.checkOpen(); err != nil {
		return store.MTASTSPolicy{}, err
	}
	d, err := store.CanonicalDomain(domain)
	if err != nil {
		return store.MTASTSPolicy{}, fmt.Errorf("mta-sts policy: %w", err)
	}
	p := store.MTASTSPolicy{Domain: d}
	var fetched, expires int64
	err = s.read.QueryRowContext(ctx, `SELECT policy_id, policy, fetched_at, expires_at FROM mta_sts_policies
		WHERE domain = $1`, d).Scan(&p.ID, &p.Policy, &fetched, &expires)
	if err != nil {
		return store.MTASTSPolicy{}, notFound(err, "mta-sts policy of "+d)
	}
	p.Fetched, p.Expires = fromUnix(fetched), fromUnix(expires)
	return p, nil
}

// PutMTASTSPolicy implements store.Store.
func (s *Store) PutMTASTSPolicy(ctx context.Context, p store.MTASTSPolicy) error {
	p, err := store.CheckMTASTSPolicy(p)
	if err != nil {
		return fmt.Errorf("save mta-sts policy: %w", err)
	}
	return s.update(ctx, func(w *wtx) error {
		_, err := w.exec(`INSERT INTO mta_sts_policies (domain, policy_id, policy, fetched_at, expires_at)
			VALUES ($1, $2, $3, $4, $5)
			ON CONFLICT (domain) DO UPDATE SET policy_id = excluded.policy_id, policy = excluded.policy,
				fetched_at = excluded.fetched_at, expires_at = excluded.expires_at`,
			p.Domain, p.ID, p.Policy, unix(p.Fetched), unix(p.Expires))
		if err != nil {
			return fmt.Errorf("save mta-sts policy of %s: %w", p.Domain, err)
		}
		return nil
	})
}

// DeleteExpiredMTASTSPolicies implements store.Store.
func (s *Store) DeleteExpiredMTASTSPolicies(ctx context.Context, before time.Time) (int, error) {
	var n int64
	err := s.update(ctx, func(w *wtx) error {
		res, err := w.exec("DELETE FROM mta_sts_policies WHERE expires_at < $1", unix(before))
		if err != nil {
			return fmt.Errorf("delete expired mta-sts policies: %w", err)
		}
		n, _ = res.RowsAffected()
		return nil
	})
	return int(n), err
}
