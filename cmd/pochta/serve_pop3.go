package main

import "github.com/pochta-mail/pochta/internal/config"

// pop3Server returns the POP3 and POP3S server for a listener, or nil while this build has
// none.
func (s *services) pop3Server(l config.Listener) protocolServer {
	return nil
}
