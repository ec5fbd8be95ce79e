package smtpd

import (
	"fmt"

	"github.com/emersion/go-smtp"
)

// reply makes an SMTP reply carried as an error through go-smtp.
func reply(code int, class, subject, detail int, text string) *smtp.SMTPError {
	return &smtp.SMTPError{Code: code, EnhancedCode: smtp.EnhancedCode{class, subject, detail}, Message: text}
}

// The replies of the policy table in issue 3, and the others the session
// gives. None names the software.
var (
	errAuthRequired   = reply(530, 5, 7, 0, "Authentication required")
	errAuthInvalid    = reply(535, 5, 7, 8, "Authentication credentials invalid")
	errEncryptionReq  = reply(538, 5, 7, 11, "Encryption required for requested authentication mechanism")
	errAuthThrottled  = reply(454, 4, 7, 0, "Too many failed logins, try again later")
	errAuthTemp       = reply(454, 4, 7, 0, "Temporary authentication failure, try again later")
	errAuthzid        = reply(535, 5, 7, 8, "Authentication credentials invalid")
	errAlreadyAuthed  = reply(503, 5, 5, 1, "Already authenticated")
	errNotOwned       = reply(553, 5, 7, 1, "Sender address rejected: not owned by auth user")
	errRelayDenied    = reply(554, 5, 7, 1, "Relay access denied")
	errDevicesLocal   = reply(554, 5, 7, 1, "Relay access denied: this port delivers to local recipients only")
	errTooBig         = reply(552, 5, 3, 4, "Message size exceeds fixed maximum message size")
	errTooManyRcpts   = reply(452, 4, 5, 3, "Too many recipients")
	errMailboxFull    = reply(452, 4, 2, 2, "Mailbox full")
	errBlocked        = reply(552, 5, 7, 1, "Message rejected: attachment type not allowed")
	errLocalError     = reply(451, 4, 3, 0, "Local error in processing, try again later")
	errShuttingDown   = reply(421, 4, 3, 2, "Service shutting down, try again later")
	errBadSender      = reply(501, 5, 1, 7, "Bad sender address syntax")
	errBadRcpt        = reply(501, 5, 1, 3, "Bad recipient address syntax")
	errNeedUTF8       = reply(553, 5, 6, 7, "Non-ASCII address requires SMTPUTF8")
	errNullSenderAuth = reply(553, 5, 7, 1, "Sender address rejected: not owned by auth user")
	errBadMechanism   = reply(504, 5, 7, 4, "Unsupported authentication mechanism")
)

// errUnknownUser is the 550 for a local address that names nobody.
func errUnknownUser(addr string) *smtp.SMTPError {
	return reply(550, 5, 1, 1, fmt.Sprintf("<%s>: Recipient address rejected: user unknown", addr))
}

// errMailboxDisabled is the 550 for an account the operator disabled.
func errMailboxDisabled(addr string) *smtp.SMTPError {
	return reply(550, 5, 2, 1, fmt.Sprintf("<%s>: Recipient address rejected: mailbox disabled", addr))
}

// errHourLimit and errDayLimit name the sending limit that was reached.
func errHourLimit(n int) *smtp.SMTPError {
	return reply(450, 4, 7, 1, fmt.Sprintf("Sending limit exceeded: at most %d messages per hour; try again later", n))
}

func errDayLimit(n int) *smtp.SMTPError {
	return reply(550, 5, 7, 1, fmt.Sprintf("Sending limit exceeded: at most %d messages per day", n))
}

// accepted is the 250 after DATA/BDAT, with the transaction id.
func accepted(id string) *smtp.SMTPError {
	return reply(250, 2, 0, 0, "Ok: queued as "+id)
}
