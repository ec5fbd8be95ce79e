package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pochta-mail/pochta/internal/store"
)

// CreateWebSession implements store.Store.
func (s *Store) CreateWebSession(ctx context.Context, ws store.WebSession) error {
	if ws.IDHash == "" {
		return fmt.Errorf("create web session: empty id: %w", store.ErrInvalid)
	}
	err := s.update(ctx, func(w *wtx) error {
		_, err := w.exec(`INSERT INTO web_sessions (id_hash, account_id, created_at, last_seen, remote_ip, user_agent)
			VALUES ($1, $2, $3, $4, $5, $6)`,
			ws.IDHash, ws.AccountID, ws.Created.UTC().Truncate(time.Second), ws.LastSeen.UTC().Truncate(time.Second), ws.RemoteIP, ws.UserAgent)
		switch {
		case isUnique(err):
			return store.ErrExists
		case isForeignKey(err):
			return fmt.Errorf("account %d: %w", ws.AccountID, store.ErrNotFound)
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("create web session: %w", err)
	}
	return nil
}

// WebSession implements store.Store.
func (s *Store) WebSession(ctx context.Context, idHash string) (store.WebSession, error) {
	if err := s.checkOpen(); err != nil {
		return store.WebSession{}, err
	}
	ws := store.WebSession{IDHash: idHash}
	err := s.pool.QueryRow(ctx, `SELECT account_id, created_at, last_seen, remote_ip, user_agent
		FROM web_sessions WHERE id_hash = $1`, idHash).Scan(&ws.AccountID, &ws.Created, &ws.LastSeen, &ws.RemoteIP, &ws.UserAgent)
	if err != nil {
		return store.WebSession{}, notFound(err, "web session")
	}
	ws.Created, ws.LastSeen = ws.Created.UTC(), ws.LastSeen.UTC()
	return ws, nil
}

// TouchWebSession implements store.Store.
func (s *Store) TouchWebSession(ctx context.Context, idHash string, at time.Time) error {
	return s.update(ctx, func(w *wtx) error {
		tag, err := w.exec("UPDATE web_sessions SET last_seen = $1 WHERE id_hash = $2", at.UTC().Truncate(time.Second), idHash)
		if err != nil {
			return fmt.Errorf("touch web session: %w", err)
		}
		if tag.RowsAffected() == 0 {
			return fmt.Errorf("web session: %w", store.ErrNotFound)
		}
		return nil
	})
}

// DeleteWebSession implements store.Store.
func (s *Store) DeleteWebSession(ctx context.Context, idHash string) error {
	return s.update(ctx, func(w *wtx) error {
		if _, err := w.exec("DELETE FROM web_sessions WHERE id_hash = $1", idHash); err != nil {
			return fmt.Errorf("delete web session: %w", err)
		}
		return nil
	})
}

// DeleteWebSessions implements store.Store.
func (s *Store) DeleteWebSessions(ctx context.Context, accountID int64, keepHash string) (int, error) {
	var n int64
	err := s.update(ctx, func(w *wtx) error {
		tag, err := w.exec("DELETE FROM web_sessions WHERE account_id = $1 AND id_hash <> $2", accountID, keepHash)
		if err != nil {
			return fmt.Errorf("delete web sessions of account %d: %w", accountID, err)
		}
		n = tag.RowsAffected()
		return nil
	})
	return int(n), err
}

// DeleteExpiredWebSessions implements store.Store.
func (s *Store) DeleteExpiredWebSessions(ctx context.Context, idleBefore, createdBefore time.Time) (int, error) {
	var n int64
	err := s.update(ctx, func(w *wtx) error {
		tag, err := w.exec("DELETE FROM web_sessions WHERE last_seen < $1 OR created_at < $2",
			nullTime(idleBefore), nullTime(createdBefore))
		if err != nil {
			return fmt.Errorf("delete expired web sessions: %w", err)
		}
		n = tag.RowsAffected()
		return nil
	})
	return int(n), err
}

// RecordSignIn implements store.Store.
func (s *Store) RecordSignIn(ctx context.Context, si store.SignIn) error {
	err := s.update(ctx, func(w *wtx) error {
		_, err := w.exec(`INSERT INTO signins (account_id, at, protocol, remote_ip, tls, reason, app_password)
			VALUES ($1, $2, $3, $4, $5, $6, $7)`,
			si.AccountID, si.Time.UTC().Truncate(time.Second), si.Protocol, si.RemoteIP, si.TLS, si.Reason, si.AppPassword)
		if isForeignKey(err) {
			return fmt.Errorf("account %d: %w", si.AccountID, store.ErrNotFound)
		} else if err != nil {
			return err
		}
		_, err = w.exec(`DELETE FROM signins WHERE account_id = $1 AND id <= (SELECT id FROM signins
			WHERE account_id = $1 ORDER BY id DESC LIMIT 1 OFFSET $2)`, si.AccountID, store.MaxSignInsPerAccount)
		return err
	})
	if err != nil {
		return fmt.Errorf("record sign-in: %w", err)
	}
	return nil
}

// SignIns implements store.Store.
func (s *Store) SignIns(ctx context.Context, accountID int64, n int) ([]store.SignIn, error) {
	if err := s.checkOpen(); err != nil {
		return nil, err
	}
	rows, err := s.pool.Query(ctx, `SELECT at, protocol, remote_ip, tls, reason, app_password
		FROM signins WHERE account_id = $1 ORDER BY id DESC LIMIT $2`, accountID, n)
	if err != nil {
		return nil, fmt.Errorf("list sign-ins: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.SignIn, error) {
		si := store.SignIn{AccountID: accountID}
		err := r.Scan(&si.Time, &si.Protocol, &si.RemoteIP, &si.TLS, &si.Reason, &si.AppPassword)
		si.Time = si.Time.UTC()
		return si, err
	})
	if err != nil {
		return nil, fmt.Errorf("list sign-ins: %w", err)
	}
	return out, nil
}

// ServerSettings implements store.Store.
func (s *Store) ServerSettings(ctx context.Context) (map[string]string, error) {
	if err := s.checkOpen(); err != nil {
		return nil, err
	}
	rows, err := s.pool.Query(ctx, "SELECT key, value FROM server_settings")
	if err != nil {
		return nil, fmt.Errorf("server settings: %w", err)
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var k, v string
		if err := rows.Scan(&k, &v); err != nil {
			return nil, fmt.Errorf("server settings: %w", err)
		}
		out[k] = v
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("server settings: %w", err)
	}
	return out, nil
}

// SetServerSetting implements store.Store.
func (s *Store) SetServerSetting(ctx context.Context, key, value string) error {
	if key == "" {
		return fmt.Errorf("server setting: empty key: %w", store.ErrInvalid)
	}
	return s.update(ctx, func(w *wtx) error {
		var err error
		if value == "" {
			_, err = w.exec("DELETE FROM server_settings WHERE key = $1", key)
		} else {
			_, err = w.exec(`INSERT INTO server_settings (key, value) VALUES ($1, $2)
				ON CONFLICT (key) DO UPDATE SET value = excluded.value`, key, value)
		}
		if err != nil {
			return fmt.Errorf("save server setting %s: %w", key, err)
		}
		return nil
	})
}
