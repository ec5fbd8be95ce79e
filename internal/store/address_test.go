package store

import (
	"errors"
	"strings"
	"testing"
)

func TestCanonicalAddress(t *testing.T) {
	good := map[string]string{
		"User@Example.ORG":        "user@example.org",
		" a.b+tag@x.example. ":    "a.b+tag@x.example",
		"почта@пример.рф":         "почта@пример.рф",
		"ПОЧТА@ПРИМЕР.РФ":         "почта@пример.рф",
		"o'brien@example.com":     "o'brien@example.com",
		"a@b@example.com":         "", // refused: '@' in local part
		"x@sub-domain.example.io": "x@sub-domain.example.io",
	}
	for in, want := range good {
		got, _, _, err := CanonicalAddress(in)
		if want == "" {
			if err == nil {
				t.Errorf("CanonicalAddress(%q) = %q, want error", in, got)
			}
			continue
		}
		if err != nil || got != want {
			t.Errorf("CanonicalAddress(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	bad := []string{"", "@example.org", "user@", "user", "us er@example.org", ".a@example.org",
		"a..b@example.org", "a@-x.example", "a@x..example", "a@exa mple.org", "\"q\"@example.org",
		strings.Repeat("a", 65) + "@example.org", "a@" + strings.Repeat("b", 64) + ".org"}
	for _, in := range bad {
		if got, _, _, err := CanonicalAddress(in); err == nil || !errors.Is(err, ErrInvalid) {
			t.Errorf("CanonicalAddress(%q) = %q, %v; want ErrInvalid", in, got, err)
		}
	}
}

func FuzzCanonicalAddress(f *testing.F) {
	for _, s := range []string{"user@example.org", "почта@пример.рф", "a@b", "@", "a..b@c", "\xff@x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		addr, local, domain, err := CanonicalAddress(s)
		if err != nil {
			return
		}
		if addr != local+"@"+domain {
			t.Fatalf("address %q is not local %q @ domain %q", addr, local, domain)
		}
		again, _, _, err := CanonicalAddress(addr)
		if err != nil || again != addr {
			t.Fatalf("not idempotent: %q -> %q -> %q, %v", s, addr, again, err)
		}
	})
}
