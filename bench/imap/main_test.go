package main

import (
	"bytes"
	"strings"
	"testing"
)

// TestMessage checks the seeded messages: CRLF line endings only, a
// Message-ID unique per message, and the search word in exactly the one
// message chosen.
func TestMessage(t *testing.T) {
	ids := map[string]bool{}
	for i := 1; i <= 200; i++ {
		m := Message("u@localhost", i, 77)
		if bytes.Count(m, []byte("\n")) != bytes.Count(m, []byte("\r\n")) {
			t.Fatalf("message %d has a bare LF", i)
		}
		if got := bytes.Contains(m, []byte("needle77")); got != (i == 77) {
			t.Errorf("message %d: needle present = %v", i, got)
		}
		if bytes.Contains(m, []byte("needle")) && i != 77 {
			t.Errorf("message %d holds a needle", i)
		}
		_, rest, _ := strings.Cut(string(m), "Message-ID: ")
		id, _, _ := strings.Cut(rest, "\r\n")
		if ids[id] {
			t.Errorf("Message-ID %s repeats", id)
		}
		ids[id] = true
	}
}
