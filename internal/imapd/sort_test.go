package imapd

import (
	"bufio"
	"context"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/pochta-mail/pochta/internal/store"
)

// TestBaseSubject checks the base subject extraction of RFC 5256 §2.1
// on the examples of the RFC's grammar and on Dovecot's imaptest cases.
func TestBaseSubject(t *testing.T) {
	tests := []struct {
		in    string
		base  string
		reply bool
	}{
		{"", "", false},
		{"hello", "hello", false},
		{"Re: hello", "hello", true},
		{"RE: Re: re:  hello", "hello", true},
		{"Re:hello", "hello", true},
		{"Fwd: hello", "hello", true},
		{"Fw: hello", "hello", true},
		{"FW : hello", "hello", true},
		{"Re [list]: hello", "hello", true},
		{"[list] Re: hello", "hello", true},
		{"[a][b] Re: x", "x", true},
		{"[list] hello", "hello", false},
		{"[a] [b]", "[b]", false},
		{"[xyz]", "[xyz]", false},
		{"hello (fwd)", "hello", true},
		{"hello (FWD) (fwd)  ", "hello", true},
		{"[foo] Fwd: [bar] Re: fw: b (fWd)  (fwd)", "b", true},
		{"Re: [FWD: c]", "c", true},
		{"[fwd: [Fwd: x]]", "x", true},
		{"[fwd: Re: x (fwd)]", "x", true},
		{"Re: [fwd: ]", "", true},
		{"re: re: (fwd)", "", true},
		{"Fwd: Re: [list] subject (fwd)", "subject", true},
		{"b (a)", "b (a)", false},
		{"Rex: a", "Rex: a", false},
		{"Re", "Re", false},
		{"Re: [unclosed blob", "[unclosed blob", true},
		{"  hello \t  world  ", "hello world", false},
		{"hello\r\n world", "hello world", false},
		{"=?utf-8?q?Re=3A_caf=C3=A9?=", "café", true},
		{"=?utf-8?b?W2xpc3RdIFJlOiDQv9GA0LjQstC10YI=?=", "привет", true},
		{"=?bogus?q?x?= Re: y", "=?bogus?q?x?= Re: y", false},
	}
	for _, tt := range tests {
		base, reply := baseSubject(tt.in)
		if base != tt.base || reply != tt.reply {
			t.Errorf("baseSubject(%q) = %q, %v; want %q, %v", tt.in, base, reply, tt.base, tt.reply)
		}
	}
}

// FuzzBaseSubject checks that extraction never panics, leaves no
// leading, trailing or doubled space, and is stable when applied again.
func FuzzBaseSubject(f *testing.F) {
	for _, s := range []string{"Re: [FWD: c]", "[foo] Fwd: [bar] Re: fw: b (fWd)  (fwd)", "[fwd: [fwd: ]]", "=?utf-8?q?Re=3A_x?=", "[[]]", "Re[:"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		base, _ := baseSubject(s)
		if strings.HasPrefix(base, " ") || strings.HasSuffix(base, " ") || strings.Contains(base, "  ") {
			t.Fatalf("baseSubject(%q) = %q: stray space", s, base)
		}
		if strings.ContainsAny(base, "\t\r\n") {
			t.Fatalf("baseSubject(%q) = %q: unpacked white space", s, base)
		}
		if !strings.Contains(base, "=?") {
			if again, _ := baseSubject(base); again != base {
				t.Fatalf("baseSubject(%q) = %q, but of that %q", s, base, again)
			}
		}
	})
}

// FuzzSortThreadArgs feeds arbitrary arguments to the SORT and THREAD
// parsers: nothing may panic, and what parses has a search program.
func FuzzSortThreadArgs(f *testing.F) {
	for _, s := range []string{
		" (REVERSE DATE SUBJECT) UTF-8 ALL",
		" RETURN (MIN MAX COUNT ALL SAVE) (ARRIVAL) US-ASCII OR FROM joe {3+}\r\nbob",
		" (DISPLAYFROM REVERSE DISPLAYTO) utf-8 (SINCE 1-Feb-2020 NOT DELETED) UID 1:*",
		" REFERENCES UTF-8 ALL",
		" ORDEREDSUBJECT US-ASCII SUBJECT \"re: x\" $",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, args string) {
		for _, parse := range []func(r *reader) (*searchKey, error){
			func(r *reader) (*searchKey, error) { a, err := parseSort(r); return a.key, err },
			func(r *reader) (*searchKey, error) { _, k, err := parseThread(r); return k, err },
		} {
			r := newReader(bufio.NewReader(strings.NewReader("a X"+args+"\r\n")), func() error { return nil })
			if err := r.startCommand(); err != nil {
				return
			}
			r.pos = 3
			key, err := parse(r)
			if err == nil && (key == nil || len(key.kids) == 0) {
				t.Fatalf("%q parsed without a search program", args)
			}
		}
	})
}

// sortEnv is a test server whose INBOX holds msgs with the given internal
// dates. A filler message delivered first and expunged makes every UID
// one more than its sequence number, so UID answers differ from
// sequence answers.
func sortEnv(t *testing.T, msgs []string, dates []time.Time) (*testEnv, *client) {
	t.Helper()
	e := newEnv(t, envOptions{})
	ctx := context.Background()
	inbox, err := e.st.Folder(ctx, e.acct.ID, "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	filler := e.deliver("INBOX", "Subject: filler\r\n\r\nx\r\n")
	if _, err := e.st.Expunge(ctx, inbox.ID, []uint32{filler.UID}); err != nil {
		t.Fatal(err)
	}
	for i, m := range msgs {
		d := time.Date(2024, 3, 5, 10, 0, 0, 0, time.UTC)
		if dates != nil {
			d = dates[i]
		}
		if _, err := e.st.Deliver(ctx, store.Delivery{AccountID: e.acct.ID, FolderID: inbox.ID, InternalDate: d,
			Body: strings.NewReader(strings.ReplaceAll(m, "\n", "\r\n"))}); err != nil {
			t.Fatal(err)
		}
	}
	c := e.login()
	c.ok("SELECT INBOX")
	return e, c
}

// only returns the single untagged line starting with prefix.
func only(t *testing.T, lines []string, prefix string) string {
	t.Helper()
	var got []string
	for _, l := range lines {
		if strings.HasPrefix(l, prefix) {
			got = append(got, l)
		}
	}
	if len(got) != 1 {
		t.Fatalf("want one %q line, got %q", prefix, lines)
	}
	return got[0]
}

// sortMessages are four messages whose order differs under every sort
// key (see the expectations in TestSortCriteria).
func sortMessages() ([]string, []time.Time) {
	at := func(min int) time.Time { return time.Date(2024, 3, 5, 10, min, 0, 0, time.UTC) }
	msgs := []string{
		"From: Zed <alice@example.org>\nTo: carol@example.org\nCc: bob@example.org\nSubject: Re: banana\n" +
			"Date: Wed, 03 Jan 2024 10:00:00 +0000\n\n" + strings.Repeat("1", 1500) + "\n",
		"From: Ann <zoe@example.org>\nTo: Bert <adam@example.org>\nSubject: apple\n" +
			"Date: Mon, 01 Jan 2024 10:00:00 +0000\n\n" + strings.Repeat("2", 2000) + "\n",
		"From: mike@example.org\nTo: Alf <zach@example.org>\nCc: Anna <anna@example.org>\nSubject: [list] Cherry\n" +
			"\n" + strings.Repeat("3", 1000) + "\n",
		"From: bob <Bob@example.org>\nTo: =?utf-8?q?Bj=C3=B6rn?= <zz@example.org>\nCc: Carl <carl@example.org>\nSubject: Fwd: apple\n" +
			"Date: Thu, 04 Jan 2024 10:00:00 +0000\n\n" + strings.Repeat("4", 500) + "\n",
	}
	return msgs, []time.Time{at(2), at(1), at(0), at(3)}
}

// TestSortCriteria runs SORT with every criterion over the same four
// messages; each key orders them differently.
func TestSortCriteria(t *testing.T) {
	msgs, dates := sortMessages()
	_, c := sortEnv(t, msgs, dates)
	mustHave(t, c.ok("CAPABILITY"), "SORT", "SORT=DISPLAY", "ESORT")
	for _, tt := range []struct{ criteria, want string }{
		{"ARRIVAL", "3 2 1 4"},
		{"DATE", "2 1 4 3"}, // message 3 has no Date: its internal date counts
		{"SUBJECT", "2 4 1 3"},
		{"FROM", "1 4 3 2"},
		{"SIZE", "4 3 1 2"},
		{"TO", "2 1 3 4"},
		{"CC", "2 3 1 4"},          // no Cc sorts first
		{"DISPLAYFROM", "2 4 3 1"}, // no name: the address counts
		{"DISPLAYTO", "3 2 4 1"},   // names decoded (Björn after Bert)
		{"REVERSE ARRIVAL", "4 1 2 3"},
		{"REVERSE SUBJECT", "3 1 2 4"}, // ties stay in sequence order
		{"SUBJECT REVERSE DATE", "4 2 1 3"},
		{"REVERSE SIZE ARRIVAL", "2 1 3 4"},
		{"reverse size", "2 1 3 4"},
	} {
		u := c.ok("SORT (" + tt.criteria + ") UTF-8 ALL")
		if got := only(t, u, "* SORT"); got != "* SORT "+tt.want {
			t.Errorf("SORT (%s): %q, want %q", tt.criteria, got, "* SORT "+tt.want)
		}
	}
	// UID SORT answers UIDs (one more than the sequence numbers here).
	if got := only(t, c.ok("UID SORT (ARRIVAL) US-ASCII ALL"), "* SORT"); got != "* SORT 4 3 2 5" {
		t.Errorf("UID SORT: %q", got)
	}
	// Search keys narrow the set; the sort still applies.
	if got := only(t, c.ok("SORT (DATE) UTF-8 NOT FROM zoe"), "* SORT"); got != "* SORT 1 4 3" {
		t.Errorf("SORT with NOT FROM: %q", got)
	}
	if got := only(t, c.ok("SORT (SIZE) UTF-8 OR SUBJECT apple LARGER 1400"), "* SORT"); got != "* SORT 4 1 2" {
		t.Errorf("SORT with OR: %q", got)
	}
	if got := only(t, c.ok("UID SORT (REVERSE DATE) UTF-8 UID 3:5"), "* SORT"); got != "* SORT 4 5 3" {
		t.Errorf("UID SORT with UID set: %q", got)
	}
	// With a MODSEQ key the answer carries the highest mod-sequence
	// (RFC 7162 §3.1.5).
	if got := only(t, c.ok("SORT (ARRIVAL) UTF-8 MODSEQ 1"), "* SORT"); !regexp.MustCompile(`^\* SORT 3 2 1 4 \(MODSEQ [1-9][0-9]*\)$`).MatchString(got) {
		t.Errorf("SORT with MODSEQ: %q", got)
	}
	if got := only(t, c.ok("SORT (SUBJECT) UTF-8 FROM nobody"), "* SORT"); got != "* SORT" {
		t.Errorf("empty SORT: %q", got)
	}
}

// TestSortSubjectLikeImaptest is Dovecot imaptest's sort-subject case:
// base subjects, i;ascii-casemap ("_" after letters, "[" before "_") and
// ties broken by the next criterion or the sequence number.
func TestSortSubjectLikeImaptest(t *testing.T) {
	var msgs []string
	for i, subj := range []string{"a", "C", "b", "_", "[foo] Fwd: [bar] Re: fw: b (fWd)  (fwd)", "b (a)", "Re: [FWD: c]", "[xyz]", ""} {
		h := ""
		if subj != "" {
			h = "Subject: " + subj + "\n"
		}
		body := fmt.Sprint(i + 1)
		if i >= 4 && i < 8 {
			body += body
		}
		msgs = append(msgs, h+"\n"+body+"\n")
	}
	_, c := sortEnv(t, msgs, nil)
	for _, tt := range []struct{ criteria, want string }{
		{"SUBJECT", "9 1 3 5 6 2 7 8 4"},
		{"REVERSE SUBJECT", "4 8 2 7 6 3 5 1 9"},
		{"SUBJECT REVERSE SIZE", "9 1 5 3 6 7 2 8 4"},
	} {
		if got := only(t, c.ok("SORT ("+tt.criteria+") US-ASCII ALL"), "* SORT"); got != "* SORT "+tt.want {
			t.Errorf("SORT (%s): %q, want %q", tt.criteria, got, "* SORT "+tt.want)
		}
	}
}

// TestESort checks SORT RETURN (RFC 5267) and SAVE (RFC 5182).
func TestESort(t *testing.T) {
	msgs, dates := sortMessages()
	_, c := sortEnv(t, msgs, dates)
	u, tagged := c.cmd("SORT RETURN (MIN MAX COUNT ALL) (ARRIVAL) UTF-8 ALL")
	if !strings.HasPrefix(tagged, "OK") {
		t.Fatalf("ESORT: %q", tagged)
	}
	tag := fmt.Sprintf("t%d", c.n)
	if got, want := only(t, u, "* ESEARCH"), `* ESEARCH (TAG "`+tag+`") MIN 3 MAX 4 COUNT 4 ALL 3,2,1,4`; got != want {
		t.Errorf("ESORT: %q, want %q", got, want)
	}
	// ALL keeps the sort order; ascending runs become ranges.
	u = c.ok("UID SORT RETURN (ALL) (SIZE) UTF-8 ALL")
	if got := only(t, u, "* ESEARCH"); !strings.HasSuffix(got, ") UID ALL 5,4,2:3") {
		t.Errorf("UID ESORT: %q", got)
	}
	u = c.ok("SORT RETURN () (ARRIVAL) UTF-8 ALL")
	if got := only(t, u, "* ESEARCH"); !strings.HasSuffix(got, ") ALL 3,2,1,4") {
		t.Errorf("RETURN (): %q", got)
	}
	u = c.ok("SORT RETURN (COUNT) (ARRIVAL) UTF-8 FROM nobody")
	if got := only(t, u, "* ESEARCH"); !strings.HasSuffix(got, ") COUNT 0") {
		t.Errorf("empty ESORT: %q", got)
	}
	// SAVE alone answers nothing; $ then holds the result.
	u = c.ok("SORT RETURN (SAVE) (DATE) UTF-8 SUBJECT apple")
	if has(u, "ESEARCH") || has(u, "* SORT") {
		t.Errorf("SAVE alone answered %q", u)
	}
	if got := only(t, c.ok("UID SEARCH $"), "* SEARCH"); got != "* SEARCH 3 5" {
		t.Errorf("$ after SORT SAVE: %q", got)
	}
	// SAVE with MIN: only the first in sort order.
	c.ok("SORT RETURN (SAVE MIN) (REVERSE DATE) UTF-8 ALL")
	if got := only(t, c.ok("SEARCH $"), "* SEARCH"); got != "* SEARCH 3" {
		t.Errorf("$ after SORT SAVE MIN: %q", got)
	}
}

// TestSortErrors checks the answers to bad SORT commands; the session
// stays usable after each.
func TestSortErrors(t *testing.T) {
	msgs, dates := sortMessages()
	e, c := sortEnv(t, msgs, dates)
	for _, tt := range []struct{ cmd, want string }{
		{"SORT (ARRIVAL) KOI8-R ALL", "NO [BADCHARSET (UTF-8 US-ASCII)]"},
		{"SORT (BOGUS) UTF-8 ALL", "BAD"},
		{"SORT () UTF-8 ALL", "BAD"},
		{"SORT ARRIVAL UTF-8 ALL", "BAD"},
		{"SORT (REVERSE) UTF-8 ALL", "BAD"},
		{"SORT (REVERSE REVERSE DATE) UTF-8 ALL", "BAD"},
		{"SORT (DATE) ALL", "NO [BADCHARSET"},
		{"SORT (DATE) UTF-8", "BAD"},
		{"SORT (DATE) UTF-8 BOGUS", "BAD"},
		{"SORT RETURN (PARTIAL 1:*) (DATE) UTF-8 ALL", "BAD"},
		{"SORT (DATE) UTF-8 ALL extra)", "BAD"},
	} {
		c.expect(tt.cmd, tt.want)
	}
	c.ok("SORT (DATE) UTF-8 ALL")
	// Not before a mailbox is selected.
	c2 := e.login()
	c2.expect("SORT (DATE) UTF-8 ALL", "BAD")
	c2.expect("THREAD REFERENCES UTF-8 ALL", "BAD")
}

// TestSortSeesOtherSessionsChanges checks that SORT works on the
// session's view: a message another session expunged keeps its
// sequence number (and is left out) until the EXPUNGE is announced, as
// SORT by sequence number may not announce it.
func TestSortSeesOtherSessionsChanges(t *testing.T) {
	msgs, dates := sortMessages()
	e, c := sortEnv(t, msgs, dates)
	other := e.login()
	other.ok("SELECT INBOX")
	other.ok(`STORE 1 +FLAGS (\Deleted)`)
	other.ok("EXPUNGE")
	u := c.ok("SORT (ARRIVAL) UTF-8 ALL")
	if got := only(t, u, "* SORT"); got != "* SORT 3 2 4" {
		t.Errorf("SORT after another session's expunge: %q", got)
	}
	if has(u, "EXPUNGE") {
		t.Errorf("EXPUNGE sent during SORT: %q", u)
	}
	mustHave(t, c.ok("NOOP"), "* 1 EXPUNGE")
	if got := only(t, c.ok("SORT (ARRIVAL) UTF-8 ALL"), "* SORT"); got != "* SORT 2 1 3" {
		t.Errorf("SORT after the expunge was announced: %q", got)
	}
	// A new message is sorted once the session knows of it.
	e.deliver("INBOX", "Subject: aaa\r\n\r\nnew\r\n")
	mustHave(t, c.ok("NOOP"), "* 4 EXISTS")
	if got := only(t, c.ok("SORT (SUBJECT) UTF-8 ALL"), "* SORT"); got != "* SORT 4 1 3 2" {
		t.Errorf("SORT after delivery: %q", got)
	}
}

func TestAppendOrderedSet(t *testing.T) {
	for _, tt := range []struct {
		in   []uint32
		want string
	}{
		{[]uint32{1}, "1"},
		{[]uint32{1, 2, 3, 4, 5}, "1:5"},
		{[]uint32{5, 4, 3}, "5,4,3"},
		{[]uint32{7, 1, 2, 9, 3}, "7,1:2,9,3"},
	} {
		if got := string(appendOrderedSet(nil, tt.in)); got != tt.want {
			t.Errorf("%v: %q, want %q", tt.in, got, tt.want)
		}
	}
}
