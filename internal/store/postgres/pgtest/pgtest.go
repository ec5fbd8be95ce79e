// Package pgtest gives tests of other packages a fresh database on the
// test PostgreSQL server that scripts/pgtest.sh starts (its DSN is in
// POCHTA_TEST_PG_DSN). Tests are skipped when no server is given.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pochta-mail/pochta/internal/store/postgres"
)

// DSNVariable is the environment variable holding the test server's DSN.
const DSNVariable = "POCHTA_TEST_PG_DSN"

// NewDatabase makes an empty database named after prefix on the test
// server, dropped when the test ends, and returns its DSN. The test is
// skipped when DSNVariable is not set.
func NewDatabase(tb testing.TB, prefix string) string {
	tb.Helper()
	dsn := os.Getenv(DSNVariable)
	if dsn == "" {
		tb.Skip(DSNVariable + " not set: run under scripts/pgtest.sh (test.sh does)")
	}
	var rnd [6]byte
	rand.Read(rnd[:])
	name := prefix + "_" + hex.EncodeToString(rnd[:])
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		tb.Fatalf("connect to the test PostgreSQL: %v", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		tb.Fatalf("create test database: %v", err)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c, err := pgx.Connect(ctx, dsn)
		if err != nil {
			tb.Errorf("connect to the test PostgreSQL: %v", err)
			return
		}
		defer c.Close(ctx)
		if _, err := c.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			tb.Errorf("drop test database: %v", err)
		}
	})
	u, err := url.Parse(dsn)
	if err != nil {
		tb.Fatalf("test PostgreSQL DSN: %v", err)
	}
	u.Path = "/" + name
	return u.String()
}

// Stores opens n stores (as n nodes would) on one new database made by
// NewDatabase, each closed when the test ends.
func Stores(tb testing.TB, prefix string, n int) []*postgres.Store {
	tb.Helper()
	dsn := NewDatabase(tb, prefix)
	out := make([]*postgres.Store, 0, n)
	for i := range n {
		s, err := postgres.Open(context.Background(), postgres.Options{DSN: dsn, Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			tb.Fatalf("open node %d's store: %v", i+1, err)
		}
		tb.Cleanup(func() { s.Close() })
		out = append(out, s)
	}
	return out
}
