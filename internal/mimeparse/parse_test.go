package mimeparse

import (
	"encoding/json"
	"errors"
	"io"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"testing/iotest"
)

// partWant describes the expected shape of a part: type, and the exact
// bytes of its MIME header and body, obtained by slicing the input.
type partWant struct {
	path    []int // IMAP part number, for FindPart
	typ     string
	header  string
	body    string
	lines   int64
	params  []Param
	enc     string
	disp    string
	dparams []Param
}

func checkParts(t *testing.T, m *Message, msg string, wants []partWant) {
	t.Helper()
	for _, w := range wants {
		p := m.FindPart(w.path)
		if p == nil {
			t.Errorf("part %v: not found", w.path)
			continue
		}
		if got := p.Type + "/" + p.Subtype; got != w.typ {
			t.Errorf("part %v: type %q, want %q", w.path, got, w.typ)
		}
		if len(w.path) > 0 {
			if got := slice(msg, p.HeaderStart, p.BodyStart); got != w.header {
				t.Errorf("part %v: MIME header %q, want %q", w.path, got, w.header)
			}
		}
		if got := slice(msg, p.BodyStart, p.End); got != w.body {
			t.Errorf("part %v: body %q, want %q", w.path, got, w.body)
		}
		if p.Lines != w.lines {
			t.Errorf("part %v: lines %d, want %d", w.path, p.Lines, w.lines)
		}
		if w.params != nil && !reflect.DeepEqual(p.Params, w.params) {
			t.Errorf("part %v: params %q, want %q", w.path, p.Params, w.params)
		}
		if p.Encoding != w.enc {
			t.Errorf("part %v: encoding %q, want %q", w.path, p.Encoding, w.enc)
		}
		if p.Disposition != w.disp {
			t.Errorf("part %v: disposition %q, want %q", w.path, p.Disposition, w.disp)
		}
		if w.dparams != nil && !reflect.DeepEqual(p.DispositionParams, w.dparams) {
			t.Errorf("part %v: disposition params %q, want %q", w.path, p.DispositionParams, w.dparams)
		}
	}
}

func TestParseTable(t *testing.T) {
	tests := []struct {
		name     string
		msg      string // "\n" line endings, converted to CRLF
		header   string // expected BODY[HEADER]
		parts    []partWant
		nparts   int // number of children of the root
		env      *Envelope
		textHdr  []string // substrings of Text.Headers
		textBody string   // exact Text.Body
	}{
		{
			name: "plain",
			msg: "From: Alice <alice@example.org>\n" +
				"To: bob@example.net\n" +
				"Subject: hello\n" +
				"Date: Mon, 1 Jan 2024 10:00:00 +0000\n" +
				"Message-ID: <1@example.org>\n" +
				"References: <0@example.org>\n <00@example.org>\n" +
				"\n" +
				"Hi Bob,\n" +
				"bye\n",
			header: "From: Alice <alice@example.org>\nTo: bob@example.net\nSubject: hello\nDate: Mon, 1 Jan 2024 10:00:00 +0000\nMessage-ID: <1@example.org>\nReferences: <0@example.org>\n <00@example.org>\n\n",
			parts: []partWant{
				{path: nil, typ: "text/plain", body: "Hi Bob,\nbye\n", lines: 2},
				{path: []int{1}, typ: "text/plain", header: "From: Alice <alice@example.org>\nTo: bob@example.net\nSubject: hello\nDate: Mon, 1 Jan 2024 10:00:00 +0000\nMessage-ID: <1@example.org>\nReferences: <0@example.org>\n <00@example.org>\n\n", body: "Hi Bob,\nbye\n", lines: 2},
			},
			env: &Envelope{
				Date:       "Mon, 1 Jan 2024 10:00:00 +0000",
				Subject:    "hello",
				From:       []Address{{Name: "Alice", Mailbox: "alice", Host: "example.org"}},
				To:         []Address{{Mailbox: "bob", Host: "example.net"}},
				MessageID:  "<1@example.org>",
				References: "<0@example.org> <00@example.org>",
			},
			textHdr:  []string{"Subject: hello\n", "From: Alice <alice@example.org>\n"},
			textBody: "Hi Bob,\nbye\n",
		},
		{
			name: "mixed with attachment",
			msg: "Subject: att\n" +
				"MIME-Version: 1.0\n" +
				"Content-Type: multipart/mixed; boundary=\"XX\"\n" +
				"\n" +
				"This is a preamble.\n" +
				"--XX\n" +
				"Content-Type: text/plain; charset=utf-8\n" +
				"Content-Transfer-Encoding: quoted-printable\n" +
				"\n" +
				"caf=C3=A9 =\n" +
				"ok\n" +
				"--XX  \n" +
				"Content-Type: application/pdf; name=\"a.pdf\"\n" +
				"Content-Disposition: attachment; filename=\"a.pdf\"\n" +
				"Content-Transfer-Encoding: base64\n" +
				"\n" +
				"aGVsbG8gd29ybGQ=\n" +
				"--XX--\n" +
				"epilogue\n",
			nparts: 2,
			parts: []partWant{
				{path: []int{1}, typ: "text/plain", header: "Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: quoted-printable\n\n", body: "caf=C3=A9 =\nok", lines: 2, params: []Param{{"charset", "utf-8"}}, enc: "quoted-printable"},
				{path: []int{2}, typ: "application/pdf", header: "Content-Type: application/pdf; name=\"a.pdf\"\nContent-Disposition: attachment; filename=\"a.pdf\"\nContent-Transfer-Encoding: base64\n\n", body: "aGVsbG8gd29ybGQ=", params: []Param{{"name", "a.pdf"}}, enc: "base64", disp: "attachment", dparams: []Param{{"filename", "a.pdf"}}},
			},
			textBody: "café ok",
		},
		{
			name: "alternative in mixed",
			msg: "Content-Type: multipart/mixed; boundary=outer\n" +
				"\n" +
				"--outer\n" +
				"Content-Type: multipart/alternative; boundary=inner\n" +
				"\n" +
				"--inner\n" +
				"Content-Type: text/plain\n" +
				"\n" +
				"plain text\n" +
				"--inner\n" +
				"Content-Type: text/html\n" +
				"\n" +
				"<p>html <b>text</b></p>\n" +
				"--inner--\n" +
				"\n" +
				"--outer\n" +
				"Content-Type: image/png\n" +
				"\n" +
				"PNG\n" +
				"--outer--\n",
			nparts: 2,
			parts: []partWant{
				{path: []int{1}, typ: "multipart/alternative", header: "Content-Type: multipart/alternative; boundary=inner\n\n", body: "--inner\nContent-Type: text/plain\n\nplain text\n--inner\nContent-Type: text/html\n\n<p>html <b>text</b></p>\n--inner--\n", params: []Param{{"boundary", "inner"}}},
				{path: []int{1, 1}, typ: "text/plain", header: "Content-Type: text/plain\n\n", body: "plain text", lines: 1},
				{path: []int{1, 2}, typ: "text/html", header: "Content-Type: text/html\n\n", body: "<p>html <b>text</b></p>", lines: 1},
				{path: []int{2}, typ: "image/png", header: "Content-Type: image/png\n\n", body: "PNG"},
			},
			textBody: "plain text",
		},
		{
			name: "message/rfc822 attachment",
			msg: "From: a@example.org\n" +
				"Content-Type: multipart/mixed; boundary=b1\n" +
				"\n" +
				"--b1\n" +
				"\n" +
				"see attached\n" +
				"--b1\n" +
				"Content-Type: message/rfc822\n" +
				"\n" +
				"From: \"Carol C.\" <carol@example.com>\n" +
				"Subject: inner\n" +
				"Content-Type: multipart/mixed; boundary=b2\n" +
				"\n" +
				"--b2\n" +
				"Content-Type: text/plain\n" +
				"\n" +
				"inner body\n" +
				"--b2--\n" +
				"--b1--\n",
			nparts: 2,
			parts: []partWant{
				{path: []int{1}, typ: "text/plain", header: "\n", body: "see attached", lines: 1},
				{path: []int{2}, typ: "message/rfc822", header: "Content-Type: message/rfc822\n\n", body: "From: \"Carol C.\" <carol@example.com>\nSubject: inner\nContent-Type: multipart/mixed; boundary=b2\n\n--b2\nContent-Type: text/plain\n\ninner body\n--b2--", lines: 9},
				{path: []int{2, 1}, typ: "text/plain", header: "Content-Type: text/plain\n\n", body: "inner body", lines: 1},
			},
			textBody: "see attached\ninner body",
		},
		{
			name: "RFC 2231 params",
			msg: "Content-Type: application/octet-stream;\n" +
				" name*0*=UTF-8''%E6%97%A5%E6%9C%AC;\n" +
				" name*1=\".txt\"; NAME=\"fallback.txt\"\n" +
				"Content-Disposition: attachment;\n" +
				" filename*=iso-8859-1'de'M%FCller.txt;\n" +
				" filename=\"plain.txt\"; size=123\n" +
				"\n" +
				"data\n",
			parts: []partWant{
				{path: []int{1}, typ: "application/octet-stream", header: "Content-Type: application/octet-stream;\n name*0*=UTF-8''%E6%97%A5%E6%9C%AC;\n name*1=\".txt\"; NAME=\"fallback.txt\"\nContent-Disposition: attachment;\n filename*=iso-8859-1'de'M%FCller.txt;\n filename=\"plain.txt\"; size=123\n\n", body: "data\n",
					params: []Param{{"name", "日本.txt"}}, disp: "attachment", dparams: []Param{{"filename", "Müller.txt"}, {"size", "123"}}},
			},
		},
		{
			name: "group addresses",
			msg: "From: \"Doe, John\" <john@example.org> (work)\n" +
				"To: Friends: ann@example.org, Bob <bob@example.org>;, carl@example.org (Carl C)\n" +
				"Cc: undisclosed-recipients:;\n" +
				"Bcc: <@route.example:dan@example.org>, broken <eve@\n" +
				"\n",
			env: &Envelope{
				From: []Address{{Name: "Doe, John", Mailbox: "john", Host: "example.org"}},
				To: []Address{
					{Mailbox: "Friends", GroupStart: true},
					{Mailbox: "ann", Host: "example.org"},
					{Name: "Bob", Mailbox: "bob", Host: "example.org"},
					{GroupEnd: true},
					{Name: "Carl C", Mailbox: "carl", Host: "example.org"},
				},
				Cc: []Address{{Mailbox: "undisclosed-recipients", GroupStart: true}, {GroupEnd: true}},
				Bcc: []Address{
					{Mailbox: "dan", Host: "example.org", Route: "@route.example"},
					{Name: "broken", Mailbox: "eve"},
				},
			},
			parts: []partWant{{path: []int{1}, typ: "text/plain", header: "From: \"Doe, John\" <john@example.org> (work)\nTo: Friends: ann@example.org, Bob <bob@example.org>;, carl@example.org (Carl C)\nCc: undisclosed-recipients:;\nBcc: <@route.example:dan@example.org>, broken <eve@\n\n"}},
		},
		{
			name: "encoded-word subject",
			msg: "Subject: =?UTF-8?B?w4lwaXF1ZQ==?=\n" +
				"  =?ISO-8859-1?Q?_caf=E9?=\n" +
				"From: =?utf-8?q?J=C3=B6rg?= <j@example.de>\n" +
				"\n" +
				"x",
			env: &Envelope{
				Subject: "=?UTF-8?B?w4lwaXF1ZQ==?=  =?ISO-8859-1?Q?_caf=E9?=",
				From:    []Address{{Name: "=?utf-8?q?J=C3=B6rg?=", Mailbox: "j", Host: "example.de"}},
			},
			textHdr:  []string{"Subject: Épique café\n", "From: Jörg <j@example.de>\n"},
			textBody: "x",
			parts:    []partWant{{path: nil, typ: "text/plain", body: "x", lines: 1}},
		},
		{
			name: "no final boundary",
			msg: "Content-Type: multipart/mixed; boundary=abc\n" +
				"\n" +
				"--abc\n" +
				"Content-Type: text/plain\n" +
				"\n" +
				"one\n" +
				"--abc\n" +
				"Content-Type: text/plain\n" +
				"\n" +
				"two\n" +
				"three\n",
			nparts: 2,
			parts: []partWant{
				{path: []int{1}, typ: "text/plain", header: "Content-Type: text/plain\n\n", body: "one", lines: 1},
				{path: []int{2}, typ: "text/plain", header: "Content-Type: text/plain\n\n", body: "two\nthree\n", lines: 2},
			},
			textBody: "one\ntwo\nthree\n",
		},
		{
			name: "garbage content-type",
			msg: "Content-Type: ;;garbage//\n" +
				"\n" +
				"body\n",
			parts:    []partWant{{path: nil, typ: "text/plain", body: "body\n", lines: 1}},
			textBody: "body\n",
		},
		{
			name: "multipart without boundary",
			msg: "Content-Type: multipart/mixed\n" +
				"\n" +
				"--abc\n" +
				"body\n",
			parts:    []partWant{{path: []int{1}, typ: "text/plain", header: "Content-Type: multipart/mixed\n\n", body: "--abc\nbody\n", lines: 2}},
			textBody: "--abc\nbody\n",
		},
		{
			name: "boundary never appears",
			msg: "Content-Type: multipart/mixed; boundary=zzz\n" +
				"\n" +
				"just text\n",
			parts:    []partWant{{path: []int{1}, typ: "text/plain", header: "Content-Type: multipart/mixed; boundary=zzz\n\n", body: "just text\n", lines: 1}},
			textBody: "just text\n",
		},
		{
			name: "inner multipart closed by outer boundary",
			msg: "Content-Type: multipart/mixed; boundary=o\n" +
				"\n" +
				"--o\n" +
				"Content-Type: multipart/related; boundary=i\n" +
				"\n" +
				"--i\n" +
				"\n" +
				"a\n" +
				"--o\n" +
				"\n" +
				"b\n" +
				"--o--\n",
			nparts: 2,
			parts: []partWant{
				{path: []int{1}, typ: "multipart/related", header: "Content-Type: multipart/related; boundary=i\n\n", body: "--i\n\na"},
				{path: []int{1, 1}, typ: "text/plain", header: "\n", body: "a", lines: 1},
				{path: []int{2}, typ: "text/plain", header: "\n", body: "b", lines: 1},
			},
			textBody: "a\nb",
		},
		{
			name: "digest default type",
			msg: "Content-Type: multipart/digest; boundary=d\n" +
				"\n" +
				"--d\n" +
				"\n" +
				"Subject: one\n" +
				"\n" +
				"first\n" +
				"--d\n" +
				"Content-Type: text/plain\n" +
				"\n" +
				"second\n" +
				"--d--\n",
			nparts: 2,
			parts: []partWant{
				{path: []int{1}, typ: "message/rfc822", header: "\n", body: "Subject: one\n\nfirst", lines: 3},
				{path: []int{1, 1}, typ: "text/plain", header: "Subject: one\n\n", body: "first", lines: 1},
				{path: []int{2}, typ: "text/plain", header: "Content-Type: text/plain\n\n", body: "second", lines: 1},
			},
			textBody: "first\nsecond",
		},
		{
			name: "no blank line",
			msg:  "From x Mon Jan 1 00:00:00 2024\nSubject: s\nno colon here\n continued\nX: y",
			parts: []partWant{
				{path: nil, typ: "text/plain", body: ""},
			},
			env:     &Envelope{Subject: "s"},
			textHdr: []string{"Subject: s\nX: y\n"},
		},
		{
			name:  "empty message",
			msg:   "",
			parts: []partWant{{path: nil, typ: "text/plain"}},
		},
		{
			name: "html and charset",
			msg: "Content-Type: text/html; charset=windows-1252\n" +
				"Content-Transfer-Encoding: base64\n" +
				"\n" +
				// "<html><head><title>T</title></head><body><p>Gr\xfc&szlig;e</p><script>x</script>b<i>o</i>ld</body></html>"
				"PGh0bWw+PGhlYWQ+PHRpdGxlPlQ8L3RpdGxlPjwvaGVhZD48Ym9keT48cD5HcvwmIzIyMztlPC9w\n" +
				"PjxzY3JpcHQ+eDwvc2NyaXB0PmI8aT5vPC9pPmxkPC9ib2R5PjwvaHRtbD4=\n",
			parts:    []partWant{{path: nil, typ: "text/html", body: "PGh0bWw+PGhlYWQ+PHRpdGxlPlQ8L3RpdGxlPjwvaGVhZD48Ym9keT48cD5HcvwmIzIyMztlPC9w\nPjxzY3JpcHQ+eDwvc2NyaXB0PmI8aT5vPC9pPmxkPC9ib2R5PjwvaHRtbD4=\n", lines: 2, params: []Param{{"charset", "windows-1252"}}, enc: "base64"}},
			textBody: "Grüße\nbold",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			msg := crlf(tt.msg)
			m := mustParse(t, msg)
			lf := func(s string) string { return strings.ReplaceAll(s, "\r\n", "\n") }
			for i := range tt.parts {
				tt.parts[i].header = crlf(tt.parts[i].header)
				tt.parts[i].body = crlf(tt.parts[i].body)
			}
			if tt.header != "" {
				if got := slice(msg, m.Root.HeaderStart, m.Root.BodyStart); lf(got) != tt.header {
					t.Errorf("header %q, want %q", got, tt.header)
				}
			}
			if tt.nparts != len(m.Root.Parts) {
				t.Errorf("root has %d parts, want %d", len(m.Root.Parts), tt.nparts)
			}
			checkParts(t, m, msg, tt.parts)
			if tt.env != nil && !reflect.DeepEqual(m.Root.Envelope, tt.env) {
				t.Errorf("envelope:\n got %+v\nwant %+v", m.Root.Envelope, tt.env)
			}
			for _, s := range tt.textHdr {
				if !strings.Contains(m.Text.Headers, s) {
					t.Errorf("Text.Headers %q does not contain %q", m.Text.Headers, s)
				}
			}
			if m.Text.Body != tt.textBody {
				t.Errorf("Text.Body %q, want %q", m.Text.Body, tt.textBody)
			}
			roundTrip(t, m)
		})
	}
}

func roundTrip(t *testing.T, m *Message) {
	t.Helper()
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatalf("json.Marshal: %v", err)
	}
	var got Message
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatalf("json.Unmarshal: %v", err)
	}
	if !reflect.DeepEqual(&got, m) {
		t.Errorf("JSON round trip differs:\n got %+v\nwant %+v\njson %s", got, *m, b)
	}
	binaryRoundTrip(t, m)
}

func TestEmbeddedMessage(t *testing.T) {
	msg := crlf("Content-Type: multipart/mixed; boundary=b1\n" +
		"\n" +
		"--b1\n" +
		"Content-Type: message/rfc822\n" +
		"Content-Disposition: attachment\n" +
		"\n" +
		"From: \"Carol C.\" <carol@example.com>\n" +
		"Subject: =?utf-8?q?inner?=\n" +
		"\n" +
		"inner body\n" +
		"--b1--\n")
	m := mustParse(t, msg)
	p := m.FindPart([]int{1})
	if p == nil || p.Embedded == nil || p.Envelope == nil {
		t.Fatalf("part 1 = %+v", p)
	}
	if got, want := slice(msg, p.Embedded.HeaderStart, p.Embedded.BodyStart), crlf("From: \"Carol C.\" <carol@example.com>\nSubject: =?utf-8?q?inner?=\n\n"); got != want {
		t.Errorf("BODY[1.HEADER] = %q, want %q", got, want)
	}
	if got, want := slice(msg, p.Embedded.BodyStart, p.Embedded.End), "inner body"; got != want {
		t.Errorf("BODY[1.TEXT] = %q, want %q", got, want)
	}
	want := &Envelope{Subject: "=?utf-8?q?inner?=", From: []Address{{Name: "Carol C.", Mailbox: "carol", Host: "example.com"}}}
	if !reflect.DeepEqual(p.Envelope, want) {
		t.Errorf("envelope %+v, want %+v", p.Envelope, want)
	}
	if p.Embedded.Envelope != nil {
		t.Errorf("Embedded has an envelope")
	}
	// BODY[1.1] is the body of the (single-part) embedded message.
	if q := m.FindPart([]int{1, 1}); q != p.Embedded {
		t.Errorf("FindPart(1.1) = %p, want Embedded %p", q, p.Embedded)
	}
	if q := m.FindPart([]int{1, 2}); q != nil {
		t.Errorf("FindPart(1.2) = %+v, want nil", q)
	}
	if q := m.FindPart([]int{1, 1, 1}); q != nil {
		t.Errorf("FindPart(1.1.1) = %+v, want nil", q)
	}
	// Attachments are not in the search text.
	if m.Text.Body != "" {
		t.Errorf("Text.Body = %q, want empty", m.Text.Body)
	}
	if m.Root.Envelope.Subject != "" {
		t.Errorf("root envelope took the inner subject")
	}
}

func TestEncodedEmbeddedMessage(t *testing.T) {
	msg := crlf("Content-Type: message/rfc822\n" +
		"Content-Transfer-Encoding: base64\n" +
		"\n" +
		"U3ViamVjdDogeAoKeQo=\n")
	m := mustParse(t, msg)
	r := m.Root
	if r.Embedded == nil || r.Envelope == nil || !reflect.DeepEqual(*r.Envelope, Envelope{}) {
		t.Fatalf("root = %+v", r)
	}
	if r.Embedded.Type != "text" || r.Embedded.HeaderStart != r.BodyStart || r.Embedded.BodyStart != r.BodyStart || r.Embedded.End != r.End {
		t.Errorf("placeholder = %+v", r.Embedded)
	}
}

func TestNestingLimit(t *testing.T) {
	var b strings.Builder
	n := MaxDepth + 20
	for i := range n {
		b.WriteString("Content-Type: multipart/mixed; boundary=b" + itoa(i) + "\n\n--b" + itoa(i) + "\n")
	}
	b.WriteString("\ninnermost\n")
	for i := n - 1; i >= 0; i-- {
		b.WriteString("--b" + itoa(i) + "--\n")
	}
	m := mustParse(t, crlf(b.String()))
	depth := 0
	for p := m.Root; p.IsMultipart(); p = p.Parts[0] {
		depth++
	}
	if depth != MaxDepth {
		t.Errorf("depth %d, want %d", depth, MaxDepth)
	}
}

func TestPartLimit(t *testing.T) {
	var b strings.Builder
	b.WriteString("Content-Type: multipart/mixed; boundary=b\n\n")
	for range MaxParts + 50 {
		b.WriteString("--b\n\nx\n")
	}
	b.WriteString("--b--\n")
	m := mustParse(t, crlf(b.String()))
	if got := len(m.Root.Parts); got != MaxParts-1 {
		t.Errorf("%d parts, want %d", got, MaxParts-1)
	}
}

func itoa(i int) string { return strconv.Itoa(i) }

func TestLongHeaderLine(t *testing.T) {
	long := strings.Repeat("a", 3*readBufSize+17)
	msg := crlf("Subject: " + long + "\nX-Long: " + long + "\n continued\nContent-Type: text/plain; charset=us-ascii\n\n" + long + "\n")
	m := mustParse(t, msg)
	if got := m.Root.Envelope.Subject; got != long[:MaxFieldLen-1] {
		t.Errorf("subject length %d, want %d", len(got), MaxFieldLen-1)
	}
	if p, _ := m.Root.Param("charset"); p != "us-ascii" {
		t.Errorf("charset %q", p)
	}
	if m.Root.Lines != 1 {
		t.Errorf("lines %d", m.Root.Lines)
	}
}

func TestLongLineCRLFSplit(t *testing.T) {
	// A line whose CR is the last byte of a full read buffer.
	line := strings.Repeat("b", readBufSize-1) + "\r\n"
	msg := "Content-Type: multipart/mixed; boundary=q\r\n\r\n--q\r\n\r\n" + line + "--q--\r\n"
	// Find a prefix length that puts the CR at the buffer edge: the
	// scanner's first read returns the header lines separately, so just
	// try a few paddings.
	for pad := range 8 {
		s := strings.Replace(msg, "\r\n\r\n--q", "\r\n"+strings.Repeat("X: y\r\n", pad)+"\r\n--q", 1)
		m := mustParse(t, s)
		p := m.Root.Parts[0]
		if got := slice(s, p.BodyStart, p.End); got != line[:len(line)-2] {
			t.Fatalf("pad %d: body len %d, want %d", pad, len(got), len(line)-2)
		}
	}
}

func TestReadError(t *testing.T) {
	boom := errors.New("boom")
	r := io.MultiReader(strings.NewReader("Subject: x\r\n\r\nbody"), iotest.ErrReader(boom))
	_, err := Parse(r)
	if !errors.Is(err, boom) {
		t.Fatalf("err = %v, want wrapping %v", err, boom)
	}
}

func TestBareLFInput(t *testing.T) {
	msg := "Content-Type: multipart/mixed; boundary=x\n\n--x\n\nhello\nworld\n--x--\n"
	m := mustParse(t, msg)
	p := m.FindPart([]int{1})
	if got := slice(msg, p.BodyStart, p.End); got != "hello\nworld" {
		t.Errorf("body %q", got)
	}
}

func TestOneByteReader(t *testing.T) {
	msg := crlf("Content-Type: multipart/alternative; boundary=\"=_a b\"\n\n--=_a b\nContent-Type: text/plain\n\nhi\n--=_a b--\n")
	m1 := mustParse(t, msg)
	m2, err := Parse(iotest.OneByteReader(strings.NewReader(msg)))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(m1, m2) {
		t.Errorf("one-byte reader result differs")
	}
	if len(m1.Root.Parts) != 1 || m1.Text.Body != "hi" {
		t.Errorf("parts %d, text %q", len(m1.Root.Parts), m1.Text.Body)
	}
}
