package imapd

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"strings"
	"time"

	"github.com/pochta-mail/pochta/internal/netlimit"
	"github.com/pochta-mail/pochta/internal/store"
)

// state is a session state (RFC 9051 §3).
type state int

const (
	stateNotAuth state = iota
	stateAuth
	stateSelected
)

// session is one client connection.
type session struct {
	srv *Server
	ctx context.Context
	log *slog.Logger

	raw  net.Conn // the TCP connection, for deadlines
	conn net.Conn // raw or TLS over it
	// br is nil while the session waits for a command (see awaitInput);
	// bw borrows its buffer only while there is something to write.
	br *bufio.Reader
	bw *lazyWriter
	in firstByteConn
	r  *reader

	tls      bool
	remoteIP netip.Addr

	state state
	acct  store.Account
	sub   *store.Subscription

	// Enabled extensions (ENABLE, or implied by use).
	utf8      bool // UTF8=ACCEPT or IMAP4rev2: mailbox names in UTF-8
	rev2      bool
	condstore bool
	qresync   bool

	// sel is the selected mailbox (state selected).
	sel *mailbox
	// fetchErr is a failure met in the middle of a FETCH response: the
	// response is completed with NIL and the command fails with it.
	fetchErr error
	// fetchBuf is reused by the responses of one FETCH command and
	// dropped at its end, so that an idle session holds none.
	fetchBuf []byte
}

// errLogout ends the session after a command (LOGOUT, fatal problems).
var errLogout = errors.New("logout")

// imapError is a command failure: a tagged NO or BAD with a response code.
type imapError struct {
	status string // "NO" or "BAD"
	code   string // without brackets, may be ""
	text   string
}

func (e *imapError) Error() string { return e.status + " " + e.text }

func errNo(code, format string, args ...any) error {
	return &imapError{status: "NO", code: code, text: fmt.Sprintf(format, args...)}
}

func errBad(format string, args ...any) error {
	return &imapError{status: "BAD", text: fmt.Sprintf(format, args...)}
}

func newSession(ctx context.Context, srv *Server, c net.Conn) *session {
	s := &session{srv: srv, ctx: ctx, raw: c, conn: c, remoteIP: netlimit.RemoteIP(c)}
	s.log = srv.log.With("proto", "imap", "remote", c.RemoteAddr().String())
	s.setConn(c)
	return s
}

// setConn makes c the session's connection (TLS or COMPRESS start on a
// command boundary, with nothing buffered either way).
func (s *session) setConn(c net.Conn) {
	s.conn = c
	s.in.c = c
	if s.bw == nil {
		s.bw = &lazyWriter{pools: &s.srv.bufs}
	}
	s.bw.dst = c
	if s.bw.bw != nil {
		s.bw.bw.Reset(c)
	}
	if s.r == nil {
		s.r = newReader(nil, func() error {
			s.bw.WriteString("+ Ready for literal data\r\n")
			return s.bw.Flush()
		})
	}
}

func (s *session) run() {
	defer func() {
		if s.sub != nil {
			s.sub.Close()
		}
		s.releaseReader()
	}()
	stop := context.AfterFunc(s.ctx, func() { s.raw.SetReadDeadline(time.Unix(1, 0)) })
	defer stop()
	if s.srv.opts.ImplicitTLS {
		tc := tls.Server(s.raw, s.srv.opts.TLSConfig)
		s.raw.SetDeadline(time.Now().Add(30 * time.Second))
		if err := tc.HandshakeContext(s.ctx); err != nil {
			s.log.Debug("tls handshake failed", "err", err)
			return
		}
		s.raw.SetDeadline(time.Time{})
		s.tls = true
		s.setConn(tc)
	}
	s.writef("* OK [CAPABILITY %s] Ready\r\n", s.capabilities())
	if s.bw.Flush() != nil {
		return
	}
	for {
		err := s.command()
		if ferr := s.bw.Flush(); err == nil && ferr != nil {
			err = ferr
		}
		if err != nil {
			if !errors.Is(err, errLogout) && !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
				s.log.Debug("session ended", "err", err)
			}
			s.bw.Flush()
			return
		}
	}
}

// writef writes formatted text to the client (buffered).
func (s *session) writef(format string, args ...any) {
	fmt.Fprintf(s.bw, format, args...)
}

// command reads and runs one command.
func (s *session) command() error {
	s.raw.SetReadDeadline(time.Now().Add(s.srv.opts.IdleTimeout))
	if s.ctx.Err() != nil {
		s.writef("* BYE Server shutting down\r\n")
		return errLogout
	}
	err := s.awaitInput()
	if err == nil {
		err = s.r.startCommand()
	}
	if err != nil {
		if errors.Is(err, os.ErrDeadlineExceeded) {
			if s.ctx.Err() != nil {
				s.writef("* BYE Server shutting down\r\n")
			} else {
				s.writef("* BYE Autologout; idle for too long\r\n")
			}
			return errLogout
		}
		var se *syntaxError
		if errors.Is(err, errLineTooLong) || errors.As(err, &se) {
			s.writef("* BAD [TOOBIG] Command line too long (limit %d bytes)\r\n", maxLineLen)
			return s.r.skipCommand()
		}
		return err
	}
	if len(s.r.line) == 0 {
		s.writef("* BAD Empty command line\r\n")
		return nil
	}
	tag, err := s.r.tag()
	if err != nil {
		s.writef("* BAD Missing or bad tag\r\n")
		return s.r.skipCommand()
	}
	name, err := s.parseCommandName()
	if err != nil {
		return s.finish(tag, "", err)
	}
	h, ok := handlers[name]
	if !ok {
		return s.finish(tag, name, errBad("Unknown command %s", name))
	}
	if !h.states[s.state] {
		var why string
		switch s.state {
		case stateNotAuth:
			why = "log in first"
		case stateAuth:
			why = "select a mailbox first"
		default:
			why = "not allowed in this state"
		}
		return s.finish(tag, name, errBad("%s: %s", name, why))
	}
	if s.sel != nil {
		// A selected folder deleted or renamed by another session ends
		// the session before the command can act on it.
		s.drainEvents()
		if err := s.checkSelected(); err != nil {
			return err
		}
	}
	done, err := h.fn(s, tag)
	if err == nil {
		if uerr := s.sendUpdates(h.expungeOK); errors.Is(uerr, errLogout) {
			return uerr
		} else if uerr != nil {
			s.log.Warn("send mailbox updates", "err", uerr)
		}
		if done == "" {
			done = name + " completed"
		}
		s.writef("%s OK %s\r\n", tag, done)
		return nil
	}
	return s.finish(tag, name, err)
}

// parseCommandName reads the command name (and UID's subcommand).
func (s *session) parseCommandName() (string, error) {
	if err := s.r.sp(); err != nil {
		return "", err
	}
	name, err := s.r.keyword()
	if err != nil {
		return "", err
	}
	if name == "UID" {
		if err := s.r.sp(); err != nil {
			return "", err
		}
		sub, err := s.r.keyword()
		if err != nil {
			return "", err
		}
		name = "UID " + sub
	}
	return name, nil
}

// finish answers a failed command.
func (s *session) finish(tag, name string, err error) error {
	var se *syntaxError
	var ie *imapError
	switch {
	case errors.Is(err, errLogout):
		return err
	case errors.Is(err, errAnswered):
		return nil
	case errors.As(err, &se):
		code := ""
		if se.code != "" {
			code = "[" + se.code + "] "
		}
		s.writef("%s BAD %s%s\r\n", tag, code, se.msg)
		return s.r.skipCommand()
	case errors.As(err, &ie):
		code := ""
		if ie.code != "" {
			code = "[" + ie.code + "] "
		}
		if ie.status == "NO" {
			if uerr := s.sendUpdates(false); errors.Is(uerr, errLogout) {
				return uerr
			} else if uerr != nil {
				s.log.Warn("send mailbox updates", "err", uerr)
			}
		}
		s.writef("%s %s %s%s\r\n", tag, ie.status, code, ie.text)
		return s.r.skipCommand()
	case errors.Is(err, errLineTooLong):
		s.writef("%s BAD [TOOBIG] Command line too long (limit %d bytes)\r\n", tag, maxLineLen)
		return s.r.skipCommand()
	}
	if errors.Is(err, errResponseBroken) {
		// Part of a response is out: no answer can follow it.
		s.log.Error("imap command failed mid-response; closing the connection", "command", name, "account", s.acct.Address, "err", err)
		return err
	}
	var ne net.Error
	if errors.As(err, &ne) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed) {
		return err
	}
	s.log.Error("imap command failed", "command", name, "account", s.acct.Address, "err", err)
	s.writef("%s NO [SERVERBUG] Internal error; try again later\r\n", tag)
	return s.r.skipCommand()
}

// handler runs one command. It parses its arguments from s.r, writes its
// untagged responses and returns the text of the tagged OK ("" for the
// default), or an error.
type handler struct {
	fn     func(s *session, tag string) (string, error)
	states map[state]bool
	// expungeOK is false for the commands during which EXPUNGE may not
	// be sent (FETCH, STORE, SEARCH by sequence number).
	expungeOK bool
}

var (
	anyState      = map[state]bool{stateNotAuth: true, stateAuth: true, stateSelected: true}
	notAuthOnly   = map[state]bool{stateNotAuth: true}
	authenticated = map[state]bool{stateAuth: true, stateSelected: true}
	selectedOnly  = map[state]bool{stateSelected: true}
)

// handlers maps command names to their handlers. It is filled in init
// (handlers refer to functions that refer to the map indirectly) and never
// changed afterwards.
var handlers map[string]handler

func init() {
	handlers = map[string]handler{
		"CAPABILITY":   {cmdCapability, anyState, true},
		"NOOP":         {cmdNoop, anyState, true},
		"CHECK":        {cmdNoop, selectedOnly, true}, // IMAP4rev1 (RFC 3501 6.4.1): a NOOP here
		"LOGOUT":       {cmdLogout, anyState, true},
		"ID":           {cmdID, anyState, true},
		"STARTTLS":     {cmdStartTLS, notAuthOnly, true},
		"LOGIN":        {cmdLogin, notAuthOnly, true},
		"AUTHENTICATE": {cmdAuthenticate, notAuthOnly, true},
		"ENABLE":       {cmdEnable, authenticated, true},
		"NAMESPACE":    {cmdNamespace, authenticated, true},
		"LIST":         {cmdList, authenticated, true},
		"LSUB":         {cmdLsub, authenticated, true},
		"SUBSCRIBE":    {cmdSubscribe, authenticated, true},
		"UNSUBSCRIBE":  {cmdUnsubscribe, authenticated, true},
		"CREATE":       {cmdCreate, authenticated, true},
		"DELETE":       {cmdDelete, authenticated, true},
		"RENAME":       {cmdRename, authenticated, true},
		"STATUS":       {cmdStatus, authenticated, true},
		"SELECT":       {cmdSelect, authenticated, true},
		"EXAMINE":      {cmdExamine, authenticated, true},
		"APPEND":       {cmdAppend, authenticated, true},
		"IDLE":         {cmdIdle, authenticated, true},
		"GETQUOTAROOT": {cmdGetQuotaRoot, authenticated, true},
		"GETQUOTA":     {cmdGetQuota, authenticated, true},
		"CLOSE":        {cmdClose, selectedOnly, true},
		"UNSELECT":     {cmdUnselect, selectedOnly, true},
		"EXPUNGE":      {cmdExpunge, selectedOnly, true},
		"UID EXPUNGE":  {cmdUIDExpunge, selectedOnly, true},
		"FETCH":        {func(s *session, tag string) (string, error) { return s.cmdFetch(tag, false) }, selectedOnly, false},
		"UID FETCH":    {func(s *session, tag string) (string, error) { return s.cmdFetch(tag, true) }, selectedOnly, true},
		"STORE":        {func(s *session, tag string) (string, error) { return s.cmdStore(false) }, selectedOnly, false},
		"UID STORE":    {func(s *session, tag string) (string, error) { return s.cmdStore(true) }, selectedOnly, true},
		"SEARCH":       {func(s *session, tag string) (string, error) { return s.cmdSearch(tag, false) }, selectedOnly, false},
		"UID SEARCH":   {func(s *session, tag string) (string, error) { return s.cmdSearch(tag, true) }, selectedOnly, true},
		"COPY":         {func(s *session, tag string) (string, error) { return s.cmdCopy(false, false) }, selectedOnly, true},
		"UID COPY":     {func(s *session, tag string) (string, error) { return s.cmdCopy(true, false) }, selectedOnly, true},
		"MOVE":         {func(s *session, tag string) (string, error) { return s.cmdCopy(false, true) }, selectedOnly, true},
		"UID MOVE":     {func(s *session, tag string) (string, error) { return s.cmdCopy(true, true) }, selectedOnly, true},
		"SORT":         {func(s *session, tag string) (string, error) { return s.cmdSort(tag, false) }, selectedOnly, false},
		"UID SORT":     {func(s *session, tag string) (string, error) { return s.cmdSort(tag, true) }, selectedOnly, true},
		"THREAD":       {func(s *session, tag string) (string, error) { return s.cmdThread(tag, false) }, selectedOnly, false},
		"UID THREAD":   {func(s *session, tag string) (string, error) { return s.cmdThread(tag, true) }, selectedOnly, true},
		"COMPRESS":     {cmdCompress, authenticated, true},
		"CANCELUPDATE": {cmdCancelUpdate, selectedOnly, true},
	}
}

// capabilities lists what the server offers in the current state.
func (s *session) capabilities() string {
	caps := []string{"IMAP4rev1", "IMAP4rev2", "LITERAL+", "SASL-IR", "ID", "ENABLE", "IDLE", "NAMESPACE", "UNSELECT"}
	if s.state == stateNotAuth {
		if !s.tls && s.srv.opts.TLSConfig != nil {
			caps = append(caps, "STARTTLS")
		}
		if s.srv.opts.Auth.PasswordAllowed(s.tls) {
			caps = append(caps, "AUTH=PLAIN")
		} else {
			caps = append(caps, "LOGINDISABLED")
		}
		return strings.Join(caps, " ")
	}
	caps = append(caps, "UIDPLUS", "MOVE", "CHILDREN", "SPECIAL-USE", "CREATE-SPECIAL-USE", "LIST-EXTENDED",
		"LIST-STATUS", "ESEARCH", "SEARCHRES", "CONDSTORE", "QRESYNC", "STATUS=SIZE",
		fmt.Sprintf("APPENDLIMIT=%d", s.srv.opts.AppendLimit), "MULTIAPPEND", "CATENATE", "UTF8=ACCEPT", "BINARY", "QUOTA", "QUOTA=RES-STORAGE", "QUOTA=RES-MESSAGE")
	caps = append(caps, "SORT", "SORT=DISPLAY", "ESORT", "CONTEXT=SEARCH", "CONTEXT=SORT", "THREAD=ORDEREDSUBJECT", "THREAD=REFERENCES", "COMPRESS=DEFLATE")
	return strings.Join(caps, " ")
}

func cmdCapability(s *session, tag string) (string, error) {
	if err := s.r.end(); err != nil {
		return "", err
	}
	s.writef("* CAPABILITY %s\r\n", s.capabilities())
	return "", nil
}

func cmdNoop(s *session, tag string) (string, error) {
	return "", s.r.end()
}

func cmdLogout(s *session, tag string) (string, error) {
	if err := s.r.end(); err != nil {
		return "", err
	}
	s.writef("* BYE Logging out\r\n%s OK LOGOUT completed\r\n", tag)
	return "", errLogout
}

func cmdID(s *session, tag string) (string, error) {
	if err := s.r.sp(); err != nil {
		return "", err
	}
	if s.r.peek() == '(' {
		n := 0
		if err := s.r.list(true, func() error {
			if n++; n > 60 {
				return errSyntax("too many ID parameters")
			}
			_, _, err := s.r.nstring()
			return err
		}); err != nil {
			return "", err
		}
	} else if a, err := s.r.atom(); err != nil || !strings.EqualFold(a, "NIL") {
		return "", errSyntax("ID takes NIL or a parameter list")
	}
	if err := s.r.end(); err != nil {
		return "", err
	}
	// Answer without naming the software.
	s.writef("* ID NIL\r\n")
	return "", nil
}

func cmdEnable(s *session, tag string) (string, error) {
	var enabled []string
	for !s.r.atEnd() {
		if err := s.r.sp(); err != nil {
			return "", err
		}
		capName, err := s.r.atom()
		if err != nil {
			return "", err
		}
		switch strings.ToUpper(capName) {
		case "CONDSTORE":
			if !s.condstore {
				s.condstore = true
				enabled = append(enabled, "CONDSTORE")
			}
		case "QRESYNC":
			if !s.qresync {
				s.qresync, s.condstore = true, true
				enabled = append(enabled, "QRESYNC")
			}
		case "IMAP4REV2":
			if !s.rev2 {
				s.rev2, s.utf8 = true, true
				enabled = append(enabled, "IMAP4rev2")
			}
		case "UTF8=ACCEPT":
			if !s.utf8 {
				s.utf8 = true
				enabled = append(enabled, "UTF8=ACCEPT")
			}
		}
	}
	s.writef("* ENABLED")
	for _, e := range enabled {
		s.writef(" %s", e)
	}
	s.writef("\r\n")
	return "", nil
}

func cmdNamespace(s *session, tag string) (string, error) {
	if err := s.r.end(); err != nil {
		return "", err
	}
	s.writef("* NAMESPACE ((\"\" \"/\")) NIL NIL\r\n")
	return "", nil
}
