package sqlite

import (
	"context"
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
