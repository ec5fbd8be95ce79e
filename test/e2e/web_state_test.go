package e2e

import (
	"regexp"
	"strings"
	"testing"
)

// TestWebSignInsSurviveRestart: a browser session and the sign-in log live
// in the store, so after a restart the browser is still signed in and the
// page still lists the POP3 sign-ins made before it (a success and a wrong
// password), each with its protocol and client address.
func TestWebSignInsSurviveRestart(t *testing.T) {
	t.Parallel()
	s := StartServer(t, "")
	s.AddUser(t, "alice@example.org", "alice-secret-1")
	w := webLogin(t, s, "alice@example.org", "alice-secret-1")

	p := dialPOP3(t, s.Addr("pop3s"), s.TLSConfig())
	p.cmd("USER alice@example.org")
	if r := p.cmd("PASS alice-secret-1"); !strings.HasPrefix(r, "+OK") {
		t.Fatalf("POP3 login: %q", r)
	}
	p.cmd("QUIT")
	p = dialPOP3(t, s.Addr("pop3s"), s.TLSConfig())
	p.cmd("USER alice@example.org")
	if r := p.cmd("PASS wrong-password"); !strings.HasPrefix(r, "-ERR") {
		t.Fatalf("POP3 login with a wrong password: %q", r)
	}

	s.Restart(t)
	w.base = "http://" + s.Addr("http")
	sec := w.get("/account/security")
	if !strings.Contains(sec, "alice@example.org") {
		t.Fatalf("not signed in after the restart:\n%s", sec)
	}
	row := regexp.MustCompile(`<tr class="(ok|failed)"><td>[^<]*</td><td>([^<]*)</td><td>([^<]*)</td><td>([^<]*)</td></tr>`)
	var rows []string
	for _, m := range row.FindAllStringSubmatch(sec, -1) {
		rows = append(rows, m[1]+" "+m[2]+" "+m[3]+" "+m[4])
	}
	want := []string{"failed POP3 127.0.0.1 wrong password", "ok POP3 127.0.0.1 success", "ok web 127.0.0.1 success"}
	if strings.Join(rows, "\n") != strings.Join(want, "\n") {
		t.Errorf("sign-ins after the restart:\n%s\nwant\n%s", strings.Join(rows, "\n"), strings.Join(want, "\n"))
	}
}
