package sqlstore

import (
	"context"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/pochta-mail/pochta/internal/store"
)

// CheckFolderName refuses names the store cannot keep.
func CheckFolderName(name string) error {
	sep := string(store.HierarchySeparator)
	switch {
	case name == "", !utf8.ValidString(name), len(name) > 1000:
		return fmt.Errorf("folder name %q: empty, too long or not UTF-8: %w", name, store.ErrInvalid)
	case strings.HasPrefix(name, sep), strings.HasSuffix(name, sep), strings.Contains(name, sep+sep):
		return fmt.Errorf("folder name %q: empty level: %w", name, store.ErrInvalid)
	case strings.ContainsAny(name, "\x00\r\n*%"):
		return fmt.Errorf("folder name %q: character not allowed: %w", name, store.ErrInvalid)
	case strings.EqualFold(name, "INBOX") && name != "INBOX":
		return fmt.Errorf("folder name %q: %w", name, store.ErrExists)
	}
	return nil
}

// FolderKey is a folder name as stored: INBOX, and the INBOX level of the
// folders below it, in upper case (IMAP names INBOX in any case).
func FolderKey(name string) string {
	if strings.EqualFold(name, "INBOX") {
		return "INBOX"
	}
	if len(name) > 6 && strings.EqualFold(name[:6], "INBOX/") {
		return "INBOX" + name[5:]
	}
	return name
}

// SetSubscribed implements store.Store.
func (q *Queries) SetSubscribed(ctx context.Context, folderID int64, subscribed bool) error {
	return q.b.Update(ctx, func(tx Tx) error {
		var accountID int64
		var name string
		if err := tx.QueryRow("SELECT account_id, name FROM folders WHERE id = $1", folderID).Scan(&accountID, &name); err != nil {
			return notFound(err, fmt.Sprintf("folder %d", folderID))
		}
		return WriteSubscription(tx, accountID, name, subscribed)
	})
}

// Subscriptions implements store.Store.
func (q *Queries) Subscriptions(ctx context.Context, accountID int64) ([]string, error) {
	r, err := q.b.Read()
	if err != nil {
		return nil, err
	}
	rows, err := r.Query(ctx, "SELECT name FROM subscriptions WHERE account_id = $1 ORDER BY name", accountID)
	if err != nil {
		return nil, fmt.Errorf("list subscriptions: %w", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			return nil, fmt.Errorf("list subscriptions: %w", err)
		}
		out = append(out, n)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list subscriptions: %w", err)
	}
	return out, nil
}

// SetSubscription implements store.Store.
func (q *Queries) SetSubscription(ctx context.Context, accountID int64, name string, subscribed bool) error {
	name = FolderKey(name)
	if err := CheckFolderName(name); err != nil {
		return fmt.Errorf("subscription: %w", err)
	}
	return q.b.Update(ctx, func(tx Tx) error {
		var n int
		if err := tx.QueryRow("SELECT count(*) FROM accounts WHERE id = $1", accountID).Scan(&n); err != nil {
			return fmt.Errorf("subscription: %w", err)
		}
		if n == 0 {
			return fmt.Errorf("subscription: account %d: %w", accountID, store.ErrNotFound)
		}
		return WriteSubscription(tx, accountID, name, subscribed)
	})
}

// WriteSubscription adds or removes a subscription inside a write
// transaction and tells the account's sessions.
func WriteSubscription(tx Tx, accountID int64, name string, subscribed bool) error {
	query := "INSERT INTO subscriptions (account_id, name) VALUES ($1, $2) ON CONFLICT DO NOTHING"
	if !subscribed {
		query = "DELETE FROM subscriptions WHERE account_id = $1 AND name = $2"
	}
	if _, err := tx.Exec(query, accountID, name); err != nil {
		return fmt.Errorf("subscription %s: %w", name, err)
	}
	tx.Publish(store.Event{AccountID: accountID, Kind: store.EventFolders})
	return nil
}
