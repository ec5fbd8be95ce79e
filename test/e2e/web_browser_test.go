package e2e

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// chromiumPath finds the Debian chromium (packages: chromium).
func chromiumPath() string {
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// TestWebBrowser drives the pages in headless Chromium like a person:
// sign in, switch POP3 off and see a POP3 login fail with the
// POP3-disabled text, switch it on, make an app password and log in to
// IMAP with it, switch the page to Russian and back. With
// SCREENSHOT_DIR set, it saves screenshots of the main pages there.
func TestWebBrowser(t *testing.T) {
	t.Parallel()
	exe := chromiumPath()
	if exe == "" {
		t.Skip("chromium is not installed (Debian package: chromium)")
	}
	s := StartServer(t, "")
	s.AddUser(t, "alice@example.org", "alice-secret-1")
	base := "http://" + s.Addr("http")

	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(exe),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("lang", "en-US"),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1100, 900),
	}
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelA()
	ctx, cancel := chromedp.NewContext(actx)
	defer cancel()
	ctx, cancelT := context.WithTimeout(ctx, 2*time.Minute)
	defer cancelT()
	shots := os.Getenv("SCREENSHOT_DIR")
	shot := func(name string) chromedp.Action[chromedp.Void] {
		return chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
			if shots == "" {
				return nil
			}
			buf, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
			if err != nil {
				return err
			}
			return os.WriteFile(filepath.Join(shots, name+".png"), buf, 0o644)
		})
	}
	// dropFlash removes the notice of an earlier save.
	dropFlash := chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		_, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.querySelectorAll(".flash").forEach(e => e.remove()); true`))
		return err
	})
	run := func(what string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(ctx, actions...); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	eval := func(expr string) bool {
		t.Helper()
		v, err := chromedp.Run(ctx, chromedp.Evaluate[bool](expr))
		if err != nil {
			t.Fatalf("%s: %v", expr, err)
		}
		return v
	}
	text := func(sel string) string {
		t.Helper()
		v, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
		if err != nil {
			t.Fatalf("text of %s: %v", sel, err)
		}
		return strings.TrimSpace(v)
	}
	pop3Checked := `document.getElementById("pop3").checked`
	htmlLang := `document.documentElement.lang`

	run("sign in",
		chromedp.Navigate(base+"/login"),
		chromedp.WaitVisible(chromedp.CSS("#address")),
		shot("login"),
		chromedp.SendKeys(chromedp.CSS("#address"), "alice@example.org"),
		chromedp.SendKeys(chromedp.CSS("#password"), "alice-secret-1"),
		chromedp.Click(chromedp.CSS("#login-submit")),
		chromedp.WaitVisible(chromedp.CSS("#setup")),
		shot("account"),
	)

	// POP3 off.
	run("open mail programs",
		chromedp.Click(chromedp.CSS("#nav-programs")),
		chromedp.WaitVisible(chromedp.CSS("#pop3")),
	)
	if !eval(pop3Checked) {
		t.Fatal("POP3 is not on for a new account")
	}
	run("switch POP3 off",
		chromedp.Click(chromedp.CSS("#pop3")),
		// Drop the previous notice first, so the wait below sees the
		// page the save answers with, not the old one.
		dropFlash,
		chromedp.Click(chromedp.CSS("#programs-save")),
		chromedp.WaitVisible(chromedp.CSS(".flash")),
	)
	if eval(pop3Checked) {
		t.Fatal("POP3 still checked after saving it off")
	}
	p := dialPOP3(t, s.Addr("pop3s"), s.TLSConfig())
	p.cmd("USER alice@example.org")
	if r := p.cmd("PASS alice-secret-1"); r != "-ERR [AUTH] Login failure or POP3 disabled" {
		t.Fatalf("POP3 login with POP3 off: %q", r)
	}
	run("switch POP3 on",
		chromedp.Click(chromedp.CSS("#pop3")),
		// Drop the previous notice first, so the wait below sees the
		// page the save answers with, not the old one.
		dropFlash,
		chromedp.Click(chromedp.CSS("#programs-save")),
		chromedp.WaitVisible(chromedp.CSS(".flash")),
		shot("programs"),
	)
	if !eval(pop3Checked) {
		t.Fatal("POP3 not checked after saving it on")
	}
	p = dialPOP3(t, s.Addr("pop3s"), s.TLSConfig())
	p.cmd("USER alice@example.org")
	if r := p.cmd("PASS alice-secret-1"); !strings.HasPrefix(r, "+OK") {
		t.Fatalf("POP3 login with POP3 on: %q", r)
	}
	p.cmd("QUIT")

	// An app password, used over IMAP.
	run("create an app password",
		chromedp.Click(chromedp.CSS("#nav-security")),
		chromedp.WaitVisible(chromedp.CSS("#app-name")),
		chromedp.SendKeys(chromedp.CSS("#app-name"), "Phone"),
		chromedp.Click(chromedp.CSS("#app-create")),
		chromedp.WaitVisible(chromedp.CSS("#secret")),
		shot("security"),
	)
	secret := text("#secret")
	if len(secret) < 12 {
		t.Fatalf("app password %q", secret)
	}
	c := dialIMAPS(t, s)
	c.ok(`LOGIN "alice@example.org" "` + secret + `"`)
	c.ok("SELECT INBOX")
	c.ok("LOGOUT")

	// Russian and back.
	run("switch to Russian",
		chromedp.Click(chromedp.CSS("#lang-switch")),
		chromedp.WaitVisible(chromedp.CSS("#app-name")),
		shot("security-ru"),
	)
	if h, l := text("h1"), eval(htmlLang+` === "ru"`); h != "Пароли и входы" || !l {
		t.Fatalf("after the switch: h1 %q, lang ru %v", h, l)
	}
	run("programs in Russian",
		chromedp.Click(chromedp.CSS("#nav-programs")),
		chromedp.WaitVisible(chromedp.CSS("#pop3")),
		shot("programs-ru"),
	)
	if h := text("h1"); h != "Почтовые программы" {
		t.Fatalf("programs page in Russian: h1 %q", h)
	}
	run("switch back to English",
		chromedp.Click(chromedp.CSS("#lang-switch")),
		chromedp.WaitVisible(chromedp.CSS("#pop3")),
	)
	if h, l := text("h1"), eval(htmlLang+` === "en"`); h != "Mail programs" || !l {
		t.Fatalf("after switching back: h1 %q, lang en %v", h, l)
	}
}
