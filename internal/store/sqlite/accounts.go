package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/pochta-mail/pochta/internal/store"
	"github.com/pochta-mail/pochta/internal/store/sqlstore"
)

// unix turns a time into stored seconds; the zero time is 0.
func unix(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.Unix()
}

// fromUnix is unix's inverse.
func fromUnix(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(n, 0).UTC()
}

// isUnique reports a UNIQUE or PRIMARY KEY constraint failure.
func isUnique(err error) bool {
	return err != nil && strings.Contains(err.Error(), "UNIQUE constraint failed")
}

// notFound maps sql.ErrNoRows to store.ErrNotFound with context.
func notFound(err error, what string) error {
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("%s: %w", what, store.ErrNotFound)
	}
	return fmt.Errorf("%s: %w", what, err)
}

type scanner interface{ Scan(...any) error }

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
		addr, _, err := sqlstore.CanonicalIn(backend{s}, sqlTx{w}, na.Address, store.ErrNotFound)
		if err != nil {
			return err
		}
		a.Address = addr
		var n int
		if err := w.queryRow("SELECT count(*) FROM aliases WHERE address = $1", addr).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return fmt.Errorf("%s is an alias: %w", addr, store.ErrExists)
		}
		err = w.queryRow(`INSERT INTO accounts (address, domain, password_hash, quota_bytes, quota_messages, admin, settings, created_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id`,
			addr, domain, na.PasswordHash, na.QuotaBytes, na.QuotaMessages, na.Admin, string(settings), unix(a.CreatedAt)).Scan(&a.ID)
		if isUnique(err) {
			return fmt.Errorf("account %s: %w", addr, store.ErrExists)
		}
		if err != nil {
			return err
		}
		for _, sf := range store.StandardFolders {
			if _, err := insertFolder(w, a.ID, sf.Name, sf.Role); err != nil {
				return err
			}
			if err := sqlstore.WriteSubscription(sqlTx{w}, a.ID, sf.Name, true); err != nil {
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
		bodies, err := bodiesOf(w, "account_id = $1", id)
		if err != nil {
			return err
		}
		res, err := w.exec("DELETE FROM accounts WHERE id = $1", id)
		if err != nil {
			return fmt.Errorf("delete account %d: %w", id, err)
		}
		if k, _ := res.RowsAffected(); k == 0 {
			return fmt.Errorf("account %d: %w", id, store.ErrNotFound)
		}
		// Messages and folders went with the account (ON DELETE CASCADE);
		// remove the bodies nobody refers to any more.
		return dropBodies(w, bodies)
	})
}
