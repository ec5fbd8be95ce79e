package e2e

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// vmHWM returns the peak resident set size of a process in bytes
// (VmHWM in /proc/PID/status).
func vmHWM(t testing.TB, pid int) int64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatalf("read process status: %v", err)
	}
	m := regexp.MustCompile(`(?m)^VmHWM:\s+(\d+) kB$`).FindSubmatch(b)
	if m == nil {
		t.Fatalf("no VmHWM in /proc/%d/status", pid)
	}
	kb, _ := strconv.ParseInt(string(m[1]), 10, 64)
	return kb << 10
}

// bigMessage makes a message of exactly size bytes (CRLF line endings).
func bigMessage(size int) []byte {
	var b bytes.Buffer
	b.Grow(size)
	b.WriteString("From: Boris <boris@example.net>\r\nTo: anna@example.org\r\nSubject: a big one\r\nMessage-ID: <big@example.net>\r\n\r\n")
	for n := 0; size-b.Len() > 100; n++ {
		fmt.Fprintf(&b, "%09d the quick brown fox jumps over the lazy dog %x\r\n", n, n*2654435761)
	}
	b.WriteString(strings.Repeat("x", size-b.Len()-2) + "\r\n")
	return b.Bytes()
}

// TestIMAPBigMailbox checks that memory stays bounded by what one
// message needs, not by the size of a message or of a folder: a 30 MB
// APPEND literal streams to storage and back, and FETCH 1:* over a big
// folder streams. The folder has 20,000 messages by default and 100,000
// with POCHTA_E2E_BIG=1 (filling it takes minutes under -race).
//
// The bounds are on the growth of the server's peak RSS (VmHWM), measured
// after login and a first FETCH: the account's password is a bcrypt hash
// so that login does not allocate argon2id's 64 MiB, which would leave
// enough free heap to hide a whole message buffered in memory. The folder
// is filled with bench/imap's seed command (the store package, server
// stopped).
func TestIMAPBigMailbox(t *testing.T) {
	t.Parallel()
	folderSize := 20_000
	if os.Getenv("POCHTA_E2E_BIG") != "" {
		folderSize = 100_000
	}
	s := StartServer(t, "")
	s.AddUser(t, "anna@example.org", "unused-password-1")
	s.Stop(t)

	// Fill the inbox while the server is stopped with bench/imap's seed
	// command (built without the race detector, which would make the
	// fill ten times slower); it also gives the account a bcrypt hash.
	seeder := filepath.Join(t.TempDir(), "imapbench")
	// -gcflags= drops test.sh's GOFLAGS -gcflags (meant for -race
	// builds), so that this build shares go vet's cached packages.
	if out, err := exec.Command("go", "build", "-gcflags=", "-o", seeder, "../../bench/imap").CombinedOutput(); err != nil {
		t.Fatalf("build bench/imap: %v\n%s", err, out)
	}
	fillStart := time.Now()
	if out, err := exec.Command(seeder, "seed", "-pochta-data", filepath.Join(s.Dir, "data"), "-user", "anna@example.org",
		"-count", strconv.Itoa(folderSize), "-password", "anna-secret-1").CombinedOutput(); err != nil {
		t.Fatalf("seed: %v\n%s", err, out)
	}
	t.Logf("filled %d messages in %v", folderSize, time.Since(fillStart))
	s.Restart(t)
	pid := s.cmd.Process.Pid

	c := dialIMAPS(t, s)
	c.ok("LOGIN anna@example.org anna-secret-1")
	mustContain(t, c.ok("SELECT INBOX"), fmt.Sprintf("* %d EXISTS", folderSize))
	c.ok("FETCH 1:10 (UID FLAGS RFC822.SIZE BODY.PEEK[])")
	base := vmHWM(t, pid)
	t.Logf("logged in and selected at %v", time.Since(fillStart))

	// A 30 MB message, sent as one literal in chunks and fetched back.
	const bigSize = 30_000_000
	big := bigMessage(bigSize)
	c.n++
	tag := fmt.Sprintf("e%d", c.n)
	c.write(fmt.Sprintf("%s APPEND INBOX (\\Flagged) {%d+}\r\n", tag, len(big)))
	for rest := big; len(rest) > 0; {
		n := min(len(rest), 256<<10)
		if _, err := c.conn.Write(rest[:n]); err != nil {
			t.Fatalf("append: %v", err)
		}
		rest = rest[n:]
	}
	c.write("\r\n")
	for {
		l := c.line()
		if strings.HasPrefix(l, tag+" ") {
			if !strings.HasPrefix(l, tag+" OK [APPENDUID ") {
				t.Fatalf("APPEND of 30 MB: %s", l)
			}
			break
		}
	}
	bigUID := folderSize + 1
	c.n++
	tag = fmt.Sprintf("e%d", c.n)
	c.write(fmt.Sprintf("%s UID FETCH %d (RFC822.SIZE BODY.PEEK[])\r\n", tag, bigUID))
	var got []byte
	for {
		c.conn.SetReadDeadline(time.Now().Add(60 * time.Second))
		l, err := c.br.ReadString('\n')
		if err != nil {
			t.Fatalf("fetch: %v", err)
		}
		if strings.HasPrefix(l, tag+" ") {
			if !strings.HasPrefix(l, tag+" OK") {
				t.Fatalf("UID FETCH of the big message: %s", l)
			}
			break
		}
		if m := imapLiteralRE.FindStringSubmatch(strings.TrimSuffix(l, "\r\n")); m != nil {
			if !strings.Contains(l, fmt.Sprintf("RFC822.SIZE %d ", bigSize)) {
				t.Errorf("FETCH line %q lacks RFC822.SIZE %d", l, bigSize)
			}
			n, _ := strconv.Atoi(m[1])
			got = make([]byte, n)
			if _, err := io.ReadFull(c.br, got); err != nil {
				t.Fatalf("read the big literal: %v", err)
			}
		}
	}
	if !bytes.Equal(got, big) {
		t.Fatalf("the 30 MB message came back different: %d bytes", len(got))
	}
	afterBig := vmHWM(t, pid)
	t.Logf("server peak RSS: %d MiB after login, %d MiB after the 30 MB APPEND and FETCH", base>>20, afterBig>>20)
	// A copy of the message in the heap would add at least its size to
	// the peak; under the race detector every byte written also touches
	// shadow memory (several bytes per byte), so a copy would add far
	// more than twice its size.
	bound := int64(bigSize)
	if raceEnabled {
		bound *= 2
	}
	if grow := afterBig - base; grow >= bound {
		t.Errorf("peak RSS grew by %d MiB during a 30 MB APPEND and FETCH: the message was held in memory", grow>>20)
	}

	// FETCH 1:* streams: responses are read one at a time while the
	// server writes them.
	c.n++
	tag = fmt.Sprintf("e%d", c.n)
	c.write(tag + " FETCH 1:* (UID FLAGS RFC822.SIZE)\r\n")
	want := 1
	for {
		l := c.line()
		if strings.HasPrefix(l, tag+" ") {
			if !strings.HasPrefix(l, tag+" OK") {
				t.Fatalf("FETCH 1:*: %s", l)
			}
			break
		}
		prefix := fmt.Sprintf("* %d FETCH (UID %d ", want, want)
		if !strings.HasPrefix(l, prefix) || !strings.Contains(l, "RFC822.SIZE ") {
			t.Fatalf("FETCH 1:* response %d: %q, want it to start %q", want, l, prefix)
		}
		want++
	}
	if want-1 != folderSize+1 {
		t.Fatalf("FETCH 1:* gave %d responses, want %d", want-1, folderSize+1)
	}
	afterAll := vmHWM(t, pid)
	t.Logf("fetched all at %v", time.Since(fillStart))
	t.Logf("server peak RSS: %d MiB after FETCH 1:* over %d messages", afterAll>>20, folderSize+1)
	// The whole response is ~60 bytes a message; a server that collected
	// the folder's messages (with their flags and dates) or the response
	// before writing would grow by hundreds of bytes a message.
	if bound := int64(folderSize) * 200; afterAll-afterBig > bound {
		t.Errorf("peak RSS grew by %d KiB during FETCH 1:* over %d messages (bound %d KiB)", (afterAll-afterBig)>>10, folderSize+1, bound>>10)
	}
}
