package sqlstore

import (
	"context"
	"fmt"
	"time"

	"github.com/pochta-mail/pochta/internal/store"
)

// CreateWebSession implements store.Store.
func (q *Queries) CreateWebSession(ctx context.Context, ws store.WebSession) error {
	if ws.IDHash == "" {
		return fmt.Errorf("create web session: empty id: %w", store.ErrInvalid)
	}
	err := q.b.Update(ctx, func(tx Tx) error {
		_, err := tx.Exec(`INSERT INTO web_sessions (id_hash, account_id, created_at, last_seen, remote_ip, user_agent)
			VALUES ($1, $2, $3, $4, $5, $6)`,
			ws.IDHash, ws.AccountID, q.d.Seconds(ws.Created), q.d.Seconds(ws.LastSeen), ws.RemoteIP, ws.UserAgent)
		switch {
		case err == nil:
			return nil
		case q.d.IsUnique(err):
			return store.ErrExists
		case q.d.IsForeignKey(err):
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
func (q *Queries) WebSession(ctx context.Context, idHash string) (store.WebSession, error) {
	r, err := q.b.Read()
	if err != nil {
		return store.WebSession{}, err
	}
	ws := store.WebSession{IDHash: idHash}
	err = r.QueryRow(ctx, `SELECT account_id, created_at, last_seen, remote_ip, user_agent
		FROM web_sessions WHERE id_hash = $1`, idHash).Scan(&ws.AccountID, ScanSeconds(&ws.Created), ScanSeconds(&ws.LastSeen), &ws.RemoteIP, &ws.UserAgent)
	if err != nil {
		return store.WebSession{}, notFound(err, "web session")
	}
	return ws, nil
}

// TouchWebSession implements store.Store.
func (q *Queries) TouchWebSession(ctx context.Context, idHash string, at time.Time) error {
	return q.b.Update(ctx, func(tx Tx) error {
		n, err := tx.Exec("UPDATE web_sessions SET last_seen = $1 WHERE id_hash = $2", q.d.Seconds(at), idHash)
		if err != nil {
			return fmt.Errorf("touch web session: %w", err)
		}
		if n == 0 {
			return fmt.Errorf("web session: %w", store.ErrNotFound)
		}
		return nil
	})
}

// DeleteWebSession implements store.Store.
func (q *Queries) DeleteWebSession(ctx context.Context, idHash string) error {
	return q.b.Update(ctx, func(tx Tx) error {
		if _, err := tx.Exec("DELETE FROM web_sessions WHERE id_hash = $1", idHash); err != nil {
			return fmt.Errorf("delete web session: %w", err)
		}
		return nil
	})
}

// DeleteWebSessions implements store.Store.
func (q *Queries) DeleteWebSessions(ctx context.Context, accountID int64, keepHash string) (int, error) {
	var n int64
	err := q.b.Update(ctx, func(tx Tx) error {
		var err error
		n, err = tx.Exec("DELETE FROM web_sessions WHERE account_id = $1 AND id_hash <> $2", accountID, keepHash)
		if err != nil {
			return fmt.Errorf("delete web sessions of account %d: %w", accountID, err)
		}
		return nil
	})
	return int(n), err
}

// DeleteExpiredWebSessions implements store.Store.
func (q *Queries) DeleteExpiredWebSessions(ctx context.Context, idleBefore, createdBefore time.Time) (int, error) {
	var n int64
	err := q.b.Update(ctx, func(tx Tx) error {
		var err error
		n, err = tx.Exec("DELETE FROM web_sessions WHERE last_seen < $1 OR created_at < $2",
			q.d.Seconds(idleBefore), q.d.Seconds(createdBefore))
		if err != nil {
			return fmt.Errorf("delete expired web sessions: %w", err)
		}
		return nil
	})
	return int(n), err
}

// RecordSignIn implements store.Store.
func (q *Queries) RecordSignIn(ctx context.Context, si store.SignIn) error {
	err := q.b.Update(ctx, func(tx Tx) error {
		_, err := tx.Exec(`INSERT INTO signins (account_id, at, protocol, remote_ip, tls, reason, app_password)
			VALUES ($1, $2, $3, $4, $5, $6, $7)`,
			si.AccountID, q.d.Seconds(si.Time), si.Protocol, si.RemoteIP, si.TLS, si.Reason, si.AppPassword)
		if err != nil {
			if q.d.IsForeignKey(err) {
				return fmt.Errorf("account %d: %w", si.AccountID, store.ErrNotFound)
			}
			return err
		}
		_, err = tx.Exec(`DELETE FROM signins WHERE account_id = $1 AND id <= (SELECT id FROM signins
			WHERE account_id = $1 ORDER BY id DESC LIMIT 1 OFFSET $2)`, si.AccountID, store.MaxSignInsPerAccount)
		return err
	})
	if err != nil {
		return fmt.Errorf("record sign-in: %w", err)
	}
	return nil
}

// SignIns implements store.Store.
func (q *Queries) SignIns(ctx context.Context, accountID int64, n int) ([]store.SignIn, error) {
	r, err := q.b.Read()
	if err != nil {
		return nil, err
	}
	rows, err := r.Query(ctx, `SELECT at, protocol, remote_ip, tls, reason, app_password
		FROM signins WHERE account_id = $1 ORDER BY id DESC LIMIT $2`, accountID, n)
	if err != nil {
		return nil, fmt.Errorf("list sign-ins: %w", err)
	}
	defer rows.Close()
	var out []store.SignIn
	for rows.Next() {
		si := store.SignIn{AccountID: accountID}
		if err := rows.Scan(ScanSeconds(&si.Time), &si.Protocol, &si.RemoteIP, &si.TLS, &si.Reason, &si.AppPassword); err != nil {
			return nil, fmt.Errorf("list sign-ins: %w", err)
		}
		out = append(out, si)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list sign-ins: %w", err)
	}
	return out, nil
}

// ServerSettings implements store.Store.
func (q *Queries) ServerSettings(ctx context.Context) (map[string]string, error) {
	r, err := q.b.Read()
	if err != nil {
		return nil, err
	}
	rows, err := r.Query(ctx, "SELECT key, value FROM server_settings")
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
func (q *Queries) SetServerSetting(ctx context.Context, key, value string) error {
	if key == "" {
		return fmt.Errorf("server setting: empty key: %w", store.ErrInvalid)
	}
	return q.b.Update(ctx, func(tx Tx) error {
		var err error
		if value == "" {
			_, err = tx.Exec("DELETE FROM server_settings WHERE key = $1", key)
		} else {
			_, err = tx.Exec(`INSERT INTO server_settings (key, value) VALUES ($1, $2)
				ON CONFLICT (key) DO UPDATE SET value = excluded.value`, key, value)
		}
		if err != nil {
			return fmt.Errorf("save server setting %s: %w", key, err)
		}
		return nil
	})
}
