package mimeparse

import (
	"strings"
	"testing"
	"time"
)

// TestHostileInputs checks that pathological inputs are handled in
// roughly linear time.
func TestHostileInputs(t *testing.T) {
	if testing.Short() {
		t.Skip("slow")
	}
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
	for name, msg := range cases {
		start := time.Now()
		m := mustParse(t, msg)
		if d := time.Since(start); d > 3*time.Second {
			t.Errorf("%s: took %v", name, d)
		}
		t.Logf("%s: %v, %d parts in root", name, time.Since(start), len(m.Root.Parts))
	}
}
