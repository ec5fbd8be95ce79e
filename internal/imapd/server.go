// Package imapd is pochta's IMAP server: IMAP4rev1 (RFC 3501) and
// IMAP4rev2 (RFC 9051) with the extensions modern clients rely on, served
// from the mail store.
//
// Every connection is one goroutine that reads a command, runs it against
// the store and writes the answer. A session keeps the selected folder's
// sequence-number-to-UID map and learns what other sessions, deliveries and
// POP3 did from the store's change events, which it turns into untagged
// EXISTS, EXPUNGE and FETCH responses at the moments the protocol allows.
// Large answers (FETCH over a big folder) and APPEND messages are streamed.
package imapd

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/pochta-mail/pochta/internal/auth"
	"github.com/pochta-mail/pochta/internal/netlimit"
	"github.com/pochta-mail/pochta/internal/store"
)

// Options configure a Server.
type Options struct {
	// Store is the mail store. Required.
	Store store.Store
	// Auth checks logins. Required.
	Auth *auth.Authenticator
	// TLSConfig is used for STARTTLS and, with ImplicitTLS, for every
	// connection. Nil disables STARTTLS.
	TLSConfig *tls.Config
	// ImplicitTLS makes connections start with a TLS handshake (imaps).
	ImplicitTLS bool
	// Logger receives the server's logs; nil means slog.Default().
	Logger *slog.Logger
	// Limiter, when set, caps simultaneous connections.
	Limiter *netlimit.Limiter
	// IdleTimeout closes a connection that sends nothing for this long
	// (IDLE included). Zero means 30 minutes, the RFC minimum.
	IdleTimeout time.Duration
	// AppendLimit is the largest message APPEND accepts, in bytes. Zero
	// means 30 MiB.
	AppendLimit int64
}

// Server serves IMAP on listeners.
type Server struct {
	opts Options
	log  *slog.Logger
	// deflaters holds idle *flate.Writer for COMPRESS=DEFLATE sessions,
	// which borrow one per response burst (see compress.go).
	deflaters sync.Pool
	// bufs holds the read and write buffers of sessions between uses.
	bufs bufPools
}

// New makes a Server.
func New(opts Options) (*Server, error) {
	if opts.Store == nil || opts.Auth == nil {
		return nil, errors.New("imapd: Store and Auth are required")
	}
	if opts.ImplicitTLS && opts.TLSConfig == nil {
		return nil, errors.New("imapd: implicit TLS needs a TLS config")
	}
	if opts.IdleTimeout <= 0 {
		opts.IdleTimeout = 30 * time.Minute
	}
	if opts.AppendLimit <= 0 {
		opts.AppendLimit = 30 << 20
	}
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	return &Server{opts: opts, log: log}, nil
}

// Serve accepts connections on ln until ctx is cancelled, then tells every
// session goodbye (BYE) and returns once they have ended.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	if s.opts.Limiter != nil {
		ln = netlimit.Wrap(ln, s.opts.Limiter, func(c net.Conn, r netlimit.Reason) {
			fmt.Fprintf(c, "* BYE [UNAVAILABLE] Too many connections, try again later\r\n")
		})
	}
	stop := context.AfterFunc(ctx, func() { ln.Close() })
	defer stop()
	var wg sync.WaitGroup
	defer wg.Wait()
	var tempDelay time.Duration
	for {
		c, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				tempDelay = min(max(2*tempDelay, 5*time.Millisecond), time.Second)
				time.Sleep(tempDelay)
				continue
			}
			return fmt.Errorf("imap accept: %w", err)
		}
		tempDelay = 0
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.serveConn(ctx, c)
		}()
	}
}

// serveConn runs one session.
func (s *Server) serveConn(ctx context.Context, c net.Conn) {
	defer c.Close()
	sess := newSession(ctx, s, c)
	defer func() {
		if r := recover(); r != nil {
			s.log.Error("imap session panic", "remote", c.RemoteAddr().String(), "panic", r)
		}
	}()
	sess.run()
}
