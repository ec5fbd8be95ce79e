// Package smtpd is pochta's SMTP server: the MX listener that receives
// mail from other servers (port 25), message submission for mail programs
// (587, 2525, and 465 with implicit TLS), and the device port for scanners
// that cannot do TLS.
//
// The wire protocol is github.com/emersion/go-smtp, with its strict
// CRLF.CRLF end of DATA (the SMTP smuggling defence) kept. The policies
// (authentication, sender ownership, relay, limits) are here; address
// resolution, header checks and storage are in internal/delivery.
package smtpd

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/pochta-mail/pochta/internal/auth"
	"github.com/pochta-mail/pochta/internal/config"
	"github.com/pochta-mail/pochta/internal/delivery"
	"github.com/pochta-mail/pochta/internal/msgauth"
	"github.com/pochta-mail/pochta/internal/netlimit"
	"github.com/pochta-mail/pochta/internal/store"
)

// Mode is what a listener is for.
type Mode int

// Listener modes.
const (
	// ModeMX receives mail from other servers: no AUTH needed for local
	// recipients, AUTH offered only after STARTTLS, no relaying without
	// it.
	ModeMX Mode = iota
	// ModeSubmission is for mail programs: AUTH required before MAIL.
	ModeSubmission
	// ModeDevices is for scanners and printers: AUTH required and allowed
	// without TLS, local recipients only.
	ModeDevices
)

// String names the mode for logs.
func (m Mode) String() string {
	switch m {
	case ModeMX:
		return "mx"
	case ModeSubmission:
		return "submission"
	case ModeDevices:
		return "devices"
	}
	return fmt.Sprintf("mode(%d)", int(m))
}

// Timeouts from RFC 5321 §4.5.3.2: the server waits 5 minutes for a
// command and 3 minutes for each block of DATA.
const (
	DefaultCommandTimeout = 5 * time.Minute
	DefaultDataTimeout    = 3 * time.Minute
	// maxLineLength bounds command lines and lines in DATA. RFC 5321
	// says 1000 octets, but real mail has longer lines; a line over this
	// closes the connection.
	maxLineLength = 64 << 10
	// maxSessionErrors is how many refused commands a session may cause
	// before it is closed with 421.
	maxSessionErrors = 10
	// deliverTimeout bounds storing one message.
	deliverTimeout = 10 * time.Minute
	// shutdownGrace is how long a transaction in progress may take to
	// finish after shutdown starts (serve's own grace is 10s).
	shutdownGrace = 8 * time.Second
)

// Options configure a Server.
type Options struct {
	// Mode is the listener's purpose.
	Mode Mode
	// ImplicitTLS makes the listener start with a TLS handshake (465).
	ImplicitTLS bool
	// Hostname names the server in the greeting and Received fields.
	Hostname string
	// TLS is the server TLS configuration (STARTTLS and implicit TLS).
	// Nil disables TLS.
	TLS *tls.Config
	// Store is the mail store.
	Store store.Store
	// Auth checks logins.
	Auth *auth.Authenticator
	// Deliverer stores accepted mail.
	Deliverer *delivery.Deliverer
	// Resolver maps recipients to accounts.
	Resolver *delivery.Resolver
	// SMTP holds the limits and the blocked attachment types.
	SMTP config.SMTPConfig
	// Limiter caps connections (shared by all listeners); nil means no
	// limit.
	Limiter *netlimit.Limiter
	// Rate counts messages per account; share one between the submission
	// listeners. Nil means no sending limits.
	Rate *RateLimiter
	// SpoolDir holds temporary files for large messages; "" means the
	// system's temporary folder.
	SpoolDir string
	// Checker evaluates SPF, DKIM and DMARC of mail on the MX listener
	// and makes the Authentication-Results field; nil checks nothing.
	Checker *msgauth.Checker
	// CommandTimeout and DataTimeout default to the RFC 5321 values.
	CommandTimeout, DataTimeout time.Duration
	// Log receives the server's logs; nil means slog.Default().
	Log *slog.Logger
	// OnAccepted, when set, is called for every message accepted (after
	// it is stored or queued), with the listener's mode and the
	// message's size: for the metrics.
	OnAccepted func(mode Mode, size int64)
}

// Server serves one SMTP listener.
type Server struct {
	opts Options
	log  *slog.Logger

	mu      sync.Mutex
	conns   map[*trackedConn]struct{}
	closing bool
	// baseCtx is cancelled when Serve ends (after the grace period).
	baseCtx context.Context
}

// New makes a server.
func New(opts Options) *Server {
	if opts.Log == nil {
		opts.Log = slog.Default()
	}
	if opts.CommandTimeout <= 0 {
		opts.CommandTimeout = DefaultCommandTimeout
	}
	if opts.DataTimeout <= 0 {
		opts.DataTimeout = DefaultDataTimeout
	}
	return &Server{opts: opts, log: opts.Log.With("service", "smtp", "mode", opts.Mode.String()),
		conns: make(map[*trackedConn]struct{}), baseCtx: context.Background()}
}

// Serve accepts connections on ln until ctx is cancelled. Then idle
// sessions get "421 … shutting down" at once, and sessions in the middle
// of a transaction get it as soon as the transaction ends (within a grace
// period).
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	if s.opts.ImplicitTLS && s.opts.TLS == nil {
		return errors.New("smtp: implicit TLS without a certificate")
	}
	implicit := s.opts.ImplicitTLS
	if s.opts.Limiter != nil {
		ln = netlimit.Wrap(ln, s.opts.Limiter, func(c net.Conn, r netlimit.Reason) {
			if !implicit {
				c.Write([]byte("421 4.7.0 Too many connections, try again later\r\n"))
			}
		})
	}
	ln = &trackingListener{Listener: ln, srv: s}
	if implicit {
		ln = tls.NewListener(ln, s.opts.TLS)
	}

	bctx, cancelBase := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelBase()
	s.mu.Lock()
	s.baseCtx = bctx
	s.mu.Unlock()

	srv := smtp.NewServer(smtp.BackendFunc(s.newSession))
	srv.Domain = s.opts.Hostname
	srv.ErrorLog = slog.NewLogLogger(s.log.Handler(), slog.LevelDebug)
	srv.ReadTimeout = s.opts.CommandTimeout
	srv.WriteTimeout = s.opts.CommandTimeout
	srv.MaxLineLength = maxLineLength
	// go-smtp announces SIZE and checks MAIL SIZE= and BDAT against
	// MaxMessageBytes. Its DATA reader would refuse a message of exactly
	// that size (it fails the read after the last byte, before it sees
	// the final dot); the session widens that reader by one byte (see
	// allowTerminator) and enforces the exact limit itself.
	if max := s.opts.SMTP.MaxMessageSize.Bytes(); max > 0 {
		srv.MaxMessageBytes = max
	}
	// Recipients are counted by the session, for the reply text the
	// policy wants.
	srv.MaxRecipients = 0
	// AUTH is offered and refused by the session itself (538 for the
	// secure policy instead of go-smtp's 523).
	srv.AllowInsecureAuth = true
	srv.EnableSMTPUTF8 = true
	// RET, ENVID, NOTIFY, ORCPT (RFC 3461) for submission: honoured by
	// the queue and the success notices of local delivery. Not on the
	// MX port, where a delivery to a mailbox would owe the sender a
	// notice that inbound mail does not get yet.
	srv.EnableDSN = s.opts.Mode != ModeMX
	if !implicit {
		srv.TLSConfig = s.opts.TLS
	}

	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	ln.Close()
	s.shutdown()
	deadline := time.Now().Add(shutdownGrace)
	for time.Now().Before(deadline) && s.openConns() > 0 {
		time.Sleep(20 * time.Millisecond)
	}
	srv.Close()
	<-errc
	return nil
}

// shutdown marks the server closing and says goodbye to idle sessions.
func (s *Server) shutdown() {
	s.mu.Lock()
	s.closing = true
	conns := make([]*trackedConn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	for _, c := range conns {
		c.closeIfIdle(s.opts.ImplicitTLS)
	}
}

func (s *Server) isClosing() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closing
}

func (s *Server) openConns() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns)
}

func (s *Server) context() context.Context {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.baseCtx
}

// trackingListener registers every accepted connection with the server.
type trackingListener struct {
	net.Listener
	srv *Server
}

// Accept implements net.Listener.
func (l *trackingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	tc := &trackedConn{Conn: c, srv: l.srv}
	l.srv.mu.Lock()
	closing := l.srv.closing
	if !closing {
		l.srv.conns[tc] = struct{}{}
	}
	l.srv.mu.Unlock()
	if closing {
		c.Close()
		return nil, net.ErrClosed
	}
	return tc, nil
}

// trackedConn is a connection the server knows of, with the state
// shutdown needs.
type trackedConn struct {
	net.Conn
	srv *Server

	mu     sync.Mutex
	smtp   *smtp.Conn // set once a session exists
	busy   bool       // a transaction (MAIL … DATA) is in progress
	closed bool
}

// Close implements net.Conn and forgets the connection.
func (c *trackedConn) Close() error {
	c.srv.mu.Lock()
	delete(c.srv.conns, c)
	c.srv.mu.Unlock()
	c.mu.Lock()
	c.closed = true
	c.mu.Unlock()
	return c.Conn.Close()
}

// setSession records the session's connection.
func (c *trackedConn) setSession(sc *smtp.Conn) {
	c.mu.Lock()
	c.smtp = sc
	c.mu.Unlock()
}

// setBusy marks a transaction started or ended.
func (c *trackedConn) setBusy(b bool) {
	c.mu.Lock()
	c.busy = b
	c.mu.Unlock()
}

// closeIfIdle sends 421 and closes, unless a transaction is in progress.
func (c *trackedConn) closeIfIdle(implicitTLS bool) {
	c.mu.Lock()
	if c.busy || c.closed {
		c.mu.Unlock()
		return
	}
	sc := c.smtp
	c.mu.Unlock()
	c.goodbye(sc, implicitTLS)
}

// goodbye writes the shutdown 421 and closes the connection.
func (c *trackedConn) goodbye(sc *smtp.Conn, implicitTLS bool) {
	line := []byte("421 4.3.2 Service shutting down, try again later\r\n")
	if sc != nil {
		sc.Conn().SetWriteDeadline(time.Now().Add(2 * time.Second))
		sc.Conn().Write(line)
		sc.Close()
		return
	}
	if !implicitTLS {
		c.Conn.SetWriteDeadline(time.Now().Add(2 * time.Second))
		c.Conn.Write(line)
	}
	c.Close()
}

// rawConn finds the trackedConn under a (possibly TLS) connection.
func rawConn(c net.Conn) *trackedConn {
	for {
		switch v := c.(type) {
		case *trackedConn:
			return v
		case *tls.Conn:
			c = v.NetConn()
		default:
			return nil
		}
	}
}
