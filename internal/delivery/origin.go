package delivery

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"time"
)

// OriginFields returns the Date and Message-ID fields (RFC 5322 §3.6.1,
// §3.6.4) that a submitted message's header lacks, CRLF terminated, for
// the submission server to add (RFC 6409 §8.2, §8.3): Date is now in
// now's time zone, Message-ID is <random@hostname>. head is the start of
// the message; whole reports that it is the whole message. When the
// header does not end within head and head is not the whole message, the
// fields cannot be known absent and nothing is added. It returns nil when
// the header has both fields.
func OriginFields(head []byte, whole bool, now time.Time, hostname string) []byte {
	hasDate, hasID, ended := scanOriginFields(head)
	if !ended && !whole {
		return nil
	}
	var out []byte
	if !hasDate {
		out = append(out, "Date: "+now.Format(time.RFC1123Z)+"\r\n"...)
	}
	if !hasID {
		var rnd [16]byte
		rand.Read(rnd[:]) // never fails (crypto/rand)
		out = append(out, "Message-ID: <"+hex.EncodeToString(rnd[:])+"@"+hostname+">\r\n"...)
	}
	return out
}

// scanOriginFields reads the header at the start of msg (lines ending in
// CRLF or LF, folded lines continuing with a space or tab) and reports
// whether it holds a Date and a Message-ID field (any case, with or
// without white space before the colon, as RFC 5322 §4.5 allows), and
// whether the header ended within msg: at an empty line, or at a line
// that is not a field (where a parser starts the body).
func scanOriginFields(msg []byte) (hasDate, hasID, ended bool) {
	rest := msg
	for len(rest) > 0 {
		line := rest
		i := bytes.IndexByte(rest, '\n')
		if i < 0 {
			// The last line is cut off (or the message ends without a
			// line break): look at it, but the header did not end.
			rest = nil
		} else {
			line, rest = rest[:i], rest[i+1:]
		}
		line = bytes.TrimSuffix(line, []byte("\r"))
		if len(line) == 0 {
			return hasDate, hasID, true
		}
		if line[0] == ' ' || line[0] == '\t' {
			continue // folded continuation of the field before
		}
		name, _, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			if i < 0 {
				break
			}
			return hasDate, hasID, true
		}
		name = bytes.TrimRight(name, " \t")
		switch {
		case bytes.EqualFold(name, []byte("Date")):
			hasDate = true
		case bytes.EqualFold(name, []byte("Message-ID")):
			hasID = true
		}
	}
	return hasDate, hasID, false
}
