package e2e

import (
	"net"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestIMAPRecentAndByeWithImaplib drives \Recent and the end of a session
// whose mailbox another session deletes with python3's imaplib, a real
// IMAP4rev1 client.
func TestIMAPRecentAndByeWithImaplib(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("python3"); err != nil {
		t.Skip("python3 not installed")
	}
	s := StartServer(t, "")
	s.AddUser(t, "anna@example.org", "anna-secret-1")
	host, port, _ := net.SplitHostPort(s.Addr("imaps"))
	ca := filepath.Join(s.Dir, "data", "tls", "selfsigned.crt")
	script := `
import imaplib, ssl, sys
host, port, ca = sys.argv[1], int(sys.argv[2]), sys.argv[3]
ctx = ssl.create_default_context(cafile=ca)
ctx.check_hostname = False
def conn():
    m = imaplib.IMAP4_SSL(host, port, ssl_context=ctx)
    check(m.login('anna@example.org', 'anna-secret-1'))
    return m
def check(r):
    typ, data = r
    if typ != 'OK':
        print('FAIL', typ, data); sys.exit(1)
    return data

a, b = conn(), conn()
check(a.append('INBOX', None, None, b'Subject: one\r\n\r\n1\r\n'))
check(a.append('INBOX', '(\\Seen)', None, b'Subject: two\r\n\r\n2\r\n'))
print('STATUS1', check(a.status('INBOX', '(RECENT)'))[0].decode())
check(a.select('INBOX'))
print('A_RECENT', a.response('RECENT')[1])
print('A_SEARCH_RECENT', check(a.search(None, 'RECENT'))[0].decode())
print('A_SEARCH_NEW', check(a.search(None, 'NEW'))[0].decode())
print('A_FLAGS', check(a.fetch('1', '(FLAGS)'))[0].decode())
check(b.select('INBOX'))
print('B_RECENT', b.response('RECENT')[1])
print('B_SEARCH_OLD', check(b.search(None, 'OLD'))[0].decode())
print('B_FLAGS', check(b.fetch('1', '(FLAGS)'))[0].decode())
print('STATUS2', check(b.status('INBOX', '(RECENT)'))[0].decode())

# The selected mailbox deleted by the other session: BYE.
check(b.create('Work'))
check(b.append('Work', None, None, b'Subject: w\r\n\r\nw\r\n'))
check(b.select('Work'))
check(a.delete('Work'))
try:
    b.noop()
    print('NOOP-AFTER-DELETE-ANSWERED')
except imaplib.IMAP4.abort as e:
    print('ABORT', e)
check(a.noop())
a.logout()
print('DONE')
`
	out, err := exec.Command("python3", "-c", script, host, port, ca).CombinedOutput()
	if err != nil {
		t.Fatalf("imaplib: %v\n%s\nserver log:\n%s", err, out, s.Logs())
	}
	o := string(out)
	for _, want := range []string{
		`STATUS1 "INBOX" (RECENT 2)`,
		"A_RECENT [b'2']", "A_SEARCH_RECENT 1 2", "A_SEARCH_NEW 1", `A_FLAGS 1 (FLAGS (\Recent))`,
		"B_RECENT [b'0']", "B_SEARCH_OLD 1 2", "B_FLAGS 1 (FLAGS ())",
		`STATUS2 "INBOX" (RECENT 0)`,
		"ABORT", "deleted by another session", "DONE",
	} {
		if !strings.Contains(o, want) {
			t.Errorf("imaplib output lacks %q:\n%s", want, o)
		}
	}
	if strings.Contains(o, "NOOP-AFTER-DELETE-ANSWERED") {
		t.Errorf("a session whose mailbox was deleted went on:\n%s", o)
	}
}

// TestIMAPMultiappend sends several messages in one APPEND (RFC 3502) to
// the real server: a large one (4 MiB) streamed with LITERAL+, all stored
// with one APPENDUID; and, over quota, none stored at all.
func TestIMAPMultiappend(t *testing.T) {
	t.Parallel()
	s := StartServer(t, "")
	s.AddUser(t, "anna@example.org", "anna-secret-1")
	s.Pochta(t, "user", "set", "anna@example.org", "--quota=6MiB")
	a := dialIMAPS(t, s)
	a.ok(`LOGIN anna@example.org anna-secret-1`)
	watcher := dialIMAPS(t, s)
	watcher.ok(`LOGIN anna@example.org anna-secret-1`)
	watcher.ok("SELECT Sent")

	small := "Subject: small\r\n\r\nsmall body\r\n"
	var big strings.Builder
	big.WriteString("Subject: big\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n")
	line := strings.Repeat("QUJD", 19) + "\r\n"
	// 4 MiB: above the 1 MiB bound of a command's in-memory text and the
	// stores' in-memory/inline body sizes, so it must stream; twice of
	// it is over the 6 MiB quota.
	for big.Len() < 4<<20 {
		big.WriteString(line)
	}
	big.WriteString("END\r\n")
	lit := func(m string) string { return "{" + strconv.Itoa(len(m)) + "+}\r\n" + m }
	a.write("m APPEND Sent (\\Seen) " + lit(small) + " " + lit(big.String()) + " (\\Flagged) " + lit(small) + "\r\n")
	var tagged string
	for {
		if l := a.line(); strings.HasPrefix(l, "m ") {
			tagged = l
			break
		}
	}
	if !strings.HasPrefix(tagged, "m OK [APPENDUID ") || !strings.Contains(tagged, " 1:3]") {
		t.Fatalf("MULTIAPPEND: %q\n%s", tagged, s.Logs())
	}
	mustContain(t, watcher.ok("NOOP"), "* 3 EXISTS")
	u := watcher.ok("FETCH 2 (RFC822.SIZE BODY.PEEK[TEXT]<" + strconv.Itoa(big.Len()-200) + ".500>)")
	mustContain(t, u, "RFC822.SIZE "+strconv.Itoa(big.Len()))
	mustContain(t, u, "END")
	mustContain(t, watcher.ok("FETCH 3 FLAGS"), `\Flagged`)

	// Over the quota on the third message: nothing of the batch stays.
	a.write("q APPEND Sent " + lit(small) + " " + lit(small) + " " + lit(big.String()) + "\r\n")
	for {
		if l := a.line(); strings.HasPrefix(l, "q ") {
			tagged = l
			break
		}
	}
	if !strings.HasPrefix(tagged, "q NO [OVERQUOTA]") {
		t.Fatalf("MULTIAPPEND over quota: %q", tagged)
	}
	mustContain(t, a.ok("STATUS Sent (MESSAGES)"), "(MESSAGES 3)")
	for _, l := range watcher.ok("NOOP") {
		if strings.Contains(l, "EXISTS") || strings.Contains(l, "EXPUNGE") {
			t.Fatalf("refused batch visible to another session: %q", l)
		}
	}
}
