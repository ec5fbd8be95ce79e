package e2e

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/emersion/go-imap/v2"
)

// TestIMAPCurl reads a mailbox with curl over imaps:// (the server's
// certificate trusted with --cacert) and over imap:// with STARTTLS
// (--ssl-reqd): folder list, a message by UID and by sequence number, a
// section, a search and a custom command, checking what curl prints.
func TestIMAPCurl(t *testing.T) {
	t.Parallel()
	curl, err := exec.LookPath("curl")
	if err != nil {
		t.Skip("curl not installed")
	}
	s := StartServer(t, "")
	s.AddUser(t, "anna@example.org", "anna-secret-1")
	c := goIMAP(t, s, "anna@example.org", "anna-secret-1")
	msgs := [][]byte{
		[]byte("From: Boris <boris@example.net>\r\nTo: anna@example.org\r\nSubject: first letter\r\nMessage-ID: <c1@example.net>\r\n\r\nHello Anna.\r\n"),
		mixedMessage("curl", 1), // UTF-8 headers
		mixedMessage("curl", 2), // attachment
	}
	for i, m := range msgs {
		var flags []imap.Flag
		if i == 0 {
			flags = []imap.Flag{imap.FlagSeen}
		}
		appendMsg(t, c, "INBOX", m, flags...)
	}
	ca := filepath.Join(s.Dir, "data", "tls", "selfsigned.crt")
	imaps := "imaps://" + s.Addr("imaps")
	imapPlain := "imap://" + s.Addr("imap")
	run := func(args ...string) ([]byte, error) {
		t.Helper()
		cmd := exec.Command(curl, append([]string{"--silent", "--show-error", "--max-time", "60", "--user", "anna@example.org:anna-secret-1"}, args...)...)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			return out, errors.Join(err, errors.New(stderr.String()))
		}
		return out, nil
	}
	mustRun := func(args ...string) []byte {
		t.Helper()
		out, err := run(args...)
		if err != nil {
			t.Fatalf("curl %s: %v\n%s\nserver log:\n%s", strings.Join(args, " "), err, out, s.Logs())
		}
		return out
	}

	// One curl run, one login (argon2id is slow under the race detector),
	// several URLs in turn over the same connection, each printed to its
	// own file.
	outDir := t.TempDir()
	urls := []struct{ name, url string }{
		{"unseen-before", "/INBOX?UNSEEN"},
		{"list", "/"},
		{"uid1", "/INBOX/;UID=1"},
		{"uid2", "/INBOX/;UID=2"},
		{"uid3", "/INBOX/;UID=3"},
		{"index2", "/INBOX/;MAILINDEX=2"},
		{"text", "/INBOX/;UID=1/;SECTION=TEXT"},
		{"partial", "/INBOX/;UID=1/;PARTIAL=6.5"},
		{"subject", "/INBOX?SUBJECT%20%22first%20letter%22"},
		{"body", "/INBOX?BODY%20attachment"},
		{"unseen-after", "/INBOX?UNSEEN"},
	}
	args := []string{"--cacert", ca}
	for _, u := range urls {
		args = append(args, imaps+u.url, "--output", filepath.Join(outDir, u.name))
	}
	mustRun(args...)
	got := func(name string) string {
		t.Helper()
		b, err := os.ReadFile(filepath.Join(outDir, name))
		if err != nil {
			t.Fatalf("curl output %s: %v", name, err)
		}
		return string(b)
	}
	if g := got("unseen-before"); strings.TrimSpace(g) != "* SEARCH 2 3" {
		t.Errorf("curl UNSEEN search printed %q", g)
	}
	list := got("list")
	for _, want := range []string{`* LIST (\HasNoChildren) "/" "INBOX"`, `\Sent) "/" "Sent"`, `\Trash) "/" "Trash"`} {
		if !strings.Contains(list, want) {
			t.Errorf("curl list lacks %q:\n%s", want, list)
		}
	}
	// Whole messages by UID and by sequence number: byte for byte, but
	// for the UTF-8 header fields, which reach curl (no UTF8=ACCEPT) as
	// 7-bit encoded words that decode to the same text (RFC 6857).
	same := func(got string, want []byte) bool {
		if !utf8HeaderBytes(want) {
			return got == string(want)
		}
		return !utf8HeaderBytes([]byte(got)) && sameDecoded([]byte(got), want)
	}
	for i, want := range msgs {
		if g := got("uid" + strconv.Itoa(i+1)); !same(g, want) {
			t.Errorf("curl UID=%d printed %q, want %q", i+1, g, want)
		}
	}
	if g := got("index2"); !same(g, msgs[1]) {
		t.Errorf("curl MAILINDEX=2 printed %q, want %q", g, msgs[1])
	}
	// A section and a partial fetch.
	if g := got("text"); g != "Hello Anna.\r\n" {
		t.Errorf("curl SECTION=TEXT printed %q", g)
	}
	if g := got("partial"); g != "Boris" {
		t.Errorf("curl PARTIAL=6.5 printed %q", g)
	}
	// Searches by header and by body text.
	if g := got("subject"); strings.TrimSpace(g) != "* SEARCH 1" {
		t.Errorf("curl SUBJECT search printed %q", g)
	}
	if g := got("body"); strings.TrimSpace(g) != "* SEARCH 3" {
		t.Errorf("curl BODY search printed %q", g)
	}
	// curl fetches with BODY[] (not BODY.PEEK[]): every message it
	// printed is now \Seen.
	if g := got("unseen-after"); strings.TrimSpace(g) != "* SEARCH" {
		t.Errorf("curl UNSEEN search after the fetches printed %q", g)
	}
	// A custom command prints the untagged responses.
	ex := string(mustRun("--cacert", ca, "--request", "EXAMINE INBOX", imaps+"/"))
	for _, want := range []string{"* 3 EXISTS", "* OK [UIDVALIDITY ", "* OK [UIDNEXT 4]"} {
		if !strings.Contains(ex, want) {
			t.Errorf("curl EXAMINE output lacks %q:\n%s", want, ex)
		}
	}

	// STARTTLS on the plain port.
	if got := mustRun("--ssl-reqd", "--cacert", ca, imapPlain+"/INBOX/;UID=3"); !bytes.Equal(got, msgs[2]) {
		t.Errorf("curl STARTTLS UID=3 printed %q, want %q", got, msgs[2])
	}
	// Without TLS the password is refused (LOGINDISABLED): curl exits
	// with 67, login denied, and prints no mail.
	out, err := run(imapPlain + "/INBOX/;UID=1")
	if code := exitCode(err); code != 67 || len(out) != 0 {
		t.Errorf("curl without TLS: exit %d (%v), printed %q; want exit 67 and nothing", code, err, out)
	}
	// A CA bundle that does not hold the server's certificate: curl
	// refuses the server (exit 60).
	out, err = run("--cacert", "/etc/ssl/certs/ca-certificates.crt", imaps+"/INBOX/;UID=1")
	if code := exitCode(err); code != 60 || len(out) != 0 {
		t.Errorf("curl with another CA: exit %d (%v), printed %q; want exit 60", code, err, out)
	}
}

// exitCode returns the exit status in err (-1 if it is not an exit error,
// 0 for nil).
func exitCode(err error) int {
	if err == nil {
		return 0
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	return -1
}
