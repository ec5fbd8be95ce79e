package mimeparse

import (
	"bytes"
	"fmt"
	"io"
	"mime"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestDowngradeHeaderFields(t *testing.T) {
	tests := []struct{ in, want string }{
		{"Subject: Grüße aus Köln\r\n", "Subject: =?UTF-8?Q?Gr=C3=BC=C3=9Fe?= aus =?UTF-8?Q?K=C3=B6ln?=\r\n"},
		{"From: Dörte <d@example.org>\r\n", "From: =?UTF-8?Q?D=C3=B6rte?= <d@example.org>\r\n"},
		// Only the domain is not ASCII: its A-label.
		{"To: anna@bücher.example\r\n", "To: anna@xn--bcher-kva.example\r\n"},
		// A non-ASCII local part: an empty group named by the address.
		{"From: Dörte <dörte@example.org>\r\n", "From: =?UTF-8?Q?D=C3=B6rte?= =?UTF-8?Q?=3Cd=C3=B6rte=40example=2Eorg=3E?=:;\r\n"},
		{"Cc: dörte@example.org\r\n", "Cc: =?UTF-8?Q?=3Cd=C3=B6rte=40example=2Eorg=3E?=:;\r\n"},
		// Inside a group, the empty group follows the group.
		{"To: Team: a@b.example, jörg@c.example;\r\n", "To: Team: a@b.example;, =?UTF-8?Q?=3Cj=C3=B6rg=40c=2Eexample=3E?=:;\r\n"},
		{"Message-ID: <ü@example.org>\r\n", "Downgraded-Message-Id: =?UTF-8?Q?=3C=C3=BC=40example=2Eorg=3E?=\r\n"},
		{"In-Reply-To: <ü@x>\r\n", "Downgraded-In-Reply-To: =?UTF-8?Q?=3C=C3=BC=40x=3E?=\r\n"},
		{"Return-Path: <anna@bücher.example>\r\n", "Return-Path: <anna@xn--bcher-kva.example>\r\n"},
		{"Content-Type: text/plain; charset=utf-8; name=\"Bericht über.txt\"\r\n", "Content-Type: text/plain; charset=utf-8;\r\n name*=utf-8''Bericht%20%C3%BCber.txt\r\n"},
		{"Content-Disposition: attachment; filename=ü.pdf\r\n", "Content-Disposition: attachment; filename*=utf-8''%C3%BC.pdf\r\n"},
		{"Received: from a by b for <dörte@example.org>; Mon, 1 Jan 2024 10:00:00 +0000\r\n", "Received: from a by b ; Mon, 1 Jan 2024 10:00:00 +0000\r\n"},
		{"X-Note: ünknown\r\n", "X-Note: =?UTF-8?Q?=C3=BCnknown?=\r\n"},
		// 7-bit fields and the body are kept byte for byte.
		{"Subject: plain\r\nX: ü\r\n\r\nbödy\r\n", "Subject: plain\r\nX: =?UTF-8?Q?=C3=BC?=\r\n\r\nbödy\r\n"},
		// Not UTF-8: kept (its charset is unknown).
		{"Subject: caf\xe9\r\n", "Subject: caf\xe9\r\n"},
		// A line that is no field and has 8-bit bytes is dropped.
		{"ünsinn\r\nSubject: x\r\n", "Subject: x\r\n"},
		// Folded input is unfolded first.
		{"Subject: über\r\n alles\r\n", "Subject: =?UTF-8?Q?=C3=BCber?= alles\r\n"},
	}
	for _, tt := range tests {
		if got := string(DowngradeHeader([]byte(tt.in))); got != tt.want {
			t.Errorf("DowngradeHeader(%q)\n got %q\nwant %q", tt.in, got, tt.want)
		}
	}
}

// The encoded text decodes back to the original.
func TestDowngradeDecodesBack(t *testing.T) {
	subject := strings.Repeat("Ünïcødé ✓ text, quite long; ", 8) + "end"
	out := DowngradeHeader([]byte("Subject: " + subject + "\r\n"))
	if has8bit(out) {
		t.Fatalf("8-bit output %q", out)
	}
	for _, line := range strings.Split(string(out), "\r\n") {
		if len(line) > 78 {
			t.Errorf("line of %d characters: %q", len(line), line)
		}
	}
	v := unfold(bytes.TrimPrefix(out, []byte("Subject: ")))
	got, err := new(mime.WordDecoder).DecodeHeader(v)
	if err != nil {
		t.Fatal(err)
	}
	if got != subject {
		t.Errorf("decoded %q, want %q", got, subject)
	}
	for _, w := range strings.Fields(v) {
		if len(w) > 75 {
			t.Errorf("encoded-word of %d characters", len(w))
		}
	}
	// Parameters: RFC 2231 continuations decode back too.
	name := strings.Repeat("Größenverhältnis ", 6) + ".pdf"
	out = DowngradeHeader([]byte("Content-Type: application/pdf; name=\"" + name + "\"\r\n\r\n"))
	if has8bit(out) {
		t.Fatalf("8-bit output %q", out)
	}
	m, err := Parse(bytes.NewReader(out))
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := m.Root.Param("name"); v != name {
		t.Errorf("name %q, want %q", v, name)
	}
}

const utf8Message = "Return-Path: <dörte@bücher.example>\r\n" +
	"From: Dörte Müller <dörte@example.org>\r\n" +
	"To: Anna <anna@bücher.example>, Friends: x@y.example, Jörg <jörg@z.example>;\r\n" +
	"Subject: Grüße aus Köln\r\n" +
	"Message-ID: <ü@example.org>\r\n" +
	"MIME-Version: 1.0\r\n" +
	"Content-Type: multipart/mixed; boundary=\"b\"\r\n" +
	"\r\n" +
	"--b\r\n" +
	"Content-Type: text/plain; charset=utf-8\r\n" +
	"Content-Description: Überblick\r\n" +
	"\r\n" +
	"Grüße!\r\n" +
	"--b\r\n" +
	"Content-Type: application/octet-stream; name=\"Bericht über alles mit einem sehr langen Namen, der fortgesetzt werden muss.bin\"\r\n" +
	"\r\n" +
	"AAAA\r\n" +
	"--b\r\n" +
	"Content-Type: message/global\r\n" +
	"\r\n" +
	"From: Jörg <jörg@z.example>\r\n" +
	"Subject: ältere Nachricht\r\n" +
	"\r\n" +
	"Text\r\n" +
	"--b--\r\n"

func TestDowngradeMessage(t *testing.T) {
	m, err := Parse(strings.NewReader(utf8Message))
	if err != nil {
		t.Fatal(err)
	}
	if m.HeaderBytes != Headers8bit {
		t.Fatalf("HeaderBytes %d", m.HeaderBytes)
	}
	d, err := Downgrade(m, strings.NewReader(utf8Message), int64(len(utf8Message)))
	if err != nil || d == nil {
		t.Fatalf("Downgrade: %v, %v", d, err)
	}
	out, err := io.ReadAll(io.NewSectionReader(d, 0, d.Size()))
	if err != nil {
		t.Fatal(err)
	}
	if int64(len(out)) != d.Size() {
		t.Fatalf("read %d bytes, size %d", len(out), d.Size())
	}
	// Headers are 7-bit; the body text stays as it was.
	m2, err := Parse(bytes.NewReader(out))
	if err != nil {
		t.Fatal(err)
	}
	if m2.HeaderBytes != Headers7bit {
		t.Errorf("downgraded headers still 8-bit:\n%s", out)
	}
	if !strings.Contains(string(out), "\r\n\r\nGrüße!\r\n") {
		t.Errorf("body changed:\n%s", out)
	}
	if err := sameLayout(d.Message, m2); err != nil {
		t.Errorf("%v\n%s", err, out)
	}
	// A 7-bit message is not downgraded.
	plain := "Subject: x\r\n\r\nbödy\r\n"
	m3, _ := Parse(strings.NewReader(plain))
	if m3.HeaderBytes != Headers7bit {
		t.Errorf("HeaderBytes of a 7-bit header: %d", m3.HeaderBytes)
	}
	if d, err := Downgrade(m3, strings.NewReader(plain), int64(len(plain))); d != nil || err != nil {
		t.Errorf("Downgrade of a 7-bit message: %v, %v", d, err)
	}
}

// sameLayout compares the offsets, sizes and line counts of two
// structures.
func sameLayout(a, b *Message) error {
	if a.Size != b.Size || a.Lines != b.Lines {
		return fmt.Errorf("size/lines %d/%d, parsed %d/%d", a.Size, a.Lines, b.Size, b.Lines)
	}
	var cmp func(path string, p, q *Part) error
	cmp = func(path string, p, q *Part) error {
		if (p == nil) != (q == nil) {
			return fmt.Errorf("%s: part presence differs", path)
		}
		if p == nil {
			return nil
		}
		if p.HeaderStart != q.HeaderStart || p.BodyStart != q.BodyStart || p.End != q.End || p.Lines != q.Lines || p.Type != q.Type || len(p.Parts) != len(q.Parts) {
			return fmt.Errorf("%s: %s/%s %d %d %d %d (%d parts), parsed %s/%s %d %d %d %d (%d parts)", path,
				p.Type, p.Subtype, p.HeaderStart, p.BodyStart, p.End, p.Lines, len(p.Parts),
				q.Type, q.Subtype, q.HeaderStart, q.BodyStart, q.End, q.Lines, len(q.Parts))
		}
		for i := range p.Parts {
			if err := cmp(fmt.Sprintf("%s.%d", path, i+1), p.Parts[i], q.Parts[i]); err != nil {
				return err
			}
		}
		return cmp(path+".m", p.Embedded, q.Embedded)
	}
	return cmp("root", a.Root, b.Root)
}

func TestDowngradeEnvelopeAndParams(t *testing.T) {
	m, err := Parse(strings.NewReader(utf8Message))
	if err != nil {
		t.Fatal(err)
	}
	e := DowngradeEnvelope(m.Root.Envelope)
	if e.Subject != "=?UTF-8?Q?Gr=C3=BC=C3=9Fe?= aus =?UTF-8?Q?K=C3=B6ln?=" || e.MessageID != "" {
		t.Errorf("subject %q, message-id %q", e.Subject, e.MessageID)
	}
	want := []Address{{Mailbox: "=?UTF-8?Q?D=C3=B6rte_M=C3=BCller?= =?UTF-8?Q?=3Cd=C3=B6rte=40example=2Eorg=3E?=", GroupStart: true}, {GroupEnd: true}}
	if fmt.Sprint(e.From) != fmt.Sprint(want) {
		t.Errorf("from %+v", e.From)
	}
	if e.To[0].Host != "xn--bcher-kva.example" || !e.To[1].GroupStart || e.To[1].Mailbox != "Friends" || !e.To[3].GroupEnd || !e.To[4].GroupStart {
		t.Errorf("to %+v", e.To)
	}
	if DowngradeEnvelope(&Envelope{Subject: "x"}).Subject != "x" {
		t.Error("ASCII envelope changed")
	}
	p := DowngradeParams([]Param{{Name: "charset", Value: "us-ascii"}, {Name: "name", Value: "ü.txt"}})
	if fmt.Sprint(p) != "[{charset us-ascii} {name* utf-8''%C3%BC.txt}]" {
		t.Errorf("params %v", p)
	}
}

func FuzzDowngrade(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add([]byte(s))
	}
	f.Add([]byte(utf8Message))
	f.Add([]byte("From: a <ü@ü>, g: ü@x;\r\nTo: \"ü\" <a@b>\r\nContent-Type: text/plain; a*0*=utf-8''%C3; a*1=ü\r\n\r\n"))
	f.Add([]byte("Content-Type: multipart/mixed; boundary=ü\r\n\r\n--ü\r\nSubject: ö\r\n\r\nx\r\n--ü--\r\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		// A header block of UTF-8 fields comes out 7-bit.
		h := DowngradeHeader(data)
		blank := bytes.HasPrefix(data, []byte("\n")) || bytes.HasPrefix(data, []byte("\r\n")) ||
			bytes.Contains(data, []byte("\n\n")) || bytes.Contains(data, []byte("\n\r\n"))
		if utf8.Valid(data) && !blank && has8bit(h) {
			t.Fatalf("8-bit bytes left: %q", h)
		}
		m, err := Parse(bytes.NewReader(data))
		if err != nil {
			t.Fatal(err)
		}
		d, err := Downgrade(m, bytes.NewReader(data), int64(len(data)))
		if err != nil {
			t.Fatal(err)
		}
		if d == nil {
			return
		}
		out, err := io.ReadAll(io.NewSectionReader(d, 0, d.Size()))
		if err != nil || int64(len(out)) != d.Size() {
			t.Fatalf("read %d of %d: %v", len(out), d.Size(), err)
		}
		// Reads at any offset agree with the whole.
		for _, off := range []int64{0, 1, d.Size() / 3, d.Size() / 2, d.Size() - 1} {
			if off < 0 || off >= d.Size() {
				continue
			}
			buf := make([]byte, min(7, d.Size()-off))
			if n, err := d.ReadAt(buf, off); int64(n) != int64(len(buf)) || !bytes.Equal(buf, out[off:off+int64(n)]) {
				t.Fatalf("ReadAt(%d): %d %v", off, n, err)
			}
		}
		for _, c := range checkDowngradedParts(d.Message.Root, d.Size()) {
			t.Fatal(c)
		}
	})
}

// checkDowngradedParts checks that the offsets of a downgraded structure are in
// order and inside the message.
func checkDowngradedParts(p *Part, size int64) []string {
	if p == nil {
		return nil
	}
	var errs []string
	if p.HeaderStart > p.BodyStart || p.BodyStart > p.End || p.End > size || p.HeaderStart < 0 {
		errs = append(errs, fmt.Sprintf("bad offsets %d %d %d (size %d)", p.HeaderStart, p.BodyStart, p.End, size))
	}
	for _, c := range p.Parts {
		errs = append(errs, checkDowngradedParts(c, size)...)
	}
	return append(errs, checkDowngradedParts(p.Embedded, size)...)
}

// MayNeedDowngrade follows HeaderBytes, and for a structure cached before
// it was recorded looks at the header text the structure kept.
func TestMayNeedDowngrade(t *testing.T) {
	tests := []struct {
		name, msg string
		want      bool
	}{
		{"ASCII", "Subject: plain\r\n\r\nGrüße\r\n", false},
		{"UTF-8 subject", "Subject: Grüße\r\n\r\nx\r\n", true},
		{"UTF-8 address", "From: dörte@example.org\r\n\r\nx\r\n", true},
		{"UTF-8 part description", "Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Description: Überblick\r\n\r\nx\r\n--b--\r\n", true},
		{"UTF-8 attachment name", "Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Disposition: attachment; filename=\"über.txt\"\r\n\r\nx\r\n--b--\r\n", true},
	}
	for _, tc := range tests {
		m, err := Parse(strings.NewReader(tc.msg))
		if err != nil {
			t.Fatal(err)
		}
		if got := MayNeedDowngrade(m); got != tc.want {
			t.Errorf("%s: MayNeedDowngrade = %v, want %v", tc.name, got, tc.want)
		}
		m.HeaderBytes = HeadersUnknown
		if got := MayNeedDowngrade(m); got != tc.want {
			t.Errorf("%s, HeaderBytes unknown: MayNeedDowngrade = %v, want %v", tc.name, got, tc.want)
		}
		if d, err := Downgrade(m, strings.NewReader(tc.msg), int64(len(tc.msg))); err != nil || (d != nil) != tc.want {
			t.Errorf("%s: Downgrade = %v, %v; want a downgraded message %v", tc.name, d, err, tc.want)
		}
	}
	if MayNeedDowngrade(nil) {
		t.Error("MayNeedDowngrade(nil) = true")
	}
}
