package pop3

import (
	"crypto/rand"
	"errors"
	"fmt"
	"time"

	"github.com/pochta-mail/pochta/internal/auth"
)

// Replies of APOP.
const (
	// replyAPOPOff: the server does not offer APOP.
	replyAPOPOff = "-ERR APOP is not enabled on this server; use USER/PASS or AUTH"
	// replyAPOPFailed is the one answer for a wrong digest, an unknown
	// user, an account without an APOP secret, POP3 switched off and a
	// disabled account, so that accounts cannot be probed; the log and
	// the account's sign-in records say which.
	replyAPOPFailed = "-ERR [AUTH] APOP failure: wrong digest, no APOP secret set for this account, or POP3 disabled"
)

// ErrBadAPOP reports APOP arguments that are not a user name and a
// 32-digit hex digest.
var ErrBadAPOP = errors.New("APOP needs a user name and a 32-digit hex digest")

// ParseAPOP reads the arguments of "APOP name digest" (RFC 1939 §7): a
// user name and the MD5 digest as 32 hex digits. Upper-case hex is
// accepted; the digest is returned in lower case.
func ParseAPOP(cmd Command) (user, digest string, err error) {
	if len(cmd.Args) != 2 || len(cmd.Args[1]) != 32 {
		return "", "", ErrBadAPOP
	}
	d := []byte(cmd.Args[1])
	for i, c := range d {
		switch {
		case '0' <= c && c <= '9', 'a' <= c && c <= 'f':
		case 'A' <= c && c <= 'F':
			d[i] = c + 'a' - 'A'
		default:
			return "", "", ErrBadAPOP
		}
	}
	return cmd.Args[0], string(d), nil
}

// apopTimestamp makes the timestamp of a greeting (RFC 1939 §7), a msg-id
// <pid.clock.random@hostname> different in every greeting. The random
// part makes it unpredictable, so that a digest cannot be computed ahead
// of time or replayed.
func (s *Server) apopTimestamp() string {
	var r [8]byte
	rand.Read(r[:])
	return fmt.Sprintf("<%d.%d.%x@%s>", s.pid, time.Now().UnixNano(), r, s.opts.Hostname)
}

// cmdApop answers APOP in the AUTHORIZATION state.
//
// APOP obeys the rules of USER/PASS: where the login policy keeps
// passwords off connections without TLS it keeps APOP off them too (the
// digest allows an offline search for the secret, RFC 1939 §13), failures
// are slowed down and counted with password failures, and a session is
// closed after maxAuthFailures.
func (ss *session) cmdApop(cmd Command) error {
	ss.user = ""
	if ss.timestamp == "" {
		ss.reply(replyAPOPOff)
		return nil
	}
	user, digest, err := ParseAPOP(cmd)
	if err != nil {
		ss.reply("-ERR " + err.Error())
		return nil
	}
	if !ss.srv.opts.Auth.PasswordAllowed(ss.tls) {
		ss.reply(replyTLSRequired)
		return nil
	}
	res, err := ss.srv.opts.Auth.LoginAPOP(ss.ctx, auth.APOPRequest{
		Username: user, Timestamp: ss.timestamp, Digest: digest, TLS: ss.tls, RemoteIP: ss.ip,
	})
	if err != nil {
		ss.loginFailed(user, err, replyAPOPFailed)
		return nil
	}
	return ss.startTransaction(res, "apop")
}
