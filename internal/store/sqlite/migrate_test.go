package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pochta-mail/pochta/internal/mimeparse"
	"github.com/pochta-mail/pochta/internal/store"
)

// TestMigrateEndsNewline takes a database back to before the ends_newline
// migration (the last one) and reopens it: the migration must compute the
// column from the last byte of inline bodies and assume true for bodies
// kept in files.
func TestMigrateEndsNewline(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s, err := Open(ctx, Options{Dir: dir})
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
	large := "Subject: large\r\n\r\n" + strings.Repeat(strings.Repeat("z", 99)+"\r\n", 3000) + "no end"
	bodies := []struct {
		body string
		want bool
	}{
		{"Subject: a\r\n\r\nends\r\n", true},
		{"Subject: b\r\n\r\ndoes not end", false},
		{large, true}, // in a file: assumed
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

	rewind(t, dir, "ends_newline")

	s, err = Open(ctx, Options{Dir: dir})
	if err != nil {
		t.Fatalf("reopen (migrate): %v", err)
	}
	defer s.Close()
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

// TestMigrateBodyStructures opens a store written before version 7 (the
// structure inside bodies, after the message bytes) and reads the
// structure of a message delivered then.
func TestMigrateBodyStructures(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s, err := Open(ctx, Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateDomain(ctx, "example.org"); err != nil {
		t.Fatal(err)
	}
	a, err := s.CreateAccount(ctx, store.NewAccount{Address: "anna@example.org", PasswordHash: "x"})
	if err != nil {
		t.Fatal(err)
	}
	m, err := s.Deliver(ctx, store.Delivery{AccountID: a.ID, Body: strings.NewReader("Subject: Before version 7\r\n\r\nbody\r\n")})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()

	rewind(t, dir, "body_structures")

	s, err = Open(ctx, Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	st, err := s.Structure(ctx, m)
	if err != nil {
		t.Fatal(err)
	}
	if st.Root == nil || st.Root.Envelope == nil || st.Root.Envelope.Subject != "Before version 7" {
		t.Fatalf("structure after migration: %+v", st.Root)
	}
	sts, err := s.Structures(ctx, []store.Message{m})
	if err != nil || sts[m.BodyID] == nil {
		t.Fatalf("Structures after migration = %v, %v", sts, err)
	}
	var cols int
	if err := s.read.QueryRow("SELECT count(*) FROM pragma_table_info('bodies') WHERE name = 'structure'").Scan(&cols); err != nil || cols != 0 {
		t.Errorf("bodies.structure still there (%d, %v)", cols, err)
	}
}

// TestMigrateHeaderBytes takes a database back to before the header_bytes
// migration and reopens it: messages stored before it are unknown (their
// structure decides), messages delivered afterwards are known again.
func TestMigrateHeaderBytes(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s, err := Open(ctx, Options{Dir: dir})
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

	rewind(t, dir, "header_bytes")

	s, err = Open(ctx, Options{Dir: dir})
	if err != nil {
		t.Fatalf("reopen (migrate): %v", err)
	}
	defer s.Close()
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

// TestMigrateSubscriptions opens a store written before the subscriptions
// table (a subscribed flag per folder): the subscribed folders, and only
// they, are subscribed afterwards, and the flag column is gone.
func TestMigrateSubscriptions(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s, err := Open(ctx, Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateDomain(ctx, "example.org"); err != nil {
		t.Fatal(err)
	}
	a, err := s.CreateAccount(ctx, store.NewAccount{Address: "anna@example.org", PasswordHash: "x"})
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"Work", "Work/Old", "Hobby"} {
		if _, err := s.CreateFolder(ctx, a.ID, n, store.RoleNone); err != nil {
			t.Fatal(err)
		}
	}
	s.Close()

	// The old schema: INBOX and Work/Old subscribed, the rest not.
	rewind(t, dir, "subscriptions", "UPDATE folders SET subscribed = (name IN ('INBOX', 'Work/Old'))")

	s, err = Open(ctx, Options{Dir: dir})
	if err != nil {
		t.Fatalf("reopen (migrate): %v", err)
	}
	defer s.Close()
	subs, err := s.Subscriptions(ctx, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"INBOX", "Work/Old"}; !slices.Equal(subs, want) {
		t.Errorf("subscriptions after migration = %q, want %q", subs, want)
	}
	var cols int
	if err := s.read.QueryRow("SELECT count(*) FROM pragma_table_info('folders') WHERE name = 'subscribed'").Scan(&cols); err != nil || cols != 0 {
		t.Errorf("folders.subscribed still there (%d, %v)", cols, err)
	}
}

// TestMigrateInternalDateZone opens a store written before internal
// dates kept their zone: the messages keep their instant and read as UTC.
func TestMigrateInternalDateZone(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s, err := Open(ctx, Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateDomain(ctx, "example.org"); err != nil {
		t.Fatal(err)
	}
	a, err := s.CreateAccount(ctx, store.NewAccount{Address: "anna@example.org", PasswordHash: "x"})
	if err != nil {
		t.Fatal(err)
	}
	date := time.Date(2024, 1, 1, 0, 30, 0, 0, time.FixedZone("", 3*3600))
	m, err := s.Deliver(ctx, store.Delivery{AccountID: a.ID, InternalDate: date, Body: strings.NewReader("Subject: old\r\n\r\nx\r\n")})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()

	rewind(t, dir, "internal_date_zone")

	s, err = Open(ctx, Options{Dir: dir})
	if err != nil {
		t.Fatalf("reopen (migrate): %v", err)
	}
	defer s.Close()
	got, err := s.MessageByID(ctx, m.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !got.InternalDate.Equal(date) || got.InternalDate.Location() != time.UTC {
		t.Errorf("InternalDate after migration = %v, want %v in UTC", got.InternalDate, date.UTC())
	}
}

// migrationVersion returns the schema version (user_version) that the
// migration named *_name.sql brings the database to.
func migrationVersion(t *testing.T, name string) int {
	t.Helper()
	entries, err := migrationFiles.ReadDir("migrations")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if n, ok := strings.CutSuffix(e.Name(), "_"+name+".sql"); ok {
			v, err := strconv.Atoi(n)
			if err != nil {
				t.Fatal(err)
			}
			return v
		}
	}
	t.Fatalf("no %s migration", name)
	return 0
}

// undoStep is how to take a database back to before one migration.
type undoStep struct {
	name  string
	stmts []string
}

// undo takes a database back to before a migration, for each migration a
// test rewinds across (newest last). A new migration adds its entry here;
// rewind refuses to cross a migration without one.
var undo = []undoStep{
	{"ends_newline", []string{"ALTER TABLE messages DROP COLUMN ends_newline"}},
	{"body_structures", []string{
		"ALTER TABLE bodies ADD COLUMN structure BLOB NOT NULL DEFAULT x''",
		"UPDATE bodies SET structure = (SELECT structure FROM body_structures WHERE body_id = bodies.id)",
		"DROP TABLE body_structures",
	}},
	{"dkim_mtasts", []string{"DROP TABLE dkim_keys", "DROP TABLE mta_sts_policies"}},
	{"subscriptions", []string{
		"ALTER TABLE folders ADD COLUMN subscribed INTEGER NOT NULL DEFAULT 1",
		"UPDATE folders SET subscribed = EXISTS (SELECT 1 FROM subscriptions s WHERE s.account_id = folders.account_id AND s.name = folders.name)",
		"DROP TABLE subscriptions",
	}},
	{"internal_date_zone", []string{"ALTER TABLE messages DROP COLUMN internal_date_zone"}},
	{"header_bytes", []string{"ALTER TABLE messages DROP COLUMN header_bytes"}},
}

// rewind takes the closed store in dir back to the schema before the
// migration named name: it undoes every later migration, newest first,
// then that one, runs extra (to shape the old data) and sets user_version
// so that the next Open migrates again.
func rewind(t *testing.T, dir, name string, extra ...string) {
	t.Helper()
	target := migrationVersion(t, name)
	entries, err := migrationFiles.ReadDir("migrations")
	if err != nil {
		t.Fatal(err)
	}
	var stmts []string
	for v := len(entries); v >= target; v-- {
		i := slices.IndexFunc(undo, func(u undoStep) bool { return migrationVersion(t, u.name) == v })
		if i < 0 {
			t.Fatalf("rewind to before %s: no undo statements for migration %d", name, v)
		}
		stmts = append(stmts, undo[i].stmts...)
	}
	db, err := sql.Open("sqlite", "file:"+filepath.Join(dir, "pochta.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, q := range slices.Concat(stmts, extra, []string{fmt.Sprintf("PRAGMA user_version = %d", target-1)}) {
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("rewind to before %s: %s: %v", name, q, err)
		}
	}
}
