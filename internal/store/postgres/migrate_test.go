package postgres

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pochta-mail/pochta/internal/mimeparse"
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
	// Undo the later migrations too (header_bytes, body_large_object,
	// internal_date_zone, subscriptions, dkim_mtasts), then this one.
	for _, q := range append(slices.Concat(undoHeaderBytes, undoBodyLargeObject, undoInternalDateZone, undoSubscriptions),
		"DROP TABLE dkim_keys", "DROP TABLE mta_sts_policies",
		"DELETE FROM schema_migrations WHERE name LIKE '%_dkim_mtasts.sql'",
		"ALTER TABLE messages DROP COLUMN ends_newline", "DELETE FROM schema_migrations WHERE name LIKE '%_ends_newline.sql'") {
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

// undoBodyLargeObject turns a database back to before the
// body_large_object migration.
var undoBodyLargeObject = []string{
	"ALTER TABLE bodies DROP COLUMN large_object",
	"DELETE FROM schema_migrations WHERE name LIKE '%_body_large_object.sql'",
}

// undoInternalDateZone turns a database back to before the
// internal_date_zone migration.
var undoInternalDateZone = []string{
	"ALTER TABLE messages DROP COLUMN internal_date_zone",
	"DELETE FROM schema_migrations WHERE name LIKE '%_internal_date_zone.sql'",
}

// undoHeaderBytes turns a database back to before the header_bytes
// migration.
var undoHeaderBytes = []string{
	"ALTER TABLE messages DROP COLUMN header_bytes",
	"DELETE FROM schema_migrations WHERE name LIKE '%_header_bytes.sql'",
}

// TestMigrateHeaderBytes takes a database back to before the header_bytes
// migration and reopens it: messages stored before it are unknown (their
// structure decides), messages delivered afterwards are known again.
func TestMigrateHeaderBytes(t *testing.T) {
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
	old, err := s.Deliver(ctx, store.Delivery{AccountID: a.ID, Body: strings.NewReader("Subject: \u00fcber\r\n\r\nbody\r\n")})
	if err != nil {
		t.Fatal(err)
	}
	if old.HeaderBytes != mimeparse.Headers8bit {
		t.Fatalf("HeaderBytes at delivery = %d, want 8-bit", old.HeaderBytes)
	}
	s.Close()

	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range undoHeaderBytes {
		if _, err := conn.Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	conn.Close(ctx)

	s = openDSN(t, dsn)
	m, err := s.MessageByID(ctx, old.ID)
	if err != nil {
		t.Fatal(err)
	}
	if m.HeaderBytes != mimeparse.HeadersUnknown {
		t.Errorf("message stored before the migration: HeaderBytes = %d, want unknown", m.HeaderBytes)
	}
	m, err = s.Deliver(ctx, store.Delivery{AccountID: a.ID, Body: strings.NewReader("Subject: plain\r\n\r\nbody\r\n")})
	if err != nil {
		t.Fatal(err)
	}
	if m, err = s.MessageByID(ctx, m.ID); err != nil || m.HeaderBytes != mimeparse.Headers7bit {
		t.Errorf("message delivered after the migration: HeaderBytes = %d, %v; want 7-bit", m.HeaderBytes, err)
	}
}

// undoSubscriptions turns a database back to before the subscriptions
// migration: a subscribed flag per folder, no subscriptions table.
var undoSubscriptions = []string{
	"ALTER TABLE folders ADD COLUMN subscribed boolean NOT NULL DEFAULT true",
	`UPDATE folders SET subscribed = EXISTS (SELECT 1 FROM subscriptions s WHERE s.account_id = folders.account_id AND s.name = folders.name)`,
	"DROP TABLE subscriptions",
	"DELETE FROM schema_migrations WHERE name LIKE '%_subscriptions.sql'",
}

// TestMigrateSubscriptions takes a database back to before the
// subscriptions table (a subscribed flag per folder) and reopens it: the
// subscribed folders, and only they, are subscribed afterwards.
func TestMigrateSubscriptions(t *testing.T) {
	ctx := context.Background()
	dsn := newMigratedDatabase(t)
	s, err := Open(ctx, Options{DSN: dsn, Logger: quietLog})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateDomain(ctx, "example.org"); err != nil {
		t.Fatal(err)
	}
	a, err := s.CreateAccount(ctx, store.NewAccount{Address: "anna@example.org", PasswordHash: "x", Settings: store.DefaultSettings()})
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"Work", "Work/Old", "Hobby"} {
		if _, err := s.CreateFolder(ctx, a.ID, n, store.RoleNone); err != nil {
			t.Fatal(err)
		}
	}
	s.Close()

	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range append(slices.Concat(undoHeaderBytes, undoBodyLargeObject, undoInternalDateZone, undoSubscriptions), "UPDATE folders SET subscribed = name IN ('INBOX', 'Work/Old')") {
		if _, err := conn.Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	conn.Close(ctx)

	s = openDSN(t, dsn)
	subs, err := s.Subscriptions(ctx, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"INBOX", "Work/Old"}; !slices.Equal(subs, want) {
		t.Errorf("subscriptions after migration = %q, want %q", subs, want)
	}
}

// TestMigrateInternalDateZone takes a database back to before internal
// dates kept their zone and reopens it: the messages keep their instant
// and read as UTC.
func TestMigrateInternalDateZone(t *testing.T) {
	ctx := context.Background()
	dsn := newMigratedDatabase(t)
	s, err := Open(ctx, Options{DSN: dsn, Logger: quietLog})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateDomain(ctx, "example.org"); err != nil {
		t.Fatal(err)
	}
	a, err := s.CreateAccount(ctx, store.NewAccount{Address: "anna@example.org", PasswordHash: "x", Settings: store.DefaultSettings()})
	if err != nil {
		t.Fatal(err)
	}
	date := time.Date(2024, 1, 1, 0, 30, 0, 0, time.FixedZone("", 3*3600))
	m, err := s.Deliver(ctx, store.Delivery{AccountID: a.ID, InternalDate: date, Body: strings.NewReader("Subject: old\r\n\r\nx\r\n")})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()

	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range slices.Concat(undoHeaderBytes, undoBodyLargeObject, undoInternalDateZone) {
		if _, err := conn.Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	conn.Close(ctx)

	s = openDSN(t, dsn)
	got, err := s.MessageByID(ctx, m.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !got.InternalDate.Equal(date) || got.InternalDate.Location() != time.UTC {
		t.Errorf("InternalDate after migration = %v, want %v in UTC", got.InternalDate, date.UTC())
	}
}
