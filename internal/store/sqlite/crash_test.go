package sqlite

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/pochta-mail/pochta/internal/store"
)

// The crash test runs a delivering writer in a child process (this test
// binary re-run with crashChildEnv set), kills it with SIGKILL while
// deliveries are under way, reopens the store and checks that every
// acknowledged message is there whole and that nothing half-written is
// visible or left on disk.

const crashChildEnv = "POCHTA_CRASH_CHILD_DIR"

// crashBody makes a recognisable message: its last line repeats its name,
// so a truncated body is detected. Every seventh message is large (about
// 220 KB: above inlineLimit, so kept in a body file), so kills often land
// in the middle of a body write.
func crashBody(name string, n int) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "From: writer@example.org\r\nTo: victim@example.org\r\nSubject: %s\r\n\r\n", name)
	lines := 20
	if n%7 == 0 {
		lines = 3000
	}
	for i := 0; i < lines; i++ {
		fmt.Fprintf(&b, "line %d of %s: the quick brown fox jumps over the lazy dog\r\n", i, name)
	}
	fmt.Fprintf(&b, "END %s\r\n", name)
	return b.Bytes()
}

func sum(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

// TestCrashChild is the child's body; it does nothing in a normal run.
func TestCrashChild(t *testing.T) {
	dir := os.Getenv(crashChildEnv)
	if dir == "" {
		t.Skip("only runs as the crash test's child process")
	}
	ctx := context.Background()
	s, err := Open(ctx, Options{Dir: dir})
	if err != nil {
		fmt.Println("ERR", err)
		os.Exit(3)
	}
	a, err := s.AccountByAddress(ctx, "victim@example.org")
	if err != nil {
		fmt.Println("ERR", err)
		os.Exit(3)
	}
	var mu sync.Mutex
	out := bufio.NewWriter(os.Stdout)
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				name := fmt.Sprintf("g%d-m%d-p%d", g, i, os.Getpid())
				body := crashBody(name, i)
				m, err := s.Deliver(ctx, store.Delivery{AccountID: a.ID, Body: bytes.NewReader(body)})
				if err != nil {
					fmt.Fprintln(os.Stderr, "deliver:", err)
					os.Exit(3)
				}
				mu.Lock()
				// The ACK line is written only after Deliver returned:
				// the parent may count on every ACK it reads.
				fmt.Fprintf(out, "ACK %d %s %s\n", m.ID, name, sum(body))
				out.Flush()
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
}

func TestCrashConsistency(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("kills a child process; skipped with -short")
	}
	dir := t.TempDir()
	ctx := context.Background()
	s, err := Open(ctx, Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateDomain(ctx, "example.org"); err != nil {
		t.Fatal(err)
	}
	acct, err := s.CreateAccount(ctx, store.NewAccount{Address: "victim@example.org", Settings: store.DefaultSettings()})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()

	acked := map[int64][2]string{} // id -> name, sha256
	for round := 0; round < 4; round++ {
		cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1")
		cmd.Env = append(os.Environ(), crashChildEnv+"="+dir)
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		// Kill after a number of acknowledgements that differs per round,
		// or 10 s after the first one on a slow machine: either way the
		// kill lands while deliveries are under way. A child that
		// acknowledges nothing for 2 minutes (a hang) is killed too, and
		// the round fails.
		killAfter := 15 + round*17
		sc := bufio.NewScanner(stdout)
		n := 0
		var killed atomic.Bool
		deadline := time.AfterFunc(2*time.Minute, func() { killed.Store(true); cmd.Process.Signal(syscall.SIGKILL) })
		for sc.Scan() {
			f := strings.Fields(sc.Text())
			if len(f) == 4 && f[0] == "ACK" {
				id, _ := strconv.ParseInt(f[1], 10, 64)
				acked[id] = [2]string{f[2], f[3]}
				n++
				if n == 1 {
					deadline.Reset(10 * time.Second)
				}
				if n == killAfter {
					killed.Store(true)
					cmd.Process.Signal(syscall.SIGKILL)
				}
			} else {
				t.Logf("child: %s", sc.Text())
			}
		}
		deadline.Stop()
		err = cmd.Wait()
		if !killed.Load() || n == 0 {
			t.Fatalf("round %d: child ended by itself after %d acks (%v): %s", round, n, err, stderr.String())
		}
		checkAfterCrash(t, dir, acct.ID, acked)
	}
	t.Logf("%d acknowledged deliveries survived 4 kills", len(acked))
}

// checkAfterCrash reopens the store as the server would and checks it.
func checkAfterCrash(t *testing.T, dir string, accountID int64, acked map[int64][2]string) {
	t.Helper()
	ctx := context.Background()
	s, err := Open(ctx, Options{Dir: dir, RemoveOrphans: true})
	if err != nil {
		t.Fatalf("reopen after crash: %v", err)
	}
	defer s.Close()
	for id, want := range acked {
		m, err := s.MessageByID(ctx, id)
		if err != nil {
			t.Fatalf("acknowledged message %d (%s) lost: %v", id, want[0], err)
		}
		body := readAll(t, s, m)
		if got := sum(body); got != want[1] {
			t.Fatalf("acknowledged message %s: body differs after crash (%d bytes)", want[0], len(body))
		}
	}
	inbox, err := s.FolderByRole(ctx, accountID, store.RoleInbox)
	if err != nil {
		t.Fatal(err)
	}
	var visible, bytesSum int64
	for m, err := range s.Messages(ctx, inbox.ID) {
		if err != nil {
			t.Fatal(err)
		}
		body := readAll(t, s, m)
		if int64(len(body)) != m.Size {
			t.Fatalf("message %d: size %d but %d bytes stored", m.ID, m.Size, len(body))
		}
		name := subjectOf(body)
		if !bytes.HasSuffix(body, []byte("END "+name+"\r\n")) {
			t.Fatalf("message %d (%s) is visible but incomplete", m.ID, name)
		}
		visible++
		bytesSum += m.Size
	}
	u, err := s.Usage(ctx, accountID)
	if err != nil {
		t.Fatal(err)
	}
	if u.Messages != visible || u.Bytes != bytesSum {
		t.Fatalf("usage %+v, but the inbox holds %d messages of %d bytes", u, visible, bytesSum)
	}
	var bodies int64
	if err := s.read.QueryRow("SELECT count(*) FROM bodies WHERE blob != ''").Scan(&bodies); err != nil {
		t.Fatal(err)
	}
	var files int64
	if err := s.blobs.walk(func(string) error { files++; return nil }); err != nil {
		t.Fatal(err)
	}
	if files != bodies {
		t.Fatalf("%d body files on disk for %d bodies: orphans were not removed", files, bodies)
	}
}

func readAll(t *testing.T, s *Store, m store.Message) []byte {
	t.Helper()
	b, err := s.OpenBody(context.Background(), m)
	if err != nil {
		t.Fatalf("open body of %d: %v", m.ID, err)
	}
	defer b.Close()
	data, err := io.ReadAll(b)
	if err != nil {
		t.Fatalf("read body of %d: %v", m.ID, err)
	}
	return data
}

// subjectOf returns the Subject of a crashBody message.
func subjectOf(body []byte) string {
	_, rest, ok := bytes.Cut(body, []byte("Subject: "))
	if !ok {
		return ""
	}
	subject, _, _ := bytes.Cut(rest, []byte("\r\n"))
	return string(subject)
}
