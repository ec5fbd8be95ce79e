package sqlstore

import (
	"context"
	"fmt"
	"time"

	"github.com/pochta-mail/pochta/internal/store"
)

// AddDKIMKeys implements store.Store.
func (q *Queries) AddDKIMKeys(ctx context.Context, keys []store.DKIMKey) error {
	checked := make([]store.DKIMKey, len(keys))
	for i, k := range keys {
		var err error
		if checked[i], err = store.CheckDKIMKey(k); err != nil {
			return fmt.Errorf("add dkim keys: %w", err)
		}
	}
	err := q.b.Update(ctx, func(tx Tx) error {
		for _, k := range checked {
			_, err := tx.Exec(`INSERT INTO dkim_keys (domain, selector, algorithm, private_key, created_at, active)
				VALUES ($1, $2, $3, $4, $5, $6)`, k.Domain, k.Selector, k.Algorithm, k.PrivateKey, q.d.Seconds(k.Created), k.Active)
			if err != nil {
				if q.d.IsUnique(err) {
					return fmt.Errorf("dkim key %s of %s: %w", k.Selector, k.Domain, store.ErrExists)
				}
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
func (q *Queries) DKIMKeys(ctx context.Context, domain string) ([]store.DKIMKey, error) {
	r, err := q.b.Read()
	if err != nil {
		return nil, err
	}
	query := "SELECT domain, selector, algorithm, private_key, created_at, active FROM dkim_keys"
	var args []any
	if domain != "" {
		d, err := store.CanonicalDomain(domain)
		if err != nil {
			return nil, fmt.Errorf("dkim keys: %w", err)
		}
		query += " WHERE domain = $1"
		args = append(args, d)
	}
	rows, err := r.Query(ctx, query+" ORDER BY domain, selector", args...)
	if err != nil {
		return nil, fmt.Errorf("dkim keys: %w", err)
	}
	defer rows.Close()
	var out []store.DKIMKey
	for rows.Next() {
		var k store.DKIMKey
		if err := rows.Scan(&k.Domain, &k.Selector, &k.Algorithm, &k.PrivateKey, ScanSeconds(&k.Created), &k.Active); err != nil {
			return nil, fmt.Errorf("dkim keys: %w", err)
		}
		out = append(out, k)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("dkim keys: %w", err)
	}
	return out, nil
}

// SetDKIMKeyActive implements store.Store.
func (q *Queries) SetDKIMKeyActive(ctx context.Context, domain, selector string, active bool) error {
	d, err := store.CanonicalDomain(domain)
	if err != nil {
		return fmt.Errorf("dkim key: %w", err)
	}
	return q.b.Update(ctx, func(tx Tx) error {
		n, err := tx.Exec("UPDATE dkim_keys SET active = $1 WHERE domain = $2 AND selector = $3", active, d, selector)
		if err != nil {
			return fmt.Errorf("dkim key %s of %s: %w", selector, d, err)
		}
		if n == 0 {
			return fmt.Errorf("dkim key %s of %s: %w", selector, d, store.ErrNotFound)
		}
		return nil
	})
}

// MTASTSPolicy implements store.Store.
func (q *Queries) MTASTSPolicy(ctx context.Context, domain string) (store.MTASTSPolicy, error) {
	r, err := q.b.Read()
	if err != nil {
		return store.MTASTSPolicy{}, err
	}
	d, err := store.CanonicalDomain(domain)
	if err != nil {
		return store.MTASTSPolicy{}, fmt.Errorf("mta-sts policy: %w", err)
	}
	p := store.MTASTSPolicy{Domain: d}
	err = r.QueryRow(ctx, `SELECT policy_id, policy, fetched_at, expires_at FROM mta_sts_policies
		WHERE domain = $1`, d).Scan(&p.ID, &p.Policy, ScanSeconds(&p.Fetched), ScanSeconds(&p.Expires))
	if err != nil {
		return store.MTASTSPolicy{}, notFound(err, "mta-sts policy of "+d)
	}
	return p, nil
}

// PutMTASTSPolicy implements store.Store.
func (q *Queries) PutMTASTSPolicy(ctx context.Context, p store.MTASTSPolicy) error {
	p, err := store.CheckMTASTSPolicy(p)
	if err != nil {
		return fmt.Errorf("save mta-sts policy: %w", err)
	}
	return q.b.Update(ctx, func(tx Tx) error {
		_, err := tx.Exec(`INSERT INTO mta_sts_policies (domain, policy_id, policy, fetched_at, expires_at)
			VALUES ($1, $2, $3, $4, $5)
			ON CONFLICT (domain) DO UPDATE SET policy_id = excluded.policy_id, policy = excluded.policy,
				fetched_at = excluded.fetched_at, expires_at = excluded.expires_at`,
			p.Domain, p.ID, p.Policy, q.d.Seconds(p.Fetched), q.d.Seconds(p.Expires))
		if err != nil {
			return fmt.Errorf("save mta-sts policy of %s: %w", p.Domain, err)
		}
		return nil
	})
}

// DeleteExpiredMTASTSPolicies implements store.Store.
func (q *Queries) DeleteExpiredMTASTSPolicies(ctx context.Context, before time.Time) (int, error) {
	var n int64
	err := q.b.Update(ctx, func(tx Tx) error {
		var err error
		n, err = tx.Exec("DELETE FROM mta_sts_policies WHERE expires_at < $1", q.d.Seconds(before))
		if err != nil {
			return fmt.Errorf("delete expired mta-sts policies: %w", err)
		}
		return nil
	})
	return int(n), err
}
