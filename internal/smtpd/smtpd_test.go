package smtpd

import (
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/pochta-mail/pochta/internal/store"
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
	if none.check(t.Context(), 1, none.limitsFor(store.DefaultSettings()), time.Now()) != limitNone {
		t.Fatal("nil limiter limits")
	}
	none.record(t.Context(), 1, limits{perHour: 1}, time.Now())
}

func testRateLimiter(t *testing.T, r *RateLimiter) {
	l := r.limitsFor(store.DefaultSettings())
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	for i := 0; i < 2; i++ {
		if got := r.check(t.Context(), 1, l, now); got != limitNone {
			t.Fatalf("message %d: %v", i, got)
		}
		r.record(t.Context(), 1, l, now)
	}
	if got := r.check(t.Context(), 1, l, now); got != limitHour {
		t.Fatalf("third in an hour: %v", got)
	}
	if got := r.check(t.Context(), 2, l, now); got != limitNone {
		t.Fatal("another account limited")
	}
	later := now.Add(61 * time.Minute)
	if got := r.check(t.Context(), 1, l, later); got != limitNone {
		t.Fatalf("after an hour: %v", got)
	}
	r.record(t.Context(), 1, l, later)
	if got := r.check(t.Context(), 1, l, later.Add(2*time.Hour)); got != limitDay {
		t.Fatalf("fourth in a day: %v", got)
	}
	if got := r.check(t.Context(), 1, l, now.Add(25*time.Hour)); got != limitNone {
		t.Fatalf("next day: %v", got)
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
				l := limits{perHour: 1_000_000, perDay: 1_000_000}
				bc.r.check(b.Context(), int64(i%100), l, now)
				bc.r.record(b.Context(), int64(i%100), l, now)
			}
		})
	}
}

func TestRateLimiterOverrides(t *testing.T) {
	r := NewRateLimiter(2, 0)
	for _, c := range []struct {
		hour, day int
		want      limits
	}{
		{0, 0, limits{2, 0}},
		{1, 0, limits{1, 0}},
		{store.Unlimited, 0, limits{0, 0}},
		{0, 5, limits{2, 5}},
		{10, store.Unlimited, limits{10, 0}},
	} {
		s := store.DefaultSettings()
		s.SendPerHour, s.SendPerDay = c.hour, c.day
		if got := r.limitsFor(s); got != c.want {
			t.Errorf("limitsFor(hour %d, day %d) = %+v, want %+v", c.hour, c.day, got, c.want)
		}
	}
	// An account without limits is never counted, one with a lower
	// limit is stopped at it while the server default still allows more.
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	free, low := limits{}, limits{perHour: 1}
	for i := 0; i < 5; i++ {
		if r.check(t.Context(), 1, free, now) != limitNone {
			t.Fatal("unlimited account limited")
		}
		r.record(t.Context(), 1, free, now)
	}
	r.record(t.Context(), 2, low, now)
	if r.check(t.Context(), 2, low, now) != limitHour {
		t.Fatal("override of 1 per hour not applied")
	}
	if r.check(t.Context(), 2, limits{perHour: 2}, now) != limitNone {
		t.Fatal("server default of 2 per hour reached after one message")
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
