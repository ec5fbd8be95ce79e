// Package sqlite is pochta's embedded store: metadata in one SQLite database
// (WAL, full synchronous commits) and message bodies as files under the data
// folder.
//
// Writes go through one writer goroutine that groups the transactions
// waiting for it into one SQLite commit (group commit): concurrent
// deliveries share the WAL fsync instead of queueing for one each. Bodies are
// written and fsynced by the delivering goroutine itself, in parallel, before
// their metadata is committed; the writer fsyncs the blob directories of a
// batch once before its commit. A crash therefore leaves either a committed
// message whose body is on disk, or an orphan file that Open removes.
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/pochta-mail/pochta/internal/store"
	"github.com/pochta-mail/pochta/internal/store/sqlstore"

	_ "modernc.org/sqlite" // database/sql driver "sqlite"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// Options configure Open.
type Options struct {
	// Dir is the data folder: pochta.db and blobs/ live in it.
	Dir string
	// Logger receives the store's logs; nil means slog.Default().
	Logger *slog.Logger
	// RemoveOrphans deletes body files that no committed message refers
	// to (left by a crash mid-delivery). Only the process that owns the
	// data folder (pochta serve) may do it: another process's delivery in
	// progress looks like an orphan.
	RemoveOrphans bool
	// MaxBatch caps how many transactions one group commit takes
	// (default 256).
	MaxBatch int
}

// Store is the SQLite store. It implements store.Store.
type Store struct {
	// Queries is the SQL shared with the PostgreSQL store; its methods
	// implement part of store.Store.
	*sqlstore.Queries

	dir   string
	log   *slog.Logger
	read  *sql.DB
	write *sql.DB
	blobs *blobStore
	hub   *store.Hub

	reqs     chan *writeReq
	closing  chan struct{}
	done     chan struct{}
	closeMu  sync.RWMutex
	closed   bool
	maxBatch int

	// stmts caches statements prepared on the write connection; only the
	// writer goroutine uses it.
	stmts map[string]*sql.Stmt
	// readStmts caches statements prepared on the read pool.
	readStmts *stmtCache

	// maildrops are the POP3 maildrop locks held in this process.
	maildrops maildropLocks
}

var _ store.Store = (*Store)(nil)

// Open opens (creating if needed) the store in opts.Dir and brings its
// schema up to date.
func Open(ctx context.Context, opts Options) (*Store, error) {
	if opts.Dir == "" {
		return nil, errors.New("open store: no data folder given")
	}
	if err := os.MkdirAll(opts.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("open store: %w", err)
	}
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	dbPath := filepath.Join(opts.Dir, "pochta.db")
	q := url.Values{}
	for _, p := range []string{"journal_mode(WAL)", "synchronous(FULL)", "busy_timeout(15000)", "foreign_keys(ON)"} {
		q.Add("_pragma", p)
	}
	// A URI filename, so that a folder name with '?' or '#' is escaped
	// rather than read as the start of the options. Read transactions
	// begin DEFERRED: they take no lock until they read and never the
	// write lock (an IMMEDIATE one would queue every read transaction
	// behind the writer and each other); writes begin IMMEDIATE.
	readDSN := (&url.URL{Scheme: "file", OmitHost: true, Path: dbPath, RawQuery: q.Encode()}).String()
	q.Set("_txlock", "immediate")
	dsn := (&url.URL{Scheme: "file", OmitHost: true, Path: dbPath, RawQuery: q.Encode()}).String()
	write, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("open store %s: %w", dbPath, err)
	}
	// Transactions run on one connection (the writer goroutine's); the
	// second lets a statement be prepared while that one is inside a
	// transaction (the transaction then prepares it on its own
	// connection once, and database/sql keeps it for reuse).
	write.SetMaxOpenConns(2)
	write.SetMaxIdleConns(2)
	write.SetConnMaxLifetime(0)
	if err := migrate(ctx, write); err != nil {
		write.Close()
		return nil, fmt.Errorf("open store %s: %w", dbPath, err)
	}
	read, err := sql.Open("sqlite", readDSN)
	if err != nil {
		write.Close()
		return nil, fmt.Errorf("open store %s: %w", dbPath, err)
	}
	read.SetMaxOpenConns(8)
	read.SetMaxIdleConns(8)
	blobs, err := newBlobStore(filepath.Join(opts.Dir, "blobs"))
	if err != nil {
		write.Close()
		read.Close()
		return nil, fmt.Errorf("open store: %w", err)
	}
	s := &Store{
		dir: opts.Dir, log: log, read: read, write: write, blobs: blobs,
		hub:      store.NewHub(),
		reqs:     make(chan *writeReq, 1024),
		closing:  make(chan struct{}),
		done:     make(chan struct{}),
		maxBatch: opts.MaxBatch,
		stmts:    make(map[string]*sql.Stmt),
	}
	s.readStmts = newStmtCache(read)
	s.Queries = sqlstore.New(backend{s})
	if s.maxBatch <= 0 {
		s.maxBatch = 256
	}
	if opts.RemoveOrphans {
		if err := s.removeOrphans(ctx); err != nil {
			s.write.Close()
			s.read.Close()
			return nil, fmt.Errorf("open store: %w", err)
		}
	}
	go s.writer()
	return s, nil
}

// Close finishes pending writes and closes the database.
func (s *Store) Close() error {
	s.closeMu.Lock()
	if s.closed {
		s.closeMu.Unlock()
		return nil
	}
	s.closed = true
	close(s.closing)
	s.closeMu.Unlock()
	<-s.done
	s.hub.CloseAll()
	for _, st := range s.stmts {
		st.Close()
	}
	s.readStmts.close()
	err1 := s.write.Close()
	err2 := s.read.Close()
	return errors.Join(err1, err2)
}

// Subscribe implements store.Store.
func (s *Store) Subscribe(accountID int64) *store.Subscription {
	return s.hub.Subscribe(accountID)
}

// migrate applies the embedded migrations newer than the database's
// user_version, each in its own transaction.
func migrate(ctx context.Context, db *sql.DB) error {
	entries, err := migrationFiles.ReadDir("migrations")
	if err != nil {
		return fmt.Errorf("read migrations: %w", err)
	}
	type mig struct {
		version int
		name    string
	}
	var migs []mig
	for _, e := range entries {
		n, err := strconv.Atoi(strings.SplitN(e.Name(), "_", 2)[0])
		if err != nil {
			return fmt.Errorf("migration %s: bad name", e.Name())
		}
		migs = append(migs, mig{n, e.Name()})
	}
	sort.Slice(migs, func(i, j int) bool { return migs[i].version < migs[j].version })
	var current int
	if err := db.QueryRowContext(ctx, "PRAGMA user_version").Scan(&current); err != nil {
		return fmt.Errorf("read schema version: %w", err)
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
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			return fmt.Errorf("migration %s: %w", m.name, err)
		}
		// Another process may have migrated while we waited for the lock.
		var now int
		if err := tx.QueryRowContext(ctx, "PRAGMA user_version").Scan(&now); err != nil {
			tx.Rollback()
			return fmt.Errorf("migration %s: %w", m.name, err)
		}
		if now >= m.version {
			tx.Rollback()
			continue
		}
		if _, err := tx.ExecContext(ctx, string(text)); err != nil {
			tx.Rollback()
			return fmt.Errorf("migration %s: %w", m.name, err)
		}
		if _, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", m.version)); err != nil {
			tx.Rollback()
			return fmt.Errorf("migration %s: %w", m.name, err)
		}
		if err := tx.Commit(); err != nil {
			return fmt.Errorf("migration %s: %w", m.name, err)
		}
	}
	return nil
}

// writeReq is one write transaction waiting for the writer.
type writeReq struct {
	fn func(w *wtx) error
	// syncDirs are blob directories to fsync before the commit.
	syncDirs []string
	done     chan error
	events   []store.Event
	after    []func()
	index    []indexRow
}

// indexRow is one body's text for the search index.
type indexRow struct {
	bodyID        int64
	headers, body string
}

// wtx is the transaction a write request runs in, with a place to queue
// the events and clean-ups that follow a successful commit.
type wtx struct {
	*sql.Tx
	ctx   context.Context
	req   *writeReq
	store *Store
	blobs *blobStore
}

// publish queues an event to send after the commit.
func (w *wtx) publish(ev store.Event) { w.req.events = append(w.req.events, ev) }

// afterCommit queues work to do after the commit (deleting body files).
func (w *wtx) afterCommit(f func()) { w.req.after = append(w.req.after, f) }

// index queues a body's text for the search index. The rows are inserted
// after every request of the batch ran, outside the per-request
// savepoints: FTS5 flushes its pending index data at every savepoint, so
// indexing inside them would cost a flush per message.
func (w *wtx) index(bodyID int64, headers, body string) {
	w.req.index = append(w.req.index, indexRow{bodyID, headers, body})
}

// stmt returns the transaction's handle on a cached prepared statement.
func (w *wtx) stmt(query string) (*sql.Stmt, error) {
	st, ok := w.store.stmts[query]
	if !ok {
		var err error
		if st, err = w.store.write.PrepareContext(w.ctx, query); err != nil {
			return nil, err
		}
		w.store.stmts[query] = st
	}
	return w.StmtContext(w.ctx, st), nil
}

// exec runs a statement in the transaction.
func (w *wtx) exec(query string, args ...any) (sql.Result, error) {
	st, err := w.stmt(query)
	if err != nil {
		return nil, err
	}
	return st.ExecContext(w.ctx, args...)
}

// queryRow runs a query returning one row in the transaction.
func (w *wtx) queryRow(query string, args ...any) *sql.Row {
	st, err := w.stmt(query)
	if err != nil {
		// Let the error surface from Scan, as QueryRow does.
		return w.QueryRowContext(w.ctx, query, args...)
	}
	return st.QueryRowContext(w.ctx, args...)
}

// update runs fn in a write transaction, grouped with others into one
// commit. It returns fn's error, or the commit's.
func (s *Store) update(ctx context.Context, fn func(w *wtx) error, syncDirs ...string) error {
	req := &writeReq{fn: fn, syncDirs: syncDirs, done: make(chan error, 1)}
	s.closeMu.RLock()
	if s.closed {
		s.closeMu.RUnlock()
		return store.ErrClosed
	}
	select {
	case s.reqs <- req:
		s.closeMu.RUnlock()
	case <-ctx.Done():
		s.closeMu.RUnlock()
		return ctx.Err()
	}
	// Once queued, the request runs; wait for it even if ctx ends so the
	// caller never believes a committed change failed.
	return <-req.done
}

// writer runs write requests in batches, one commit per batch.
func (s *Store) writer() {
	defer close(s.done)
	for {
		var first *writeReq
		select {
		case first = <-s.reqs:
		case <-s.closing:
			// Drain what was queued before Close.
			for {
				select {
				case r := <-s.reqs:
					s.runBatch([]*writeReq{r})
				default:
					return
				}
			}
		}
		batch := []*writeReq{first}
	fill:
		for len(batch) < s.maxBatch {
			select {
			case r := <-s.reqs:
				batch = append(batch, r)
			default:
				break fill
			}
		}
		s.runBatch(batch)
	}
}

// runBatch runs each request inside a savepoint of one transaction, so a
// failing request is undone alone, then commits once.
func (s *Store) runBatch(batch []*writeReq) {
	ctx := context.Background()
	errs := make([]error, len(batch))
	finish := func(commitErr error) {
		for i, r := range batch {
			err := errs[i]
			if err == nil && commitErr != nil {
				err = commitErr
			}
			if err == nil {
				for _, ev := range r.events {
					s.hub.Publish(ev)
				}
				for _, f := range r.after {
					f()
				}
			}
			r.done <- err
		}
	}
	dirs := map[string]struct{}{}
	for _, r := range batch {
		for _, d := range r.syncDirs {
			dirs[d] = struct{}{}
		}
	}
	for d := range dirs {
		if err := syncDir(d); err != nil {
			finish(fmt.Errorf("sync blob folder: %w", err))
			return
		}
	}
	tx, err := s.write.BeginTx(ctx, nil)
	if err != nil {
		finish(fmt.Errorf("begin: %w", err))
		return
	}
	for i, r := range batch {
		if _, err := tx.ExecContext(ctx, "SAVEPOINT req"); err != nil {
			errs[i] = fmt.Errorf("savepoint: %w", err)
			continue
		}
		w := &wtx{Tx: tx, ctx: ctx, req: r, store: s, blobs: s.blobs}
		if err := r.fn(w); err != nil {
			errs[i] = err
			r.events, r.after, r.index = nil, nil, nil
			if _, rerr := tx.ExecContext(ctx, "ROLLBACK TO req"); rerr != nil {
				tx.Rollback()
				for j := range errs {
					if errs[j] == nil {
						errs[j] = fmt.Errorf("rollback to savepoint: %w", rerr)
					}
				}
				finish(nil)
				return
			}
		}
		if _, err := tx.ExecContext(ctx, "RELEASE req"); err != nil && errs[i] == nil {
			errs[i] = fmt.Errorf("release savepoint: %w", err)
		}
	}
	for i, r := range batch {
		for _, row := range r.index {
			if _, err := tx.ExecContext(ctx, "INSERT INTO search (rowid, headers, body) VALUES ($1, $2, $3)", row.bodyID, row.headers, row.body); err != nil {
				// Without its search row a body would be unsearchable:
				// fail the whole batch rather than commit it so.
				tx.Rollback()
				errs[i] = fmt.Errorf("index body: %w", err)
				finish(fmt.Errorf("index body of another delivery: %w", err))
				return
			}
		}
	}
	if err := tx.Commit(); err != nil {
		finish(fmt.Errorf("commit: %w", err))
		return
	}
	finish(nil)
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
