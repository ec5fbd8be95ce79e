package mimeparse

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
)

// binaryRoundTrip checks that m survives Encode and Decode unchanged, and
// that its JSON form (what stores cached before the binary encoding)
// decodes to the same structure.
func binaryRoundTrip(t testing.TB, m *Message) []byte {
	t.Helper()
	enc := Encode(m)
	got, err := Decode(enc)
	if err != nil {
		t.Fatalf("Decode(Encode(m)): %v", err)
	}
	if !reflect.DeepEqual(got, m) {
		t.Fatalf("binary round trip differs:\n got %+v\nwant %+v\nbytes %q", got, m, enc)
	}
	js, err := json.Marshal(m)
	if err != nil {
		t.Fatalf("json.Marshal: %v", err)
	}
	fromJSON, err := Decode(js)
	if err != nil {
		t.Fatalf("Decode(JSON): %v", err)
	}
	if !reflect.DeepEqual(fromJSON, m) {
		t.Fatalf("JSON form decodes differently:\n got %+v\nwant %+v", fromJSON, m)
	}
	return enc
}

// richMessage has every kind of field: parameters, dispositions,
// languages, groups, an embedded message with its own envelope.
const richMessage = "Date: Tue, 5 Mar 2024 10:00:00 +0000\n" +
	"From: \"Sender, Esq.\" <sender@example.net>\n" +
	"Sender: s@example.net\n" +
	"Reply-To: r@example.net\n" +
	"To: friends: a@example.org, B <b@example.org>;, c@example.org\n" +
	"Cc: \"Boris\" <boris@example.com>\n" +
	"Bcc: hidden@example.com\n" +
	"Subject: =?utf-8?q?Gr=C3=BC=C3=9Fe?= and more\n" +
	"Message-ID: <m1@example.net>\n" +
	"In-Reply-To: <m0@example.net>\n" +
	"References: <a@x> <m0@example.net>\n" +
	"MIME-Version: 1.0\n" +
	"Content-Type: multipart/mixed; boundary=outer\n" +
	"\n" +
	"preamble\n" +
	"--outer\n" +
	"Content-Type: text/plain; charset=utf-8; format=flowed\n" +
	"Content-Language: en, de\n" +
	"Content-ID: <part1@x>\n" +
	"Content-Description: the text\n" +
	"Content-Transfer-Encoding: 8bit\n" +
	"\n" +
	"Привет, мир\n" +
	"--outer\n" +
	"Content-Type: application/pdf; name=\"r.pdf\"\n" +
	"Content-Disposition: attachment; filename*=utf-8''%E2%82%AC.pdf; size=4\n" +
	"Content-Location: http://example.com/r.pdf\n" +
	"Content-MD5: Q2hlY2sgSW50ZWdyaXR5IQ==\n" +
	"Content-Transfer-Encoding: base64\n" +
	"\n" +
	"QUJDRA==\n" +
	"--outer\n" +
	"Content-Type: message/rfc822\n" +
	"\n" +
	"From: inner@example.org\n" +
	"Subject: inner\n" +
	"Content-Type: multipart/alternative; boundary=inner\n" +
	"\n" +
	"--inner\n" +
	"Content-Type: text/plain\n" +
	"\n" +
	"plain\n" +
	"--inner\n" +
	"Content-Type: text/html\n" +
	"\n" +
	"<p>html</p>\n" +
	"--inner--\n" +
	"--outer--\n"

func TestBinaryRoundTrip(t *testing.T) {
	msgs := map[string]string{
		"rich":  crlf(richMessage),
		"route": "From: <@relay.example:ann@example.net>\r\nTo: x <@a,@b:y@z>\r\n\r\nbody\r\n",
	}
	for i, s := range fuzzSeeds {
		msgs["seed"+itoa(i)] = s
	}
	for name, s := range msgs {
		t.Run(name, func(t *testing.T) {
			m := mustParse(t, s)
			binaryRoundTrip(t, m)
			// Stores zero the search text before caching.
			m.Text = SearchText{}
			binaryRoundTrip(t, m)
		})
	}
	rich := mustParse(t, crlf(richMessage))
	emb := rich.Root.Parts[2]
	if emb.Envelope == nil || emb.Envelope.Subject != "inner" || emb.Embedded == nil || len(emb.Embedded.Parts) != 2 {
		t.Fatalf("test message parsed unexpectedly: %+v", emb)
	}
	if l := rich.Root.Parts[0].Language; len(l) != 2 {
		t.Fatalf("languages %q", l)
	}
}

// TestBinaryRoundTripEdges covers values Parse does not produce but a
// decoder must carry: no root, empty envelopes, negative numbers, strings
// that are not UTF-8, long lists.
func TestBinaryRoundTripEdges(t *testing.T) {
	many := make([]Address, 1000)
	for i := range many {
		many[i] = Address{Mailbox: "m" + itoa(i), Host: "example.org"}
	}
	cases := map[string]*Message{
		"empty":           {},
		"no root":         {Size: 5, Lines: 1},
		"8-bit headers":   {HeaderBytes: Headers8bit, Root: &Part{}},
		"empty root":      {Root: &Part{}},
		"empty envelope":  {Root: &Part{Envelope: &Envelope{}}},
		"negative":        {Size: -1, Lines: -1 << 63, Root: &Part{HeaderStart: -5, BodyStart: 1 << 62, End: -1 << 63, Lines: 1<<63 - 1}},
		"not utf-8":       {Root: &Part{Type: "\xff\xfe", Envelope: &Envelope{Subject: "\x80", From: []Address{{Name: "\xc3"}}}}},
		"many addresses":  {Root: &Part{Envelope: &Envelope{To: many, Cc: many[:300], Bcc: many[:1]}}},
		"group only":      {Root: &Part{Envelope: &Envelope{To: []Address{{GroupStart: true, Mailbox: "g"}, {GroupEnd: true}}}}},
		"all text fields": {Text: SearchText{Headers: "Subject: x\n", Body: strings.Repeat("y", 70000)}, Root: &Part{}},
	}
	deep := &Part{Type: "text", Subtype: "plain"}
	for range MaxDepth + 5 {
		deep = &Part{Type: "message", Subtype: "rfc822", Envelope: &Envelope{}, Embedded: deep}
	}
	cases["deep"] = &Message{Root: deep}
	wide := &Part{Type: "multipart", Subtype: "mixed"}
	for i := range 600 {
		wide.Parts = append(wide.Parts, &Part{Type: "text", Subtype: "plain", HeaderStart: int64(i), Params: []Param{{Name: "n", Value: itoa(i)}}})
	}
	cases["wide"] = &Message{Root: wide}
	for name, m := range cases {
		t.Run(name, func(t *testing.T) {
			enc := Encode(m)
			got, err := Decode(enc)
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if !reflect.DeepEqual(got, m) {
				t.Fatalf("round trip differs:\n got %+v\nwant %+v", got, m)
			}
		})
	}
}

// TestDecodeJSONRows checks that structures cached as JSON before the
// binary encoding, byte for byte as a store wrote them, still decode.
func TestDecodeJSONRows(t *testing.T) {
	// Written by json.Marshal of the structure of
	// "From: A <a@b.c>\r\nSubject: hi\r\n\r\nbody\r\n" (search text zeroed).
	old := `{"s":38,"l":4,"r":{"t":"text","st":"plain","bs":32,"en":38,"l":1,"env":{"s":"hi","f":[{"n":"A","m":"a","h":"b.c"}]}}}`
	m, err := Decode([]byte(old))
	if err != nil {
		t.Fatalf("Decode: %v", err)
	}
	want := mustParse(t, "From: A <a@b.c>\r\nSubject: hi\r\n\r\nbody\r\n")
	want.Text = SearchText{}
	want.HeaderBytes = HeadersUnknown // not recorded before HeaderBytes existed
	if !reflect.DeepEqual(m, want) {
		t.Fatalf("old JSON row decodes to\n%+v\nwant\n%+v", m, want)
	}
	// And the re-encoded form is binary and decodes the same.
	enc := Encode(m)
	if enc[0] != binaryV1 || len(enc) >= len(old) {
		t.Errorf("Encode: %d bytes starting %#x; JSON had %d", len(enc), enc[0], len(old))
	}
}

// TestDecodeCorrupt feeds truncated and altered encodings: every one must
// give an error or a structure, never a panic, and a truncated one always
// an error.
func TestDecodeCorrupt(t *testing.T) {
	m := mustParse(t, crlf(richMessage))
	m.Text = SearchText{}
	enc := Encode(m)
	for n := range len(enc) {
		if _, err := Decode(enc[:n]); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("Decode of the first %d of %d bytes: %v, want ErrCorrupt", n, len(enc), err)
		}
	}
	if _, err := Decode(append(bytes.Clone(enc), 0)); !errors.Is(err, ErrCorrupt) {
		t.Errorf("trailing byte: %v", err)
	}
	for i := range enc {
		for _, v := range []byte{0, 1, 0x7f, 0x80, 0xff, enc[i] ^ 0x01, enc[i] ^ 0x40} {
			b := bytes.Clone(enc)
			b[i] = v
			Decode(b) // must not panic
		}
	}
	for _, b := range []string{"", "\x00", "\x02", "[]", "{", "{\"r\":1}", "\x01", "\x01\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff"} {
		if _, err := Decode([]byte(b)); !errors.Is(err, ErrCorrupt) {
			t.Errorf("Decode(%q) = %v, want ErrCorrupt", b, err)
		}
	}
	// Nesting beyond any parse result is refused, not recursed into.
	deep := []byte{binaryV1, 0, 0, 0, 0, 0, 0, 0, 0, 1}
	for range maxDecodeDepth + 2 {
		deep = binary.AppendUvarint(deep, partEmbedded)
	}
	deep = append(deep, 0)
	if _, err := Decode(deep); !errors.Is(err, ErrCorrupt) {
		t.Errorf("Decode of %d nested parts: %v", maxDecodeDepth+2, err)
	}
}

func FuzzDecode(f *testing.F) {
	for _, s := range append(fuzzSeeds, crlf(richMessage)) {
		m, err := Parse(strings.NewReader(s))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(Encode(m))
		js, _ := json.Marshal(m)
		f.Add(js)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := Decode(data)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error %v does not wrap ErrCorrupt", err)
			}
			return
		}
		// Whatever decodes encodes to a form that decodes the same. JSON
		// can hold what the binary form does not tell apart (an empty
		// list from none, nil parts, which Encode leaves out): those
		// compare after one round.
		if data[0] != binaryV1 {
			if m, err = Decode(Encode(m)); err != nil {
				t.Fatalf("re-encoded JSON structure: %v", err)
			}
		}
		again, err := Decode(Encode(m))
		if err != nil {
			t.Fatalf("re-encoded structure: %v", err)
		}
		if !reflect.DeepEqual(again, m) {
			t.Fatalf("re-encoded structure differs:\n got %+v\nwant %+v", again, m)
		}
		m.FindPart([]int{1, 2, 1})
	})
}

// smallMessage is a typical single-part message.
const smallMessage = "Date: Tue, 5 Mar 2024 10:00:00 +0000\n" +
	"From: \"Sender 7\" <sender7@example.net>\n" +
	"To: Anna <anna@example.org>, team@example.org\n" +
	"Cc: \"Boris B.\" <boris@example.com>\n" +
	"Subject: Report number 7 about the quarterly figures\n" +
	"Message-ID: <msg7@example.net>\n" +
	"In-Reply-To: <msg6@example.net>\n" +
	"MIME-Version: 1.0\n" +
	"Content-Type: text/plain; charset=utf-8\n" +
	"\n" +
	"Some text of the body.\n"

// benchDecode decodes the cached structure (search text zeroed, as
// stores keep it) of each message in the JSON form earlier versions
// stored and in the binary one.
func BenchmarkDecode(b *testing.B) {
	for _, msg := range []struct{ name, text string }{{"small", smallMessage}, {"multipart", richMessage}} {
		m := mustParse(b, crlf(msg.text))
		m.Text = SearchText{}
		js, err := json.Marshal(m)
		if err != nil {
			b.Fatal(err)
		}
		for _, enc := range []struct {
			name string
			b    []byte
		}{{"json", js}, {"binary", Encode(m)}} {
			b.Run(msg.name+"/"+enc.name, func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					if _, err := Decode(enc.b); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(len(enc.b)), "bytes")
			})
		}
	}
}

func BenchmarkEncode(b *testing.B) {
	m := mustParse(b, crlf(richMessage))
	m.Text = SearchText{}
	b.ReportAllocs()
	for b.Loop() {
		Encode(m)
	}
}
