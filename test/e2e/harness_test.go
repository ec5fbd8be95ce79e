// Package e2e tests the whole server: it builds the pochta binary, starts
// `pochta serve` on loopback ports the test picks (port 0, read back from
// the log), and talks to it with Go clients and real programs.
package e2e

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// pochtaBin is the binary built once by TestMain.
var pochtaBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "pochta-e2e")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	pochtaBin = filepath.Join(dir, "pochta")
	args := []string{"build", "-o", pochtaBin}
	if raceEnabled {
		// As test.sh: no checkptr in modernc.org's SQLite (C translated
		// to Go), where it doubles the cost of every store operation.
		args = append(args, "-race", "-gcflags=modernc.org/...=-d=checkptr=0")
	}
	cmd := exec.Command("go", append(args, "../../cmd/pochta")...)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build pochta:", err)
		os.Exit(1)
	}
	// A binary built with -race sleeps a second before it exits (the
	// race runtime's atexit_sleep_ms, a window for reports from threads
	// still running). Every `pochta` command and server stop would pay
	// it, several hundred times per run; races are still reported when
	// they happen. An explicit atexit_sleep_ms in GORACE is kept.
	if g := os.Getenv("GORACE"); !strings.Contains(g, "atexit_sleep_ms") {
		os.Setenv("GORACE", strings.TrimSpace(g+" atexit_sleep_ms=0"))
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// Server is a running `pochta serve`.
type Server struct {
	t      testing.TB
	Dir    string
	Config string
	// Addrs maps listener names (smtp, submission, pop3, pop3s, imap,
	// imaps, …) to the address they listen on.
	Addrs map[string]string
	// CertPool trusts exactly the server's certificate.
	CertPool *x509.CertPool

	cmd  *exec.Cmd
	mu   sync.Mutex
	logs bytes.Buffer
	done chan struct{}
}

// allListeners is the [listen] section for a test server: every listener
// on a free loopback port.
const allListeners = `[listen]
smtp        = "127.0.0.1:0"
submission  = "127.0.0.1:0"
submissions = "127.0.0.1:0"
submission_extra = ["127.0.0.1:0"]
devices     = "127.0.0.1:0"
pop3        = "127.0.0.1:0"
pop3s       = "127.0.0.1:0"
imap        = "127.0.0.1:0"
imaps       = "127.0.0.1:0"
http        = "127.0.0.1:0"
`

// StartServer starts pochta with a config made of the basics, the
// listeners and extra (more TOML tables, appended as they are).
// A domain example.org is created. The server stops at the end of the
// test.
func StartServer(t testing.TB, extra string) *Server {
	t.Helper()
	dir := t.TempDir()
	s := &Server{t: t, Dir: dir, Config: filepath.Join(dir, "pochta.toml"), Addrs: map[string]string{}, done: make(chan struct{})}
	cfg := fmt.Sprintf("hostname = \"mail.example.org\"\ndata_dir = %q\n\n%s\n[auth]\nfailed_login_delay = \"0s\"\n%s\n%s\n",
		filepath.Join(dir, "data"), allListeners, cheapHashes, extra)
	if err := os.WriteFile(s.Config, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	s.Pochta(t, "domain", "add", "example.org")
	s.start(t)
	return s
}

// cheapHashes makes password hashes cheap in test servers: the suite logs
// in hundreds of times, and the default argon2id cost (64 MiB, 3 passes)
// would dominate its run time. Hashes keep their cost in themselves, so
// the login code is the same.
const cheapHashes = "password_hash_time = 1\npassword_hash_memory = \"64KiB\"\npassword_hash_threads = 1\n"

var listeningRE = regexp.MustCompile(`msg=listening listener=(\S+) addr=(\S+)`)

// start runs pochta serve and waits until it logs that it serves.
func (s *Server) start(t testing.TB) {
	t.Helper()
	s.cmd = exec.Command(pochtaBin, "serve", "--config", s.Config)
	stderr, err := s.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ready := make(chan struct{})
	s.done = make(chan struct{})
	go func() {
		defer close(s.done)
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		signalled := false
		for sc.Scan() {
			line := sc.Text()
			s.mu.Lock()
			s.logs.WriteString(line + "\n")
			if m := listeningRE.FindStringSubmatch(line); m != nil {
				s.Addrs[m[1]] = m[2]
			}
			s.mu.Unlock()
			if !signalled && strings.Contains(line, "msg=\"pochta serving\"") {
				signalled = true
				close(ready)
			}
		}
		io.Copy(io.Discard, stderr)
	}()
	select {
	case <-ready:
	case <-s.done:
		t.Fatalf("pochta serve exited before serving:\n%s", s.Logs())
	case <-time.After(60 * time.Second):
		t.Fatalf("pochta serve did not start in time:\n%s", s.Logs())
	}
	pemBytes, err := os.ReadFile(filepath.Join(s.Dir, "data", "tls", "selfsigned.crt"))
	if err != nil {
		t.Fatal(err)
	}
	s.CertPool = x509.NewCertPool()
	if !s.CertPool.AppendCertsFromPEM(pemBytes) {
		t.Fatal("no certificate in selfsigned.crt")
	}
	t.Cleanup(func() { s.Stop(t) })
}

// Stop ends the server with SIGTERM and waits for it.
func (s *Server) Stop(t testing.TB) {
	if s.cmd == nil || s.cmd.Process == nil || s.cmd.ProcessState != nil {
		return
	}
	s.cmd.Process.Signal(os.Interrupt)
	select {
	case <-s.done:
	case <-time.After(30 * time.Second):
		s.cmd.Process.Kill()
		t.Errorf("pochta did not stop within 30s of SIGINT")
	}
	s.cmd.Wait()
}

// Restart stops the server and starts it again on new ports.
func (s *Server) Restart(t testing.TB) {
	t.Helper()
	s.Stop(t)
	s.mu.Lock()
	s.Addrs = map[string]string{}
	s.mu.Unlock()
	s.cmd = nil
	s.start(t)
}

// Addr returns a listener's address, failing the test if it is not
// serving.
func (s *Server) Addr(name string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	a, ok := s.Addrs[name]
	if !ok {
		s.t.Fatalf("listener %s is not serving; logs:\n%s", name, s.logs.String())
	}
	return a
}

// Logs returns what the server logged so far.
func (s *Server) Logs() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.logs.String()
}

// TLSConfig is a client config that trusts only the server's certificate
// and checks the name mail.example.org.
func (s *Server) TLSConfig() *tls.Config {
	return &tls.Config{RootCAs: s.CertPool, ServerName: "mail.example.org", MinVersion: tls.VersionTLS12}
}

// Pochta runs an admin command against the server's config and returns
// its standard output; it fails the test on a non-zero exit.
func (s *Server) Pochta(t testing.TB, args ...string) string {
	t.Helper()
	out, errOut, err := s.PochtaErr(args...)
	if err != nil {
		t.Fatalf("pochta %s: %v\n%s%s", strings.Join(args, " "), err, out, errOut)
	}
	return out
}

// PochtaErr runs an admin command and returns its output and error.
func (s *Server) PochtaErr(args ...string) (stdout, stderr string, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, pochtaBin, append(args, "--config", s.Config)...)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err = cmd.Run()
	return o.String(), e.String(), err
}

// AddUser makes an account with a known password.
func (s *Server) AddUser(t testing.TB, addr, password string) {
	t.Helper()
	cmd := exec.Command(pochtaBin, "user", "add", addr, "--password-stdin", "--config", s.Config)
	cmd.Stdin = strings.NewReader(password + "\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("user add %s: %v\n%s", addr, err, out)
	}
}
