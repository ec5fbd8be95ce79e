package mimeparse

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
)

// crlf turns a test message written with "\n" into CRLF form.
func crlf(s string) string {
	var b bytes.Buffer
	w := NormalizeCRLF(&b)
	if _, err := w.Write([]byte(s)); err != nil {
		panic(err)
	}
	if err := w.Close(); err != nil {
		panic(err)
	}
	return b.String()
}

// mustParse parses s and checks the structural invariants.
func mustParse(t testing.TB, s string) *Message {
	t.Helper()
	m, err := Parse(strings.NewReader(s))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if err := checkInvariants(m, []byte(s)); err != nil {
		t.Fatalf("invariants: %v", err)
	}
	return m
}

// checkInvariants verifies what must hold for any input: offsets within
// [0, Size] and ordered, children inside their parents, siblings in order,
// line counts consistent with the bytes.
func checkInvariants(m *Message, data []byte) error {
	if m.Size != int64(len(data)) {
		return fmt.Errorf("Size = %d, want %d", m.Size, len(data))
	}
	if want := countLines(data); m.Lines != want {
		return fmt.Errorf("Lines = %d, want %d", m.Lines, want)
	}
	r := m.Root
	if r == nil {
		return fmt.Errorf("nil Root")
	}
	if r.HeaderStart != 0 || r.End != m.Size {
		return fmt.Errorf("root range [%d, %d), want [0, %d)", r.HeaderStart, r.End, m.Size)
	}
	if r.Envelope == nil {
		return fmt.Errorf("root without envelope")
	}
	n := 0
	if err := checkPart(r, 0, m.Size, data, "root", &n); err != nil {
		return err
	}
	if n > MaxParts+MaxParts { // embedded placeholders are not counted
		return fmt.Errorf("%d parts", n)
	}
	return nil
}

func countLines(b []byte) int64 {
	n := int64(bytes.Count(b, []byte("\n")))
	if len(b) > 0 && b[len(b)-1] != '\n' {
		n++
	}
	return n
}

func checkPart(p *Part, lo, hi int64, data []byte, path string, n *int) error {
	*n++
	if !(lo <= p.HeaderStart && p.HeaderStart <= p.BodyStart && p.BodyStart <= p.End && p.End <= hi) {
		return fmt.Errorf("%s: offsets %d/%d/%d outside [%d, %d] or unordered", path, p.HeaderStart, p.BodyStart, p.End, lo, hi)
	}
	if p.Type == "" || p.Subtype == "" {
		return fmt.Errorf("%s: empty type %q/%q", path, p.Type, p.Subtype)
	}
	if p.Type == "multipart" && len(p.Parts) == 0 {
		return fmt.Errorf("%s: multipart without parts", path)
	}
	if p.Type != "multipart" && len(p.Parts) > 0 {
		return fmt.Errorf("%s: %s/%s with parts", path, p.Type, p.Subtype)
	}
	body := data[p.BodyStart:p.End]
	if p.Type == "text" || p.Type == "message" {
		if want := countLines(body); p.Lines != want {
			return fmt.Errorf("%s: Lines = %d, want %d (body %q)", path, p.Lines, want, trunc(body))
		}
	}
	prev := p.BodyStart
	for i, c := range p.Parts {
		if c.HeaderStart < prev {
			return fmt.Errorf("%s.%d: starts at %d before previous end %d", path, i+1, c.HeaderStart, prev)
		}
		if err := checkPart(c, p.BodyStart, p.End, data, fmt.Sprintf("%s.%d", path, i+1), n); err != nil {
			return err
		}
		prev = c.End
	}
	isMsg := p.Type == "message" && (p.Subtype == "rfc822" || p.Subtype == "global")
	if isMsg != (p.Embedded != nil) {
		return fmt.Errorf("%s: %s/%s with Embedded=%v", path, p.Type, p.Subtype, p.Embedded != nil)
	}
	if p.Embedded != nil {
		e := p.Embedded
		if p.Envelope == nil {
			return fmt.Errorf("%s: message part without envelope", path)
		}
		if e.HeaderStart != p.BodyStart || e.End != p.End {
			return fmt.Errorf("%s: embedded [%d, %d) != body [%d, %d)", path, e.HeaderStart, e.End, p.BodyStart, p.End)
		}
		if err := checkPart(e, p.BodyStart, p.End, data, path+".msg", n); err != nil {
			return err
		}
	}
	return nil
}

func trunc(b []byte) []byte {
	if len(b) > 80 {
		return b[:80]
	}
	return b
}

// slice returns the bytes [a, b) of s.
func slice(s string, a, b int64) string { return s[a:b] }
