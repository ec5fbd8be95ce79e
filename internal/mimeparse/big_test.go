package mimeparse

import (
	"io"
	"runtime"
	"strings"
	"testing"
)

// genReader produces n lines of base64-looking text without holding them
// in memory.
type genReader struct {
	line []byte
	left int // lines left
	pos  int
}

func (g *genReader) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		if g.pos == len(g.line) {
			if g.left == 0 {
				break
			}
			g.left--
			g.pos = 0
		}
		c := copy(p[n:], g.line[g.pos:])
		g.pos += c
		n += c
	}
	if n == 0 {
		return 0, io.EOF
	}
	return n, nil
}

const (
	bigLine  = "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZWZnaGlqa2xtbm9wcXJzdHV2d3h5ejAxMjM0\r\n"
	bigLines = 29 << 20 / len(bigLine) // ~29 MiB attachment
)

// bigMessage returns a reader for a ~30 MB message: a text part, a ~29 MB
// base64 attachment and a text part with a ~1 MB body (more than fits in
// the search text), plus its size.
func bigMessage(textLines int) (io.Reader, int64) {
	head := "From: a@example.org\r\nSubject: big\r\nContent-Type: multipart/mixed; boundary=BIG\r\n\r\n" +
		"--BIG\r\nContent-Type: text/plain\r\n\r\nhello\r\n" +
		"--BIG\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n"
	mid := "\r\n--BIG\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
	tail := "\r\n--BIG--\r\n"
	textLine := "the quick brown fox jumps over the lazy dog 0123456789\r\n"
	rs := []io.Reader{
		strings.NewReader(head),
		&genReader{line: []byte(bigLine), left: bigLines, pos: len(bigLine)},
		strings.NewReader(mid),
		&genReader{line: []byte(textLine), left: textLines, pos: len(textLine)},
		strings.NewReader(tail),
	}
	size := int64(len(head) + len(mid) + len(tail) + bigLines*len(bigLine) + textLines*len(textLine))
	return io.MultiReader(rs...), size
}

func TestBigMessageMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("big message")
	}
	r, size := bigMessage(30000) // ~1.6 MB of text
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	m, err := Parse(r)
	runtime.ReadMemStats(&after)
	if err != nil {
		t.Fatal(err)
	}
	if m.Size != size || len(m.Root.Parts) != 3 {
		t.Fatalf("size %d (want %d), %d parts", m.Size, size, len(m.Root.Parts))
	}
	if att := m.Root.Parts[1]; att.End-att.BodyStart != int64(bigLines*len(bigLine)) {
		t.Errorf("attachment size %d", att.End-att.BodyStart)
	}
	if len(m.Text.Body) != MaxBodyText {
		t.Errorf("body text %d bytes, want the cap %d", len(m.Text.Body), MaxBodyText)
	}
	alloc := after.TotalAlloc - before.TotalAlloc
	t.Logf("message %d bytes: %d bytes allocated in %d allocations", size, alloc, after.Mallocs-before.Mallocs)
	// The read buffer, the structure, and the capped text part (raw
	// bytes, plus decoding copies).
	if limit := uint64(8 << 20); alloc > limit {
		t.Errorf("allocated %d bytes, more than %d", alloc, limit)
	}
	// Without a big text part, only the buffer and the structure remain.
	r, _ = bigMessage(10)
	runtime.GC()
	runtime.ReadMemStats(&before)
	if _, err := Parse(r); err != nil {
		t.Fatal(err)
	}
	runtime.ReadMemStats(&after)
	alloc = after.TotalAlloc - before.TotalAlloc
	t.Logf("attachment only: %d bytes allocated", alloc)
	if limit := uint64(1 << 20); alloc > limit {
		t.Errorf("allocated %d bytes, more than %d", alloc, limit)
	}
}

func BenchmarkParseBig(b *testing.B) {
	_, size := bigMessage(10)
	b.SetBytes(size)
	b.ReportAllocs()
	for b.Loop() {
		r, _ := bigMessage(10)
		if _, err := Parse(r); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseSmall(b *testing.B) {
	msg := crlf(fuzzSeeds[2])
	b.SetBytes(int64(len(msg)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse(strings.NewReader(msg)); err != nil {
			b.Fatal(err)
		}
	}
}
