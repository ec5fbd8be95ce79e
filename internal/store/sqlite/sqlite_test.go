package sqlite

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/pochta-mail/pochta/internal/store"
	"github.com/pochta-mail/pochta/internal/store/storetest"
)

// openTemp opens a store in a fresh temporary folder, closed at cleanup.
func openTemp(tb testing.TB) *Store {
	tb.Helper()
	s, err := Open(context.Background(), Options{Dir: tb.TempDir(), RemoveOrphans: true})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { s.Close() })
	return s
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
