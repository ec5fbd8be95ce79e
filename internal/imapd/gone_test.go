package imapd

import (
	"errors"
	"io"
	"strings"
	"testing"
	"time"
)

// wantBye sends a command (empty: none) and expects the session to end
// with an untagged BYE and no tagged answer; it returns the BYE line.
func wantBye(t *testing.T, c *client, command string) string {
	t.Helper()
	if command != "" {
		c.write("b " + command + "\r\n")
	}
	for {
		l := c.line()
		if strings.HasPrefix(l, "b ") {
			t.Fatalf("%s: tagged answer %q, want BYE", command, l)
		}
		if strings.HasPrefix(l, "* BYE ") {
			c.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
			if rest, err := c.br.ReadString('\n'); !errors.Is(err, io.EOF) {
				t.Fatalf("after BYE: %q, %v; want the connection closed", rest, err)
			}
			return l
		}
		if strings.Contains(l, "EXPUNGE") || strings.Contains(l, "EXISTS") {
			t.Fatalf("%s: %q before BYE", command, l)
		}
	}
}

func TestSelectedMailboxDeletedElsewhere(t *testing.T) {
	e := newEnv(t, envOptions{})
	a, b := e.login(), e.login()
	b.ok("CREATE Work")
	e.deliver("Work", "Subject: one\r\n\r\n1\r\n")
	e.deliver("Work", "Subject: two\r\n\r\n2\r\n")
	mustHave(t, a.ok("SELECT Work"), "* 2 EXISTS")
	b.ok("DELETE Work")
	if l := wantBye(t, a, "FETCH 1:* FLAGS"); !strings.Contains(l, "deleted") {
		t.Errorf("BYE %q does not say the mailbox was deleted", l)
	}
	// The other session goes on.
	b.ok("NOOP")
	b.expect("SELECT Work", "NO [NONEXISTENT]")
}

func TestSelectedMailboxDeletedDuringIdle(t *testing.T) {
	e := newEnv(t, envOptions{})
	a, b := e.login(), e.login()
	b.ok("CREATE Work")
	e.deliver("Work", "Subject: one\r\n\r\n1\r\n")
	a.ok("SELECT Work")
	a.write("i IDLE\r\n")
	if l := a.line(); !strings.HasPrefix(l, "+ ") {
		t.Fatalf("IDLE: %q", l)
	}
	b.ok("DELETE Work")
	wantBye(t, a, "")
}

func TestSelectedMailboxRenamedElsewhere(t *testing.T) {
	e := newEnv(t, envOptions{})
	a, b := e.login(), e.login()
	b.ok("CREATE Projects/Alpha")
	e.deliver("Projects/Alpha", "Subject: one\r\n\r\n1\r\n")
	a.ok("SELECT Projects/Alpha")
	// A subscription change is not a reason to end anything.
	b.ok("UNSUBSCRIBE Projects/Alpha")
	mustHave(t, a.ok("FETCH 1 UID"), "* 1 FETCH (UID 1)")
	// Renaming the parent renames the selected folder.
	b.ok("RENAME Projects Archive/Projects")
	if l := wantBye(t, a, "NOOP"); !strings.Contains(l, "renamed") {
		t.Errorf("BYE %q does not say the mailbox was renamed", l)
	}
	b.ok("SELECT Archive/Projects/Alpha")
}

func TestSelectedMailboxRenamedBySameSession(t *testing.T) {
	e := newEnv(t, envOptions{})
	a, b := e.login(), e.login()
	a.ok("CREATE Old")
	e.deliver("Old", "Subject: one\r\n\r\n1\r\n")
	a.ok("SELECT Old")
	a.ok("RENAME Old New")
	mustHave(t, a.ok("FETCH 1 UID"), "* 1 FETCH (UID 1)")
	// New mail still arrives in the session under the new name.
	e.deliver("New", "Subject: two\r\n\r\n2\r\n")
	mustHave(t, a.ok("NOOP"), "* 2 EXISTS")
	// Another session's rename of it ends the session.
	b.ok("RENAME New Newer")
	wantBye(t, a, "NOOP")
}
