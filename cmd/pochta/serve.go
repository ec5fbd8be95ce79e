package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/pochta-mail/pochta/internal/auth"
	"github.com/pochta-mail/pochta/internal/config"
	"github.com/pochta-mail/pochta/internal/msgauth"
	"github.com/pochta-mail/pochta/internal/netlimit"
	"github.com/pochta-mail/pochta/internal/pop3"
	"github.com/pochta-mail/pochta/internal/store"
	"github.com/pochta-mail/pochta/internal/tlsutil"
)

// shutdownGrace bounds how long sessions may take to end after a signal.
const shutdownGrace = 10 * time.Second

func serveCommands() []*command {
	var verbose bool
	return []*command{
		{
			name: "serve", summary: "run every configured listener until SIGINT/SIGTERM",
			flags: func(fs *flag.FlagSet) { fs.BoolVar(&verbose, "v", false, "log debug detail") },
			run:   func(e *env) error { return serve(e, verbose, nil) },
		},
		{
			name: "quickstart", summary: "make ./pochta-data with a loopback config, a first domain and account, print them, and serve",
			flags: func(fs *flag.FlagSet) { fs.BoolVar(&verbose, "v", false, "log debug detail") },
			run:   func(e *env) error { return quickstart(e, verbose) },
		},
	}
}

// protocolServer is what every protocol package provides: serve one
// listener until the context ends, then let sessions finish.
type protocolServer interface {
	// Serve accepts connections on ln until ctx is cancelled.
	Serve(ctx context.Context, ln net.Listener) error
}

// services holds what protocol servers are built from: one of each for the
// whole server, shared by every listener.
type services struct {
	cfg   *config.Config
	store store.Store
	tls   *tlsutil.Manager
	log   *slog.Logger
	auth  *auth.Authenticator
	// limiter counts connections over all listeners.
	limiter *netlimit.Limiter
	// pop3 serves both POP3 listeners; smtp is what the SMTP listeners
	// share. Both are made on first use by protocolFor.
	pop3 *pop3.Server
	smtp *smtpShared
	// web is the state of the web pages (sign-in log, sessions,
	// metrics), made before the Authenticator.
	web *webShared
	// dkim signs outgoing mail with the keys in the store.
	dkim *msgauth.StoreKeys
}

// protocolFor returns the server for a listener, or nil when this build
// does not serve that protocol yet. Each protocol's constructor lives in
// serve_<protocol>.go.
func (s *services) protocolFor(l config.Listener) protocolServer {
	switch l.Name {
	case "smtp", "submission", "submission_extra", "submissions", "devices":
		return s.smtpServer(l)
	case "pop3", "pop3s":
		return s.pop3Server(l)
	case "imap", "imaps":
		return s.imapServer(l)
	case "http", "https", "metrics":
		return s.webServer(l)
	}
	return nil
}

// primaryDomain is the domain whose users may log in with the local part
// alone: the hostname if it is a local domain, else its parent domain if
// that is local, else the first local domain.
func primaryDomain(ctx context.Context, cfg *config.Config, st store.Store) (string, error) {
	domains, err := st.Domains(ctx)
	if err != nil {
		return "", err
	}
	host := strings.ToLower(cfg.Hostname)
	parent := ""
	if i := strings.IndexByte(host, '.'); i >= 0 {
		parent = host[i+1:]
	}
	for _, want := range []string{host, parent} {
		for _, d := range domains {
			if want != "" && d.Name == want {
				return d.Name, nil
			}
		}
	}
	if len(domains) > 0 {
		return domains[0].Name, nil
	}
	return "", nil
}

// serve runs the server. ready, if not nil, is called with the listeners
// that are serving once they all listen.
func serve(e *env, verbose bool, ready func(cfg *config.Config, tm *tlsutil.Manager, serving []config.Listener)) error {
	cfg, err := e.loadConfig()
	if err != nil {
		return err
	}
	level := slog.LevelInfo
	if verbose {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(e.stderr, &slog.HandlerOptions{Level: level}))
	dataDir, err := filepath.Abs(cfg.DataDir)
	if err != nil {
		return fmt.Errorf("data folder: %w", err)
	}
	tm, err := tlsutil.Load(tlsutil.OptionsFromConfig(cfg))
	if err != nil {
		return err
	}
	if tm.SelfSigned() {
		log.Info("using a self-signed certificate; clients must be told to trust it", "cert", tm.CertFile(), "sha256", tm.Fingerprint())
	}
	st, err := openConfiguredStore(e.ctx, cfg, log, true)
	if err != nil {
		return err
	}
	defer st.Close()
	primary, err := primaryDomain(e.ctx, cfg, st)
	if err != nil {
		return err
	}
	var secretKey *auth.SecretKey // decrypts APOP secrets
	if cfg.POP3.Enabled && cfg.POP3.APOP {
		if secretKey, err = loadSecretKey(e.ctx, dataDir, st); err != nil {
			return fmt.Errorf("pop3.apop: %w", err)
		}
	}
	limiter := netlimit.New(cfg.Limits.MaxConnections, cfg.Limits.MaxConnectionsPerIP)
	ws := newWebShared(st, primary, limiter.Open, log)
	authn := auth.NewAuthenticator(st, auth.Policy{
		AllowPlaintext:      cfg.Auth.AllowPlaintext,
		FailureDelay:        cfg.Auth.FailedLoginDelay.Duration(),
		MaxFailures:         cfg.Auth.MaxFailedLogins,
		Window:              cfg.Auth.FailedLoginWindow.Duration(),
		PrimaryDomain:       primary,
		MaxConcurrentHashes: cfg.Auth.MaxConcurrentHashes,
		SecretKey:           secretKey,
	}, log)
	authn.OnLogin(ws.recorder.Observe)
	if sharedStore(cfg) {
		// Several nodes: failed logins count on all of them. One node
		// keeps the counts in memory, which is far cheaper (see
		// BenchmarkRateLimiter).
		authn.SetCounter(auth.StoreCounter{Store: st, Window: cfg.Auth.FailedLoginWindow.Duration()})
	}
	dkim, err := dkimKeys(e.ctx, cfg, st, log.With("service", "dkim"))
	if err != nil {
		return err
	}
	checkDKIMKeys(e.ctx, st, dkim, log)
	svc := &services{cfg: cfg, store: st, tls: tm, log: log, auth: authn,
		limiter: limiter, web: ws, dkim: dkim}

	ctx, cancel := context.WithCancel(e.ctx)
	defer cancel()
	var wg sync.WaitGroup
	var serving []config.Listener
	var listeners []net.Listener
	errc := make(chan error, 16)
	for _, l := range cfg.Listeners() {
		p := svc.protocolFor(l)
		if p == nil {
			log.Warn("listener configured but its protocol is not implemented in this build yet; not listening", "listener", l.ConfigKey, "addr", l.Addr)
			continue
		}
		ln, err := net.Listen("tcp", l.Addr)
		if err != nil {
			for _, o := range listeners {
				o.Close()
			}
			return fmt.Errorf("%s: %w", l.ConfigKey, err)
		}
		listeners = append(listeners, ln)
		l.Addr = ln.Addr().String()
		ln = &countingListener{Listener: ln, count: func() { ws.metrics.Connection(l.Name) }}
		serving = append(serving, l)
		log.Info("listening", "listener", l.Name, "addr", l.Addr)
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := p.Serve(ctx, ln); err != nil && !errors.Is(err, net.ErrClosed) && ctx.Err() == nil {
				errc <- fmt.Errorf("%s: %w", l.ConfigKey, err)
			}
		}()
	}
	// The outbound queue runs next to the listeners and stops with them.
	if sh, err := svc.smtpState(); err != nil {
		log.Error("outbound queue not running", "err", err)
	} else {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sh.runner.Run(ctx)
		}()
	}
	ws.setServing(serving)
	if ready != nil {
		ready(cfg, tm, serving)
	}
	log.Info("pochta serving", "hostname", cfg.Hostname, "data_dir", dataDir, "listeners", len(serving))
	var runErr error
	select {
	case <-e.ctx.Done():
		log.Info("shutting down: no new connections; sessions get a moment to end", "grace", shutdownGrace)
	case runErr = <-errc:
		log.Error("listener failed; shutting down", "err", runErr)
	}
	cancel()
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(shutdownGrace):
		log.Warn("sessions still open after the grace period; closing the store anyway")
	}
	return runErr
}

// sharedStore reports whether the store may be shared by several nodes,
// so that counters and locks must live in it.
func sharedStore(cfg *config.Config) bool { return cfg.Store.Backend == config.BackendPostgres }

// quickstartDomain and quickstartUser name the first domain and account.
const (
	quickstartDomain = "localhost"
	quickstartUser   = "admin@" + quickstartDomain
)

// quickstartConfig is the config quickstart writes: loopback only, the
// standard ports plus 10000 so no privileges are needed.
func quickstartConfig(dataDir string) string {
	return fmt.Sprintf(`# Made by "pochta quickstart": loopback only, standard ports + 10000.
# Every key is explained in pochta.example.toml.
hostname = "localhost"
data_dir = %q

[listen]
smtp        = "127.0.0.1:10025"
submission  = "127.0.0.1:10587"
submissions = "127.0.0.1:10465"
pop3        = "127.0.0.1:10110"
pop3s       = "127.0.0.1:10995"
imap        = "127.0.0.1:10143"
imaps       = "127.0.0.1:10993"
http        = "127.0.0.1:18080"
`, dataDir)
}

// quickstart makes ./pochta-data (config, first domain and account) if it
// is not there yet, prints how to connect, and serves.
func quickstart(e *env, verbose bool) error {
	if e.configPath == "" {
		e.configPath = defaultConfigPath
	}
	if _, err := os.Stat(e.configPath); errors.Is(err, os.ErrNotExist) {
		dir, err := filepath.Abs(filepath.Dir(e.configPath))
		if err != nil {
			return err
		}
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return fmt.Errorf("make data folder: %w", err)
		}
		if err := os.WriteFile(e.configPath, []byte(quickstartConfig(dir)), 0o600); err != nil {
			return fmt.Errorf("write config: %w", err)
		}
		fmt.Fprintf(e.stdout, "wrote %s\n", e.configPath)
	}
	var password string
	var account string
	err := e.withStore(func(cfg *config.Config, st store.Store) error {
		if _, err := st.Domain(e.ctx, quickstartDomain); errors.Is(err, store.ErrNotFound) {
			if _, err := st.CreateDomain(e.ctx, quickstartDomain); err != nil {
				return err
			}
		} else if err != nil {
			return err
		}
		accounts, err := st.Accounts(e.ctx, "")
		if err != nil {
			return err
		}
		if len(accounts) > 0 {
			account = accounts[0].Address
			return nil
		}
		pw, hash, _, err := e.newPassword(false)
		if err != nil {
			return err
		}
		a, err := createAccount(e, cfg, st, quickstartUser, hash, true, -1)
		if err != nil {
			return err
		}
		account, password = a.Address, pw
		return nil
	})
	if err != nil {
		return err
	}
	return serve(e, verbose, func(cfg *config.Config, tm *tlsutil.Manager, serving []config.Listener) {
		printWelcome(e.stdout, cfg, tm, serving, account, password)
	})
}

// printWelcome tells the person who ran quickstart how to connect.
func printWelcome(w io.Writer, cfg *config.Config, tm *tlsutil.Manager, serving []config.Listener, account, password string) {
	fmt.Fprintln(w)
	fmt.Fprintln(w, "pochta is running.")
	fmt.Fprintf(w, "  account:  %s\n", account)
	if password != "" {
		fmt.Fprintf(w, "  password: %s   (shown once; change it with: pochta user passwd %s)\n", password, account)
	} else {
		fmt.Fprintf(w, "  password: set earlier (reset with: pochta user passwd %s)\n", account)
	}
	fmt.Fprintf(w, "  certificate: %s (self-signed: %v)\n  sha256 %s\n", tm.CertFile(), tm.SelfSigned(), tm.Fingerprint())
	fmt.Fprintln(w)
	if len(serving) == 0 {
		fmt.Fprintln(w, "No mail protocol is implemented in this build yet; the store, accounts and admin commands work.")
	} else {
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "SERVICE\tSERVER\tPORT\tSECURITY\tLOGIN")
		for _, l := range serving {
			// The server name is the hostname the certificate is for,
			// not the address bound (clients check the name).
			_, port, _ := net.SplitHostPort(l.Addr)
			host := cfg.Hostname
			sec := "STARTTLS"
			if l.ImplicitTLS {
				sec = "SSL/TLS"
			}
			if l.Name == "http" || l.Name == "metrics" {
				sec = "none"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", strings.ToUpper(l.Name), host, port, sec, account)
		}
		tw.Flush()
	}
	fmt.Fprintln(w, "\nIn another terminal: go run ./cmd/pochta user add someone@localhost")
	fmt.Fprintln(w, "Stop with Ctrl+C.")
}

// countingListener counts the connections it accepts (for /metrics).
type countingListener struct {
	net.Listener
	count func()
}

// Accept implements net.Listener.
func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.count()
	}
	return c, err
}

// checkDKIMKeys opens every DKIM key in the store once at startup, so
// that keys this node cannot use (sealed with another secret.key) are
// logged now rather than at the first message.
func checkDKIMKeys(ctx context.Context, st store.Store, dkim *msgauth.StoreKeys, log *slog.Logger) {
	stored, err := st.DKIMKeys(ctx, "")
	if err != nil {
		log.Error("DKIM keys not read", "err", err)
		return
	}
	seen := map[string]bool{}
	for _, k := range stored {
		if seen[k.Domain] {
			continue
		}
		seen[k.Domain] = true
		if _, err := dkim.Keys(ctx, k.Domain); err != nil {
			log.Error("DKIM keys of a domain not usable: its mail waits in the queue", "domain", k.Domain, "err", err)
		}
	}
}
