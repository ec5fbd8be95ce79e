package store

import (
	"context"
	"fmt"
	"time"
)

// MaxSignInsPerAccount bounds the sign-in log: recording an attempt drops
// the account's oldest records beyond this many.
const MaxSignInsPerAccount = 200

// WebStore keeps what the web pages share between requests and between
// nodes: browser sessions, the per-account sign-in log and the server-wide
// settings an administrator changes at runtime.
type WebStore interface {
	// CreateWebSession stores a new session. IDHash (the hash of the
	// secret in the cookie; the secret itself is never stored) must be
	// new; the account must exist (ErrNotFound otherwise).
	CreateWebSession(ctx context.Context, s WebSession) error
	// WebSession returns a session by the hash of its id, ErrNotFound
	// when there is none. Expiry is the caller's: see
	// DeleteExpiredWebSessions.
	WebSession(ctx context.Context, idHash string) (WebSession, error)
	// TouchWebSession records that a session was used at at.
	TouchWebSession(ctx context.Context, idHash string, at time.Time) error
	// DeleteWebSession ends one session; an unknown one is no error.
	DeleteWebSession(ctx context.Context, idHash string) error
	// DeleteWebSessions ends every session of an account except the one
	// whose hash is keepHash ("" for none) and returns how many ended.
	DeleteWebSessions(ctx context.Context, accountID int64, keepHash string) (int, error)
	// DeleteExpiredWebSessions ends the sessions last used before
	// idleBefore or created before createdBefore (a zero time disables
	// that test) and returns how many ended.
	DeleteExpiredWebSessions(ctx context.Context, idleBefore, createdBefore time.Time) (int, error)

	// RecordSignIn adds a sign-in attempt to an account's log and drops
	// the account's records beyond the newest MaxSignInsPerAccount.
	RecordSignIn(ctx context.Context, s SignIn) error
	// SignIns returns an account's newest attempts, newest first, at most
	// n.
	SignIns(ctx context.Context, accountID int64, n int) ([]SignIn, error)

	// ServerSettings returns every server-wide setting saved at runtime
	// (key → value). They override the configuration file.
	ServerSettings(ctx context.Context) (map[string]string, error)
	// SetServerSetting saves one server-wide setting; the value ""
	// removes it, so that the configuration file applies again.
	SetServerSetting(ctx context.Context, key, value string) error
}

// WebSession is one signed-in browser.
type WebSession struct {
	// IDHash identifies the session: a hash of the secret in the cookie.
	IDHash    string
	AccountID int64
	Created   time.Time
	LastSeen  time.Time
	RemoteIP  string
	UserAgent string
}

// SignIn is one sign-in attempt to an account, successful or not.
type SignIn struct {
	AccountID int64
	Time      time.Time
	// Protocol is "imap", "pop3", "smtp" or "web".
	Protocol string
	RemoteIP string
	TLS      bool
	// Reason is why the attempt failed, "" for a success (the web
	// package's Reason values).
	Reason string
	// AppPassword names the app password used, "" for the account's own
	// password.
	AppPassword string
}

// Keys of the server settings (ServerSettings). Boolean values are "true"
// or "false"; a missing key means the configuration file's value.
const (
	// SettingAllowPlaintext is the server-wide login policy: may
	// passwords travel without TLS (auth.allow_plaintext).
	SettingAllowPlaintext = "auth.allow_plaintext"
	// SettingNewPOP3 and SettingNewIMAP say whether POP3 and IMAP are on
	// for accounts made from now on (default on).
	SettingNewPOP3 = "new_accounts.pop3"
	SettingNewIMAP = "new_accounts.imap"
)

// BoolSetting reads a boolean server setting from m, def when it is not
// set or not a boolean.
func BoolSetting(m map[string]string, key string, def bool) bool {
	switch m[key] {
	case "true":
		return true
	case "false":
		return false
	}
	return def
}

// FormatBool is the stored form of a boolean server setting.
func FormatBool(b bool) string {
	if b {
		return "true"
	}
	return "false"
}

// NewAccountSettings returns the settings of an account made now:
// DefaultSettings with the server-wide switches for new accounts applied.
func NewAccountSettings(ctx context.Context, s WebStore) (Settings, error) {
	st := DefaultSettings()
	m, err := s.ServerSettings(ctx)
	if err != nil {
		return st, fmt.Errorf("settings for a new account: %w", err)
	}
	st.POP3Enabled = BoolSetting(m, SettingNewPOP3, true)
	st.IMAPEnabled = BoolSetting(m, SettingNewIMAP, true)
	return st, nil
}
