package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/pochta-mail/pochta/internal/config"
	"github.com/pochta-mail/pochta/internal/delivery"
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
	q, err := delivery.OpenDirQueue(filepath.Join(dataDir, "queue"))
	if err != nil {
		return nil, fmt.Errorf("outbound queue: %w", err)
	}
	spool := filepath.Join(dataDir, "tmp")
	if err := os.MkdirAll(spool, 0o700); err != nil {
		return nil, fmt.Errorf("spool folder: %w", err)
	}
	s.smtp = &smtpShared{
		queue:     q,
		rate:      smtpd.NewRateLimiter(s.cfg.SMTP.MaxMessagesPerHour, s.cfg.SMTP.MaxMessagesPerDay),
		deliverer: &delivery.Deliverer{Store: s.store, Queue: q, Log: s.log.With("service", "delivery")},
		resolver:  &delivery.Resolver{Store: s.store, PlusSeparators: s.cfg.SMTP.PlusSeparator},
		spool:     spool,
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
		Log:         s.log,
	})
}
