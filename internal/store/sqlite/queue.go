package sqlite

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/pochta-mail/pochta/internal/mimeparse"
	"github.com/pochta-mail/pochta/internal/store"
	"github.com/pochta-mail/pochta/internal/store/sqlstore"
)

// micros is a time as Unix microseconds (0 for the zero time).
func micros(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMicro()
}

// EnqueueMessage implements store.QueueStore. The queue's SQL is shared
// (sqlstore); the body is written here, as a file or inline, before the
// transaction.
func (s *Store) EnqueueMessage(ctx context.Context, env store.QueueEnvelope, body io.Reader) (string, error) {
	if err := s.checkOpen(); err != nil {
		return "", err
	}
	env, raw, err := sqlstore.NewQueued(env)
	if err != nil {
		return "", err
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
		return sqlstore.InsertQueued(backend{s}, sqlTx{w}, env, raw, b.key, b.data, b.size)
	}, syncDirs...)
	if err != nil {
		if b.key != "" {
			s.blobs.remove(b.key)
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
	if err := s.queryRow(ctx, "SELECT blob, data, size FROM queue WHERE id = $1", id).Scan(&key, &data, &size); err != nil {
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
