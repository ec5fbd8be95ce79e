package pop3

import (
	"context"
	"sync"

	"github.com/pochta-mail/pochta/internal/store"
)

// Locker gives a POP3 session the exclusive lock on an account's maildrop
// that RFC 1939 requires while the session is in the TRANSACTION state.
// StoreLocker, the default, uses the store's lock, which the PostgreSQL
// backend keeps as an advisory lock so that it holds across machines;
// MemLocker serves a single process.
type Locker interface {
	// TryLock takes the lock on an account's maildrop without waiting.
	// It returns ok false when another session holds it. When ok is true,
	// release must be called exactly once (further calls do nothing) to
	// give the lock back.
	TryLock(ctx context.Context, accountID int64) (release func(), ok bool, err error)
}

// StoreLocker is the Locker of a store: its LockMaildrop (an advisory
// lock on PostgreSQL, so the lock holds across nodes).
type StoreLocker struct {
	Store store.MaildropLocker
}

// TryLock implements Locker.
func (l StoreLocker) TryLock(ctx context.Context, accountID int64) (func(), bool, error) {
	return l.Store.LockMaildrop(ctx, accountID)
}

// MemLocker is a Locker within one process. The zero value is ready to
// use; it must not be copied after first use.
type MemLocker struct {
	mu   sync.Mutex
	held map[int64]struct{}
}

// TryLock implements Locker.
func (l *MemLocker) TryLock(_ context.Context, accountID int64) (func(), bool, error) {
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
