package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/pochta-mail/pochta/internal/store"
)

// Account creation and deletion stay in the backends, with the folder and
// body code they call; the rest of the domains, accounts, aliases and app
// passwords is here.

// CreateDomain implements store.Store.
func (q *Queries) CreateDomain(ctx context.Context, name string) (store.Domain, error) {
	n, err := store.CanonicalDomain(name)
	if err != nil {
		return store.Domain{}, err
	}
	d := store.Domain{Name: n, CreatedAt: time.Now().UTC().Truncate(time.Second)}
	err = q.b.Update(ctx, func(tx Tx) error {
		_, err := tx.Exec("INSERT INTO domains (name, created_at) VALUES ($1, $2)", n, q.d.Seconds(d.CreatedAt))
		if err != nil && q.d.IsUnique(err) {
			return fmt.Errorf("domain %s: %w", n, store.ErrExists)
		}
		return err
	})
	if err != nil {
		return store.Domain{}, fmt.Errorf("create domain: %w", err)
	}
	return d, nil
}

// domainColumns are the columns a store.Domain is read from.
const domainColumns = "name, catch_all, local_part_case_sensitive, created_at"

// addressMatch is the condition that finds the stored form of an address:
// $1 is the address with the local part as given, $2 lowercased, $3 its
// domain; the domain's local_part_case_sensitive picks which one is
// stored.
const addressMatch = `address = CASE WHEN EXISTS (SELECT 1 FROM domains WHERE name = $3 AND local_part_case_sensitive) THEN CAST($1 AS text) ELSE CAST($2 AS text) END`

// addressArgs canonicalises an address for addressMatch.
func addressArgs(addr string) (exact, folded, domain string, err error) {
	exact, _, domain, err = store.CanonicalAddressCase(addr, true)
	if err != nil {
		return "", "", "", err
	}
	folded, _, _, err = store.CanonicalAddress(addr)
	return exact, folded, domain, err
}

// CanonicalIn canonicalises an address for the domain it is in, read (and
// share-locked against a change of its case rule where the database locks
// rows) in the transaction tx: local part lowercased unless the domain is
// case-sensitive. For a domain that is not local it fails with notLocal.
func CanonicalIn(d Dialect, tx Tx, address string, notLocal error) (addr, domain string, err error) {
	_, _, domain, err = store.CanonicalAddress(address)
	if err != nil {
		return "", "", err
	}
	var cs bool
	if err := tx.QueryRow("SELECT local_part_case_sensitive FROM domains WHERE name = $1"+d.ForShare(), domain).Scan(&cs); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return "", "", fmt.Errorf("domain %s is not a local domain: %w", domain, notLocal)
		}
		return "", "", err
	}
	addr, _, _, err = store.CanonicalAddressCase(address, cs)
	return addr, domain, err
}

// scanDomain reads a row of domainColumns.
func scanDomain(r Row) (store.Domain, error) {
	var d store.Domain
	err := r.Scan(&d.Name, &d.CatchAll, &d.LocalPartCaseSensitive, ScanSeconds(&d.CreatedAt))
	return d, err
}

// Domain implements store.Store.
func (q *Queries) Domain(ctx context.Context, name string) (store.Domain, error) {
	r, err := q.b.Read()
	if err != nil {
		return store.Domain{}, err
	}
	n, err := store.CanonicalDomain(name)
	if err != nil {
		return store.Domain{}, fmt.Errorf("domain %q: %w", name, store.ErrNotFound)
	}
	d, err := scanDomain(r.QueryRow(ctx, "SELECT "+domainColumns+" FROM domains WHERE name = $1", n))
	if err != nil {
		return store.Domain{}, notFound(err, "domain "+n)
	}
	return d, nil
}

// Domains implements store.Store.
func (q *Queries) Domains(ctx context.Context) ([]store.Domain, error) {
	r, err := q.b.Read()
	if err != nil {
		return nil, err
	}
	rows, err := r.Query(ctx, "SELECT "+domainColumns+" FROM domains ORDER BY name")
	if err != nil {
		return nil, fmt.Errorf("list domains: %w", err)
	}
	defer rows.Close()
	var out []store.Domain
	for rows.Next() {
		d, err := scanDomain(rows)
		if err != nil {
			return nil, fmt.Errorf("list domains: %w", err)
		}
		out = append(out, d)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list domains: %w", err)
	}
	return out, nil
}

// UpdateDomain implements store.Store.
func (q *Queries) UpdateDomain(ctx context.Context, d store.Domain) error {
	n, err := store.CanonicalDomain(d.Name)
	if err != nil {
		return err
	}
	catchAll := ""
	if d.CatchAll != "" {
		// Kept as given: it is resolved like any address, under the
		// case rule of its own domain.
		if catchAll, _, _, err = store.CanonicalAddressCase(d.CatchAll, true); err != nil {
			return fmt.Errorf("catch-all: %w", err)
		}
	}
	return q.b.Update(ctx, func(tx Tx) error {
		// The row lock makes accounts and aliases being added to the
		// domain wait (CanonicalIn share-locks it).
		var wasCS bool
		if err := tx.QueryRow("SELECT local_part_case_sensitive FROM domains WHERE name = $1"+q.d.ForUpdate(), n).Scan(&wasCS); err != nil {
			return notFound(err, "domain "+n)
		}
		if wasCS && !d.LocalPartCaseSensitive {
			if err := foldAddresses(tx, n); err != nil {
				return fmt.Errorf("update domain %s: %w", n, err)
			}
		}
		if _, err := tx.Exec("UPDATE domains SET catch_all = $1, local_part_case_sensitive = $2 WHERE name = $3",
			catchAll, d.LocalPartCaseSensitive, n); err != nil {
			return fmt.Errorf("update domain %s: %w", n, err)
		}
		return nil
	})
}

// foldAddresses lowercases the local parts of a domain's account and alias
// addresses when the domain stops being case-sensitive. Two addresses that
// would become one make it fail with ErrExists.
func foldAddresses(tx Tx, domain string) error {
	type row struct {
		table, addr string
	}
	var all []row
	for _, table := range []string{"accounts", "aliases"} {
		rows, err := tx.Query("SELECT DISTINCT address FROM "+table+" WHERE domain = $1 ORDER BY address", domain)
		if err != nil {
			return err
		}
		for rows.Next() {
			var a string
			if err := rows.Scan(&a); err != nil {
				rows.Close()
				return err
			}
			all = append(all, row{table, a})
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
	}
	seen := map[string]string{}
	for _, r := range all {
		folded, _, _, err := store.CanonicalAddress(r.addr)
		if err != nil {
			return err
		}
		if other, ok := seen[folded]; ok {
			return fmt.Errorf("%s and %s would be the same address: %w", other, r.addr, store.ErrExists)
		}
		seen[folded] = r.addr
	}
	for _, r := range all {
		folded, _, _, _ := store.CanonicalAddress(r.addr)
		if folded == r.addr {
			continue
		}
		if _, err := tx.Exec("UPDATE "+r.table+" SET address = $1 WHERE address = $2", folded, r.addr); err != nil {
			return err
		}
	}
	return nil
}

// DeleteDomain implements store.Store.
func (q *Queries) DeleteDomain(ctx context.Context, name string) error {
	n, err := store.CanonicalDomain(name)
	if err != nil {
		return fmt.Errorf("domain %q: %w", name, store.ErrNotFound)
	}
	return q.b.Update(ctx, func(tx Tx) error {
		// Lock the domain first: an account or alias being added to it
		// concurrently waits (its foreign key check takes a share lock)
		// or fails.
		var found string
		if err := tx.QueryRow("SELECT name FROM domains WHERE name = $1"+q.d.ForUpdate(), n).Scan(&found); err != nil {
			return notFound(err, "domain "+n)
		}
		var used bool
		if err := tx.QueryRow(`SELECT EXISTS (SELECT 1 FROM accounts WHERE domain = $1)
			OR EXISTS (SELECT 1 FROM aliases WHERE domain = $1)`, n).Scan(&used); err != nil {
			return fmt.Errorf("delete domain %s: %w", n, err)
		}
		if used {
			return fmt.Errorf("delete domain %s: it still has accounts or aliases: %w", n, store.ErrInvalid)
		}
		if _, err := tx.Exec("DELETE FROM domains WHERE name = $1", n); err != nil {
			return fmt.Errorf("delete domain %s: %w", n, err)
		}
		return nil
	})
}

const accountColumns = `id, address, domain, password_hash, quota_bytes, quota_messages,
	disabled, admin, settings, created_at`

// scanAccount reads a row of accountColumns.
func scanAccount(r Row) (store.Account, error) {
	var a store.Account
	var settings []byte
	if err := r.Scan(&a.ID, &a.Address, &a.Domain, &a.PasswordHash, &a.QuotaBytes, &a.QuotaMessages,
		&a.Disabled, &a.Admin, &settings, ScanSeconds(&a.CreatedAt)); err != nil {
		return a, err
	}
	a.Settings = store.DefaultSettings()
	if err := json.Unmarshal(settings, &a.Settings); err != nil {
		return a, fmt.Errorf("account %s: bad settings: %w", a.Address, err)
	}
	return a, nil
}

// Account implements store.Store.
func (q *Queries) Account(ctx context.Context, id int64) (store.Account, error) {
	r, err := q.b.Read()
	if err != nil {
		return store.Account{}, err
	}
	a, err := scanAccount(r.QueryRow(ctx, "SELECT "+accountColumns+" FROM accounts WHERE id = $1", id))
	if err != nil {
		return a, notFound(err, fmt.Sprintf("account %d", id))
	}
	return a, nil
}

// AccountByAddress implements store.Store.
func (q *Queries) AccountByAddress(ctx context.Context, addr string) (store.Account, error) {
	r, err := q.b.Read()
	if err != nil {
		return store.Account{}, err
	}
	exact, folded, domain, err := addressArgs(addr)
	if err != nil {
		return store.Account{}, fmt.Errorf("account %q: %w", addr, store.ErrNotFound)
	}
	a, err := scanAccount(r.QueryRow(ctx, "SELECT "+accountColumns+" FROM accounts WHERE "+addressMatch, exact, folded, domain))
	if err != nil {
		return a, notFound(err, "account "+exact)
	}
	return a, nil
}

// Accounts implements store.Store.
func (q *Queries) Accounts(ctx context.Context, domain string) ([]store.Account, error) {
	r, err := q.b.Read()
	if err != nil {
		return nil, err
	}
	query := "SELECT " + accountColumns + " FROM accounts"
	var args []any
	if domain != "" {
		d, err := store.CanonicalDomain(domain)
		if err != nil {
			return nil, err
		}
		query += " WHERE domain = $1"
		args = append(args, d)
	}
	rows, err := r.Query(ctx, query+" ORDER BY address", args...)
	if err != nil {
		return nil, fmt.Errorf("list accounts: %w", err)
	}
	defer rows.Close()
	var out []store.Account
	for rows.Next() {
		a, err := scanAccount(rows)
		if err != nil {
			return nil, fmt.Errorf("list accounts: %w", err)
		}
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list accounts: %w", err)
	}
	return out, nil
}

// UpdateAccount implements store.Store.
func (q *Queries) UpdateAccount(ctx context.Context, a store.Account) error {
	settings, err := json.Marshal(a.Settings)
	if err != nil {
		return fmt.Errorf("update account: %w", err)
	}
	return q.b.Update(ctx, func(tx Tx) error {
		n, err := tx.Exec(`UPDATE accounts SET password_hash = $1, quota_bytes = $2, quota_messages = $3,
			disabled = $4, admin = $5, settings = $6 WHERE id = $7`,
			a.PasswordHash, a.QuotaBytes, a.QuotaMessages, a.Disabled, a.Admin, string(settings), a.ID)
		if err != nil {
			return fmt.Errorf("update account %d: %w", a.ID, err)
		}
		if n == 0 {
			return fmt.Errorf("account %d: %w", a.ID, store.ErrNotFound)
		}
		return nil
	})
}

// CreateAlias implements store.Store.
func (q *Queries) CreateAlias(ctx context.Context, address string, targets []int64) (store.Alias, error) {
	addr, _, _, err := store.CanonicalAddress(address)
	if err != nil {
		return store.Alias{}, fmt.Errorf("create alias: %w", err)
	}
	if len(targets) == 0 {
		return store.Alias{}, fmt.Errorf("create alias %s: no targets: %w", addr, store.ErrInvalid)
	}
	var al store.Alias
	err = q.b.Update(ctx, func(tx Tx) error {
		addr, domain, err := CanonicalIn(q.d, tx, address, store.ErrInvalid)
		if err != nil {
			return err
		}
		al.Address = addr
		if err := q.b.LockAddress(tx, addr); err != nil {
			return err
		}
		var taken bool
		if err := tx.QueryRow("SELECT EXISTS (SELECT 1 FROM accounts WHERE address = $1) OR EXISTS (SELECT 1 FROM aliases WHERE address = $1)", addr).Scan(&taken); err != nil {
			return err
		}
		if taken {
			return fmt.Errorf("%s: %w", addr, store.ErrExists)
		}
		al.Targets, al.TargetAddresses = nil, nil
		seen := map[int64]bool{}
		for _, t := range targets {
			if seen[t] {
				continue
			}
			seen[t] = true
			var ta string
			if err := tx.QueryRow("SELECT address FROM accounts WHERE id = $1"+q.d.ForShare(), t).Scan(&ta); err != nil {
				return notFound(err, fmt.Sprintf("alias target %d", t))
			}
			if _, err := tx.Exec("INSERT INTO aliases (address, domain, account_id) VALUES ($1, $2, $3)", addr, domain, t); err != nil {
				if q.d.IsUnique(err) {
					return fmt.Errorf("%s: %w", addr, store.ErrExists)
				}
				return err
			}
			al.Targets = append(al.Targets, t)
			al.TargetAddresses = append(al.TargetAddresses, ta)
		}
		return nil
	})
	if err != nil {
		return store.Alias{}, fmt.Errorf("create alias: %w", err)
	}
	return al, nil
}

// Aliases implements store.Store.
func (q *Queries) Aliases(ctx context.Context, domain string) ([]store.Alias, error) {
	r, err := q.b.Read()
	if err != nil {
		return nil, err
	}
	query := `SELECT al.address, al.account_id, a.address FROM aliases al JOIN accounts a ON a.id = al.account_id`
	var args []any
	if domain != "" {
		d, err := store.CanonicalDomain(domain)
		if err != nil {
			return nil, err
		}
		query += " WHERE al.domain = $1"
		args = append(args, d)
	}
	rows, err := r.Query(ctx, query+" ORDER BY al.address, a.address", args...)
	if err != nil {
		return nil, fmt.Errorf("list aliases: %w", err)
	}
	defer rows.Close()
	var out []store.Alias
	for rows.Next() {
		var addr, target string
		var id int64
		if err := rows.Scan(&addr, &id, &target); err != nil {
			return nil, fmt.Errorf("list aliases: %w", err)
		}
		if len(out) == 0 || out[len(out)-1].Address != addr {
			out = append(out, store.Alias{Address: addr})
		}
		al := &out[len(out)-1]
		al.Targets = append(al.Targets, id)
		al.TargetAddresses = append(al.TargetAddresses, target)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list aliases: %w", err)
	}
	return out, nil
}

// DeleteAlias implements store.Store.
func (q *Queries) DeleteAlias(ctx context.Context, address string) error {
	exact, folded, domain, err := addressArgs(address)
	if err != nil {
		return fmt.Errorf("alias %q: %w", address, store.ErrNotFound)
	}
	addr := exact
	return q.b.Update(ctx, func(tx Tx) error {
		n, err := tx.Exec("DELETE FROM aliases WHERE "+addressMatch, exact, folded, domain)
		if err != nil {
			return fmt.Errorf("delete alias %s: %w", addr, err)
		}
		if n == 0 {
			return fmt.Errorf("alias %s: %w", addr, store.ErrNotFound)
		}
		return nil
	})
}

// AliasesOf implements store.Store.
func (q *Queries) AliasesOf(ctx context.Context, accountID int64) ([]string, error) {
	r, err := q.b.Read()
	if err != nil {
		return nil, err
	}
	rows, err := r.Query(ctx, "SELECT address FROM aliases WHERE account_id = $1 ORDER BY address", accountID)
	if err != nil {
		return nil, fmt.Errorf("aliases of %d: %w", accountID, err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var a string
		if err := rows.Scan(&a); err != nil {
			return nil, fmt.Errorf("aliases of %d: %w", accountID, err)
		}
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("aliases of %d: %w", accountID, err)
	}
	return out, nil
}

// ResolveAddress implements store.Store.
func (q *Queries) ResolveAddress(ctx context.Context, address string) ([]int64, error) {
	r, err := q.b.Read()
	if err != nil {
		return nil, err
	}
	addr, folded, domain, err := addressArgs(address)
	if err != nil {
		return nil, fmt.Errorf("address %q: %w", address, store.ErrNotFound)
	}
	rows, err := r.Query(ctx, `SELECT id FROM accounts WHERE `+addressMatch+`
		UNION SELECT account_id FROM aliases WHERE `+addressMatch, addr, folded, domain)
	if err != nil {
		return nil, fmt.Errorf("resolve %s: %w", addr, err)
	}
	defer rows.Close()
	var ids []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("resolve %s: %w", addr, err)
		}
		ids = append(ids, id)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("resolve %s: %w", addr, err)
	}
	if len(ids) == 0 {
		return nil, fmt.Errorf("address %s: %w", addr, store.ErrNotFound)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	return ids, nil
}

// CreateAppPassword implements store.Store.
func (q *Queries) CreateAppPassword(ctx context.Context, p store.AppPassword) (store.AppPassword, error) {
	if p.CreatedAt.IsZero() {
		p.CreatedAt = time.Now().UTC().Truncate(time.Second)
	}
	err := q.b.Update(ctx, func(tx Tx) error {
		err := tx.QueryRow(`INSERT INTO app_passwords (account_id, name, hash, protocols, created_at, last_used)
			VALUES ($1, $2, $3, $4, $5, $6) RETURNING id`,
			p.AccountID, p.Name, p.Hash, q.d.Strings(p.Protocols), q.d.Seconds(p.CreatedAt), q.d.NullSeconds(p.LastUsed)).Scan(&p.ID)
		if err != nil && q.d.IsForeignKey(err) {
			return fmt.Errorf("account %d: %w", p.AccountID, store.ErrNotFound)
		}
		return err
	})
	if err != nil {
		return store.AppPassword{}, fmt.Errorf("create app password: %w", err)
	}
	return p, nil
}

// AppPasswords implements store.Store.
func (q *Queries) AppPasswords(ctx context.Context, accountID int64) ([]store.AppPassword, error) {
	r, err := q.b.Read()
	if err != nil {
		return nil, err
	}
	rows, err := r.Query(ctx, `SELECT id, account_id, name, hash, protocols, created_at, last_used
		FROM app_passwords WHERE account_id = $1 ORDER BY id`, accountID)
	if err != nil {
		return nil, fmt.Errorf("list app passwords: %w", err)
	}
	defer rows.Close()
	var out []store.AppPassword
	for rows.Next() {
		var p store.AppPassword
		if err := rows.Scan(&p.ID, &p.AccountID, &p.Name, &p.Hash, q.d.ScanStrings(&p.Protocols),
			ScanSeconds(&p.CreatedAt), ScanSeconds(&p.LastUsed)); err != nil {
			return nil, fmt.Errorf("list app passwords: %w", err)
		}
		if len(p.Protocols) == 0 {
			p.Protocols = nil
		}
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list app passwords: %w", err)
	}
	return out, nil
}

// DeleteAppPassword implements store.Store.
func (q *Queries) DeleteAppPassword(ctx context.Context, accountID, id int64) error {
	return q.b.Update(ctx, func(tx Tx) error {
		n, err := tx.Exec("DELETE FROM app_passwords WHERE id = $1 AND account_id = $2", id, accountID)
		if err != nil {
			return fmt.Errorf("delete app password: %w", err)
		}
		if n == 0 {
			return fmt.Errorf("app password %d: %w", id, store.ErrNotFound)
		}
		return nil
	})
}

// TouchAppPassword implements store.Store.
func (q *Queries) TouchAppPassword(ctx context.Context, id int64, at time.Time) error {
	return q.b.Update(ctx, func(tx Tx) error {
		n, err := tx.Exec("UPDATE app_passwords SET last_used = $1 WHERE id = $2", q.d.NullSeconds(at), id)
		if err != nil {
			return fmt.Errorf("touch app password: %w", err)
		}
		if n == 0 {
			return fmt.Errorf("app password %d: %w", id, store.ErrNotFound)
		}
		return nil
	})
}
