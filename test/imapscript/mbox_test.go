package imapscript

import (
	"testing"
	"time"
)

// ParseMbox keeps the zone of a "From " line that has one, so the
// message's INTERNALDATE is that local time (imaptest's search-intdate
// script depends on it), and takes UTC without one.
func TestParseMboxFromLineZone(t *testing.T) {
	msgs := ParseMbox("From user@domain  Sun Mar 25 04:00:00 2007 +0300\n\nbody\n\nFrom user@domain  Fri Feb 22 17:06:23 2008\n\nbody2\n")
	if len(msgs) != 2 {
		t.Fatalf("%d messages, want 2", len(msgs))
	}
	if got := msgs[0].Date.Format("02-Jan-2006 15:04:05 -0700"); got != "25-Mar-2007 04:00:00 +0300" {
		t.Errorf("first date %s, want 25-Mar-2007 04:00:00 +0300", got)
	}
	if want := time.Date(2008, 2, 22, 17, 6, 23, 0, time.UTC); !msgs[1].Date.Equal(want) {
		t.Errorf("second date %s, want %s", msgs[1].Date, want)
	}
	if string(msgs[0].Body) != "\r\nbody\r\n\r\n" {
		t.Errorf("first body %q", msgs[0].Body)
	}
}
