package postgres

import (
	"context"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/pochta-mail/pochta/internal/store"
)

// TestMigrateEndsNewline takes a database back to before the ends_newline
// migration (the last one) and reopens it: the migration must compute the
// column from the last byte of bodies kept in the database.
func TestMigrateEndsNewline(t *testing.T) {
	ctx := context.Background()
	dsn := newMigratedDatabase(t)
	s, err := Open(ctx, Options{DSN: dsn, Logger: quietLog})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateDomain(ctx, "example.org"); err != nil {
		t.Fatal(err)
	}
	a, err := s.CreateAccount(ctx, store.NewAccount{Address: "ivan@example.org", PasswordHash: "x", Settings: store.DefaultSettings()})
	if err != nil {
		t.Fatal(err)
	}
	bodies := []struct {
		body string
		want bool
	}{
		{"Subject: a\r\n\r\nends\r\n", true},
		{"Subject: b\r\n\r\ndoes not end", false},
		{"Subject: c\r\n\r\n" + strings.Repeat(strings.Repeat("z", 99)+"\r\n", 3000) + "no end", false},
	}
	var ids []int64
	for _, b := range bodies {
		m, err := s.Deliver(ctx, store.Delivery{AccountID: a.ID, Body: strings.NewReader(b.body)})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, m.ID)
	}
	s.Close()

	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	// Undo the later migration too (dkim_mtasts), then this one.
	for _, q := range []string{"DROP TABLE dkim_keys", "DROP TABLE mta_sts_policies",
		"DELETE FROM schema_migrations WHERE name LIKE '%_dkim_mtasts.sql'",
		"ALTER TABLE messages DROP COLUMN ends_newline", "DELETE FROM schema_migrations WHERE name LIKE '%_ends_newline.sql'"} {
		if _, err := conn.Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	conn.Close(ctx)

	s = openDSN(t, dsn)
	for i, id := range ids {
		m, err := s.MessageByID(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if m.EndsWithNewline != bodies[i].want {
			t.Errorf("message %d after migration: EndsWithNewline = %v, want %v", i, m.EndsWithNewline, bodies[i].want)
		}
	}
}
