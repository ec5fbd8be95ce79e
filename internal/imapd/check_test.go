package imapd

import "testing"

// TestCheckCommand: IMAP4rev1 clients (mbsync among them) send CHECK in the
// selected state; it answers like NOOP, with the pending updates, and is
// refused outside the selected state.
func TestCheckCommand(t *testing.T) {
	e := newEnv(t, envOptions{})
	c := e.login()
	c.expect("CHECK", "BAD")
	c.ok("SELECT INBOX")
	e.deliver("INBOX", "Subject: new\r\n\r\nbody\r\n")
	mustHave(t, c.ok("CHECK"), "* 1 EXISTS")
}
