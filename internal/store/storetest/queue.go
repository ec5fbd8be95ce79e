package storetest

import (
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pochta-mail/pochta/internal/store"
)

// queueTests are the outbound queue, counter and maildrop lock tests.
var queueTests = []test{
	{"Queue/EnqueueListOpen", testQueueEnqueueListOpen},
	{"Queue/KeepID", testQueueKeepID},
	{"Queue/UpdateRemove", testQueueUpdateRemove},
	{"Queue/LargeBody", testQueueLargeBody},
	{"Queue/ClaimDue", testQueueClaimDue},
	{"Queue/ClaimConcurrent", testQueueClaimConcurrent},
	{"Queue/LeaseExpiry", testQueueLeaseExpiry},
	{"Queue/StaleLeaseOfSameNode", testQueueStaleLease},
	{"Queue/Wakeups", testQueueWakeups},
	{"Counters/Window", testCountersWindow},
	{"Counters/Reset", testCountersReset},
	{"Maildrop/Lock", testMaildropLock},
}

func init() { tests = append(tests, queueTests...) }

// enqueue queues a message and fails the test on error.
func enqueue(t *testing.T, s store.Store, env store.QueueEnvelope, body string) string {
	t.Helper()
	id, err := s.EnqueueMessage(ctx(t), env, strings.NewReader(body))
	if err != nil {
		t.Fatalf("EnqueueMessage: %v", err)
	}
	return id
}

// queued lists the queue and fails the test on error.
func queued(t *testing.T, s store.Store) []store.QueueEnvelope {
	t.Helper()
	envs, err := s.QueuedMessages(ctx(t))
	if err != nil {
		t.Fatalf("QueuedMessages: %v", err)
	}
	return envs
}

// readQueued reads a queued body.
func readQueued(t *testing.T, s store.Store, id string) string {
	t.Helper()
	r, err := s.OpenQueued(ctx(t), id)
	if err != nil {
		t.Fatalf("OpenQueued(%s): %v", id, err)
	}
	defer r.Close()
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("read queued %s: %v", id, err)
	}
	return string(b)
}

// claim claims for an owner.
func claim(t *testing.T, s store.Store, owner string, lease time.Duration, limit int) []store.QueueEnvelope {
	t.Helper()
	got, _, err := s.ClaimQueued(ctx(t), store.QueueClaim{Owner: owner, Lease: lease, Limit: limit})
	if err != nil {
		t.Fatalf("ClaimQueued(%s): %v", owner, err)
	}
	return got
}

func queueIDs(envs []store.QueueEnvelope) []string {
	ids := []string{}
	for _, e := range envs {
		ids = append(ids, e.ID)
	}
	return ids
}

func testQueueEnqueueListOpen(t *testing.T, s store.Store) {
	before := time.Now().Add(-time.Second)
	id1 := enqueue(t, s, store.QueueEnvelope{From: "a@a.example", To: []string{"b@b.example", "c@c.example"}, AccountID: 7, UTF8: true},
		"Subject: one\nX: y\n\nbody line\n")
	id2 := enqueue(t, s, store.QueueEnvelope{To: []string{"d@d.example"}}, "Subject: two\r\n\r\nhi\r\n")
	if !store.ValidQueueID(id1) || !store.ValidQueueID(id2) || id1 == id2 {
		t.Fatalf("ids %q %q", id1, id2)
	}
	envs := queued(t, s)
	if len(envs) != 2 {
		t.Fatalf("QueuedMessages returned %d, want 2", len(envs))
	}
	if !slices.IsSorted(queueIDs(envs)) {
		t.Errorf("not sorted by id: %v", queueIDs(envs))
	}
	var e store.QueueEnvelope
	for _, x := range envs {
		if x.ID == id1 {
			e = x
		}
	}
	if e.From != "a@a.example" || !slices.Equal(e.To, []string{"b@b.example", "c@c.example"}) || e.AccountID != 7 || !e.UTF8 {
		t.Errorf("envelope = %+v", e)
	}
	if e.Created.Before(before) || e.NextAttempt.Before(before) || e.Attempts != 0 || e.LeaseOwner != "" || !e.LeaseUntil.IsZero() {
		t.Errorf("defaults: %+v", e)
	}
	if got := readQueued(t, s, id1); got != "Subject: one\r\nX: y\r\n\r\nbody line\r\n" {
		t.Errorf("body = %q, want CRLF line endings", got)
	}
	if _, err := s.OpenQueued(ctx(t), "ffff"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("OpenQueued of an unknown id: %v", err)
	}
}

func testQueueKeepID(t *testing.T, s store.Store) {
	id := store.NewQueueID(time.Now())
	created := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	got, err := s.EnqueueMessage(ctx(t), store.QueueEnvelope{ID: id, To: []string{"x@x.example"}, Created: created, Attempts: 3}, strings.NewReader("a\r\n"))
	if err != nil || got != id {
		t.Fatalf("EnqueueMessage with id: %q, %v", got, err)
	}
	_, err = s.EnqueueMessage(ctx(t), store.QueueEnvelope{ID: id, To: []string{"x@x.example"}}, strings.NewReader("a\r\n"))
	wantErr(t, err, store.ErrExists, "EnqueueMessage with a queued id")
	_, err = s.EnqueueMessage(ctx(t), store.QueueEnvelope{ID: "../etc", To: []string{"x@x.example"}}, strings.NewReader("a\r\n"))
	wantErr(t, err, store.ErrInvalid, "EnqueueMessage with a bad id")
	envs := queued(t, s)
	if len(envs) != 1 || !envs[0].Created.Equal(created) || envs[0].Attempts != 3 {
		t.Errorf("queue = %+v", envs)
	}
}

func testQueueUpdateRemove(t *testing.T, s store.Store) {
	id := enqueue(t, s, store.QueueEnvelope{From: "a@a.example", To: []string{"b@b.example", "c@c.example"}}, "hi\r\n")
	e := queued(t, s)[0]
	next := time.Now().Add(90*time.Minute + 123456*time.Microsecond).UTC().Truncate(time.Microsecond)
	e.To = []string{"c@c.example"}
	e.NextAttempt = next
	e.Attempts = 2
	e.LastError = "421 try later"
	e.RcptErrors = map[string]string{"c@c.example": "421 try later"}
	e.DelayNotified = true
	e.Local = true
	if err := s.UpdateQueued(ctx(t), e); err != nil {
		t.Fatal(err)
	}
	got := queued(t, s)[0]
	if !got.NextAttempt.Equal(next) || got.Attempts != 2 || !slices.Equal(got.To, e.To) || got.LastError != e.LastError ||
		got.RcptErrors["c@c.example"] != "421 try later" || !got.DelayNotified || !got.Local {
		t.Errorf("after update: %+v, want %+v", got, e)
	}
	if err := s.RemoveQueued(ctx(t), id); err != nil {
		t.Fatal(err)
	}
	if envs := queued(t, s); len(envs) != 0 {
		t.Errorf("after remove: %+v", envs)
	}
	_, err := s.OpenQueued(ctx(t), id)
	wantErr(t, err, store.ErrNotFound, "OpenQueued after remove")
	wantErr(t, s.UpdateQueued(ctx(t), e), store.ErrNotFound, "UpdateQueued after remove")
	wantErr(t, s.RemoveQueued(ctx(t), id), store.ErrNotFound, "RemoveQueued after remove")
}

func testQueueLargeBody(t *testing.T, s store.Store) {
	body := strings.Repeat("a line of a large queued message, 0123456789\n", 20000)
	id := enqueue(t, s, store.QueueEnvelope{To: []string{"b@b.example"}}, body)
	if got := readQueued(t, s, id); got != crlf(body) {
		t.Errorf("large body changed: %d bytes, want %d", len(got), len(crlf(body)))
	}
	if err := s.RemoveQueued(ctx(t), id); err != nil {
		t.Fatal(err)
	}
	_, err := s.OpenQueued(ctx(t), id)
	wantErr(t, err, store.ErrNotFound, "OpenQueued after remove")
}

func testQueueClaimDue(t *testing.T, s store.Store) {
	later := time.Now().Add(time.Hour).UTC().Truncate(time.Microsecond)
	due := enqueue(t, s, store.QueueEnvelope{To: []string{"b@b.example"}}, "due\r\n")
	enqueue(t, s, store.QueueEnvelope{To: []string{"c@c.example"}, NextAttempt: later}, "later\r\n")
	got, next, err := s.ClaimQueued(ctx(t), store.QueueClaim{Owner: "node-a/1", Lease: time.Hour, Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].ID != due {
		t.Fatalf("claimed %v, want only %s", queueIDs(got), due)
	}
	if got[0].LeaseOwner != "node-a/1" || got[0].Attempts != 1 || got[0].LeaseUntil.Before(time.Now().Add(50*time.Minute)) {
		t.Errorf("claimed envelope: %+v", got[0])
	}
	if !next.Equal(later) {
		t.Errorf("next = %v, want the later message's %v", next, later)
	}
	if again := claim(t, s, "node-b/1", time.Hour, 10); len(again) != 0 {
		t.Errorf("a leased message was claimed again: %v", queueIDs(again))
	}
	// The lease is visible to the admin's view of the queue.
	for _, e := range queued(t, s) {
		if e.ID == due && (e.LeaseOwner != "node-a/1" || e.Attempts != 1) {
			t.Errorf("listed after claim: %+v", e)
		}
	}
	// Finishing the attempt clears the lease; once due again it is
	// claimable.
	e := got[0]
	e.LeaseOwner, e.LeaseUntil, e.NextAttempt = "", time.Time{}, time.Now().Add(-time.Second)
	if err := s.UpdateQueued(ctx(t), e); err != nil {
		t.Fatal(err)
	}
	again := claim(t, s, "node-b/1", time.Hour, 10)
	if len(again) != 1 || again[0].ID != due || again[0].Attempts != 2 || again[0].LeaseOwner != "node-b/1" {
		t.Errorf("second claim: %+v", again)
	}
	if none := claim(t, s, "node-c/1", time.Hour, 0); len(none) != 0 {
		t.Errorf("claim with limit 0 returned %d", len(none))
	}
}

func testQueueClaimConcurrent(t *testing.T, s store.Store) {
	const n = 60
	for i := range n {
		enqueue(t, s, store.QueueEnvelope{To: []string{fmt.Sprintf("r%d@b.example", i)}}, "x\r\n")
	}
	var mu sync.Mutex
	owners := map[string]string{}
	var dup []string
	var wg sync.WaitGroup
	for c := range 4 {
		owner := fmt.Sprintf("claimer-%d/x", c)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				got, _, err := s.ClaimQueued(ctx(t), store.QueueClaim{Owner: owner, Lease: time.Hour, Limit: 3})
				if err != nil {
					t.Errorf("ClaimQueued(%s): %v", owner, err)
					return
				}
				if len(got) == 0 {
					return
				}
				mu.Lock()
				for _, e := range got {
					if prev, ok := owners[e.ID]; ok {
						dup = append(dup, e.ID+" by "+prev+" and "+owner)
					}
					owners[e.ID] = owner
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if len(dup) > 0 {
		t.Errorf("claimed twice: %v", dup)
	}
	if len(owners) != n {
		t.Errorf("%d of %d messages claimed", len(owners), n)
	}
}

func testQueueLeaseExpiry(t *testing.T, s store.Store) {
	id := enqueue(t, s, store.QueueEnvelope{To: []string{"b@b.example"}}, "x\r\n")
	if got := claim(t, s, "dead-node/1", 300*time.Millisecond, 1); len(got) != 1 {
		t.Fatalf("first claim got %d", len(got))
	}
	// Until the lease runs out nobody else gets it; then another node
	// takes the message over.
	deadline := time.Now().Add(20 * time.Second)
	for {
		got := claim(t, s, "live-node/1", time.Hour, 1)
		if len(got) == 1 {
			if got[0].ID != id || got[0].Attempts != 2 || got[0].LeaseOwner != "live-node/1" {
				t.Errorf("taken over: %+v", got[0])
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("an expired lease was never taken over")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func testQueueStaleLease(t *testing.T, s store.Store) {
	enqueue(t, s, store.QueueEnvelope{To: []string{"b@b.example"}}, "x\r\n")
	if got := claim(t, s, "node1/old", time.Hour, 1); len(got) != 1 {
		t.Fatalf("first claim got %d", len(got))
	}
	other, _, err := s.ClaimQueued(ctx(t), store.QueueClaim{Owner: "node2/new", StalePrefix: "node2/", Lease: time.Hour, Limit: 1})
	if err != nil || len(other) != 0 {
		t.Errorf("another node took a live lease: %v %v", queueIDs(other), err)
	}
	same, _, err := s.ClaimQueued(ctx(t), store.QueueClaim{Owner: "node1/old", StalePrefix: "node1/", Lease: time.Hour, Limit: 1})
	if err != nil || len(same) != 0 {
		t.Errorf("the owner itself claimed its message again: %v %v", queueIDs(same), err)
	}
	restarted, _, err := s.ClaimQueued(ctx(t), store.QueueClaim{Owner: "node1/new", StalePrefix: "node1/", Lease: time.Hour, Limit: 1})
	if err != nil || len(restarted) != 1 || restarted[0].LeaseOwner != "node1/new" {
		t.Errorf("a restarted node did not take over its earlier process's lease: %+v %v", restarted, err)
	}
}

// waitWakeup fails the test unless c receives a value within 10 seconds
// (a liveness bound, far above the second a wakeup takes).
func waitWakeup(t *testing.T, c <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-c:
	case <-time.After(10 * time.Second):
		t.Fatalf("no queue wakeup after %s", what)
	}
}

// drainWakeup takes a waiting wakeup, if any.
func drainWakeup(c <-chan struct{}) {
	select {
	case <-c:
	default:
	}
}

func testQueueWakeups(t *testing.T, s store.Store) {
	c := s.QueueWakeups(ctx(t))
	if c == nil {
		t.Skip("the backend gives no queue wakeups: delivery engines poll")
	}
	id := enqueue(t, s, store.QueueEnvelope{To: []string{"b@b.example"}}, "x\r\n")
	waitWakeup(t, c, "an enqueue")
	got := claim(t, s, "node1/a", time.Hour, 1)
	if len(got) != 1 {
		t.Fatalf("claimed %d", len(got))
	}
	// Given back due now (an interrupted attempt), and retried by the
	// operator after a failure: both announced.
	drainWakeup(c)
	env := got[0]
	env.LeaseOwner, env.LeaseUntil, env.NextAttempt = "", time.Time{}, time.Now()
	if err := s.UpdateQueued(ctx(t), env); err != nil {
		t.Fatal(err)
	}
	waitWakeup(t, c, "a message given back due now")
	env.NextAttempt = time.Now().Add(time.Hour)
	if err := s.UpdateQueued(ctx(t), env); err != nil {
		t.Fatal(err)
	}
	drainWakeup(c)
	env.NextAttempt = time.Now()
	if err := s.UpdateQueued(ctx(t), env); err != nil {
		t.Fatal(err)
	}
	waitWakeup(t, c, "a retry made due now")
	if err := s.RemoveQueued(ctx(t), id); err != nil {
		t.Fatal(err)
	}
}

func testCountersWindow(t *testing.T, s store.Store) {
	at := time.Date(2026, 3, 2, 12, 30, 0, 0, time.UTC)
	add := func(key string, n int64, when time.Time) int64 {
		t.Helper()
		got, err := s.AddCount(ctx(t), key, n, when, time.Minute, time.Hour)
		if err != nil {
			t.Fatalf("AddCount: %v", err)
		}
		return got
	}
	if got := add("send:1", 1, at.Add(-3*time.Hour)); got != 1 {
		t.Errorf("first count = %d", got)
	}
	if got := add("send:1", 1, at.Add(-10*time.Minute)); got != 1 {
		t.Errorf("an event 3 hours old still counts in a 1-hour window: %d", got)
	}
	if got := add("send:1", 2, at); got != 3 {
		t.Errorf("count = %d, want 3", got)
	}
	if got := add("send:2", 1, at); got != 1 {
		t.Errorf("another key: %d, want 1", got)
	}
	got, err := s.Count(ctx(t), "send:1", at, time.Minute, time.Hour)
	if err != nil || got != 3 {
		t.Errorf("Count = %d, %v; want 3", got, err)
	}
	got, err = s.Count(ctx(t), "send:1", at.Add(55*time.Minute), time.Minute, time.Hour)
	if err != nil || got != 2 {
		t.Errorf("Count 55 minutes later = %d, %v; want 2", got, err)
	}
	got, err = s.Count(ctx(t), "nothing", at, time.Minute, time.Hour)
	if err != nil || got != 0 {
		t.Errorf("Count of an unknown key = %d, %v", got, err)
	}
}

func testCountersReset(t *testing.T, s store.Store) {
	now := time.Now()
	for range 3 {
		if _, err := s.AddCount(ctx(t), "fail:ivan", 1, now, time.Minute, time.Hour); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.ResetCount(ctx(t), "fail:ivan"); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Count(ctx(t), "fail:ivan", now, time.Minute, time.Hour); err != nil || got != 0 {
		t.Errorf("after reset: %d, %v", got, err)
	}
}

func testMaildropLock(t *testing.T, s store.Store) {
	a := mustAccount(t, s, "pop@example.org")
	b := mustAccount(t, s, "pop2@example.org")
	release, ok, err := s.LockMaildrop(ctx(t), a.ID)
	if err != nil || !ok {
		t.Fatalf("first lock: %v %v", ok, err)
	}
	if _, ok, err := s.LockMaildrop(ctx(t), a.ID); err != nil || ok {
		t.Errorf("second lock of a held maildrop: ok %v, err %v", ok, err)
	}
	relB, ok, err := s.LockMaildrop(ctx(t), b.ID)
	if err != nil || !ok {
		t.Errorf("another account's lock: %v %v", ok, err)
	} else {
		relB()
	}
	release()
	release() // harmless
	rel2, ok, err := s.LockMaildrop(ctx(t), a.ID)
	if err != nil || !ok {
		t.Fatalf("lock after release: %v %v", ok, err)
	}
	rel2()
}
