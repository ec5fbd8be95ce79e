package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pochta-mail/pochta/internal/store"
	"github.com/pochta-mail/pochta/internal/store/sqlstore"
)

// now is the current time as stored: UTC, whole seconds.
func now() time.Time { return time.Now().UTC().Truncate(time.Second) }

// nullTime maps the zero time to NULL.
func nullTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	t = t.UTC().Truncate(time.Second)
	return &t
}

// fromNull is nullTime's inverse.
func fromNull(t *time.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return t.UTC()
}

type scanner interface{ Scan(...any) error }

// lockAddress serialises, until the end of the transaction, the writes that
// check an address is free and then take it (an account and an alias must
// not get the same address from two nodes at once).
func lockAddress(w *wtx, addr string) error {
	if _, err := w.exec("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", "address:"+addr); err != nil {
		return fmt.Errorf("lock address %s: %w", addr, err)
	}
	return nil
}

// CreateDomain implements store.Store.
func (s *Store) CreateDomain(ctx context.Context, name string) (store.Domain, error) {
	n, err := store.CanonicalDomain(name)
	if err != nil {
		return store.Domain{}, err
	}
	d := store.Domain{Name: n, CreatedAt: now()}
	err = s.update(ctx, func(w *wtx) error {
		_, err := w.exec("INSERT INTO domains (name, created_at) VALUES ($1, $2)", n, d.CreatedAt)
		if isUnique(err) {
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
const addressMatch = `address = CASE WHEN EXISTS (SELECT 1 FROM domains WHERE name = $3 AND local_part_case_sensitive) THEN $1::text ELSE $2::text END`

// addressArgs canonicalises an address for addressMatch.
func addressArgs(addr string) (exact, folded, domain string, err error) {
	exact, _, domain, err = store.CanonicalAddressCase(addr, true)
	if err != nil {
		return "", "", "", err
	}
	folded, _, _, err = store.CanonicalAddress(addr)
	return exact, folded, domain, err
}

// canonicalIn canonicalises an address for the domain it is in, read (and
// share-locked against a change of its case rule) in the transaction w:
// local part lowercased unless the domain is case-sensitive. For a domain
// that is not local it fails with notLocal.
func canonicalIn(w *wtx, address string, notLocal error) (addr, domain string, err error) {
	_, _, domain, err = store.CanonicalAddress(address)
	if err != nil {
		return "", "", err
	}
	var cs bool
	if err := w.queryRow("SELECT local_part_case_sensitive FROM domains WHERE name = $1 FOR SHARE", domain).Scan(&cs); err != nil {
		if errors.Is(err, pgx.ErrNoRows) {
			return "", "", fmt.Errorf("domain %s is not a local domain: %w", domain, notLocal)
		}
		return "", "", err
	}
	addr, _, _, err = store.CanonicalAddressCase(address, cs)
	return addr, domain, err
}

// Domain implements store.Store.
func (s *Store) Domain(ctx context.Context, name string) (store.Domain, error) {
	if err := s.checkOpen(); err != nil {
		return store.Domain{}, err
	}
	n, err := store.CanonicalDomain(name)
	if err != nil {
		return store.Domain{}, fmt.Errorf("domain %q: %w", name, store.ErrNotFound)
	}
	var d store.Domain
	err = s.pool.QueryRow(ctx, "SELECT "+domainColumns+" FROM domains WHERE name = $1", n).
		Scan(&d.Name, &d.CatchAll, &d.LocalPartCaseSensitive, &d.CreatedAt)
	if err != nil {
		return store.Domain{}, notFound(err, "domain "+n)
	}
	d.CreatedAt = d.CreatedAt.UTC()
	return d, nil
}

// Domains implements store.Store.
func (s *Store) Domains(ctx context.Context) ([]store.Domain, error) {
	if err := s.checkOpen(); err != nil {
		return nil, err
	}
	rows, err := s.pool.Query(ctx, "SELECT "+domainColumns+" FROM domains ORDER BY name")
	if err != nil {
		return nil, fmt.Errorf("list domains: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.Domain, error) {
		var d store.Domain
		err := r.Scan(&d.Name, &d.CatchAll, &d.LocalPartCaseSensitive, &d.CreatedAt)
		d.CreatedAt = d.CreatedAt.UTC()
		return d, err
	})
	if err != nil {
		return nil, fmt.Errorf("list domains: %w", err)
	}
	return out, nil
}

// UpdateDomain implements store.Store.
func (s *Store) UpdateDomain(ctx context.Context, d store.Domain) error {
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
	return s.update(ctx, func(w *wtx) error {
		// The row lock makes accounts and aliases being added to the
		// domain wait (canonicalIn share-locks it).
		var wasCS bool
		if err := w.queryRow("SELECT local_part_case_sensitive FROM domains WHERE name = $1 FOR UPDATE", n).Scan(&wasCS); err != nil {
			return notFound(err, "domain "+n)
		}
		if wasCS && !d.LocalPartCaseSensitive {
			if err := foldAddresses(w, n); err != nil {
				return fmt.Errorf("update domain %s: %w", n, err)
			}
		}
		if _, err := w.exec("UPDATE domains SET catch_all = $1, local_part_case_sensitive = $2 WHERE name = $3",
			catchAll, d.LocalPartCaseSensitive, n); err != nil {
			return fmt.Errorf("update domain %s: %w", n, err)
		}
		return nil
	})
}

// foldAddresses lowercases the local parts of a domain's account and alias
// addresses when the domain stops being case-sensitive. Two addresses that
// would become one make it fail with ErrExists.
func foldAddresses(w *wtx, domain string) error {
	type row struct {
		table, addr string
	}
	var all []row
	for _, table := range []string{"accounts", "aliases"} {
		rows, err := w.Query(w.ctx, "SELECT DISTINCT address FROM "+table+" WHERE domain = $1 ORDER BY address", domain)
		if err != nil {
			return err
		}
		addrs, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return err
		}
		for _, a := range addrs {
			all = append(all, row{table, a})
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
		if _, err := w.exec("UPDATE "+r.table+" SET address = $1 WHERE address = $2", folded, r.addr); err != nil {
			return err
		}
	}
	return nil
}

// DeleteDomain implements store.Store.
func (s *Store) DeleteDomain(ctx context.Context, name string) error {
	n, err := store.CanonicalDomain(name)
	if err != nil {
		return fmt.Errorf("domain %q: %w", name, store.ErrNotFound)
	}
	return s.update(ctx, func(w *wtx) error {
		// Lock the domain first: an account or alias being added to it
		// concurrently waits (its foreign key check takes a share lock)
		// or fails.
		var found string
		if err := w.queryRow("SELECT name FROM domains WHERE name = $1 FOR UPDATE", n).Scan(&found); err != nil {
			return notFound(err, "domain "+n)
		}
		var used bool
		if err := w.queryRow(`SELECT EXISTS (SELECT 1 FROM accounts WHERE domain = $1)
			OR EXISTS (SELECT 1 FROM aliases WHERE domain = $1)`, n).Scan(&used); err != nil {
			return fmt.Errorf("delete domain %s: %w", n, err)
		}
		if used {
			return fmt.Errorf("delete domain %s: it still has accounts or aliases: %w", n, store.ErrInvalid)
		}
		if _, err := w.exec("DELETE FROM domains WHERE name = $1", n); err != nil {
			return fmt.Errorf("delete domain %s: %w", n, err)
		}
		return nil
	})
}

const accountColumns = `id, address, domain, password_hash, quota_bytes, quota_messages,
	disabled, admin, settings, created_at`

func scanAccount(r scanner) (store.Account, error) {
	var a store.Account
	var settings []byte
	if err := r.Scan(&a.ID, &a.Address, &a.Domain, &a.PasswordHash, &a.QuotaBytes, &a.QuotaMessages,
		&a.Disabled, &a.Admin, &settings, &a.CreatedAt); err != nil {
		return a, err
	}
	a.CreatedAt = a.CreatedAt.UTC()
	a.Settings = store.DefaultSettings()
	if err := json.Unmarshal(settings, &a.Settings); err != nil {
		return a, fmt.Errorf("account %s: bad settings: %w", a.Address, err)
	}
	return a, nil
}

// CreateAccount implements store.Store.
func (s *Store) CreateAccount(ctx context.Context, na store.NewAccount) (store.Account, error) {
	_, _, domain, err := store.CanonicalAddress(na.Address)
	if err != nil {
		return store.Account{}, fmt.Errorf("create account: %w", err)
	}
	settings, err := json.Marshal(na.Settings)
	if err != nil {
		return store.Account{}, fmt.Errorf("create account: %w", err)
	}
	a := store.Account{
		Domain: domain, PasswordHash: na.PasswordHash,
		QuotaBytes: na.QuotaBytes, QuotaMessages: na.QuotaMessages, Admin: na.Admin,
		Settings: na.Settings, CreatedAt: now(),
	}
	err = s.update(ctx, func(w *wtx) error {
		addr, _, err := canonicalIn(w, na.Address, store.ErrNotFound)
		if err != nil {
			return err
		}
		a.Address = addr
		if err := lockAddress(w, addr); err != nil {
			return err
		}
		var isAlias bool
		if err := w.queryRow("SELECT EXISTS (SELECT 1 FROM aliases WHERE address = $1)", addr).Scan(&isAlias); err != nil {
			return err
		}
		if isAlias {
			return fmt.Errorf("%s is an alias: %w", addr, store.ErrExists)
		}
		err = w.queryRow(`INSERT INTO accounts (address, domain, password_hash, quota_bytes, quota_messages, admin, settings, created_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id`,
			addr, domain, na.PasswordHash, na.QuotaBytes, na.QuotaMessages, na.Admin, string(settings), a.CreatedAt).Scan(&a.ID)
		switch {
		case isUnique(err):
			return fmt.Errorf("account %s: %w", addr, store.ErrExists)
		case isForeignKey(err):
			return fmt.Errorf("domain %s is not a local domain: %w", domain, store.ErrNotFound)
		case err != nil:
			return err
		}
		for _, sf := range store.StandardFolders {
			if _, err := insertFolder(w, a.ID, sf.Name, sf.Role); err != nil {
				return err
			}
			if err := sqlstore.WriteSubscription(pgTx{w}, a.ID, sf.Name, true); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return store.Account{}, fmt.Errorf("create account: %w", err)
	}
	return a, nil
}

// Account implements store.Store.
func (s *Store) Account(ctx context.Context, id int64) (store.Account, error) {
	if err := s.checkOpen(); err != nil {
		return store.Account{}, err
	}
	a, err := scanAccount(s.pool.QueryRow(ctx, "SELECT "+accountColumns+" FROM accounts WHERE id = $1", id))
	if err != nil {
		return a, notFound(err, fmt.Sprintf("account %d", id))
	}
	return a, nil
}

// AccountByAddress implements store.Store.
func (s *Store) AccountByAddress(ctx context.Context, addr string) (store.Account, error) {
	if err := s.checkOpen(); err != nil {
		return store.Account{}, err
	}
	exact, folded, domain, err := addressArgs(addr)
	if err != nil {
		return store.Account{}, fmt.Errorf("account %q: %w", addr, store.ErrNotFound)
	}
	a, err := scanAccount(s.pool.QueryRow(ctx, "SELECT "+accountColumns+" FROM accounts WHERE "+addressMatch, exact, folded, domain))
	if err != nil {
		return a, notFound(err, "account "+exact)
	}
	return a, nil
}

// Accounts implements store.Store.
func (s *Store) Accounts(ctx context.Context, domain string) ([]store.Account, error) {
	if err := s.checkOpen(); err != nil {
		return nil, err
	}
	q := "SELECT " + accountColumns + " FROM accounts"
	var args []any
	if domain != "" {
		d, err := store.CanonicalDomain(domain)
		if err != nil {
			return nil, err
		}
		q += " WHERE domain = $1"
		args = append(args, d)
	}
	rows, err := s.pool.Query(ctx, q+" ORDER BY address", args...)
	if err != nil {
		return nil, fmt.Errorf("list accounts: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.Account, error) { return scanAccount(r) })
	if err != nil {
		return nil, fmt.Errorf("list accounts: %w", err)
	}
	return out, nil
}

// UpdateAccount implements store.Store.
func (s *Store) UpdateAccount(ctx context.Context, a store.Account) error {
	settings, err := json.Marshal(a.Settings)
	if err != nil {
		return fmt.Errorf("update account: %w", err)
	}
	return s.update(ctx, func(w *wtx) error {
		tag, err := w.exec(`UPDATE accounts SET password_hash = $1, quota_bytes = $2, quota_messages = $3,
			disabled = $4, admin = $5, settings = $6 WHERE id = $7`,
			a.PasswordHash, a.QuotaBytes, a.QuotaMessages, a.Disabled, a.Admin, string(settings), a.ID)
		if err != nil {
			return fmt.Errorf("update account %d: %w", a.ID, err)
		}
		if tag.RowsAffected() == 0 {
			return fmt.Errorf("account %d: %w", a.ID, store.ErrNotFound)
		}
		return nil
	})
}

// DeleteAccount implements store.Store.
func (s *Store) DeleteAccount(ctx context.Context, id int64) error {
	return s.update(ctx, func(w *wtx) error {
		// Folders first, then the account: the order every write takes.
		if _, err := w.exec("SELECT id FROM folders WHERE account_id = $1 ORDER BY id FOR UPDATE", id); err != nil {
			return fmt.Errorf("delete account %d: %w", id, err)
		}
		bodies, err := bodiesOf(w, "account_id = $1", id)
		if err != nil {
			return err
		}
		tag, err := w.exec("DELETE FROM accounts WHERE id = $1", id)
		if err != nil {
			return fmt.Errorf("delete account %d: %w", id, err)
		}
		if tag.RowsAffected() == 0 {
			return fmt.Errorf("account %d: %w", id, store.ErrNotFound)
		}
		// Messages and folders went with the account (ON DELETE CASCADE);
		// remove the bodies nobody refers to any more.
		return dropBodies(w, bodies)
	})
}

// CreateAlias implements store.Store.
func (s *Store) CreateAlias(ctx context.Context, address string, targets []int64) (store.Alias, error) {
	addr, _, _, err := store.CanonicalAddress(address)
	if err != nil {
		return store.Alias{}, fmt.Errorf("create alias: %w", err)
	}
	if len(targets) == 0 {
		return store.Alias{}, fmt.Errorf("create alias %s: no targets: %w", addr, store.ErrInvalid)
	}
	var al store.Alias
	err = s.update(ctx, func(w *wtx) error {
		addr, domain, err := canonicalIn(w, address, store.ErrInvalid)
		if err != nil {
			return err
		}
		al.Address = addr
		if err := lockAddress(w, addr); err != nil {
			return err
		}
		var taken bool
		if err := w.queryRow("SELECT EXISTS (SELECT 1 FROM accounts WHERE address = $1) OR EXISTS (SELECT 1 FROM aliases WHERE address = $1)", addr).Scan(&taken); err != nil {
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
			if err := w.queryRow("SELECT address FROM accounts WHERE id = $1 FOR SHARE", t).Scan(&ta); err != nil {
				return notFound(err, fmt.Sprintf("alias target %d", t))
			}
			if _, err := w.exec("INSERT INTO aliases (address, domain, account_id) VALUES ($1, $2, $3)", addr, domain, t); err != nil {
				if isUnique(err) {
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
func (s *Store) Aliases(ctx context.Context, domain string) ([]store.Alias, error) {
	if err := s.checkOpen(); err != nil {
		return nil, err
	}
	q := `SELECT al.address, al.account_id, a.address FROM aliases al JOIN accounts a ON a.id = al.account_id`
	var args []any
	if domain != "" {
		d, err := store.CanonicalDomain(domain)
		if err != nil {
			return nil, err
		}
		q += " WHERE al.domain = $1"
		args = append(args, d)
	}
	rows, err := s.pool.Query(ctx, q+" ORDER BY al.address, a.address", args...)
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
func (s *Store) DeleteAlias(ctx context.Context, address string) error {
	exact, folded, domain, err := addressArgs(address)
	if err != nil {
		return fmt.Errorf("alias %q: %w", address, store.ErrNotFound)
	}
	addr := exact
	return s.update(ctx, func(w *wtx) error {
		tag, err := w.exec("DELETE FROM aliases WHERE "+addressMatch, exact, folded, domain)
		if err != nil {
			return fmt.Errorf("delete alias %s: %w", addr, err)
		}
		if tag.RowsAffected() == 0 {
			return fmt.Errorf("alias %s: %w", addr, store.ErrNotFound)
		}
		return nil
	})
}

// AliasesOf implements store.Store.
func (s *Store) AliasesOf(ctx context.Context, accountID int64) ([]string, error) {
	if err := s.checkOpen(); err != nil {
		return nil, err
	}
	rows, err := s.pool.Query(ctx, "SELECT address FROM aliases WHERE account_id = $1 ORDER BY address", accountID)
	if err != nil {
		return nil, fmt.Errorf("aliases of %d: %w", accountID, err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("aliases of %d: %w", accountID, err)
	}
	return out, nil
}

// ResolveAddress implements store.Store.
func (s *Store) ResolveAddress(ctx context.Context, address string) ([]int64, error) {
	if err := s.checkOpen(); err != nil {
		return nil, err
	}
	addr, folded, domain, err := addressArgs(address)
	if err != nil {
		return nil, fmt.Errorf("address %q: %w", address, store.ErrNotFound)
	}
	rows, err := s.pool.Query(ctx, `SELECT id FROM accounts WHERE `+addressMatch+`
		UNION SELECT account_id FROM aliases WHERE `+addressMatch, addr, folded, domain)
	if err != nil {
		return nil, fmt.Errorf("resolve %s: %w", addr, err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return nil, fmt.Errorf("resolve %s: %w", addr, err)
	}
	if len(ids) == 0 {
		return nil, fmt.Errorf("address %s: %w", addr, store.ErrNotFound)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	return ids, nil
}

// CreateAppPassword implements store.Store.
func (s *Store) CreateAppPassword(ctx context.Context, p store.AppPassword) (store.AppPassword, error) {
	if p.CreatedAt.IsZero() {
		p.CreatedAt = now()
	}
	protocols := p.Protocols
	if protocols == nil {
		protocols = []string{}
	}
	err := s.update(ctx, func(w *wtx) error {
		err := w.queryRow(`INSERT INTO app_passwords (account_id, name, hash, protocols, created_at, last_used)
			VALUES ($1, $2, $3, $4, $5, $6) RETURNING id`,
			p.AccountID, p.Name, p.Hash, protocols, p.CreatedAt.UTC().Truncate(time.Second), nullTime(p.LastUsed)).Scan(&p.ID)
		if isForeignKey(err) {
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
func (s *Store) AppPasswords(ctx context.Context, accountID int64) ([]store.AppPassword, error) {
	if err := s.checkOpen(); err != nil {
		return nil, err
	}
	rows, err := s.pool.Query(ctx, `SELECT id, account_id, name, hash, protocols, created_at, last_used
		FROM app_passwords WHERE account_id = $1 ORDER BY id`, accountID)
	if err != nil {
		return nil, fmt.Errorf("list app passwords: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.AppPassword, error) {
		var p store.AppPassword
		var used *time.Time
		if err := r.Scan(&p.ID, &p.AccountID, &p.Name, &p.Hash, &p.Protocols, &p.CreatedAt, &used); err != nil {
			return p, err
		}
		if len(p.Protocols) == 0 {
			p.Protocols = nil
		}
		p.CreatedAt, p.LastUsed = p.CreatedAt.UTC(), fromNull(used)
		return p, nil
	})
	if err != nil {
		return nil, fmt.Errorf("list app passwords: %w", err)
	}
	return out, nil
}

// DeleteAppPassword implements store.Store.
func (s *Store) DeleteAppPassword(ctx context.Context, accountID, id int64) error {
	return s.update(ctx, func(w *wtx) error {
		tag, err := w.exec("DELETE FROM app_passwords WHERE id = $1 AND account_id = $2", id, accountID)
		if err != nil {
			return fmt.Errorf("delete app password: %w", err)
		}
		if tag.RowsAffected() == 0 {
			return fmt.Errorf("app password %d: %w", id, store.ErrNotFound)
		}
		return nil
	})
}

// TouchAppPassword implements store.Store.
func (s *Store) TouchAppPassword(ctx context.Context, id int64, at time.Time) error {
	return s.update(ctx, func(w *wtx) error {
		tag, err := w.exec("UPDATE app_passwords SET last_used = $1 WHERE id = $2", nullTime(at), id)
		if err != nil {
			return fmt.Errorf("touch app password: %w", err)
		}
		if tag.RowsAffected() == 0 {
			return fmt.Errorf("app password %d: %w", id, store.ErrNotFound)
		}
		return nil
	})
}
