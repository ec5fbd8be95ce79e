package postgres

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"sort"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pochta-mail/pochta/internal/mimeparse"
	"github.com/pochta-mail/pochta/internal/store"
)

// queueColumns are read by scanQueued.
const queueColumns = "id, next_attempt, lease_owner, lease_until, attempts, envelope"

// scanQueued reads a queue row: the JSON envelope with the columns laid
// over it.
func scanQueued(r pgx.Row) (store.QueueEnvelope, error) {
	var env store.QueueEnvelope
	var id, owner, raw string
	var next time.Time
	var until *time.Time
	var attempts int
	if err := r.Scan(&id, &next, &owner, &until, &attempts, &raw); err != nil {
		return env, err
	}
	if err := json.Unmarshal([]byte(raw), &env); err != nil {
		return env, fmt.Errorf("queued message %s: bad envelope: %w", id, err)
	}
	env.ID, env.NextAttempt, env.LeaseOwner, env.Attempts = id, next.UTC(), owner, attempts
	env.LeaseUntil = time.Time{}
	if until != nil {
		env.LeaseUntil = until.UTC()
	}
	return env, nil
}

// nullExact is nil for the zero time, else the time to the microsecond.
func nullExact(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
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
	var buf bytes.Buffer
	nw := mimeparse.NormalizeCRLF(&buf)
	if _, err := io.Copy(nw, body); err != nil {
		return "", fmt.Errorf("enqueue: read body: %w", err)
	}
	if err := nw.Close(); err != nil {
		return "", fmt.Errorf("enqueue: read body: %w", err)
	}
	key, inline, err := s.blobs.put(ctx, buf.Bytes())
	if err != nil {
		return "", fmt.Errorf("enqueue: store body: %w", err)
	}
	err = s.update(ctx, func(w *wtx) error {
		_, err := w.exec(`INSERT INTO queue (id, next_attempt, lease_owner, lease_until, attempts, envelope, blob, data, size)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
			env.ID, env.NextAttempt, env.LeaseOwner, nullExact(env.LeaseUntil), env.Attempts, string(raw), key, inline, int64(buf.Len()))
		if isUnique(err) {
			return fmt.Errorf("queued message %s: %w", env.ID, store.ErrExists)
		}
		if err != nil {
			return err
		}
		w.afterCommit(s.queueChanged)
		return nil
	})
	if err != nil {
		if key != "" {
			s.blobs.remove(context.WithoutCancel(ctx), []string{key})
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
	rows, err := s.pool.Query(ctx, "SELECT "+queueColumns+" FROM queue ORDER BY id")
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
	if err := s.pool.QueryRow(ctx, "SELECT blob, data, size FROM queue WHERE id = $1", id).Scan(&key, &data, &size); err != nil {
		return nil, notFound(err, "queued message "+id)
	}
	if key == "" {
		return inlineBody{bytes.NewReader(data)}, nil
	}
	b, err := s.blobs.open(ctx, key, size)
	if err != nil {
		return nil, fmt.Errorf("queued message %s: %w", id, err)
	}
	return b, nil
}

// UpdateQueued implements store.QueueStore.
func (s *Store) UpdateQueued(ctx context.Context, env store.QueueEnvelope) error {
	raw, err := json.Marshal(env)
	if err != nil {
		return fmt.Errorf("update queued message %s: %w", env.ID, err)
	}
	err = s.update(ctx, func(w *wtx) error {
		tag, err := w.exec(`UPDATE queue SET next_attempt = $2, lease_owner = $3, lease_until = $4, attempts = $5, envelope = $6 WHERE id = $1`,
			env.ID, env.NextAttempt, env.LeaseOwner, nullExact(env.LeaseUntil), env.Attempts, string(raw))
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return store.ErrNotFound
		}
		if store.QueueWakeupDue(env, time.Now()) {
			w.afterCommit(s.queueChanged)
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
	blobs := s.blobs
	err := s.update(ctx, func(w *wtx) error {
		var key string
		if err := w.queryRow("DELETE FROM queue WHERE id = $1 RETURNING blob", id).Scan(&key); err != nil {
			if errors.Is(err, pgx.ErrNoRows) {
				return store.ErrNotFound
			}
			return err
		}
		if key != "" {
			w.afterCommit(func() {
				if err := blobs.remove(context.WithoutCancel(ctx), []string{key}); err != nil {
					s.log.Warn("store: queued body not removed", "key", key, "err", err)
				}
			})
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("remove queued message %s: %w", id, err)
	}
	return nil
}

// ClaimQueued implements store.QueueStore with FOR UPDATE SKIP LOCKED:
// concurrent claimers on any node pass over each other's rows, and the
// lock's re-check of the condition keeps a row just claimed (and
// committed) by another from being claimed again.
func (s *Store) ClaimQueued(ctx context.Context, c store.QueueClaim) ([]store.QueueEnvelope, time.Time, error) {
	if c.Limit <= 0 {
		return nil, time.Time{}, nil
	}
	var claimed []store.QueueEnvelope
	var next time.Time
	err := s.update(ctx, func(w *wtx) error {
		claimed, next = nil, time.Time{}
		now := time.Now().UTC()
		rows, err := w.Query(w.ctx, `UPDATE queue SET lease_owner = $3, lease_until = $5, attempts = attempts + 1
			WHERE id IN (SELECT id FROM queue
				WHERE next_attempt <= $1 AND (lease_owner = '' OR lease_until IS NULL OR lease_until <= $1
					OR ($2 <> '' AND starts_with(lease_owner, $2) AND lease_owner <> $3))
				ORDER BY next_attempt, id LIMIT $4 FOR UPDATE SKIP LOCKED)
			RETURNING `+queueColumns, now, c.StalePrefix, c.Owner, c.Limit, now.Add(c.Lease))
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
		sort.Slice(claimed, func(i, j int) bool {
			a, b := claimed[i], claimed[j]
			if !a.NextAttempt.Equal(b.NextAttempt) {
				return a.NextAttempt.Before(b.NextAttempt)
			}
			return a.ID < b.ID
		})
		var n *time.Time
		if err := w.queryRow(`SELECT min(CASE WHEN lease_owner <> '' AND lease_until > next_attempt THEN lease_until ELSE next_attempt END)
			FROM queue`).Scan(&n); err != nil {
			return err
		}
		if n != nil {
			next = n.UTC()
		}
		return nil
	})
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("claim queued messages: %w", err)
	}
	return claimed, next, nil
}

// QueueWakeups implements store.QueueStore: this process's enqueues (and
// updates that make a message due) signal at commit, those of other
// processes through NOTIFY on queueChannel, received by the listener.
func (s *Store) QueueWakeups(ctx context.Context) <-chan struct{} {
	return s.queueWake.subscribe(ctx)
}

// queueChanged tells the delivery engines of this process at once, and
// those of the other processes through the notifier, that there may be
// queued work.
func (s *Store) queueChanged() {
	s.queueWake.signal()
	s.notifier.sendQueue()
}

// AddCount implements store.CounterStore.
func (s *Store) AddCount(ctx context.Context, key string, n int64, at time.Time, bucket, window time.Duration) (int64, error) {
	first, current := store.CounterBuckets(at, bucket, window)
	var total int64
	err := s.update(ctx, func(w *wtx) error {
		if _, err := w.exec(`INSERT INTO counters (key, bucket, n) VALUES ($1, $2, $3)
			ON CONFLICT (key, bucket) DO UPDATE SET n = counters.n + excluded.n`, key, current, n); err != nil {
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
		return w.queryRow("SELECT coalesce(sum(n), 0)::bigint FROM counters WHERE key = $1 AND bucket >= $2", key, first).Scan(&total)
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
	if err := s.pool.QueryRow(ctx, "SELECT coalesce(sum(n), 0)::bigint FROM counters WHERE key = $1 AND bucket >= $2", key, first).Scan(&total); err != nil {
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

// maildropLockKey is the advisory lock key of an account's POP3
// maildrop: the account id negated, so that it never meets the migration
// lock's key (a large positive number).
func maildropLockKey(accountID int64) int64 { return -accountID }

// maildropLocker holds the POP3 maildrop locks of this process as
// session-level advisory locks on one connection of its own: a lock lives
// as long as that connection, so when the process dies PostgreSQL frees
// its locks. Advisory locks are re-entrant within a session, so the
// locks this process holds are also kept in held and checked first.
type maildropLocker struct {
	cfg *pgx.ConnConfig
	log *slog.Logger

	mu     sync.Mutex
	conn   *pgx.Conn
	held   map[int64]struct{}
	closed bool
}

// connLocked returns the lock connection, connecting (and taking the held
// locks again) after it was lost. l.mu is held.
func (l *maildropLocker) connLocked(ctx context.Context) (*pgx.Conn, error) {
	if l.closed {
		return nil, store.ErrClosed
	}
	if l.conn != nil && !l.conn.IsClosed() {
		return l.conn, nil
	}
	conn, err := pgx.ConnectConfig(ctx, l.cfg)
	if err != nil {
		return nil, fmt.Errorf("maildrop lock connection: %w", err)
	}
	l.conn = conn
	for id := range l.held {
		var ok bool
		if err := conn.QueryRow(ctx, "SELECT pg_try_advisory_lock($1)", maildropLockKey(id)).Scan(&ok); err != nil || !ok {
			// Another node took it while the connection was down;
			// the session here keeps its view of the maildrop.
			l.log.Warn("store: a POP3 maildrop lock was lost with its connection", "account", id, "err", err)
		}
	}
	return conn, nil
}

// lock takes an account's lock without waiting.
func (l *maildropLocker) lock(ctx context.Context, accountID int64) (func(), bool, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, busy := l.held[accountID]; busy {
		return nil, false, nil
	}
	conn, err := l.connLocked(ctx)
	if err != nil {
		return nil, false, err
	}
	var ok bool
	if err := conn.QueryRow(ctx, "SELECT pg_try_advisory_lock($1)", maildropLockKey(accountID)).Scan(&ok); err != nil {
		conn.Close(context.Background())
		return nil, false, fmt.Errorf("take maildrop lock: %w", err)
	}
	if !ok {
		return nil, false, nil
	}
	l.held[accountID] = struct{}{}
	var once sync.Once
	return func() { once.Do(func() { l.unlock(accountID) }) }, true, nil
}

// unlock gives an account's lock back.
func (l *maildropLocker) unlock(accountID int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.held, accountID)
	if l.conn == nil || l.conn.IsClosed() {
		return // the lock went with the connection
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := l.conn.Exec(ctx, "SELECT pg_advisory_unlock($1)", maildropLockKey(accountID)); err != nil {
		// Dropping the connection frees the lock for sure; the others
		// are taken again on the next connection.
		l.log.Warn("store: maildrop unlock failed; reconnecting", "account", accountID, "err", err)
		l.conn.Close(context.Background())
	}
}

// close drops the connection and with it every lock.
func (l *maildropLocker) close() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.closed = true
	if l.conn != nil {
		l.conn.Close(context.Background())
	}
}

// LockMaildrop implements store.MaildropLocker.
func (s *Store) LockMaildrop(ctx context.Context, accountID int64) (func(), bool, error) {
	if err := s.checkOpen(); err != nil {
		return nil, false, err
	}
	return s.maildrops.lock(ctx, accountID)
}
