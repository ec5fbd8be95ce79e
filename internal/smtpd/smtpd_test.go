package smtpd

import (
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/pochta-mail/pochta/internal/store/sqlite"
)

func TestLoginMechanism(t *testing.T) {
	var gotUser, gotPass string
	auth := func(u, p string) error {
		gotUser, gotPass = u, p
		if p != "right" {
			return errors.New("bad")
		}
		return nil
	}
	// Challenge/response.
	l := newLoginServer(auth)
	ch, done, err := l.Next(nil)
	if string(ch) != "Username:" || done || err != nil {
		t.Fatalf("first step: %q %v %v", ch, done, err)
	}
	ch, done, err = l.Next([]byte("anna"))
	if string(ch) != "Password:" || done || err != nil {
		t.Fatalf("second step: %q %v %v", ch, done, err)
	}
	if _, done, err = l.Next([]byte("right")); !done || err != nil || gotUser != "anna" || gotPass != "right" {
		t.Fatalf("third step: %v %v (%q %q)", done, err, gotUser, gotPass)
	}
	if _, _, err := l.Next([]byte("more")); err == nil {
		t.Fatal("response after the end accepted")
	}
	// User name as initial response; wrong password.
	l = newLoginServer(auth)
	if ch, _, _ := l.Next([]byte("boris")); string(ch) != "Password:" {
		t.Fatalf("initial response: %q", ch)
	}
	if _, done, err := l.Next([]byte("wrong")); !done || err == nil || gotUser != "boris" {
		t.Fatalf("wrong password: %v %v", done, err)
	}
}

// TestRateLimiter runs the same sending limits on the in-memory counts
// and on the store's (what several nodes share).
func TestRateLimiter(t *testing.T) {
	st, err := sqlite.Open(t.Context(), sqlite.Options{Dir: t.TempDir(), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	for name, r := range map[string]*RateLimiter{
		"memory": NewRateLimiter(2, 3),
		"store":  NewStoreRateLimiter(st, 2, 3, nil),
	} {
		t.Run(name, func(t *testing.T) { testRateLimiter(t, r) })
	}
	var none *RateLimiter
	if none.check(t.Context(), 1, time.Now()) != limitNone {
		t.Fatal("nil limiter limits")
	}
	none.record(t.Context(), 1, time.Now())
}

func testRateLimiter(t *testing.T, r *RateLimiter) {
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	for i := 0; i < 2; i++ {
		if l := r.check(t.Context(), 1, now); l != limitNone {
			t.Fatalf("message %d: %v", i, l)
		}
		r.record(t.Context(), 1, now)
	}
	if l := r.check(t.Context(), 1, now); l != limitHour {
		t.Fatalf("third in an hour: %v", l)
	}
	if l := r.check(t.Context(), 2, now); l != limitNone {
		t.Fatal("another account limited")
	}
	later := now.Add(61 * time.Minute)
	if l := r.check(t.Context(), 1, later); l != limitNone {
		t.Fatalf("after an hour: %v", l)
	}
	r.record(t.Context(), 1, later)
	if l := r.check(t.Context(), 1, later.Add(2*time.Hour)); l != limitDay {
		t.Fatalf("fourth in a day: %v", l)
	}
	if l := r.check(t.Context(), 1, now.Add(25*time.Hour)); l != limitNone {
		t.Fatalf("next day: %v", l)
	}
}

// BenchmarkRateLimiter compares a check and a record in memory and in the
// SQLite store (the single-node choice).
func BenchmarkRateLimiter(b *testing.B) {
	st, err := sqlite.Open(b.Context(), sqlite.Options{Dir: b.TempDir(), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	for _, bc := range []struct {
		name string
		r    *RateLimiter
	}{{"memory", NewRateLimiter(1_000_000, 1_000_000)}, {"sqlite", NewStoreRateLimiter(st, 1_000_000, 1_000_000, nil)}} {
		b.Run(bc.name, func(b *testing.B) {
			now := time.Now()
			for i := 0; b.Loop(); i++ {
				bc.r.check(b.Context(), int64(i%100), now)
				bc.r.record(b.Context(), int64(i%100), now)
			}
		})
	}
}

func TestCleanHelo(t *testing.T) {
	for in, want := range map[string]string{
		"mx.example.org":        "mx.example.org",
		"evil\r\nX-Injected: 1": "evilX-Injected:1",
		"(comment);":            "comment",
		"":                      "unknown",
		"пример":                "unknown",
	} {
		if got := cleanHelo(in); got != want {
			t.Errorf("cleanHelo(%q) = %q, want %q", in, got, want)
		}
	}
}
