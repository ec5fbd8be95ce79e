package imapd

import (
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// modseqOf stores a flag on message seq and returns the mod-sequence the
// server reports for it.
func modseqOf(t *testing.T, c *client, seq string) string {
	t.Helper()
	for _, l := range c.ok("STORE " + seq + " +FLAGS (\\Seen)") {
		if m := regexp.MustCompile(`MODSEQ \((\d+)\)`).FindStringSubmatch(l); m != nil {
			return m[1]
		}
	}
	t.Fatalf("STORE %s: no MODSEQ in the untagged FETCH", seq)
	return ""
}

// With a MODSEQ search key, ESEARCH's MODSEQ is the highest mod-sequence
// of the messages it returns: with only MIN or MAX, those of the message
// named, not of every match (RFC 7162 section 3.1.5). Found by imaptest's
// esearch-condstore script.
func TestESearchModSeqFollowsMinMax(t *testing.T) {
	e := newEnv(t, envOptions{})
	for i := 0; i < 4; i++ {
		e.deliver("INBOX", "Subject: note\r\n\r\nbody\r\n")
	}
	c := e.login()
	c.ok("ENABLE CONDSTORE")
	c.ok("SELECT INBOX")
	// Change 1, then 3, then 2: message 2 ends with the highest of the three.
	m1, m3, m2 := modseqOf(t, c, "1"), modseqOf(t, c, "3"), modseqOf(t, c, "2")
	if n := func(s string) int { v, _ := strconv.Atoi(s); return v }; !(n(m1) < n(m3) && n(m3) < n(m2)) {
		t.Fatalf("mod-sequences not growing: %s %s %s", m1, m3, m2)
	}
	cases := []struct{ ret, want string }{
		{"(MIN)", "MIN 1 MODSEQ " + m1},
		{"(MAX)", "MAX 3 MODSEQ " + m3},
		{"(MIN MAX)", "MIN 1 MAX 3 MODSEQ " + m3},
		{"(COUNT)", "COUNT 3 MODSEQ " + m2},
		{"()", "ALL 1:3 MODSEQ " + m2},
	}
	for _, tc := range cases {
		u := c.ok("SEARCH RETURN " + tc.ret + " 1:3 MODSEQ 1")
		got := strings.Join(u, "\n")
		if !strings.Contains(got, `* ESEARCH (TAG "`) || !strings.HasSuffix(got, tc.want) {
			t.Errorf("SEARCH RETURN %s: got %q, want it to end with %q", tc.ret, got, tc.want)
		}
	}
}

// MOVE into the selected mailbox itself works: the message comes back
// under a new UID, COPYUID names it, the old number is expunged and the
// new message is announced. Found by imaptest's move script.
func TestMoveIntoSelectedMailbox(t *testing.T) {
	e := newEnv(t, envOptions{})
	old := e.deliver("INBOX", "Subject: again\r\n\r\nbody\r\n")
	c := e.login()
	c.ok("SELECT INBOX")
	u := c.ok("MOVE 1 INBOX")
	mustHave(t, u, "* OK [COPYUID ", " "+strconv.FormatUint(uint64(old.UID), 10)+" ", "* 1 EXPUNGE")
	u = c.ok("UID FETCH 1:* (UID FLAGS)")
	got := strings.Join(u, "\n")
	if strings.Contains(got, "UID "+strconv.FormatUint(uint64(old.UID), 10)+" ") || !strings.Contains(got, "* 1 FETCH") {
		t.Fatalf("after MOVE into INBOX: %q, want one message with a new UID", u)
	}
}

// An angle-addr with an obsolete source route keeps the route as the
// address's adl in ENVELOPE instead of dropping it (RFC 3501 section
// 7.4.2: the second field is the at-domain-list). Found by imaptest's
// fetch-envelope script.
func TestEnvelopeKeepsSourceRoute(t *testing.T) {
	e := newEnv(t, envOptions{})
	e.deliver("INBOX", "From: <@relay.example,@hop.example:ann@example.net>\r\n"+
		"To: Bea <bea@example.net>\r\nSubject: routed\r\n\r\nbody\r\n")
	c := e.login()
	c.ok("SELECT INBOX")
	u := c.ok("FETCH 1 ENVELOPE")
	mustHave(t, u, `((NIL "@relay.example,@hop.example" "ann" "example.net"))`,
		`(("Bea" NIL "bea" "example.net"))`)
}

// FROM, TO, CC and BCC find an address whose header writes it with
// comments and white space inside ("<ann (x)@ (y) example.net>"), as
// Dovecot does; the comment text itself stays findable too. Found by
// imaptest's search-addresses script.
func TestSearchAddressWithInnerComments(t *testing.T) {
	e := newEnv(t, envOptions{})
	e.deliver("INBOX", "From: <ann (office)@ (main) example.net>\r\nCc: plain@example.org\r\n\r\none\r\n")
	e.deliver("INBOX", "From: Ann Other <ann@example.net>\r\nCc: Carl <carl@example.org>\r\n\r\ntwo\r\n")
	e.deliver("INBOX", "From: bob@example.net\r\n\r\nthree\r\n")
	c := e.login()
	c.ok("SELECT INBOX")
	cases := []struct{ key, want string }{
		{"FROM ann@example.net", "* SEARCH 1 2"},
		{"FROM nn@exam", "* SEARCH 1 2"},
		{"FROM office", "* SEARCH 1"},
		{"FROM \"other <ann@\"", "* SEARCH 2"},
		{"CC carl", "* SEARCH 2"},
		{"FROM carl", "* SEARCH"},
	}
	for _, tc := range cases {
		u := c.ok("SEARCH " + tc.key)
		if len(u) != 1 || u[0] != tc.want {
			t.Errorf("SEARCH %s: got %q, want %q", tc.key, u, tc.want)
		}
	}
}
