package imapscript

import (
	"strings"
	"time"
)

// Message is one message of an mbox: its text with CRLF line ends and the
// date of its "From " line.
type Message struct {
	Body []byte
	Date time.Time
}

// fromLineDate parses the date of an mbox "From sender date" line.
func fromLineDate(line string) (time.Time, bool) {
	if !strings.HasPrefix(line, "From ") {
		return time.Time{}, false
	}
	f := strings.Fields(line)
	if len(f) < 7 {
		return time.Time{}, false
	}
	t, err := time.Parse("Mon Jan 2 15:04:05 2006", strings.Join(f[2:7], " "))
	if err != nil {
		return time.Time{}, false
	}
	// An optional zone after the year ("... 2007 +0200"): the time is
	// local to it, as the INTERNALDATE the message gets.
	if len(f) > 7 {
		if z, err := time.Parse("-0700", f[7]); err == nil {
			t = time.Date(t.Year(), t.Month(), t.Day(), t.Hour(), t.Minute(), t.Second(), 0, z.Location())
		}
	}
	return t, true
}

// ParseMbox splits an mbox file into messages the way imaptest does: a
// message runs from its "From " line up to the next one, its last blank
// line included, with every line ending in CRLF.
func ParseMbox(data string) []Message {
	var out []Message
	var cur *Message
	var b strings.Builder
	flush := func() {
		if cur != nil {
			cur.Body = []byte(b.String())
			out = append(out, *cur)
		}
		b.Reset()
	}
	lines := strings.SplitAfter(data, "\n")
	for _, line := range lines {
		if line == "" {
			continue
		}
		text := strings.TrimRight(line, "\r\n")
		if d, ok := fromLineDate(text); ok && (cur == nil || b.Len() > 0) {
			flush()
			cur = &Message{Date: d}
			continue
		}
		if cur == nil {
			continue
		}
		b.WriteString(text)
		b.WriteString("\r\n")
	}
	flush()
	return out
}
