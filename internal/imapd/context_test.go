package imapd

import (
	"fmt"
	"strings"
	"testing"
)

// esearchLines are the ESEARCH responses among lines.
func esearchLines(lines []string) []string {
	var out []string
	for _, l := range lines {
		if strings.HasPrefix(l, "* ESEARCH ") {
			out = append(out, l)
		}
	}
	return out
}

// wantESearch checks that lines hold exactly the ESEARCH responses want.
func wantESearch(t *testing.T, what string, lines []string, want ...string) {
	t.Helper()
	got := esearchLines(lines)
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("%s: ESEARCH responses %q, want %q (all: %q)", what, got, want, lines)
	}
}

// TestContextPartial checks RETURN (PARTIAL) of SEARCH and SORT: ranges
// from the start and from the end, reversed ranges, ranges past the end,
// and the syntax errors.
func TestContextPartial(t *testing.T) {
	msgs, dates := sortMessages()
	_, c := sortEnv(t, msgs, dates)
	mustHave(t, c.ok("CAPABILITY"), "CONTEXT=SEARCH", "CONTEXT=SORT", "ESORT")
	for _, tt := range []struct{ cmd, want string }{
		{"SEARCH RETURN (PARTIAL 2:3) ALL", "PARTIAL (2:3 2:3)"},
		{"SEARCH RETURN (PARTIAL 3:2) ALL", "PARTIAL (2:3 2:3)"},
		{"SEARCH RETURN (PARTIAL 3:10) ALL", "PARTIAL (3:10 3:4)"},
		{"SEARCH RETURN (PARTIAL 5:9) ALL", "PARTIAL (5:9 NIL)"},
		{"SEARCH RETURN (PARTIAL -1:-2) ALL", "PARTIAL (-1:-2 3:4)"},
		{"SEARCH RETURN (PARTIAL -3:-1) ALL", "PARTIAL (-1:-3 2:4)"},
		{"SEARCH RETURN (PARTIAL -9:-9) ALL", "PARTIAL (-9:-9 NIL)"},
		{"SEARCH RETURN (COUNT PARTIAL 1:1) NOT FROM zoe", "COUNT 3 PARTIAL (1:1 1)"},
		{"UID SEARCH RETURN (PARTIAL 1:2) ALL", "UID PARTIAL (1:2 2:3)"},
		{"SORT RETURN (PARTIAL 1:2) (REVERSE ARRIVAL) UTF-8 ALL", "PARTIAL (1:2 4,1)"},
		{"SORT (ARRIVAL) US-ASCII RETURN (PARTIAL 2:4) ALL", "PARTIAL (2:4 2,1,4)"},
		{"UID SORT RETURN (PARTIAL -1:-2) (SUBJECT) UTF-8 ALL", "UID PARTIAL (-1:-2 2,4)"},
	} {
		u := c.ok(tt.cmd)
		got := only(t, u, "* ESEARCH")
		want := fmt.Sprintf(`* ESEARCH (TAG "t%d") %s`, c.n, tt.want)
		if got != want {
			t.Errorf("%s: %q, want %q", tt.cmd, got, want)
		}
	}
	for _, cmd := range []string{
		"SEARCH RETURN (PARTIAL 1) ALL",
		"SEARCH RETURN (PARTIAL 1:*) ALL",
		"SEARCH RETURN (PARTIAL *:1) ALL",
		"SEARCH RETURN (PARTIAL 0:3) ALL",
		"SEARCH RETURN (PARTIAL -1:3) ALL",
		"SEARCH RETURN (PARTIAL 1:3 ALL) ALL",
		"SORT (ARRIVAL) US-ASCII RETURN (PARTIAL 1) ALL",
	} {
		c.expect(cmd, "BAD")
	}
}

// TestContextUpdateSearch keeps a SEARCH up to date while a second
// session changes flags, a message is delivered and one is expunged;
// CANCELUPDATE stops the updates.
func TestContextUpdateSearch(t *testing.T) {
	msgs, dates := sortMessages()
	e, c := sortEnv(t, msgs, dates)
	other := e.login()
	other.ok("SELECT INBOX")

	u := c.ok("SEARCH RETURN (UPDATE) FLAGGED")
	tag := fmt.Sprintf("t%d", c.n)
	wantESearch(t, "initial", u, `* ESEARCH (TAG "`+tag+`")`)

	other.ok("STORE 2,4 +FLAGS (\\Flagged)")
	wantESearch(t, "flagged by another session", c.ok("NOOP"), `* ESEARCH (TAG "`+tag+`") ADDTO (0 2,4)`)

	e.deliver("INBOX", "Subject: new\r\n\r\nnew\r\n", "\\Flagged")
	u = c.ok("NOOP")
	mustHave(t, u, "* 5 EXISTS")
	wantESearch(t, "delivered flagged", u, `* ESEARCH (TAG "`+tag+`") ADDTO (0 5)`)

	other.ok("STORE 2 -FLAGS (\\Flagged)")
	wantESearch(t, "unflagged", c.ok("NOOP"), `* ESEARCH (TAG "`+tag+`") REMOVEFROM (0 2)`)

	// Flags changed outside the result: nothing to say.
	other.ok("STORE 1 +FLAGS (\\Seen)")
	wantESearch(t, "unrelated change", c.ok("NOOP"))

	// The session's own expunge: REMOVEFROM with the old numbers, then
	// the EXPUNGE.
	c.ok("STORE 4 +FLAGS.SILENT (\\Deleted)")
	u = c.ok("EXPUNGE")
	wantESearch(t, "expunged", u, `* ESEARCH (TAG "`+tag+`") REMOVEFROM (0 4)`)
	if i, j := indexOf(u, "REMOVEFROM"), indexOf(u, "* 4 EXPUNGE"); i < 0 || j < 0 || i > j {
		t.Errorf("REMOVEFROM must come before the EXPUNGE: %q", u)
	}

	c.ok(`CANCELUPDATE "` + tag + `"`)
	other.ok("STORE 1 +FLAGS (\\Flagged)")
	wantESearch(t, "after CANCELUPDATE", c.ok("NOOP"))
}

func indexOf(lines []string, sub string) int {
	for i, l := range lines {
		if strings.Contains(l, sub) {
			return i
		}
	}
	return -1
}

// TestContextUpdateSort keeps a UID SORT up to date: ADDTO and
// REMOVEFROM carry positions within the sorted result.
func TestContextUpdateSort(t *testing.T) {
	msgs, dates := sortMessages()
	e, c := sortEnv(t, msgs, dates)
	other := e.login()
	other.ok("SELECT INBOX")

	// REVERSE ARRIVAL orders the sequence numbers 4 1 2 3 (UIDs 5 2 3 4).
	u := c.ok("UID SORT RETURN (UPDATE ALL) (REVERSE ARRIVAL) UTF-8 FLAGGED")
	tag := fmt.Sprintf("t%d", c.n)
	wantESearch(t, "initial", u, `* ESEARCH (TAG "`+tag+`") UID`)

	other.ok("STORE 1,3 +FLAGS (\\Flagged)")
	wantESearch(t, "two flagged", c.ok("NOOP"), `* ESEARCH (TAG "`+tag+`") UID ADDTO (1 2,4)`)

	other.ok("STORE 4 +FLAGS (\\Flagged)")
	wantESearch(t, "flagged first in order", c.ok("NOOP"), `* ESEARCH (TAG "`+tag+`") UID ADDTO (1 5)`)

	other.ok("STORE 2 +FLAGS (\\Flagged)")
	wantESearch(t, "flagged in the middle", c.ok("NOOP"), `* ESEARCH (TAG "`+tag+`") UID ADDTO (3 3)`)

	// The result is now UIDs 5 2 3 4; unflag 2 and 4.
	other.ok("STORE 1,3 -FLAGS (\\Flagged)")
	wantESearch(t, "two unflagged", c.ok("NOOP"),
		`* ESEARCH (TAG "`+tag+`") UID REMOVEFROM (2 2)`,
		`* ESEARCH (TAG "`+tag+`") UID REMOVEFROM (3 4)`)

	// Expunged by the other session: sent at NOOP, before the EXPUNGE.
	other.ok("STORE 4 +FLAGS.SILENT (\\Deleted)")
	other.ok("EXPUNGE")
	u = c.ok("NOOP")
	wantESearch(t, "expunged", u, `* ESEARCH (TAG "`+tag+`") UID REMOVEFROM (1 5)`)
	mustHave(t, u, "* 4 EXPUNGE")
}

// TestContextUpdateWithOtherReturns: UPDATE next to PARTIAL, COUNT, MIN
// or MAX is kept, and its notifications cover every match, not only the
// part the first answer showed (RFC 5267 §4.1: the return options do not
// interact).
func TestContextUpdateWithOtherReturns(t *testing.T) {
	msgs, dates := sortMessages()
	e, c := sortEnv(t, msgs, dates)
	other := e.login()
	other.ok("SELECT INBOX")

	u := c.ok("SEARCH RETURN (UPDATE PARTIAL 1:1) ALL")
	partial := fmt.Sprintf("t%d", c.n)
	if has(u, "NOUPDATE") {
		t.Fatalf("UPDATE with PARTIAL refused: %q", u)
	}
	wantESearch(t, "partial", u, `* ESEARCH (TAG "`+partial+`") PARTIAL (1:1 1)`)
	u = c.ok("SORT RETURN (UPDATE COUNT MIN) (REVERSE ARRIVAL) UTF-8 UNSEEN")
	sorted := fmt.Sprintf("t%d", c.n)
	if has(u, "NOUPDATE") {
		t.Fatalf("UPDATE with COUNT and MIN refused: %q", u)
	}
	// MIN of a SORT is the first in its order: message 4.
	wantESearch(t, "count", u, `* ESEARCH (TAG "`+sorted+`") COUNT 4 MIN 4`)

	// Message 4 leaves both results: both say so, though neither first
	// answer named it.
	other.ok("STORE 4 +FLAGS (\\Seen)")
	other.ok("STORE 4 +FLAGS.SILENT (\\Deleted)")
	other.ok("EXPUNGE")
	u = c.ok("NOOP")
	wantESearch(t, "expunged", u,
		`* ESEARCH (TAG "`+partial+`") REMOVEFROM (0 4)`,
		`* ESEARCH (TAG "`+sorted+`") REMOVEFROM (1 4)`)
	// The new message has the internal date of message 3, the earliest:
	// REVERSE ARRIVAL puts it last (ties go by sequence number, RFC 5256).
	e.deliver("INBOX", "Subject: new\r\n\r\nnew\r\n")
	u = c.ok("NOOP")
	wantESearch(t, "delivered", u,
		`* ESEARCH (TAG "`+partial+`") ADDTO (0 4)`,
		`* ESEARCH (TAG "`+sorted+`") ADDTO (4 4)`)
}

// TestContextUpdateLimit checks NOUPDATE: for searches by sequence
// number, and beyond the limit of live contexts, which CANCELUPDATE frees
// again.
func TestContextUpdateLimit(t *testing.T) {
	msgs, dates := sortMessages()
	_, c := sortEnv(t, msgs, dates)
	u := c.ok("SEARCH RETURN (UPDATE) 1:2")
	mustHave(t, u, fmt.Sprintf(`* NO [NOUPDATE "t%d"]`, c.n))
	for i := 0; i < maxUpdateContexts; i++ {
		if u := c.ok("SEARCH RETURN (UPDATE) UNSEEN"); has(u, "NOUPDATE") {
			t.Fatalf("context %d refused: %q", i+1, u)
		}
	}
	first := fmt.Sprintf("t%d", c.n-maxUpdateContexts+1)
	u = c.ok("SEARCH RETURN (UPDATE) UNSEEN")
	mustHave(t, u, fmt.Sprintf(`* NO [NOUPDATE "t%d"] Too many searches kept up to date`, c.n))
	c.ok(`CANCELUPDATE "` + first + `"`)
	if u := c.ok("SEARCH RETURN (UPDATE) UNSEEN"); has(u, "NOUPDATE") {
		t.Fatalf("after CANCELUPDATE: %q", u)
	}
	c.expect("CANCELUPDATE", "BAD")
}

// TestContextTagReuse: a search with UPDATE under the tag of a context
// still kept up to date is BAD (RFC 5267 §4.3); the live context is not
// disturbed, and once cancelled the tag may be used again.
func TestContextTagReuse(t *testing.T) {
	msgs, dates := sortMessages()
	e, c := sortEnv(t, msgs, dates)
	other := e.login()
	other.ok("SELECT INBOX")

	c.write("live UID SEARCH RETURN (UPDATE) FLAGGED\r\n")
	if _, tagged := c.readUntil("live"); !strings.HasPrefix(tagged, "OK") {
		t.Fatalf("first search: %s", tagged)
	}
	for _, cmd := range []string{"UID SEARCH RETURN (UPDATE) ALL", "SORT RETURN (UPDATE) (ARRIVAL) UTF-8 ALL"} {
		c.write("live " + cmd + "\r\n")
		if u, tagged := c.readUntil("live"); !strings.HasPrefix(tagged, "BAD") || has(u, "ESEARCH") {
			t.Errorf("%s under a live tag: %q %q, want BAD and no result", cmd, u, tagged)
		}
	}
	// Without UPDATE the tag may be reused (RFC 9051 allows it).
	c.write("live SEARCH ALL\r\n")
	if _, tagged := c.readUntil("live"); !strings.HasPrefix(tagged, "OK") {
		t.Errorf("plain SEARCH under a live tag: %s", tagged)
	}
	other.ok("STORE 1 +FLAGS (\\Flagged)")
	wantESearch(t, "the first context lives on", c.ok("NOOP"), `* ESEARCH (TAG "live") UID ADDTO (0 2)`)

	c.ok(`CANCELUPDATE "live"`)
	c.write("live UID SEARCH RETURN (UPDATE) FLAGGED\r\n")
	if _, tagged := c.readUntil("live"); !strings.HasPrefix(tagged, "OK") {
		t.Errorf("after CANCELUPDATE: %s", tagged)
	}
}
