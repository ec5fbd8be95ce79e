// Command load measures a POP3 server over pop3s (implicit TLS, the
// certificate verified): logins per second, and RETR throughput in MB/s
// (10^6 bytes) with 1 and 10 concurrent sessions. It also seeds the same
// mailboxes into a stopped pochta's data folder and into Maildirs, so
// pochta and Dovecot serve identical messages.
//
//	load seed -pochta-data DIR -maildir DIR -users 10 -domain localhost
//	load run -label pochta -addr 127.0.0.1:10995 -ca cert.pem -pass secret
//
// Every mailbox popN@DOMAIN (N = 0…users-1) gets smallCount messages of
// 10 KB (numbers 1…smallCount) followed by bigCount messages of 1 MB.
// Session i of a run uses account i, since an account's maildrop is locked
// by one session at a time. Each figure is printed as a line that
// scripts/bench.sh reads:
//
//	RESULT label=pochta test=retr size=10KB sessions=10 rate=41.3
package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pochta-mail/pochta/internal/store"
	"github.com/pochta-mail/pochta/internal/store/sqlite"
)

// The seeded mailbox: smallCount messages of smallSize, then bigCount of
// bigSize.
const (
	smallCount = 20
	smallSize  = 10 * 1024
	bigCount   = 5
	bigSize    = 1 << 20
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: load seed|run [flags]")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "seed":
		err = seed(os.Args[2:])
	case "run":
		err = runCmd(os.Args[2:], os.Stdout)
	default:
		err = fmt.Errorf("unknown command %q", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "pop3 load:", err)
		os.Exit(1)
	}
}

// message makes message i (1-based) of the seeded mailbox of user, of
// exactly size bytes with CRLF line endings. A few body lines start with
// a dot, so dot-stuffing is exercised.
func message(user string, i, size int) []byte {
	head := fmt.Sprintf("From: <sender@localhost>\r\nTo: <%s>\r\nSubject: pop3 bench %d\r\nMessage-ID: <%d.%s>\r\nDate: Tue, 24 Nov 2026 12:00:00 +0000\r\n\r\n",
		user, i, i, user)
	var b strings.Builder
	b.Grow(size)
	b.WriteString(head)
	for n := 0; ; n++ {
		line := strings.Repeat("0123456789", 7) + "abcd\r\n"
		if n%50 == 49 {
			line = "." + line[1:]
		}
		if b.Len()+len(line) > size {
			break
		}
		b.WriteString(line)
	}
	if rest := size - b.Len(); rest >= 2 {
		b.WriteString(strings.Repeat("x", rest-2) + "\r\n")
	}
	return []byte(b.String())
}

// seed writes the mailboxes into a pochta data folder (the server must be
// stopped and the accounts must exist) and into Maildirs DIR/<local part>.
func seed(args []string) error {
	fs := flag.NewFlagSet("seed", flag.ContinueOnError)
	pochtaData := fs.String("pochta-data", "", "pochta data_dir to deliver into (server stopped)")
	maildir := fs.String("maildir", "", "folder for one Maildir per user")
	users := fs.Int("users", 10, "number of accounts pop0…")
	domain := fs.String("domain", "localhost", "accounts' domain")
	owner := fs.Int("uid", -1, "owner of the Maildir files (-1: unchanged)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	ctx := context.Background()
	var st store.Store
	if *pochtaData != "" {
		s, err := sqlite.Open(ctx, sqlite.Options{Dir: *pochtaData})
		if err != nil {
			return fmt.Errorf("open pochta store: %w", err)
		}
		defer s.Close()
		st = s
	}
	for u := range *users {
		local := fmt.Sprintf("pop%d", u)
		user := local + "@" + *domain
		var acct store.Account
		if st != nil {
			var err error
			if acct, err = st.AccountByAddress(ctx, user); err != nil {
				return fmt.Errorf("account %s: %w", user, err)
			}
		}
		var md string
		if *maildir != "" {
			md = filepath.Join(*maildir, local)
			for _, sub := range []string{"new", "cur", "tmp"} {
				if err := os.MkdirAll(filepath.Join(md, sub), 0o700); err != nil {
					return fmt.Errorf("maildir: %w", err)
				}
			}
		}
		for i := 1; i <= smallCount+bigCount; i++ {
			size := smallSize
			if i > smallCount {
				size = bigSize
			}
			msg := message(user, i, size)
			if st != nil {
				if _, err := st.Deliver(ctx, store.Delivery{AccountID: acct.ID, Body: strings.NewReader(string(msg)),
					InternalDate: time.Date(2026, 11, 24, 12, 0, i, 0, time.UTC)}); err != nil {
					return fmt.Errorf("deliver to %s: %w", user, err)
				}
			}
			if md != "" {
				// Maildir names sort in delivery order, so POP3
				// message numbers match pochta's.
				name := filepath.Join(md, "cur", fmt.Sprintf("%d.M%dP1.bench,S=%d:2,", 1795000000+i, i, size))
				if err := os.WriteFile(name, msg, 0o600); err != nil {
					return fmt.Errorf("maildir: %w", err)
				}
			}
		}
		if md != "" && *owner >= 0 {
			err := filepath.Walk(md, func(p string, _ os.FileInfo, err error) error {
				if err != nil {
					return err
				}
				return os.Chown(p, *owner, *owner)
			})
			if err != nil {
				return fmt.Errorf("chown maildir: %w", err)
			}
		}
	}
	return nil
}

// runConfig is the run command line.
type runConfig struct {
	label, addr, serverName, pass, domain string
	tls                                   *tls.Config
	duration                              time.Duration
	sessions                              []int
}

func runCmd(args []string, out io.Writer) error {
	var c runConfig
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	fs.StringVar(&c.label, "label", "server", "name printed in the RESULT lines")
	fs.StringVar(&c.addr, "addr", "", "pop3s address host:port (required)")
	fs.StringVar(&c.serverName, "servername", "localhost", "name the certificate must carry")
	caFile := fs.String("ca", "", "PEM file of the certificate to trust (required)")
	fs.StringVar(&c.pass, "pass", "", "password of every account")
	fs.StringVar(&c.domain, "domain", "localhost", "accounts' domain")
	fs.DurationVar(&c.duration, "duration", 5*time.Second, "length of each run")
	sessions := fs.String("sessions", "1,10", "comma-separated numbers of concurrent sessions")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if c.addr == "" || *caFile == "" {
		return errors.New("-addr and -ca are required")
	}
	pem, err := os.ReadFile(*caFile)
	if err != nil {
		return fmt.Errorf("read CA: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return fmt.Errorf("no certificate in %s", *caFile)
	}
	c.tls = &tls.Config{RootCAs: pool, ServerName: c.serverName, MinVersion: tls.VersionTLS12}
	for _, f := range strings.Split(*sessions, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			return fmt.Errorf("bad -sessions entry %q", f)
		}
		c.sessions = append(c.sessions, n)
	}
	// Warm up: one login per account (Dovecot builds its index then).
	for i := range maxOf(c.sessions) {
		s, err := c.login(i)
		if err != nil {
			return fmt.Errorf("warm-up: %w", err)
		}
		if err := s.check(smallCount+bigCount, smallSize, bigSize); err != nil {
			return fmt.Errorf("mailbox of pop%d: %w", i, err)
		}
		s.quit()
	}
	for _, n := range c.sessions {
		rate, err := c.logins(n)
		if err != nil {
			return fmt.Errorf("logins, %d sessions: %w", n, err)
		}
		fmt.Fprintf(out, "RESULT label=%s test=login sessions=%d rate=%.2f\n", c.label, n, rate)
	}
	for _, size := range []struct {
		name        string
		first, last int
	}{{"10KB", 1, smallCount}, {"1MB", smallCount + 1, smallCount + bigCount}} {
		for _, n := range c.sessions {
			rate, err := c.retr(n, size.first, size.last)
			if err != nil {
				return fmt.Errorf("RETR %s, %d sessions: %w", size.name, n, err)
			}
			fmt.Fprintf(out, "RESULT label=%s test=retr size=%s sessions=%d rate=%.1f\n", c.label, size.name, n, rate)
		}
	}
	return nil
}

// maxOf is the largest session count (the number of accounts used).
func maxOf(ns []int) int {
	m := 0
	for _, n := range ns {
		m = max(m, n)
	}
	return m
}

// session is one logged-in POP3 session.
type session struct {
	conn net.Conn
	r    *bufio.Reader
}

// login connects with TLS and logs account i in with USER/PASS.
func (c *runConfig) login(i int) (*session, error) {
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 10 * time.Second}, "tcp", c.addr, c.tls)
	if err != nil {
		return nil, fmt.Errorf("dial: %w", err)
	}
	conn.SetDeadline(time.Now().Add(time.Minute))
	s := &session{conn: conn, r: bufio.NewReaderSize(conn, 64<<10)}
	if _, err := s.ok(); err != nil {
		conn.Close()
		return nil, fmt.Errorf("greeting: %w", err)
	}
	fmt.Fprintf(conn, "USER pop%d@%s\r\nPASS %s\r\n", i, c.domain, c.pass)
	for range 2 {
		if _, err := s.ok(); err != nil {
			conn.Close()
			return nil, fmt.Errorf("login pop%d: %w", i, err)
		}
	}
	conn.SetDeadline(time.Time{})
	return s, nil
}

// ok reads a reply line and fails unless it is +OK.
func (s *session) ok() (string, error) {
	l, err := s.r.ReadString('\n')
	if err != nil {
		return "", fmt.Errorf("read: %w", err)
	}
	if !strings.HasPrefix(l, "+OK") {
		return "", fmt.Errorf("server said %q", strings.TrimSpace(l))
	}
	return l, nil
}

// check compares STAT and LIST with the seeded mailbox.
func (s *session) check(count, small, big int) error {
	fmt.Fprintf(s.conn, "LIST\r\n")
	if _, err := s.ok(); err != nil {
		return err
	}
	n := 0
	for {
		l, err := s.r.ReadString('\n')
		if err != nil {
			return fmt.Errorf("LIST: %w", err)
		}
		if l == ".\r\n" {
			break
		}
		n++
		var num, size int
		if _, err := fmt.Sscanf(l, "%d %d", &num, &size); err != nil {
			return fmt.Errorf("LIST line %q", l)
		}
		want := small
		if num > smallCount {
			want = big
		}
		if size != want {
			return fmt.Errorf("message %d has %d octets, want %d (was the mailbox seeded?)", num, size, want)
		}
	}
	if n != count {
		return fmt.Errorf("%d messages, want %d", n, count)
	}
	return nil
}

// retrieve sends RETR n and reads the message, returning its size without
// the dot-stuffing and the final dot line.
func (s *session) retrieve(n int) (int64, error) {
	fmt.Fprintf(s.conn, "RETR %d\r\n", n)
	if _, err := s.ok(); err != nil {
		return 0, err
	}
	var size int64
	start := true
	for {
		l, err := s.r.ReadSlice('\n')
		if err != nil && !errors.Is(err, bufio.ErrBufferFull) {
			return 0, fmt.Errorf("RETR %d: %w", n, err)
		}
		if start && string(l) == ".\r\n" {
			return size, nil
		}
		size += int64(len(l))
		if start && len(l) > 0 && l[0] == '.' {
			size--
		}
		start = err == nil
	}
}

// quit ends the session.
func (s *session) quit() {
	s.conn.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintf(s.conn, "QUIT\r\n")
	s.r.ReadString('\n')
	s.conn.Close()
}

// logins has n workers log in and out (account = worker) for the run's
// duration and returns logins per second.
func (c *runConfig) logins(n int) (float64, error) {
	var count atomic.Int64
	errs := make(chan error, n)
	deadline := time.Now().Add(c.duration)
	start := time.Now()
	var wg sync.WaitGroup
	for w := range n {
		wg.Go(func() {
			for time.Now().Before(deadline) {
				s, err := c.login(w)
				if err != nil {
					errs <- err
					return
				}
				s.quit()
				count.Add(1)
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	close(errs)
	if err := <-errs; err != nil {
		return 0, err
	}
	return float64(count.Load()) / elapsed.Seconds(), nil
}

// retr logs n sessions in (untimed), then has each RETR messages
// first…last in turn for the run's duration; it returns MB/s.
func (c *runConfig) retr(n, first, last int) (float64, error) {
	sessions := make([]*session, n)
	for i := range sessions {
		s, err := c.login(i)
		if err != nil {
			for _, s := range sessions[:i] {
				s.quit()
			}
			return 0, err
		}
		sessions[i] = s
	}
	var total atomic.Int64
	errs := make(chan error, n)
	deadline := time.Now().Add(c.duration)
	start := time.Now()
	var wg sync.WaitGroup
	for _, s := range sessions {
		wg.Go(func() {
			defer s.quit()
			for i := 0; time.Now().Before(deadline); i++ {
				got, err := s.retrieve(first + i%(last-first+1))
				if err != nil {
					errs <- err
					return
				}
				total.Add(got)
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	close(errs)
	if err := <-errs; err != nil {
		return 0, err
	}
	return float64(total.Load()) / 1e6 / elapsed.Seconds(), nil
}
