package imapd

import (
	"strings"
	"testing"
)

// fetchFlagsLine returns the FETCH line of one message's flags.
func fetchFlagsLine(t *testing.T, c *client, seq string) string {
	t.Helper()
	u := c.ok("FETCH " + seq + " FLAGS")
	for _, l := range u {
		if strings.HasPrefix(l, "* "+seq+" FETCH (") {
			return l
		}
	}
	t.Fatalf("FETCH %s FLAGS: no FETCH line in %q", seq, u)
	return ""
}

// searchLine returns the "* SEARCH" line of a search.
func searchLine(t *testing.T, c *client, q string) string {
	t.Helper()
	for _, l := range c.ok(q) {
		if strings.HasPrefix(l, "* SEARCH") {
			return l
		}
	}
	t.Fatalf("%s: no SEARCH line", q)
	return ""
}

func TestRecentBetweenSessions(t *testing.T) {
	e := newEnv(t, envOptions{})
	e.deliver("INBOX", "Subject: one\r\n\r\n1\r\n")
	e.deliver("INBOX", "Subject: two\r\n\r\n2\r\n", `\Seen`)
	a, b, watcher := e.login(), e.login(), e.login()

	// EXAMINE shows what is recent without taking it away.
	mustHave(t, b.ok("EXAMINE INBOX"), "* 2 RECENT")
	if l := fetchFlagsLine(t, b, "1"); !strings.Contains(l, `\Recent`) {
		t.Fatalf("EXAMINE: %q, want \\Recent", l)
	}
	mustHave(t, watcher.ok("STATUS INBOX (RECENT MESSAGES)"), "(RECENT 2 MESSAGES 2)")

	// The first SELECT claims both.
	mustHave(t, a.ok("SELECT INBOX"), "* 2 EXISTS", "* 2 RECENT")
	if l := fetchFlagsLine(t, a, "2"); l != `* 2 FETCH (FLAGS (\Seen \Recent))` {
		t.Fatalf("FETCH after SELECT: %q", l)
	}
	for q, want := range map[string]string{
		"SEARCH RECENT":     "* SEARCH 1 2",
		"SEARCH NEW":        "* SEARCH 1",
		"SEARCH OLD":        "* SEARCH",
		"SEARCH NOT RECENT": "* SEARCH",
	} {
		if l := searchLine(t, a, q); l != want {
			t.Errorf("%s in the claiming session: %q, want %q", q, l, want)
		}
	}
	mustHave(t, watcher.ok("STATUS INBOX (RECENT)"), "(RECENT 0)")

	// A later SELECT finds nothing recent.
	mustHave(t, b.ok("SELECT INBOX"), "* 2 EXISTS", "* 0 RECENT")
	if l := fetchFlagsLine(t, b, "1"); strings.Contains(l, `\Recent`) {
		t.Fatalf("second session sees \\Recent: %q", l)
	}
	if l := searchLine(t, b, "SEARCH OLD"); l != "* SEARCH 1 2" {
		t.Errorf("SEARCH OLD in the second session: %q", l)
	}
	if l := searchLine(t, b, "SEARCH RECENT"); l != "* SEARCH" {
		t.Errorf("SEARCH RECENT in the second session: %q", l)
	}

	// A new message is recent in the session told of it first.
	e.deliver("INBOX", "Subject: three\r\n\r\n3\r\n")
	mustHave(t, watcher.ok("STATUS INBOX (RECENT)"), "(RECENT 1)")
	mustHave(t, b.ok("NOOP"), "* 3 EXISTS", "* 1 RECENT")
	mustHave(t, a.ok("NOOP"), "* 3 EXISTS", "* 2 RECENT")
	if l := fetchFlagsLine(t, b, "3"); !strings.Contains(l, `\Recent`) {
		t.Errorf("b, told first: %q, want \\Recent", l)
	}
	if l := fetchFlagsLine(t, a, "3"); strings.Contains(l, `\Recent`) {
		t.Errorf("a, told second: %q, want no \\Recent", l)
	}
	mustHave(t, watcher.ok("STATUS INBOX (RECENT)"), "(RECENT 0)")

	// \Recent is not a flag anyone can store or clear.
	u := a.ok(`STORE 1 +FLAGS (\Recent $Later)`)
	mustHave(t, u, `* 1 FETCH (FLAGS ($Later \Recent))`)
	a.ok(`STORE 1 -FLAGS (\Recent)`)
	if l := fetchFlagsLine(t, a, "1"); !strings.Contains(l, `\Recent`) {
		t.Errorf("-FLAGS \\Recent removed it: %q", l)
	}
	if l := fetchFlagsLine(t, b, "1"); strings.Contains(l, `\Recent`) {
		t.Errorf("STORE \\Recent reached another session: %q", l)
	}
}

func TestRecentRev2AndAppend(t *testing.T) {
	e := newEnv(t, envOptions{})
	e.deliver("INBOX", "Subject: one\r\n\r\n1\r\n")
	// An IMAP4rev2 session neither sees nor claims \Recent.
	r2 := e.login()
	r2.ok("ENABLE IMAP4rev2")
	u := r2.ok("SELECT INBOX")
	if has(u, "RECENT") {
		t.Fatalf("rev2 SELECT sent RECENT: %q", u)
	}
	if l := fetchFlagsLine(t, r2, "1"); strings.Contains(l, `\Recent`) {
		t.Fatalf("rev2 FETCH: %q", l)
	}
	// So the message is still recent for a rev1 client.
	r1 := e.login()
	mustHave(t, r1.ok("SELECT INBOX"), "* 1 RECENT")
	// A message the session appends to its own selected folder is recent
	// in it.
	u = r1.ok("APPEND INBOX {12+}\r\nSubject: x\r\n")
	mustHave(t, u, "* 2 EXISTS", "* 2 RECENT")
	// CLOSE and SELECT again: what the session claimed is gone for good.
	r1.ok("CLOSE")
	mustHave(t, r1.ok("SELECT INBOX"), "* 0 RECENT")
	// An appended message into another folder is recent for whoever
	// selects it first.
	r1.ok("APPEND Drafts {12+}\r\nSubject: y\r\n")
	mustHave(t, r1.ok("STATUS Drafts (RECENT)"), "(RECENT 1)")
	mustHave(t, r1.ok("SELECT Drafts"), "* 1 RECENT")
}
