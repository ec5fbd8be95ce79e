package mimeparse

import (
	"runtime"
	"strings"
	"testing"
)

// hostileInputs are pathological messages of about 4 MB each: deep
// nesting, endless comments, quotes, parameters, parts, groups and lines.
func hostileInputs() map[string]string {
	const mb = 1 << 20
	nest := func(n int, line string) string {
		var b strings.Builder
		for i := range n {
			b.WriteString("Content-Type: multipart/mixed; boundary=b" + itoa(i) + "\r\n\r\n--b" + itoa(i) + "\r\n")
		}
		b.WriteString("\r\n")
		for b.Len() < 4*mb {
			b.WriteString(line)
		}
		return b.String()
	}
	cases := map[string]string{
		"many address fields": strings.Repeat("To: a@b\r\n", 4*mb/9) + "\r\n",
		"long comment":        "To: " + strings.Repeat("(", 4*mb) + "\r\n\r\n",
		"long quoted":         "Content-Type: a/b; x=\"" + strings.Repeat("\\\"", 2*mb) + "\r\n\r\n",
		"many params":         "Content-Type: a/b" + strings.Repeat("; x*1*=%41", 4*mb/10) + "\r\n\r\n",
		"deep boundaries":     nest(MaxDepth+5, "--b1x\r\n"),
		"html scripts":        "Content-Type: text/html\r\n\r\n" + strings.Repeat("<script>", 4*mb/8),
		"html comments":       "Content-Type: text/html\r\n\r\n" + strings.Repeat("<!--", 4*mb/4),
		"many parts":          "Content-Type: multipart/mixed; boundary=x\r\n\r\n" + strings.Repeat("--x\r\n", 4*mb/5),
		"many groups":         "To: " + strings.Repeat("g:", 4*mb/2) + "\r\n\r\n",
		"long header line":    "Subject: " + strings.Repeat("x", 4*mb) + "\r\n\r\n",
		"many header lines":   strings.Repeat("X: y\r\n", 4*mb/6) + "\r\n",
		"many continuations":  "Subject: a\r\n" + strings.Repeat(" b\r\n", 4*mb/4) + "\r\n",
		"qp":                  "Content-Transfer-Encoding: quoted-printable\r\n\r\n" + strings.Repeat("=", 4*mb),
	}
	return cases
}

// TestHostileInputs checks that pathological inputs parse, with memory
// allocated in proportion to their size (a parser that copies what it
// has seen again for every token would allocate far more). Time per
// byte is measured by BenchmarkHostileInputs, not asserted here.
func TestHostileInputs(t *testing.T) {
	if testing.Short() {
		t.Skip("slow")
	}
	for name, msg := range hostileInputs() {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		m := mustParse(t, msg)
		runtime.ReadMemStats(&after)
		alloc := after.TotalAlloc - before.TotalAlloc
		t.Logf("%s: %d bytes allocated for %d, %d parts in root", name, alloc, len(msg), len(m.Root.Parts))
		if alloc > 16*uint64(len(msg)) {
			t.Errorf("%s: %d bytes allocated to parse %d", name, alloc, len(msg))
		}
	}
}

// BenchmarkHostileInputs parses each hostile input; its ns/op per input
// shows whether any of them goes beyond roughly linear time.
func BenchmarkHostileInputs(b *testing.B) {
	for name, msg := range hostileInputs() {
		b.Run(strings.ReplaceAll(name, " ", "_"), func(b *testing.B) {
			b.SetBytes(int64(len(msg)))
			for b.Loop() {
				if _, err := Parse(strings.NewReader(msg)); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
