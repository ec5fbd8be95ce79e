package delivery

import (
	"bytes"
	"net/mail"
	"regexp"
	"strings"
	"testing"
	"time"
)

func TestOriginFields(t *testing.T) {
	now := time.Date(2026, 3, 2, 10, 4, 5, 0, time.FixedZone("", 3*3600))
	const date = "Date: Mon, 02 Mar 2026 10:04:05 +0300\r\n"
	idRE := regexp.MustCompile(`^Message-ID: <[0-9a-f]{32}@mail\.example\.org>\r\n$`)
	cases := []struct {
		name, msg    string
		whole        bool
		date, msgid  bool // want each added
		nothingKnown bool // header not seen whole: nothing added
	}{
		{"both missing", "From: a@example.org\r\nSubject: x\r\n\r\nbody\r\n", true, true, true, false},
		{"both present", "Date: Sun, 1 Mar 2026 00:00:00 +0000\r\nMessage-ID: <x@y>\r\n\r\nbody\r\n", true, false, false, false},
		{"any case, space before colon", "DATE : Sun, 1 Mar 2026 00:00:00 +0000\r\nmessage-id:<x@y>\r\n\r\n", true, false, false, false},
		{"LF line endings", "Subject: x\nDate: Sun, 1 Mar 2026 00:00:00 +0000\n\nMessage-ID: <in the body>\n", true, false, true, false},
		{"folded field", "Subject: a\r\n Date: not a field\r\nMessage-ID:\r\n <x@y>\r\n\r\n", true, true, false, false},
		{"only in the body", "Subject: x\r\n\r\nDate: no\r\nMessage-ID: no\r\n", true, true, true, false},
		{"not a field ends the header", "Subject: x\r\nnot a field\r\nDate: no\r\n", true, true, true, false},
		{"header without body", "Subject: x\r\nDate: Sun, 1 Mar 2026 00:00:00 +0000", true, false, true, false},
		{"Resent-Date does not count", "Resent-Date: Sun, 1 Mar 2026 00:00:00 +0000\r\nResent-Message-ID: <x@y>\r\n\r\n", true, true, true, false},
		{"header cut off", "Subject: x\r\nX-Long: " + strings.Repeat("a", 100), false, false, false, true},
		{"empty message", "", true, true, true, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := string(OriginFields([]byte(c.msg), c.whole, now, "mail.example.org"))
			if c.nothingKnown {
				if got != "" {
					t.Fatalf("added %q to a header not seen whole", got)
				}
				return
			}
			rest := got
			if c.date {
				if !strings.HasPrefix(rest, date) {
					t.Fatalf("got %q, want a Date field %q first", got, date)
				}
				rest = rest[len(date):]
			}
			if c.msgid {
				if !idRE.MatchString(rest) {
					t.Fatalf("got %q, want a Message-ID field", got)
				}
				rest = ""
			}
			if rest != "" {
				t.Fatalf("got %q: unexpected fields", got)
			}
			// The result parses as a header with the fields it claims.
			m, err := mail.ReadMessage(strings.NewReader(got + "\r\n"))
			if err != nil {
				t.Fatalf("added fields do not parse: %v", err)
			}
			if c.date {
				if d, err := m.Header.Date(); err != nil || !d.Equal(now) {
					t.Errorf("Date parses as %v, %v; want %v", d, err, now)
				}
			}
			if c.msgid {
				if _, err := mail.ParseAddress(m.Header.Get("Message-Id")); err != nil {
					t.Errorf("Message-ID %q is not <addr-spec>: %v", m.Header.Get("Message-Id"), err)
				}
			}
		})
	}
	a := OriginFields([]byte("Subject: x\r\n\r\n"), true, now, "h")
	b := OriginFields([]byte("Subject: x\r\n\r\n"), true, now, "h")
	if bytes.Equal(a, b) {
		t.Errorf("two messages got the same Message-ID: %q", a)
	}
}

// FuzzOriginFields checks that any input gives either nothing or well
// formed Date/Message-ID fields, and never a field the header has.
func FuzzOriginFields(f *testing.F) {
	for _, s := range []string{"", "\r\n", "Date: x\r\n\r\n", "Message-ID: <a@b>\nDate: y\n\n", "a\r\n b:\r\n", "Subject: x\r\n\tDate: y"} {
		f.Add([]byte(s), true)
	}
	now := time.Date(2026, 3, 2, 10, 4, 5, 0, time.UTC)
	f.Fuzz(func(t *testing.T, msg []byte, whole bool) {
		got := OriginFields(msg, whole, now, "h.example")
		hasDate, hasID, _ := scanOriginFields(msg)
		if hasDate && bytes.Contains(got, []byte("Date:")) {
			t.Errorf("added a Date to a header with one: %q", got)
		}
		if hasID && bytes.Contains(got, []byte("Message-ID:")) {
			t.Errorf("added a Message-ID to a header with one: %q", got)
		}
		if len(got) == 0 {
			return
		}
		if _, err := mail.ReadMessage(bytes.NewReader(append(got, "\r\n"...))); err != nil {
			t.Errorf("added fields %q do not parse: %v", got, err)
		}
		hd, hi, ended := scanOriginFields(got)
		if hd == hasDate && hi == hasID || ended {
			t.Errorf("added fields %q are not what was missing", got)
		}
	})
}
