// Package sqlstore holds the SQL logic the SQL backends of store.Store
// (store/sqlite and store/postgres) share. The statements are written once,
// with $N placeholders (both modernc SQLite and PostgreSQL bind them), in
// the SQL both databases accept; a backend gives what differs through
// Backend: its write transactions (SQLite's group commit, PostgreSQL's
// retried transactions), the handle reads run on, the hooks of what it
// keeps outside the shared tables (bodies, queue wake-ups, address locks),
// and a Dialect (how a time is stored, how a row is locked, how a
// constraint violation is recognised).
//
// A backend embeds *Queries in its Store, so that the methods here
// implement that part of store.Store; it keeps only what is truly its own
// (connection setup, migrations, bodies, notifications, locks).
package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/pochta-mail/pochta/internal/store"
)

// Row is one result row (database/sql's *sql.Row, pgx.Row). Scan returns
// an error that wraps sql.ErrNoRows when there was no row.
type Row interface {
	Scan(dest ...any) error
}

// Rows is a result set being read.
type Rows interface {
	Next() bool
	Scan(dest ...any) error
	Err() error
	Close()
}

// Tx is a write transaction. It carries its own context: SQLite runs it in
// its writer goroutine, not under the caller's.
type Tx interface {
	// Exec runs a statement and returns how many rows it changed.
	Exec(query string, args ...any) (int64, error)
	// QueryRow runs a query for one row.
	QueryRow(query string, args ...any) Row
	// Query runs a query for many rows.
	Query(query string, args ...any) (Rows, error)
	// AfterCommit queues f to run once the transaction is committed.
	AfterCommit(f func())
	// Publish queues a change event to send once the transaction is
	// committed.
	Publish(ev store.Event)
}

// Reader runs the queries made outside a write transaction.
type Reader interface {
	// QueryRow runs a query for one row.
	QueryRow(ctx context.Context, query string, args ...any) Row
	// Query runs a query for many rows.
	Query(ctx context.Context, query string, args ...any) (Rows, error)
}

// Dialect is what differs between the SQL databases in the statements
// here: how times and lists are stored, how rows are locked and how errors
// are told apart. Times are
// integers in SQLite (Unix seconds or microseconds, 0 for none) and
// timestamps in PostgreSQL (NULL for none where the column allows it);
// ScanSeconds and ScanMicros read both.
type Dialect interface {
	// Seconds is t as the parameter of a column that keeps whole
	// seconds.
	Seconds(t time.Time) any
	// NullSeconds is Seconds for a column where the zero time means
	// none.
	NullSeconds(t time.Time) any
	// Micros is t as the parameter of a column that keeps microseconds
	// and is never empty.
	Micros(t time.Time) any
	// NullMicros is Micros for a column where the zero time means none.
	NullMicros(t time.Time) any
	// IsUnique reports a UNIQUE or PRIMARY KEY violation.
	IsUnique(err error) bool
	// IsForeignKey reports a foreign key violation.
	IsForeignKey(err error) bool
	// SkipLocked is the clause, with a leading space, that ends the
	// SELECT of the rows an UPDATE claims so that concurrent claimers
	// pass over each other's rows ("" where writers are serialised).
	SkipLocked() string
	// ForShare and ForUpdate are the clauses, with a leading space, that
	// lock the rows a SELECT reads until the end of the transaction,
	// against a change or against any other lock ("" where writers are
	// serialised).
	ForShare() string
	ForUpdate() string
	// Strings is a list of words as the parameter of a list column.
	Strings(ss []string) any
	// ScanStrings is a scan destination that reads a list column into
	// *ss.
	ScanStrings(ss *[]string) any
}

// Backend is what a SQL store gives the shared code.
type Backend interface {
	Dialect
	// Update runs fn in a write transaction and commits it. It may run
	// fn more than once (a PostgreSQL transaction that lost a deadlock
	// is run again), so fn starts from scratch each time. It returns
	// store.ErrClosed after Close.
	Update(ctx context.Context, fn func(tx Tx) error) error
	// Read returns what reads outside a transaction run on, or
	// store.ErrClosed after Close.
	Read() (Reader, error)
	// QueueChanged wakes the delivery engines after the commit of a
	// change that may make queued work due.
	QueueChanged()
	// RemoveBody removes a body kept outside its row (a file, a large
	// object) after the commit that deleted the row.
	RemoveBody(ctx context.Context, key string)
	// LockAddress serialises, until the end of tx, the writes that check
	// an address is free and then take it.
	LockAddress(tx Tx, addr string) error
}

// Queries implements the part of store.Store that the SQL backends share.
// A backend embeds it in its Store.
type Queries struct {
	b Backend
	d Dialect
	// claimSQL is ClaimQueued's statement in this dialect.
	claimSQL string
}

// New returns the shared queries of backend b.
func New(b Backend) *Queries {
	return &Queries{b: b, d: b, claimSQL: claimSQL(b)}
}

// notFound maps sql.ErrNoRows (which pgx.ErrNoRows wraps too) to
// store.ErrNotFound, with context.
func notFound(err error, what string) error {
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("%s: %w", what, store.ErrNotFound)
	}
	return fmt.Errorf("%s: %w", what, err)
}

// ScanSeconds returns a scan destination that reads a time column of
// whole seconds into *t: Unix seconds, a timestamp, or NULL or 0 for the
// zero time. The time read is in UTC.
func ScanSeconds(t *time.Time) any { return secondsDest{t} }

// ScanMicros is ScanSeconds for a column of microseconds.
func ScanMicros(t *time.Time) any { return microsDest{t} }

// secondsDest is ScanSeconds's destination (one pointer: it is no
// allocation as an interface value).
type secondsDest struct{ t *time.Time }

// Scan implements sql.Scanner.
func (d secondsDest) Scan(src any) error { return scanTime(d.t, src, time.Unix) }

// microsDest is ScanMicros's destination.
type microsDest struct{ t *time.Time }

// Scan implements sql.Scanner.
func (d microsDest) Scan(src any) error {
	return scanTime(d.t, src, func(n, _ int64) time.Time { return time.UnixMicro(n) })
}

// scanTime stores a time column's value in *t, reading an integer with
// fromInt.
func scanTime(t *time.Time, src any, fromInt func(n, nsec int64) time.Time) error {
	switch v := src.(type) {
	case nil:
		*t = time.Time{}
	case int64:
		if v == 0 {
			*t = time.Time{}
		} else {
			*t = fromInt(v, 0).UTC()
		}
	case time.Time:
		*t = v.UTC()
	default:
		return fmt.Errorf("scan time: unexpected %T", src)
	}
	return nil
}
