package mimeparse

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

func normalizeChunks(t testing.TB, chunks ...[]byte) []byte {
	t.Helper()
	var b bytes.Buffer
	w := NormalizeCRLF(&b)
	for _, c := range chunks {
		n, err := w.Write(c)
		if err != nil || n != len(c) {
			t.Fatalf("Write = %d, %v; want %d, nil", n, err, len(c))
		}
	}
	if err := w.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	return b.Bytes()
}

func TestNormalizeCRLF(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", ""},
		{"abc", "abc"},
		{"a\nb", "a\r\nb"},
		{"a\r\nb\r\n", "a\r\nb\r\n"},
		{"a\rb\r", "a\r\nb\r\n"},
		{"\r\r\n\n", "\r\n\r\n\r\n"},
		{"\n\n", "\r\n\r\n"},
		{"x\r", "x\r\n"},
		{"\n\r", "\r\n\r\n"},
		{"no newline at end", "no newline at end"},
	}
	for _, tt := range tests {
		// Every way of splitting the input into two writes, and byte by
		// byte, must give the same output.
		for i := 0; i <= len(tt.in); i++ {
			got := normalizeChunks(t, []byte(tt.in[:i]), []byte(tt.in[i:]))
			if string(got) != tt.want {
				t.Errorf("%q split at %d: got %q, want %q", tt.in, i, got, tt.want)
			}
		}
		var chunks [][]byte
		for i := 0; i < len(tt.in); i++ {
			chunks = append(chunks, []byte{tt.in[i]})
		}
		if got := normalizeChunks(t, chunks...); string(got) != tt.want {
			t.Errorf("%q byte by byte: got %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestNormalizeCRLFLarge(t *testing.T) {
	// Larger than the internal chunk, with a CR right at the chunk edge.
	in := strings.Repeat("x", crlfChunk-1) + "\r\n" + strings.Repeat("line\n", 10000)
	want := strings.Repeat("x", crlfChunk-1) + "\r\n" + strings.Repeat("line\r\n", 10000)
	if got := normalizeChunks(t, []byte(in)); string(got) != want {
		t.Errorf("large input not normalized correctly")
	}
}

type failWriter struct{ n int }

func (f *failWriter) Write(p []byte) (int, error) {
	if f.n <= 0 {
		return 0, errors.New("disk full")
	}
	f.n--
	return len(p), nil
}

func TestNormalizeCRLFError(t *testing.T) {
	w := NormalizeCRLF(&failWriter{n: 1})
	if _, err := w.Write([]byte("ok\n")); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write([]byte("fail\n")); err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Fatalf("err = %v", err)
	}
	if _, err := w.Write([]byte("again")); err == nil {
		t.Fatal("error not sticky")
	}
	if err := w.Close(); err == nil {
		t.Fatal("Close after error succeeded")
	}
	w = NormalizeCRLF(&bytes.Buffer{})
	w.Close()
	if _, err := w.Write([]byte("x")); err == nil {
		t.Fatal("Write after Close succeeded")
	}
}
