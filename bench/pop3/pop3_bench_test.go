// Package pop3bench measures pochta's POP3 server in process over loopback
// TLS: logins per second and RETR throughput for 10 KB and 1 MB messages
// with 1 and 10 concurrent sessions.
//
//	go test -run '^$' -bench . -benchtime 3s ./bench/pop3/
//
// The comparison with Dovecot over the network, with a real pochta serve,
// is the load subcommand (bench/pop3/load) that scripts/bench.sh runs.
package pop3bench

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"

	"github.com/pochta-mail/pochta/internal/auth"
	"github.com/pochta-mail/pochta/internal/pop3"
	"github.com/pochta-mail/pochta/internal/store"
	"github.com/pochta-mail/pochta/internal/store/sqlite"
	"github.com/pochta-mail/pochta/internal/tlsutil"
)

const password = "bench password"

// bench is a running server with accounts u0..u9, each holding msgs
// messages of size octets.
type bench struct {
	addr string
	tls  *tls.Config
}

func setup(b *testing.B, size, msgs int) *bench {
	b.Helper()
	ctx := context.Background()
	dir := b.TempDir()
	st, err := sqlite.Open(ctx, sqlite.Options{Dir: dir, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	if _, err := st.CreateDomain(ctx, "example.org"); err != nil {
		b.Fatal(err)
	}
	hash, err := auth.HashPassword(password)
	if err != nil {
		b.Fatal(err)
	}
	line := strings.Repeat("abcdefghij", 7) + "\r\n"
	body := "Subject: bench\r\n\r\n" + strings.Repeat(line, size/len(line))
	for i := range 10 {
		a, err := st.CreateAccount(ctx, store.NewAccount{Address: fmt.Sprintf("u%d@example.org", i), PasswordHash: hash, Settings: store.DefaultSettings()})
		if err != nil {
			b.Fatal(err)
		}
		for range msgs {
			if _, err := st.Deliver(ctx, store.Delivery{AccountID: a.ID, Body: strings.NewReader(body)}); err != nil {
				b.Fatal(err)
			}
		}
	}
	tm, err := tlsutil.Load(tlsutil.Options{DataDir: dir, Hostname: "localhost"})
	if err != nil {
		b.Fatal(err)
	}
	log := slog.New(slog.DiscardHandler)
	srv, err := pop3.New(pop3.Options{Store: st, Auth: auth.NewAuthenticator(st, auth.Policy{}, log), TLSConfig: tm.TLSConfig(), Logger: log})
	if err != nil {
		b.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	sctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { srv.Serve(sctx, ln, true); close(done) }()
	b.Cleanup(func() { cancel(); <-done })
	return &bench{addr: ln.Addr().String(), tls: &tls.Config{RootCAs: tm.CertPool(), ServerName: "localhost"}}
}

// session logs account i in and returns a reader/writer pair.
func (bn *bench) session(b *testing.B, i int) (net.Conn, *bufio.Reader) {
	c, err := tls.Dial("tcp", bn.addr, bn.tls)
	if err != nil {
		b.Fatal(err)
	}
	r := bufio.NewReaderSize(c, 64<<10)
	expect := func() {
		l, err := r.ReadString('\n')
		if err != nil || !strings.HasPrefix(l, "+OK") {
			b.Fatalf("reply %q, %v", l, err)
		}
	}
	expect()
	fmt.Fprintf(c, "USER u%d@example.org\r\nPASS %s\r\n", i, password)
	expect()
	expect()
	return c, r
}

// BenchmarkLogin measures TLS connect + USER/PASS + QUIT (password
// hashing included, as a client sees it).
func BenchmarkLogin(b *testing.B) {
	bn := setup(b, 100, 1)
	for _, conc := range []int{1, 10} {
		b.Run(fmt.Sprintf("sessions=%d", conc), func(b *testing.B) {
			var wg sync.WaitGroup
			per := b.N/conc + 1
			b.ResetTimer()
			for w := range conc {
				wg.Go(func() {
					for range per {
						c, r := bn.session(b, w)
						fmt.Fprintf(c, "QUIT\r\n")
						r.ReadString('\n')
						c.Close()
					}
				})
			}
			wg.Wait()
			b.ReportMetric(float64(per*conc)/b.Elapsed().Seconds(), "logins/s")
		})
	}
}

// BenchmarkRetr measures RETR throughput; b.SetBytes makes go test print
// MB/s.
func BenchmarkRetr(b *testing.B) {
	for _, size := range []int{10 << 10, 1 << 20} {
		bn := setup(b, size, 20)
		for _, conc := range []int{1, 10} {
			b.Run(fmt.Sprintf("size=%dKB/sessions=%d", size>>10, conc), func(b *testing.B) {
				b.SetBytes(int64(size))
				var wg sync.WaitGroup
				per := b.N/conc + 1
				conns := make([]net.Conn, conc)
				readers := make([]*bufio.Reader, conc)
				for w := range conc { // log in outside the timing
					conns[w], readers[w] = bn.session(b, w)
				}
				b.ResetTimer()
				for w := range conc {
					wg.Go(func() {
						c, r := conns[w], readers[w]
						defer c.Close()
						for i := range per {
							fmt.Fprintf(c, "RETR %d\r\n", i%20+1)
							for {
								l, err := r.ReadSlice('\n')
								if err != nil && err != bufio.ErrBufferFull {
									b.Error(err)
									return
								}
								if string(l) == ".\r\n" {
									break
								}
							}
						}
						io.WriteString(c, "QUIT\r\n")
					})
				}
				wg.Wait()
			})
		}
	}
}
