package web

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"
)

// ErrNoSession reports a session id that is unknown or expired.
var ErrNoSession = errors.New("no such session")

// Session is one signed-in browser.
type Session struct {
	// ID is the secret sent in the cookie; stores keep only its hash.
	ID        string
	AccountID int64
	Created   time.Time
	LastSeen  time.Time
	RemoteIP  string
	UserAgent string
}

// Sessions keeps web sessions. A store-backed implementation needs a table
// web_sessions(id_hash PRIMARY KEY, account_id REFERENCES accounts ON
// DELETE CASCADE, created, last_seen, remote_ip, user_agent) and these
// methods.
type Sessions interface {
	// Create starts a session for an account and returns it with a new
	// random ID.
	Create(ctx context.Context, s Session) (Session, error)
	// Get returns a live session by ID and records that it was used at
	// now; an unknown or expired ID gives ErrNoSession.
	Get(ctx context.Context, id string, now time.Time) (Session, error)
	// Delete ends one session.
	Delete(ctx context.Context, id string) error
	// DeleteAccount ends every session of an account ("log out on all
	// devices", password change) except the one with ID keep ("" for
	// none).
	DeleteAccount(ctx context.Context, accountID int64, keep string) error
}

// MemorySessions is a Sessions kept in memory: sessions end when the
// server restarts. Sessions idle longer than Idle or older than Max expire.
type MemorySessions struct {
	Idle, Max time.Duration

	mu   sync.Mutex
	byID map[string]Session // key: hash of the ID
}

// NewMemorySessions makes an empty MemorySessions.
func NewMemorySessions(idle, maxAge time.Duration) *MemorySessions {
	return &MemorySessions{Idle: idle, Max: maxAge, byID: map[string]Session{}}
}

func hashID(id string) string {
	h := sha256.Sum256([]byte(id))
	return hex.EncodeToString(h[:])
}

// randomToken returns n random bytes, base64url-encoded.
func randomToken(n int) (string, error) {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("random token: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// Create implements Sessions.
func (m *MemorySessions) Create(_ context.Context, s Session) (Session, error) {
	id, err := randomToken(32)
	if err != nil {
		return Session{}, fmt.Errorf("create session: %w", err)
	}
	s.ID = id
	m.mu.Lock()
	defer m.mu.Unlock()
	// Drop expired sessions now and then so the map stays bounded.
	if len(m.byID) > 10_000 {
		for k, v := range m.byID {
			if m.expired(v, s.Created) {
				delete(m.byID, k)
			}
		}
	}
	m.byID[hashID(id)] = s
	return s, nil
}

func (m *MemorySessions) expired(s Session, now time.Time) bool {
	return (m.Idle > 0 && now.Sub(s.LastSeen) > m.Idle) || (m.Max > 0 && now.Sub(s.Created) > m.Max)
}

// Get implements Sessions.
func (m *MemorySessions) Get(_ context.Context, id string, now time.Time) (Session, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	k := hashID(id)
	s, ok := m.byID[k]
	if !ok {
		return Session{}, ErrNoSession
	}
	if m.expired(s, now) {
		delete(m.byID, k)
		return Session{}, ErrNoSession
	}
	s.LastSeen = now
	m.byID[k] = s
	return s, nil
}

// Delete implements Sessions.
func (m *MemorySessions) Delete(_ context.Context, id string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.byID, hashID(id))
	return nil
}

// DeleteAccount implements Sessions.
func (m *MemorySessions) DeleteAccount(_ context.Context, accountID int64, keep string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for k, s := range m.byID {
		if s.AccountID == accountID && (keep == "" || s.ID != keep) {
			delete(m.byID, k)
		}
	}
	return nil
}

// Reason is why a sign-in failed ("" for a success). The values are stable
// keys (a store may keep them in a column).
type Reason string

// Sign-in results.
const (
	ReasonNone      Reason = ""
	ReasonPassword  Reason = "password"
	ReasonAppProto  Reason = "appproto"
	ReasonProtocol  Reason = "protocol"
	ReasonTLS       Reason = "tls"
	ReasonThrottled Reason = "throttled"
	ReasonDisabled  Reason = "disabled"
	ReasonOther     Reason = "other"
)

// SignIn is one sign-in attempt to an account.
type SignIn struct {
	AccountID int64
	Time      time.Time
	// Protocol is "imap", "pop3", "smtp" or "web".
	Protocol string
	RemoteIP string
	TLS      bool
	Reason   Reason
}

// OK reports a successful sign-in.
func (s SignIn) OK() bool { return s.Reason == ReasonNone }

// SignInLog records sign-ins per account. A store-backed implementation
// needs a table signins(account_id REFERENCES accounts ON DELETE CASCADE,
// at, protocol, remote_ip, tls, reason) indexed on (account_id, at),
// pruned to the newest N per account or to a retention time.
type SignInLog interface {
	// Record adds an attempt.
	Record(ctx context.Context, s SignIn) error
	// Recent returns an account's newest attempts, newest first, at most n.
	Recent(ctx context.Context, accountID int64, n int) ([]SignIn, error)
}

// MemorySignIns is a SignInLog in memory keeping the newest PerAccount
// attempts of each account.
type MemorySignIns struct {
	PerAccount int

	mu   sync.Mutex
	byID map[int64][]SignIn
}

// NewMemorySignIns makes an empty MemorySignIns.
func NewMemorySignIns(perAccount int) *MemorySignIns {
	return &MemorySignIns{PerAccount: perAccount, byID: map[int64][]SignIn{}}
}

// Record implements SignInLog.
func (m *MemorySignIns) Record(_ context.Context, s SignIn) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	l := append(m.byID[s.AccountID], s)
	if m.PerAccount > 0 && len(l) > m.PerAccount {
		l = slices.Clone(l[len(l)-m.PerAccount:])
	}
	m.byID[s.AccountID] = l
	return nil
}

// Recent implements SignInLog.
func (m *MemorySignIns) Recent(_ context.Context, accountID int64, n int) ([]SignIn, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	l := m.byID[accountID]
	out := make([]SignIn, 0, min(n, len(l)))
	for i := len(l) - 1; i >= 0 && len(out) < n; i-- {
		out = append(out, l[i])
	}
	return out, nil
}
