package queue

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/pochta-mail/pochta/internal/config"
	"github.com/pochta-mail/pochta/internal/delivery"
	"github.com/pochta-mail/pochta/internal/msgauth"
	"github.com/pochta-mail/pochta/internal/store"
	"github.com/pochta-mail/pochta/internal/store/postgres"
	"github.com/pochta-mail/pochta/internal/store/postgres/pgtest"
)

// pgStores opens n stores (n nodes) on one fresh database of the test
// PostgreSQL server; the test is skipped without one.
func pgStores(t *testing.T, n int) []*postgres.Store {
	return pgtest.Stores(t, "queue", n)
}

// watchedQueue is a node's store queue that tells the test each time
// the delivery engine has looked at the queue, and how many messages it
// claimed.
type watchedQueue struct {
	delivery.StoreQueue
	claims chan int
}

func (q watchedQueue) Claim(ctx context.Context, c delivery.QueueClaim) ([]delivery.QueueEnvelope, time.Time, error) {
	got, next, err := q.StoreQueue.Claim(ctx, c)
	select {
	case q.claims <- len(got):
	default: // the test reads only the first claims
	}
	return got, next, err
}

// TestQueueWakeupAcrossNodes: two nodes share a PostgreSQL store; only
// node B runs a delivery engine, which polls once an hour. A message
// queued through node A is still sent by node B at once, woken through
// the store, and its retry after a temporary failure fires on time.
func TestQueueWakeupAcrossNodes(t *testing.T) {
	stores := pgStores(t, 2)
	a, b := stores[0], stores[1]
	mx := startFakeMX(t, "127.0.0.1:0", 0)
	var mu sync.Mutex
	tries := 0
	mx.setRcpt(func(string) error {
		mu.Lock()
		defer mu.Unlock()
		tries++
		if tries == 1 {
			return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "try later"}
		}
		return nil
	})
	q := watchedQueue{StoreQueue: delivery.StoreQueue{Store: b}, claims: make(chan int, 16)}
	runner := New(Options{Queue: q, Store: b, Resolver: &delivery.Resolver{Store: b}, DNS: msgauth.NewResolver(""),
		Hostname: "node-b.local.example", Routes: config.Routes{"*": {Host: mx.addr}},
		RetryInitial: 200 * time.Millisecond, RetryMax: 400 * time.Millisecond, MaxAge: time.Hour,
		ConnectTimeout: 2 * time.Second, PollInterval: time.Hour, Node: "node-b",
		Log: slog.New(slog.NewTextHandler(testWriter{t}, nil))})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { runner.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })

	// Node B has looked at the (empty) queue and now waits for an hour.
	select {
	case n := <-q.claims:
		if n != 0 {
			t.Fatalf("first claim took %d messages from an empty queue", n)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("node B's engine never looked at the queue")
	}
	if _, err := a.EnqueueMessage(context.Background(), store.QueueEnvelope{From: "someone@a.example", To: []string{"r@remote.example"}},
		strings.NewReader("Subject: queued on node A\r\n\r\nHello.\r\n")); err != nil {
		t.Fatal(err)
	}
	eventually(t, "node B to deliver the message queued on node A", func() bool { return len(mx.received()) == 1 })
	if got := mx.received()[0]; !strings.HasPrefix(got, "r@remote.example|") || !strings.Contains(got, "Subject: queued on node A") {
		t.Errorf("received %q", got)
	}
	eventually(t, "an empty queue", func() bool {
		envs, err := a.QueuedMessages(context.Background())
		return err == nil && len(envs) == 0
	})
	mu.Lock()
	defer mu.Unlock()
	if tries != 2 {
		t.Errorf("%d tries, want 2 (a temporary failure, then the retry)", tries)
	}
}
