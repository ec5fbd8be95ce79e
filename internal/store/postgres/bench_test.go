package postgres

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pochta-mail/pochta/internal/store"
	"github.com/pochta-mail/pochta/internal/store/storetest"
)

// benchMessage is a 10 KB plain-text message (as in the SQLite benchmark).
func benchMessage(i int) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "From: sender%d@example.net\r\nTo: bench@example.org\r\nSubject: benchmark message %d\r\nMessage-ID: <%d@example.net>\r\n\r\n", i, i, i)
	for b.Len() < 10*1024 {
		fmt.Fprintf(&b, "Line %d of message %d: lorem ipsum dolor sit amet, consectetur adipiscing elit.\r\n", b.Len(), i)
	}
	return b.Bytes()
}

// benchAccount makes a domain and an account without quota.
func benchAccount(tb testing.TB, s *Store, addr string) store.Account {
	tb.Helper()
	ctx := context.Background()
	if _, err := s.CreateDomain(ctx, "example.org"); err != nil && !errors.Is(err, store.ErrExists) {
		tb.Fatal(err)
	}
	a, err := s.CreateAccount(ctx, store.NewAccount{Address: addr, Settings: store.DefaultSettings()})
	if err != nil {
		tb.Fatal(err)
	}
	return a
}

// benchmarkDeliver measures durable deliveries per second of 10 KB
// messages with a number of concurrent writers, all into one inbox
// (accounts > 1 spreads the writers over that many accounts).
func benchmarkDeliver(b *testing.B, writers, accounts int) {
	s := openDSN(b, newMigratedDatabase(b))
	var accts []store.Account
	for i := range accounts {
		accts = append(accts, benchAccount(b, s, fmt.Sprintf("bench%d@example.org", i)))
	}
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
			a := accts[w%len(accts)]
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

func BenchmarkDeliver1(b *testing.B)  { benchmarkDeliver(b, 1, 1) }
func BenchmarkDeliver16(b *testing.B) { benchmarkDeliver(b, 16, 1) }

// BenchmarkDeliver16Accounts16 spreads 16 writers over 16 accounts: no
// folder or account row is shared, so only the WAL flush is.
func BenchmarkDeliver16Accounts16(b *testing.B) { benchmarkDeliver(b, 16, 16) }

func BenchmarkQueue(b *testing.B)      { storetest.BenchQueue(b, openTemp(b)) }
func BenchmarkWebSession(b *testing.B) { storetest.BenchWebSession(b, openTemp(b)) }
func BenchmarkMTASTS(b *testing.B)     { storetest.BenchMTASTS(b, openTemp(b)) }
func BenchmarkResolve(b *testing.B)    { storetest.BenchResolve(b, openTemp(b)) }
