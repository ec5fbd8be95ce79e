// Command load drives the relay benchmark of scripts/bench.sh: it sends
// -n messages of 10 KB, each to -rcpts recipients, over one SMTP
// connection to the first server (pochta A or Postfix A) and stops the
// clock when the second server (B) has stored every copy.
//
// B's progress is read from its Maildirs (-maildirs, a glob of
// directories whose files are counted, for Postfix) or from its log
// (-log and -match: lines containing the string are counted, for pochta,
// which logs each stored copy).
//
//	go run ./bench/queue/load -addr 127.0.0.1:2587 -starttls -ca cert.pem -servername localhost \
//	    -user bench@a.example -pass secret -from bench@a.example -domain b.example -rcpts 100 -n 20 \
//	    -log b.log -match 'service=delivery' -label pochta
//
// It prints one line that scripts/bench.sh reads:
//
//	RESULT label=pochta rcpts=100 msgs=20 copies=2000 seconds=9.81 rate=2.04 copyrate=203.9
package main

import (
	"bufio"
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
	"strings"
	"time"
)

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "queue load:", err)
		os.Exit(1)
	}
}

func run(args []string, out io.Writer) error {
	fs := flag.NewFlagSet("load", flag.ContinueOnError)
	addr := fs.String("addr", "", "SMTP server A, host:port")
	starttls := fs.Bool("starttls", false, "say STARTTLS")
	caFile := fs.String("ca", "", "PEM certificate to trust for STARTTLS")
	serverName := fs.String("servername", "localhost", "TLS server name")
	user := fs.String("user", "", "AUTH PLAIN user (none: no AUTH)")
	pass := fs.String("pass", "", "AUTH PLAIN password")
	from := fs.String("from", "", "envelope sender")
	domain := fs.String("domain", "b.example", "recipients are r0@domain, r1@domain, …")
	rcpts := fs.Int("rcpts", 1, "recipients per message")
	n := fs.Int("n", 100, "messages")
	maildirs := fs.String("maildirs", "", "glob of Maildir folders of B whose files count as stored copies")
	logFile := fs.String("log", "", "B's log file")
	match := fs.String("match", "", "a line of -log containing this is one stored copy")
	label := fs.String("label", "server", "name in the RESULT line")
	wait := fs.Duration("wait", 15*time.Minute, "longest wait for B")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *addr == "" || *from == "" || (*maildirs == "") == (*logFile == "") {
		return errors.New("need -addr, -from and one of -maildirs or -log")
	}
	count := func() (int, error) {
		if *maildirs != "" {
			dirs, err := filepath.Glob(*maildirs)
			if err != nil {
				return 0, err
			}
			total := 0
			for _, d := range dirs {
				es, err := os.ReadDir(d)
				if err != nil && !errors.Is(err, os.ErrNotExist) {
					return 0, err
				}
				total += len(es)
			}
			return total, nil
		}
		f, err := os.Open(*logFile)
		if errors.Is(err, os.ErrNotExist) {
			return 0, nil
		} else if err != nil {
			return 0, err
		}
		defer f.Close()
		total := 0
		sc := bufio.NewScanner(f)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			if strings.Contains(sc.Text(), *match) {
				total++
			}
		}
		return total, sc.Err()
	}
	before, err := count()
	if err != nil {
		return err
	}

	c, err := smtp.Dial(*addr)
	if err != nil {
		return err
	}
	defer c.Close()
	if *starttls {
		cfg := &tls.Config{ServerName: *serverName}
		if *caFile != "" {
			pem, err := os.ReadFile(*caFile)
			if err != nil {
				return err
			}
			cfg.RootCAs = x509.NewCertPool()
			cfg.RootCAs.AppendCertsFromPEM(pem)
		}
		if err := c.StartTLS(cfg); err != nil {
			return fmt.Errorf("STARTTLS: %w", err)
		}
	}
	if *user != "" {
		// net/smtp checks the name against the one it dialled.
		host, _, _ := net.SplitHostPort(*addr)
		if err := c.Auth(smtp.PlainAuth("", *user, *pass, host)); err != nil {
			return fmt.Errorf("AUTH: %w", err)
		}
	}
	to := make([]string, *rcpts)
	for i := range to {
		to[i] = fmt.Sprintf("r%d@%s", i, *domain)
	}
	body := "From: " + *from + "\r\nTo: " + to[0] + "\r\nSubject: relay bench\r\n\r\n" + strings.Repeat(strings.Repeat("x", 98)+"\r\n", 100)
	start := time.Now()
	for i := range *n {
		if err := c.Mail(*from); err != nil {
			return fmt.Errorf("message %d: MAIL: %w", i, err)
		}
		for _, r := range to {
			if err := c.Rcpt(r); err != nil {
				return fmt.Errorf("message %d: RCPT %s: %w", i, r, err)
			}
		}
		w, err := c.Data()
		if err != nil {
			return fmt.Errorf("message %d: DATA: %w", i, err)
		}
		io.WriteString(w, body)
		if err := w.Close(); err != nil {
			return fmt.Errorf("message %d: end of DATA: %w", i, err)
		}
	}
	c.Quit()
	want := *n * *rcpts
	deadline := time.Now().Add(*wait)
	for {
		got, err := count()
		if err != nil {
			return err
		}
		if got-before >= want {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("B stored %d of %d copies in %s", got-before, want, *wait)
		}
		time.Sleep(20 * time.Millisecond)
	}
	el := time.Since(start).Seconds()
	fmt.Fprintf(out, "RESULT label=%s rcpts=%d msgs=%d copies=%d seconds=%.2f rate=%.2f copyrate=%.1f\n",
		*label, *rcpts, *n, want, el, float64(*n)/el, float64(want)/el)
	return nil
}
