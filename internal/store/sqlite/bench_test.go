package sqlite

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/pochta-mail/pochta/internal/store"
	"github.com/pochta-mail/pochta/internal/store/storetest"
)

// benchMessage is a 10 KB plain-text message.
func benchMessage(i int) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "From: sender%d@example.net\r\nTo: bench@example.org\r\nSubject: benchmark message %d\r\nMessage-ID: <%d@example.net>\r\n\r\n", i, i, i)
	for b.Len() < 10*1024 {
		fmt.Fprintf(&b, "Line %d of message %d: lorem ipsum dolor sit amet, consectetur adipiscing elit.\r\n", b.Len(), i)
	}
	return b.Bytes()
}

// benchAccount makes a domain and an account without quota.
func benchAccount(tb testing.TB, s *Store) store.Account {
	tb.Helper()
	ctx := context.Background()
	if _, err := s.CreateDomain(ctx, "example.org"); err != nil {
		tb.Fatal(err)
	}
	a, err := s.CreateAccount(ctx, store.NewAccount{Address: "bench@example.org", Settings: store.DefaultSettings()})
	if err != nil {
		tb.Fatal(err)
	}
	return a
}

// benchDir is where benchmark stores live: $POCHTA_BENCH_DIR (to measure a
// real disk) or the test's temporary folder.
func benchDir(b *testing.B) string {
	if d := os.Getenv("POCHTA_BENCH_DIR"); d != "" {
		dir, err := os.MkdirTemp(d, "bench")
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { os.RemoveAll(dir) })
		return dir
	}
	return b.TempDir()
}

// benchmarkDeliver measures durable deliveries per second of 10 KB
// messages with a number of concurrent writers.
func benchmarkDeliver(b *testing.B, writers int) {
	s, err := Open(context.Background(), Options{Dir: benchDir(b)})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	a := benchAccount(b, s)
	msgs := make([][]byte, 64)
	for i := range msgs {
		msgs[i] = benchMessage(i)
	}
	var next atomic.Int64
	b.SetBytes(int64(len(msgs[0])))
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1) - 1
				if i >= int64(b.N) {
					return
				}
				if _, err := s.Deliver(context.Background(), store.Delivery{AccountID: a.ID, Body: bytes.NewReader(msgs[i%64])}); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "msgs/s")
}

func BenchmarkDeliver1(b *testing.B)  { benchmarkDeliver(b, 1) }
func BenchmarkDeliver16(b *testing.B) { benchmarkDeliver(b, 16) }

// bigFolder fills a store with n messages in the inbox, once per process
// (building 100,000 messages takes a while).
var bigFolder struct {
	sync.Once
	s     *Store
	inbox store.Folder
	err   error
	tmp   string // temporary folder to remove, if any
}

const bigFolderSize = 100_000

// TestMain removes the big folder's temporary store after the benchmarks
// and the tests' template database (sqlite_test.go).
func TestMain(m *testing.M) {
	code := m.Run()
	if template.dir != "" {
		os.RemoveAll(template.dir)
	}
	if bigFolder.tmp != "" {
		if bigFolder.s != nil {
			bigFolder.s.Close()
		}
		os.RemoveAll(bigFolder.tmp)
	}
	os.Exit(code)
}

// openBigFolder opens the 100,000-message store: the one in
// $POCHTA_BENCH_BIGFOLDER if set (made there on first use and kept, so
// repeated runs skip the slow fill), else a temporary one.
func openBigFolder(b *testing.B) (*Store, store.Folder) {
	bigFolder.Do(func() {
		dir := os.Getenv("POCHTA_BENCH_BIGFOLDER")
		if dir == "" {
			tmp, err := os.MkdirTemp(os.Getenv("POCHTA_BENCH_DIR"), "bigfolder")
			if err != nil {
				bigFolder.err = err
				return
			}
			dir, bigFolder.tmp = tmp, tmp
		}
		s, err := Open(context.Background(), Options{Dir: dir})
		if err != nil {
			bigFolder.err = err
			return
		}
		bigFolder.s = s
		if a, err := s.AccountByAddress(context.Background(), "bench@example.org"); err == nil {
			bigFolder.inbox, bigFolder.err = s.FolderByRole(context.Background(), a.ID, store.RoleInbox)
			if st, err := s.FolderStatus(context.Background(), bigFolder.inbox.ID); err == nil && st.Messages == bigFolderSize {
				return
			}
			bigFolder.err = fmt.Errorf("%s holds a store that is not the complete big folder; remove it", dir)
			return
		}
		a := benchAccount(b, s)
		var wg sync.WaitGroup
		var next atomic.Int64
		for w := 0; w < 32; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					i := next.Add(1) - 1
					if i >= bigFolderSize {
						return
					}
					body := benchMessage(int(i))
					// A word that occurs in exactly one message, to search for.
					body = append(body, []byte("needle-"+strconv.Itoa(int(i))+"-unique\r\n")...)
					if _, err := s.Deliver(context.Background(), store.Delivery{AccountID: a.ID, Body: bytes.NewReader(body)}); err != nil {
						bigFolder.err = err
						return
					}
				}
			}()
		}
		wg.Wait()
		bigFolder.inbox, bigFolder.err = s.FolderByRole(context.Background(), a.ID, store.RoleInbox)
	})
	if bigFolder.err != nil {
		b.Fatal(bigFolder.err)
	}
	return bigFolder.s, bigFolder.inbox
}

// BenchmarkListFolder100k lists every message of a 100,000-message folder
// (what IMAP SELECT and POP3 login do).
func BenchmarkListFolder100k(b *testing.B) {
	s, inbox := openBigFolder(b)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		n := 0
		for _, err := range s.Messages(context.Background(), inbox.ID) {
			if err != nil {
				b.Fatal(err)
			}
			n++
		}
		if n != bigFolderSize {
			b.Fatalf("listed %d messages, want %d", n, bigFolderSize)
		}
	}
}

// BenchmarkSearchText100k searches the text of a 100,000-message folder
// for a string found in one message (IMAP SEARCH TEXT).
func BenchmarkSearchText100k(b *testing.B) {
	s, inbox := openBigFolder(b)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		k := (i * 7919) % bigFolderSize
		uids, err := s.Search(context.Background(), inbox.ID, store.SearchText, "NEEDLE-"+strconv.Itoa(k)+"-unique")
		if err != nil {
			b.Fatal(err)
		}
		if len(uids) != 1 {
			b.Fatalf("found %d messages, want 1", len(uids))
		}
	}
}

// BenchmarkFetchRows10k reads what IMAP FETCH 1:* (ENVELOPE) reads from
// the store over 10,000 small messages: the messages and their cached
// structures, 128 UIDs at a time.
func BenchmarkFetchRows10k(b *testing.B) {
	const n, chunk = 10000, 128
	ctx := context.Background()
	s, err := Open(ctx, Options{Dir: benchDir(b)})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	a := benchAccount(b, s)
	seq := func(yield func(store.Delivery, error) bool) {
		for i := range n {
			msg := fmt.Sprintf("From: \"Sender %d\" <sender%d@example.net>\r\nTo: Anna <anna@example.org>, team@example.org\r\n"+
				"Subject: Report number %d\r\nMessage-ID: <msg%d@example.net>\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nText.\r\n", i, i, i, i)
			if !yield(store.Delivery{AccountID: a.ID, Body: bytes.NewReader([]byte(msg))}, nil) {
				return
			}
		}
	}
	if _, err := s.DeliverBatch(ctx, seq); err != nil {
		b.Fatal(err)
	}
	f, err := s.FolderByRole(ctx, a.ID, store.RoleInbox)
	if err != nil {
		b.Fatal(err)
	}
	var uids []uint32
	for m, err := range s.Messages(ctx, f.ID) {
		if err != nil {
			b.Fatal(err)
		}
		uids = append(uids, m.UID)
	}
	b.ReportAllocs()
	cpu0 := cpuTime()
	b.ResetTimer()
	for range b.N {
		got := 0
		for i := 0; i < len(uids); i += chunk {
			msgs, err := s.MessagesByUID(ctx, f.ID, uids[i:min(i+chunk, len(uids))])
			if err != nil {
				b.Fatal(err)
			}
			sts, err := s.Structures(ctx, msgs)
			if err != nil {
				b.Fatal(err)
			}
			for _, m := range msgs {
				if sts[m.BodyID].Root.Envelope.Subject != "" {
					got++
				}
			}
		}
		if got != n {
			b.Fatalf("%d envelopes, want %d", got, n)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N*n), "µs/msg")
	b.ReportMetric(float64((cpuTime()-cpu0).Milliseconds())/float64(b.N), "cpu-ms/op")
}

// cpuTime is the CPU time (user and system) the process has used, which
// says more than the elapsed time on a machine shared with other work.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func BenchmarkQueue(b *testing.B)      { storetest.BenchQueue(b, openTemp(b)) }
func BenchmarkWebSession(b *testing.B) { storetest.BenchWebSession(b, openTemp(b)) }
func BenchmarkMTASTS(b *testing.B)     { storetest.BenchMTASTS(b, openTemp(b)) }
func BenchmarkResolve(b *testing.B)    { storetest.BenchResolve(b, openTemp(b)) }
