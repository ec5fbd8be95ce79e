package postgres

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pochta-mail/pochta/internal/store"
)

// TestQueueClaimsAcrossNodes: three stores on one database (three nodes)
// claim concurrently from one queue; every message is claimed exactly
// once.
func TestQueueClaimsAcrossNodes(t *testing.T) {
	dsn := newMigratedDatabase(t)
	nodes := []*Store{openDSN(t, dsn), openDSN(t, dsn), openDSN(t, dsn)}
	ctx := context.Background()
	const n = 90
	for i := range n {
		if _, err := nodes[i%3].EnqueueMessage(ctx, store.QueueEnvelope{To: []string{fmt.Sprintf("r%d@b.example", i)}}, strings.NewReader("x\r\n")); err != nil {
			t.Fatal(err)
		}
	}
	var mu sync.Mutex
	owner := map[string]string{}
	perNode := map[string]int{}
	var wg sync.WaitGroup
	for i, s := range nodes {
		for g := range 3 {
			name := fmt.Sprintf("node%d/%d", i, g)
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					got, _, err := s.ClaimQueued(ctx, store.QueueClaim{Owner: name, Lease: time.Hour, Limit: 2})
					if err != nil {
						t.Error(err)
						return
					}
					if len(got) == 0 {
						return
					}
					mu.Lock()
					for _, e := range got {
						if prev, dup := owner[e.ID]; dup {
							t.Errorf("%s claimed by %s and %s", e.ID, prev, name)
						}
						owner[e.ID] = name
						perNode[name[:5]]++
					}
					mu.Unlock()
				}
			}()
		}
	}
	wg.Wait()
	if len(owner) != n {
		t.Errorf("%d of %d claimed", len(owner), n)
	}
	t.Logf("claims per node: %v", perNode)
}

// TestMaildropLockAcrossNodes: a maildrop locked on one node is locked on
// another; the lock is freed by release, by the holder closing, and by
// its connection dying (a killed process).
func TestMaildropLockAcrossNodes(t *testing.T) {
	dsn := newMigratedDatabase(t)
	a, b := openDSN(t, dsn), openDSN(t, dsn)
	ctx := context.Background()
	const acct = 42
	lock := func(s *Store, what string, want bool) func() {
		t.Helper()
		rel, ok, err := s.LockMaildrop(ctx, acct)
		if err != nil || ok != want {
			t.Fatalf("%s: ok %v, err %v; want ok %v", what, ok, err, want)
		}
		return rel
	}
	rel := lock(a, "node A first", true)
	lock(b, "node B while A holds it", false)
	rel()
	relB := lock(b, "node B after A released", true)
	lock(a, "node A while B holds it", false)
	// B's lock connection dies (as when its process is killed): the
	// lock goes with it.
	var pid int32
	if err := b.maildrops.conn.QueryRow(ctx, "SELECT pg_backend_pid()").Scan(&pid); err != nil {
		t.Fatal(err)
	}
	if _, err := a.pool.Exec(ctx, "SELECT pg_terminate_backend($1)", pid); err != nil {
		t.Fatal(err)
	}
	// PostgreSQL ends the session (and frees its locks) a moment after
	// its connection goes.
	eventually := func(s *Store, what string) func() {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			r, ok, err := s.LockMaildrop(ctx, acct)
			if err != nil {
				t.Fatal(err)
			}
			if ok {
				return r
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: the lock was never freed", what)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	relA := eventually(a, "node A after B's connection died")
	relB() // harmless after the connection died
	lock(b, "node B while A holds it again", false)
	relA()
	c := openDSN(t, dsn)
	lock(c, "node C", true)
	c.Close()
	eventually(b, "node B after C closed")()
}
