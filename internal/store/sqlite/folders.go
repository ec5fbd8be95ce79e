package sqlite

import (
	"context"
	"fmt"
	"strings"

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
// its row id: ids are never reused, so a folder re-created under an old name
// gets a higher UIDVALIDITY, as IMAP requires.
func insertFolder(w *wtx, accountID int64, name string, role store.Role) (store.Folder, error) {
	f := store.Folder{AccountID: accountID, Name: name, Role: role, UIDNext: 1, HighestModSeq: 1, RecentUID: 1}
	err := w.queryRow(`INSERT INTO folders (account_id, name, role, uid_validity)
		VALUES ($1, $2, $3, 0) RETURNING id`, accountID, name, string(role)).Scan(&f.ID)
	if isUnique(err) {
		return f, fmt.Errorf("folder %s: %w", name, store.ErrExists)
	}
	if err == nil {
		err = w.queryRow("UPDATE folders SET uid_validity = id WHERE id = $1 RETURNING uid_validity", f.ID).Scan(&f.UIDValidity)
	}
	if err != nil {
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
	rows, err := s.query(ctx, "SELECT "+folderColumns+" FROM folders WHERE account_id = $1 ORDER BY name", accountID)
	if err != nil {
		return nil, fmt.Errorf("list folders: %w", err)
	}
	defer rows.Close()
	var out []store.Folder
	for rows.Next() {
		f, err := scanFolder(rows)
		if err != nil {
			return nil, fmt.Errorf("list folders: %w", err)
		}
		out = append(out, f)
	}
	return out, rows.Err()
}

// Folder implements store.Store.
func (s *Store) Folder(ctx context.Context, accountID int64, name string) (store.Folder, error) {
	if err := s.checkOpen(); err != nil {
		return store.Folder{}, err
	}
	f, err := scanFolder(s.queryRow(ctx, "SELECT "+folderColumns+" FROM folders WHERE account_id = $1 AND name = $2",
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
	f, err := scanFolder(s.queryRow(ctx, "SELECT "+folderColumns+" FROM folders WHERE id = $1", id))
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
	f, err := scanFolder(s.queryRow(ctx, "SELECT "+folderColumns+" FROM folders WHERE account_id = $1 AND role = $2 ORDER BY id LIMIT 1",
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
		// Children first would collide with nothing: rename every folder
		// whose name is f.Name or starts with f.Name + "/".
		// substr counts characters, so the prefix length is measured by
		// SQLite too (a byte length would miss non-ASCII parents).
		rows, err := w.query("SELECT id, name FROM folders WHERE account_id = $1 AND (name = $2 OR substr(name, 1, length($3)) = $3)",
			f.AccountID, f.Name, f.Name+"/")
		if err != nil {
			return fmt.Errorf("rename %s: %w", f.Name, err)
		}
		type ren struct {
			id   int64
			name string
		}
		var todo []ren
		for rows.Next() {
			var r ren
			if err := rows.Scan(&r.id, &r.name); err != nil {
				rows.Close()
				return fmt.Errorf("rename %s: %w", f.Name, err)
			}
			todo = append(todo, r)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("rename %s: %w", f.Name, err)
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
		f, err := scanFolder(w.queryRow("SELECT "+folderColumns+" FROM folders WHERE id = $1", folderID))
		if err != nil {
			return notFound(err, fmt.Sprintf("folder %d", folderID))
		}
		if f.Role == store.RoleInbox {
			return fmt.Errorf("delete INBOX: %w", store.ErrInvalid)
		}
		var bytes, count int64
		if err := w.queryRow("SELECT coalesce(sum(size), 0), count(*) FROM messages WHERE folder_id = $1", folderID).Scan(&bytes, &count); err != nil {
			return fmt.Errorf("delete folder %s: %w", f.Name, err)
		}
		bodies, err := bodiesOf(w, "folder_id = $1", folderID)
		if err != nil {
			return err
		}
		if _, err := w.exec("DELETE FROM messages WHERE folder_id = $1", folderID); err != nil {
			return fmt.Errorf("delete folder %s: %w", f.Name, err)
		}
		if _, err := w.exec("DELETE FROM folders WHERE id = $1", folderID); err != nil {
			return fmt.Errorf("delete folder %s: %w", f.Name, err)
		}
		if _, err := w.exec("UPDATE accounts SET used_bytes = used_bytes - $1, used_messages = used_messages - $2 WHERE id = $3",
			bytes, count, f.AccountID); err != nil {
			return fmt.Errorf("delete folder %s: %w", f.Name, err)
		}
		w.publish(store.Event{AccountID: f.AccountID, FolderID: f.ID, Kind: store.EventFolders | store.EventExpunged})
		return dropBodies(w, bodies)
	})
}

// FolderStatus implements store.Store.
func (s *Store) FolderStatus(ctx context.Context, folderID int64) (store.FolderStatus, error) {
	if err := s.checkOpen(); err != nil {
		return store.FolderStatus{}, err
	}
	var st store.FolderStatus
	f, err := s.FolderByID(ctx, folderID)
	if err != nil {
		return st, err
	}
	st.Folder = f
	err = s.queryRow(ctx, `SELECT count(*), coalesce(sum(1 - seen), 0), coalesce(sum(deleted), 0), coalesce(sum(size), 0),
		coalesce(sum(uid >= $2), 0)
		FROM messages WHERE folder_id = $1`, folderID, f.RecentUID).Scan(&st.Messages, &st.Unseen, &st.Deleted, &st.Size, &st.Recent)
	if err != nil {
		return st, fmt.Errorf("status of folder %s: %w", f.Name, err)
	}
	return st, nil
}

// ClaimRecent implements store.Store.
func (s *Store) ClaimRecent(ctx context.Context, folderID int64) (from, to uint32, err error) {
	err = s.update(ctx, func(w *wtx) error {
		// The writer is alone (one write transaction at a time), so
		// reading the mark and moving it cannot interleave with another
		// claim.
		if err := w.queryRow("SELECT recent_uid, uid_next - 1 FROM folders WHERE id = $1", folderID).Scan(&from, &to); err != nil {
			return notFound(err, fmt.Sprintf("folder %d", folderID))
		}
		if from > to {
			return nil
		}
		if _, err := w.exec("UPDATE folders SET recent_uid = $1 WHERE id = $2", to+1, folderID); err != nil {
			return fmt.Errorf("move recent mark: %w", err)
		}
		return nil
	})
	if err != nil {
		return 0, 0, fmt.Errorf("claim recent: %w", err)
	}
	return from, to, nil
}
