package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/pochta-mail/pochta/internal/store"
	"github.com/pochta-mail/pochta/internal/store/sqlstore"
)

// backend gives the shared SQL code (sqlstore) this store's write
// transactions, its read connections and SQLite's dialect: times as Unix
// seconds or microseconds, 0 for none.
type backend struct{ s *Store }

// Update implements sqlstore.Backend: fn joins the writer's next group
// commit.
func (b backend) Update(ctx context.Context, fn func(tx sqlstore.Tx) error) error {
	return b.s.update(ctx, func(w *wtx) error { return fn(sqlTx{w}) })
}

// Read implements sqlstore.Backend.
func (b backend) Read() (sqlstore.Reader, error) {
	if err := b.s.checkOpen(); err != nil {
		return nil, err
	}
	return sqlReader{b.s}, nil
}

// Seconds implements sqlstore.Dialect.
func (backend) Seconds(t time.Time) any { return unix(t) }

// Micros implements sqlstore.Dialect.
func (backend) Micros(t time.Time) any { return micros(t) }

// NullMicros implements sqlstore.Dialect.
func (backend) NullMicros(t time.Time) any { return micros(t) }

// IsUnique implements sqlstore.Dialect.
func (backend) IsUnique(err error) bool { return isUnique(err) }

// IsForeignKey implements sqlstore.Dialect.
func (backend) IsForeignKey(err error) bool {
	return err != nil && strings.Contains(err.Error(), "FOREIGN KEY")
}

// sqlTx is a write transaction as sqlstore runs statements in it, on the
// writer's cached prepared statements.
type sqlTx struct{ w *wtx }

// Exec implements sqlstore.Tx.
func (t sqlTx) Exec(query string, args ...any) (int64, error) {
	res, err := t.w.exec(query, args...)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// QueryRow implements sqlstore.Tx.
func (t sqlTx) QueryRow(query string, args ...any) sqlstore.Row { return t.w.queryRow(query, args...) }

// Query implements sqlstore.Tx.
func (t sqlTx) Query(query string, args ...any) (sqlstore.Rows, error) {
	rows, err := t.w.query(query, args...)
	if err != nil {
		return nil, err
	}
	return sqlRows{rows}, nil
}

// AfterCommit implements sqlstore.Tx.
func (t sqlTx) AfterCommit(f func()) { t.w.afterCommit(f) }

// Publish implements sqlstore.Tx.
func (t sqlTx) Publish(ev store.Event) { t.w.publish(ev) }

// sqlReader runs sqlstore's reads on the read connections, with cached
// prepared statements.
type sqlReader struct{ s *Store }

// QueryRow implements sqlstore.Reader.
func (r sqlReader) QueryRow(ctx context.Context, query string, args ...any) sqlstore.Row {
	return r.s.queryRow(ctx, query, args...)
}

// Query implements sqlstore.Reader.
func (r sqlReader) Query(ctx context.Context, query string, args ...any) (sqlstore.Rows, error) {
	rows, err := r.s.query(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	return sqlRows{rows}, nil
}

// sqlRows is *sql.Rows as sqlstore.Rows.
type sqlRows struct{ *sql.Rows }

// Close implements sqlstore.Rows.
func (r sqlRows) Close() { r.Rows.Close() }

// SkipLocked implements sqlstore.Dialect: the single writer serialises
// claims.
func (backend) SkipLocked() string { return "" }

// QueueChanged implements sqlstore.Backend. It does nothing: see
// QueueWakeups.
func (backend) QueueChanged() {}

// RemoveBody implements sqlstore.Backend: it deletes a body file.
func (b backend) RemoveBody(_ context.Context, key string) {
	if validKey(key) {
		b.s.blobs.remove(key)
	}
}

// NullSeconds implements sqlstore.Dialect.
func (backend) NullSeconds(t time.Time) any { return unix(t) }

// ForShare implements sqlstore.Dialect: the single writer needs no row
// locks.
func (backend) ForShare() string { return "" }

// ForUpdate implements sqlstore.Dialect.
func (backend) ForUpdate() string { return "" }

// Strings implements sqlstore.Dialect: a list is kept as one string,
// space-separated.
func (backend) Strings(ss []string) any { return strings.Join(ss, " ") }

// ScanStrings implements sqlstore.Dialect.
func (backend) ScanStrings(ss *[]string) any { return fieldsDest{ss} }

// fieldsDest reads a space-separated list (Strings).
type fieldsDest struct{ ss *[]string }

// Scan implements sql.Scanner.
func (d fieldsDest) Scan(src any) error {
	switch v := src.(type) {
	case string:
		*d.ss = strings.Fields(v)
	case []byte:
		*d.ss = strings.Fields(string(v))
	case nil:
		*d.ss = nil
	default:
		return fmt.Errorf("scan list: unexpected %T", src)
	}
	return nil
}

// LockAddress implements sqlstore.Backend: the single writer serialises
// the writes that check an address is free and take it.
func (backend) LockAddress(sqlstore.Tx, string) error { return nil }
