package sqlite

import (
	"context"
	"database/sql"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pochta-mail/pochta/internal/store"
)

// TestMigrateBodyStructures opens a store written before version 5 (the
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
	m, err := s.Deliver(ctx, store.Delivery{AccountID: a.ID, Body: strings.NewReader("Subject: Before version 5\r\n\r\nbody\r\n")})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()

	// Turn the database back into version 4.
	db, err := sql.Open("sqlite", "file:"+filepath.Join(dir, "pochta.db"))
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		"ALTER TABLE bodies ADD COLUMN structure BLOB NOT NULL DEFAULT x''",
		"UPDATE bodies SET structure = (SELECT structure FROM body_structures WHERE body_id = bodies.id)",
		"DROP TABLE body_structures",
		"PRAGMA user_version = 4",
	} {
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	db.Close()

	s, err = Open(ctx, Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	st, err := s.Structure(ctx, m)
	if err != nil {
		t.Fatal(err)
	}
	if st.Root == nil || st.Root.Envelope == nil || st.Root.Envelope.Subject != "Before version 5" {
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
