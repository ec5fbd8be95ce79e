package e2e

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestPOP3APOP sets APOP secrets with `pochta user set --apop-secret`
// (read from stdin, generated, removed) and logs in with python3 poplib's
// apop() over port 995; without TLS, under the default secure policy,
// APOP is refused like a password.
func TestPOP3APOP(t *testing.T) {
	t.Parallel()
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 not installed (Debian package python3)")
	}
	s := StartServer(t, "[pop3]\napop = true\n")
	s.AddUser(t, popUser, popPassword)
	stored := deliverPOP3Mail(t, s, popUser, []string{"Subject: apop\r\n\r\nfetched with APOP\r\n"})

	setSecret := func(stdin string, args ...string) (string, error) {
		cmd := exec.Command(pochtaBin, append([]string{"user", "set", popUser, "--config", s.Config}, args...)...)
		cmd.Stdin = strings.NewReader(stdin)
		out, err := cmd.Output()
		return string(out), err
	}
	// The login password is refused as the APOP secret.
	if out, err := setSecret(popPassword+"\n", "--apop-secret=stdin"); err == nil {
		t.Fatalf("the password was accepted as the APOP secret: %s", out)
	}
	if _, err := setSecret("my apop secret\n", "--apop-secret=stdin"); err != nil {
		t.Fatalf("user set --apop-secret=stdin: %v", err)
	}
	st, err := os.Stat(filepath.Join(s.Dir, "data", "secret.key"))
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("server key: %v, mode %v", err, st.Mode())
	}
	var v struct {
		APOP     bool            `json:"apop"`
		Settings json.RawMessage `json:"settings"`
	}
	show := s.Pochta(t, "user", "show", popUser, "--json")
	if err := json.Unmarshal([]byte(show), &v); err != nil || !v.APOP || strings.Contains(show, "apop_secret") {
		t.Fatalf("user show: %v\n%s", err, show)
	}

	script := `
import os, poplib, ssl, sys
host, port = os.environ["POP_ADDR"].rsplit(":", 1)
ctx = ssl.create_default_context(cafile=os.environ["POP_CA"])
if os.environ["POP_MODE"] == "pop3s":
    p = poplib.POP3_SSL(host, int(port), context=ctx)
else:
    p = poplib.POP3(host, int(port))
try:
    p.apop(os.environ["POP_USER"], os.environ["POP_SECRET"])
except poplib.error_proto as e:
    print("refused:", e.args[0].decode())
    sys.exit(3)
resp, lines, octets = p.retr(1)
sys.stdout.buffer.write(b"".join(l + b"\r\n" for l in lines))
p.quit()
`
	apop := func(mode, secret string) (string, int) {
		t.Helper()
		cmd := exec.Command(py, "-c", script)
		cmd.Env = append(os.Environ(), "POP_ADDR="+s.Addr(mode), "POP_CA="+s.certFile(), "POP_MODE="+mode,
			"POP_USER="+popUser, "POP_SECRET="+secret)
		out, err := cmd.Output()
		if ee, ok := err.(*exec.ExitError); ok {
			return string(out), ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		return string(out), 0
	}
	if out, code := apop("pop3s", "my apop secret"); code != 0 || out != stored[0] {
		t.Fatalf("poplib apop(): exit %d, %q", code, out)
	}
	const failed = "refused: -ERR [AUTH] APOP failure: wrong digest, no APOP secret set for this account, or POP3 disabled\n"
	if out, code := apop("pop3s", popPassword); code != 3 || out != failed {
		t.Fatalf("APOP with the password as secret: exit %d, %q", code, out)
	}
	if out, code := apop("pop3", "my apop secret"); code != 3 || out != "refused: -ERR [AUTH] Authentication requires TLS (use STLS or port 995)\n" {
		t.Fatalf("APOP without TLS: exit %d, %q", code, out)
	}

	// A generated secret is printed once, and replaces the old one.
	out, err := setSecret("", "--apop-secret")
	if err != nil {
		t.Fatalf("user set --apop-secret: %v", err)
	}
	_, gen, ok := strings.Cut(out, "apop secret: ")
	gen = strings.TrimSpace(gen)
	if !ok || len(gen) < 20 {
		t.Fatalf("no generated secret in %q", out)
	}
	if out, code := apop("pop3s", gen); code != 0 || out != stored[0] {
		t.Fatalf("APOP with the generated secret: exit %d, %q", code, out)
	}
	if out, code := apop("pop3s", "my apop secret"); code != 3 || out != failed {
		t.Fatalf("APOP with the replaced secret: exit %d, %q", code, out)
	}
	// Off: APOP fails with the same answer; the log says why.
	if _, err := setSecret("", "--apop-secret=off"); err != nil {
		t.Fatalf("user set --apop-secret=off: %v", err)
	}
	if out, code := apop("pop3s", gen); code != 3 || out != failed {
		t.Fatalf("APOP after --apop-secret=off: exit %d, %q", code, out)
	}
	// The server's log is read asynchronously: wait for the line.
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(s.Logs(), "has no APOP secret") {
		if time.Now().After(deadline) {
			t.Fatalf("reason not logged:\n%s", s.Logs())
		}
		time.Sleep(50 * time.Millisecond)
	}
	if strings.Contains(s.Logs(), gen) || strings.Contains(s.Logs(), "my apop secret") {
		t.Fatal("the log holds an APOP secret")
	}
}
