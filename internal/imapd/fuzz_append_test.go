package imapd

import (
	"context"
	"io"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/pochta-mail/pochta/internal/auth"
	"github.com/pochta-mail/pochta/internal/store"
	"github.com/pochta-mail/pochta/internal/store/sqlite"
)

// FuzzAppendSession runs arbitrary commands, APPEND in all its forms
// first among them (MULTIAPPEND, CATENATE with IMAP URLs, UTF8 (~{n}),
// literal8, LITERAL+), through
// a logged-in session over a real store: nothing may panic, and the
// session must end when the input does.
func FuzzAppendSession(f *testing.F) {
	for _, s := range []string{
		"a APPEND INBOX (\\Seen) \"01-Jan-2020 10:00:00 +0000\" {5+}\r\nhello (\\Flagged) {3+}\r\nbye\r\n",
		"a ENABLE UTF8=ACCEPT\r\nb APPEND INBOX UTF8 (~{4+}\r\nПр) UTF8 (~{2+}\r\nab)\r\n",
		"a APPEND INBOX UTF8 (~{4}\r\n",
		"a APPEND INBOX {3}\r\nabc {2+}\r\nde\r\nb SELECT INBOX\r\nc FETCH 1:* (FLAGS)\r\nd SEARCH RECENT NEW\r\n",
		"a SELECT INBOX\r\nb APPEND INBOX ~{3+}\r\na\x00c\r\nc STATUS INBOX (RECENT)\r\n",
		"a APPEND INBOX (\\Bogus) {3+}\r\nabc\r\nb APPEND Nowhere {1+}\r\nx\r\n",
		"a EXAMINE INBOX\r\nb APPEND INBOX {1+}\r\nx {999999999}\r\nc NOOP\r\n",
		"a APPEND INBOX {3+}\r\nabc\r\nb APPEND Drafts CATENATE (TEXT {2+}\r\nhi URL \"/INBOX/;UID=1/;SECTION=1;PARTIAL=0.1\" URL \"imap://anna@h/INBOX;UIDVALIDITY=1/;UID=1\")\r\n",
		"a SELECT INBOX\r\nb APPEND INBOX CATENATE (URL \";UID=1/;SECTION=HEADER.FIELDS%20(SUBJECT)\" TEXT {1}\r\nx) {1+}\r\ny\r\n",
	} {
		f.Add([]byte(s))
	}
	ctx := context.Background()
	st, err := sqlite.Open(ctx, sqlite.Options{Dir: f.TempDir(), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { st.Close() })
	if _, err := st.CreateDomain(ctx, "example.org"); err != nil {
		f.Fatal(err)
	}
	acct, err := st.CreateAccount(ctx, store.NewAccount{Address: "anna@example.org", PasswordHash: "x", Settings: store.DefaultSettings(), QuotaBytes: 1 << 20})
	if err != nil {
		f.Fatal(err)
	}
	srv, err := New(Options{Store: st, Auth: auth.NewAuthenticator(st, auth.Policy{}, slog.New(slog.DiscardHandler)),
		Logger: slog.New(slog.DiscardHandler), AppendLimit: 64 << 10})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > 4096 || strings.Contains(string(data), "IDLE") {
			return // IDLE waits for the client by design
		}
		client, server := net.Pipe()
		sess := newSession(ctx, srv, server)
		sess.acct, sess.state = acct, stateAuth
		sess.sub = st.Subscribe(acct.ID)
		done := make(chan struct{})
		go func() {
			defer close(done)
			defer server.Close()
			sess.run()
		}()
		go io.Copy(io.Discard, client)
		client.Write(data)
		client.Close()
		select {
		case <-done:
		case <-time.After(30 * time.Second): // a guard against hangs, not a speed check
			t.Fatalf("session still running a minute after its input ended: %q", data)
		}
	})
}
