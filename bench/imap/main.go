// Command imap measures an IMAP server over imaps (implicit TLS, the
// certificate verified), so that scripts/bench.sh can run the same load
// against pochta and against Dovecot. It also seeds the same mailboxes into
// a stopped pochta's data folder and into Maildirs.
//
//	imap seed -pochta-data DIR -maildir DIR -user NAME@DOMAIN -count N [-password P]
//	imap mix -label pochta -addr HOST:PORT[,HOST:PORT…] -ca cert.pem -user U -pass P -clients 10,50 -duration 30s
//	imap envelope -label pochta -addr … -user U -pass P -count 10000
//	imap search -label pochta -addr … -user U -pass P -needle WORD -count 100000
//	imap idle -label pochta -addr … -user U -pass P -conns 10000
//
// mix: every client runs sessions of LOGIN, SELECT INBOX, then -ops
// commands drawn from FETCH (40%), STORE (25%), APPEND (20%) and EXPUNGE
// of a message it appended (15%), then LOGOUT; the figure is commands per
// second over all clients, logins and logouts included. Given several
// addresses (nodes of one service), mix spreads its clients over them in
// turn; -ca may then hold the certificates of all of them. envelope times
// FETCH 1:* (ENVELOPE) over a folder; search times SEARCH TEXT over a
// folder; idle opens connections that LOGIN, SELECT and IDLE and then
// waits for the caller to measure the server's memory (it prints READY and
// waits for its standard input to close). Each figure is a line
// scripts/bench.sh reads:
//
//	RESULT label=pochta test=mix clients=10 rate=812.4
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
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/pochta-mail/pochta/internal/store"
	"github.com/pochta-mail/pochta/internal/store/sqlite"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: imap seed|mix|envelope|search|idle [flags]")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "seed":
		err = seed(os.Args[2:])
	case "mix", "envelope", "search", "idle":
		err = run(os.Args[1], os.Args[2:], os.Stdout)
	default:
		err = fmt.Errorf("unknown command %q", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "imap bench:", err)
		os.Exit(1)
	}
}

// Message makes message i (1-based) of a seeded mailbox of user: about
// 4 KB of text with CRLF line endings. Message needleAt (if > 0) carries the
// word "needle" followed by its number, which no other message holds.
func Message(user string, i, needleAt int) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "From: Sender %d <sender%d@example.net>\r\nTo: <%s>\r\nCc: Copy <copy@example.net>\r\nSubject: imap bench message %d\r\nMessage-ID: <%d.%s>\r\nDate: Tue, 24 Nov 2026 12:00:00 +0000\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n",
		i%50, i%50, user, i, i, user)
	for n := 0; n < 50; n++ {
		fmt.Fprintf(&b, "line %02d of message %d: lorem ipsum dolor sit amet, consectetur %x\r\n", n, i, (i*7919+n)%65521)
	}
	if i == needleAt {
		fmt.Fprintf(&b, "needle%d\r\n", i)
	}
	return []byte(b.String())
}

// seed writes count messages into the inbox of user in a pochta data
// folder (the server must be stopped and the account must exist) and into
// the Maildir DIR/<local part>. With -password it also gives the pochta
// account a bcrypt hash (cost 4) of that password and prints the hash, for
// Dovecot's passwd-file: logins then cost the same little on both sides.
func seed(args []string) error {
	fs := flag.NewFlagSet("seed", flag.ContinueOnError)
	pochtaData := fs.String("pochta-data", "", "pochta data_dir to deliver into (server stopped)")
	maildir := fs.String("maildir", "", "folder for one Maildir per user")
	user := fs.String("user", "", "account address (required)")
	count := fs.Int("count", 100, "messages to store")
	needle := fs.Int("needle", 0, "number of the one message that holds the search word (0: none)")
	password := fs.String("password", "", "set this password as a bcrypt hash (pochta) and print the hash")
	owner := fs.Int("uid", -1, "owner of the Maildir files (-1: unchanged)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *user == "" {
		return errors.New("-user is required")
	}
	ctx := context.Background()
	if *password != "" {
		hash, err := bcrypt.GenerateFromPassword([]byte(*password), 4)
		if err != nil {
			return fmt.Errorf("hash password: %w", err)
		}
		fmt.Println(string(hash))
		if *pochtaData != "" {
			if err := setHash(ctx, *pochtaData, *user, string(hash)); err != nil {
				return err
			}
		}
	}
	if *pochtaData != "" && *count > 0 {
		if err := seedPochta(ctx, *pochtaData, *user, *count, *needle); err != nil {
			return err
		}
	}
	if *maildir != "" {
		local, _, _ := strings.Cut(*user, "@")
		md := filepath.Join(*maildir, local)
		for _, sub := range []string{"new", "cur", "tmp"} {
			if err := os.MkdirAll(filepath.Join(md, sub), 0o700); err != nil {
				return fmt.Errorf("maildir: %w", err)
			}
		}
		for i := 1; i <= *count; i++ {
			msg := Message(*user, i, *needle)
			name := filepath.Join(md, "cur", fmt.Sprintf("%d.M%dP1.bench,S=%d:2,", 1795000000+i, i, len(msg)))
			if err := os.WriteFile(name, msg, 0o600); err != nil {
				return fmt.Errorf("maildir: %w", err)
			}
		}
		if *owner >= 0 {
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

func setHash(ctx context.Context, dir, user, hash string) error {
	st, err := sqlite.Open(ctx, sqlite.Options{Dir: dir})
	if err != nil {
		return fmt.Errorf("open pochta store: %w", err)
	}
	defer st.Close()
	acct, err := st.AccountByAddress(ctx, user)
	if err != nil {
		return fmt.Errorf("account %s: %w", user, err)
	}
	acct.PasswordHash = hash
	if err := st.UpdateAccount(ctx, acct); err != nil {
		return fmt.Errorf("set password of %s: %w", user, err)
	}
	return nil
}

// seedPochta delivers the messages with 64 concurrent writers, so group
// commit takes many per transaction.
func seedPochta(ctx context.Context, dir, user string, count, needle int) error {
	st, err := sqlite.Open(ctx, sqlite.Options{Dir: dir})
	if err != nil {
		return fmt.Errorf("open pochta store: %w", err)
	}
	defer st.Close()
	acct, err := st.AccountByAddress(ctx, user)
	if err != nil {
		return fmt.Errorf("account %s: %w", user, err)
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1))
				if i > count {
					return
				}
				_, err := st.Deliver(ctx, store.Delivery{AccountID: acct.ID, Body: strings.NewReader(string(Message(user, i, needle))),
					InternalDate: time.Unix(1795000000+int64(i), 0)})
				if err != nil {
					errs <- fmt.Errorf("deliver to %s: %w", user, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	return <-errs
}

// config is the command line of mix, envelope, search and idle.
type config struct {
	label, addr, serverName, user, pass, needle string
	// addrs is -addr split at commas; addr is its first entry, the one
	// every command but mix uses.
	addrs             []string
	tls               *tls.Config
	duration          time.Duration
	clients           []int
	ops, count, conns int
}

func run(what string, args []string, out io.Writer) error {
	var c config
	fs := flag.NewFlagSet(what, flag.ContinueOnError)
	fs.StringVar(&c.label, "label", "server", "name printed in the RESULT lines")
	fs.StringVar(&c.addr, "addr", "", "imaps address host:port (required); mix takes a comma-separated list and spreads its clients over it")
	fs.StringVar(&c.serverName, "servername", "localhost", "name the certificate must carry")
	caFile := fs.String("ca", "", "PEM file of the certificate to trust (required)")
	fs.StringVar(&c.user, "user", "", "account")
	fs.StringVar(&c.pass, "pass", "", "password")
	fs.DurationVar(&c.duration, "duration", 30*time.Second, "length of each mix run")
	clients := fs.String("clients", "10,50", "comma-separated numbers of concurrent clients (mix)")
	fs.IntVar(&c.ops, "ops", 50, "commands per session between LOGIN/SELECT and LOGOUT (mix)")
	fs.IntVar(&c.count, "count", 0, "messages seeded into the folder (mix: the ones FETCH and STORE use; envelope, search: exactly this many)")
	fs.StringVar(&c.needle, "needle", "", "word to search for; one message holds it (search)")
	fs.IntVar(&c.conns, "conns", 10000, "idle connections (idle)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if c.addr == "" || *caFile == "" {
		return errors.New("-addr and -ca are required")
	}
	c.addrs = strings.Split(c.addr, ",")
	c.addr = c.addrs[0]
	pem, err := os.ReadFile(*caFile)
	if err != nil {
		return fmt.Errorf("read CA: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return errors.New("no certificate in the CA file")
	}
	c.tls = &tls.Config{RootCAs: pool, ServerName: c.serverName, MinVersion: tls.VersionTLS12,
		ClientSessionCache: tls.NewLRUClientSessionCache(64)}
	for _, f := range strings.Split(*clients, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			return fmt.Errorf("bad -clients %q", *clients)
		}
		c.clients = append(c.clients, n)
	}
	switch what {
	case "mix":
		for _, n := range c.clients {
			rate, err := c.mix(n)
			if err != nil {
				return fmt.Errorf("mix with %d clients: %w", n, err)
			}
			fmt.Fprintf(out, "RESULT label=%s test=mix clients=%d rate=%.1f\n", c.label, n, rate)
		}
	case "envelope":
		return c.timed(out, "envelope", "FETCH 1:* (ENVELOPE)", func(untagged int) error {
			if untagged < c.count {
				return fmt.Errorf("FETCH ENVELOPE gave %d responses, want %d", untagged, c.count)
			}
			return nil
		})
	case "search":
		return c.timed(out, "search", "SEARCH TEXT "+c.needle, func(int) error { return nil })
	case "idle":
		return c.idle(out)
	}
	return nil
}

// conn is one IMAP connection.
type conn struct {
	nc  net.Conn
	r   *bufio.Reader
	tag int
	// untagged holds the untagged lines of the last command.
	untagged []string
}

var literalRE = regexp.MustCompile(`\{(\d+)\}\r\n$`)

func (c *config) dial() (*conn, error) {
	d := &net.Dialer{Timeout: 30 * time.Second}
	nc, err := tls.DialWithDialer(d, "tcp", c.addr, c.tls)
	if err != nil {
		return nil, fmt.Errorf("dial: %w", err)
	}
	cn := &conn{nc: nc, r: bufio.NewReaderSize(nc, 64<<10)}
	nc.SetDeadline(time.Now().Add(5 * time.Minute))
	if l, err := cn.r.ReadString('\n'); err != nil || !strings.HasPrefix(l, "* OK") {
		nc.Close()
		return nil, fmt.Errorf("greeting %q: %v", l, err)
	}
	return cn, nil
}

// cmd sends a command (with an optional synchronising-free literal: the
// command ends in "{n+}" or "{n}" and lit follows) and reads up to the
// tagged answer, which must be OK. It returns the tagged line.
func (cn *conn) cmd(command string, lit []byte) (string, error) {
	cn.tag++
	tag := "b" + strconv.Itoa(cn.tag)
	cn.untagged = cn.untagged[:0]
	cn.nc.SetDeadline(time.Now().Add(5 * time.Minute))
	if lit != nil {
		// Synchronising literal: wait for the continuation.
		if _, err := io.WriteString(cn.nc, tag+" "+command+"\r\n"); err != nil {
			return "", err
		}
		l, err := cn.r.ReadString('\n')
		if err != nil {
			return "", err
		}
		if !strings.HasPrefix(l, "+") {
			return "", fmt.Errorf("%s: %q instead of a continuation", command, l)
		}
		if _, err := cn.nc.Write(append(lit, '\r', '\n')); err != nil {
			return "", err
		}
	} else if _, err := io.WriteString(cn.nc, tag+" "+command+"\r\n"); err != nil {
		return "", err
	}
	for {
		l, err := cn.r.ReadString('\n')
		if err != nil {
			return "", fmt.Errorf("%s: %w", command, err)
		}
		if m := literalRE.FindStringSubmatch(l); m != nil {
			n, _ := strconv.Atoi(m[1])
			if _, err := cn.r.Discard(n); err != nil {
				return "", err
			}
			// The rest of the response follows the literal.
			rest, err := cn.r.ReadString('\n')
			if err != nil {
				return "", err
			}
			l = strings.TrimSuffix(l, "\r\n") + "…" + rest
		}
		if strings.HasPrefix(l, tag+" ") {
			if !strings.HasPrefix(l, tag+" OK") {
				return l, fmt.Errorf("%s: %s", command, strings.TrimSpace(l))
			}
			return l, nil
		}
		cn.untagged = append(cn.untagged, l)
	}
}

func (c *config) login() (*conn, error) {
	cn, err := c.dial()
	if err != nil {
		return nil, err
	}
	if _, err := cn.cmd(fmt.Sprintf("LOGIN %q %q", c.user, c.pass), nil); err != nil {
		cn.nc.Close()
		return nil, err
	}
	return cn, nil
}

var existsRE = regexp.MustCompile(`^\* (\d+) EXISTS`)

// selectInbox selects INBOX and returns its message count.
func (cn *conn) selectInbox() (int, error) {
	if _, err := cn.cmd("SELECT INBOX", nil); err != nil {
		return 0, err
	}
	for _, l := range cn.untagged {
		if m := existsRE.FindStringSubmatch(l); m != nil {
			return strconv.Atoi(m[1])
		}
	}
	return 0, errors.New("SELECT gave no EXISTS")
}

var appendUIDRE = regexp.MustCompile(`\[APPENDUID \d+ (\d+)\]`)

// mix runs n clients for the duration and returns commands per second.
func (c *config) mix(n int) (float64, error) {
	var done atomic.Int64
	var firstErr error
	var mu sync.Mutex
	stop := time.Now().Add(c.duration)
	start := time.Now()
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		cc := *c
		cc.addr = c.addrs[i%len(c.addrs)]
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(i), uint64(n)))
			for time.Now().Before(stop) {
				if err := cc.session(rng, stop, &done); err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
					return
				}
			}
		}()
	}
	wg.Wait()
	if firstErr != nil {
		return 0, firstErr
	}
	return float64(done.Load()) / time.Since(start).Seconds(), nil
}

// session is one LOGIN … LOGOUT of a mix client; done counts commands.
func (c *config) session(rng *rand.Rand, stop time.Time, done *atomic.Int64) error {
	cn, err := c.login()
	if err != nil {
		return err
	}
	defer cn.nc.Close()
	done.Add(1)
	exists, err := cn.selectInbox()
	if err != nil {
		return err
	}
	done.Add(1)
	// The seeded messages keep the low sequence numbers: clients only
	// expunge what they appended, which sorts after them.
	seeded := max(c.count, 10)
	if exists < seeded {
		return fmt.Errorf("INBOX of %s holds %d messages; seed at least %d", c.user, exists, seeded)
	}
	var mine []string
	for k := 0; k < c.ops && time.Now().Before(stop); k++ {
		seq := 1 + rng.IntN(seeded)
		var err error
		switch p := rng.IntN(100); {
		case p < 40:
			_, err = cn.cmd(fmt.Sprintf("FETCH %d (UID FLAGS RFC822.SIZE BODY.PEEK[])", seq), nil)
		case p < 65:
			op := "+FLAGS"
			if rng.IntN(2) == 0 {
				op = "-FLAGS"
			}
			_, err = cn.cmd(fmt.Sprintf(`STORE %d %s (\Flagged $bench)`, seq, op), nil)
		case p < 85:
			msg := Message(c.user, 1000000+rng.IntN(1000000), 0)
			var l string
			l, err = cn.cmd(fmt.Sprintf("APPEND INBOX {%d}", len(msg)), msg)
			if m := appendUIDRE.FindStringSubmatch(l); m != nil {
				mine = append(mine, m[1])
			} else if err == nil {
				err = fmt.Errorf("APPEND answered %q without APPENDUID", l)
			}
		default:
			if len(mine) == 0 {
				_, err = cn.cmd("NOOP", nil)
				break
			}
			uid := mine[0]
			mine = mine[1:]
			if _, err = cn.cmd(`UID STORE `+uid+` +FLAGS.SILENT (\Deleted)`, nil); err == nil {
				done.Add(1)
				_, err = cn.cmd("UID EXPUNGE "+uid, nil)
			}
		}
		if err != nil {
			return err
		}
		done.Add(1)
	}
	// What is left of this session's appends goes too, so the folder does
	// not grow run after run.
	if len(mine) > 0 {
		set := strings.Join(mine, ",")
		if _, err := cn.cmd(`UID STORE `+set+` +FLAGS.SILENT (\Deleted)`, nil); err != nil {
			return err
		}
		if _, err := cn.cmd("UID EXPUNGE "+set, nil); err != nil {
			return err
		}
	}
	if _, err := cn.cmd("LOGOUT", nil); err != nil {
		return err
	}
	done.Add(1)
	return nil
}

// timed logs in, selects INBOX (which must hold -count messages), runs
// command once to warm caches, then three more times, and prints the best
// time in milliseconds.
func (c *config) timed(out io.Writer, test, command string, check func(untagged int) error) error {
	cn, err := c.login()
	if err != nil {
		return err
	}
	defer cn.nc.Close()
	exists, err := cn.selectInbox()
	if err != nil {
		return err
	}
	if exists != c.count {
		return fmt.Errorf("INBOX of %s holds %d messages, want %d", c.user, exists, c.count)
	}
	best := time.Duration(0)
	for k := range 4 {
		t0 := time.Now()
		if _, err := cn.cmd(command, nil); err != nil {
			return err
		}
		d := time.Since(t0)
		if err := check(len(cn.untagged)); err != nil {
			return err
		}
		if test == "search" {
			// Dovecot also sends "* OK Searched 47% of the mailbox".
			var hits []string
			for _, l := range cn.untagged {
				if strings.HasPrefix(l, "* SEARCH") {
					hits = append(hits, strings.Fields(l)[2:]...)
				}
			}
			if len(hits) != 1 {
				return fmt.Errorf("SEARCH TEXT %s answered %q, want one hit", c.needle, cn.untagged)
			}
		}
		if k > 0 && (best == 0 || d < best) {
			best = d
		}
	}
	fmt.Fprintf(out, "RESULT label=%s test=%s count=%d rate=%.1f\n", c.label, test, c.count, float64(best.Microseconds())/1000)
	return nil
}

// idle opens c.conns connections that log in, select INBOX and IDLE,
// prints READY, and keeps them open until standard input closes. It then
// checks that every connection is still open (sends DONE, expects OK).
func (c *config) idle(out io.Writer) error {
	conns := make([]*conn, 0, c.conns)
	defer func() {
		for _, cn := range conns {
			cn.nc.Close()
		}
	}()
	var mu sync.Mutex
	var firstErr error
	var wg sync.WaitGroup
	sem := make(chan struct{}, 16)
	for range c.conns {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			cn, err := c.idleOne()
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				if firstErr == nil {
					firstErr = err
				}
				return
			}
			conns = append(conns, cn)
		}()
	}
	wg.Wait()
	if firstErr != nil {
		return fmt.Errorf("%d of %d connections idle: %w", len(conns), c.conns, firstErr)
	}
	fmt.Fprintf(out, "READY %d\n", len(conns))
	io.Copy(io.Discard, os.Stdin)
	for _, cn := range conns {
		cn.nc.SetDeadline(time.Now().Add(time.Minute))
		if _, err := io.WriteString(cn.nc, "DONE\r\n"); err != nil {
			return fmt.Errorf("connection lost while idle: %w", err)
		}
	}
	for _, cn := range conns {
		l, err := cn.r.ReadString('\n')
		for err == nil && strings.HasPrefix(l, "* ") {
			l, err = cn.r.ReadString('\n')
		}
		if err != nil || !strings.Contains(l, " OK") {
			return fmt.Errorf("IDLE ended with %q: %v", l, err)
		}
	}
	fmt.Fprintf(out, "RESULT label=%s test=idle conns=%d rate=%d\n", c.label, len(conns), len(conns))
	return nil
}

func (c *config) idleOne() (*conn, error) {
	cn, err := c.login()
	if err != nil {
		return nil, err
	}
	if _, err := cn.selectInbox(); err != nil {
		cn.nc.Close()
		return nil, err
	}
	cn.tag++
	io.WriteString(cn.nc, "i IDLE\r\n")
	l, err := cn.r.ReadString('\n')
	if err != nil || !strings.HasPrefix(l, "+") {
		cn.nc.Close()
		return nil, fmt.Errorf("IDLE: %q %v", l, err)
	}
	cn.nc.SetDeadline(time.Time{})
	return cn, nil
}
