package e2e

import (
	"fmt"
	"io"
	"net/smtp"
	"strings"
	"sync"
	"testing"
	"time"
)

// BenchmarkSMTPDeliveryNodes measures SMTP delivery into local mailboxes
// (1 KB messages on the submission listener, STARTTLS and AUTH PLAIN as
// scripts/bench.sh does, so no DNS lookups; 12 clients with one connection
// each, spread over the nodes, each client's account sending to the 12
// accounts in turn) with 1, 2 and 3 `pochta serve` nodes on one
// PostgreSQL database. Run it under scripts/pgtest.sh:
//
//	scripts/pgtest.sh go test -run XXX -bench SMTPDeliveryNodes -benchtime 600x ./test/e2e/
func BenchmarkSMTPDeliveryNodes(b *testing.B) {
	for _, nodes := range []int{1, 2, 3} {
		b.Run(fmt.Sprintf("nodes=%d", nodes), func(b *testing.B) {
			dsn := pgDatabase(b)
			extra := fmt.Sprintf("[store]\nbackend = \"postgres\"\ndsn = %q\n", dsn)
			servers := []*Server{StartServer(b, extra)}
			for len(servers) < nodes {
				servers = append(servers, startNode(b, extra, servers[0]))
			}
			const users = 12
			for i := range users {
				servers[0].AddUser(b, fmt.Sprintf("u%d@example.org", i), "bench-secret-1")
			}
			const clients = 12
			conns := make([]*smtp.Client, clients)
			for i := range conns {
				s := servers[i%nodes]
				c, err := smtp.Dial(s.Addr("submission"))
				if err != nil {
					b.Fatal(err)
				}
				if err := c.StartTLS(s.TLSConfig()); err != nil {
					b.Fatal(err)
				}
				if err := c.Auth(smtp.PlainAuth("", fmt.Sprintf("u%d@example.org", i), "bench-secret-1", "127.0.0.1")); err != nil {
					b.Fatal(err)
				}
				conns[i] = c
			}
			body := "Subject: bench\r\n\r\n" + strings.Repeat("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcde\r\n", 16)
			var next sync.Mutex
			sent := 0
			b.ResetTimer()
			start := time.Now()
			var wg sync.WaitGroup
			for i, c := range conns {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for {
						next.Lock()
						if sent == b.N {
							next.Unlock()
							return
						}
						n := sent
						sent++
						next.Unlock()
						from := fmt.Sprintf("u%d@example.org", i)
						msg := "From: " + from + "\r\n" + body
						if err := sendOn(c, from, fmt.Sprintf("u%d@example.org", (n+i)%users), msg); err != nil {
							b.Error(err)
							return
						}
					}
				}()
			}
			wg.Wait()
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "msgs/s")
			b.StopTimer()
			for _, c := range conns {
				c.Quit()
			}
		})
	}
}

// sendOn sends one message on an open SMTP connection.
func sendOn(c *smtp.Client, from, to, msg string) error {
	if err := c.Mail(from); err != nil {
		return fmt.Errorf("mail: %w", err)
	}
	if err := c.Rcpt(to); err != nil {
		return fmt.Errorf("rcpt: %w", err)
	}
	w, err := c.Data()
	if err != nil {
		return fmt.Errorf("data: %w", err)
	}
	if _, err := io.WriteString(w, msg); err != nil {
		return err
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("end of data: %w", err)
	}
	return c.Reset()
}
