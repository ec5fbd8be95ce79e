package pop3

import (
	"fmt"
	"strings"
	"testing"

	"github.com/pochta-mail/pochta/internal/auth"
	"github.com/pochta-mail/pochta/internal/store"
)

const apopSecret = "tanstaaf-apop-secret"

// TestAPOP runs raw APOP dialogues: the digest over this greeting's
// timestamp logs in; a wrong digest, a digest for another greeting, an
// account without a secret and POP3 switched off get one answer; with the
// server switch off the greeting has no timestamp and APOP is refused.
func TestAPOP(t *testing.T) {
	t.Run("right digest", func(t *testing.T) {
		e := newEnv(t, envConfig{allowPlaintext: true, apop: true, apopSecret: apopSecret})
		e.deliver(msgA, "")
		c := e.dial()
		c.dialog(`
			C: APOP ` + testUser + ` ` + auth.APOPDigest(c.timestamp, apopSecret) + `
			S: +OK Logged in, 1 messages (` + fmt.Sprint(len(msgA)) + ` octets)
			C: STAT
			S: +OK 1 ` + fmt.Sprint(len(msgA)) + `
			C: APOP ` + testUser + ` ` + auth.APOPDigest(c.timestamp, apopSecret) + `
			S: -ERR Already logged in
			C: QUIT
			S: +OK Bye (0 messages removed)`)
		if !strings.Contains(e.logs.String(), "method=apop") {
			t.Fatal("the login is not logged as APOP")
		}
	})
	t.Run("wrong digest, replay, upper case", func(t *testing.T) {
		e := newEnv(t, envConfig{allowPlaintext: true, apop: true, apopSecret: apopSecret})
		first := e.dial()
		c := e.dial()
		if first.timestamp == c.timestamp {
			t.Fatalf("two greetings with the timestamp %s", c.timestamp)
		}
		c.dialog(`
			C: APOP ` + testUser + ` ` + auth.APOPDigest(c.timestamp, "wrong secret") + `
			S: ` + replyAPOPFailed + `
			C: APOP ` + testUser + ` ` + auth.APOPDigest(first.timestamp, apopSecret) + `
			S: ` + replyAPOPFailed + `
			C: APOP ` + testUser + ` ` + auth.APOPDigest(c.timestamp, testPassword) + `
			S: ` + replyAPOPFailed + `
			C: APOP nobody@example.org ` + auth.APOPDigest(c.timestamp, apopSecret) + `
			S: ` + replyAPOPFailed + `
			C: APOP user ` + strings.ToUpper(auth.APOPDigest(c.timestamp, apopSecret)) + `
			S~ ^\+OK Logged in, 0 messages`)
	})
	t.Run("malformed", func(t *testing.T) {
		e := newEnv(t, envConfig{allowPlaintext: true, apop: true, apopSecret: apopSecret})
		c := e.dial()
		c.dialog(`
			C: APOP
			S: -ERR ` + ErrBadAPOP.Error() + `
			C: APOP ` + testUser + `
			S: -ERR ` + ErrBadAPOP.Error() + `
			C: APOP ` + testUser + ` 0123456789abcdef0123456789abcdeg
			S: -ERR ` + ErrBadAPOP.Error() + `
			C: APOP ` + testUser + ` 0123456789abcdef0123456789abcdef0
			S: -ERR ` + ErrBadAPOP.Error() + `
			C: APOP a b 0123456789abcdef0123456789abcdef
			S: -ERR ` + ErrBadAPOP.Error() + `
			C: QUIT
			S: +OK Bye`)
	})
	t.Run("no secret", func(t *testing.T) {
		e := newEnv(t, envConfig{allowPlaintext: true, apop: true})
		c := e.dial()
		c.dialog(`
			C: APOP ` + testUser + ` ` + auth.APOPDigest(c.timestamp, "") + `
			S: ` + replyAPOPFailed + `
			C: USER ` + testUser + `
			S: +OK Send your password
			C: PASS ` + testPassword + `
			S~ ^\+OK Logged in`)
		if !strings.Contains(e.logs.String(), "has no APOP secret") {
			t.Fatalf("the reason is not logged:\n%s", e.logs.String())
		}
	})
	t.Run("POP3 off", func(t *testing.T) {
		e := newEnv(t, envConfig{allowPlaintext: true, apop: true, apopSecret: apopSecret,
			settings: func(s *store.Settings) { s.POP3Enabled = false }})
		c := e.dial()
		c.dialog(`
			C: APOP ` + testUser + ` ` + auth.APOPDigest(c.timestamp, apopSecret) + `
			S: ` + replyAPOPFailed)
	})
	t.Run("switch off", func(t *testing.T) {
		// The account has a secret, but the server does not offer APOP:
		// no timestamp in the greeting (newClient checks), APOP refused.
		e := newEnv(t, envConfig{allowPlaintext: true, apopSecret: apopSecret})
		c := e.dial()
		c.dialog(`
			C: APOP ` + testUser + ` ` + auth.APOPDigest("<1.2@localhost>", apopSecret) + `
			S: ` + replyAPOPOff + `
			C: QUIT
			S: +OK Bye`)
	})
	t.Run("secure policy: TLS first, CAPA unchanged", func(t *testing.T) {
		e := newEnv(t, envConfig{apop: true, apopSecret: apopSecret})
		c := e.dial()
		digest := auth.APOPDigest(c.timestamp, apopSecret)
		c.dialog(`
			C: APOP ` + testUser + ` ` + digest + `
			S: ` + replyTLSRequired + `
			C: CAPA
			S: +OK Capability list follows
			S: TOP
			S: UIDL
			S: RESP-CODES
			S: AUTH-RESP-CODE
			S: PIPELINING
			S: UTF8
			S: STLS
			S: EXPIRE 30 USER
			S: .
			C: STLS
			S: +OK Begin TLS negotiation`)
		// The greeting's timestamp still counts after STLS.
		tlsClient(c, e).dialog(`
			C: APOP ` + testUser + ` ` + digest + `
			S~ ^\+OK Logged in
			C: QUIT
			S~ ^\+OK Bye`)
	})
}
