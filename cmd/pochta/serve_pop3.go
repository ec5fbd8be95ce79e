package main

import (
	"context"
	"net"

	"github.com/pochta-mail/pochta/internal/config"
	"github.com/pochta-mail/pochta/internal/netlimit"
	"github.com/pochta-mail/pochta/internal/pop3"
)

// pop3Server returns the POP3 and POP3S server for a listener. Both
// listeners share one pop3.Server (made on first use), so the maildrop lock
// and LOGIN-DELAY hold across them.
func (s *services) pop3Server(l config.Listener) protocolServer {
	srv := s.pop3
	if srv == nil {
		var err error
		srv, err = pop3.New(pop3.Options{
			Store:             s.store,
			Auth:              s.auth,
			TLSConfig:         s.tls.TLSConfig(),
			Logger:            s.log,
			InactivityTimeout: s.cfg.POP3.InactivityTimeout.Duration(),
			LoginDelay:        s.cfg.POP3.LoginDelay.Duration(),
			TrashRetention:    s.cfg.Retention.Trash.Duration(),
			SpamRetention:     s.cfg.Retention.Spam.Duration(),
			APOP:              s.cfg.POP3.APOP,
			Hostname:          s.cfg.Hostname,
		})
		if err != nil {
			s.log.Error("pop3 not served", "err", err)
			return nil
		}
		s.pop3 = srv
	}
	return &pop3Listener{srv: srv, implicitTLS: l.ImplicitTLS, limiter: s.limiter}
}

// pop3Listener serves one POP3 listener with the shared server.
type pop3Listener struct {
	srv         *pop3.Server
	implicitTLS bool
	limiter     *netlimit.Limiter
}

// Serve implements protocolServer.
func (p *pop3Listener) Serve(ctx context.Context, ln net.Listener) error {
	if p.limiter != nil {
		ln = netlimit.Wrap(ln, p.limiter, func(c net.Conn, r netlimit.Reason) {
			if !p.implicitTLS { // a plaintext line means nothing on a TLS port
				pop3.RejectBusy(c, r == netlimit.TooManyFromIP)
			}
		})
	}
	return p.srv.Serve(ctx, ln, p.implicitTLS)
}
