package auth

import (
	"github.com/pochta-mail/pochta/internal/store"

	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/md5"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// APOP (RFC 1939 §7) proves knowledge of a secret shared by client and
// server without sending it: the client sends MD5(timestamp + secret),
// where timestamp is the <...> of the server's greeting. The server must
// therefore keep the secret itself, not a hash of it. pochta keeps a
// separate APOP secret per account (never the login password, which is
// only stored hashed), encrypted with AES-256-GCM under a server key
// (SecretKey), in the account's settings.

// SecretKeyFile is the name of the server key under the data folder.
const SecretKeyFile = "secret.key"

// secretKeyLen is the AES-256 key size.
const secretKeyLen = 32

// sealedPrefix marks the format version of a sealed secret.
const sealedPrefix = "v1:"

// MaxAPOPSecret is the longest APOP secret accepted (clients keep it
// like a password; the limit only bounds the work).
const MaxAPOPSecret = 256

// apopSecretLength is the length of generated APOP secrets (about 139
// bits): APOP's MD5 digest can be attacked offline by anyone who saw a
// dialogue, so the secret must be long and random.
const apopSecretLength = 24

// SecretKey encrypts per-account secrets that the server must be able to
// read back (APOP secrets). It is safe for concurrent use.
type SecretKey struct {
	aead cipher.AEAD
}

// LoadSecretKey reads the server key DIR/secret.key, making it (32 random
// bytes, mode 0600) when it does not exist yet. Two processes making it at
// once end up with the same key: the file appears whole or not at all
// (written aside, then linked into place without replacing anything). A
// key file that others may read, or of the wrong length, is refused.
func LoadSecretKey(dir string) (*SecretKey, error) {
	path := filepath.Join(dir, SecretKeyFile)
	key, err := readSecretKey(path)
	if errors.Is(err, fs.ErrNotExist) {
		if err := makeSecretKey(dir, path); err != nil {
			return nil, err
		}
		key, err = readSecretKey(path)
	}
	if err != nil {
		return nil, err
	}
	return NewSecretKey(key)
}

// NewSecretKey makes a SecretKey from 32 key bytes.
func NewSecretKey(key []byte) (*SecretKey, error) {
	if len(key) != secretKeyLen {
		return nil, fmt.Errorf("secret key: %d bytes, want %d", len(key), secretKeyLen)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("secret key: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("secret key: %w", err)
	}
	return &SecretKey{aead: aead}, nil
}

func readSecretKey(path string) ([]byte, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("server secret key: %w", err)
	}
	if st.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("server secret key %s may be read by others (mode %04o); run chmod 600 on it", path, st.Mode().Perm())
	}
	key, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("server secret key: %w", err)
	}
	if len(key) != secretKeyLen {
		return nil, fmt.Errorf("server secret key %s: %d bytes, want %d", path, len(key), secretKeyLen)
	}
	return key, nil
}

func makeSecretKey(dir, path string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("make server secret key: %w", err)
	}
	key := make([]byte, secretKeyLen)
	if _, err := rand.Read(key); err != nil {
		return fmt.Errorf("make server secret key: %w", err)
	}
	f, err := os.CreateTemp(dir, ".secret-key-*")
	if err != nil {
		return fmt.Errorf("make server secret key: %w", err)
	}
	tmp := f.Name()
	defer os.Remove(tmp)
	_, err = f.Write(key)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("make server secret key: %w", err)
	}
	// CreateTemp made the file with mode 0600. Link does not replace an
	// existing key (another process may have made one meanwhile).
	if err := os.Link(tmp, path); err != nil && !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("make server secret key: %w", err)
	}
	return nil
}

// secretAD binds a sealed secret to its account, so that a sealed value
// copied into another account's settings does not open.
func secretAD(accountID int64) []byte {
	return []byte("pochta apop secret, account " + strconv.FormatInt(accountID, 10))
}

// Seal encrypts an account's APOP secret for storage in its settings.
func (k *SecretKey) Seal(secret string, accountID int64) (string, error) {
	return k.seal([]byte(secret), secretAD(accountID))
}

// Open decrypts what Seal made for the same account.
func (k *SecretKey) Open(sealed string, accountID int64) (string, error) {
	plain, err := k.open(sealed, secretAD(accountID))
	return string(plain), err
}

// SealBytes encrypts a secret the server keeps in the store other than
// an APOP secret (DKIM private keys), bound to context: what it is and
// whose (for example "dkim key example.org e202611"), so that a sealed
// value copied to another place does not open there.
func (k *SecretKey) SealBytes(plain []byte, context string) (string, error) {
	return k.seal(plain, bytesAD(context))
}

// OpenBytes decrypts what SealBytes made with the same context.
func (k *SecretKey) OpenBytes(sealed, context string) ([]byte, error) {
	return k.open(sealed, bytesAD(context))
}

// bytesAD is the associated data of SealBytes: prefixed so that it never
// equals an APOP secret's.
func bytesAD(context string) []byte { return []byte("pochta secret: " + context) }

func (k *SecretKey) seal(plain, ad []byte) (string, error) {
	nonce := make([]byte, k.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return "", fmt.Errorf("seal secret: %w", err)
	}
	out := k.aead.Seal(nonce, nonce, plain, ad)
	return sealedPrefix + base64.RawStdEncoding.EncodeToString(out), nil
}

func (k *SecretKey) open(sealed string, ad []byte) ([]byte, error) {
	b64, ok := strings.CutPrefix(sealed, sealedPrefix)
	if !ok {
		return nil, errors.New("open secret: unknown format")
	}
	raw, err := base64.RawStdEncoding.DecodeString(b64)
	if err != nil {
		return nil, fmt.Errorf("open secret: %w", err)
	}
	ns := k.aead.NonceSize()
	if len(raw) < ns+k.aead.Overhead() {
		return nil, errors.New("open secret: too short")
	}
	plain, err := k.aead.Open(nil, raw[:ns], raw[ns:], ad)
	if err != nil {
		return nil, errors.New("open secret: wrong server key or damaged value")
	}
	return plain, nil
}

// GenerateAPOPSecret makes a random APOP secret.
func GenerateAPOPSecret() (string, error) {
	return GeneratePassword(apopSecretLength)
}

// CheckAPOPSecret reports why a secret cannot be used: empty, too long, or
// with characters a POP3 client could not be told to use (control
// characters). It must not equal the login password either; the caller
// checks that with VerifyPassword.
func CheckAPOPSecret(secret string) error {
	switch {
	case secret == "":
		return errors.New("empty APOP secret")
	case len(secret) > MaxAPOPSecret:
		return fmt.Errorf("APOP secret longer than %d octets", MaxAPOPSecret)
	}
	for _, c := range []byte(secret) {
		if c < 0x20 || c == 0x7f {
			return errors.New("APOP secret with a control character")
		}
	}
	return nil
}

// APOPDigest is the digest a client sends for a greeting timestamp and a
// secret: MD5(timestamp + secret) as 32 lower-case hex digits.
func APOPDigest(timestamp, secret string) string {
	sum := md5.Sum([]byte(timestamp + secret))
	return hex.EncodeToString(sum[:])
}

// APOPRequest is one APOP login attempt.
type APOPRequest struct {
	Username string
	// Timestamp is the <...> this connection's greeting carried.
	Timestamp string
	// Digest is what the client sent (32 hex digits).
	Digest string
	// TLS is true when the connection is encrypted.
	TLS bool
	// RemoteIP is the client's address, for throttling and the records.
	RemoteIP netip.Addr
}

// LoginAPOP checks an APOP login (always POP3). It follows the rules of
// Login: the same throttling, failure delay and records; the account's
// login policy (without TLS only where passwords may travel without TLS,
// see below); POP3 switched off and disabled accounts fail after a
// correct digest. An account without an APOP secret, an unknown user and
// a wrong digest are all ErrBadCredentials (the reason is logged).
//
// The login policy: APOP sends no password, but the secret is a
// credential too, and the MD5 digest lets anyone who saw one dialogue
// search for the secret offline (RFC 1939 §13 warns of this), while the
// mail itself would cross the network readable. So where the policy
// keeps passwords off unencrypted connections (the default "secure"
// policy) it keeps APOP off them as well (ErrTLSRequired).
func (a *Authenticator) LoginAPOP(ctx context.Context, req APOPRequest) (Result, error) {
	return a.attempt(ctx, req.Username, ProtoPOP3, req.RemoteIP, req.TLS, "apop", func() (Result, store.AppPassword, error) {
		res, err := a.checkAPOP(ctx, req)
		return res, store.AppPassword{}, err
	})
}

// checkAPOP does the work of LoginAPOP without throttling.
func (a *Authenticator) checkAPOP(ctx context.Context, req APOPRequest) (Result, error) {
	acct, err := a.ResolveUser(ctx, req.Username)
	if err != nil {
		if errors.Is(err, ErrBadCredentials) {
			return Result{}, fmt.Errorf("%w: no account %q", ErrBadCredentials, req.Username)
		}
		return Result{}, fmt.Errorf("login: %w", err)
	}
	res := Result{Account: acct}
	if !a.passwordAllowedFor(ctx, acct, req.TLS) {
		return res, ErrTLSRequired
	}
	if acct.Settings.APOPSecret == "" {
		return res, fmt.Errorf("%w: %s has no APOP secret", ErrBadCredentials, acct.Address)
	}
	if a.policy.SecretKey == nil {
		return res, errors.New("login: APOP without a server secret key")
	}
	secret, err := a.policy.SecretKey.Open(acct.Settings.APOPSecret, acct.ID)
	if err != nil {
		return res, fmt.Errorf("login %s: APOP secret: %w", acct.Address, err)
	}
	want := APOPDigest(req.Timestamp, secret)
	if subtle.ConstantTimeCompare([]byte(want), []byte(strings.ToLower(req.Digest))) != 1 {
		return res, fmt.Errorf("%w: wrong APOP digest for %s", ErrBadCredentials, acct.Address)
	}
	if acct.Disabled {
		return res, ErrAccountDisabled
	}
	if !acct.Settings.POP3Enabled {
		return res, ErrProtocolDisabled
	}
	return res, nil
}
