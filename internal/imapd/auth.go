package imapd

import (
	"bytes"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"strings"
	"time"

	"github.com/pochta-mail/pochta/internal/auth"
)

func cmdStartTLS(s *session, tag string) (string, error) {
	if err := s.r.end(); err != nil {
		return "", err
	}
	if s.tls || s.srv.opts.TLSConfig == nil {
		return "", errBad("STARTTLS not available")
	}
	if s.br.Buffered() > 0 {
		// Commands pipelined after STARTTLS would be injected into the
		// encrypted session: refuse the connection.
		s.writef("* BYE STARTTLS must be the last command sent before the TLS handshake\r\n")
		return "", errLogout
	}
	s.writef("%s OK Begin TLS negotiation now\r\n", tag)
	if err := s.bw.Flush(); err != nil {
		return "", err
	}
	tc := tls.Server(s.raw, s.srv.opts.TLSConfig)
	s.raw.SetDeadline(time.Now().Add(30 * time.Second))
	if err := tc.HandshakeContext(s.ctx); err != nil {
		s.log.Debug("starttls handshake failed", "err", err)
		return "", errLogout
	}
	s.raw.SetDeadline(time.Time{})
	s.tls = true
	s.setConn(tc)
	return "", errAnswered
}

// errAnswered tells command() that the handler wrote its own tagged reply.
var errAnswered = errors.New("answered")

func cmdLogin(s *session, tag string) (string, error) {
	if err := s.r.sp(); err != nil {
		return "", err
	}
	user, err := s.r.astring()
	if err != nil {
		return "", err
	}
	if err := s.r.sp(); err != nil {
		return "", err
	}
	pass, err := s.r.astring()
	if err != nil {
		return "", err
	}
	if err := s.r.end(); err != nil {
		return "", err
	}
	return s.login(user, pass)
}

// login checks a password and moves to the authenticated state.
func (s *session) login(user, pass string) (string, error) {
	if !s.srv.opts.Auth.PasswordAllowed(s.tls) {
		return "", errNo("PRIVACYREQUIRED", "Encryption required: use STARTTLS (port 143) or IMAPS (port 993) before logging in")
	}
	res, err := s.srv.opts.Auth.Login(s.ctx, auth.Request{
		Username: user, Password: pass, Protocol: auth.ProtoIMAP, TLS: s.tls, RemoteIP: s.remoteIP,
	})
	switch {
	case err == nil:
	case errors.Is(err, auth.ErrTLSRequired):
		return "", errNo("PRIVACYREQUIRED", "Encryption required: use STARTTLS (port 143) or IMAPS (port 993) before logging in")
	case errors.Is(err, auth.ErrThrottled):
		return "", errNo("UNAVAILABLE", "Too many failed logins; try again later")
	case errors.Is(err, auth.ErrBadCredentials), errors.Is(err, auth.ErrProtocolDisabled), errors.Is(err, auth.ErrAccountDisabled):
		return "", errNo("AUTHENTICATIONFAILED", "Login failure or IMAP disabled")
	default:
		s.log.Error("login", "err", err)
		return "", errNo("UNAVAILABLE", "Login temporarily unavailable; try again later")
	}
	s.acct = res.Account
	s.state = stateAuth
	s.sub = s.srv.opts.Store.Subscribe(s.acct.ID)
	s.log = s.log.With("account", s.acct.Address)
	s.log.Debug("logged in")
	return "[CAPABILITY " + s.capabilities() + "] Logged in", nil
}

func cmdAuthenticate(s *session, tag string) (string, error) {
	if err := s.r.sp(); err != nil {
		return "", err
	}
	mech, err := s.r.keyword()
	if err != nil {
		return "", err
	}
	var ir string
	haveIR := false
	if s.r.consume(' ') {
		// SASL-IR: base64 or "=" for an empty response.
		start := s.r.pos
		for !s.r.atEnd() && s.r.peek() != ' ' {
			s.r.pos++
		}
		ir, haveIR = string(s.r.line[start:s.r.pos]), true
	}
	if err := s.r.end(); err != nil {
		return "", err
	}
	if mech != "PLAIN" {
		return "", errNo("CANNOT", "Unsupported authentication mechanism")
	}
	if !s.srv.opts.Auth.PasswordAllowed(s.tls) {
		return "", errNo("PRIVACYREQUIRED", "Encryption required: use STARTTLS (port 143) or IMAPS (port 993) before logging in")
	}
	if !haveIR {
		s.writef("+ \r\n")
		if err := s.bw.Flush(); err != nil {
			return "", err
		}
		if err := s.r.readLine(); err != nil {
			return "", err
		}
		ir = string(s.r.line)
	}
	if ir == "*" {
		return "", errBad("Authentication cancelled")
	}
	var raw []byte
	if ir != "=" {
		if raw, err = base64.StdEncoding.DecodeString(ir); err != nil {
			return "", errBad("Bad base64 in authentication response")
		}
	}
	parts := bytes.Split(raw, []byte{0})
	if len(parts) != 3 {
		return "", errBad("Bad PLAIN authentication response")
	}
	authz, user, pass := string(parts[0]), string(parts[1]), string(parts[2])
	if authz != "" && !strings.EqualFold(authz, user) {
		return "", errNo("AUTHORIZATIONFAILED", "Acting as another user is not allowed")
	}
	return s.login(user, pass)
}
