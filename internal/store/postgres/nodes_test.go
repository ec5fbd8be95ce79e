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

// TestQueueWakeupsAcrossNodes: an enqueue on one node, and a retry made
// due on it, wake the delivery engines of the other node; a payload the
// listener does not understand is ignored.
func TestQueueWakeupsAcrossNodes(t *testing.T) {
	dsn := newMigratedDatabase(t)
	a, b := openDSN(t, dsn), openDSN(t, dsn)
	ctx := t.Context()
	wake := b.QueueWakeups(ctx)
	wait := func(what string) {
		t.Helper()
		select {
		case <-wake:
		case <-time.After(10 * time.Second):
			t.Fatalf("node B not woken by %s", what)
		}
	}
	// Garbage on the channel first: the listener goes on.
	if _, err := a.pool.Exec(ctx, "SELECT pg_notify($1, 'v9 what')", queueChannel); err != nil {
		t.Fatal(err)
	}
	id, err := a.EnqueueMessage(ctx, store.QueueEnvelope{To: []string{"r@b.example"}}, strings.NewReader("x\r\n"))
	if err != nil {
		t.Fatal(err)
	}
	wait("an enqueue on node A")
	got, _, err := a.ClaimQueued(ctx, store.QueueClaim{Owner: "a/1", Lease: time.Hour, Limit: 1})
	if err != nil || len(got) != 1 {
		t.Fatalf("claim: %v %v", got, err)
	}
	env := got[0]
	env.LeaseOwner, env.LeaseUntil, env.NextAttempt = "", time.Time{}, time.Now().Add(time.Hour)
	if err := a.UpdateQueued(ctx, env); err != nil {
		t.Fatal(err)
	}
	env.NextAttempt = time.Now()
	if err := a.UpdateQueued(ctx, env); err != nil {
		t.Fatal(err)
	}
	wait("a retry made due on node A")
	if err := a.RemoveQueued(ctx, id); err != nil {
		t.Fatal(err)
	}
}

func TestQueueWakeupPayload(t *testing.T) {
	for _, p := range []string{"", "v1", "v2 abc", "v1 a b"} {
		if node, err := decodeQueueWakeup(p); err == nil {
			t.Errorf("%q decoded as node %q", p, node)
		}
	}
	if node, err := decodeQueueWakeup(payloadVersion + " 0123abcd"); err != nil || node != "0123abcd" {
		t.Errorf("got %q, %v", node, err)
	}
}

// FuzzNotifyPayloads: the listener's payload decoders never panic, and
// what they accept encodes back to an equivalent payload.
func FuzzNotifyPayloads(f *testing.F) {
	f.Add("v1 0123abcd 1.2.3.1 4.5.6.8")
	f.Add("v1 0123abcd")
	f.Add("v1 n 1.2.18446744073709551615.255")
	f.Add("v1 n -1.-2.3.4")
	f.Add("v1\tn  1..3.4")
	f.Fuzz(func(t *testing.T, p string) {
		if node, err := decodeQueueWakeup(p); err == nil && (node == "" || strings.ContainsAny(node, " \t\r\n")) {
			t.Errorf("%q: queue wakeup node %q", p, node)
		}
		node, evs, err := decodeEvents(p)
		if err != nil || len(evs) == 0 {
			return
		}
		out := encodeEvents(node, evs)
		var again []store.Event
		for _, q := range out {
			n2, e2, err := decodeEvents(q)
			if err != nil || n2 != node {
				t.Fatalf("%q re-encoded as %q: %q %v", p, q, n2, err)
			}
			again = append(again, e2...)
		}
		if fmt.Sprint(again) != fmt.Sprint(evs) {
			t.Errorf("%q: events %v became %v", p, evs, again)
		}
	})
}
