package pop3

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pochta-mail/pochta/internal/store"
)

// uidls logs in, reads the UIDL listing and returns it as "n uid" lines.
func uidls(c *client) []string {
	c.t.Helper()
	if r := c.cmd("UIDL"); r != "+OK Unique-id listing follows" {
		c.t.Fatalf("UIDL: %q", r)
	}
	return c.multi()
}

// TestDeleteActions checks what QUIT does to messages marked deleted for
// each pop3_delete setting, and that unmarked ones stay.
func TestDeleteActions(t *testing.T) {
	for _, tc := range []struct {
		name       string
		action     store.POP3DeleteAction
		inbox      int  // messages left in the inbox
		trash      int  // messages in Trash
		hiddenLeft bool // the inbox keeps the deleted one, hidden from POP3
	}{
		{"trash", store.POP3DeleteTrash, 1, 1, false},
		// The default is trash. (Not an empty subtest name: sqlite.Open
		// does not escape '#' in its data folder path.)
		{"default", "", 1, 1, false},
		{"keep", store.POP3DeleteKeep, 2, 0, true},
		{"delete", store.POP3DeleteExpunge, 1, 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, envConfig{allowPlaintext: true, settings: func(s *store.Settings) { s.POP3Delete = tc.action }})
			gone := e.deliver(msgA, "")
			e.deliver(msgDots, "")
			c := e.dial()
			c.login()
			c.dialog(`
				C: DELE 1
				S: +OK Message 1 marked deleted
				C: QUIT
				S: +OK Bye (1 messages removed)`)
			inbox := e.folderMessages("INBOX")
			if len(inbox) != tc.inbox {
				t.Fatalf("inbox has %d messages, want %d", len(inbox), tc.inbox)
			}
			trash := e.folderMessages("Trash")
			if len(trash) != tc.trash {
				t.Fatalf("Trash has %d messages, want %d", len(trash), tc.trash)
			}
			if tc.trash == 1 && trash[0].ID != gone.ID {
				t.Fatalf("Trash holds message %d, want %d", trash[0].ID, gone.ID)
			}
			if tc.hiddenLeft && !inbox[0].POP3Hidden {
				t.Fatal("kept message is not hidden from POP3")
			}
			// The next session sees only the other message.
			c2 := e.dial()
			c2.login()
			if got := uidls(c2); len(got) != 1 || got[0] != fmt.Sprintf("1 %d", gone.ID+1) {
				t.Fatalf("next session UIDL = %q", got)
			}
		})
	}
}

// TestNoDeleteWithoutQuit: a dropped connection and the inactivity timer
// end the session without deleting anything, and free the lock.
func TestNoDeleteWithoutQuit(t *testing.T) {
	t.Run("dropped", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, envConfig{allowPlaintext: true})
		e.deliver(msgA, "")
		c := e.dial()
		c.login()
		c.cmd("DELE 1")
		c.conn.Close()
		// The lock is released once the server notices; then a new
		// session sees the message.
		deadline := time.Now().Add(5 * time.Second)
		for {
			c2 := e.dial()
			c2.cmd("USER " + testUser)
			r := c2.cmd("PASS " + testPassword)
			if strings.HasPrefix(r, "+OK Logged in, 1 messages") {
				break
			}
			if r != replyInUse || time.Now().After(deadline) {
				t.Fatalf("login after drop: %q", r)
			}
			time.Sleep(20 * time.Millisecond)
		}
		if n := len(e.folderMessages("INBOX")); n != 1 {
			t.Fatalf("inbox has %d messages, want 1", n)
		}
	})
	t.Run("timer", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, envConfig{allowPlaintext: true, timeout: 300 * time.Millisecond})
		e.deliver(msgA, "")
		c := e.dial()
		c.login()
		c.cmd("DELE 1")
		start := time.Now()
		if r := c.line(); r != replyAutologout {
			t.Fatalf("after idling: %q", r)
		}
		if d := time.Since(start); d < 200*time.Millisecond {
			t.Fatalf("autologout after %v, before the timer", d)
		}
		if !c.closed(5 * time.Second) {
			t.Fatal("connection still open after autologout")
		}
		if n := len(e.folderMessages("INBOX")); n != 1 {
			t.Fatalf("inbox has %d messages, want 1", n)
		}
		if !strings.Contains(e.logs.String(), "pop3 autologout") {
			t.Fatal("autologout not logged")
		}
	})
	t.Run("timer floor", func(t *testing.T) {
		srv, err := New(Options{Store: nil, Auth: nil})
		if err == nil || srv != nil {
			t.Fatal("New without a store succeeded")
		}
		e := newEnv(t, envConfig{allowPlaintext: true})
		if e.srv.timeout != MinInactivityTimeout {
			t.Fatalf("default timeout %v", e.srv.timeout)
		}
		s2, _ := New(Options{Store: e.st, Auth: e.srv.opts.Auth, InactivityTimeout: time.Minute})
		if s2.timeout != MinInactivityTimeout {
			t.Fatalf("a 1-minute timer became %v, want the 10-minute floor", s2.timeout)
		}
	})
}

// TestMaildropLock: a second session of the account gets [IN-USE] until
// the first one ends; other accounts are not affected.
func TestMaildropLock(t *testing.T) {
	e := newEnv(t, envConfig{allowPlaintext: true})
	c1 := e.dial()
	c1.login()
	c2 := e.dial()
	c2.cmd("USER " + testUser)
	if r := c2.cmd("PASS " + testPassword); r != replyInUse {
		t.Fatalf("second session: %q", r)
	}
	// The refused session stays in AUTHORIZATION and may try again.
	if r := c2.cmd("STAT"); r != "-ERR Not logged in" {
		t.Fatalf("STAT after IN-USE: %q", r)
	}
	// Over implicit TLS too (one lock for both listeners).
	c3 := e.dialTLS()
	c3.cmd("USER " + testUser)
	if r := c3.cmd("PASS " + testPassword); r != replyInUse {
		t.Fatalf("pop3s session: %q", r)
	}
	if r := c1.cmd("QUIT"); !strings.HasPrefix(r, "+OK") {
		t.Fatalf("QUIT: %q", r)
	}
	c2.login()
	if !strings.Contains(e.logs.String(), "maildrop in use") {
		t.Fatal("lock conflict not logged")
	}
}

// TestUIDLStable: unique ids stay the same across sessions and when a
// message moves between served folders (an IMAP MOVE), differ between
// messages, and are printable.
func TestUIDLStable(t *testing.T) {
	e := newEnv(t, envConfig{allowPlaintext: true, settings: func(s *store.Settings) { s.POP3Folders = []string{"INBOX", "Spam"} }})
	m1 := e.deliver(msgA, "")
	m2 := e.deliver(msgDots, "Spam")
	m3 := e.deliver(msgNoCRLF, "")
	c := e.dial()
	c.login()
	first := uidls(c)
	want := []string{fmt.Sprintf("1 %d", m1.ID), fmt.Sprintf("2 %d", m2.ID), fmt.Sprintf("3 %d", m3.ID)}
	if !slices.Equal(first, want) {
		t.Fatalf("UIDL = %q, want %q", first, want)
	}
	c.cmd("QUIT")
	ctx := context.Background()
	inbox, _ := e.st.Folder(ctx, e.acct.ID, "INBOX")
	spam, _ := e.st.Folder(ctx, e.acct.ID, "Spam")
	if _, err := e.st.Move(ctx, inbox.ID, []uint32{m1.UID}, spam.ID); err != nil {
		t.Fatal(err)
	}
	c = e.dial()
	c.login()
	if got := uidls(c); !slices.Equal(got, want) {
		t.Fatalf("after move UIDL = %q, want %q", got, want)
	}
	for _, l := range first {
		_, id, _ := strings.Cut(l, " ")
		for _, r := range id {
			if r < 0x21 || r > 0x7e {
				t.Fatalf("unique id %q not printable", id)
			}
		}
	}
	// A message moved by another client during a session is still
	// deleted where it is now.
	c.cmd("DELE 1")
	cur, err := e.st.MessageByID(ctx, m1.ID)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.st.Move(ctx, cur.FolderID, []uint32{cur.UID}, inbox.ID); err != nil {
		t.Fatal(err)
	}
	if r := c.cmd("QUIT"); r != "+OK Bye (1 messages removed)" {
		t.Fatalf("QUIT: %q", r)
	}
	if moved, err := e.st.MessageByID(ctx, m1.ID); err != nil || moved.FolderID == inbox.ID {
		t.Fatalf("message moved during the session was not deleted: %+v %v", moved, err)
	}
}

// TestListFixedAtLogin: mail that arrives during a session shows up in
// the next one.
func TestListFixedAtLogin(t *testing.T) {
	e := newEnv(t, envConfig{allowPlaintext: true})
	e.deliver(msgA, "")
	c := e.dial()
	c.login()
	e.deliver(msgDots, "")
	c.dialog(`
		C: STAT
		S: +OK 1 ` + fmt.Sprint(len(msgA)) + `
		C: RETR 2
		S: -ERR No such message
		C: QUIT
		S~ ^\+OK Bye`)
	c = e.dial()
	c.login()
	c.dialog(`
		C: STAT
		S: +OK 2 ` + fmt.Sprint(len(msgA)+len(msgDots)))
}

// TestSettings covers pop3_folders, pop3_mark_read and pop3_since.
func TestSettings(t *testing.T) {
	t.Run("folders", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, envConfig{allowPlaintext: true, settings: func(s *store.Settings) { s.POP3Folders = []string{"Spam", "Nope"} }})
		e.deliver(msgA, "")
		spam := e.deliver(msgDots, "Spam")
		c := e.dial()
		c.login()
		if got := uidls(c); !slices.Equal(got, []string{fmt.Sprintf("1 %d", spam.ID)}) {
			t.Fatalf("UIDL = %q", got)
		}
		if !strings.Contains(e.logs.String(), "folder=Nope") {
			t.Fatal("missing folder not logged")
		}
	})
	t.Run("only missing folders", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, envConfig{allowPlaintext: true, settings: func(s *store.Settings) { s.POP3Folders = []string{"Nope"} }})
		c := e.dial()
		c.cmd("USER " + testUser)
		if r := c.cmd("PASS " + testPassword); !strings.HasPrefix(r, "-ERR [SYS/PERM]") {
			t.Fatalf("login: %q", r)
		}
	})
	t.Run("mark read", func(t *testing.T) {
		t.Parallel()
		for _, on := range []bool{false, true} {
			e := newEnv(t, envConfig{allowPlaintext: true, settings: func(s *store.Settings) { s.POP3MarkSeen = on }})
			e.deliver(msgA, "")
			e.deliver(msgA, "")
			c := e.dial()
			c.login()
			c.cmd("TOP 1 0")
			c.multi()
			c.cmd("RETR 2")
			c.multi()
			c.cmd("QUIT")
			msgs := e.folderMessages("INBOX")
			if msgs[0].HasFlag(store.FlagSeen) {
				t.Fatal("TOP marked a message seen")
			}
			if msgs[1].HasFlag(store.FlagSeen) != on {
				t.Fatalf("mark_read %v: RETR left seen = %v", on, msgs[1].HasFlag(store.FlagSeen))
			}
		}
	})
	t.Run("since", func(t *testing.T) {
		t.Parallel()
		since := time.Now().Add(-time.Hour)
		e := newEnv(t, envConfig{allowPlaintext: true, settings: func(s *store.Settings) { s.POP3Since = since }})
		ctx := context.Background()
		if _, err := e.st.Deliver(ctx, store.Delivery{AccountID: e.acct.ID, Body: strings.NewReader(msgA),
			InternalDate: since.Add(-time.Minute)}); err != nil {
			t.Fatal(err)
		}
		newer := e.deliver(msgDots, "")
		c := e.dial()
		c.login()
		if got := uidls(c); !slices.Equal(got, []string{fmt.Sprintf("1 %d", newer.ID)}) {
			t.Fatalf("UIDL = %q", got)
		}
	})
}

// TestLogsNoPassword checks the log never holds a password.
func TestLogsNoPassword(t *testing.T) {
	e := newEnv(t, envConfig{allowPlaintext: true})
	c := e.dial()
	c.cmd("USER " + testUser)
	c.cmd("PASS wrong-secret-xyz")
	c.cmd("AUTH PLAIN " + b64("\x00"+testUser+"\x00another-secret-abc"))
	c.login()
	c.cmd("QUIT")
	logs := e.logs.String()
	for _, p := range []string{"wrong-secret-xyz", "another-secret-abc", testPassword} {
		if strings.Contains(logs, p) {
			t.Fatalf("log holds password %q:\n%s", p, logs)
		}
	}
	if !strings.Contains(logs, "pop3 login") || !strings.Contains(logs, "pop3 logout") {
		t.Fatalf("login/logout not logged:\n%s", logs)
	}
}
