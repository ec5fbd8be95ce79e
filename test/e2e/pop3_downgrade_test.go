package e2e

import (
	"net"
	"os/exec"
	"strings"
	"testing"
)

// TestPOP3DowngradeSMTPUTF8 delivers a message with UTF-8 headers with
// python3's smtplib over SMTPUTF8 and reads it with python3's poplib,
// which does not issue UTF8: the message comes downgraded (RFC 6856,
// RFC 6857), with 7-bit headers that python's email.header decodes back
// to the same text, LIST and STAT sizes that are the octets RETR sends,
// and TOP giving the same downgraded header. A second session that issues
// UTF8 gets the message as it was delivered.
func TestPOP3DowngradeSMTPUTF8(t *testing.T) {
	t.Parallel()
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 not installed (Debian: python3)")
	}
	s := StartServer(t, "")
	s.AddUser(t, popUser, popPassword)
	host, pSMTP, _ := net.SplitHostPort(s.Addr("smtp"))
	_, pPOP3S, _ := net.SplitHostPort(s.Addr("pop3s"))
	script := pyUTF8Mail + `
import poplib, ssl
host, psmtp, ppop, ca, user, password = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5], sys.argv[6]
send_utf8(host, psmtp, user, "Pop <" + user + ">", "Hallo, viele Grüße!\n.eine Zeile mit Punkt\n")

ctx = ssl.create_default_context(cafile=ca)
ctx.check_hostname = False

def session(utf8):
    p = poplib.POP3_SSL(host, ppop, context=ctx)
    if utf8:
        print("UTF8", p.utf8().decode())
    p.user(user); p.pass_(password)
    n, total = p.stat()
    assert n == 1, n
    listed = int(p.list(1).split()[2])
    resp, lines, _ = p.retr(1)
    body = b"".join(l + b"\r\n" for l in lines)  # poplib un-stuffs
    announced = int(resp.split()[1])
    print("SIZES", "utf8" if utf8 else "plain", total, listed, announced, len(body))
    _, top, _ = p.top(1, 0)
    head = b"".join(l + b"\r\n" for l in top)
    print("TOP-IS-HEADER", body.startswith(head) and head.endswith(b"\r\n\r\n"))
    p.quit()
    return body

body = session(False)
report_downgraded(body)

body = session(True)
print("RAW-SUBJECT", b"\r\nSubject: Gr\xc3\xbc\xc3\x9fe aus K\xc3\xb6ln, sch\xc3\xb6ne Stadt\r\n" in body)
print("RAW-ID", b"\r\nMessage-ID: <gr\xc3\xbc\xc3\x9fe.1@b\xc3\xbccher.example>\r\n" in body)
print("DONE")
`
	out, err := exec.Command(py, "-c", script, host, pSMTP, pPOP3S, s.certFile(), popUser, popPassword).CombinedOutput()
	if err != nil {
		t.Fatalf("python: %v\n%s\nserver log:\n%s", err, out, s.Logs())
	}
	o := string(out)
	for _, want := range append(downgradedReport("Pop <"+popUser+">", "Hallo, viele Grüße!|.eine Zeile mit Punkt"),
		"UTF8 +OK",
		"RAW-SUBJECT True",
		"RAW-ID True",
		"DONE",
	) {
		if !strings.Contains(o, want) {
			t.Errorf("python output lacks %q:\n%s", want, o)
		}
	}
	if n := strings.Count(o, "TOP-IS-HEADER True"); n != 2 {
		t.Errorf("TOP 1 0 is the header of what RETR sends in %d of 2 sessions:\n%s", n, o)
	}
	// STAT, LIST and RETR's status give the octets RETR sends, in both
	// sessions; the downgraded message is not the size of the stored one.
	sizes := map[string]string{}
	for _, l := range strings.Split(o, "\n") {
		f := strings.Fields(l)
		if len(f) != 6 || f[0] != "SIZES" {
			continue
		}
		sizes[f[1]] = f[5]
		if f[2] != f[5] || f[3] != f[5] || f[4] != f[5] {
			t.Errorf("%s session: STAT %s, LIST %s, RETR says %s, sends %s octets", f[1], f[2], f[3], f[4], f[5])
		}
	}
	if len(sizes) != 2 || sizes["plain"] == sizes["utf8"] {
		t.Errorf("sizes per session %v: want two different sizes", sizes)
	}
}
