package storetest

import (
	"bytes"
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/pochta-mail/pochta/internal/store"
)

// BenchQueue measures one outbound message's round through the queue:
// enqueue, claim, update after a failed attempt, list, remove. s must be
// a new, empty store.
func BenchQueue(b *testing.B, s store.Store) {
	ctx := context.Background()
	body := []byte("From: a@example.org\r\nTo: b@example.net\r\nSubject: queued\r\n\r\nbody\r\n")
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		id, err := s.EnqueueMessage(ctx, store.QueueEnvelope{From: "a@example.org", To: []string{"b@example.net"}}, bytes.NewReader(body))
		if err != nil {
			b.Fatal(err)
		}
		claimed, _, err := s.ClaimQueued(ctx, store.QueueClaim{Owner: "bench", Lease: time.Minute, Limit: 10})
		if err != nil || len(claimed) != 1 {
			b.Fatalf("claim: %d messages, %v", len(claimed), err)
		}
		env := claimed[0]
		env.LeaseOwner, env.LeaseUntil, env.NextAttempt = "", time.Time{}, time.Now().Add(time.Hour)
		if err := s.UpdateQueued(ctx, env); err != nil {
			b.Fatal(err)
		}
		if _, err := s.QueuedMessages(ctx); err != nil {
			b.Fatal(err)
		}
		if err := s.RemoveQueued(ctx, id); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchWebSession measures a signed-in web request's store work: look the
// session up and touch it; every tenth request also records a sign-in.
// s must be a new, empty store.
func BenchWebSession(b *testing.B, s store.Store) {
	ctx := context.Background()
	if _, err := s.CreateDomain(ctx, "example.org"); err != nil {
		b.Fatal(err)
	}
	a, err := s.CreateAccount(ctx, store.NewAccount{Address: "web@example.org", Settings: store.DefaultSettings()})
	if err != nil {
		b.Fatal(err)
	}
	now := time.Now()
	if err := s.CreateWebSession(ctx, store.WebSession{IDHash: "h", AccountID: a.ID, Created: now, LastSeen: now}); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := s.WebSession(ctx, "h"); err != nil {
			b.Fatal(err)
		}
		if err := s.TouchWebSession(ctx, "h", now.Add(time.Duration(i)*time.Second)); err != nil {
			b.Fatal(err)
		}
		if i%10 == 0 {
			if err := s.RecordSignIn(ctx, store.SignIn{AccountID: a.ID, Time: now, Protocol: "web"}); err != nil {
				b.Fatal(err)
			}
		}
	}
}

// BenchMTASTS measures the outbound policy cache: store a domain's policy
// and read it back. s must be a new, empty store.
func BenchMTASTS(b *testing.B, s store.Store) {
	ctx := context.Background()
	now := time.Now()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		d := fmt.Sprintf("d%d.example", i%100)
		p := store.MTASTSPolicy{Domain: d, ID: "1", Policy: "version: STSv1\nmode: enforce\nmx: mx.example\nmax_age: 86400\n", Fetched: now, Expires: now.Add(24 * time.Hour)}
		if err := s.PutMTASTSPolicy(ctx, p); err != nil {
			b.Fatal(err)
		}
		if _, err := s.MTASTSPolicy(ctx, d); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchResolve measures what accepting a recipient reads: the address
// resolved (through an alias), the account and its domain. s must be a
// new, empty store.
func BenchResolve(b *testing.B, s store.Store) {
	ctx := context.Background()
	if _, err := s.CreateDomain(ctx, "example.org"); err != nil {
		b.Fatal(err)
	}
	a, err := s.CreateAccount(ctx, store.NewAccount{Address: "user@example.org", Settings: store.DefaultSettings()})
	if err != nil {
		b.Fatal(err)
	}
	if _, err := s.CreateAlias(ctx, "alias@example.org", []int64{a.ID}); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		ids, err := s.ResolveAddress(ctx, "Alias@example.org")
		if err != nil || len(ids) != 1 {
			b.Fatalf("resolve: %v, %v", ids, err)
		}
		if _, err := s.Account(ctx, ids[0]); err != nil {
			b.Fatal(err)
		}
		if _, err := s.Domain(ctx, "example.org"); err != nil {
			b.Fatal(err)
		}
	}
}
