package imapd

import (
	"strings"
	"testing"
)

// binMsg is a multipart message with a base64 text part and an attached
// message whose body is quoted-printable.
const binMsg = "From: a@example.org\r\n" +
	"Subject: parts\r\n" +
	"MIME-Version: 1.0\r\n" +
	"Content-Type: multipart/mixed; boundary=b1\r\n" +
	"\r\n" +
	"--b1\r\n" +
	"Content-Type: text/plain; charset=us-ascii\r\n" +
	"Content-Transfer-Encoding: base64\r\n" +
	"\r\n" +
	"aGVsbG8gd29ybGQ=\r\n" +
	"--b1\r\n" +
	"Content-Type: message/rfc822\r\n" +
	"\r\n" +
	"From: b@example.org\r\n" +
	"Subject: inner\r\n" +
	"Content-Transfer-Encoding: quoted-printable\r\n" +
	"\r\n" +
	"caf=C3=A9\r\n" +
	"--b1--\r\n"

// BINARY takes the section specifiers of BODY, as Dovecot does (RFC 3516
// names part numbers only): header blocks and MIME headers come as
// stored, TEXT of a single-part message is decoded, TEXT of a multipart
// is the raw body; "<start>" without a count runs to the end. Found by
// imaptest's fetch-binary-mime and fetch-binary-mime-base64 scripts.
func TestBinarySectionSpecifiers(t *testing.T) {
	e := newEnv(t, envOptions{})
	e.deliver("INBOX", binMsg)
	c := e.login()
	c.ok("SELECT INBOX")
	cases := []struct{ fetch, want string }{
		{"BINARY.PEEK[1]", "BINARY[1] {11}\r\nhello world"},
		{"BINARY.SIZE[1]", "BINARY.SIZE[1] 11"},
		{"BINARY.PEEK[1.MIME]", "BINARY[1.MIME] {81}\r\nContent-Type: text/plain; charset=us-ascii\r\nContent-Transfer-Encoding: base64\r\n\r\n"},
		{"BINARY.SIZE[2.HEADER]", "BINARY.SIZE[2.HEADER] 84"},
		{"BINARY.PEEK[2.HEADER.FIELDS (subject)]", "BINARY[2.HEADER.FIELDS (SUBJECT)] {18}\r\nSubject: inner\r\n\r\n"},
		{"BINARY.PEEK[2.HEADER.FIELDS.NOT (subject content-transfer-encoding)]", "BINARY[2.HEADER.FIELDS.NOT (SUBJECT CONTENT-TRANSFER-ENCODING)] {23}\r\nFrom: b@example.org\r\n\r\n"},
		{"BINARY.PEEK[2.TEXT]", "BINARY[2.TEXT] {5}\r\ncafé)"},
		{"BINARY.SIZE[2.TEXT]", "BINARY.SIZE[2.TEXT] 5"},
		{"BINARY.PEEK[HEADER.FIELDS (subject)]", "BINARY[HEADER.FIELDS (SUBJECT)] {18}\r\nSubject: parts\r\n\r\n"},
		{"BINARY.PEEK[TEXT]<0.6>", "BINARY[TEXT]<0> {6}\r\n--b1\r\n"},
		{"BINARY.PEEK[1]<6>", "BINARY[1]<6> {5}\r\nworld"},
		{"BODY.PEEK[1]<4>", "BODY[1]<4> {12}\r\nbG8gd29ybGQ=)"},
	}
	for _, tc := range cases {
		u, tagged := c.cmd("FETCH 1 (" + tc.fetch + ")")
		if !strings.HasPrefix(tagged, "OK") || !has(u, tc.want) {
			t.Errorf("FETCH 1 (%s): %q %q, want %q", tc.fetch, u, tagged, tc.want)
		}
	}
	if has(c.ok("FETCH 1 FLAGS"), `\Seen`) {
		t.Error("BINARY.PEEK with a specifier set \\Seen")
	}
	mustHave(t, c.ok("FETCH 1 BINARY[1.MIME]"), `\Seen`)
	c.expect("FETCH 1 BINARY[MIME]", "BAD")
	c.expect("FETCH 1 BINARY[1.FOO]", "BAD")
	c.expect("FETCH 1 BINARY[1]<>", "BAD")
}

// BINARY of a part the message does not have is answered like BODY of
// one: NIL (and BINARY.SIZE, a number by its grammar, 0), with OK: the
// other items of the FETCH are still wanted. An encoding the server
// cannot decode is NO [UNKNOWN-CTE] (RFC 3516), its items still well-formed.
func TestBinaryMissingPartAndUnknownEncoding(t *testing.T) {
	e := newEnv(t, envOptions{})
	e.deliver("INBOX", binMsg)
	e.deliver("INBOX", "Subject: odd\r\nContent-Transfer-Encoding: x-uuencode\r\n\r\nbegin 644 a\r\n")
	c := e.login()
	c.ok("SELECT INBOX")
	u := c.ok("FETCH 1 (BINARY.PEEK[1] BINARY.PEEK[5] BINARY.SIZE[5] BINARY.PEEK[2.3] BINARY.PEEK[5]<0.7>)")
	mustHave(t, u, "BINARY[1] {11}\r\nhello world BINARY[5] NIL BINARY.SIZE[5] 0 BINARY[2.3] NIL BINARY[5]<0> NIL)")
	u, tagged := c.cmd("FETCH 2 (BINARY.SIZE[1] BINARY.PEEK[1])")
	if !strings.HasPrefix(tagged, "NO [UNKNOWN-CTE]") {
		t.Errorf("BINARY of x-uuencode: %q, want NO [UNKNOWN-CTE]", tagged)
	}
	mustHave(t, u, "* 2 FETCH (BINARY.SIZE[1] 0 BINARY[1] NIL)")
}
