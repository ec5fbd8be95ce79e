package mimeparse

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"testing/iotest"
	"unicode/utf8"
)

var fuzzSeeds = []string{
	"",
	"Subject: x\r\n\r\nbody",
	"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\r\na\r\n--b\r\nContent-Type: message/rfc822\r\n\r\nSubject: y\r\nContent-Type: multipart/alternative; boundary=c\r\n\r\n--c\r\n\r\nq\r\n--c--\r\n--b--\r\n",
	"Content-Type: multipart/mixed; boundary=o\r\n\r\n--o\r\nContent-Type: multipart/mixed; boundary=i\r\n\r\n--i\r\nContent-Type: text/plain\r\n\r\n--o--\r\n",
	"Content-Type: multipart/digest; boundary=d\r\n\r\n--d\r\n\r\nFrom: a@b\r\n\r\nx\r\n--d\r\n--d--",
	"To: g: a@b, \"q\\\" x\" <c@d>;, (c) e@f\r\nContent-Type: text/html; charset*=utf-8''x\r\n\r\n<p>a&amp;b</p>",
	"Content-Type: text/plain; charset=utf-16le\r\nContent-Transfer-Encoding: base64\r\n\r\nYQBiAA==\r\n",
	"Content-Type: multipart/mixed; boundary=x\n\n--x\n\nlf only\n--x--\n",
	"Content-Type: message/rfc822\r\nContent-Transfer-Encoding: base64\r\n\r\nAAAA",
	"Content-Type: multipart/mixed; boundary=\"\"\r\n\r\n--\r\n",
}

func FuzzParse(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := Parse(bytes.NewReader(data))
		if err != nil {
			t.Fatalf("Parse: %v", err)
		}
		if err := checkInvariants(m, data); err != nil {
			t.Fatalf("invariants: %v", err)
		}
		if len(m.Text.Body) > MaxBodyText || len(m.Text.Headers) > MaxHeaderText {
			t.Fatalf("search text too long: %d, %d", len(m.Text.Body), len(m.Text.Headers))
		}
		if !utf8.ValidString(m.Text.Body) || !utf8.ValidString(m.Text.Headers) {
			t.Fatalf("search text not valid UTF-8")
		}
		// The result must not depend on how the input is read.
		m2, err := Parse(iotest.HalfReader(bytes.NewReader(data)))
		if err != nil {
			t.Fatalf("Parse (HalfReader): %v", err)
		}
		if !reflect.DeepEqual(m, m2) {
			t.Fatalf("result depends on read sizes")
		}
		// JSON round trip is lossless.
		b, err := json.Marshal(m)
		if err != nil {
			t.Fatalf("json.Marshal: %v", err)
		}
		var back Message
		if err := json.Unmarshal(b, &back); err != nil {
			t.Fatalf("json.Unmarshal: %v", err)
		}
		if !reflect.DeepEqual(&back, m) {
			t.Fatalf("JSON round trip differs: %s", b)
		}
		// And so is the binary one stores cache.
		bin, err := Decode(Encode(m))
		if err != nil {
			t.Fatalf("Decode(Encode(m)): %v", err)
		}
		if !reflect.DeepEqual(bin, m) {
			t.Fatalf("binary round trip differs")
		}
	})
}

func FuzzNormalizeCRLF(f *testing.F) {
	for _, s := range []string{"", "a\nb", "a\r\nb", "\r", "\r\r\n\n\r", "x\ry\n"} {
		f.Add([]byte(s), uint16(0))
		f.Add([]byte(s), uint16(1))
	}
	f.Fuzz(func(t *testing.T, data []byte, split uint16) {
		i := int(split) % (len(data) + 1)
		out := normalizeChunks(t, data[:i], data[i:])
		if whole := normalizeChunks(t, data); !bytes.Equal(out, whole) {
			t.Fatalf("split at %d changes the output: %q vs %q", i, out, whole)
		}
		for j, c := range out {
			if c == '\r' && (j+1 >= len(out) || out[j+1] != '\n') {
				t.Fatalf("bare CR at %d in %q", j, out)
			}
			if c == '\n' && (j == 0 || out[j-1] != '\r') {
				t.Fatalf("bare LF at %d in %q", j, out)
			}
		}
		if again := normalizeChunks(t, out); !bytes.Equal(again, out) {
			t.Fatalf("not idempotent: %q -> %q", out, again)
		}
		// Only line endings change.
		strip := func(b []byte) string { return strings.NewReplacer("\r", "", "\n", "").Replace(string(b)) }
		if strip(out) != strip(data) {
			t.Fatalf("content changed")
		}
		unified := bytes.ReplaceAll(bytes.ReplaceAll(data, []byte("\r\n"), []byte("\n")), []byte("\r"), []byte("\n"))
		if bytes.Count(out, []byte("\r\n")) != bytes.Count(unified, []byte("\n")) {
			t.Fatalf("wrong number of line endings")
		}
	})
}
