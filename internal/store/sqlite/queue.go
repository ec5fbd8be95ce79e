package sqlite

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/pochta-mail/pochta/internal/mimeparse"
	"github.com/pochta-mail/pochta/internal/store"
)

// micros is a time as Unix microseconds (0 for the zero time).
func micros(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMicro()
}

// fromMicros is the inverse of micros.
func fromMicros(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.UnixMicro(n).UTC()
}

// queueColumns are read by scanQueued.
const queueColumns = "id, next_attempt, lease_owner, lease_until, attempts, envelope"

// scanQueued reads a queue row: the JSON envelope with the columns laid
// over it.
func scanQueued(r scanner) (store.QueueEnvelope, error) {
	var env store.QueueEnvelope
	var id, owner, raw string
	var next, until int64
	var attempts int
	if err := r.Scan(&id, &next, &owner, &until, &attempts, &raw); err != nil {
		return env, err
	}
	if err := json.Unmarshal([]byte(raw), &env); err != nil {
		return env, fmt.Errorf("queued message %s: bad envelope: %w", id, err)
	}
	env.ID, env.NextAttempt, env.LeaseOwner, env.LeaseUntil, env.Attempts = id, fromMicros(next), owner, fromMicros(until), attempts
	return env, nil
}

// EnqueueMessage implements store.QueueStore.
func (s *Store) EnqueueMessage(ctx context.Context, env store.QueueEnvelope, body io.Reader) (string, error) {
	if err := s.checkOpen(); err != nil {
		return "", err
	}
	now := time.Now().UTC()
	if env.ID == "" {
		env.ID = store.NewQueueID(now)
	} else if !store.ValidQueueID(env.ID) {
		return "", fmt.Errorf("enqueue %q: bad id: %w", env.ID, store.ErrInvalid)
	}
	if env.Created.IsZero() {
		env.Created = now
	}
	if env.NextAttempt.IsZero() {
		env.NextAttempt = now
	}
	raw, err := json.Marshal(env)
	if err != nil {
		return "", fmt.Errorf("enqueue: %w", err)
	}
	b, err := s.blobs.writeBody(body, mimeparse.NormalizeCRLF)
	if err != nil {
		return "", fmt.Errorf("enqueue: %w", err)
	}
	var syncDirs []string
	if b.key != "" {
		syncDirs = append(syncDirs, s.blobs.dir(b.key))
	}
	err = s.update(ctx, func(w *wtx) error {
		var n int
		if err := w.queryRow("SELECT count(*) FROM queue WHERE id = $1", env.ID).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return fmt.Errorf("queued message %s: %w", env.ID, store.ErrExists)
		}
		_, err := w.exec(`INSERT INTO queue (id, next_attempt, lease_owner, lease_until, attempts, envelope, blob, data, size)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
			env.ID, micros(env.NextAttempt), env.LeaseOwner, micros(env.LeaseUntil), env.Attempts, string(raw), b.key, b.data, b.size)
		return err
	}, syncDirs...)
	if err != nil {
		if b.key != "" {
			s.blobs.remove(b.key)
		}
		return "", fmt.Errorf("enqueue: %w", err)
	}
	return env.ID, nil
}

// QueuedMessages implements store.QueueStore.
func (s *Store) QueuedMessages(ctx context.Context) ([]store.QueueEnvelope, error) {
	if err := s.checkOpen(); err != nil {
		return nil, err
	}
	rows, err := s.read.QueryContext(ctx, "SELECT "+queueColumns+" FROM queue ORDER BY id")
	if err != nil {
		return nil, fmt.Errorf("list queue: %w", err)
	}
	defer rows.Close()
	var out []store.QueueEnvelope
	for rows.Next() {
		env, err := scanQueued(rows)
		if err != nil {
			return nil, fmt.Errorf("list queue: %w", err)
		}
		out = append(out, env)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list queue: %w", err)
	}
	return out, nil
}

// OpenQueued implements store.QueueStore.
func (s *Store) OpenQueued(ctx context.Context, id string) (io.ReadCloser, error) {
	if err := s.checkOpen(); err != nil {
		return nil, err
	}
	var key string
	var data []byte
	var size int64
	if err := s.read.QueryRowContext(ctx, "SELECT blob, data, size FROM queue WHERE id = $1", id).Scan(&key, &data, &size); err != nil {
		return nil, notFound(err, "queued message "+id)
	}
	if key == "" {
		return inlineBody{bytes.NewReader(data)}, nil
	}
	if !validKey(key) {
		return nil, fmt.Errorf("queued message %s: bad blob name %q", id, key)
	}
	f, err := s.blobs.open(key)
	if err != nil {
		return nil, fmt.Errorf("queued message %s: %w", id, err)
	}
	return f, nil
}

// UpdateQueued implements store.QueueStore.
func (s *Store) UpdateQueued(ctx context.Context, env store.QueueEnvelope) error {
	raw, err := json.Marshal(env)
	if err != nil {
		return fmt.Errorf("update queued message %s: %w", env.ID, err)
	}
	err = s.update(ctx, func(w *wtx) error {
		res, err := w.exec(`UPDATE queue SET next_attempt = $2, lease_owner = $3, lease_until = $4, attempts = $5, envelope = $6 WHERE id = $1`,
			env.ID, micros(env.NextAttempt), env.LeaseOwner, micros(env.LeaseUntil), env.Attempts, string(raw))
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return store.ErrNotFound
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("update queued message %s: %w", env.ID, err)
	}
	return nil
}

// RemoveQueued implements store.QueueStore.
func (s *Store) RemoveQueued(ctx context.Context, id string) error {
	err := s.update(ctx, func(w *wtx) error {
		var key string
		if err := w.queryRow("SELECT blob FROM queue WHERE id = $1", id).Scan(&key); err != nil {
			if err == sql.ErrNoRows {
				return store.ErrNotFound
			}
			return err
		}
		if _, err := w.exec("DELETE FROM queue WHERE id = $1", id); err != nil {
			return err
		}
		if key != "" && validKey(key) {
			w.afterCommit(func() { s.blobs.remove(key) })
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("remove queued message %s: %w", id, err)
	}
	return nil
}

// ClaimQueued implements store.QueueStore. The single writer makes the
// select-then-update atomic.
func (s *Store) ClaimQueued(ctx context.Context, c store.QueueClaim) ([]store.QueueEnvelope, time.Time, error) {
	if c.Limit <= 0 {
		return nil, time.Time{}, nil
	}
	var claimed []store.QueueEnvelope
	var next time.Time
	err := s.update(ctx, func(w *wtx) error {
		claimed, next = nil, time.Time{}
		now := time.Now().UTC()
		until := now.Add(c.Lease)
		rows, err := w.QueryContext(w.ctx, "SELECT "+queueColumns+` FROM queue
			WHERE next_attempt <= $1 AND (lease_owner = '' OR lease_until <= $1
				OR ($2 != '' AND substr(lease_owner, 1, length($2)) = $2 AND lease_owner != $3))
			ORDER BY next_attempt, id LIMIT $4`, micros(now), c.StalePrefix, c.Owner, c.Limit)
		if err != nil {
			return err
		}
		for rows.Next() {
			env, err := scanQueued(rows)
			if err != nil {
				rows.Close()
				return err
			}
			claimed = append(claimed, env)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		for i := range claimed {
			env := &claimed[i]
			env.LeaseOwner, env.LeaseUntil, env.Attempts = c.Owner, until.Truncate(time.Microsecond), env.Attempts+1
			if _, err := w.exec("UPDATE queue SET lease_owner = $2, lease_until = $3, attempts = $4 WHERE id = $1",
				env.ID, env.LeaseOwner, micros(env.LeaseUntil), env.Attempts); err != nil {
				return err
			}
		}
		var n sql.NullInt64
		if err := w.queryRow(`SELECT min(CASE WHEN lease_owner != '' AND lease_until > next_attempt THEN lease_until ELSE next_attempt END)
			FROM queue`).Scan(&n); err != nil {
			return err
		}
		if n.Valid {
			next = fromMicros(n.Int64)
		}
		return nil
	})
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("claim queued messages: %w", err)
	}
	return claimed, next, nil
}

// AddCount implements store.CounterStore.
func (s *Store) AddCount(ctx context.Context, key string, n int64, at time.Time, bucket, window time.Duration) (int64, error) {
	first, current := store.CounterBuckets(at, bucket, window)
	var total int64
	err := s.update(ctx, func(w *wtx) error {
		if _, err := w.exec(`INSERT INTO counters (key, bucket, n) VALUES ($1, $2, $3)
			ON CONFLICT (key, bucket) DO UPDATE SET n = n + excluded.n`, key, current, n); err != nil {
			return err
		}
		if _, err := w.exec("DELETE FROM counters WHERE key = $1 AND bucket < $2", key, first); err != nil {
			return err
		}
		if rand.IntN(256) == 0 {
			if _, err := w.exec("DELETE FROM counters WHERE bucket < $1", at.Add(-store.CounterOldest).Unix()); err != nil {
				return err
			}
		}
		return w.queryRow("SELECT coalesce(sum(n), 0) FROM counters WHERE key = $1 AND bucket >= $2", key, first).Scan(&total)
	})
	if err != nil {
		return 0, fmt.Errorf("count %s: %w", key, err)
	}
	return total, nil
}

// Count implements store.CounterStore.
func (s *Store) Count(ctx context.Context, key string, at time.Time, bucket, window time.Duration) (int64, error) {
	if err := s.checkOpen(); err != nil {
		return 0, err
	}
	first, _ := store.CounterBuckets(at, bucket, window)
	var total int64
	if err := s.read.QueryRowContext(ctx, "SELECT coalesce(sum(n), 0) FROM counters WHERE key = $1 AND bucket >= $2", key, first).Scan(&total); err != nil {
		return 0, fmt.Errorf("count %s: %w", key, err)
	}
	return total, nil
}

// ResetCount implements store.CounterStore.
func (s *Store) ResetCount(ctx context.Context, key string) error {
	err := s.update(ctx, func(w *wtx) error {
		_, err := w.exec("DELETE FROM counters WHERE key = $1", key)
		return err
	})
	if err != nil {
		return fmt.Errorf("reset count %s: %w", key, err)
	}
	return nil
}

// maildropLocks is the in-process POP3 maildrop lock: one process owns
// a SQLite data folder.
type maildropLocks struct {
	mu   sync.Mutex
	held map[int64]struct{}
}

// LockMaildrop implements store.MaildropLocker.
func (s *Store) LockMaildrop(ctx context.Context, accountID int64) (func(), bool, error) {
	if err := s.checkOpen(); err != nil {
		return nil, false, err
	}
	l := &s.maildrops
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, busy := l.held[accountID]; busy {
		return nil, false, nil
	}
	if l.held == nil {
		l.held = make(map[int64]struct{})
	}
	l.held[accountID] = struct{}{}
	var once sync.Once
	return func() {
		once.Do(func() {
			l.mu.Lock()
			defer l.mu.Unlock()
			delete(l.held, accountID)
		})
	}, true, nil
}

// QueueWakeups implements store.QueueStore. It returns nil: the admin
// commands of other processes (pochta queue retry) write the database
// file directly, and no in-process signal would tell of them, so the
// delivery engine polls. Enqueues of this process wake the engine
// directly (queue.Runner.Notify).
func (s *Store) QueueWakeups(ctx context.Context) <-chan struct{} { return nil }
