package main

import (
	"time"

	"github.com/pochta-mail/pochta/internal/config"
	"github.com/pochta-mail/pochta/internal/imapd"
)

// imapServer returns the IMAP (STARTTLS) or IMAPS (implicit TLS) server for
// a listener.
func (s *services) imapServer(l config.Listener) protocolServer {
	srv, err := imapd.New(imapd.Options{
		Store:       s.store,
		Auth:        s.auth,
		TLSConfig:   s.tls.TLSConfig(),
		ImplicitTLS: l.ImplicitTLS,
		Logger:      s.log.With("listener", l.Name),
		Limiter:     s.limiter,
		// IMAP's autologout timer must be at least 30 minutes (RFC 9051).
		IdleTimeout: max(s.cfg.Limits.IdleTimeout.Duration(), 30*time.Minute),
		AppendLimit: s.cfg.SMTP.MaxMessageSize.Bytes(),
	})
	if err != nil {
		s.log.Error("imap server not started", "listener", l.Name, "err", err)
		return nil
	}
	return srv
}
