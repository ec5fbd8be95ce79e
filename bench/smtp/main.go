// Command smtp is a load generator for SMTP servers: it keeps 1, 10, 50 …
// connections busy submitting 10 KB messages and reports the messages per
// second that were accepted and durably stored.
//
// Every connection is opened (STARTTLS, AUTH) before the clock starts and
// then sends message after message (MAIL, RCPT, DATA) for -duration. With
// -maildir the clock stops only when every accepted message is in that
// Maildir (new/ or cur/), for servers such as Postfix that deliver after
// they reply 250; without it the clock stops at the last 250, for servers
// such as pochta whose 250 already means the message is durable.
//
//	go run ./bench/smtp -addr 127.0.0.1:10587 -ca cert.pem -servername localhost \
//	    -user bench@example.org -pass secret -to bench@example.org -conns 1,10,50
//
// Each level prints one line that scripts/bench.sh reads:
//
//	RESULT label=pochta conns=10 accepted=2431 seconds=10.02 rate=242.6
package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/smtp"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// config is the command line.
type config struct {
	addr, serverName, caFile string
	startTLS                 bool
	user, pass               string
	from, to                 string
	size                     int
	conns                    []int
	duration                 time.Duration
	maildir                  string
	label                    string
	wait                     time.Duration
}

func main() {
	cfg, err := parseFlags(os.Args[1:])
	if err != nil {
		fmt.Fprintln(os.Stderr, "smtp bench:", err)
		os.Exit(2)
	}
	if err := run(cfg, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "smtp bench:", err)
		os.Exit(1)
	}
}

func parseFlags(args []string) (config, error) {
	var c config
	fs := flag.NewFlagSet("smtp", flag.ContinueOnError)
	fs.StringVar(&c.addr, "addr", "", "server address host:port (required)")
	fs.StringVar(&c.serverName, "servername", "localhost", "name the server certificate must carry")
	fs.StringVar(&c.caFile, "ca", "", "PEM file of the certificate to trust for STARTTLS (required with -starttls)")
	fs.BoolVar(&c.startTLS, "starttls", true, "upgrade every connection with STARTTLS")
	fs.StringVar(&c.user, "user", "", "AUTH PLAIN user name (none: no AUTH)")
	fs.StringVar(&c.pass, "pass", "", "AUTH PLAIN password")
	fs.StringVar(&c.from, "from", "", "envelope sender and From: (default: -user, or bench@localhost)")
	fs.StringVar(&c.to, "to", "", "recipient (required)")
	fs.IntVar(&c.size, "size", 10*1024, "message size in bytes")
	conns := fs.String("conns", "1,10,50", "comma-separated numbers of concurrent connections, one run each")
	fs.DurationVar(&c.duration, "duration", 10*time.Second, "how long each run keeps sending")
	fs.StringVar(&c.maildir, "maildir", "", "Maildir the server delivers to; the clock stops when every accepted message is there")
	fs.DurationVar(&c.wait, "wait", 5*time.Minute, "how long to wait for deliveries into -maildir")
	fs.StringVar(&c.label, "label", "server", "name printed in the RESULT lines")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if c.addr == "" || c.to == "" {
		return c, errors.New("-addr and -to are required")
	}
	if c.startTLS && c.caFile == "" {
		return c, errors.New("-starttls needs -ca")
	}
	if c.from == "" {
		c.from = c.user
		if c.from == "" {
			c.from = "bench@localhost"
		}
	}
	for _, f := range strings.Split(*conns, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			return c, fmt.Errorf("bad -conns entry %q", f)
		}
		c.conns = append(c.conns, n)
	}
	if c.size < 200 {
		return c, errors.New("-size must be at least 200 bytes")
	}
	return c, nil
}

// run does one timed run per entry of cfg.conns.
func run(cfg config, out io.Writer) error {
	var tlsConf *tls.Config
	if cfg.startTLS {
		pem, err := os.ReadFile(cfg.caFile)
		if err != nil {
			return fmt.Errorf("read CA: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return fmt.Errorf("no certificate in %s", cfg.caFile)
		}
		tlsConf = &tls.Config{RootCAs: pool, ServerName: cfg.serverName, MinVersion: tls.VersionTLS12}
	}
	for _, n := range cfg.conns {
		res, err := runLevel(cfg, tlsConf, n)
		if err != nil {
			return fmt.Errorf("%d connections: %w", n, err)
		}
		fmt.Fprintf(out, "RESULT label=%s conns=%d accepted=%d seconds=%.2f rate=%.1f\n",
			cfg.label, n, res.accepted, res.elapsed.Seconds(), float64(res.accepted)/res.elapsed.Seconds())
	}
	return nil
}

// levelResult is one run's outcome.
type levelResult struct {
	accepted int64
	elapsed  time.Duration
}

// runLevel opens n sessions, then has them send for cfg.duration.
func runLevel(cfg config, tlsConf *tls.Config, n int) (levelResult, error) {
	clients := make([]*smtp.Client, n)
	defer func() {
		for _, c := range clients {
			if c != nil {
				c.Quit()
				c.Close()
			}
		}
	}()
	for i := range clients {
		c, err := dial(cfg, tlsConf)
		if err != nil {
			return levelResult{}, fmt.Errorf("session %d: %w", i, err)
		}
		clients[i] = c
	}
	before := 0
	if cfg.maildir != "" {
		var err error
		if before, err = countMaildir(cfg.maildir); err != nil {
			return levelResult{}, err
		}
	}
	var accepted atomic.Int64
	var firstErr error
	var errOnce sync.Once
	ctx, cancel := context.WithTimeout(context.Background(), cfg.duration)
	defer cancel()
	start := time.Now()
	var wg sync.WaitGroup
	for i, c := range clients {
		wg.Go(func() {
			for seq := 0; ctx.Err() == nil; seq++ {
				if err := send(c, cfg, message(cfg, i, seq, start)); err != nil {
					errOnce.Do(func() { firstErr = err })
					cancel()
					return
				}
				accepted.Add(1)
			}
		})
	}
	wg.Wait()
	if firstErr != nil {
		return levelResult{}, firstErr
	}
	elapsed := time.Since(start)
	if cfg.maildir != "" {
		want := before + int(accepted.Load())
		deadline := time.Now().Add(cfg.wait)
		for {
			got, err := countMaildir(cfg.maildir)
			if err != nil {
				return levelResult{}, err
			}
			if got >= want {
				break
			}
			if time.Now().After(deadline) {
				return levelResult{}, fmt.Errorf("only %d of %d accepted messages delivered to %s after %s", got-before, want-before, cfg.maildir, cfg.wait)
			}
			time.Sleep(5 * time.Millisecond)
		}
		elapsed = time.Since(start)
	}
	return levelResult{accepted: accepted.Load(), elapsed: elapsed}, nil
}

// dial opens a session ready for MAIL: EHLO, STARTTLS, AUTH.
func dial(cfg config, tlsConf *tls.Config) (*smtp.Client, error) {
	conn, err := net.DialTimeout("tcp", cfg.addr, 10*time.Second)
	if err != nil {
		return nil, fmt.Errorf("dial: %w", err)
	}
	host, _, _ := net.SplitHostPort(cfg.addr)
	c, err := smtp.NewClient(conn, host)
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("greeting: %w", err)
	}
	if err := c.Hello("bench.localhost"); err != nil {
		c.Close()
		return nil, fmt.Errorf("EHLO: %w", err)
	}
	if tlsConf != nil {
		if err := c.StartTLS(tlsConf); err != nil {
			c.Close()
			return nil, fmt.Errorf("STARTTLS: %w", err)
		}
	}
	if cfg.user != "" {
		// net/smtp's PlainAuth insists on TLS except towards localhost;
		// the benchmark's servers are on loopback either way.
		if err := c.Auth(smtp.PlainAuth("", cfg.user, cfg.pass, host)); err != nil {
			c.Close()
			return nil, fmt.Errorf("AUTH: %w", err)
		}
	}
	return c, nil
}

// send runs one transaction and returns an error unless it got 250.
func send(c *smtp.Client, cfg config, msg []byte) error {
	if err := c.Mail(cfg.from); err != nil {
		return fmt.Errorf("MAIL: %w", err)
	}
	if err := c.Rcpt(cfg.to); err != nil {
		return fmt.Errorf("RCPT: %w", err)
	}
	w, err := c.Data()
	if err != nil {
		return fmt.Errorf("DATA: %w", err)
	}
	if _, err := w.Write(msg); err != nil {
		return fmt.Errorf("DATA content: %w", err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("end of DATA: %w", err)
	}
	return nil
}

// message makes a message of exactly cfg.size bytes with a unique
// Message-ID.
func message(cfg config, conn, seq int, start time.Time) []byte {
	head := fmt.Sprintf("From: <%s>\r\nTo: <%s>\r\nSubject: bench %d-%d\r\nMessage-ID: <%d.%d.%d@bench.localhost>\r\nDate: %s\r\n\r\n",
		cfg.from, cfg.to, conn, seq, start.UnixNano(), conn, seq, start.Format(time.RFC1123Z))
	line := strings.Repeat("0123456789", 7) + "abcd\r\n" // 76 octets
	var b strings.Builder
	b.Grow(cfg.size)
	b.WriteString(head)
	for b.Len()+len(line) <= cfg.size {
		b.WriteString(line)
	}
	if rest := cfg.size - b.Len(); rest >= 2 {
		b.WriteString(strings.Repeat("x", rest-2) + "\r\n")
	}
	return []byte(b.String())
}

// countMaildir counts the messages in a Maildir's new/ and cur/.
func countMaildir(dir string) (int, error) {
	n := 0
	for _, sub := range []string{"new", "cur"} {
		entries, err := os.ReadDir(filepath.Join(dir, sub))
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return 0, fmt.Errorf("count maildir: %w", err)
		}
		n += len(entries)
	}
	return n, nil
}
