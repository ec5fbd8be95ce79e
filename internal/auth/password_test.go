package auth

import (
	"errors"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"
)

func TestHashAndVerify(t *testing.T) {
	h, err := HashPassword("correct horse battery staple")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h, "$argon2id$v=19$m=65536,t=3,p=2$") {
		t.Fatalf("hash %q is not argon2id PHC", h)
	}
	if strings.Contains(h, "correct horse") {
		t.Fatal("hash contains the password")
	}
	if err := VerifyPassword(h, "correct horse battery staple"); err != nil {
		t.Fatalf("right password refused: %v", err)
	}
	if err := VerifyPassword(h, "Correct horse battery staple"); !errors.Is(err, ErrMismatch) {
		t.Fatalf("wrong password: got %v, want ErrMismatch", err)
	}
	h2, _ := HashPassword("correct horse battery staple")
	if h == h2 {
		t.Fatal("two hashes of one password are equal: no salt")
	}
}

func TestVerifyBcryptAndMalformed(t *testing.T) {
	b, err := bcrypt.GenerateFromPassword([]byte("old-secret"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	if err := VerifyPassword(string(b), "old-secret"); err != nil {
		t.Fatalf("bcrypt: %v", err)
	}
	if err := VerifyPassword(string(b), "other"); !errors.Is(err, ErrMismatch) {
		t.Fatalf("bcrypt wrong: %v", err)
	}
	for _, bad := range []string{"md5:abc", "$argon2id$v=19$m=0,t=1,p=1$AAAA$AAAA", "$argon2id$garbage", "$argon2id$v=19$m=65536,t=3,p=2$!!$AAAA"} {
		if err := VerifyPassword(bad, "x"); err == nil || errors.Is(err, ErrMismatch) {
			t.Errorf("VerifyPassword(%q) = %v, want a format error", bad, err)
		}
	}
	if err := VerifyPassword("", ""); !errors.Is(err, ErrMismatch) {
		t.Errorf("empty hash must never match, got %v", err)
	}
}

func TestGeneratePassword(t *testing.T) {
	p, err := GeneratePassword(16)
	if err != nil || len(p) != 16 {
		t.Fatalf("GeneratePassword = %q, %v", p, err)
	}
	for _, c := range p {
		if !strings.ContainsRune(passwordAlphabet, c) {
			t.Fatalf("character %q outside the alphabet", c)
		}
	}
	q, _ := GeneratePassword(16)
	if p == q {
		t.Fatal("two generated passwords are equal")
	}
}

func FuzzVerifyPassword(f *testing.F) {
	f.Add("$argon2id$v=19$m=16,t=1,p=1$c2FsdHNhbHQ$aGFzaA", "pw")
	f.Add("$2a$04$abcdefghijklmnopqrstuv", "pw")
	f.Fuzz(func(t *testing.T, hash, pw string) {
		// Bounded work: refuse huge cost parameters is part of the check.
		_ = VerifyPassword(hash, pw)
	})
}

// TestHashParams checks that a hash records the cost it was made with and
// verifies with it, and that zero fields mean the defaults.
func TestHashParams(t *testing.T) {
	h, err := HashParams{Time: 1, MemoryKiB: 64, Threads: 1}.Hash("pw-1")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(h, "$m=64,t=1,p=1$") {
		t.Fatalf("hash %q does not record m=64,t=1,p=1", h)
	}
	if err := VerifyPassword(h, "pw-1"); err != nil {
		t.Fatalf("verify: %v", err)
	}
	if err := VerifyPassword(h, "pw-2"); !errors.Is(err, ErrMismatch) {
		t.Fatalf("wrong password: got %v, want ErrMismatch", err)
	}
	d, err := HashParams{}.Hash("pw-1")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(d, "$m=65536,t=3,p=2$") {
		t.Fatalf("zero params: hash %q does not use the defaults", d)
	}
}
