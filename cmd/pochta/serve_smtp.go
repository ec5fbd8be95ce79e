package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"

	"github.com/pochta-mail/pochta/internal/config"
	"github.com/pochta-mail/pochta/internal/delivery"
	"github.com/pochta-mail/pochta/internal/msgauth"
	"github.com/pochta-mail/pochta/internal/queue"
	"github.com/pochta-mail/pochta/internal/smtpd"
)

// smtpShared is what every SMTP listener shares: the outbound queue, the
// per-account sending counters (so an hourly limit counts 587 and 465
// together), delivery and address resolution.
type smtpShared struct {
	queue     delivery.Queue
	rate      *smtpd.RateLimiter
	deliverer *delivery.Deliverer
	resolver  *delivery.Resolver
	spool     string
	// runner delivers the queue; serve starts it.
	runner *queue.Runner
	// checker evaluates SPF, DKIM and DMARC on the MX listener.
	checker *msgauth.Checker
}

// smtpState makes the shared SMTP state on first use.
func (s *services) smtpState() (*smtpShared, error) {
	if s.smtp != nil {
		return s.smtp, nil
	}
	dataDir, err := filepath.Abs(s.cfg.DataDir)
	if err != nil {
		return nil, fmt.Errorf("data folder: %w", err)
	}
	// The queue lives in the store; a queue folder left by an earlier
	// version is moved in once.
	moved, err := delivery.MigrateDirQueue(context.Background(), filepath.Join(dataDir, "queue"), s.store)
	if err != nil {
		return nil, fmt.Errorf("outbound queue: %w", err)
	}
	if moved > 0 {
		s.log.Info("moved the queue folder's messages into the store", "messages", moved)
	}
	q := delivery.StoreQueue{Store: s.store}
	spool := filepath.Join(dataDir, "tmp")
	if err := os.MkdirAll(spool, 0o700); err != nil {
		return nil, fmt.Errorf("spool folder: %w", err)
	}
	resolver := &delivery.Resolver{Store: s.store, PlusSeparators: s.cfg.SMTP.PlusSeparator}
	qopts := queue.OptionsFromConfig(s.cfg)
	qopts.Queue, qopts.Store, qopts.Resolver, qopts.Log = q, s.store, resolver, s.log
	qopts.DKIM = s.dkim
	if s.web != nil {
		qopts.OnResult = s.web.metrics.Delivery
	}
	// Processes of one node (a host and its data folder) take over each
	// other's leases at once on restart; other nodes wait for them. The
	// folder is named by a hash: the node name must not contain '/',
	// which ends it in lease owners.
	host, _ := os.Hostname()
	sum := sha256.Sum256([]byte(dataDir))
	qopts.Node = host + ":" + hex.EncodeToString(sum[:6])
	runner := queue.New(qopts)
	rate := smtpd.NewRateLimiter(s.cfg.SMTP.MaxMessagesPerHour, s.cfg.SMTP.MaxMessagesPerDay)
	if sharedStore(s.cfg) {
		rate = smtpd.NewStoreRateLimiter(s.store, s.cfg.SMTP.MaxMessagesPerHour, s.cfg.SMTP.MaxMessagesPerDay, s.log)
	}
	s.smtp = &smtpShared{
		queue:     q,
		rate:      rate,
		deliverer: &delivery.Deliverer{Store: s.store, Queue: runner.Notify(q), Log: s.log.With("service", "delivery"), SpoolDir: spool, Delivered: runner.Delivered},
		resolver:  resolver,
		spool:     spool,
		runner:    runner,
		checker:   &msgauth.Checker{DNS: qopts.DNS, Hostname: s.cfg.Hostname, Log: s.log.With("service", "msgauth")},
	}
	return s.smtp, nil
}

// smtpServer returns the SMTP server for a listener: MX (smtp),
// submission (submission, submission_extra, submissions) or devices.
func (s *services) smtpServer(l config.Listener) protocolServer {
	sh, err := s.smtpState()
	if err != nil {
		s.log.Error("smtp not served", "err", err)
		return nil
	}
	mode := smtpd.ModeSubmission
	switch l.Name {
	case "smtp":
		mode = smtpd.ModeMX
	case "devices":
		mode = smtpd.ModeDevices
	}
	return smtpd.New(smtpd.Options{
		Mode:        mode,
		ImplicitTLS: l.ImplicitTLS,
		Hostname:    s.cfg.Hostname,
		TLS:         s.tls.TLSConfig(),
		Store:       s.store,
		Auth:        s.auth,
		Deliverer:   sh.deliverer,
		Resolver:    sh.resolver,
		SMTP:        s.cfg.SMTP,
		Limiter:     s.limiter,
		Rate:        sh.rate,
		SpoolDir:    sh.spool,
		Checker:     sh.checker,
		// DATA blocks get RFC 5321's 3 minutes, or less when the
		// configured command timeout is shorter.
		CommandTimeout: s.cfg.SMTP.CommandTimeout.Duration(),
		DataTimeout:    min(smtpd.DefaultDataTimeout, s.cfg.SMTP.CommandTimeout.Duration()),
		Log:            s.log,
		OnAccepted:     s.onAccepted,
	})
}

// onAccepted counts an accepted message in the metrics.
func (s *services) onAccepted(mode smtpd.Mode, _ int64) {
	if s.web == nil {
		return
	}
	kind := "submission"
	if mode == smtpd.ModeMX {
		kind = "mx"
	}
	s.web.metrics.Accepted(kind)
}
