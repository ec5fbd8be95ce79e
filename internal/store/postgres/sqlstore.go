package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/pochta-mail/pochta/internal/store"
	"github.com/pochta-mail/pochta/internal/store/sqlstore"
)

// backend gives the shared SQL code (sqlstore) this store's write
// transactions, its pool and PostgreSQL's dialect: times as timestamptz,
// NULL for none where a column allows it.
type backend struct{ s *Store }

// Update implements sqlstore.Backend: fn runs in a transaction that is run
// again after a deadlock or a serialization failure.
func (b backend) Update(ctx context.Context, fn func(tx sqlstore.Tx) error) error {
	return b.s.update(ctx, func(w *wtx) error { return fn(pgTx{w}) })
}

// Read implements sqlstore.Backend.
func (b backend) Read() (sqlstore.Reader, error) {
	if err := b.s.checkOpen(); err != nil {
		return nil, err
	}
	return pgReader{b.s.pool}, nil
}

// Seconds implements sqlstore.Dialect.
func (backend) Seconds(t time.Time) any { return t.UTC().Truncate(time.Second) }

// Micros implements sqlstore.Dialect.
func (backend) Micros(t time.Time) any { return t }

// NullMicros implements sqlstore.Dialect.
func (backend) NullMicros(t time.Time) any { return nullExact(t) }

// IsUnique implements sqlstore.Dialect.
func (backend) IsUnique(err error) bool { return isUnique(err) }

// IsForeignKey implements sqlstore.Dialect.
func (backend) IsForeignKey(err error) bool { return isForeignKey(err) }

// pgTx is a write transaction as sqlstore runs statements in it.
type pgTx struct{ w *wtx }

// Exec implements sqlstore.Tx.
func (t pgTx) Exec(query string, args ...any) (int64, error) {
	tag, err := t.w.exec(query, args...)
	return tag.RowsAffected(), err
}

// QueryRow implements sqlstore.Tx.
func (t pgTx) QueryRow(query string, args ...any) sqlstore.Row { return t.w.queryRow(query, args...) }

// Query implements sqlstore.Tx.
func (t pgTx) Query(query string, args ...any) (sqlstore.Rows, error) {
	return t.w.Query(t.w.ctx, query, args...)
}

// AfterCommit implements sqlstore.Tx.
func (t pgTx) AfterCommit(f func()) { t.w.afterCommit(f) }

// Publish implements sqlstore.Tx.
func (t pgTx) Publish(ev store.Event) { t.w.publish(ev) }

// pgReader runs sqlstore's reads on the pool.
type pgReader struct{ pool *pgxpool.Pool }

// QueryRow implements sqlstore.Reader.
func (r pgReader) QueryRow(ctx context.Context, query string, args ...any) sqlstore.Row {
	return r.pool.QueryRow(ctx, query, args...)
}

// Query implements sqlstore.Reader.
func (r pgReader) Query(ctx context.Context, query string, args ...any) (sqlstore.Rows, error) {
	return r.pool.Query(ctx, query, args...)
}

// SkipLocked implements sqlstore.Dialect.
func (backend) SkipLocked() string { return " FOR UPDATE SKIP LOCKED" }

// QueueChanged implements sqlstore.Backend.
func (b backend) QueueChanged() { b.s.queueChanged() }

// RemoveBody implements sqlstore.Backend.
func (b backend) RemoveBody(ctx context.Context, key string) {
	if err := b.s.blobs.remove(ctx, []string{key}); err != nil {
		b.s.log.Warn("store: queued body not removed", "key", key, "err", err)
	}
}

// NullSeconds implements sqlstore.Dialect.
func (backend) NullSeconds(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	t = t.UTC().Truncate(time.Second)
	return &t
}

// ForShare implements sqlstore.Dialect.
func (backend) ForShare() string { return " FOR SHARE" }

// ForUpdate implements sqlstore.Dialect.
func (backend) ForUpdate() string { return " FOR UPDATE" }

// Strings implements sqlstore.Dialect: a text[], never NULL.
func (backend) Strings(ss []string) any {
	if ss == nil {
		return []string{}
	}
	return ss
}

// ScanStrings implements sqlstore.Dialect.
func (backend) ScanStrings(ss *[]string) any { return ss }

// LockAddress implements sqlstore.Backend.
func (backend) LockAddress(tx sqlstore.Tx, addr string) error { return lockAddress(tx, addr) }
