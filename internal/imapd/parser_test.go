package imapd

import (
	"bufio"
	"errors"
	"strings"
	"testing"
)

// parseAll runs fn over a command held in s and reports how many
// continuation requests were made.
func newTestReader(s string) (*reader, *int) {
	conts := 0
	r := newReader(bufio.NewReader(strings.NewReader(s)), func() error { conts++; return nil })
	return r, &conts
}

func TestReaderTokens(t *testing.T) {
	r, conts := newTestReader("a1 LOGIN \"jo\\\"e\" {5}\r\nsecr3 {4+}\r\nabcd FOO\r\n")
	if err := r.startCommand(); err != nil {
		t.Fatal(err)
	}
	tag, err := r.tag()
	if err != nil || tag != "a1" {
		t.Fatalf("tag %q %v", tag, err)
	}
	r.sp()
	cmd, _ := r.keyword()
	if cmd != "LOGIN" {
		t.Fatalf("cmd %q", cmd)
	}
	r.sp()
	user, err := r.astring()
	if err != nil || user != `jo"e` {
		t.Fatalf("user %q %v", user, err)
	}
	r.sp()
	pw, err := r.astring()
	if err != nil || pw != "secr3" {
		t.Fatalf("pw %q %v", pw, err)
	}
	if *conts != 1 {
		t.Fatalf("continuations %d, want 1 (for the synchronising literal only)", *conts)
	}
	r.sp()
	x, err := r.astring()
	if err != nil || x != "abcd" {
		t.Fatalf("literal+ %q %v", x, err)
	}
	if *conts != 1 {
		t.Fatalf("LITERAL+ asked for a continuation")
	}
	r.sp()
	a, _ := r.atom()
	if a != "FOO" || r.end() != nil {
		t.Fatalf("rest %q", a)
	}
}

func TestReaderErrors(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"a \"unterminated\r\n", "unterminated"},
		{"a \"bad\\x\"\r\n", "bad escape"},
		{"a {3}x\r\n", "end the line"},
		{"a {99999999}\r\n", "over the limit"},
	} {
		r, _ := newTestReader(tc.in)
		r.startCommand()
		r.tag()
		r.sp()
		_, err := r.astring()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: err %v, want %q", tc.in, err, tc.want)
		}
	}
}

func TestReaderLineTooLongAndSkip(t *testing.T) {
	long := "a NOOP " + strings.Repeat("x", maxLineLen+10) + " {3+}\r\nabc\r\nb NOOP\r\n"
	r, _ := newTestReader(long)
	if err := r.startCommand(); !errors.Is(err, errLineTooLong) {
		t.Fatalf("err %v, want line too long", err)
	}
	if err := r.skipCommand(); err != nil {
		t.Fatal(err)
	}
	if err := r.startCommand(); err != nil {
		t.Fatal(err)
	}
	if string(r.line) != "b NOOP" {
		t.Fatalf("next command %q, want the one after the skipped literal", r.line)
	}
}

func TestReaderSkipNonSyncLiteralAfterError(t *testing.T) {
	r, _ := newTestReader("a BOGUS ((( {5+}\r\nhello more {2+}\r\nxy\r\nb NOOP\r\n")
	r.startCommand()
	if err := r.skipCommand(); err != nil {
		t.Fatal(err)
	}
	r.startCommand()
	if string(r.line) != "b NOOP" {
		t.Fatalf("next command %q", r.line)
	}
}

func TestSeqSet(t *testing.T) {
	for _, tc := range []struct {
		in   string
		ok   bool
		want string
	}{
		{"1", true, "1"}, {"1:*", true, "1:*"}, {"*", true, "*"}, {"5:3,7", true, "5:3,7"},
		{"$", true, "$"}, {"0", false, ""}, {"1:", false, ""}, {"", false, ""}, {"1,,2", false, ""},
		{"4294967296", false, ""}, {"01", false, ""},
	} {
		s, err := parseSeqSet(tc.in)
		if (err == nil) != tc.ok {
			t.Errorf("%q: err %v", tc.in, err)
			continue
		}
		if tc.ok && s.String() != tc.want {
			t.Errorf("%q: %q", tc.in, s.String())
		}
	}
	uids := []uint32{2, 4, 6, 8, 10}
	s, _ := parseSeqSet("3:6,*,9:100")
	if got := s.resolveUIDs(uids); len(got) != 3 || got[0] != 1 || got[1] != 2 || got[2] != 4 {
		t.Fatalf("resolveUIDs %v", got)
	}
	s, _ = parseSeqSet("20:*")
	if got := s.resolveUIDs(uids); len(got) != 1 || got[0] != 4 {
		t.Fatalf("20:* should match the highest UID, got %v", got)
	}
	s, _ = parseSeqSet("2:*")
	if got, ok := s.resolveSeqs(3); !ok || len(got) != 2 || got[0] != 1 {
		t.Fatalf("resolveSeqs %v %v", got, ok)
	}
	s, _ = parseSeqSet("4")
	if _, ok := s.resolveSeqs(3); ok {
		t.Fatal("sequence number beyond the mailbox accepted")
	}
	if got := formatUIDs([]uint32{1, 2, 3, 7, 9, 10}); got != "1:3,7,9:10" {
		t.Fatalf("formatUIDs %q", got)
	}
}

func TestUTF7(t *testing.T) {
	for _, tc := range []struct{ utf8, utf7 string }{
		{"INBOX", "INBOX"},
		{"Входящие", "&BBIERQQ+BDQETwRJBDgENQ-"},
		{"a&b", "a&-b"},
		{"日本語/Sub", "&ZeVnLIqe-/Sub"},
		{"😀", "&2D3eAA-"},
		{"~peter/mail/台北/日本語", "~peter/mail/&U,BTFw-/&ZeVnLIqe-"},
	} {
		if got := encodeUTF7(tc.utf8); got != tc.utf7 {
			t.Errorf("encode %q = %q, want %q", tc.utf8, got, tc.utf7)
		}
		if got, err := decodeUTF7(tc.utf7); err != nil || got != tc.utf8 {
			t.Errorf("decode %q = %q %v, want %q", tc.utf7, got, err, tc.utf8)
		}
	}
	for _, bad := range []string{"&", "&AGE-", "&ZeVnLIqe-&ZeVnLIqe-", "&2D0-", "caf\xc3\xa9", "&!-", "&ZeVnLIq-"} {
		if got, err := decodeUTF7(bad); err == nil {
			t.Errorf("decode %q accepted: %q", bad, got)
		}
	}
}

func TestDates(t *testing.T) {
	d, err := parseDateTime(" 7-Feb-1994 21:52:25 -0800")
	if err != nil || d.Day() != 7 || d.Hour() != 21 {
		t.Fatalf("%v %v", d, err)
	}
	if _, err := parseDateTime("7-Foo-1994 21:52:25 -0800"); err == nil {
		t.Fatal("bad month accepted")
	}
	if d, err := parseDate("1-feb-2020"); err != nil || d.Month() != 2 {
		t.Fatalf("%v %v", d, err)
	}
}
