package sqlite

import (
	"context"
	"database/sql"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pochta-mail/pochta/internal/store"
)

// TestReadsDoNotTakeTheWriteLock: reads, the read transaction of Changes
// included, go on while another connection holds SQLite's write lock. A
// read transaction begun IMMEDIATE queued behind every write (and every
// other reader), which halved IMAP throughput under imaptest's stress
// load; with the lock held elsewhere it fails with SQLITE_BUSY once the
// busy timeout runs out.
func TestReadsDoNotTakeTheWriteLock(t *testing.T) {
	s := openTemp(t)
	ctx := context.Background()
	if _, err := s.CreateDomain(ctx, "example.org"); err != nil {
		t.Fatal(err)
	}
	a, err := s.CreateAccount(ctx, store.NewAccount{Address: "a@example.org", PasswordHash: "x", Settings: store.DefaultSettings()})
	if err != nil {
		t.Fatal(err)
	}
	m, err := s.Deliver(ctx, store.Delivery{AccountID: a.ID, Body: strings.NewReader("Subject: x\r\n\r\nx\r\n")})
	if err != nil {
		t.Fatal(err)
	}

	// Another process's writer, holding the write lock.
	other, err := sql.Open("sqlite", "file:"+filepath.Join(s.dir, "pochta.db")+"?_pragma=busy_timeout(100)")
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	conn, err := other.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		t.Fatal(err)
	}
	defer conn.ExecContext(ctx, "ROLLBACK")

	ch, err := s.Changes(ctx, m.FolderID, 0)
	if err != nil || len(ch.Updated) != 1 {
		t.Fatalf("Changes while another connection writes: %+v, %v", ch, err)
	}
	if _, err := s.FolderByID(ctx, m.FolderID); err != nil {
		t.Fatalf("FolderByID while another connection writes: %v", err)
	}
	if msgs, err := s.MessagesByUID(ctx, m.FolderID, []uint32{m.UID}); err != nil || len(msgs) != 1 {
		t.Fatalf("MessagesByUID while another connection writes: %v %v", msgs, err)
	}
}
