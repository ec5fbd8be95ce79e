package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestMessageSize(t *testing.T) {
	for _, size := range []int{200, 1000, 10 * 1024, 10*1024 + 1} {
		cfg := config{from: "a@localhost", to: "b@localhost", size: size}
		m := message(cfg, 3, 7, time.Unix(0, 0))
		if len(m) != size {
			t.Errorf("size %d: message has %d bytes", size, len(m))
		}
		if !strings.HasSuffix(string(m), "\r\n") || !strings.Contains(string(m), "Message-ID: <0.3.7@bench.localhost>") {
			t.Errorf("size %d: malformed message %q", size, m[:min(len(m), 200)])
		}
	}
}

func TestParseFlags(t *testing.T) {
	c, err := parseFlags([]string{"-addr", "127.0.0.1:1", "-to", "b@localhost", "-starttls=false", "-conns", "1, 10,50"})
	if err != nil {
		t.Fatal(err)
	}
	if len(c.conns) != 3 || c.conns[1] != 10 || c.from != "bench@localhost" {
		t.Fatalf("parsed %+v", c)
	}
	for _, bad := range [][]string{
		{"-to", "b@localhost"},
		{"-addr", "x:1", "-to", "b@localhost", "-conns", "0"},
		{"-addr", "x:1", "-to", "b@localhost"}, // STARTTLS without -ca
	} {
		if _, err := parseFlags(bad); err == nil {
			t.Errorf("parseFlags(%q) accepted", bad)
		}
	}
}

func TestCountMaildir(t *testing.T) {
	dir := t.TempDir()
	if n, err := countMaildir(dir); err != nil || n != 0 {
		t.Fatalf("empty: %d %v", n, err)
	}
	for _, f := range []string{"new/a", "new/b", "cur/c:2,S", "tmp/d"} {
		p := filepath.Join(dir, f)
		os.MkdirAll(filepath.Dir(p), 0o700)
		if err := os.WriteFile(p, nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := countMaildir(dir); err != nil || n != 3 {
		t.Fatalf("count = %d, %v; want 3 (tmp/ not counted)", n, err)
	}
}
