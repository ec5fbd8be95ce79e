package smtpd

import (
	"errors"
	"testing"
	"time"
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

func TestRateLimiter(t *testing.T) {
	r := NewRateLimiter(2, 3)
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	for i := 0; i < 2; i++ {
		if l := r.check(1, now); l != limitNone {
			t.Fatalf("message %d: %v", i, l)
		}
		r.record(1, now)
	}
	if l := r.check(1, now); l != limitHour {
		t.Fatalf("third in an hour: %v", l)
	}
	if l := r.check(2, now); l != limitNone {
		t.Fatal("another account limited")
	}
	later := now.Add(61 * time.Minute)
	if l := r.check(1, later); l != limitNone {
		t.Fatalf("after an hour: %v", l)
	}
	r.record(1, later)
	if l := r.check(1, later.Add(2*time.Hour)); l != limitDay {
		t.Fatalf("fourth in a day: %v", l)
	}
	if l := r.check(1, now.Add(25*time.Hour)); l != limitNone {
		t.Fatalf("next day: %v", l)
	}
	var none *RateLimiter
	if none.check(1, now) != limitNone {
		t.Fatal("nil limiter limits")
	}
	none.record(1, now)
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
