package imapscript

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pochta-mail/pochta/internal/auth"
	"github.com/pochta-mail/pochta/internal/imapd"
	"github.com/pochta-mail/pochta/internal/store"
	"github.com/pochta-mail/pochta/internal/store/sqlite"
)

const password = "script password"

// server is an in-process pochta IMAP server over a fresh SQLite store
// that allows plaintext logins on loopback.
type server struct {
	st    store.Store
	addr  string
	hash  string
	mu    sync.Mutex
	users int
}

func startServer(t *testing.T) *server {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, sqlite.Options{Dir: t.TempDir(), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if _, err := st.CreateDomain(ctx, "example.org"); err != nil {
		t.Fatal(err)
	}
	hash, err := auth.HashParams{Time: 1, MemoryKiB: 64, Threads: 1}.Hash(password)
	if err != nil {
		t.Fatal(err)
	}
	authn := auth.NewAuthenticator(st, auth.Policy{AllowPlaintext: true, PrimaryDomain: "example.org"}, slog.New(slog.DiscardHandler))
	srv, err := imapd.New(imapd.Options{Store: st, Auth: authn, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	sctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { srv.Serve(sctx, ln); close(done) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Error("server did not stop")
		}
	})
	return &server{st: st, addr: ln.Addr().String(), hash: hash}
}

// account makes a fresh account for one script.
func (s *server) account(t *testing.T) string {
	t.Helper()
	s.mu.Lock()
	s.users++
	addr := fmt.Sprintf("script%d@example.org", s.users)
	s.mu.Unlock()
	_, err := s.st.CreateAccount(context.Background(), store.NewAccount{Address: addr, PasswordHash: s.hash, Settings: store.DefaultSettings()})
	if err != nil {
		t.Fatal(err)
	}
	return addr
}

// runFile runs the script at path with the mbox next to it (name.mbox,
// else default.mbox of its folder).
func (s *server) runFile(t *testing.T, path string) *Result {
	t.Helper()
	text, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	sc, err := ParseScript(filepath.Base(path), string(text), nil)
	if err != nil {
		t.Fatal(err)
	}
	mbox, err := os.ReadFile(path + ".mbox")
	if os.IsNotExist(err) {
		mbox, err = os.ReadFile(filepath.Join(filepath.Dir(path), "default.mbox"))
	}
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	res, err := Run(ctx, sc, Target{Addr: s.addr, User: s.account(t), Password: password, Mbox: ParseMbox(string(mbox))})
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// scripts lists the scripts of a folder: every file but the .mbox ones
// and dotfiles.
func scripts(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		n := e.Name()
		if e.IsDir() || strings.HasPrefix(n, ".") || strings.HasSuffix(n, ".mbox") || strings.HasSuffix(n, ".md") {
			continue
		}
		out = append(out, filepath.Join(dir, n))
	}
	sort.Strings(out)
	return out
}

// TestOwnScripts runs the scripts in testdata/pass, which must pass: they
// cover the script features the runner implements, against pochta.
func TestOwnScripts(t *testing.T) {
	s := startServer(t)
	for _, path := range scripts(t, "testdata/pass") {
		t.Run(filepath.Base(path), func(t *testing.T) {
			res := s.runFile(t, path)
			if res.Outcome != Passed {
				t.Errorf("%s: %s %s\n%s", path, res.Outcome, res.Reason, strings.Join(res.Failures, "\n"))
			}
		})
	}
}

// TestRunnerCatchesMismatches runs the scripts in testdata/fail, each of
// which expects something pochta rightly does not do; the runner must
// report each as failed, naming the script line given in the file's first
// comment ("# fails at line N").
func TestRunnerCatchesMismatches(t *testing.T) {
	s := startServer(t)
	for _, path := range scripts(t, "testdata/fail") {
		t.Run(filepath.Base(path), func(t *testing.T) {
			text, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			var line int
			if _, err := fmt.Sscanf(string(text), "# fails at line %d", &line); err != nil {
				t.Fatalf("%s: first line must be \"# fails at line N\": %v", path, err)
			}
			res := s.runFile(t, path)
			if res.Outcome != Failed {
				t.Fatalf("%s: runner said %s, want failed", path, res.Outcome)
			}
			want := fmt.Sprintf("line %d:", line)
			if !strings.HasPrefix(res.Failures[0], want) {
				t.Errorf("%s: first failure %q, want it at %q", path, res.Failures[0], want)
			}
		})
	}
}

// TestImaptestScripts runs every script in $POCHTA_IMAPTEST_DIR (the
// src/tests folder of Dovecot's imaptest) and prints a table. Scripts in
// skipScripts are not run; see docs/imap.md.
func TestImaptestScripts(t *testing.T) {
	dir := os.Getenv("POCHTA_IMAPTEST_DIR")
	if dir == "" {
		t.Skip("POCHTA_IMAPTEST_DIR is not set")
	}
	s := startServer(t)
	var table []string
	for _, path := range scripts(t, dir) {
		name := filepath.Base(path)
		if name == "Makefile.am" || name == "Makefile" {
			continue
		}
		if why, ok := skipScripts[name]; ok {
			table = append(table, fmt.Sprintf("%-34s skipped: %s", name, why))
			continue
		}
		t.Run(name, func(t *testing.T) {
			res := s.runFile(t, path)
			line := fmt.Sprintf("%-34s %s", name, res.Outcome)
			if res.Reason != "" {
				line += ": " + res.Reason
			}
			table = append(table, line)
			if res.Outcome == Failed {
				t.Errorf("%s failed:\n%s", name, strings.Join(res.Failures, "\n"))
			}
		})
	}
	t.Logf("imaptest scripts:\n%s", strings.Join(table, "\n"))
}

// skipScripts are imaptest scripts not run, with the reason.
var skipScripts = map[string]string{
	"urlauth":        "URLAUTH is not implemented (intentional)",
	"urlauth-binary": "URLAUTH is not implemented (intentional)",
}
