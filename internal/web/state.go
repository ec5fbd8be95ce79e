package web

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/pochta-mail/pochta/internal/store"
)

// ErrNoSession reports a session id that is unknown or expired.
var ErrNoSession = errors.New("no such session")

// Session is one signed-in browser.
type Session struct {
	// ID is the secret sent in the cookie; the store keeps only its hash.
	ID        string
	AccountID int64
	Created   time.Time
	LastSeen  time.Time
	RemoteIP  string
	UserAgent string
}

// touchEvery is how stale a session's last-seen time may get before a
// request writes it again: a write per page view is not worth it.
const touchEvery = time.Minute

// Sessions keeps web sessions in the store, so that they survive a restart
// and every node sees them. Sessions idle longer than Idle or older than
// Max expire.
type Sessions struct {
	Store     store.WebStore
	Idle, Max time.Duration
}

// hashID is what the store keeps of a session id.
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

// Create starts a session for s.AccountID and returns it with a new random
// ID. Expired sessions of every account are removed on the way.
func (m *Sessions) Create(ctx context.Context, s Session) (Session, error) {
	id, err := randomToken(32)
	if err != nil {
		return Session{}, fmt.Errorf("create session: %w", err)
	}
	s.ID = id
	if _, err := m.Store.DeleteExpiredWebSessions(ctx, m.before(s.Created, m.Idle), m.before(s.Created, m.Max)); err != nil {
		return Session{}, fmt.Errorf("create session: %w", err)
	}
	err = m.Store.CreateWebSession(ctx, store.WebSession{IDHash: hashID(id), AccountID: s.AccountID, Created: s.Created,
		LastSeen: s.LastSeen, RemoteIP: s.RemoteIP, UserAgent: s.UserAgent})
	if err != nil {
		return Session{}, fmt.Errorf("create session: %w", err)
	}
	return s, nil
}

// before returns now-d, or the zero time (no limit) when d is 0.
func (m *Sessions) before(now time.Time, d time.Duration) time.Time {
	if d <= 0 {
		return time.Time{}
	}
	return now.Add(-d)
}

func (m *Sessions) expired(s store.WebSession, now time.Time) bool {
	return (m.Idle > 0 && now.Sub(s.LastSeen) > m.Idle) || (m.Max > 0 && now.Sub(s.Created) > m.Max)
}

// Get returns a live session by ID and records that it was used at now;
// an unknown or expired ID gives ErrNoSession.
func (m *Sessions) Get(ctx context.Context, id string, now time.Time) (Session, error) {
	if id == "" {
		return Session{}, ErrNoSession
	}
	h := hashID(id)
	ws, err := m.Store.WebSession(ctx, h)
	if errors.Is(err, store.ErrNotFound) {
		return Session{}, ErrNoSession
	} else if err != nil {
		return Session{}, fmt.Errorf("session: %w", err)
	}
	if m.expired(ws, now) {
		if err := m.Store.DeleteWebSession(ctx, h); err != nil {
			return Session{}, fmt.Errorf("end expired session: %w", err)
		}
		return Session{}, ErrNoSession
	}
	if now.Sub(ws.LastSeen) >= touchEvery {
		if err := m.Store.TouchWebSession(ctx, h, now); err != nil && !errors.Is(err, store.ErrNotFound) {
			return Session{}, fmt.Errorf("session: %w", err)
		}
		ws.LastSeen = now
	}
	return Session{ID: id, AccountID: ws.AccountID, Created: ws.Created, LastSeen: ws.LastSeen,
		RemoteIP: ws.RemoteIP, UserAgent: ws.UserAgent}, nil
}

// Delete ends one session.
func (m *Sessions) Delete(ctx context.Context, id string) error {
	if err := m.Store.DeleteWebSession(ctx, hashID(id)); err != nil {
		return fmt.Errorf("end session: %w", err)
	}
	return nil
}

// DeleteAccount ends every session of an account ("log out on all
// devices", password change) except the one with ID keep ("" for none).
func (m *Sessions) DeleteAccount(ctx context.Context, accountID int64, keep string) error {
	k := ""
	if keep != "" {
		k = hashID(keep)
	}
	if _, err := m.Store.DeleteWebSessions(ctx, accountID, k); err != nil {
		return fmt.Errorf("end sessions: %w", err)
	}
	return nil
}

// Reason is why a sign-in failed ("" for a success). The values are stable
// keys, kept in the store's sign-in log.
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
