package e2e

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/pochta-mail/pochta/internal/store/postgres/pgtest"
)

// pgDatabase makes a fresh database on the test PostgreSQL server
// (POCHTA_TEST_PG_DSN, set by scripts/pgtest.sh) and returns its DSN; the
// test is skipped without a server.
func pgDatabase(t testing.TB) string {
	return pgtest.NewDatabase(t, "e2e")
}

// TestPostgresBackedServer runs the real server on the PostgreSQL store:
// accounts made by the admin command, mail in over SMTP, out over POP3, and
// everything still there after a restart.
func TestPostgresBackedServer(t *testing.T) {
	t.Parallel()
	dsn := pgDatabase(t)
	s := StartServer(t, fmt.Sprintf("[store]\nbackend = \"postgres\"\ndsn = %q\n", dsn))
	s.AddUser(t, "pavel@example.org", "pg-secret-1")
	msg := "From: someone@elsewhere.example\r\nTo: pavel@example.org\r\nSubject: stored in PostgreSQL\r\n\r\nПривет из базы.\r\n"
	if err := sendSMTP(s, "someone@elsewhere.example", "pavel@example.org", msg); err != nil {
		t.Fatalf("SMTP delivery: %v", err)
	}
	s.Restart(t)
	p := dialPOP3(t, s.Addr("pop3s"), s.TLSConfig())
	if r := p.cmd("USER pavel@example.org"); !strings.HasPrefix(r, "+OK") {
		t.Fatalf("USER: %q", r)
	}
	if r := p.cmd("PASS pg-secret-1"); !strings.HasPrefix(r, "+OK") {
		t.Fatalf("PASS: %q", r)
	}
	if r := p.cmd("STAT"); !strings.HasPrefix(r, "+OK 1 ") {
		t.Fatalf("STAT after restart: %q, want one message", r)
	}
	if r := p.cmd("RETR 1"); !strings.HasPrefix(r, "+OK") {
		t.Fatalf("RETR: %q", r)
	}
	body := p.multi()
	if !strings.Contains(body, "Subject: stored in PostgreSQL") || !strings.HasSuffix(body, "Привет из базы.\r\n") {
		t.Fatalf("retrieved message:\n%s", body)
	}
	p.cmd("QUIT")
	if _, err := os.Stat(s.Dir + "/data/pochta.db"); err == nil {
		t.Fatal("a SQLite database was made although the store is PostgreSQL")
	}
}
