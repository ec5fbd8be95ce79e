package main

import "github.com/pochta-mail/pochta/internal/config"

// smtpServer returns the SMTP (MX, submission, submissions, devices) server for a listener, or nil while this build has
// none.
func (s *services) smtpServer(l config.Listener) protocolServer {
	return nil
}
