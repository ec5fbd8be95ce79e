package e2e

import (
	"context"
	"encoding/xml"
	"net"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// curlWeb runs curl against the web listener and returns what it printed.
func curlWeb(t *testing.T, args ...string) string {
	t.Helper()
	if _, err := exec.LookPath("curl"); err != nil {
		t.Skip("curl is not installed")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "curl", append([]string{"-sS", "--max-time", "20"}, args...)...).Output()
	if err != nil {
		t.Fatalf("curl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

var webCSRFRE = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// webSession is curl with a cookie jar, signed in.
type webSession struct {
	t    *testing.T
	base string
	jar  string
	csrf string
}

func webLogin(t *testing.T, s *Server, addr, password string) *webSession {
	t.Helper()
	w := &webSession{t: t, base: "http://" + s.Addr("http"), jar: filepath.Join(t.TempDir(), "cookies")}
	w.get("/login")
	out := w.post("/login", "address="+addr, "password="+password)
	if !strings.HasPrefix(out, "303 ") || !strings.HasSuffix(out, "/account") {
		t.Fatalf("login %s: %q", addr, out)
	}
	return w
}

// get fetches a page and remembers its CSRF token.
func (w *webSession) get(path string) string {
	w.t.Helper()
	body := curlWeb(w.t, "-b", w.jar, "-c", w.jar, w.base+path)
	if m := webCSRFRE.FindStringSubmatch(body); m != nil {
		w.csrf = m[1]
	}
	return body
}

// post sends a form with the CSRF token and returns "STATUS LOCATION".
func (w *webSession) post(path string, fields ...string) string {
	w.t.Helper()
	args := []string{"-b", w.jar, "-c", w.jar, "-o", "/dev/null", "-w", "%{http_code} %{redirect_url}", "--data-urlencode", "csrf=" + w.csrf}
	for _, f := range fields {
		args = append(args, "--data-urlencode", f)
	}
	return strings.TrimSpace(curlWeb(w.t, append(args, w.base+path)...))
}

func webPort(t *testing.T, addr string) string {
	t.Helper()
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestWebCurl drives the web pages of the real binary with curl: the
// autoconfig documents list the real listeners, a POP3 switch on the
// page takes effect at the next POP3 login, and the failure shows up on
// the owner's page and in /metrics.
func TestWebCurl(t *testing.T) {
	t.Parallel()
	s := StartServer(t, "")
	s.AddUser(t, "alice@example.org", "alice-secret-1")
	base := "http://" + s.Addr("http")

	// Thunderbird autoconfig with the real ports.
	var c struct {
		Incoming []struct {
			Type       string `xml:"type,attr"`
			Hostname   string `xml:"hostname"`
			Port       string `xml:"port"`
			SocketType string `xml:"socketType"`
		} `xml:"emailProvider>incomingServer"`
		Outgoing []struct {
			Port       string `xml:"port"`
			SocketType string `xml:"socketType"`
		} `xml:"emailProvider>outgoingServer"`
	}
	doc := curlWeb(t, base+"/.well-known/autoconfig/mail/config-v1.1.xml?emailaddress=alice@example.org")
	if err := xml.Unmarshal([]byte(doc), &c); err != nil {
		t.Fatalf("autoconfig: %v\n%s", err, doc)
	}
	want := []string{"imap " + webPort(t, s.Addr("imaps")) + " SSL", "imap " + webPort(t, s.Addr("imap")) + " STARTTLS",
		"pop3 " + webPort(t, s.Addr("pop3s")) + " SSL", "pop3 " + webPort(t, s.Addr("pop3")) + " STARTTLS"}
	var got []string
	for _, in := range c.Incoming {
		got = append(got, in.Type+" "+in.Port+" "+in.SocketType)
		if in.Hostname != "mail.example.org" {
			t.Errorf("hostname %q", in.Hostname)
		}
	}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("incoming servers %v, want %v", got, want)
	}
	if len(c.Outgoing) < 2 || c.Outgoing[0].Port != webPort(t, s.Addr("submissions")) || c.Outgoing[0].SocketType != "SSL" {
		t.Errorf("outgoing servers %+v", c.Outgoing)
	}
	// Outlook.
	ad := curlWeb(t, "-H", "Content-Type: text/xml", "--data-binary",
		"<Autodiscover><Request><EMailAddress>alice@example.org</EMailAddress></Request></Autodiscover>", base+"/autodiscover/autodiscover.xml")
	if !strings.Contains(ad, "<Port>"+webPort(t, s.Addr("imaps"))+"</Port>") || !strings.Contains(ad, "<LoginName>alice@example.org</LoginName>") {
		t.Errorf("autodiscover:\n%s", ad)
	}

	w := webLogin(t, s, "alice@example.org", "alice-secret-1")
	page := w.get("/account")
	if !strings.Contains(page, `data-kind="imap" data-port="`+webPort(t, s.Addr("imaps"))+`"`) {
		t.Errorf("the account page lacks the IMAPS port:\n%s", page)
	}
	prof := curlWeb(t, "-b", w.jar, base+"/account/mail.mobileconfig")
	if err := xml.Unmarshal([]byte(prof), new(struct{})); err != nil || !strings.Contains(prof, "<integer>"+webPort(t, s.Addr("imaps"))+"</integer>") {
		t.Errorf("profile (%v):\n%s", err, prof)
	}

	// A form without the token is refused.
	w.get("/account/programs")
	token := w.csrf
	w.csrf = "forged"
	if out := w.post("/account/programs", "imap=on"); !strings.HasPrefix(out, "403") {
		t.Errorf("forged token: %q", out)
	}
	w.csrf = token
	// POP3 off: the next POP3 login fails with the POP3-disabled text.
	if out := w.post("/account/programs", "imap=on", "folders=INBOX", "since=all", "delete=trash"); !strings.HasPrefix(out, "303") {
		t.Fatalf("save: %q", out)
	}
	p := dialPOP3(t, s.Addr("pop3s"), s.TLSConfig())
	p.cmd("USER alice@example.org")
	if r := p.cmd("PASS alice-secret-1"); r != "-ERR [AUTH] Login failure or POP3 disabled" {
		t.Fatalf("POP3 login with POP3 off: %q", r)
	}
	sec := w.get("/account/security")
	if !strings.Contains(sec, "the protocol is switched off for this mailbox") {
		t.Errorf("the sign-in log does not show the reason:\n%s", sec)
	}
	// On again: POP3 works.
	if out := w.post("/account/programs", "imap=on", "pop3=on", "folders=INBOX", "since=all", "delete=trash"); !strings.HasPrefix(out, "303") {
		t.Fatalf("save: %q", out)
	}
	p = dialPOP3(t, s.Addr("pop3s"), s.TLSConfig())
	p.cmd("USER alice@example.org")
	if r := p.cmd("PASS alice-secret-1"); !strings.HasPrefix(r, "+OK") {
		t.Fatalf("POP3 login with POP3 on: %q", r)
	}
	p.cmd("QUIT")
	// Metrics, unauthenticated on the http listener.
	m := curlWeb(t, base+"/metrics")
	if !strings.Contains(m, `mail_logins_total{protocol="pop3",result="protocol"} 1`) {
		t.Errorf("metrics lack the refused POP3 login:\n%s", grepLines(m, "mail_"))
	}
	// Sign out.
	if out := w.post("/logout"); !strings.HasPrefix(out, "303") {
		t.Errorf("logout: %q", out)
	}
	if out := curlWeb(t, "-b", w.jar, "-o", "/dev/null", "-w", "%{http_code}", base+"/account"); out != "303" {
		t.Errorf("after logout /account: %s", out)
	}
	if strings.Contains(strings.ToLower(page+sec+m), "pochta") {
		t.Error("a page names the software")
	}
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
