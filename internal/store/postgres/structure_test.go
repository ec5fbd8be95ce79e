package postgres

import (
	"testing"

	"github.com/pochta-mail/pochta/internal/store"
	"github.com/pochta-mail/pochta/internal/store/storetest"
)

// TestCachedStructures checks the binary cache of structures and that
// bodies rows whose structure was written as JSON by earlier versions
// still read.
func TestCachedStructures(t *testing.T) {
	testDSN(t)
	var s *Store
	storetest.RunCachedStructures(t, func(t *testing.T) store.Store { s = openTemp(t); return s }, storetest.CachedStructure{
		Get: func(t *testing.T, bodyID int64) []byte {
			var raw []byte
			if err := s.pool.QueryRow(t.Context(), "SELECT structure FROM bodies WHERE id = $1", bodyID).Scan(&raw); err != nil {
				t.Fatalf("read structure of body %d: %v", bodyID, err)
			}
			return raw
		},
		Set: func(t *testing.T, bodyID int64, raw []byte) {
			if _, err := s.pool.Exec(t.Context(), "UPDATE bodies SET structure = $1 WHERE id = $2", raw, bodyID); err != nil {
				t.Fatalf("rewrite structure of body %d: %v", bodyID, err)
			}
		},
	})
}
