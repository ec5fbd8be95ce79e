package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// mailboxView is what a mail program sees of an account: IMAP folder
// states, every message's UID, flags, mod-sequence and internal date
// (with its zone), and the POP3 unique ids.
func mailboxView(t *testing.T, s *Server) string {
	t.Helper()
	im := dialIMAPS(t, s)
	im.ok("LOGIN anna@example.org anna-secret-1")
	var out []string
	list := im.ok(`LIST "" "*"`)
	slices.Sort(list)
	out = append(out, list...)
	out = append(out, im.ok(`LSUB "" "*"`)...)
	for _, f := range []string{"INBOX", "Work"} {
		out = append(out, im.ok("STATUS "+f+" (MESSAGES UIDNEXT UIDVALIDITY HIGHESTMODSEQ)")...)
		im.ok("SELECT " + f)
		out = append(out, im.ok("UID FETCH 1:* (UID FLAGS MODSEQ RFC822.SIZE INTERNALDATE)")...)
	}
	im.ok("LOGOUT")
	p := dialPOP3(t, s.Addr("pop3s"), s.TLSConfig())
	p.cmd("USER anna@example.org")
	if r := p.cmd("PASS anna-secret-1"); !strings.HasPrefix(r, "+OK") {
		t.Fatalf("POP3 login: %q", r)
	}
	p.cmd("UIDL")
	out = append(out, "UIDL:\n"+p.multi())
	p.cmd("QUIT")
	return strings.Join(out, "\n")
}

// TestMigrateStoreToPostgres fills an embedded (SQLite) installation,
// copies it into PostgreSQL with `pochta migrate-store`, starts the server
// on PostgreSQL and checks that mail programs see exactly what they saw:
// UIDVALIDITY, UIDs, flags, mod-sequences, folders, subscriptions, POP3
// unique ids, aliases and passwords.
func TestMigrateStoreToPostgres(t *testing.T) {
	t.Parallel()
	dsn := pgDatabase(t)
	s := StartServer(t, "")
	s.AddUser(t, "anna@example.org", "anna-secret-1")
	s.Pochta(t, "alias", "add", "info@example.org", "anna@example.org")
	s.Pochta(t, "domain", "add", "cs.example", "--case-sensitive")
	for i := range 4 {
		to := "anna@example.org"
		if i == 3 {
			to = "info@example.org"
		}
		big := ""
		if i == 2 {
			big = strings.Repeat("a long line of a big message that goes to a blob file\r\n", 4000)
		}
		msg := fmt.Sprintf("From: someone@elsewhere.example\r\nTo: %s\r\nSubject: message %d\r\n\r\nbody %d\r\n%s", to, i, i, big)
		if err := sendSMTP(s, "someone@elsewhere.example", to, msg); err != nil {
			t.Fatal(err)
		}
	}
	im := dialIMAPS(t, s)
	im.ok("LOGIN anna@example.org anna-secret-1")
	im.ok("CREATE Work")
	im.ok("CREATE Unsubscribed")
	im.ok("UNSUBSCRIBE Unsubscribed")
	im.ok("SUBSCRIBE Work")
	im.ok("SUBSCRIBE Gone/Away") // a subscription without a folder
	im.ok("SELECT INBOX")
	im.ok(`UID STORE 2 +FLAGS (\Flagged $Important)`)
	im.ok(`UID STORE 1 +FLAGS (\Deleted)`)
	im.ok("EXPUNGE")
	im.ok("UID COPY 3 Work")
	// An internal date in a zone of its own (+0530) must keep it.
	dated := "Subject: dated\r\n\r\nx\r\n"
	im.ok(fmt.Sprintf("APPEND Work \"30-Nov-2024 00:10:00 +0530\" {%d+}\r\n%s", len(dated), dated))
	im.ok("LOGOUT")
	// The first view claims \Recent (RFC 3501) in every folder it
	// selects; the second shows the state the copy must keep.
	mailboxView(t, s)
	before := mailboxView(t, s)
	dnsBefore := s.Pochta(t, "domain", "dns", "cs.example")
	s.Stop(t)

	out, errOut, err := s.PochtaErr("migrate-store", "--to", "postgres", "--dsn", dsn)
	if err != nil {
		t.Fatalf("migrate-store: %v\n%s%s", err, out, errOut)
	}
	for _, want := range []string{"messages", "bodies", "folders", "rows copied"} {
		if !strings.Contains(out, want) {
			t.Errorf("migrate-store progress lacks %q:\n%s", want, out)
		}
	}
	// The SQLite database goes away: the server must run on PostgreSQL.
	db := filepath.Join(s.Dir, "data", "pochta.db")
	if err := os.Rename(db, db+".old"); err != nil {
		t.Fatal(err)
	}
	sqliteConfig, err := os.ReadFile(s.Config)
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(s.Config, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(f, "\n[store]\nbackend = \"postgres\"\ndsn = %q\n", dsn)
	f.Close()
	s.Restart(t)
	after := mailboxView(t, s)
	if !strings.Contains(after, `INTERNALDATE "30-Nov-2024 00:10:00 +0530"`) {
		t.Errorf("the APPENDed message's internal date lost its zone:\n%s", after)
	}
	if before != after {
		t.Errorf("mail programs see a different mailbox after the migration.\nbefore:\n%s\nafter:\n%s", before, after)
	}
	if _, err := os.Stat(db); err == nil {
		t.Error("the server made a new SQLite database")
	}
	if out := s.Pochta(t, "domain", "show", "cs.example"); !strings.Contains(out, "case-sensitive: yes") {
		t.Errorf("the domain setting was not copied:\n%s", out)
	}
	// The DKIM keys were copied: the records to publish are the same.
	if out := s.Pochta(t, "domain", "dns", "cs.example"); out != dnsBefore || !strings.Contains(out, "k=ed25519") {
		t.Errorf("DNS records after the migration differ (new DKIM keys?):\nbefore:\n%s\nafter:\n%s", dnsBefore, out)
	}
	// Aliases still deliver; new messages get the next UID.
	if err := sendSMTP(s, "someone@elsewhere.example", "info@example.org", "Subject: after\r\n\r\nafter\r\n"); err != nil {
		t.Fatal(err)
	}
	im = dialIMAPS(t, s)
	im.ok("LOGIN anna@example.org anna-secret-1")
	if st := strings.Join(im.ok("STATUS INBOX (MESSAGES UIDNEXT)"), ""); !strings.Contains(st, "MESSAGES 4 UIDNEXT 6") {
		t.Errorf("after a new delivery: %s, want MESSAGES 4 UIDNEXT 6", st)
	}
	im.ok("LOGOUT")
	// A second copy into the same, now full, database is refused.
	s.Stop(t)
	if err := os.WriteFile(s.Config, sqliteConfig, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(db+".old", db); err != nil {
		t.Fatal(err)
	}
	if out, errOut, err := s.PochtaErr("migrate-store", "--to", "postgres", "--dsn", dsn); err == nil || !strings.Contains(out+errOut, "not empty") {
		t.Errorf("second migrate-store: %v\n%s%s", err, out, errOut)
	}
	t.Logf("before and after:\n%s", after)
}
