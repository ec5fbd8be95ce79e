package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

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

	db, err := sql.Open("sqlite", filepath.Join(dir, "pochta.db"))
	if err != nil {
		t.Fatal(err)
	}
	version := 0
	entries, err := migrationFiles.ReadDir("migrations")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if n, ok := strings.CutSuffix(e.Name(), "_ends_newline.sql"); ok {
			if version, err = strconv.Atoi(n); err != nil {
				t.Fatal(err)
			}
		}
	}
	if version == 0 {
		t.Fatal("no ends_newline migration")
	}
	for _, q := range []string{"ALTER TABLE messages DROP COLUMN ends_newline", fmt.Sprintf("PRAGMA user_version = %d", version-1)} {
		if _, err := db.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	db.Close()

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
