package postgres

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pochta-mail/pochta/internal/mimeparse"
	"github.com/pochta-mail/pochta/internal/store"
	"github.com/pochta-mail/pochta/internal/store/sqlstore"
)

// nullExact is nil for the zero time, else the time to the microsecond.
func nullExact(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

// EnqueueMessage implements store.QueueStore. The queue's SQL is shared
// (sqlstore); the body is stored here, before the transaction.
func (s *Store) EnqueueMessage(ctx context.Context, env store.QueueEnvelope, body io.Reader) (string, error) {
	if err := s.checkOpen(); err != nil {
		return "", err
	}
	env, raw, err := sqlstore.NewQueued(env)
	if err != nil {
		return "", err
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
		return sqlstore.InsertQueued(backend{s}, pgTx{w}, env, raw, key, inline, int64(buf.Len()))
	})
	if err != nil {
		if key != "" {
			s.blobs.remove(context.WithoutCancel(ctx), []string{key})
		}
		return "", fmt.Errorf("enqueue: %w", err)
	}
	return env.ID, nil
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
