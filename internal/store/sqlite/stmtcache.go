package sqlite

import (
	"context"
	"database/sql"
	"sync"
)

// maxCachedStatements bounds a statement cache; statements beyond it are
// prepared per use (every query here is a constant, so it is not reached).
const maxCachedStatements = 512

// stmtCache keeps statements prepared on a pool of connections, keyed by
// their SQL: SQLite parses a statement on every prepare, which cost about
// an eighth of the server's CPU under imaptest's stress load when every
// read prepared its query afresh. database/sql prepares a cached
// statement once per connection it runs on.
type stmtCache struct {
	db *sql.DB
	mu sync.Mutex
	m  map[string]*sql.Stmt
}

func newStmtCache(db *sql.DB) *stmtCache {
	return &stmtCache{db: db, m: map[string]*sql.Stmt{}}
}

// get returns the cached statement of query, preparing it the first
// time; cached is false for a statement the caller must close.
func (c *stmtCache) get(ctx context.Context, query string) (st *sql.Stmt, cached bool, err error) {
	c.mu.Lock()
	st, ok := c.m[query]
	c.mu.Unlock()
	if ok {
		return st, true, nil
	}
	if st, err = c.db.PrepareContext(ctx, query); err != nil {
		return nil, false, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if old, ok := c.m[query]; ok {
		// Prepared meanwhile by another caller.
		st.Close()
		return old, true, nil
	}
	if len(c.m) >= maxCachedStatements {
		return st, false, nil
	}
	c.m[query] = st
	return st, true, nil
}

// close closes every cached statement.
func (c *stmtCache) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for q, st := range c.m {
		st.Close()
		delete(c.m, q)
	}
}

// query runs a read query with a cached statement.
func (s *Store) query(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	st, cached, err := s.readStmts.get(ctx, query)
	if err != nil {
		return nil, err
	}
	if !cached {
		// Closing waits for the rows to be closed (database/sql).
		defer st.Close()
	}
	return st.QueryContext(ctx, args...)
}

// queryRow runs a read query for one row with a cached statement; an
// error surfaces from Scan, as with QueryRowContext.
func (s *Store) queryRow(ctx context.Context, query string, args ...any) *sql.Row {
	st, cached, err := s.readStmts.get(ctx, query)
	if err != nil || !cached {
		if st != nil {
			st.Close()
		}
		return s.read.QueryRowContext(ctx, query, args...)
	}
	return st.QueryRowContext(ctx, args...)
}

// txQuery runs a query in a read transaction with a cached statement.
func (s *Store) txQuery(ctx context.Context, tx *sql.Tx, query string, args ...any) (*sql.Rows, error) {
	st, cached, err := s.readStmts.get(ctx, query)
	if err != nil {
		return nil, err
	}
	if !cached {
		st.Close()
		return tx.QueryContext(ctx, query, args...)
	}
	return tx.StmtContext(ctx, st).QueryContext(ctx, args...)
}

// query runs a query in the write transaction with a cached statement.
func (w *wtx) query(query string, args ...any) (*sql.Rows, error) {
	st, err := w.stmt(query)
	if err != nil {
		return nil, err
	}
	return st.QueryContext(w.ctx, args...)
}
