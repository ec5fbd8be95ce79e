package imapd

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"iter"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pochta-mail/pochta/internal/store"
)

// seedFolder stores n small messages with a full header in the inbox.
func (e *testEnv) seedFolder(n int) { e.seedFolderSize(n, 40) }

// seedFolderSize stores n messages whose body repeats a 23-byte sentence
// lines times.
func (e *testEnv) seedFolderSize(n, lines int) {
	e.t.Helper()
	const batch = 500
	for done := 0; done < n; done += batch {
		k := min(batch, n-done)
		seq := func(yield func(store.Delivery, error) bool) {
			for i := done; i < done+k; i++ {
				msg := fmt.Sprintf("Date: Tue, 5 Mar 2024 10:%02d:00 +0000\r\n"+
					"From: \"Sender %d\" <sender%d@example.net>\r\n"+
					"To: Anna <anna@example.org>, team@example.org\r\n"+
					"Cc: \"Boris B.\" <boris@example.com>\r\n"+
					"Subject: Report number %d about the quarterly figures\r\n"+
					"Message-ID: <msg%d@example.net>\r\n"+
					"In-Reply-To: <msg%d@example.net>\r\n"+
					"MIME-Version: 1.0\r\n"+
					"Content-Type: text/plain; charset=utf-8\r\n"+
					"\r\n"+
					"%s\r\n", i%60, i, i, i, i, i-1, strings.Repeat("Some text of the body.\r\n", lines))
				if !yield(store.Delivery{AccountID: e.acct.ID, Body: strings.NewReader(msg),
					InternalDate: time.Date(2024, 3, 5, 10, 0, 0, 0, time.UTC)}, nil) {
					return
				}
			}
		}
		if _, err := e.st.DeliverBatch(context.Background(), iter.Seq2[store.Delivery, error](seq)); err != nil {
			e.t.Fatal(err)
		}
	}
}

// drain sends a command and reads (and counts) the response lines up to
// the tagged one, without the per-line checks of client.line.
func (c *client) drain(tag, cmd string) (lines int) {
	c.t.Helper()
	c.write(tag + " " + cmd + "\r\n")
	c.conn.SetReadDeadline(time.Now().Add(time.Minute))
	start := true // at the start of a line
	for {
		l, err := c.br.ReadSlice('\n')
		if err != nil && err != bufio.ErrBufferFull {
			c.t.Fatalf("read: %v", err)
		}
		if start && len(l) > len(tag) && string(l[:len(tag)+1]) == tag+" " {
			if !strings.HasPrefix(string(l[len(tag)+1:]), "OK") {
				c.t.Fatalf("%s: %s", cmd, l)
			}
			return lines
		}
		start = err == nil
		if start {
			lines++
		}
	}
}

func benchFetch(b *testing.B, n int, cmd string) { benchFetchSize(b, n, 40, cmd) }

func benchFetchSize(b *testing.B, n, lines int, cmd string, setup ...string) {
	e := newEnv(b, envOptions{})
	e.seedFolderSize(n, lines)
	c := e.login()
	for _, s := range setup {
		c.ok(s)
	}
	c.ok("SELECT INBOX")
	cpu0 := cpuTime()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if got := c.drain(fmt.Sprintf("b%d", i), cmd); got != n {
			b.Fatalf("%s: %d lines, want %d", cmd, got, n)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N*n), "µs/msg")
	b.ReportMetric(float64((cpuTime()-cpu0).Milliseconds())/float64(b.N), "cpu-ms/op")
}

// cpuTime is the CPU time (user and system) the process has used: on a
// machine shared with other work it says more than the elapsed time. It
// counts the client's share too.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkFetchEnvelope is the FETCH 1:* (ENVELOPE) of bench/README.md
// over 10,000 messages, in process.
func BenchmarkFetchEnvelope(b *testing.B) { benchFetch(b, 10000, "FETCH 1:* (ENVELOPE)") }

// BenchmarkFetchEnvelope20K is FETCH 1:* (ENVELOPE) over 2,000 messages
// of about 20 KB: bodies that size are kept in the database, in the row
// that also holds the cached structure.
func BenchmarkFetchEnvelope20K(b *testing.B) {
	benchFetchSize(b, 2000, 850, "FETCH 1:* (ENVELOPE)")
}

// BenchmarkFetchFast is FETCH 1:* FAST (flags, internal date, size) over
// 10,000 messages in a session without UTF8=ACCEPT, where a size depends
// on whether the message's headers must be downgraded (RFC 6857).
func BenchmarkFetchFast(b *testing.B) { benchFetch(b, 10000, "FETCH 1:* FAST") }

// BenchmarkFetchFastUTF8 is BenchmarkFetchFast after ENABLE UTF8=ACCEPT:
// sizes as stored.
func BenchmarkFetchFastUTF8(b *testing.B) {
	benchFetchSize(b, 10000, 40, "FETCH 1:* FAST", "ENABLE UTF8=ACCEPT")
}

// BenchmarkFetchBodyStructure is FETCH 1:* (BODYSTRUCTURE) over 10,000.
func BenchmarkFetchBodyStructure(b *testing.B) { benchFetch(b, 10000, "FETCH 1:* (BODYSTRUCTURE)") }

// BenchmarkSortSubject is SORT (SUBJECT) over 10,000 messages.
func BenchmarkSortSubject(b *testing.B) {
	e := newEnv(b, envOptions{})
	e.seedFolder(10000)
	c := e.login()
	c.ok("SELECT INBOX")
	cpu0 := cpuTime()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if got := c.drain(fmt.Sprintf("b%d", i), "SORT (SUBJECT) UTF-8 ALL"); got != 1 {
			b.Fatalf("SORT: %d lines", got)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64((cpuTime()-cpu0).Milliseconds())/float64(b.N), "cpu-ms/op")
}

// BenchmarkThread is THREAD REFERENCES over 10,000 messages.
func BenchmarkThread(b *testing.B) {
	e := newEnv(b, envOptions{})
	e.seedFolder(10000)
	c := e.login()
	c.ok("SELECT INBOX")
	cpu0 := cpuTime()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if got := c.drain(fmt.Sprintf("b%d", i), "THREAD REFERENCES UTF-8 ALL"); got != 1 {
			b.Fatalf("THREAD: %d lines", got)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64((cpuTime()-cpu0).Milliseconds())/float64(b.N), "cpu-ms/op")
}

// memInuse returns HeapInuse and StackInuse after a garbage collection.
func memInuse() (heap, stack int64) {
	var ms runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&ms)
	return int64(ms.HeapInuse), int64(ms.StackInuse)
}

// BenchmarkIdleSessionMemory opens 500 sessions that log in, SELECT
// INBOX and IDLE, and reports the growth of the process heap (and,
// apart, of goroutine stacks) per session.
// The clients run in the same process: "plain" logs in without TLS and
// its client side is a bare connection with a 16-byte reader, so the
// figure is the server's; "tls" (STARTTLS) also counts the client's TLS
// state, roughly as large as the server's.
func BenchmarkIdleSessionMemory(b *testing.B) {
	for _, useTLS := range []bool{false, true} {
		name := "plain"
		if useTLS {
			name = "tls"
		}
		b.Run(name, func(b *testing.B) { benchIdle(b, useTLS) })
	}
}

func benchIdle(b *testing.B, useTLS bool) {
	const n = 500
	for i := 0; i < b.N; i++ {
		e := newEnv(b, envOptions{allowPlaintext: true})
		e.deliver("INBOX", "Subject: hi\r\n\r\nhello\r\n")
		open := func() *client {
			c := e.dial()
			if useTLS {
				c.startTLS()
			}
			c.ok("LOGIN anna@example.org " + quoteASCII(testPassword))
			c.ok("SELECT INBOX")
			return c
		}
		// Warm up, so that lazily built shared state is in place.
		open().ok("LOGOUT")
		heap0, stack0 := memInuse()
		clients := make([]*client, 0, n)
		for j := 0; j < n; j++ {
			c := open()
			c.write("i IDLE\r\n")
			if l := c.line(); !strings.HasPrefix(l, "+ ") {
				b.Fatalf("IDLE: %q", l)
			}
			c.br = bufio.NewReaderSize(c.conn, 16)
			clients = append(clients, c)
		}
		heap, stack := memInuse()
		b.ReportMetric(float64(heap-heap0)/n/1024, "KiB/session")
		b.ReportMetric(float64(stack-stack0)/n/1024, "stack-KiB/session")
		for _, c := range clients {
			io.WriteString(c.conn, "DONE\r\n")
			c.conn.Close()
		}
	}
}

// TestReadBufferReleasedBetweenCommands checks what the pooled read buffer
// must not break: a command arriving a byte at a time (the first byte is
// read without a buffer), commands pipelined in one write (the buffer is
// kept while it holds the next one) and a literal after a pause.
func TestReadBufferReleasedBetweenCommands(t *testing.T) {
	e := newEnv(t, envOptions{allowPlaintext: true})
	c := e.dial()
	for _, b := range []byte("a1 LOGIN anna@example.org " + quoteASCII(testPassword) + "\r\n") {
		c.write(string(b))
	}
	if _, tagged := c.readUntil("a1"); !strings.HasPrefix(tagged, "OK") {
		t.Fatalf("LOGIN sent byte by byte: %s", tagged)
	}
	c.write("a2 SELECT INBOX\r\na3 NOOP\r\na4 APPEND INBOX {20}\r\n")
	c.readUntil("a2")
	c.readUntil("a3")
	if l := c.line(); !strings.HasPrefix(l, "+ ") {
		t.Fatalf("APPEND: %q, want a continuation", l)
	}
	time.Sleep(10 * time.Millisecond) // the literal comes after a pause
	c.write("Subject: x\r\n\r\nbody\r\n")
	c.write("\r\n")
	if _, tagged := c.readUntil("a4"); !strings.HasPrefix(tagged, "OK") {
		t.Fatalf("APPEND: %s", tagged)
	}
	u := c.ok("FETCH 1 (BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
	mustHave(t, u, "Subject: x")
}
