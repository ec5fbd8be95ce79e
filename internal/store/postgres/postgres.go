// Package postgres is pochta's shared store: everything, message bodies
// included, in one PostgreSQL database that several pochta nodes use at
// once. Bodies up to 1 MiB are bytea in their row, larger ones large
// objects read in pieces (blobs.go).
//
// Every write is one transaction on a connection of a pgx pool; concurrent
// writers share WAL flushes through PostgreSQL's own group commit. A write
// returns after its COMMIT, with synchronous_commit as the server has it
// (on by default), so a delivered message is durable when Deliver returns.
//
// UIDs, mod-sequences and quota counters are allocated with UPDATE …
// RETURNING on the folder and account rows inside the transaction: the row
// lock makes allocation correct between processes, and holding it until
// commit makes mod-sequences commit in order within a folder. Rows are
// locked in one order (folders by id, then the account) and a transaction
// that still loses a deadlock or a serialization conflict is run again.
//
// Change events reach subscribers two ways. Events of this process are
// published to its hub right after the commit. Every event is also sent
// with NOTIFY on the channel pochta_events, outside the data transaction
// (batched by a notifier goroutine, with synchronous_commit off for the
// NOTIFY transaction): NOTIFY inside the data transaction would take
// PostgreSQL's global notify lock until after the commit's WAL flush and
// so serialise every writer. A listener goroutine on its own connection
// LISTENs and publishes the events of other processes; the payload names
// the sending Store, so this process's own events, already published, are
// skipped. Events are hints (see store.Event): one lost when a process dies
// between its commit and its NOTIFY, or while a listener reconnects, only
// delays a subscriber until the next event.
//
// The outbound queue is shared: delivery engines claim messages with
// UPDATE … WHERE id IN (SELECT … FOR UPDATE SKIP LOCKED), setting a lease
// that another node respects until it expires. An enqueue, or an update
// that makes a message due now, wakes the delivery engines of every
// process: this one's at commit, the others' with a NOTIFY on
// pochta_queue, sent by the notifier and received by the listener (which
// also wakes them once after reconnecting, in case one was missed), so
// that engines need not poll often. POP3 maildrop locks are
// session-level advisory locks held on one connection of the process's
// own, so they vanish with the process.
package postgres

import (
	"context"
	"crypto/rand"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/pochta-mail/pochta/internal/store"
	"github.com/pochta-mail/pochta/internal/store/sqlstore"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// notifyChannel is the LISTEN/NOTIFY channel that carries change events
// between the processes sharing a database.
const notifyChannel = "pochta_events"

// queueChannel is the LISTEN/NOTIFY channel that wakes the delivery
// engines of the other processes when there is queued work; the payload
// is "v1 <node>".
const queueChannel = "pochta_queue"

// migrationLockKey is the pg_advisory_lock key held while migrating
// ("pochta" in ASCII, plus one).
const migrationLockKey int64 = 0x706f63687461_01

// Options configure Open.
type Options struct {
	// DSN is the PostgreSQL connection string (URL or key=value form, as
	// pgx accepts, including pool_max_conns).
	DSN string
	// Logger receives the store's logs; nil means slog.Default().
	Logger *slog.Logger
	// MaxConns caps the connection pool when the DSN does not set
	// pool_max_conns (default 32). The event listener uses one more
	// connection of its own.
	MaxConns int32
}

// Store is the PostgreSQL store. It implements store.Store.
type Store struct {
	// Queries is the SQL shared with the SQLite store; its methods
	// implement part of store.Store.
	*sqlstore.Queries

	log   *slog.Logger
	pool  *pgxpool.Pool
	blobs blobStore
	// largeObjectMin is the largest body kept as bytea; larger ones become
	// large objects (blobs.go). Tests lower it.
	largeObjectMin int64
	hub            *store.Hub
	// node names this Store in NOTIFY payloads, so that its listener
	// skips the events it published itself.
	node string

	closeMu sync.RWMutex
	closed  bool
	writes  sync.WaitGroup

	notifier *notifier
	listener *listener
	// queueWake wakes this process's delivery engines (QueueWakeups).
	queueWake *wakeups
	// maildrops holds this process's POP3 maildrop locks.
	maildrops *maildropLocker
}

var _ store.Store = (*Store)(nil)

// Open connects to the database in opts.DSN, brings its schema up to date
// and starts listening for the change events of other processes.
func Open(ctx context.Context, opts Options) (*Store, error) {
	if opts.DSN == "" {
		return nil, errors.New("open postgres store: no DSN given")
	}
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	cfg, err := pgxpool.ParseConfig(opts.DSN)
	if err != nil {
		return nil, fmt.Errorf("open postgres store: parse DSN: %w", err)
	}
	if !strings.Contains(opts.DSN, "pool_max_conns") {
		cfg.MaxConns = 32
		if opts.MaxConns > 0 {
			cfg.MaxConns = opts.MaxConns
		}
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("open postgres store: %w", err)
	}
	if err := migrate(ctx, pool, log); err != nil {
		pool.Close()
		return nil, fmt.Errorf("open postgres store: %w", err)
	}
	var rnd [8]byte
	if _, err := rand.Read(rnd[:]); err != nil {
		pool.Close()
		return nil, fmt.Errorf("open postgres store: node id: %w", err)
	}
	s := &Store{
		log:   log,
		pool:  pool,
		blobs: inlineBlobs{},
		// Bodies above 1 MiB as large objects: see blobs.go.
		largeObjectMin: defaultLargeObjectMin,
		hub:            store.NewHub(),
		node:           hex.EncodeToString(rnd[:]),
		queueWake:      newWakeups(),
		maildrops: &maildropLocker{cfg: cfg.ConnConfig.Copy(), log: log,
			held: make(map[int64]struct{})},
	}
	s.Queries = sqlstore.New(backend{s})
	s.notifier = newNotifier(pool, s.node, log)
	s.listener, err = startListener(ctx, cfg.ConnConfig.Copy(), s.node, s.hub, s.queueWake, log)
	if err != nil {
		s.notifier.close()
		pool.Close()
		return nil, fmt.Errorf("open postgres store: %w", err)
	}
	return s, nil
}

// Close waits for the writes in progress, sends their events, stops the
// listener, closes every subscription and the pool. Closing twice is
// harmless.
func (s *Store) Close() error {
	s.closeMu.Lock()
	if s.closed {
		s.closeMu.Unlock()
		return nil
	}
	s.closed = true
	s.closeMu.Unlock()
	s.writes.Wait()
	s.notifier.close()
	s.listener.close()
	s.maildrops.close()
	s.hub.CloseAll()
	s.pool.Close()
	return nil
}

// Subscribe implements store.Store.
func (s *Store) Subscribe(accountID int64) *store.Subscription {
	return s.hub.Subscribe(accountID)
}

// checkOpen returns ErrClosed after Close.
func (s *Store) checkOpen() error {
	s.closeMu.RLock()
	defer s.closeMu.RUnlock()
	if s.closed {
		return store.ErrClosed
	}
	return nil
}

// ---------------------------------------------------------------------------
// Migrations.

type migration struct {
	version int
	name    string
}

// migrations lists the embedded migrations in version order.
func migrations() ([]migration, error) {
	entries, err := migrationFiles.ReadDir("migrations")
	if err != nil {
		return nil, fmt.Errorf("read migrations: %w", err)
	}
	var migs []migration
	for _, e := range entries {
		n, err := strconv.Atoi(strings.SplitN(e.Name(), "_", 2)[0])
		if err != nil {
			return nil, fmt.Errorf("migration %s: bad name", e.Name())
		}
		migs = append(migs, migration{n, e.Name()})
	}
	sort.Slice(migs, func(i, j int) bool { return migs[i].version < migs[j].version })
	return migs, nil
}

// migrate applies the embedded migrations the database lacks, each in its
// own transaction, while holding an advisory lock so that nodes starting
// together migrate one after the other (the later ones find nothing to
// do).
func migrate(ctx context.Context, pool *pgxpool.Pool, log *slog.Logger) error {
	migs, err := migrations()
	if err != nil {
		return err
	}
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock($1)", migrationLockKey); err != nil {
		return fmt.Errorf("migrate: take migration lock: %w", err)
	}
	defer func() {
		// A failed unlock leaves the lock to the session: drop the
		// connection so that the lock goes with it.
		if _, err := conn.Exec(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock($1)", migrationLockKey); err != nil {
			conn.Conn().Close(context.Background())
		}
	}()
	if _, err := conn.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    integer PRIMARY KEY,
		name       text NOT NULL,
		applied_at timestamptz NOT NULL DEFAULT now())`); err != nil {
		return fmt.Errorf("migrate: make migrations table: %w", err)
	}
	var current int
	if err := conn.QueryRow(ctx, "SELECT coalesce(max(version), 0) FROM schema_migrations").Scan(&current); err != nil {
		return fmt.Errorf("migrate: read schema version: %w", err)
	}
	if n := len(migs); n > 0 && current > migs[n-1].version {
		return fmt.Errorf("database schema version %d is newer than this program's %d", current, migs[n-1].version)
	}
	for _, m := range migs {
		if m.version <= current {
			continue
		}
		text, err := migrationFiles.ReadFile("migrations/" + m.name)
		if err != nil {
			return fmt.Errorf("read migration %s: %w", m.name, err)
		}
		err = pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			// Simple protocol: a migration is several statements.
			if _, err := tx.Exec(ctx, string(text), pgx.QueryExecModeSimpleProtocol); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)", m.version, m.name)
			return err
		})
		if err != nil {
			return fmt.Errorf("migration %s: %w", m.name, err)
		}
		log.Info("store schema migrated", "version", m.version, "name", m.name)
	}
	return nil
}

// ---------------------------------------------------------------------------
// Write transactions.

// wtx is the transaction a write runs in, with the events to publish after
// its commit.
type wtx struct {
	pgx.Tx
	ctx    context.Context
	store  *Store
	events []store.Event
	after  []func()
}

// publish queues an event to send after the commit.
func (w *wtx) publish(ev store.Event) { w.events = append(w.events, ev) }

// afterCommit queues work to do after the commit.
func (w *wtx) afterCommit(f func()) { w.after = append(w.after, f) }

// exec runs a statement in the transaction.
func (w *wtx) exec(query string, args ...any) (pgconn.CommandTag, error) {
	return w.Exec(w.ctx, query, args...)
}

// queryRow runs a query returning one row in the transaction.
func (w *wtx) queryRow(query string, args ...any) pgx.Row {
	return w.QueryRow(w.ctx, query, args...)
}

// maxAttempts bounds how often a write that lost a deadlock or a
// serialization conflict is run.
const maxAttempts = 8

// update runs fn in a transaction and commits it, running it again (fn must
// start from scratch each time) when PostgreSQL aborted it for a deadlock or
// a serialization failure. After the commit it publishes fn's events.
// Once fn has succeeded the commit is not cancelled by ctx, so that a
// caller never believes a committed change failed.
func (s *Store) update(ctx context.Context, fn func(w *wtx) error) error {
	s.closeMu.RLock()
	if s.closed {
		s.closeMu.RUnlock()
		return store.ErrClosed
	}
	s.writes.Add(1)
	s.closeMu.RUnlock()
	defer s.writes.Done()
	var err error
	for attempt := 1; ; attempt++ {
		var w *wtx
		w, err = s.runTx(ctx, fn)
		if err == nil {
			for _, ev := range w.events {
				s.hub.Publish(ev)
			}
			s.notifier.send(w.events)
			for _, f := range w.after {
				f()
			}
			return nil
		}
		if !retryable(err) || attempt == maxAttempts || ctx.Err() != nil {
			return err
		}
		// Back off a little, more each time, before running it again.
		time.Sleep(time.Duration(attempt*attempt) * time.Millisecond)
	}
}

// runTx runs fn in one transaction and commits it.
func (s *Store) runTx(ctx context.Context, fn func(w *wtx) error) (*wtx, error) {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return nil, fmt.Errorf("begin: %w", err)
	}
	w := &wtx{Tx: tx, ctx: ctx, store: s}
	if err := fn(w); err != nil {
		tx.Rollback(context.WithoutCancel(ctx))
		return nil, err
	}
	if err := tx.Commit(context.WithoutCancel(ctx)); err != nil {
		return nil, fmt.Errorf("commit: %w", err)
	}
	return w, nil
}

// SQLSTATE codes the store looks at.
const (
	codeUniqueViolation      = "23505"
	codeForeignKeyViolation  = "23503"
	codeSerializationFailure = "40001"
	codeDeadlockDetected     = "40P01"
)

// pgCode returns the SQLSTATE of a PostgreSQL error, or "".
func pgCode(err error) string {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code
	}
	return ""
}

// isUnique reports a UNIQUE or PRIMARY KEY violation.
func isUnique(err error) bool { return pgCode(err) == codeUniqueViolation }

// isForeignKey reports a foreign key violation.
func isForeignKey(err error) bool { return pgCode(err) == codeForeignKeyViolation }

// retryable reports an error after which the transaction may succeed when
// run again.
func retryable(err error) bool {
	switch pgCode(err) {
	case codeSerializationFailure, codeDeadlockDetected:
		return true
	}
	return false
}

// notFound maps pgx.ErrNoRows to store.ErrNotFound with context.
func notFound(err error, what string) error {
	if errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("%s: %w", what, store.ErrNotFound)
	}
	return fmt.Errorf("%s: %w", what, err)
}

// ---------------------------------------------------------------------------
// Reads.

// readTx runs fn in a read-only REPEATABLE READ transaction, so that its
// queries see one snapshot.
func (s *Store) readTx(ctx context.Context, fn func(tx pgx.Tx) error) error {
	if err := s.checkOpen(); err != nil {
		return err
	}
	return pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, fn)
}
