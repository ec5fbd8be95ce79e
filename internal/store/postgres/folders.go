package postgres

import (
	"context"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/pochta-mail/pochta/internal/store"
	"github.com/pochta-mail/pochta/internal/store/sqlstore"
)

// folderColumns are the columns scanFolder reads from the folders table;
// Subscribed comes from the subscriptions table.
const folderColumns = `id, account_id, name, role, uid_validity, uid_next, highest_modseq,
	EXISTS (SELECT 1 FROM subscriptions s WHERE s.account_id = folders.account_id AND s.name = folders.name), recent_uid`

func scanFolder(r scanner) (store.Folder, error) {
	var f store.Folder
	var role string
	err := r.Scan(&f.ID, &f.AccountID, &f.Name, &role, &f.UIDValidity, &f.UIDNext, &f.HighestModSeq, &f.Subscribed, &f.RecentUID)
	f.Role = store.Role(role)
	return f, err
}

// insertFolder makes a folder inside a write transaction. Its UIDVALIDITY is
// its id: ids are never reused, so a folder re-created under an old name
// gets a higher UIDVALIDITY, as IMAP requires.
func insertFolder(w *wtx, accountID int64, name string, role store.Role) (store.Folder, error) {
	f := store.Folder{AccountID: accountID, Name: name, Role: role, UIDNext: 1, HighestModSeq: 1, RecentUID: 1}
	err := w.queryRow(`INSERT INTO folders (id, account_id, name, role, uid_validity)
		SELECT n, $1, $2, $3, n FROM (SELECT nextval(pg_get_serial_sequence('folders', 'id')) AS n) AS seq
		RETURNING id, uid_validity`, accountID, name, string(role)).Scan(&f.ID, &f.UIDValidity)
	switch {
	case isUnique(err):
		return f, fmt.Errorf("folder %s: %w", name, store.ErrExists)
	case isForeignKey(err):
		return f, fmt.Errorf("account %d: %w", accountID, store.ErrNotFound)
	case err != nil:
		return f, fmt.Errorf("create folder %s: %w", name, err)
	}
	w.publish(store.Event{AccountID: accountID, FolderID: f.ID, ModSeq: f.HighestModSeq, Kind: store.EventFolders})
	return f, nil
}

// Folders implements store.Store.
func (s *Store) Folders(ctx context.Context, accountID int64) ([]store.Folder, error) {
	if err := s.checkOpen(); err != nil {
		return nil, err
	}
	rows, err := s.pool.Query(ctx, "SELECT "+folderColumns+" FROM folders WHERE account_id = $1 ORDER BY name", accountID)
	if err != nil {
		return nil, fmt.Errorf("list folders: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.Folder, error) { return scanFolder(r) })
	if err != nil {
		return nil, fmt.Errorf("list folders: %w", err)
	}
	return out, nil
}

// Folder implements store.Store.
func (s *Store) Folder(ctx context.Context, accountID int64, name string) (store.Folder, error) {
	if err := s.checkOpen(); err != nil {
		return store.Folder{}, err
	}
	f, err := scanFolder(s.pool.QueryRow(ctx, "SELECT "+folderColumns+" FROM folders WHERE account_id = $1 AND name = $2",
		accountID, sqlstore.FolderKey(name)))
	if err != nil {
		return f, notFound(err, "folder "+name)
	}
	return f, nil
}

// FolderByID implements store.Store.
func (s *Store) FolderByID(ctx context.Context, id int64) (store.Folder, error) {
	if err := s.checkOpen(); err != nil {
		return store.Folder{}, err
	}
	f, err := scanFolder(s.pool.QueryRow(ctx, "SELECT "+folderColumns+" FROM folders WHERE id = $1", id))
	if err != nil {
		return f, notFound(err, fmt.Sprintf("folder %d", id))
	}
	return f, nil
}

// FolderByRole implements store.Store.
func (s *Store) FolderByRole(ctx context.Context, accountID int64, role store.Role) (store.Folder, error) {
	if err := s.checkOpen(); err != nil {
		return store.Folder{}, err
	}
	if role == store.RoleNone {
		return store.Folder{}, fmt.Errorf("folder by role: no role given: %w", store.ErrInvalid)
	}
	f, err := scanFolder(s.pool.QueryRow(ctx, "SELECT "+folderColumns+" FROM folders WHERE account_id = $1 AND role = $2 ORDER BY id LIMIT 1",
		accountID, string(role)))
	if err != nil {
		return f, notFound(err, "folder with role "+string(role))
	}
	return f, nil
}

// CreateFolder implements store.Store.
func (s *Store) CreateFolder(ctx context.Context, accountID int64, name string, role store.Role) (store.Folder, error) {
	name = sqlstore.FolderKey(name)
	if err := sqlstore.CheckFolderName(name); err != nil {
		return store.Folder{}, err
	}
	if role == store.RoleInbox {
		return store.Folder{}, fmt.Errorf("create folder %s: only INBOX has the inbox role: %w", name, store.ErrInvalid)
	}
	var f store.Folder
	err := s.update(ctx, func(w *wtx) error {
		var err error
		f, err = insertFolder(w, accountID, name, role)
		return err
	})
	return f, err
}

// lockFolder reads a folder inside a write transaction and locks its row
// until the commit.
func lockFolder(w *wtx, folderID int64) (store.Folder, error) {
	f, err := scanFolder(w.queryRow("SELECT "+folderColumns+" FROM folders WHERE id = $1 FOR UPDATE", folderID))
	if err != nil {
		return f, notFound(err, fmt.Sprintf("folder %d", folderID))
	}
	return f, nil
}

// RenameFolder implements store.Store.
func (s *Store) RenameFolder(ctx context.Context, folderID int64, newName string) error {
	newName = sqlstore.FolderKey(newName)
	if err := sqlstore.CheckFolderName(newName); err != nil {
		return err
	}
	return s.update(ctx, func(w *wtx) error {
		f, err := scanFolder(w.queryRow("SELECT "+folderColumns+" FROM folders WHERE id = $1", folderID))
		if err != nil {
			return notFound(err, fmt.Sprintf("folder %d", folderID))
		}
		if f.Role == store.RoleInbox || newName == "INBOX" {
			return fmt.Errorf("rename %s to %s: INBOX cannot be renamed this way: %w", f.Name, newName, store.ErrInvalid)
		}
		if newName == f.Name {
			return nil
		}
		if strings.HasPrefix(newName, f.Name+"/") {
			return fmt.Errorf("rename %s to %s: a folder cannot move inside itself: %w", f.Name, newName, store.ErrInvalid)
		}
		// The folder and every folder below it, locked in id order.
		rows, err := w.Query(w.ctx, `SELECT id, name FROM folders WHERE account_id = $1 AND (name = $2 OR starts_with(name, $3))
			ORDER BY id FOR UPDATE`, f.AccountID, f.Name, f.Name+"/")
		if err != nil {
			return fmt.Errorf("rename %s: %w", f.Name, err)
		}
		type ren struct {
			id   int64
			name string
		}
		todo, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (ren, error) {
			var x ren
			err := r.Scan(&x.id, &x.name)
			return x, err
		})
		if err != nil {
			return fmt.Errorf("rename %s: %w", f.Name, err)
		}
		if len(todo) == 0 {
			return fmt.Errorf("folder %d: %w", folderID, store.ErrNotFound)
		}
		for _, r := range todo {
			to := newName + r.name[len(f.Name):]
			if _, err := w.exec("UPDATE folders SET name = $1 WHERE id = $2", to, r.id); err != nil {
				if isUnique(err) {
					return fmt.Errorf("rename %s to %s: %w", r.name, to, store.ErrExists)
				}
				return fmt.Errorf("rename %s: %w", r.name, err)
			}
			w.publish(store.Event{AccountID: f.AccountID, FolderID: r.id, Kind: store.EventFolders})
		}
		return nil
	})
}

// DeleteFolder implements store.Store.
func (s *Store) DeleteFolder(ctx context.Context, folderID int64) error {
	return s.update(ctx, func(w *wtx) error {
		f, err := lockFolder(w, folderID)
		if err != nil {
			return err
		}
		if f.Role == store.RoleInbox {
			return fmt.Errorf("delete INBOX: %w", store.ErrInvalid)
		}
		var bytes, count int64
		var bodies []int64
		err = w.queryRow(`SELECT coalesce(sum(size), 0), count(*), coalesce(array_agg(DISTINCT body_id) FILTER (WHERE body_id IS NOT NULL), '{}')
			FROM messages WHERE folder_id = $1`, folderID).Scan(&bytes, &count, &bodies)
		if err != nil {
			return fmt.Errorf("delete folder %s: %w", f.Name, err)
		}
		if _, err := w.exec("DELETE FROM folders WHERE id = $1", folderID); err != nil {
			return fmt.Errorf("delete folder %s: %w", f.Name, err)
		}
		if err := addUsage(w, f.AccountID, -bytes, -count); err != nil {
			return fmt.Errorf("delete folder %s: %w", f.Name, err)
		}
		w.publish(store.Event{AccountID: f.AccountID, FolderID: f.ID, Kind: store.EventFolders | store.EventExpunged})
		return dropBodies(w, bodies)
	})
}

// FolderStatus implements store.Store.
func (s *Store) FolderStatus(ctx context.Context, folderID int64) (store.FolderStatus, error) {
	var st store.FolderStatus
	err := s.readTx(ctx, func(tx pgx.Tx) error {
		f, err := scanFolder(tx.QueryRow(ctx, "SELECT "+folderColumns+" FROM folders WHERE id = $1", folderID))
		if err != nil {
			return notFound(err, fmt.Sprintf("folder %d", folderID))
		}
		st.Folder = f
		err = tx.QueryRow(ctx, `SELECT count(*), count(*) FILTER (WHERE NOT seen), count(*) FILTER (WHERE deleted), coalesce(sum(size), 0),
			count(*) FILTER (WHERE uid >= $2)
			FROM messages WHERE folder_id = $1`, folderID, int64(f.RecentUID)).Scan(&st.Messages, &st.Unseen, &st.Deleted, &st.Size, &st.Recent)
		if err != nil {
			return fmt.Errorf("status of folder %s: %w", f.Name, err)
		}
		return nil
	})
	return st, err
}

// ClaimRecent implements store.Store.
func (s *Store) ClaimRecent(ctx context.Context, folderID int64) (from, to uint32, err error) {
	err = s.update(ctx, func(w *wtx) error {
		// The folder row is locked by the first statement, so a
		// concurrent claim waits and then sees the moved mark.
		if err := w.queryRow("SELECT recent_uid, uid_next - 1 FROM folders WHERE id = $1 FOR NO KEY UPDATE", folderID).Scan(&from, &to); err != nil {
			return notFound(err, fmt.Sprintf("folder %d", folderID))
		}
		if from > to {
			return nil
		}
		if _, err := w.exec("UPDATE folders SET recent_uid = $1 WHERE id = $2", int64(to)+1, folderID); err != nil {
			return fmt.Errorf("move recent mark: %w", err)
		}
		return nil
	})
	if err != nil {
		return 0, 0, fmt.Errorf("claim recent: %w", err)
	}
	return from, to, nil
}
