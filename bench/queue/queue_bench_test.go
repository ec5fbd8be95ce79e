// Package queue benchmarks outbound delivery: messages per second from
// one pochta instance (A) to another (B) on loopback, 10 KB messages with
// 1 and with 100 recipients per message.
//
//	go test -run XXX -bench . -benchtime 200x ./bench/queue/
//
// The clock runs from the first submission to A until B has stored every
// copy (B logs one line per stored copy). Submission is one connection,
// message after message, so the figure includes A's durable queueing.
package queue

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"io"
	"net/smtp"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

var listenRE = regexp.MustCompile(`msg=listening listener=(\S+) addr=(\S+)`)

// instance is a running pochta serve.
type instance struct {
	dir, config string
	addrs       map[string]string
	delivered   atomic.Int64
	cmd         *exec.Cmd
}

func buildPochta(b *testing.B) string {
	b.Helper()
	bin := filepath.Join(b.TempDir(), "pochta")
	cmd := exec.Command("go", "build", "-o", bin, "../../cmd/pochta")
	cmd.Stderr = os.Stderr
	if err := cmd.Run(); err != nil {
		b.Fatal(err)
	}
	return bin
}

func start(b *testing.B, bin, extra string, setup func(run func(stdin string, args ...string))) *instance {
	b.Helper()
	dir := b.TempDir()
	in := &instance{dir: dir, config: filepath.Join(dir, "pochta.toml"), addrs: map[string]string{}}
	cfg := fmt.Sprintf(`hostname = "mail.example.org"
data_dir = %q
[listen]
smtp = "127.0.0.1:0"
submission = "127.0.0.1:0"
submissions = ""
pop3 = ""
pop3s = ""
imap = ""
imaps = ""
http = ""
[smtp]
max_recipients = 1000
[auth]
failed_login_delay = "0s"
[dns]
resolver = "127.0.0.1:1"
%s`, filepath.Join(dir, "data"), extra)
	if err := os.WriteFile(in.config, []byte(cfg), 0o600); err != nil {
		b.Fatal(err)
	}
	run := func(stdin string, args ...string) {
		c := exec.Command(bin, append(args, "--config", in.config)...)
		c.Stdin = strings.NewReader(stdin)
		if out, err := c.CombinedOutput(); err != nil {
			b.Fatalf("pochta %v: %v\n%s", args, err, out)
		}
	}
	setup(run)
	in.cmd = exec.Command(bin, "serve", "--config", in.config)
	stderr, _ := in.cmd.StderrPipe()
	if err := in.cmd.Start(); err != nil {
		b.Fatal(err)
	}
	ready := make(chan struct{})
	var once sync.Once
	var mu sync.Mutex
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			l := sc.Text()
			if m := listenRE.FindStringSubmatch(l); m != nil {
				mu.Lock()
				in.addrs[m[1]] = m[2]
				mu.Unlock()
			}
			if strings.Contains(l, "service=delivery") && strings.Contains(l, "msg=delivered") {
				in.delivered.Add(1)
			}
			if strings.Contains(l, `msg="pochta serving"`) {
				once.Do(func() { close(ready) })
			}
		}
		io.Copy(io.Discard, stderr)
	}()
	select {
	case <-ready:
	case <-time.After(60 * time.Second):
		b.Fatal("pochta did not start")
	}
	b.Cleanup(func() { in.cmd.Process.Signal(os.Interrupt); in.cmd.Wait() })
	return in
}

func benchAtoB(b *testing.B, rcpts int) {
	bin := buildPochta(b)
	srvB := start(b, bin, "", func(run func(string, ...string)) {
		run("", "domain", "add", "b.example")
		for i := range rcpts {
			run("pw-bench-1\n", "user", "add", fmt.Sprintf("r%d@b.example", i), "--password-stdin")
		}
	})
	srvA := start(b, bin, fmt.Sprintf("[queue]\nconcurrency = 20\nconcurrency_per_domain = 10\n[queue.routes]\n\"b.example\" = %q\n", srvB.addrs["smtp"]),
		func(run func(string, ...string)) {
			run("", "domain", "add", "a.example")
			run("pw-bench-1\n", "user", "add", "bench@a.example", "--password-stdin")
		})
	c, err := smtp.Dial(srvA.addrs["submission"])
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	if err := c.StartTLS(&tls.Config{InsecureSkipVerify: true}); err != nil {
		b.Fatal(err)
	}
	if err := c.Auth(smtp.PlainAuth("", "bench@a.example", "pw-bench-1", "127.0.0.1")); err != nil {
		b.Fatal(err)
	}
	to := make([]string, rcpts)
	for i := range to {
		to[i] = fmt.Sprintf("r%d@b.example", i)
	}
	body := "From: bench@a.example\r\nTo: r0@b.example\r\nSubject: bench\r\n\r\n" + strings.Repeat(strings.Repeat("x", 98)+"\r\n", 100)
	b.SetBytes(int64(len(body)))
	b.ResetTimer()
	startT := time.Now()
	for range b.N {
		if err := c.Mail("bench@a.example"); err != nil {
			b.Fatal(err)
		}
		for _, r := range to {
			if err := c.Rcpt(r); err != nil {
				b.Fatal(err)
			}
		}
		w, err := c.Data()
		if err != nil {
			b.Fatal(err)
		}
		io.WriteString(w, body)
		if err := w.Close(); err != nil {
			b.Fatal(err)
		}
	}
	want := int64(b.N * rcpts)
	deadline := time.Now().Add(10 * time.Minute)
	for srvB.delivered.Load() < want {
		if time.Now().After(deadline) {
			b.Fatalf("B stored %d of %d copies", srvB.delivered.Load(), want)
		}
		time.Sleep(5 * time.Millisecond)
	}
	el := time.Since(startT)
	b.StopTimer()
	b.ReportMetric(float64(b.N)/el.Seconds(), "msgs/s")
	b.ReportMetric(float64(want)/el.Seconds(), "copies/s")
}

func BenchmarkAtoB1Rcpt(b *testing.B)   { benchAtoB(b, 1) }
func BenchmarkAtoB100Rcpt(b *testing.B) { benchAtoB(b, 100) }
