package sqlite

import (
	"testing"

	"github.com/pochta-mail/pochta/internal/store"
	"github.com/pochta-mail/pochta/internal/store/storetest"
)

// TestCachedStructures checks the binary cache of structures and that
// body_structures rows written as JSON by earlier versions still read.
func TestCachedStructures(t *testing.T) {
	var s *Store
	storetest.RunCachedStructures(t, func(t *testing.T) store.Store { s = openTemp(t); return s }, storetest.CachedStructure{
		Get: func(t *testing.T, bodyID int64) []byte {
			var raw []byte
			if err := s.read.QueryRowContext(t.Context(), "SELECT structure FROM body_structures WHERE body_id = $1", bodyID).Scan(&raw); err != nil {
				t.Fatalf("read structure of body %d: %v", bodyID, err)
			}
			return raw
		},
		Set: func(t *testing.T, bodyID int64, raw []byte) {
			if err := s.update(t.Context(), func(w *wtx) error {
				_, err := w.exec("UPDATE body_structures SET structure = $1 WHERE body_id = $2", raw, bodyID)
				return err
			}); err != nil {
				t.Fatalf("rewrite structure of body %d: %v", bodyID, err)
			}
		},
	})
}
