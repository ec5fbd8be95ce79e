package e2e

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/emersion/go-imap/v2"
)

// maildirMsg is one message file of a Maildir.
type maildirMsg struct {
	Path  string
	Flags string // the letters after ":2,"
	Body  []byte
}

// readMaildir returns the messages of a Maildir (new/ and cur/) keyed by
// Message-ID.
func readMaildir(t testing.TB, dir string) map[string]maildirMsg {
	t.Helper()
	out := map[string]maildirMsg{}
	for _, sub := range []string{"new", "cur"} {
		ents, err := os.ReadDir(filepath.Join(dir, sub))
		if err != nil {
			t.Fatalf("read maildir: %v", err)
		}
		for _, e := range ents {
			p := filepath.Join(dir, sub, e.Name())
			body, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			id := messageID(body)
			if id == "" {
				t.Fatalf("maildir file %s has no Message-ID", p)
			}
			if _, dup := out[id]; dup {
				t.Fatalf("Message-ID %s twice in the Maildir", id)
			}
			flags := ""
			if _, info, ok := strings.Cut(e.Name(), ":2,"); ok {
				flags = info
			}
			out[id] = maildirMsg{Path: p, Flags: flags, Body: body}
		}
	}
	return out
}

// maildirFlags maps Maildir flag letters to IMAP flags.
var maildirFlags = map[byte]imap.Flag{'D': imap.FlagDraft, 'F': imap.FlagFlagged, 'R': imap.FlagAnswered, 'S': imap.FlagSeen, 'T': imap.FlagDeleted}

// setMaildirFlag renames a Maildir file so that it carries flag letter f.
func setMaildirFlag(t testing.TB, m maildirMsg, f byte) {
	t.Helper()
	dir, name := filepath.Split(m.Path)
	base, info, _ := strings.Cut(name, ":2,")
	letters := []byte(info)
	if !slices.Contains(letters, f) {
		letters = append(letters, f)
	}
	slices.Sort(letters)
	newPath := filepath.Join(filepath.Dir(filepath.Clean(dir)), "cur", base+":2,"+string(letters))
	if err := os.Rename(m.Path, newPath); err != nil {
		t.Fatal(err)
	}
}

// tuidRE matches the X-TUID header mbsync adds to every message it copies
// (it uses it to find the copy's UID again).
var tuidRE = regexp.MustCompile(`(?m)^X-TUID: [A-Za-z0-9+/]{12}\r?\n`)

// stripTUID removes mbsync's X-TUID line from the header of a message.
func stripTUID(msg []byte) []byte {
	end := bytes.Index(msg, []byte("\n\n"))
	if end < 0 {
		return msg
	}
	return append(tuidRE.ReplaceAll(msg[:end+1], nil), msg[end+1:]...)
}

// compareSides checks that the server's INBOX and the Maildir hold the same
// messages with the same flags, and the same bytes once the server's CRLF
// line endings are taken as LF (as mbsync stores them) and the X-TUID line
// mbsync adds to the copies it makes is left out on both sides.
func compareSides(t *testing.T, server map[string]serverMsg, local map[string]maildirMsg, want int) {
	t.Helper()
	if len(server) != want || len(local) != want {
		t.Fatalf("server has %d messages, Maildir %d; want %d each", len(server), len(local), want)
	}
	bad := 0
	for id, sm := range server {
		lm, ok := local[id]
		if !ok {
			t.Errorf("%s is on the server but not in the Maildir", id)
			bad++
			continue
		}
		srv := bytes.ReplaceAll(sm.Body, []byte("\r\n"), []byte("\n"))
		if bytes.Count(srv, []byte("\r")) != bytes.Count(sm.Body, []byte("\r"))-bytes.Count(sm.Body, []byte("\r\n")) || bytes.Count(srv, []byte("\n")) != bytes.Count(sm.Body, []byte("\r\n")) {
			t.Errorf("%s: the server sends a bare LF", id)
		}
		// mbsync does not enable UTF8=ACCEPT: messages with UTF-8 headers
		// reach it downgraded (RFC 6857), and ones it uploaded are kept
		// as it sent them, so the two copies may differ in header
		// encoding only.
		if a, b := stripTUID(srv), stripTUID(lm.Body); !bytes.Equal(a, b) && !sameDecoded(a, b) {
			t.Errorf("%s differs: server %d bytes, Maildir %d bytes\nserver:  %.300q\nMaildir: %.300q", id, len(a), len(b), a, b)
			bad++
		}
		for letter, flag := range maildirFlags {
			if strings.IndexByte(lm.Flags, letter) >= 0 != hasFlag(sm.Flags, flag) {
				t.Errorf("%s: Maildir flags %q, server flags %v", id, lm.Flags, sm.Flags)
				bad++
				break
			}
		}
		if bad > 10 {
			t.Fatal("too many differences")
		}
	}
}

// TestIMAPMbsync syncs a 200-message mailbox between pochta and a local
// Maildir with mbsync (isync): down, then new messages both ways, then flag
// changes and deletions on each side, checking after each sync that both
// sides agree message for message, flag for flag and byte for byte.
func TestIMAPMbsync(t *testing.T) {
	t.Parallel()
	mbsync, err := exec.LookPath("mbsync")
	if err != nil {
		t.Skip("mbsync (Debian package isync) not installed")
	}
	s := StartServer(t, "")
	s.AddUser(t, "anna@example.org", "anna-secret-1")
	c := goIMAP(t, s, "anna@example.org", "anna-secret-1")

	// 200 mixed messages: 196 APPENDed (some with flags), 4 by SMTP.
	// Every kind of message, flag mix and delivery path occurs many
	// times, and the flag and deletion steps below work on the first 71.
	const initial = 200
	for i := range initial {
		msg := mixedMessage("m", i)
		if i%50 == 49 {
			if err := sendSMTP(s, "boris@example.net", "anna@example.org", string(msg)); err != nil {
				t.Fatalf("SMTP delivery %d: %v\n%s", i, err, s.Logs())
			}
			continue
		}
		var flags []imap.Flag
		if i%4 == 0 {
			flags = append(flags, imap.FlagSeen)
		}
		if i%17 == 0 {
			flags = append(flags, imap.FlagFlagged)
		}
		appendMsg(t, c, "INBOX", msg, flags...)
	}

	work := t.TempDir()
	maildir := filepath.Join(work, "mail", "INBOX")
	host, port, _ := net.SplitHostPort(s.Addr("imaps"))
	rc := fmt.Sprintf(`IMAPAccount pochta
Host %s
Port %s
User anna@example.org
Pass anna-secret-1
SSLType IMAPS
CertificateFile %s

IMAPStore remote
Account pochta

MaildirStore local
Path %s/
Inbox %s
SubFolders Verbatim

Channel inbox
Far :remote:
Near :local:
Patterns INBOX
Create Both
Expunge Both
SyncState *
Sync All
`, host, port, filepath.Join(s.Dir, "data", "tls", "selfsigned.crt"), filepath.Join(work, "mail"), maildir)
	if err := os.MkdirAll(filepath.Join(work, "mail"), 0o700); err != nil {
		t.Fatal(err)
	}
	rcFile := filepath.Join(work, "mbsyncrc")
	if err := os.WriteFile(rcFile, []byte(rc), 0o600); err != nil {
		t.Fatal(err)
	}
	sync := func(step string) {
		t.Helper()
		out, err := exec.Command(mbsync, "-c", rcFile, "-V", "inbox").CombinedOutput()
		if err != nil {
			t.Fatalf("mbsync (%s): %v\n%s\nserver log:\n%s", step, err, out, s.Logs())
		}
		t.Logf("mbsync (%s): %s", step, lastLines(string(out), 3))
	}

	sync("initial download")
	compareSides(t, fetchAll(t, c, "INBOX"), readMaildir(t, maildir), initial)

	// New messages on both sides.
	const added = 20
	for i := range added {
		appendMsg(t, c, "INBOX", mixedMessage("server-new", i))
		lf := bytes.ReplaceAll(mixedMessage("local-new", i), []byte("\r\n"), []byte("\n"))
		name := filepath.Join(maildir, "new", fmt.Sprintf("1700000000.local%d.test", i))
		if err := os.WriteFile(name, lf, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	sync("new messages both ways")
	server := fetchAll(t, c, "INBOX")
	local := readMaildir(t, maildir)
	compareSides(t, server, local, initial+2*added)
	for i := range added {
		for _, id := range []string{fmt.Sprintf("<server-new-%d@example.org>", i), fmt.Sprintf("<local-new-%d@example.org>", i)} {
			if _, ok := server[id]; !ok {
				t.Errorf("%s missing after sync", id)
			}
		}
	}

	// Flags: seen, flagged and deleted set on the Maildir side for some
	// messages, on the server for others, and removed on each side.
	wantGone := map[string]bool{}
	ids := func(prefix string, from, to int) []string {
		var r []string
		for i := from; i < to; i++ {
			r = append(r, fmt.Sprintf("<%s-%d@example.org>", prefix, i))
		}
		return r
	}
	for _, id := range ids("m", 1, 11) {
		setMaildirFlag(t, local[id], 'S')
	}
	for _, id := range ids("m", 11, 21) {
		setMaildirFlag(t, local[id], 'F')
	}
	for _, id := range append(ids("m", 21, 31), ids("server-new", 0, 5)...) {
		setMaildirFlag(t, local[id], 'T')
		wantGone[id] = true
	}
	storeUIDs := func(idList []string, op imap.StoreFlagsOp, f imap.Flag) {
		t.Helper()
		var set imap.UIDSet
		for _, id := range idList {
			set.AddNum(server[id].UID)
		}
		if _, err := c.Select("INBOX", nil).Wait(); err != nil {
			t.Fatal(err)
		}
		if err := c.Store(set, &imap.StoreFlags{Op: op, Silent: true, Flags: []imap.Flag{f}}, nil).Close(); err != nil {
			t.Fatalf("store %v %s: %v", op, f, err)
		}
	}
	storeUIDs(ids("m", 41, 51), imap.StoreFlagsAdd, imap.FlagSeen)
	storeUIDs(ids("m", 51, 61), imap.StoreFlagsAdd, imap.FlagFlagged)
	storeUIDs(append(ids("m", 61, 71), ids("local-new", 0, 5)...), imap.StoreFlagsAdd, imap.FlagDeleted)
	for _, id := range append(ids("m", 61, 71), ids("local-new", 0, 5)...) {
		wantGone[id] = true
	}
	storeUIDs(ids("m", 32, 40), imap.StoreFlagsDel, imap.FlagSeen) // m-32 and m-36 were \Seen
	sync("flag changes both ways")
	server = fetchAll(t, c, "INBOX")
	local = readMaildir(t, maildir)
	compareSides(t, server, local, initial+2*added-len(wantGone))
	for id := range wantGone {
		if _, ok := server[id]; ok {
			t.Errorf("%s was deleted but is still on the server", id)
		}
	}
	for _, id := range ids("m", 1, 11) {
		if !hasFlag(server[id].Flags, imap.FlagSeen) {
			t.Errorf("%s: \\Seen set in the Maildir did not reach the server: %v", id, server[id].Flags)
		}
	}
	for _, id := range ids("m", 11, 21) {
		if !hasFlag(server[id].Flags, imap.FlagFlagged) {
			t.Errorf("%s: \\Flagged set in the Maildir did not reach the server: %v", id, server[id].Flags)
		}
	}
	for _, id := range ids("m", 41, 51) {
		if !strings.Contains(local[id].Flags, "S") {
			t.Errorf("%s: \\Seen set on the server did not reach the Maildir: %q", id, local[id].Flags)
		}
	}
	for _, id := range ids("m", 51, 61) {
		if !strings.Contains(local[id].Flags, "F") {
			t.Errorf("%s: \\Flagged set on the server did not reach the Maildir: %q", id, local[id].Flags)
		}
	}
	for _, id := range ids("m", 32, 40) {
		if strings.Contains(local[id].Flags, "S") {
			t.Errorf("%s: \\Seen removed on the server is still set in the Maildir: %q", id, local[id].Flags)
		}
	}

	// A further sync finds nothing to do and changes nothing.
	sync("no changes")
	compareSides(t, fetchAll(t, c, "INBOX"), readMaildir(t, maildir), initial+2*added-len(wantGone))
}

// lastLines returns the last n lines of s.
func lastLines(s string, n int) string {
	l := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(l) > n {
		l = l[len(l)-n:]
	}
	return strings.Join(l, "\n")
}
