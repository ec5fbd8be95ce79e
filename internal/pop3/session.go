package pop3

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/pochta-mail/pochta/internal/auth"
	"github.com/pochta-mail/pochta/internal/store"
)

// state is a POP3 session state (RFC 1939 §3).
type state int

const (
	stateAuthorization state = iota
	stateTransaction
	stateDone // after QUIT or a fatal error: the connection closes
)

// Replies that tests and clients rely on word for word.
const (
	replyGreeting    = "+OK POP3 server ready"
	replyTLSRequired = "-ERR [AUTH] Authentication requires TLS (use STLS or port 995)"
	replyLoginFailed = "-ERR [AUTH] Login failure or POP3 disabled"
	replyInUse       = "-ERR [IN-USE] Mailbox is locked by another session"
	replyThrottled   = "-ERR [AUTH] Too many failed logins; try again later"
	replyTempFail    = "-ERR [SYS/TEMP] Temporary server failure; try again later"
	replyShutdown    = "-ERR [SYS/TEMP] Server shutting down; try again later"
	replyAutologout  = "-ERR Autologout: connection idle for too long"
)

// endSession wraps failures that end the session (the client cannot be
// written to or read from); nothing more is said to it.
type endSession struct{ err error }

func (e endSession) Error() string { return e.err.Error() }
func (e endSession) Unwrap() error { return e.err }

// session is one client connection.
type session struct {
	srv *Server
	ctx context.Context
	log *slog.Logger

	raw  net.Conn // the TCP connection
	conn net.Conn // raw, or TLS over it
	r    *bufio.Reader
	w    *bufio.Writer
	tls  bool
	ip   netip.Addr

	state    state
	user     string // from USER, for PASS
	failures int
	// timestamp is the APOP timestamp of the greeting; "" when APOP is
	// off.
	timestamp string

	// utf8 is set by the UTF8 command (RFC 6856): messages are sent as
	// stored, UTF-8 headers included. Without it they are downgraded.
	utf8 bool

	// TRANSACTION state.
	acct      store.Account
	drop      *maildrop
	release   func()
	started   time.Time
	retrieved int
	sentBytes int64

	// dmu guards closing against the read deadline being extended after
	// shutdown set it in the past.
	dmu     sync.Mutex
	closing bool
}

// deadlineConn sets a write deadline before every write, so a client that
// stops reading cannot hold a session forever.
type deadlineConn struct {
	net.Conn
	timeout time.Duration
}

func (c deadlineConn) Write(p []byte) (int, error) {
	c.Conn.SetWriteDeadline(time.Now().Add(c.timeout))
	return c.Conn.Write(p)
}

// serveConn runs one session to its end and closes the connection.
func (s *Server) serveConn(ctx context.Context, c net.Conn, implicitTLS bool) {
	ip := remoteIP(c)
	ss := &session{srv: s, ctx: ctx, raw: c, ip: ip,
		log: s.log.With("proto", "pop3", "ip", ip.String())}
	ss.conn = deadlineConn{Conn: c, timeout: s.timeout}
	defer func() {
		if ss.release != nil {
			ss.release()
		}
		ss.conn.Close()
	}()
	stopWatch := context.AfterFunc(ctx, func() {
		// Wake a session waiting for a command; one busy sending a
		// message gets a moment, then its connection is closed.
		ss.dmu.Lock()
		ss.closing = true
		ss.dmu.Unlock()
		c.SetReadDeadline(time.Unix(1, 0))
		time.AfterFunc(shutdownGrace, func() { c.Close() })
	})
	defer stopWatch()

	if implicitTLS {
		if err := ss.handshake(); err != nil {
			ss.log.Debug("pop3 TLS handshake failed", "err", err)
			return
		}
	} else {
		ss.r = bufio.NewReaderSize(ss.conn, 4096)
		ss.w = bufio.NewWriterSize(ss.conn, 32<<10)
	}
	ss.log.Debug("pop3 connection", "tls", ss.tls)
	if s.opts.APOP {
		ss.timestamp = s.apopTimestamp()
		ss.reply(replyGreeting + " " + ss.timestamp)
	} else {
		ss.reply(replyGreeting)
	}
	if err := ss.w.Flush(); err != nil {
		return
	}
	reason := ss.loop()
	if ss.state == stateTransaction {
		// Not a QUIT: nothing marked deleted is touched (RFC 1939 §6).
		ss.log.Info("pop3 session ended without QUIT; nothing deleted", "user", ss.acct.Address,
			"reason", reason, "retrieved", ss.retrieved, "marked", ss.drop.markedCount())
	} else {
		ss.log.Debug("pop3 connection closed", "reason", reason)
	}
}

// handshake starts TLS on the connection (implicit TLS or after STLS).
func (ss *session) handshake() error {
	tc := tls.Server(ss.conn, ss.srv.opts.TLSConfig)
	hctx, cancel := context.WithTimeout(ss.ctx, handshakeTimeout)
	defer cancel()
	if err := tc.HandshakeContext(hctx); err != nil {
		return fmt.Errorf("tls handshake: %w", err)
	}
	ss.conn, ss.tls = tc, true
	ss.r = bufio.NewReaderSize(tc, 4096)
	ss.w = bufio.NewWriterSize(tc, 32<<10)
	return nil
}

// remoteIP returns the peer's IP address of a TCP connection.
func remoteIP(c net.Conn) netip.Addr {
	if ta, ok := c.RemoteAddr().(*net.TCPAddr); ok {
		return ta.AddrPort().Addr().Unmap()
	}
	return netip.Addr{}
}

// reply queues a one-line response.
func (ss *session) reply(line string) {
	ss.w.WriteString(line)
	ss.w.WriteString("\r\n")
}

// replyf queues a formatted one-line response.
func (ss *session) replyf(format string, args ...any) {
	fmt.Fprintf(ss.w, format, args...)
	ss.w.WriteString("\r\n")
}

// readLine reads one line (without CRLF) under the inactivity timer.
// Lines over maxLine are consumed and reported as errLineTooLong.
func (ss *session) readLine() (string, error) {
	ss.dmu.Lock()
	if ss.closing {
		ss.dmu.Unlock()
		return "", context.Canceled
	}
	ss.raw.SetReadDeadline(time.Now().Add(ss.srv.timeout))
	ss.dmu.Unlock()
	var buf []byte
	tooLong := false
	for {
		frag, err := ss.r.ReadSlice('\n')
		if !tooLong {
			buf = append(buf, frag...)
			if len(buf) > maxLine {
				tooLong, buf = true, nil
			}
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		if err != nil {
			return "", err
		}
		break
	}
	if tooLong {
		return "", errLineTooLong
	}
	return strings.TrimRight(string(buf), "\r\n"), nil
}

var errLineTooLong = errors.New("line too long")

// loop reads and answers commands until the session ends, and returns why
// it ended (for the log).
func (ss *session) loop() string {
	for ss.state != stateDone {
		// Flush only when no further pipelined command is waiting.
		if ss.r.Buffered() == 0 {
			if err := ss.w.Flush(); err != nil {
				return "write failed: " + err.Error()
			}
		}
		line, err := ss.readLine()
		if errors.Is(err, errLineTooLong) {
			ss.reply("-ERR Line too long")
			continue
		}
		if err != nil {
			return ss.readFailed(err)
		}
		cmd, err := ParseCommand(line)
		if err != nil {
			ss.reply("-ERR Unknown command")
			continue
		}
		if err := ss.dispatch(cmd); err != nil {
			var we endSession
			if errors.As(err, &we) {
				return err.Error()
			}
			ss.log.Error("pop3 session failed", "user", ss.acct.Address, "cmd", cmd.Name, "err", err)
			ss.reply(replyTempFail)
			ss.w.Flush()
			return "error: " + err.Error()
		}
	}
	if err := ss.w.Flush(); err != nil {
		return "write failed: " + err.Error()
	}
	return "quit"
}

// readFailed says goodbye where that makes sense and names the reason.
func (ss *session) readFailed(err error) string {
	ss.dmu.Lock()
	closing := ss.closing
	ss.dmu.Unlock()
	switch {
	case closing:
		ss.raw.SetWriteDeadline(time.Now().Add(time.Second))
		ss.reply(replyShutdown)
		ss.w.Flush()
		return "server shutdown"
	case errors.Is(err, os.ErrDeadlineExceeded):
		ss.reply(replyAutologout)
		ss.w.Flush()
		ss.log.Info("pop3 autologout", "user", ss.acct.Address, "idle", ss.srv.timeout)
		return "inactivity timeout"
	case errors.Is(err, io.EOF):
		return "client closed the connection"
	}
	return "read failed: " + err.Error()
}

// dispatch runs one command. An error ends the session.
func (ss *session) dispatch(cmd Command) error {
	if ss.state == stateAuthorization {
		switch cmd.Name {
		case "CAPA":
			return ss.cmdCapa()
		case "USER":
			return ss.cmdUser(cmd)
		case "PASS":
			return ss.cmdPass(cmd)
		case "AUTH":
			return ss.cmdAuth(cmd)
		case "STLS":
			return ss.cmdStls(cmd)
		case "UTF8":
			return ss.cmdUTF8(cmd)
		case "QUIT":
			ss.reply("+OK Bye")
			ss.state = stateDone
			return nil
		case "APOP":
			return ss.cmdApop(cmd)
		case "STAT", "LIST", "RETR", "DELE", "NOOP", "RSET", "TOP", "UIDL":
			ss.reply("-ERR Not logged in")
			return nil
		}
		ss.reply("-ERR Unknown command")
		return nil
	}
	switch cmd.Name {
	case "CAPA":
		return ss.cmdCapa()
	case "STAT":
		n, size := ss.drop.stat()
		ss.replyf("+OK %d %d", n, size)
		return nil
	case "LIST", "UIDL":
		return ss.cmdList(cmd)
	case "RETR":
		return ss.cmdRetr(cmd)
	case "TOP":
		return ss.cmdTop(cmd)
	case "DELE":
		if m, ok := ss.message(cmd, 1); ok {
			m.deleted = true
			ss.replyf("+OK Message %s marked deleted", cmd.Args[0])
		}
		return nil
	case "NOOP":
		if len(cmd.Args) > 0 {
			ss.reply("-ERR NOOP takes no arguments")
			return nil
		}
		ss.reply("+OK")
		return nil
	case "RSET":
		n := ss.drop.reset()
		ss.replyf("+OK %d messages unmarked", n)
		return nil
	case "QUIT":
		return ss.cmdQuitTransaction()
	case "USER", "PASS", "AUTH", "APOP", "STLS", "UTF8":
		ss.reply("-ERR Already logged in")
		return nil
	}
	ss.reply("-ERR Unknown command")
	return nil
}

// message finds the message named by the first argument of a command that
// takes nargs arguments, answering -ERR and returning false when there is
// none or it is marked deleted.
func (ss *session) message(cmd Command, nargs int) (*entry, bool) {
	if len(cmd.Args) != nargs {
		ss.replyf("-ERR %s needs %d argument(s)", cmd.Name, nargs)
		return nil, false
	}
	n, ok := parseNumber(cmd.Args[0])
	if !ok || n < 1 || n > len(ss.drop.msgs) {
		ss.reply("-ERR No such message")
		return nil, false
	}
	m := &ss.drop.msgs[n-1]
	if m.deleted {
		ss.reply("-ERR Message already deleted")
		return nil, false
	}
	return m, true
}

// cmdCapa answers CAPA (RFC 2449).
func (ss *session) cmdCapa() error {
	ss.reply("+OK Capability list follows")
	for _, c := range []string{"TOP", "UIDL", "RESP-CODES", "AUTH-RESP-CODE", "PIPELINING", "UTF8"} {
		ss.reply(c)
	}
	if ss.state == stateAuthorization {
		if ss.srv.opts.Auth.PasswordAllowed(ss.tls) {
			ss.reply("USER")
			ss.reply("SASL PLAIN LOGIN")
		}
		if !ss.tls && ss.srv.opts.TLSConfig != nil {
			ss.reply("STLS")
		}
		// Before login the lowest value any account may get, marked USER
		// (RFC 2449 §6.7).
		if days := ss.srv.expireDays([]store.Role{store.RoleTrash, store.RoleJunk}); days >= 0 {
			ss.replyf("EXPIRE %d USER", days)
		} else {
			ss.reply("EXPIRE NEVER")
		}
	} else if days := ss.drop.expire; days >= 0 {
		ss.replyf("EXPIRE %d", days)
	} else {
		ss.reply("EXPIRE NEVER")
	}
	if d := ss.srv.opts.LoginDelay; d > 0 {
		ss.replyf("LOGIN-DELAY %d", int(d/time.Second))
	}
	ss.reply(".")
	return nil
}

// cmdUser answers USER.
func (ss *session) cmdUser(cmd Command) error {
	ss.user = ""
	if !ss.srv.opts.Auth.PasswordAllowed(ss.tls) {
		ss.reply(replyTLSRequired)
		return nil
	}
	if len(cmd.Args) != 1 {
		ss.reply("-ERR USER needs a user name")
		return nil
	}
	ss.user = cmd.Args[0]
	ss.reply("+OK Send your password")
	return nil
}

// cmdPass answers PASS: the password is the rest of the line.
func (ss *session) cmdPass(cmd Command) error {
	user := ss.user
	ss.user = ""
	if user == "" {
		ss.reply("-ERR Send USER first")
		return nil
	}
	if cmd.Rest == "" {
		ss.reply("-ERR PASS needs a password")
		return nil
	}
	return ss.login(user, cmd.Rest)
}

// cmdAuth answers AUTH (RFC 5034) with PLAIN or LOGIN.
func (ss *session) cmdAuth(cmd Command) error {
	ss.user = ""
	if len(cmd.Args) == 0 {
		// Not in RFC 5034, but clients (Outlook) send it to list the
		// mechanisms, as RFC 1734 servers answered.
		ss.reply("+OK")
		if ss.srv.opts.Auth.PasswordAllowed(ss.tls) {
			ss.reply("PLAIN")
			ss.reply("LOGIN")
		}
		ss.reply(".")
		return nil
	}
	if len(cmd.Args) > 2 {
		ss.reply("-ERR AUTH takes a mechanism and an optional initial response")
		return nil
	}
	mech := strings.ToUpper(cmd.Args[0])
	if mech != "PLAIN" && mech != "LOGIN" {
		ss.reply("-ERR Unsupported authentication mechanism")
		return nil
	}
	if !ss.srv.opts.Auth.PasswordAllowed(ss.tls) {
		ss.reply(replyTLSRequired)
		return nil
	}
	var initial []byte
	hasInitial := len(cmd.Args) == 2
	if hasInitial {
		var ok bool
		if initial, ok = ss.decodeSASL(cmd.Args[1]); !ok {
			return nil
		}
	}
	switch mech {
	case "PLAIN":
		resp := initial
		if !hasInitial {
			var ok bool
			var err error
			if resp, ok, err = ss.challenge(""); !ok || err != nil {
				return err
			}
		}
		// authzid NUL authcid NUL password (RFC 4616)
		parts := strings.Split(string(resp), "\x00")
		if len(parts) != 3 || parts[1] == "" {
			ss.reply("-ERR Malformed PLAIN response")
			return nil
		}
		if parts[0] != "" && parts[0] != parts[1] {
			ss.reply("-ERR [AUTH] Acting as another user is not allowed")
			return nil
		}
		return ss.login(parts[1], parts[2])
	default: // LOGIN
		user := initial
		if !hasInitial {
			var ok bool
			var err error
			if user, ok, err = ss.challenge("VXNlcm5hbWU6"); !ok || err != nil {
				return err
			}
		}
		pass, ok, err := ss.challenge("UGFzc3dvcmQ6")
		if !ok || err != nil {
			return err
		}
		return ss.login(string(user), string(pass))
	}
}

// challenge sends a SASL continuation and reads the client's response.
// ok is false when the exchange ended (cancelled or malformed; the reply
// is queued).
func (ss *session) challenge(b64 string) ([]byte, bool, error) {
	ss.reply("+ " + b64)
	if err := ss.w.Flush(); err != nil {
		return nil, false, endSession{err}
	}
	line, err := ss.readLine()
	if errors.Is(err, errLineTooLong) {
		ss.reply("-ERR Response too long")
		return nil, false, nil
	}
	if err != nil {
		return nil, false, endSession{fmt.Errorf("read SASL response: %w", err)}
	}
	if line == "*" {
		ss.reply("-ERR Authentication cancelled")
		return nil, false, nil
	}
	b, ok := ss.decodeSASL(line)
	return b, ok, nil
}

// decodeSASL decodes a base64 SASL response; "=" is the empty response.
func (ss *session) decodeSASL(s string) ([]byte, bool) {
	if s == "=" {
		return []byte{}, true
	}
	b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(s))
	if err != nil {
		ss.reply("-ERR Invalid base64 in SASL response")
		return nil, false
	}
	return b, true
}

// cmdStls answers STLS (RFC 2595).
func (ss *session) cmdStls(cmd Command) error {
	switch {
	case ss.tls:
		ss.reply("-ERR Already using TLS")
		return nil
	case ss.srv.opts.TLSConfig == nil:
		ss.reply("-ERR TLS is not available")
		return nil
	case len(cmd.Args) > 0:
		ss.reply("-ERR STLS takes no arguments")
		return nil
	}
	if ss.r.Buffered() > 0 {
		// Commands sent after STLS in the clear must not be run under
		// TLS (the plaintext injection of CVE-2011-0411).
		ss.reply("-ERR [SYS/PERM] Commands after STLS must wait for the TLS handshake")
		ss.state = stateDone
		return nil
	}
	ss.reply("+OK Begin TLS negotiation")
	if err := ss.w.Flush(); err != nil {
		return endSession{err}
	}
	if err := ss.handshake(); err != nil {
		ss.log.Debug("pop3 STLS handshake failed", "err", err)
		ss.state = stateDone
		return nil
	}
	ss.user = ""
	return nil
}

// login checks a user name and password, locks and opens the maildrop.
func (ss *session) login(user, password string) error {
	res, err := ss.srv.opts.Auth.Login(ss.ctx, auth.Request{
		Username: user, Password: password, Protocol: auth.ProtoPOP3, TLS: ss.tls, RemoteIP: ss.ip,
	})
	if err != nil {
		ss.loginFailed(user, err, replyLoginFailed)
		return nil
	}
	return ss.startTransaction(res, "password")
}

// loginFailed answers a failed login; badLogin is the one text for a wrong
// credential, POP3 switched off and a disabled account.
func (ss *session) loginFailed(user string, err error, badLogin string) {
	switch {
	case errors.Is(err, auth.ErrTLSRequired):
		ss.reply(replyTLSRequired)
	case errors.Is(err, auth.ErrThrottled):
		ss.reply(replyThrottled)
	case errors.Is(err, auth.ErrBadCredentials), errors.Is(err, auth.ErrProtocolDisabled),
		errors.Is(err, auth.ErrAccountDisabled):
		// One text for all three: accounts cannot be probed. The
		// authenticator logged the reason.
		ss.reply(badLogin)
	default:
		ss.log.Error("pop3 login failed", "user", user, "err", err)
		ss.reply(replyTempFail)
	}
	ss.failures++
	if ss.failures >= maxAuthFailures {
		ss.reply("-ERR [AUTH] Too many failed logins on this connection")
		ss.state = stateDone
	}
}

// startTransaction locks and opens the maildrop of a logged-in account
// and enters the TRANSACTION state.
func (ss *session) startTransaction(res auth.Result, method string) error {
	acct := res.Account
	log := ss.log.With("user", acct.Address)
	release, ok, err := ss.srv.lock.TryLock(ss.ctx, acct.ID)
	if err != nil {
		log.Error("pop3 maildrop lock failed", "err", err)
		ss.reply(replyTempFail)
		return nil
	}
	if !ok {
		log.Info("pop3 login refused: maildrop in use by another session")
		ss.reply(replyInUse)
		return nil
	}
	allowed, err := ss.srv.checkLoginDelay(ss.ctx, acct.ID, time.Now())
	if err != nil {
		release()
		log.Error("pop3 login delay check failed", "err", err)
		ss.reply(replyTempFail)
		return nil
	}
	if !allowed {
		release()
		log.Info("pop3 login refused: LOGIN-DELAY", "delay", ss.srv.opts.LoginDelay)
		ss.replyf("-ERR [LOGIN-DELAY] Wait %d seconds between logins", int(ss.srv.opts.LoginDelay/time.Second))
		return nil
	}
	drop, err := ss.srv.openMaildrop(ss.ctx, acct, ss.utf8, log)
	if err != nil {
		release()
		if errors.Is(err, errNoFolders) {
			log.Error("pop3 login: no folder to serve", "folders", acct.Settings.POP3Folders)
			ss.reply("-ERR [SYS/PERM] None of the folders POP3 serves exists; check the account's POP3 settings")
			return nil
		}
		log.Error("pop3 open maildrop", "err", err)
		ss.reply(replyTempFail)
		return nil
	}
	ss.acct, ss.drop, ss.release, ss.started = acct, drop, release, time.Now()
	ss.log = log
	ss.state = stateTransaction
	n, size := drop.stat()
	log.Info("pop3 login", "tls", ss.tls, "method", method, "messages", n, "octets", size, "app_password", res.AppPassword != 0)
	ss.replyf("+OK Logged in, %d messages (%d octets)", n, size)
	return nil
}

// cmdList answers LIST and UIDL, with or without a message number.
func (ss *session) cmdList(cmd Command) error {
	value := func(m *entry) string {
		if cmd.Name == "UIDL" {
			return uniqueID(m.msg)
		}
		return strconv.FormatInt(m.size, 10)
	}
	if len(cmd.Args) > 0 {
		m, ok := ss.message(cmd, 1)
		if ok {
			ss.replyf("+OK %s %s", cmd.Args[0], value(m))
		}
		return nil
	}
	n, size := ss.drop.stat()
	if cmd.Name == "LIST" {
		ss.replyf("+OK %d messages (%d octets)", n, size)
	} else {
		ss.reply("+OK Unique-id listing follows")
	}
	for i := range ss.drop.msgs {
		m := &ss.drop.msgs[i]
		if !m.deleted {
			ss.replyf("%d %s", i+1, value(m))
		}
	}
	ss.reply(".")
	return nil
}

// cmdRetr answers RETR.
func (ss *session) cmdRetr(cmd Command) error {
	m, ok := ss.message(cmd, 1)
	if !ok {
		return nil
	}
	if err := ss.send(m, allLines); err != nil {
		return err
	}
	ss.retrieved++
	if ss.acct.Settings.POP3MarkSeen {
		ss.srv.markSeen(ss.ctx, m.msg, ss.log)
	}
	return nil
}

// cmdTop answers TOP msg n.
func (ss *session) cmdTop(cmd Command) error {
	if len(cmd.Args) != 2 {
		ss.reply("-ERR TOP needs a message number and a number of lines")
		return nil
	}
	lines, ok := parseNumber(cmd.Args[1])
	if !ok {
		ss.reply("-ERR Invalid number of lines")
		return nil
	}
	m, ok := ss.message(cmd, 2)
	if !ok {
		return nil
	}
	return ss.send(m, lines)
}

// cmdUTF8 answers UTF8 (RFC 6856), valid in the AUTHORIZATION state:
// from now on messages are sent as stored, with their UTF-8 headers.
func (ss *session) cmdUTF8(cmd Command) error {
	if len(cmd.Args) > 0 {
		ss.reply("-ERR UTF8 takes no arguments")
		return nil
	}
	ss.utf8 = true
	ss.reply("+OK UTF8 enabled")
	return nil
}

// openMessage opens a message as the session gets it: downgraded when it
// was sized so at login, else the stored bytes. The returned closer
// closes the stored body.
func (ss *session) openMessage(m *entry) (io.Reader, io.Closer, error) {
	if m.downgrade {
		return ss.srv.downgradedBody(ss.ctx, m.msg)
	}
	body, err := ss.srv.opts.Store.OpenBody(ss.ctx, m.msg)
	if err != nil {
		return nil, nil, err
	}
	return body, body, nil
}

// send opens a message and streams it (RETR with allLines, TOP otherwise).
func (ss *session) send(m *entry, lines int) error {
	body, closer, err := ss.openMessage(m)
	if errors.Is(err, store.ErrNotFound) {
		ss.reply("-ERR Message was removed by another client")
		return nil
	}
	if err != nil {
		ss.log.Error("pop3 open message", "id", m.msg.ID, "err", err)
		ss.reply(replyTempFail)
		return nil
	}
	defer closer.Close()
	if lines == allLines {
		ss.replyf("+OK %d octets", m.size)
	} else {
		ss.reply("+OK Top of message follows")
	}
	n, err := writeMessage(ss.w, body, lines)
	ss.sentBytes += n
	if err != nil {
		// Half a message is out: the session cannot go on.
		ss.log.Error("pop3 send message", "id", m.msg.ID, "err", err)
		ss.state = stateDone
		return endSession{err}
	}
	return nil
}

// cmdQuitTransaction answers QUIT in the TRANSACTION state: the UPDATE
// state applies the deletions, then the lock is released.
func (ss *session) cmdQuitTransaction() error {
	ss.state = stateDone
	marked := ss.drop.markedCount()
	// The update must not be cut short by a server shutdown.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ss.ctx), time.Minute)
	defer cancel()
	done, err := ss.srv.applyDeletions(ctx, ss.acct, ss.drop, ss.log)
	ss.release()
	ss.release = nil
	ss.log.Info("pop3 logout", "retrieved", ss.retrieved, "sent_octets", ss.sentBytes, "marked", marked,
		"removed", done, "action", deleteAction(ss.acct), "duration", time.Since(ss.started).Round(time.Millisecond))
	if err != nil {
		ss.log.Error("pop3 update failed", "err", err)
		ss.replyf("-ERR [SYS/TEMP] Some deleted messages not removed (%d of %d done)", done, marked)
		return nil
	}
	ss.replyf("+OK Bye (%d messages removed)", done)
	return nil
}
