package imapd

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/pochta-mail/pochta/internal/store"
	"github.com/pochta-mail/pochta/internal/testzone"
)

// appendDated APPENDs msg into folder with a date-time and returns the
// tagged answer.
func appendDated(c *client, folder, date, msg string) string {
	c.t.Helper()
	_, tagged := c.cmd("APPEND " + folder + ` "` + date + `" {` + itoa(len(msg)) + "+}\r\n" + msg)
	return tagged
}

// internalDates returns the INTERNALDATE of each FETCH line, by sequence
// number order of the lines.
func internalDates(t *testing.T, lines []string) []string {
	t.Helper()
	var ds []string
	for _, l := range lines {
		_, rest, ok := strings.Cut(l, `INTERNALDATE "`)
		if !ok {
			continue
		}
		d, _, ok := strings.Cut(rest, `"`)
		if !ok {
			t.Fatalf("unterminated INTERNALDATE in %q", l)
		}
		ds = append(ds, d)
	}
	return ds
}

func wantDates(t *testing.T, got []string, want ...string) {
	t.Helper()
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("INTERNALDATEs\n got %q\nwant %q", got, want)
	}
}

// The messages of TestInternalDateZone: APPEND dates near midnight in
// three zones, so that each one's own calendar day differs from the UTC
// one, and a Date header near midnight in a fourth.
var zoneAppends = []struct{ date, msg string }{
	// 31-Dec-2023 21:30 UTC.
	{"01-Jan-2024 00:30:00 +0300", "Date: Sun, 31 Dec 2023 23:10:00 -0800\r\nSubject: moscow\r\n\r\none\r\n"},
	// 01-Jan-2024 04:30 UTC.
	{"31-Dec-2023 23:30:00 -0500", "Date: Mon, 01 Jan 2024 00:20:00 +0530\r\nSubject: new york\r\n\r\ntwo\r\n"},
	// 03-Jan-2024 03:15 UTC.
	{" 2-Jan-2024 23:45:00 -0330", "Subject: st johns\r\n\r\nthree\r\n"},
}

// wantZoneDates are the INTERNALDATEs of zoneAppends as FETCH prints
// them: in the zone they were appended with.
var wantZoneDates = []string{" 1-Jan-2024 00:30:00 +0300", "31-Dec-2023 23:30:00 -0500", " 2-Jan-2024 23:45:00 -0330"}

func TestInternalDateZone(t *testing.T) {
	e := newEnv(t, envOptions{})
	c := e.login()
	for _, a := range zoneAppends {
		if tagged := appendDated(c, "INBOX", a.date, a.msg); !strings.HasPrefix(tagged, "OK") {
			t.Fatalf("APPEND %q: %s", a.date, tagged)
		}
	}
	c.ok("SELECT INBOX")
	wantDates(t, internalDates(t, c.ok("FETCH 1:* INTERNALDATE")), wantZoneDates...)

	// SEARCH BEFORE/ON/SINCE take the calendar date in each message's
	// own zone (RFC 9051 §6.4.4: "disregarding time and timezone"). In
	// UTC the answers would be 2 for ON 1-Jan-2024 and none for ON
	// 31-Dec-2023.
	for _, q := range []struct{ key, want string }{
		{"ON 1-Jan-2024", "* SEARCH 1"},
		{"ON 31-Dec-2023", "* SEARCH 2"},
		{"ON 2-Jan-2024", "* SEARCH 3"},
		{"ON 3-Jan-2024", "* SEARCH"},
		{"BEFORE 1-Jan-2024", "* SEARCH 2"},
		{"BEFORE 2-Jan-2024", "* SEARCH 1 2"},
		{"SINCE 1-Jan-2024", "* SEARCH 1 3"},
		{"SINCE 2-Jan-2024", "* SEARCH 3"},
		{"SINCE 3-Jan-2024", "* SEARCH"},
		{`ON "31-Dec-2023" NOT BEFORE 31-Dec-2023`, "* SEARCH 2"},
		// The Date header's own calendar date, not the UTC one (1 Jan
		// for message 1, 31 Dec for message 2).
		{"SENTON 31-Dec-2023", "* SEARCH 1"},
		{"SENTON 1-Jan-2024", "* SEARCH 2"},
		{"SENTBEFORE 1-Jan-2024", "* SEARCH 1"},
		{"SENTSINCE 1-Jan-2024", "* SEARCH 2"},
	} {
		if got := searchLine(t, c, "SEARCH "+q.key); got != q.want {
			t.Errorf("SEARCH %s: %q, want %q", q.key, got, q.want)
		}
	}
	// SORT ARRIVAL orders by the instant: message 1 (21:30 UTC on 31
	// Dec) arrived before message 2, though its wall clock reads later.
	mustHave(t, c.ok("SORT (ARRIVAL) UTF-8 ALL"), "* SORT 1 2 3")
	mustHave(t, c.ok("SORT (REVERSE ARRIVAL) UTF-8 ALL"), "* SORT 3 2 1")

	// Another session reads the same from the store.
	c2 := e.login()
	c2.ok("EXAMINE INBOX")
	wantDates(t, internalDates(t, c2.ok("FETCH 1:* (INTERNALDATE)")), wantZoneDates...)
	wantDates(t, internalDates(t, c2.ok("UID FETCH 2 ALL")), wantZoneDates[1])

	// COPY and MOVE keep the zone; so does a flag change.
	c.ok("STORE 1:* +FLAGS (\\Seen)")
	c.ok("COPY 1:* Archive")
	c.ok("SELECT Archive")
	c.ok("MOVE 1:* Trash")
	c.ok("SELECT Trash")
	wantDates(t, internalDates(t, c.ok("FETCH 1:* INTERNALDATE")), wantZoneDates...)
	if got := searchLine(t, c, "SEARCH ON 1-Jan-2024"); got != "* SEARCH 1" {
		t.Errorf("SEARCH ON 1-Jan-2024 after COPY and MOVE: %q, want * SEARCH 1", got)
	}
}

func TestInternalDateZoneMultiappendCatenate(t *testing.T) {
	e := newEnv(t, envOptions{})
	c := e.login()
	m := "Subject: first\r\n\r\none\r\n"
	// A MULTIAPPEND of a literal and a CATENATE, each with its date.
	_, tagged := c.cmd(`APPEND Drafts "01-Jan-2024 00:30:00 +0300" {` + itoa(len(m)) + "+}\r\n" + m +
		` (\Draft) "31-Dec-2023 23:59:59 -1000" CATENATE (TEXT {` + itoa(len(m)) + "+}\r\n" + m + ` TEXT {6+}` + "\r\nmore\r\n)")
	if !strings.HasPrefix(tagged, "OK") {
		t.Fatalf("MULTIAPPEND with CATENATE: %s", tagged)
	}
	c.ok("SELECT Drafts")
	wantDates(t, internalDates(t, c.ok("FETCH 1:* INTERNALDATE")), " 1-Jan-2024 00:30:00 +0300", "31-Dec-2023 23:59:59 -1000")
	if got := searchLine(t, c, "SEARCH ON 31-Dec-2023"); got != "* SEARCH 2" {
		t.Errorf("SEARCH ON 31-Dec-2023: %q, want * SEARCH 2", got)
	}
}

func TestInternalDateDeliveredLocalZone(t *testing.T) {
	// In UTC a zone dropped on the way would look right.
	if !testzone.InZone(t, "America/St_Johns") {
		return
	}
	e := newEnv(t, envOptions{})
	// Mail delivered without a date (SMTP) is stamped now, in the
	// server's local zone.
	if _, err := e.st.Deliver(context.Background(), store.Delivery{AccountID: e.acct.ID,
		Body: strings.NewReader("Subject: delivered\r\n\r\nx\r\n")}); err != nil {
		t.Fatal(err)
	}
	c := e.login()
	c.ok("SELECT INBOX")
	ds := internalDates(t, c.ok("FETCH 1 INTERNALDATE"))
	if len(ds) != 1 {
		t.Fatalf("FETCH INTERNALDATE: %q", ds)
	}
	got, err := time.Parse("_2-Jan-2006 15:04:05 -0700", ds[0])
	if err != nil {
		t.Fatalf("INTERNALDATE %q: %v", ds[0], err)
	}
	if zone, want := got.Format("-0700"), time.Now().Format("-0700"); zone != want || want == "+0000" {
		t.Errorf("INTERNALDATE %q in zone %s, want the local zone %s", ds[0], zone, want)
	}
}
