package pop3

import (
	"bufio"
	"bytes"
	"strings"
	"testing"
)

// FuzzParseCommand: the parser never panics, and what it accepts is a
// 3-4 character upper-case keyword with arguments free of spaces and
// control characters.
func FuzzParseCommand(f *testing.F) {
	for _, s := range []string{"USER a@b.c", "pass  two words ", "RETR 1", "TOP 1 0", "AUTH PLAIN =",
		"", " ", "\x00", "LIST\t2", "uidl 99999999999", "CAPA\r\n", strings.Repeat("A", 300), "QUIT\xff"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		cmd, err := ParseCommand(line)
		if err != nil {
			if cmd.Name != "" || cmd.Args != nil {
				t.Fatalf("error %v with a command %+v", err, cmd)
			}
			return
		}
		if len(cmd.Name) < 3 || len(cmd.Name) > 4 || strings.ToUpper(cmd.Name) != cmd.Name {
			t.Fatalf("bad keyword %q from %q", cmd.Name, line)
		}
		for _, a := range cmd.Args {
			if a == "" || strings.ContainsAny(a, " \t\r\n\x00") {
				t.Fatalf("bad argument %q from %q", a, line)
			}
			if !strings.Contains(cmd.Rest, a) {
				t.Fatalf("argument %q not in Rest %q", a, cmd.Rest)
			}
		}
		if n, ok := parseNumber(strings.Join(cmd.Args, "")); ok && n < 0 {
			t.Fatalf("negative number from %q", line)
		}
	})
}

// FuzzWriteMessage: un-stuffing what RETR sends gives back the message
// (with a final CRLF added when missing), the terminator is the only
// line that is a lone ".", and TOP sends a prefix of RETR.
func FuzzWriteMessage(f *testing.F) {
	for _, s := range []string{msgA, msgDots, msgNoCRLF, msgHeaderOnly, "", ".", "\r\n", ".\r\n.\r\n", "a\r\n\r\n.b"} {
		f.Add(s, 1)
	}
	f.Fuzz(func(t *testing.T, msg string, lines int) {
		// The store keeps CRLF line endings only.
		msg = strings.ReplaceAll(strings.ReplaceAll(msg, "\r", ""), "\n", "\r\n")
		var out bytes.Buffer
		w := bufio.NewWriter(&out)
		n, err := writeMessage(w, strings.NewReader(msg), allLines)
		if err != nil {
			t.Fatal(err)
		}
		w.Flush()
		if n != int64(len(msg)) {
			t.Fatalf("sent %d octets, message has %d", n, len(msg))
		}
		full := unstuff(t, out.String())
		want := msg
		if want != "" && !strings.HasSuffix(want, "\r\n") {
			want += "\r\n"
		}
		if full != want {
			t.Fatalf("round trip:\n got %q\nwant %q", full, want)
		}
		if lines < 0 {
			lines = -lines
		}
		out.Reset()
		if _, err := writeMessage(w, strings.NewReader(msg), lines%50); err != nil {
			t.Fatal(err)
		}
		w.Flush()
		top := unstuff(t, out.String())
		if !strings.HasPrefix(want, top) {
			t.Fatalf("TOP %d %q is not a prefix of %q", lines%50, top, want)
		}
	})
}

// unstuff undoes byte-stuffing of a multi-line response body and checks
// its termination.
func unstuff(t *testing.T, s string) string {
	t.Helper()
	if !strings.HasSuffix(s, ".\r\n") || (len(s) > 3 && !strings.HasSuffix(s, "\r\n.\r\n")) {
		t.Fatalf("bad termination: %q", s)
	}
	body := s[:len(s)-3]
	var b strings.Builder
	for l := range strings.SplitAfterSeq(body, "\r\n") {
		if l == "" {
			continue
		}
		if l == ".\r\n" {
			t.Fatalf("unstuffed terminator inside %q", s)
		}
		if strings.HasPrefix(l, ".") {
			if !strings.HasPrefix(l, "..") {
				t.Fatalf("line %q starts with a single dot", l)
			}
			l = l[1:]
		}
		b.WriteString(l)
	}
	return b.String()
}

// FuzzParseAPOP: ParseAPOP never panics and accepts exactly a user name
// and 32 hex digits, returned in lower case.
func FuzzParseAPOP(f *testing.F) {
	for _, s := range []string{"APOP mrose c4c9334bac560ecc979e58001b3e22fb", "APOP a C4C9334BAC560ECC979E58001B3E22FB",
		"APOP", "APOP a", "APOP a b c", "APOP a c4c9334bac560ecc979e58001b3e22f\xff", "apop  x   0123456789abcdef0123456789abcdef "} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		cmd, err := ParseCommand(line)
		if err != nil {
			return
		}
		user, digest, err := ParseAPOP(cmd)
		if err != nil {
			if user != "" || digest != "" {
				t.Fatalf("error %v with %q %q", err, user, digest)
			}
			return
		}
		if user == "" || strings.ContainsAny(user, " \t\r\n") {
			t.Fatalf("bad user %q from %q", user, line)
		}
		if len(digest) != 32 || strings.Trim(digest, "0123456789abcdef") != "" {
			t.Fatalf("bad digest %q from %q", digest, line)
		}
		if !strings.EqualFold(digest, cmd.Args[1]) {
			t.Fatalf("digest %q is not the argument %q", digest, cmd.Args[1])
		}
	})
}
