package imapd

import (
	"bufio"
	"bytes"
	"testing"
	"unicode/utf8"
)

// FuzzCommand feeds arbitrary input to the command reader and the parser
// of every command: nothing may panic or loop.
func FuzzCommand(f *testing.F) {
	for _, s := range []string{
		"a LOGIN joe secret\r\n",
		"a1 FETCH 1:* (FLAGS BODY.PEEK[HEADER.FIELDS (FROM TO)]<0.100> BODYSTRUCTURE)\r\n",
		"a2 UID SEARCH CHARSET UTF-8 OR FROM {3+}\r\njoe SINCE 1-Feb-2020 NOT DELETED\r\n",
		"a3 STORE 1,3:5 +FLAGS.SILENT (\\Seen $Label)\r\n",
		"a4 APPEND INBOX (\\Seen) \"01-Jan-2020 10:00:00 +0000\" {5+}\r\nhello\r\n",
		"a5 LIST (SUBSCRIBED) \"\" (\"*\" \"%\") RETURN (CHILDREN STATUS (MESSAGES UNSEEN))\r\n",
		"a6 SELECT &BBIERQQ+BDQETwRJBDgENQ- (CONDSTORE)\r\n",
		"a7 SEARCH RETURN (MIN MAX SAVE) $ UID 1:*\r\n",
		"a8 STATUS INBOX (MESSAGES UIDNEXT SIZE)\r\n",
		"a9 FETCH 1 (BINARY.PEEK[2.HEADER.FIELDS.NOT (Subject)] BINARY.SIZE[1.MIME] BINARY[TEXT]<15>)\r\n",
		"b1 SUBSCRIBE \"Later/Maybe\"\r\n",
		"b2 SEARCH RETURN (PARTIAL -1:-100 UPDATE CONTEXT) UNSEEN\r\n",
		"b3 UID SORT RETURN (UPDATE PARTIAL 4:2 COUNT) (REVERSE ARRIVAL) UTF-8 FLAGGED\r\n",
		"b4 SORT (ARRIVAL) US-ASCII RETURN (PARTIAL 1:6) ALL\r\n",
		"b5 CANCELUPDATE \"b2\" \"b3\"\r\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		r := newReader(bufio.NewReader(bytes.NewReader(data)), func() error { return nil })
		for range 8 {
			if err := r.startCommand(); err != nil {
				if r.skipCommand() != nil {
					return
				}
				if len(r.line) == 0 && r.br.Buffered() == 0 {
					return
				}
				continue
			}
			parseCommandForFuzz(r)
			if r.skipCommand() != nil {
				return
			}
		}
	})
}

// FuzzUTF7 checks that decoding never panics and that whatever decodes
// encodes back to the same text.
func FuzzUTF7(f *testing.F) {
	for _, s := range []string{"INBOX", "&BBIERQQ+BDQETwRJBDgENQ-", "a&-b", "&2D3eAA-", "&"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		dec, err := decodeUTF7(s)
		if err == nil {
			if !utf8.ValidString(dec) {
				t.Fatalf("decode %q gave invalid UTF-8", s)
			}
			if enc := encodeUTF7(dec); enc != s {
				t.Fatalf("decode %q = %q, encodes back to %q", s, dec, enc)
			}
		}
		if utf8.ValidString(s) {
			enc := encodeUTF7(s)
			back, err := decodeUTF7(enc)
			if err != nil || back != s {
				t.Fatalf("round trip %q -> %q -> %q %v", s, enc, back, err)
			}
		}
	})
}

// FuzzSeqSet checks parse/format round trips of sequence sets.
func FuzzSeqSet(f *testing.F) {
	for _, s := range []string{"1", "1:*", "5:3,7", "$", "*:4"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		set, err := parseSeqSet(s)
		if err != nil {
			return
		}
		again, err := parseSeqSet(set.String())
		if err != nil || again.String() != set.String() {
			t.Fatalf("%q -> %q -> %q %v", s, set.String(), again.String(), err)
		}
		set.resolveUIDs([]uint32{1, 5, 9, 4000000000})
		set.resolveSeqs(3)
	})
}

// parseCommandForFuzz parses one command's arguments with the parsers that
// do not need a session.
func parseCommandForFuzz(r *reader) {
	if _, err := r.tag(); err != nil {
		return
	}
	if r.sp() != nil {
		return
	}
	name, err := r.keyword()
	if err != nil {
		return
	}
	if name == "UID" {
		if r.sp() != nil {
			return
		}
		if name, err = r.keyword(); err != nil {
			return
		}
	}
	switch name {
	case "FETCH":
		parseFetch(r)
	case "SEARCH":
		parseSearch(r)
	case "SORT":
		parseSort(r)
	default:
		for !r.atEnd() {
			if r.consume(' ') || r.consume('(') || r.consume(')') {
				continue
			}
			if _, err := r.astring(); err != nil {
				if _, err := r.flag(true); err != nil {
					return
				}
			}
		}
	}
}
