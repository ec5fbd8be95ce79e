package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// pochta runs the command line in-process against a config in dir.
func pochta(t *testing.T, dir, stdin string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var o, e bytes.Buffer
	args = append(args, "--config", filepath.Join(dir, "pochta.toml"))
	code = run(context.Background(), args, strings.NewReader(stdin), &o, &e)
	return code, o.String(), e.String()
}

func newConfigDir(t *testing.T) string {
	dir := t.TempDir()
	cfg := "hostname = \"mail.example.org\"\ndata_dir = \"" + filepath.Join(dir, "data") + "\"\n"
	if err := os.WriteFile(filepath.Join(dir, "pochta.toml"), []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestUserLifecycle(t *testing.T) {
	dir := newConfigDir(t)
	if code, _, errOut := pochta(t, dir, "", "domain", "add", "Example.ORG"); code != 0 {
		t.Fatalf("domain add: %d %s", code, errOut)
	}
	// Flags after the positional argument work too.
	code, out, errOut := pochta(t, dir, "s3cret-pass\n", "user", "add", "Anna@example.org", "--password-stdin", "--quota", "2GiB", "--json")
	if code != 0 {
		t.Fatalf("user add: %d %s", code, errOut)
	}
	var v accountView
	if err := json.Unmarshal([]byte(out), &v); err != nil {
		t.Fatalf("user add --json printed %q: %v", out, err)
	}
	if v.Address != "anna@example.org" || v.Quota != 2<<30 || v.Password != "" {
		t.Fatalf("user add: %+v (a password read from stdin must not be printed)", v)
	}
	code, out, _ = pochta(t, dir, "", "user", "set", "anna@example.org", "--pop3=off", "--pop3-folders=INBOX,Spam", "--pop3-since=now", "--login-policy=plaintext", "--json")
	if code != 0 {
		t.Fatalf("user set: %d", code)
	}
	json.Unmarshal([]byte(out), &v)
	s := v.Settings
	if s.POP3Enabled || !s.IMAPEnabled || strings.Join(s.POP3Folders, ",") != "INBOX,Spam" || s.POP3Since.IsZero() || s.LoginPolicy != "plaintext" {
		t.Fatalf("settings after user set: %+v", s)
	}
	code, _, errOut = pochta(t, dir, "", "user", "set", "anna@example.org", "--pop3-folders=Nope")
	if code != 1 || !strings.Contains(errOut, `no folder "Nope"`) {
		t.Fatalf("unknown POP3 folder: code %d, %q", code, errOut)
	}
	code, _, errOut = pochta(t, dir, "", "user", "set", "anna@example.org", "--pop3-delete=shred")
	if code != 2 || !strings.Contains(errOut, "want trash, keep or delete") {
		t.Fatalf("bad --pop3-delete: code %d, %q", code, errOut)
	}
	code, out, _ = pochta(t, dir, "", "user", "passwd", "anna@example.org")
	if code != 0 || !strings.Contains(out, "password: ") {
		t.Fatalf("passwd without stdin must print a generated password: %d %q", code, out)
	}
	code, _, _ = pochta(t, dir, "", "user", "remove", "anna@example.org")
	if code != 0 {
		t.Fatal("user remove failed")
	}
	code, _, errOut = pochta(t, dir, "", "user", "show", "anna@example.org")
	if code != 1 || !strings.Contains(errOut, "not found") {
		t.Fatalf("show removed user: %d %q", code, errOut)
	}
}

func TestUsageErrors(t *testing.T) {
	dir := newConfigDir(t)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"frobnicate"}, "unknown command"},
		{[]string{"user", "add"}, "name one address"},
		{[]string{"user", "set", "a@b.c"}, "nothing to change"},
		{[]string{"alias", "add", "x@example.org"}, "at least one target"},
	} {
		code, _, errOut := pochta(t, dir, "", tc.args...)
		if code == 0 || !strings.Contains(errOut, tc.want) {
			t.Errorf("pochta %v: code %d, stderr %q; want failure mentioning %q", tc.args, code, errOut, tc.want)
		}
	}
}

func TestBadConfigNamesLine(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "pochta.toml"), []byte("hostname = \"x.example\"\n[listen]\nsmpt = \":25\"\n"), 0o600)
	code, _, errOut := pochta(t, dir, "", "domain", "list")
	if code != 1 || !strings.Contains(errOut, "pochta.toml:3") || !strings.Contains(errOut, "listen.smpt") {
		t.Fatalf("bad config: code %d, %q", code, errOut)
	}
}
