package e2e

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// BenchmarkIMAPMixNodes runs bench/imap's mixed IMAP load (sessions of
// LOGIN, SELECT INBOX, 50 commands — FETCH of a whole message 40%, STORE
// +/-FLAGS 25%, APPEND 20%, STORE \Deleted + UID EXPUNGE of a message the
// client appended 15% — and LOGOUT; all clients on one mailbox of 200
// seeded messages of about 4 KB, over imaps) with 1, 2 and 3 `pochta serve` nodes on one
// PostgreSQL database. The 12 clients are spread over the nodes in turn.
// Each node count runs for a fixed time (10 s, or POCHTA_BENCH_IMAP_DURATION)
// whatever b.N is; the figure is commands completed per second, logins and
// logouts included. Run it under scripts/pgtest.sh:
//
//	scripts/pgtest.sh go test -run XXX -bench IMAPMixNodes -benchtime 1x ./test/e2e/
func BenchmarkIMAPMixNodes(b *testing.B) {
	duration := 10 * time.Second
	if v := os.Getenv("POCHTA_BENCH_IMAP_DURATION"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			b.Fatalf("POCHTA_BENCH_IMAP_DURATION: %v", err)
		}
		duration = d
	}
	if os.Getenv("POCHTA_TEST_PG_DSN") == "" {
		b.Skip("POCHTA_TEST_PG_DSN not set: run under scripts/pgtest.sh")
	}
	loadBin := filepath.Join(b.TempDir(), "imapbench")
	if out, err := exec.Command("go", "build", "-o", loadBin, "../../bench/imap").CombinedOutput(); err != nil {
		b.Fatalf("build bench/imap: %v\n%s", err, out)
	}
	for _, nodes := range []int{1, 2, 3} {
		b.Run(fmt.Sprintf("nodes=%d", nodes), func(b *testing.B) {
			extra := fmt.Sprintf("[store]\nbackend = \"postgres\"\ndsn = %q\n", pgDatabase(b))
			servers := []*Server{StartServer(b, extra)}
			for len(servers) < nodes {
				servers = append(servers, startNode(b, extra, servers[0]))
			}
			const user, pass, seeded = "mix@example.org", "bench-secret-1", 200
			servers[0].AddUser(b, user, pass)
			c := goIMAP(b, servers[0], user, pass)
			for i := 1; i <= seeded; i++ {
				appendMsg(b, c, "INBOX", benchMessage(user, i))
			}
			c.Logout().Wait()
			// Every node made its own self-signed certificate: the load
			// generator trusts all of them.
			var pems bytes.Buffer
			addrs := make([]string, nodes)
			for i, s := range servers {
				pem, err := os.ReadFile(filepath.Join(s.Dir, "data", "tls", "selfsigned.crt"))
				if err != nil {
					b.Fatal(err)
				}
				pems.Write(pem)
				addrs[i] = s.Addr("imaps")
			}
			ca := filepath.Join(b.TempDir(), "ca.pem")
			if err := os.WriteFile(ca, pems.Bytes(), 0o600); err != nil {
				b.Fatal(err)
			}
			const clients = 12
			cmd := exec.Command(loadBin, "mix", "-label", fmt.Sprintf("nodes%d", nodes),
				"-addr", strings.Join(addrs, ","), "-ca", ca, "-user", user, "-pass", pass,
				"-count", strconv.Itoa(seeded), "-clients", strconv.Itoa(clients), "-duration", duration.String())
			b.ResetTimer()
			out, err := cmd.CombinedOutput()
			b.StopTimer()
			if err != nil {
				b.Fatalf("imap mix: %v\n%s", err, out)
			}
			m := regexp.MustCompile(`RESULT .* rate=([0-9.]+)`).FindSubmatch(out)
			if m == nil {
				b.Fatalf("imap mix printed no RESULT:\n%s", out)
			}
			rate, err := strconv.ParseFloat(string(m[1]), 64)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(rate, "cmds/s")
		})
	}
}

// benchMessage is seeded message i of user: about 4 KB of plain text, the
// shape of the messages bench/imap seeds for scripts/bench.sh.
func benchMessage(user string, i int) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "From: Sender %d <sender%d@example.net>\r\nTo: <%s>\r\nSubject: imap bench message %d\r\nMessage-ID: <%d.%s>\r\nDate: Tue, 24 Nov 2026 12:00:00 +0000\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n",
		i%50, i%50, user, i, i, user)
	for n := range 50 {
		fmt.Fprintf(&b, "line %02d of message %d: lorem ipsum dolor sit amet, consectetur %x\r\n", n, i, (i*7919+n)%65521)
	}
	return []byte(b.String())
}
