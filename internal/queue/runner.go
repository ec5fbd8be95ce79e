// Package queue is the outbound delivery engine: it takes messages from
// the durable queue (delivery.Queue), finds the servers of each
// recipient's domain (MX records, implicit MX, or a configured route),
// delivers over SMTP with opportunistic STARTTLS, signs with DKIM, retries
// with backoff and returns what cannot be delivered to the sender with a
// delivery status notification (RFC 3464) in English and Russian.
//
// A message leaves the queue only after every recipient got a final
// answer: the remote 250 after DATA, or a permanent failure that was
// reported to the sender. Messages are claimed from the queue with a
// lease (Queue.Claim), so engines on several nodes sharing one store
// never attempt a message at once; an attempt interrupted by a crash is
// taken over when its lease expires, or at once by the node's next
// process.
//
// go-smtp's client cannot pipeline or send BDAT: commands go one at a
// time.
package queue

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/pochta-mail/pochta/internal/config"
	"github.com/pochta-mail/pochta/internal/delivery"
	"github.com/pochta-mail/pochta/internal/msgauth"
	"github.com/pochta-mail/pochta/internal/store"
)

// defaultLeaseTime is how long an attempt may take before another engine
// may take the message over, unless Options.LeaseTime says otherwise.
const defaultLeaseTime = 30 * time.Minute

// Options configure a Runner.
type Options struct {
	// Queue holds the messages to deliver.
	Queue delivery.Queue
	// Store receives bounces to local senders and local retries.
	Store store.Store
	// Resolver maps local addresses to accounts.
	Resolver *delivery.Resolver
	// DNS answers MX and address lookups.
	DNS *net.Resolver
	// DKIM signs mail from local domains; nil signs nothing.
	DKIM msgauth.Signer
	// Hostname is the EHLO name and the reporting host of bounces.
	Hostname string
	// Routes are fixed next hops.
	Routes config.Routes
	// RetryInitial, RetryMax, MaxAge and DelayNotice: see
	// config.QueueConfig.
	RetryInitial, RetryMax, MaxAge, DelayNotice time.Duration
	// Concurrency and ConcurrencyPerDomain limit parallel deliveries.
	Concurrency, ConcurrencyPerDomain int
	// ConnectTimeout bounds connecting and the greeting.
	ConnectTimeout time.Duration
	// MXPort is the port of MX hosts: 25 unless testing.
	MXPort int
	// RootCAs verifies certificates where TLS is required; nil means
	// the system's roots.
	RootCAs *x509.CertPool
	// MTASTS enforces the MTA-STS policies (RFC 8461) of destination
	// domains reached through their MX records.
	MTASTS bool
	// DNSSECResolver is "host:port" of a DNSSEC-validating resolver
	// whose AD bit is trusted; when set, DANE (RFC 7672) secures
	// delivery to MX hosts with TLSA records.
	DNSSECResolver string
	// HTTPClient fetches MTA-STS policies; nil means a client that
	// follows no redirects and resolves names with DNS.
	HTTPClient *http.Client
	// PollInterval is how often the queue is read for changes made by
	// other processes (the admin commands, other nodes). Default 5s, or
	// 30s when the queue tells of those changes itself (a
	// delivery.QueueWaker giving wakeups, as the PostgreSQL store does):
	// the poll is then only a safety net.
	PollInterval time.Duration
	// LeaseTime is how long a claimed message stays this engine's
	// before another may take it over (default 30m): longer than any
	// attempt takes.
	LeaseTime time.Duration
	// Node names this node among those sharing the queue (default the
	// host name); it must not contain '/'. A process takes over at once
	// the leases of earlier processes of the same node, which must have
	// died.
	Node string
	// Log receives the engine's logs; nil means slog.Default().
	Log *slog.Logger
	// OnResult, when set, is told the outcome of every recipient an
	// attempt tried: "delivered" (with the time since the message was
	// queued), "deferred" or "bounced" (a permanent failure). For the
	// metrics.
	OnResult func(result string, sinceQueued time.Duration)
}

// OptionsFromConfig fills the settings of Options from the configuration.
func OptionsFromConfig(cfg *config.Config) Options {
	q := cfg.Queue
	return Options{
		Hostname: cfg.Hostname, Routes: q.Routes,
		RetryInitial: q.RetryInitial.Duration(), RetryMax: q.RetryMax.Duration(),
		MaxAge: q.MaxAge.Duration(), DelayNotice: q.DelayNotice.Duration(),
		Concurrency: q.Concurrency, ConcurrencyPerDomain: q.ConcurrencyPerDomain,
		ConnectTimeout: q.ConnectTimeout.Duration(),
		MTASTS:         q.MTASTS,
		DNSSECResolver: cfg.DNS.DNSSECResolver,
		LeaseTime:      q.LeaseTime.Duration(),
		DNS:            msgauth.NewResolver(cfg.DNS.Resolver),
	}
}

// Runner delivers queued messages until its context ends.
type Runner struct {
	opts  Options
	log   *slog.Logger
	pool  pool
	sts   stsCache
	wake  chan struct{}
	owner string
	node  string

	mu      sync.Mutex
	domains map[string]chan struct{}
}

// New makes a Runner; zero options get their defaults.
func New(opts Options) *Runner {
	d := config.Default().Queue
	if opts.RetryInitial <= 0 {
		opts.RetryInitial = d.RetryInitial.Duration()
	}
	if opts.RetryMax < opts.RetryInitial {
		opts.RetryMax = max(d.RetryMax.Duration(), opts.RetryInitial)
	}
	if opts.MaxAge <= 0 {
		opts.MaxAge = d.MaxAge.Duration()
	}
	if opts.Concurrency <= 0 {
		opts.Concurrency = d.Concurrency
	}
	if opts.ConcurrencyPerDomain <= 0 {
		opts.ConcurrencyPerDomain = d.ConcurrencyPerDomain
	}
	if opts.ConnectTimeout <= 0 {
		opts.ConnectTimeout = d.ConnectTimeout.Duration()
	}
	if opts.MXPort == 0 {
		opts.MXPort = 25
	}
	if opts.DNS == nil {
		opts.DNS = net.DefaultResolver
	}
	if opts.Log == nil {
		opts.Log = slog.Default()
	}
	if opts.HTTPClient == nil {
		opts.HTTPClient = defaultHTTPClient(opts.DNS)
	}
	if opts.LeaseTime <= 0 {
		opts.LeaseTime = defaultLeaseTime
	}
	if opts.Node == "" {
		opts.Node, _ = os.Hostname()
	}
	var b [6]byte
	rand.Read(b[:])
	return &Runner{opts: opts, log: opts.Log.With("service", "queue"), wake: make(chan struct{}, 1),
		node: opts.Node, owner: opts.Node + "/" + hex.EncodeToString(b[:]),
		domains: map[string]chan struct{}{}}
}

// Wake makes the runner look at the queue now.
func (r *Runner) Wake() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// Notify wraps q so that every Enqueue wakes the runner.
func (r *Runner) Notify(q delivery.Queue) delivery.Queue { return notifyQueue{q, r} }

type notifyQueue struct {
	delivery.Queue
	r *Runner
}

func (n notifyQueue) Enqueue(ctx context.Context, env delivery.QueueEnvelope, body io.Reader) (string, error) {
	id, err := n.Queue.Enqueue(ctx, env, body)
	if err == nil {
		n.r.Wake()
	}
	return id, err
}

// Poll intervals (see Options.PollInterval).
const (
	defaultPollInterval = 5 * time.Second
	wakeupPollInterval  = 30 * time.Second
)

// Run delivers until ctx ends, then waits for attempts in progress to
// finish (they end quickly: their connections are closed) and returns.
func (r *Runner) Run(ctx context.Context) error {
	sem := make(chan struct{}, r.opts.Concurrency)
	var wg sync.WaitGroup
	defer r.pool.reap(true)
	defer wg.Wait()
	// Wakeups are subscribed before the first look at the queue, so
	// that nothing queued after that look goes unnoticed.
	var wakeups <-chan struct{}
	if w, ok := r.opts.Queue.(delivery.QueueWaker); ok {
		wakeups = w.Wakeups(ctx)
	}
	poll := r.opts.PollInterval
	if poll <= 0 {
		poll = defaultPollInterval
		if wakeups != nil {
			poll = wakeupPollInterval
		}
	}
	for {
		next := r.dispatch(ctx, sem, &wg, poll)
		wait := min(time.Until(next), poll)
		t := time.NewTimer(max(wait, 10*time.Millisecond))
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-r.wake:
			t.Stop()
		case <-wakeups:
			t.Stop()
		case <-t.C:
		}
		r.pool.reap(false)
	}
}

// dispatch claims due messages while there is room and starts an
// attempt for each, and returns when the queue should be looked at
// again (at the latest after poll).
func (r *Runner) dispatch(ctx context.Context, sem chan struct{}, wg *sync.WaitGroup, poll time.Duration) time.Time {
	next := time.Now().Add(poll)
	free := cap(sem) - len(sem)
	if free <= 0 {
		return next // a finishing attempt wakes the runner
	}
	claimed, due, err := r.opts.Queue.Claim(ctx, delivery.QueueClaim{
		Owner: r.owner, StalePrefix: r.node + "/", Lease: r.opts.LeaseTime, Limit: free,
	})
	if err != nil {
		if ctx.Err() == nil {
			r.log.Error("claim queued messages", "err", err)
		}
		return next
	}
	if !due.IsZero() {
		next = minTime(next, due)
	}
	for _, env := range claimed {
		sem <- struct{}{} // room was counted above; only dispatch takes slots
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.attempt(ctx, env)
			<-sem
			r.Wake()
		}()
	}
	if len(claimed) == free {
		next = time.Now() // there may be more
	}
	return next
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

// backoff is the wait after the n-th failed attempt.
func (r *Runner) backoff(n int) time.Duration {
	d := r.opts.RetryInitial
	for i := 1; i < n && d < r.opts.RetryMax; i++ {
		d *= 2
	}
	return min(d, r.opts.RetryMax)
}

// attempt tries to deliver one message to its remaining recipients.
func (r *Runner) attempt(ctx context.Context, env delivery.QueueEnvelope) {
	log := r.log.With("queue_id", env.ID, "attempt", env.Attempts)
	var results map[string]*failure
	var relayed []rcptFailure
	if env.Local {
		results = r.deliverLocal(ctx, env)
	} else {
		results, relayed = r.deliverRemote(ctx, log, env)
	}
	// Record the outcome even when shutting down: a recipient that got
	// its 250 must not get the message again.
	bctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	defer cancel()
	r.finish(bctx, log, env, results, ctx.Err() != nil)
	if len(relayed) > 0 {
		if err := r.bounce(bctx, env, relayed, dsnRelayed); err != nil {
			log.Error("success notice not sent", "err", err)
		}
	}
}

// deliverRemote sends to every remote recipient, grouped by domain. It
// also returns the delivered recipients that asked for a success notice
// (NOTIFY=SUCCESS) from servers that will not send one themselves (no
// DSN extension): the notice says "relayed".
func (r *Runner) deliverRemote(ctx context.Context, log *slog.Logger, env delivery.QueueEnvelope) (results map[string]*failure, relayed []rcptFailure) {
	results = map[string]*failure{}
	msg, err := r.prepare(ctx, env)
	if err != nil {
		f := &failure{reason: reasonf("local error: %v", "внутренняя ошибка: %v", err), status: "4.3.0"}
		for _, rc := range env.To {
			results[rc] = f
		}
		return results, nil
	}
	var domains []string
	byDomain := map[string][]string{}
	for _, rc := range env.To {
		d := strings.ToLower(rc[strings.LastIndexByte(rc, '@')+1:])
		if _, ok := byDomain[d]; !ok {
			domains = append(domains, d)
		}
		byDomain[d] = append(byDomain[d], rc)
	}
	for _, d := range domains {
		rcpts := byDomain[d]
		release, err := r.acquireDomain(ctx, d)
		if err != nil {
			break // shutting down: not attempted
		}
		var last *failure
		hops, err := r.hops(ctx, d)
		var he *hopError
		switch {
		case errors.As(err, &he):
			status := "4.4.3"
			if he.perm {
				status = "5.1.2"
			}
			last = &failure{perm: he.perm, reason: he.reason, status: status}
		case err != nil:
			last = &failure{reason: reasonf("routing failed: %v", "ошибка маршрутизации: %v", err), status: "4.4.0"}
		}
		done := false
		for _, h := range hops {
			failed, cerr, remoteDSN := r.send(ctx, h, msg, rcpts)
			if cerr != nil {
				log.Info("host failed", "host", h.addr, "reason", cerr.reason.en)
				last = cerr
				continue
			}
			for _, rc := range rcpts {
				results[rc] = failed[rc]
				if failed[rc] == nil {
					log.Info("delivered", "from", env.From, "to", rc, "host", h.addr)
					if !remoteDSN && env.From != "" && env.DSN.Wants(rc, "SUCCESS") {
						relayed = append(relayed, rcptFailure{rcpt: rc, f: &failure{status: "2.0.0", remote: h.name,
							reason: reasonf("delivered to %s, which does not report further delivery", "доставлено на сервер %s, который не сообщает о дальнейшей доставке", h.name)}})
					}
				} else {
					log.Info("not delivered", "from", env.From, "to", rc, "host", h.addr, "perm", failed[rc].perm, "reason", failed[rc].reason.en)
				}
			}
			done = true
			break
		}
		release()
		if !done {
			for _, rc := range rcpts {
				results[rc] = last
			}
		}
	}
	return results, relayed
}

// acquireDomain waits for a free slot of a destination domain.
func (r *Runner) acquireDomain(ctx context.Context, domain string) (func(), error) {
	r.mu.Lock()
	sem, ok := r.domains[domain]
	if !ok {
		sem = make(chan struct{}, r.opts.ConcurrencyPerDomain)
		r.domains[domain] = sem
	}
	r.mu.Unlock()
	select {
	case sem <- struct{}{}:
		return func() { <-sem }, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// prepare reads the message once: its size, whether it has 8-bit bytes,
// and the DKIM signatures of the sender's domain.
func (r *Runner) prepare(ctx context.Context, env delivery.QueueEnvelope) (*outMsg, error) {
	body, err := r.opts.Queue.Open(ctx, env.ID)
	if err != nil {
		return nil, err
	}
	defer body.Close()
	sc := &scanner{r: body}
	msg := &outMsg{from: env.From, utf8: env.UTF8, dsn: env.DSN,
		open: func() (io.ReadCloser, error) { return r.opts.Queue.Open(ctx, env.ID) }}
	if r.opts.DKIM != nil && env.From != "" && env.AccountID != 0 {
		// Sign as the From field's domain (what DMARC aligns with), or
		// else as the envelope sender's; submission checked that the
		// account owns both.
		domain := env.From[strings.LastIndexByte(env.From, '@')+1:]
		if d, err := msgauth.FromDomain(r.originalHeader(ctx, env.ID)); err == nil {
			if keys, err := r.opts.DKIM.Keys(ctx, d); err == nil && len(keys) > 0 {
				domain = d
			}
		}
		sig, err := r.opts.DKIM.Sign(ctx, domain, sc)
		if err != nil {
			return nil, err
		}
		msg.prefix, msg.signDomain = sig, domain
	}
	msg.utf8Header = has8bit(r.originalHeader(ctx, env.ID))
	if _, err := io.Copy(io.Discard, sc); err != nil {
		return nil, fmt.Errorf("read queued message %s: %w", env.ID, err)
	}
	msg.size = sc.n + int64(len(msg.prefix))
	msg.eightBit = sc.eightBit
	return msg, nil
}

// scanner counts bytes and notices 8-bit data.
type scanner struct {
	r        io.Reader
	n        int64
	eightBit bool
}

func (s *scanner) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	s.n += int64(n)
	if !s.eightBit {
		for _, c := range p[:n] {
			if c >= 0x80 {
				s.eightBit = true
				break
			}
		}
	}
	return n, err
}

// deliverLocal retries local copies that failed temporarily.
func (r *Runner) deliverLocal(ctx context.Context, env delivery.QueueEnvelope) map[string]*failure {
	results := map[string]*failure{}
	for _, rc := range env.To {
		results[rc] = r.storeCopy(ctx, env.From, rc, func() (io.ReadCloser, error) { return r.opts.Queue.Open(ctx, env.ID) })
	}
	return results
}

// storeCopy stores a message in the mailboxes of a local address.
func (r *Runner) storeCopy(ctx context.Context, from, rcpt string, open func() (io.ReadCloser, error)) *failure {
	a, err := delivery.ParseAddress(rcpt)
	if err != nil {
		return &failure{perm: true, status: "5.1.3", reason: reasonf("bad address %s", "неверный адрес %s", rcpt)}
	}
	res, err := r.opts.Resolver.Resolve(ctx, a)
	switch {
	case errors.Is(err, delivery.ErrUnknownUser), errors.Is(err, delivery.ErrNotLocal):
		return &failure{perm: true, status: "5.1.1", reason: reasonf("no mailbox %s here", "почтового ящика %s здесь нет", rcpt)}
	case err != nil:
		return &failure{status: "4.3.0", reason: reasonf("local error: %v", "внутренняя ошибка: %v", err)}
	}
	for _, id := range res.Accounts {
		body, err := open()
		if err != nil {
			return &failure{status: "4.3.0", reason: reasonf("local error: %v", "внутренняя ошибка: %v", err)}
		}
		prefix := "Return-Path: <" + from + ">\r\nDelivered-To: " + rcpt + "\r\n"
		_, err = r.opts.Store.Deliver(ctx, store.Delivery{AccountID: id, Body: io.MultiReader(strings.NewReader(prefix), body)})
		body.Close()
		if errors.Is(err, store.ErrQuotaExceeded) {
			return &failure{status: "4.2.2", reason: reasonf("the mailbox %s is full", "почтовый ящик %s переполнен", rcpt)}
		}
		if err != nil {
			return &failure{status: "4.3.0", reason: reasonf("local error: %v", "внутренняя ошибка: %v", err)}
		}
	}
	return nil
}

// finish records an attempt: delivered recipients leave, permanent
// failures (and everything past MaxAge) are reported to the sender, the
// rest waits for the next attempt.
func (r *Runner) finish(ctx context.Context, log *slog.Logger, env delivery.QueueEnvelope, results map[string]*failure, interrupted bool) {
	now := time.Now()
	var remaining []string
	var bounced []rcptFailure
	errs := map[string]string{}
	for _, rc := range env.To {
		f, tried := results[rc]
		if tried && r.opts.OnResult != nil {
			switch {
			case f == nil:
				r.opts.OnResult("delivered", now.Sub(env.Created))
			case f.perm:
				r.opts.OnResult("bounced", now.Sub(env.Created))
			default:
				r.opts.OnResult("deferred", now.Sub(env.Created))
			}
		}
		switch {
		case !tried:
			remaining = append(remaining, rc)
			if e, ok := env.RcptErrors[rc]; ok {
				errs[rc] = e
			}
		case f == nil:
		case f.perm:
			bounced = append(bounced, rcptFailure{rcpt: rc, f: f})
		default:
			remaining = append(remaining, rc)
			errs[rc] = f.reason.en
			env.LastError = f.reason.en
		}
	}
	if !interrupted && len(remaining) > 0 && now.Sub(env.Created) >= r.opts.MaxAge {
		days := r.opts.MaxAge.Hours() / 24
		for _, rc := range remaining {
			last := results[rc]
			if last == nil {
				last = &failure{reason: reason{en: errs[rc], ru: errs[rc]}}
			}
			bounced = append(bounced, rcptFailure{rcpt: rc, f: &failure{perm: true, status: "4.4.7", remote: last.remote, diag: last.diag,
				reason: reasonf("gave up after %s (%.1f days) of retrying; the last error: %s",
					"попытки доставки прекращены через %s (%.1f дн.); последняя ошибка: %s", r.opts.MaxAge, days, "")}})
			b := &bounced[len(bounced)-1].f.reason
			b.en += last.reason.en
			b.ru += last.reason.ru
		}
		remaining = nil
	}
	if len(bounced) > 0 {
		if err := r.bounce(ctx, env, bounced, dsnFailed); err != nil {
			log.Error("bounce not sent", "err", err)
		}
	}
	if len(remaining) == 0 {
		if err := r.opts.Queue.Remove(ctx, env.ID); err != nil {
			log.Error("remove finished message", "err", err)
		}
		return
	}
	env.To = remaining
	env.RcptErrors = errs
	env.LeaseOwner, env.LeaseUntil = "", time.Time{}
	if interrupted {
		env.NextAttempt = now
	} else {
		env.NextAttempt = now.Add(r.backoff(env.Attempts))
		if deadline := env.Created.Add(r.opts.MaxAge); env.NextAttempt.After(deadline) {
			env.NextAttempt = deadline
		}
		if r.opts.DelayNotice > 0 && !env.DelayNotified && now.Sub(env.Created) >= r.opts.DelayNotice {
			var delayed []rcptFailure
			for _, rc := range remaining {
				if f := results[rc]; f != nil {
					delayed = append(delayed, rcptFailure{rcpt: rc, f: f})
				}
			}
			if len(delayed) > 0 {
				if err := r.bounce(ctx, env, delayed, dsnDelayed); err != nil {
					log.Error("delay notice not sent", "err", err)
				}
				env.DelayNotified = true
			}
		}
	}
	if err := r.opts.Queue.Update(ctx, env); err != nil {
		log.Error("record attempt", "err", err)
	}
	log.Info("will retry", "to", remaining, "attempts", env.Attempts, "next", env.NextAttempt.Format(time.RFC3339), "err", env.LastError)
}

// originalHeader reads the header of a queued message (at most 64 KiB).
func (r *Runner) originalHeader(ctx context.Context, id string) []byte {
	body, err := r.opts.Queue.Open(ctx, id)
	if err != nil {
		return nil
	}
	defer body.Close()
	br := bufio.NewReader(io.LimitReader(body, 64<<10))
	var out []byte
	for {
		line, err := br.ReadBytes('\n')
		if len(strings.TrimRight(string(line), "\r\n")) == 0 {
			break
		}
		out = append(out, line...)
		if err != nil {
			break
		}
	}
	return out
}

// bounce sends a delivery status notification of kind to the sender:
// into the mailbox for a local sender, through the queue otherwise. Mail
// from the null sender (a bounce itself) is never reported on, nor are
// recipients whose NOTIFY did not ask for this kind of report.
func (r *Runner) bounce(ctx context.Context, env delivery.QueueEnvelope, all []rcptFailure, kind dsnKind) error {
	return r.report(ctx, env, all, kind, r.originalHeader(ctx, env.ID))
}

// Delivered sends the success notices (DSN NOTIFY=SUCCESS, action
// "delivered") for the local recipients of m that were stored; it fits
// delivery.Deliverer.Delivered.
func (r *Runner) Delivered(ctx context.Context, m *delivery.Message, rcpts []string, header []byte) {
	env := delivery.QueueEnvelope{ID: m.ID, From: m.From, DSN: m.DSN, Created: time.Now()}
	var done []rcptFailure
	for _, rc := range rcpts {
		done = append(done, rcptFailure{rcpt: rc, f: &failure{status: "2.0.0",
			reason: reasonf("delivered to the mailbox", "доставлено в почтовый ящик")}})
	}
	if err := r.report(ctx, env, done, dsnDelivered, header); err != nil {
		r.log.Error("success notice not sent", "id", m.ID, "err", err)
	}
}

// report sends a report of kind about the recipients to the sender.
func (r *Runner) report(ctx context.Context, env delivery.QueueEnvelope, all []rcptFailure, kind dsnKind, header []byte) error {
	if env.From == "" {
		r.log.Info("not bouncing a message from the null sender", "queue_id", env.ID)
		return nil
	}
	var rcpts []rcptFailure
	for _, rc := range all {
		if env.DSN.Wants(rc.rcpt, kind.notify()) {
			rcpts = append(rcpts, rc)
		}
	}
	if len(rcpts) == 0 {
		r.log.Info("no report: NOTIFY did not ask for one", "queue_id", env.ID, "kind", string(kind))
		return nil
	}
	in := dsnInput{
		hostname: r.opts.Hostname, env: env, rcpts: rcpts, kind: kind,
		header: header, now: time.Now(),
		retryUntil: env.Created.Add(r.opts.MaxAge),
	}
	if kind == dsnFailed && strings.EqualFold(env.DSN.Ret, "FULL") {
		in.full = r.wholeMessage(ctx, env.ID)
	}
	dsn := r.signReport(ctx, buildDSN(in))
	a, err := delivery.ParseAddress(env.From)
	if err != nil {
		return fmt.Errorf("bounce to %q: %w", env.From, err)
	}
	_, err = r.opts.Resolver.Resolve(ctx, a)
	switch {
	case err == nil:
		if f := r.storeCopy(ctx, "", env.From, func() (io.ReadCloser, error) { return io.NopCloser(strings.NewReader(string(dsn))), nil }); f != nil {
			return fmt.Errorf("bounce to %s: %s", env.From, f.reason.en)
		}
	case errors.Is(err, delivery.ErrNotLocal):
		id, err := r.opts.Queue.Enqueue(ctx, delivery.QueueEnvelope{To: []string{env.From}, UTF8: !a.IsASCII()}, strings.NewReader(string(dsn)))
		if err != nil {
			return fmt.Errorf("bounce to %s: %w", env.From, err)
		}
		r.Wake()
		r.log.Info("bounce queued", "queue_id", env.ID, "bounce_id", id, "to", env.From, "kind", string(kind))
		return nil
	default:
		return fmt.Errorf("bounce to %s: %w", env.From, err)
	}
	names := make([]string, len(rcpts))
	for i, rc := range rcpts {
		names[i] = rc.rcpt
	}
	slices.Sort(names)
	r.log.Info("sender notified", "queue_id", env.ID, "to", env.From, "kind", string(kind), "recipients", names)
	return nil
}

// signReport signs a report as it comes from MAILER-DAEMON@ our
// hostname: with the DKIM keys of the hostname's domain, or of the
// nearest parent domain that has keys (mail.example.com → example.com),
// which aligns with the From domain under relaxed DMARC alignment.
func (r *Runner) signReport(ctx context.Context, report []byte) []byte {
	if r.opts.DKIM == nil {
		return report
	}
	for d := strings.ToLower(strings.TrimSuffix(r.opts.Hostname, ".")); strings.Contains(d, "."); _, d, _ = strings.Cut(d, ".") {
		keys, err := r.opts.DKIM.Keys(ctx, d)
		if err != nil || len(keys) == 0 {
			continue
		}
		sig, err := r.opts.DKIM.Sign(ctx, d, bytes.NewReader(report))
		if err != nil {
			r.log.Error("report not signed", "domain", d, "err", err)
			return report
		}
		return append(sig, report...)
	}
	return report
}

// maxReturned is the largest message a RET=FULL report returns whole;
// larger ones get their header only.
const maxReturned = 10 << 20

// wholeMessage reads a queued message for RET=FULL, or returns nil when
// it is too large or unreadable.
func (r *Runner) wholeMessage(ctx context.Context, id string) []byte {
	body, err := r.opts.Queue.Open(ctx, id)
	if err != nil {
		return nil
	}
	defer body.Close()
	b, err := io.ReadAll(io.LimitReader(body, maxReturned+1))
	if err != nil || len(b) > maxReturned {
		return nil
	}
	return b
}
