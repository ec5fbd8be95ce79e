// Package pop3 is pochta's POP3 server: RFC 1939 (APOP when the server
// switch is on, for accounts that have an APOP secret) with the extensions
// of RFC 2449 (CAPA, response codes, PIPELINING, TOP, UIDL, EXPIRE,
// LOGIN-DELAY), RFC 2595 (STLS), RFC 5034 (AUTH PLAIN and LOGIN with an
// initial response) and RFC 6856 (UTF8), over the store.
//
// A session is one goroutine per connection. The message list is fixed
// when the session logs in; the account's maildrop is locked exclusively
// (see Locker) until the session ends. Messages marked deleted are dealt
// with only when the client says QUIT in the TRANSACTION state, by the
// account's POP3 delete action (move to Trash, hide from POP3, or delete).
// The unique id of a message (UIDL) is its store id, which is stable for
// the life of the message, kept across folder moves and never reused.
package pop3

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/pochta-mail/pochta/internal/auth"
	"github.com/pochta-mail/pochta/internal/store"
)

// MinInactivityTimeout is the shortest autologout timer RFC 1939 allows.
const MinInactivityTimeout = 10 * time.Minute

// shutdownGrace is how long sessions may go on writing a response after
// the server is told to stop, before their connections are closed.
const shutdownGrace = 5 * time.Second

// handshakeTimeout bounds a TLS handshake (implicit TLS or STLS).
const handshakeTimeout = 30 * time.Second

// maxAuthFailures is how many failed logins one connection may make before
// it is closed.
const maxAuthFailures = 5

// Authenticator checks logins. *auth.Authenticator implements it.
type Authenticator interface {
	// Login checks a user name and password; see auth.Authenticator.
	Login(ctx context.Context, req auth.Request) (auth.Result, error)
	// PasswordAllowed reports whether a connection may carry a password
	// (true with TLS, or when the server-wide policy allows plaintext).
	PasswordAllowed(tls bool) bool
	// LoginAPOP checks an APOP digest; see auth.Authenticator.
	LoginAPOP(ctx context.Context, req auth.APOPRequest) (auth.Result, error)
}

// Options configure a Server.
type Options struct {
	// Store holds the mail. Required.
	Store store.Store
	// Auth checks logins. Required.
	Auth Authenticator
	// TLSConfig is used for implicit TLS and for STLS. Nil means neither
	// is offered.
	TLSConfig *tls.Config
	// Logger receives one line per connection event an operator needs
	// (logins, lock conflicts, timeouts, deletions, errors); nil means
	// slog.Default().
	Logger *slog.Logger
	// InactivityTimeout is the autologout timer; values under
	// MinInactivityTimeout (including 0) are raised to it.
	InactivityTimeout time.Duration
	// LoginDelay is the minimum time between two logins of one account
	// (RFC 2449 LOGIN-DELAY); 0 means none. Logins are recorded in the
	// store (store.CounterStore), so the delay holds across every node
	// sharing it and across restarts.
	LoginDelay time.Duration
	// TrashRetention and SpamRetention are how long the Trash and Spam
	// folders keep messages (0 = forever). When POP3 serves such a
	// folder, EXPIRE tells clients.
	TrashRetention, SpamRetention time.Duration
	// Locker locks maildrops; nil means the store's lock
	// (store.MaildropLocker), which holds across every node sharing a
	// PostgreSQL store.
	Locker Locker
	// APOP offers the APOP command (RFC 1939 §7) to accounts that have
	// an APOP secret: the greeting then carries a timestamp. Off, the
	// greeting has none and APOP is refused.
	APOP bool
	// Hostname goes into the APOP timestamp; "" means "localhost".
	Hostname string
}

// Server serves POP3 connections. One Server should serve every POP3
// listener of a process (pop3 and pop3s), so that the maildrop lock and
// the login delay cover both. Its methods are safe for concurrent use.
type Server struct {
	opts    Options
	log     *slog.Logger
	lock    Locker
	timeout time.Duration

	pid int
}

// New makes a Server.
func New(opts Options) (*Server, error) {
	if opts.Store == nil || opts.Auth == nil {
		return nil, errors.New("pop3: Store and Auth are required")
	}
	s := &Server{opts: opts, log: opts.Logger, lock: opts.Locker, timeout: opts.InactivityTimeout,
		pid: os.Getpid()}
	if s.opts.Hostname == "" {
		s.opts.Hostname = "localhost"
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	if s.lock == nil {
		s.lock = StoreLocker{opts.Store}
	}
	if s.timeout < MinInactivityTimeout {
		s.timeout = MinInactivityTimeout
	}
	return s, nil
}

// Serve accepts connections on ln until ctx is cancelled. With implicitTLS
// every connection starts with a TLS handshake (port 995); otherwise
// clients may upgrade with STLS (port 110). When ctx ends, Serve closes ln,
// tells sessions waiting for a command goodbye (without deleting anything,
// as RFC 1939 requires for sessions that did not QUIT), and returns when
// every session has ended.
func (s *Server) Serve(ctx context.Context, ln net.Listener, implicitTLS bool) error {
	if implicitTLS && s.opts.TLSConfig == nil {
		return errors.New("pop3: implicit TLS needs a TLS config")
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	stop := context.AfterFunc(ctx, func() { ln.Close() })
	defer stop()
	var delay time.Duration
	for {
		c, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				if ctx.Err() != nil {
					return nil
				}
				return fmt.Errorf("pop3 accept: %w", err)
			}
			// Out of file descriptors and the like: back off, go on.
			delay = min(max(2*delay, 5*time.Millisecond), time.Second)
			s.log.Warn("pop3 accept failed; retrying", "err", err, "in", delay)
			select {
			case <-time.After(delay):
			case <-ctx.Done():
				return nil
			}
			continue
		}
		delay = 0
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.serveConn(ctx, c, implicitTLS)
		}()
	}
}

// loginDelayKey is the store counter that records an account's POP3
// logins for LOGIN-DELAY.
func loginDelayKey(accountID int64) string {
	return "pop3-login:" + strconv.FormatInt(accountID, 10)
}

// checkLoginDelay reports whether the account may log in at now under
// LOGIN-DELAY, and if so records the login in the store, where every node
// sharing it, and later processes, see it. Refused logins are not
// recorded: they do not push the next allowed one further away. The
// caller holds the account's maildrop lock, which makes the check and the
// record one step across nodes.
func (s *Server) checkLoginDelay(ctx context.Context, accountID int64, now time.Time) (bool, error) {
	d := s.opts.LoginDelay
	if d <= 0 {
		return true, nil
	}
	// Counters have one-second buckets: a login in the window's oldest
	// bucket counts although it may be almost a second older than the
	// window. A window a second shorter than the delay thus refuses
	// only logins less than the delay apart, and lets through those
	// less than a second short of it (the delay is announced in whole
	// seconds anyway).
	window := max(d-time.Second, 0)
	key := loginDelayKey(accountID)
	n, err := s.opts.Store.Count(ctx, key, now, time.Second, window)
	if err != nil {
		return false, fmt.Errorf("login delay: %w", err)
	}
	if n > 0 {
		return false, nil
	}
	if _, err := s.opts.Store.AddCount(ctx, key, 1, now, time.Second, window); err != nil {
		return false, fmt.Errorf("login delay: %w", err)
	}
	return true, nil
}

// expireDays is the EXPIRE value (RFC 2449) for a set of served folder
// roles: the shortest retention of the folders, in days, or -1 for NEVER.
func (s *Server) expireDays(roles []store.Role) int {
	days := -1
	for _, r := range roles {
		var d time.Duration
		switch r {
		case store.RoleTrash:
			d = s.opts.TrashRetention
		case store.RoleJunk:
			d = s.opts.SpamRetention
		}
		if d <= 0 {
			continue
		}
		n := int(d / (24 * time.Hour))
		if days < 0 || n < days {
			days = n
		}
	}
	return days
}

// RejectBusy answers a connection refused by a connection limit, before
// any greeting (for netlimit.Wrap on a plaintext POP3 listener).
func RejectBusy(c net.Conn, perIP bool) {
	if perIP {
		io.WriteString(c, "-ERR [SYS/TEMP] Too many connections from your address; try again later\r\n")
		return
	}
	io.WriteString(c, "-ERR [SYS/TEMP] Too many connections; try again later\r\n")
}
