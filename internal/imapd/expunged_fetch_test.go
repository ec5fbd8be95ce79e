package imapd

import (
	"fmt"
	"strings"
	"testing"
)

// A FETCH of a message another session expunged, before this session was
// told: a FETCH of only UID answers from the session's view; other data
// is gone, so that message is left out and the FETCH ends with OK
// [EXPUNGEISSUED] (RFC 9051 §7.1), the others answered, as Dovecot does.
// No EXPUNGE comes during the FETCH; the next NOOP brings it. Found by
// imaptest's expunge script.
func TestFetchOfMessageExpungedElsewhere(t *testing.T) {
	e := newEnv(t, envOptions{})
	var uids []uint32
	for i := 1; i <= 3; i++ {
		uids = append(uids, e.deliver("INBOX", fmt.Sprintf("Subject: m%d\r\n\r\nbody %d\r\n", i, i)).UID)
	}
	a, b := e.login(), e.login()
	a.ok("SELECT INBOX")
	b.ok("SELECT INBOX")
	b.ok("STORE 2 +FLAGS.SILENT (\\Deleted)")
	mustHave(t, b.ok("EXPUNGE"), "* 2 EXPUNGE")

	u, tagged := a.cmd("FETCH 2 UID")
	if !strings.HasPrefix(tagged, "OK") || len(u) != 1 || u[0] != fmt.Sprintf("* 2 FETCH (UID %d)", uids[1]) {
		t.Fatalf("FETCH 2 UID: %q %q, want the UID and OK", u, tagged)
	}
	u, tagged = a.cmd("FETCH 1:3 (FLAGS BODY.PEEK[TEXT])")
	if !strings.HasPrefix(tagged, "OK [EXPUNGEISSUED]") {
		t.Errorf("FETCH 1:3 with message 2 gone: tagged %q, want OK [EXPUNGEISSUED]", tagged)
	}
	got := strings.Join(u, "\n")
	if !strings.Contains(got, "* 1 FETCH") || !strings.Contains(got, "* 3 FETCH") || strings.Contains(got, "* 2 FETCH") || strings.Contains(got, "EXPUNGE") {
		t.Errorf("FETCH 1:3 with message 2 gone: %q, want 1 and 3 only, no EXPUNGE", u)
	}
	u, tagged = a.cmd(fmt.Sprintf("UID FETCH %d:%d FLAGS", uids[0], uids[2]))
	if !strings.HasPrefix(tagged, "OK") || strings.Contains(strings.Join(u, "\n"), fmt.Sprintf("UID %d", uids[1])) {
		t.Errorf("UID FETCH: %q %q", u, tagged)
	}
	// UID FETCH may bring the EXPUNGE already (RFC 9051 §7.5.1), else
	// NOOP does.
	mustHave(t, append(u, a.ok("NOOP")...), "* 2 EXPUNGE")
	if u := a.ok("FETCH 1:* UID"); len(u) != 2 {
		t.Errorf("after the EXPUNGE: %q, want 2 messages", u)
	}
}
