package store

import (
	"errors"
	"strings"
	"testing"
)

func TestCanonicalAddress(t *testing.T) {
	good := map[string]string{
		"User@Example.ORG":           "user@example.org",
		" a.b+tag@x.example. ":       "a.b+tag@x.example",
		"почта@пример.рф":            "почта@xn--e1afmkfd.xn--p1ai",
		"ПОЧТА@ПРИМЕР.РФ":            "почта@xn--e1afmkfd.xn--p1ai",
		"user@XN--E1AFMKFD.xn--p1ai": "user@xn--e1afmkfd.xn--p1ai",
		"o'brien@example.com":        "o'brien@example.com",
		"a@b@example.com":            "", // refused: '@' in local part
		"x@sub-domain.example.io":    "x@sub-domain.example.io",
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

func TestCanonicalDomainIDNA(t *testing.T) {
	good := map[string]string{
		"пример.рф":             "xn--e1afmkfd.xn--p1ai",
		"ПРИМЕР.РФ.":            "xn--e1afmkfd.xn--p1ai",
		"xn--e1afmkfd.xn--p1ai": "xn--e1afmkfd.xn--p1ai",
		"XN--E1AFMKFD.XN--P1AI": "xn--e1afmkfd.xn--p1ai",
		"пример.xn--p1ai":       "xn--e1afmkfd.xn--p1ai",
		"bücher.example":        "xn--bcher-kva.example",
		"BÜCHER.example":        "xn--bcher-kva.example",
		"straße.de":             "xn--strae-oqa.de",   // nontransitional: ß is kept
		"ｅｘａｍｐｌｅ.org":           "example.org",        // full-width letters map
		"r3---sn-ab.example":    "r3---sn-ab.example", // "--" in an ASCII label, as DNS allows
		"münchen.de":            "xn--mnchen-3ya.de",
	}
	for in, want := range good {
		got, err := CanonicalDomain(in)
		if err != nil || got != want {
			t.Errorf("CanonicalDomain(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	bad := []string{
		"xn--abc.example",               // not valid punycode
		"xn--example-.org",              // punycode of plain ASCII
		"a_b.example",                   // not a host name
		"-пример.рф",                    // leading hyphen
		"пример..рф",                    // empty label
		"‍x.example",                    // joiner without context
		"aא.example",                    // Bidi rule: RTL letter after LTR
		strings.Repeat("я", 60) + ".рф", // A-label over 63 octets
	}
	for _, in := range bad {
		if got, err := CanonicalDomain(in); err == nil || !errors.Is(err, ErrInvalid) {
			t.Errorf("CanonicalDomain(%q) = %q, %v; want ErrInvalid", in, got, err)
		}
	}
	for in, want := range map[string]string{
		"xn--e1afmkfd.xn--p1ai": "пример.рф",
		"example.org":           "example.org",
		"xn--abc.example":       "xn--abc.example", // not an IDN: unchanged
	} {
		if got := DisplayDomain(in); got != want {
			t.Errorf("DisplayDomain(%q) = %q, want %q", in, got, want)
		}
	}
}

func FuzzCanonicalAddress(f *testing.F) {
	for _, s := range []string{"user@example.org", "почта@пример.рф", "a@b", "@", "a..b@c", "\xff@x",
		"x@xn--e1afmkfd.xn--p1ai", "x@BÜCHER.example", "x@straße.de", "x@ｅｘａｍｐｌｅ.org", "x@xn--abc.example"} {
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
		// The domain is ASCII (A-labels) and lowercase.
		for i := 0; i < len(domain); i++ {
			if c := domain[i]; c >= 0x80 || ('A' <= c && c <= 'Z') {
				t.Fatalf("domain %q of %q is not lowercase ASCII", domain, s)
			}
		}
		// The Unicode form is the same domain.
		if u := DisplayDomain(domain); u != domain {
			back, err := CanonicalDomain(u)
			if err != nil || back != domain {
				t.Fatalf("%q -> display %q -> %q, %v", domain, u, back, err)
			}
		}
		// The case-sensitive form differs only in the local part's case.
		exact, elocal, edomain, err := CanonicalAddressCase(s, true)
		if err != nil || edomain != domain || strings.ToLower(elocal) != local || exact != elocal+"@"+edomain {
			t.Fatalf("case-sensitive %q -> %q (%q @ %q), %v; case-insensitive %q", s, exact, elocal, edomain, err, addr)
		}
	})
}
