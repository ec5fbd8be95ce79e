package sqlite

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/pochta-mail/pochta/internal/store"
	"github.com/pochta-mail/pochta/internal/store/storetest"
)

// template is a database file with every migration applied, made once
// per test process and copied into each test's folder by openTemp: the
// conformance suite opens a fresh store for each of its ~200 tests, and
// migrating an empty database each time was about half of its run time.
// TestMain removes its folder.
var template struct {
	sync.Once
	dir string
	err error
}

// templateDB returns the path of the migrated template database.
func templateDB() (string, error) {
	template.Do(func() {
		dir, err := os.MkdirTemp("", "pochta-sqlite-template")
		if err != nil {
			template.err = err
			return
		}
		template.dir = dir
		s, err := Open(context.Background(), Options{Dir: dir, Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			template.err = err
			return
		}
		// Close checkpoints the WAL into pochta.db and removes it.
		template.err = s.Close()
	})
	return filepath.Join(template.dir, "pochta.db"), template.err
}

// openTemp opens a store in a fresh temporary folder, closed at cleanup.
// The folder starts with a copy of the template database, so Open finds
// the schema current; the migrations themselves are tested by Open on an
// empty folder (TestOpenMigratesEmptyFolder, TestOddFolderName) and by
// migrate_test.go.
func openTemp(tb testing.TB) *Store {
	tb.Helper()
	src, err := templateDB()
	if err != nil {
		tb.Fatalf("make template database: %v", err)
	}
	dir := tb.TempDir()
	b, err := os.ReadFile(src)
	if err != nil {
		tb.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "pochta.db"), b, 0o600); err != nil {
		tb.Fatal(err)
	}
	s, err := Open(context.Background(), Options{Dir: dir, RemoveOrphans: true})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { s.Close() })
	return s
}

// TestOpenMigratesEmptyFolder opens a store in an empty folder: Open
// applies every migration, and the store works (the conformance suite
// starts from a copy of such a database).
func TestOpenMigratesEmptyFolder(t *testing.T) {
	s, err := Open(context.Background(), Options{Dir: t.TempDir(), RemoveOrphans: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var version int
	if err := s.read.QueryRow("PRAGMA user_version").Scan(&version); err != nil {
		t.Fatal(err)
	}
	if want := latestMigration(t); version != want {
		t.Errorf("schema version %d after Open, want %d", version, want)
	}
	if _, err := s.CreateDomain(context.Background(), "example.org"); err != nil {
		t.Fatal(err)
	}
	a, err := s.CreateAccount(context.Background(), store.NewAccount{Address: "ivan@example.org", Settings: store.DefaultSettings()})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Deliver(context.Background(), store.Delivery{AccountID: a.ID, Body: strings.NewReader("Subject: hi\r\n\r\nhello\r\n")}); err != nil {
		t.Fatal(err)
	}
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store { return openTemp(t) })
}

// TestOddFolderName opens a store in a folder whose name holds the
// characters that end a file name in an SQLite URI.
func TestOddFolderName(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a?b#c d%20")
	s, err := Open(context.Background(), Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.CreateDomain(context.Background(), "example.org"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "pochta.db")); err != nil {
		t.Fatalf("database not in the named folder: %v", err)
	}
}

// latestMigration returns the version of the last migration file.
func latestMigration(t *testing.T) int {
	t.Helper()
	entries, err := migrationFiles.ReadDir("migrations")
	if err != nil {
		t.Fatal(err)
	}
	latest := 0
	for _, e := range entries {
		v, err := strconv.Atoi(strings.SplitN(e.Name(), "_", 2)[0])
		if err != nil {
			t.Fatalf("migration %s: %v", e.Name(), err)
		}
		latest = max(latest, v)
	}
	return latest
}
