package main

import "github.com/pochta-mail/pochta/internal/config"

// imapServer returns the IMAP and IMAPS server for a listener, or nil while this build has
// none.
func (s *services) imapServer(l config.Listener) protocolServer {
	return nil
}
