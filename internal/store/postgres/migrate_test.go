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

	rewind(t, dsn, "ends_newline")

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

	rewind(t, dsn, "header_bytes")

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

	rewind(t, dsn, "subscriptions", "UPDATE folders SET subscribed = name IN ('INBOX', 'Work/Old')")

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

	rewind(t, dsn, "internal_date_zone")

	s = openDSN(t, dsn)
	got, err := s.MessageByID(ctx, m.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !got.InternalDate.Equal(date) || got.InternalDate.Location() != time.UTC {
		t.Errorf("InternalDate after migration = %v, want %v in UTC", got.InternalDate, date.UTC())
	}
}

// undoStep is how to take a database back to before one migration (its
// schema_migrations row is removed by rewind).
type undoStep struct {
	name  string
	stmts []string
}

// undo takes a database back to before a migration, for each migration a
// test rewinds across. A new migration adds its entry here; rewind
// refuses to cross a migration without one.
var undo = []undoStep{
	{"ends_newline", []string{"ALTER TABLE messages DROP COLUMN ends_newline"}},
	{"dkim_mtasts", []string{"DROP TABLE dkim_keys", "DROP TABLE mta_sts_policies"}},
	{"subscriptions", []string{
		"ALTER TABLE folders ADD COLUMN subscribed boolean NOT NULL DEFAULT true",
		`UPDATE folders SET subscribed = EXISTS (SELECT 1 FROM subscriptions s WHERE s.account_id = folders.account_id AND s.name = folders.name)`,
		"DROP TABLE subscriptions",
	}},
	{"internal_date_zone", []string{"ALTER TABLE messages DROP COLUMN internal_date_zone"}},
	{"body_large_object", []string{"ALTER TABLE bodies DROP COLUMN large_object"}},
	{"header_bytes", []string{"ALTER TABLE messages DROP COLUMN header_bytes"}},
}

// rewind takes the database at dsn (no store open on it) back to the
// schema before the migration named name: it undoes every later
// migration, newest first, then that one, and runs extra (to shape the
// old data); the next Open migrates again.
func rewind(t *testing.T, dsn, name string, extra ...string) {
	t.Helper()
	entries, err := migrationFiles.ReadDir("migrations")
	if err != nil {
		t.Fatal(err)
	}
	var stmts []string
	found := false
	for i := len(entries) - 1; i >= 0 && !found; i-- {
		file := entries[i].Name()
		j := slices.IndexFunc(undo, func(u undoStep) bool { return strings.HasSuffix(file, "_"+u.name+".sql") })
		if j < 0 {
			t.Fatalf("rewind to before %s: no undo statements for migration %s", name, file)
		}
		stmts = append(stmts, undo[j].stmts...)
		stmts = append(stmts, "DELETE FROM schema_migrations WHERE name = '"+file+"'")
		found = undo[j].name == name
	}
	if !found {
		t.Fatalf("rewind: no migration %s", name)
	}
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	for _, q := range append(stmts, extra...) {
		if _, err := conn.Exec(ctx, q); err != nil {
			t.Fatalf("rewind to before %s: %s: %v", name, q, err)
		}
	}
}
