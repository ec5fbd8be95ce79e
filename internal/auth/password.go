// Package auth checks who is logging in: password hashing, app passwords,
// the login policy and, later, SASL mechanisms and throttling.
package auth

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"math/big"
	"strings"

	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/bcrypt"
)

// Argon2id parameters for new hashes (RFC 9106's second recommended option,
// with less memory: 64 MiB, 3 passes, 2 lanes). Stored in each hash, so they
// can change without breaking old hashes.
const (
	argonTime    = 3
	argonMemory  = 64 * 1024
	argonThreads = 2
	argonKeyLen  = 32
	saltLen      = 16
)

// ErrMismatch reports a password that does not match its hash.
var ErrMismatch = errors.New("password does not match")

var b64 = base64.RawStdEncoding

// HashParams is the argon2id cost of new password hashes. Each hash
// records its own parameters, so changing them affects only passwords set
// afterwards.
type HashParams struct {
	// Time is the number of passes over the memory.
	Time uint32
	// MemoryKiB is the memory used, in KiB.
	MemoryKiB uint32
	// Threads is the number of lanes.
	Threads uint8
}

// DefaultHashParams are the parameters HashPassword uses: 3 passes over
// 64 MiB in 2 lanes.
func DefaultHashParams() HashParams {
	return HashParams{Time: argonTime, MemoryKiB: argonMemory, Threads: argonThreads}
}

// Hash makes an argon2id hash with p in the PHC string format:
// $argon2id$v=19$m=65536,t=3,p=2$<salt>$<hash>. Zero fields take the
// defaults.
func (p HashParams) Hash(password string) (string, error) {
	d := DefaultHashParams()
	if p.Time == 0 {
		p.Time = d.Time
	}
	if p.MemoryKiB == 0 {
		p.MemoryKiB = d.MemoryKiB
	}
	if p.Threads == 0 {
		p.Threads = d.Threads
	}
	salt := make([]byte, saltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("hash password: %w", err)
	}
	key := argon2.IDKey([]byte(password), salt, p.Time, p.MemoryKiB, p.Threads, argonKeyLen)
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, p.MemoryKiB, p.Time, p.Threads, b64.EncodeToString(salt), b64.EncodeToString(key)), nil
}

// HashPassword makes an argon2id hash with DefaultHashParams.
func HashPassword(password string) (string, error) {
	return DefaultHashParams().Hash(password)
}

// VerifyPassword checks a password against an argon2id hash made by
// HashPassword or a bcrypt hash ($2a$, $2b$, $2y$) imported from elsewhere.
// It returns ErrMismatch for a wrong password and another error for a hash
// it cannot read.
func VerifyPassword(hash, password string) error {
	switch {
	case strings.HasPrefix(hash, "$argon2id$"):
		return verifyArgon2id(hash, password)
	case strings.HasPrefix(hash, "$2a$"), strings.HasPrefix(hash, "$2b$"), strings.HasPrefix(hash, "$2y$"):
		err := bcrypt.CompareHashAndPassword([]byte(hash), []byte(password))
		if errors.Is(err, bcrypt.ErrMismatchedHashAndPassword) {
			return ErrMismatch
		}
		if err != nil {
			return fmt.Errorf("verify bcrypt hash: %w", err)
		}
		return nil
	case hash == "":
		return ErrMismatch // no password set: nobody logs in
	}
	return errors.New("verify password: unknown hash format")
}

func verifyArgon2id(hash, password string) error {
	parts := strings.Split(hash, "$")
	// "", "argon2id", "v=19", "m=..,t=..,p=..", salt, key
	if len(parts) != 6 {
		return errors.New("verify argon2id hash: malformed")
	}
	var version int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &version); err != nil || version != argon2.Version {
		return errors.New("verify argon2id hash: unsupported version")
	}
	var m, t uint32
	var p uint8
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &m, &t, &p); err != nil || m == 0 || t == 0 || p == 0 || m > 1<<18 || t > 10 {
		return errors.New("verify argon2id hash: bad parameters")
	}
	salt, err := b64.DecodeString(parts[4])
	if err != nil {
		return fmt.Errorf("verify argon2id hash: salt: %w", err)
	}
	want, err := b64.DecodeString(parts[5])
	if err != nil || len(want) == 0 || len(want) > 128 {
		return errors.New("verify argon2id hash: bad key")
	}
	got := argon2.IDKey([]byte(password), salt, t, m, p, uint32(len(want)))
	if subtle.ConstantTimeCompare(got, want) != 1 {
		return ErrMismatch
	}
	return nil
}

// passwordAlphabet avoids characters people confuse (0/O, 1/l/I).
const passwordAlphabet = "abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"

// GeneratePassword makes a random password of n characters (about 5.8 bits
// each) for new accounts and app passwords.
func GeneratePassword(n int) (string, error) {
	var sb strings.Builder
	max := big.NewInt(int64(len(passwordAlphabet)))
	for i := 0; i < n; i++ {
		k, err := rand.Int(rand.Reader, max)
		if err != nil {
			return "", fmt.Errorf("generate password: %w", err)
		}
		sb.WriteByte(passwordAlphabet[k.Int64()])
	}
	return sb.String(), nil
}
