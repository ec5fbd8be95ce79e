package mimeparse

import (
	"reflect"
	"strings"
	"testing"
)

func TestParseAddressList(t *testing.T) {
	tests := []struct {
		in   string
		want []Address
	}{
		{"", nil},
		{"a@b", []Address{{Mailbox: "a", Host: "b"}}},
		{"John Q. Public <jqp@example.org>", []Address{{Name: "John Q. Public", Mailbox: "jqp", Host: "example.org"}}},
		{`"Last, First" <f@x>, "quoted \"name\"" <q@y>`, []Address{{Name: "Last, First", Mailbox: "f", Host: "x"}, {Name: `quoted "name"`, Mailbox: "q", Host: "y"}}},
		{`"john doe"@example.org`, []Address{{Mailbox: `"john doe"`, Host: "example.org"}}},
		{"a@b (Comment (nested))", []Address{{Name: "Comment (nested)", Mailbox: "a", Host: "b"}}},
		{"=?utf-8?b?w4k=?= <e@x>", []Address{{Name: "=?utf-8?b?w4k=?=", Mailbox: "e", Host: "x"}}},
		{"group: ;", []Address{{Mailbox: "group", GroupStart: true}, {GroupEnd: true}}},
		{"g: a@b, c@d", []Address{{Mailbox: "g", GroupStart: true}, {Mailbox: "a", Host: "b"}, {Mailbox: "c", Host: "d"}, {GroupEnd: true}}},
		{"a@b; c@d", []Address{{Mailbox: "a", Host: "b"}, {Mailbox: "c", Host: "d"}}},
		{"localonly", []Address{{Mailbox: "localonly"}}},
		{"Just A Name", []Address{{Name: "Just A Name"}}},
		{",,, ,a@b,,", []Address{{Mailbox: "a", Host: "b"}}},
		{`"unterminated <x@y>`, []Address{{Mailbox: `"unterminated <x`, Host: "y>"}}},
		{"(only a comment)", []Address{{Name: "only a comment"}}},
		{"Ünïcödé <ü@exämple.org>", []Address{{Name: "Ünïcödé", Mailbox: "ü", Host: "exämple.org"}}},
		{"<@r1,@r2:user@host>", []Address{{Mailbox: "user", Host: "host", Route: "@r1,@r2"}}},
		{"a <b@c> d <e@f>", []Address{{Name: "a d", Mailbox: "b", Host: "c"}}},
	}
	for _, tt := range tests {
		got := parseAddressList(tt.in)
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("parseAddressList(%q) =\n %+v\nwant\n %+v", tt.in, got, tt.want)
		}
	}
}

func TestParseMediaType(t *testing.T) {
	tests := []struct {
		in       string
		typ, sub string
		params   []Param
		ok       bool
	}{
		{"text/plain", "text", "plain", nil, true},
		{"TEXT/HTML; CHARSET=\"UTF-8\"", "text", "html", []Param{{"charset", "UTF-8"}}, true},
		{" text / plain (comment) ; charset = us-ascii (c)", "text", "plain", []Param{{"charset", "us-ascii (c)"}}, true},
		{"multipart/mixed;; boundary=\"a;b\" ; junk ; x=1", "multipart", "mixed", []Param{{"boundary", "a;b"}, {"x", "1"}}, true},
		{"application/x; name=my file.pdf", "application", "x", []Param{{"name", "my file.pdf"}}, true},
		{"application/x; name=\"unterminated", "application", "x", []Param{{"name", "unterminated"}}, true},
		{"a/b; title*=us-ascii'en-us'This%20is%20%2A%2A%2Afun%2A%2A%2A", "a", "b", []Param{{"title", "This is ***fun***"}}, true},
		{"a/b; t*1*=%20two; t*0*=utf-8''one; t*2=\" three\"", "a", "b", []Param{{"t", "one two three"}}, true},
		{"a/b; t*=bogus-charset''%FF%41", "a", "b", []Param{{"t", "\uFFFDA"}}, true},
		{"a/b; t*=no-quotes%41", "a", "b", []Param{{"t", "no-quotesA"}}, true},
		{"a/b; t*0=a; t*0=b", "a", "b", []Param{{"t", "a"}}, true},
		{"a/b; n=1; n=2", "a", "b", []Param{{"n", "1"}}, true},
		{"text/plain charset=utf-8", "text", "plain", []Param{{"charset", "utf-8"}}, true},
		{"a/b; \"junk\"; (c) x = \"y\" z; =; ;q", "a", "b", []Param{{"x", "y"}}, true},
		{"text", "", "", nil, false},
		{"/plain", "", "", nil, false},
		{"", "", "", nil, false},
		{";;garbage//", "", "", nil, false},
	}
	for _, tt := range tests {
		typ, sub, params, ok := parseMediaType(tt.in)
		if typ != tt.typ || sub != tt.sub || ok != tt.ok || !reflect.DeepEqual(params, tt.params) {
			t.Errorf("parseMediaType(%q) = %q, %q, %q, %v; want %q, %q, %q, %v", tt.in, typ, sub, params, ok, tt.typ, tt.sub, tt.params, tt.ok)
		}
	}
}

func TestDecodeTransfer(t *testing.T) {
	tests := []struct{ enc, in, want string }{
		{"BASE64", "aGVs\r\nbG8=\r\n", "hello"},
		{"base64", "aGVsbG8 *garbage* ", "hello j\xb6\xda\x81"},
		{"base64", "aGVsbG", "hell"},
		{"Quoted-Printable", "a=3Db=\r\nc =XY=", "a=bc =XY"},
		{"quoted-printable", "soft=  \r\nbreak", "softbreak"},
		{"7bit", "as is=3D", "as is=3D"},
	}
	for _, tt := range tests {
		if got := string(decodeTransfer(tt.enc, []byte(tt.in))); got != tt.want {
			t.Errorf("decodeTransfer(%q, %q) = %q, want %q", tt.enc, tt.in, got, tt.want)
		}
	}
}

func TestStripHTML(t *testing.T) {
	in := "<!DOCTYPE html><html><head><style>p{}</style></head><body>Hello&nbsp;<b>wor</b>ld!<br>" +
		"<!-- hidden --><SCRIPT>alert(1)</SCRIPT>next &amp; line<div>  a\n\n b </div></body></html>"
	want := "Hello world!\nnext & line\na\nb"
	if got := stripHTML(in); got != want {
		t.Errorf("stripHTML = %q, want %q", got, want)
	}
}

func TestToUTF8(t *testing.T) {
	tests := []struct{ cs, in, want string }{
		{"", "plain", "plain"},
		{"utf-8", "bad\xff", "bad\uFFFD"},
		{"ISO-8859-1", "caf\xe9", "café"},
		{"koi8-r", "\xf0\xd2\xc9\xd7\xc5\xd4", "Привет"},
		{"x-no-such-charset", "ok\xff", "ok\uFFFD"},
	}
	for _, tt := range tests {
		if got := toUTF8(tt.cs, []byte(tt.in)); got != tt.want {
			t.Errorf("toUTF8(%q, %q) = %q, want %q", tt.cs, tt.in, got, tt.want)
		}
	}
}

func TestEightBitHeaders(t *testing.T) {
	msg := crlf("Subject: Grüße aus Köln\nFrom: Jürgen <jürgen@exämple.de>\nX-Latin1: caf\xe9\n\nbody\n")
	m := mustParse(t, msg)
	if got := m.Root.Envelope.Subject; got != "Grüße aus Köln" {
		t.Errorf("subject %q", got)
	}
	want := []Address{{Name: "Jürgen", Mailbox: "jürgen", Host: "exämple.de"}}
	if got := m.Root.Envelope.From; !reflect.DeepEqual(got, want) {
		t.Errorf("from %+v", got)
	}
	if want := "X-Latin1: caf\uFFFD\n"; !strings.Contains(m.Text.Headers, want) {
		t.Errorf("headers %q lack %q", m.Text.Headers, want)
	}
	roundTrip(t, m)
}

func TestAddressText(t *testing.T) {
	cases := []struct{ in, want string }{
		{"<ann (office)@ (main) example.net>", "ann@example.net"},
		{"ann@example.net (Ann A)", "Ann A <ann@example.net>"},
		{"<@r1,@r2:user@host>", "user@host"},
		{"team: a@x.org, B <b@y.org>;, c@z.org", "team: a@x.org, B <b@y.org>;, c@z.org"},
		{"=?utf-8?q?J=C3=B6rg?= <j@example.org>", "Jörg <j@example.org>"},
		{"", ""},
	}
	for _, tc := range cases {
		if got := AddressText(tc.in); got != tc.want {
			t.Errorf("AddressText(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// The search text holds an address field a second time in AddressText
// form when that differs, so an indexed search for "user@host" finds an
// address written with inner comments.
func TestHeaderTextAddsAddressForm(t *testing.T) {
	m, err := Parse(strings.NewReader("From: <ann (office)@ (main) example.net>\r\nSubject: s (x)\r\n\r\nbody\r\n"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(m.Text.Headers, "From: ann@example.net\n") {
		t.Errorf("search text %q lacks the address form of From", m.Text.Headers)
	}
	if strings.Count(m.Text.Headers, "Subject:") != 1 {
		t.Errorf("search text %q repeats a field that holds no addresses", m.Text.Headers)
	}
}
