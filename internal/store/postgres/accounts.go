package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/pochta-mail/pochta/internal/store"
	"github.com/pochta-mail/pochta/internal/store/sqlstore"
)

type scanner interface{ Scan(...any) error }

// lockAddress serialises, until the end of the transaction, the writes that
// check an address is free and then take it (an account and an alias must
// not get the same address from two nodes at once).
func lockAddress(tx sqlstore.Tx, addr string) error {
	if _, err := tx.Exec("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", "address:"+addr); err != nil {
		return fmt.Errorf("lock address %s: %w", addr, err)
	}
	return nil
}

// Domains, accounts, aliases and app passwords are shared SQL
// (sqlstore/accounts.go); creating and deleting an account stay here, with
// the folder and body code they call.

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
		Settings: na.Settings, CreatedAt: time.Now().UTC().Truncate(time.Second),
	}
	err = s.update(ctx, func(w *wtx) error {
		addr, _, err := sqlstore.CanonicalIn(backend{s}, pgTx{w}, na.Address, store.ErrNotFound)
		if err != nil {
			return err
		}
		a.Address = addr
		if err := lockAddress(pgTx{w}, addr); err != nil {
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
