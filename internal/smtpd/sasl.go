package smtpd

import (
	"errors"

	"github.com/emersion/go-sasl"
)

// loginServer is the server side of the LOGIN mechanism
// (draft-murchison-sasl-login), which go-sasl does not provide: the
// server asks "Username:" then "Password:", and the client answers each
// (base64 is handled by the protocol layer). A client may send the user
// name as the initial response.
type loginServer struct {
	authenticate func(username, password string) error
	state        int
	username     string
}

// newLoginServer returns a LOGIN mechanism that calls authenticate with
// the credentials it receives.
func newLoginServer(authenticate func(username, password string) error) sasl.Server {
	return &loginServer{authenticate: authenticate}
}

var errLoginState = errors.New("LOGIN: unexpected response")

// Next implements sasl.Server.
func (l *loginServer) Next(response []byte) (challenge []byte, done bool, err error) {
	switch l.state {
	case 0:
		if response == nil {
			l.state = 1
			return []byte("Username:"), false, nil
		}
		l.username = string(response)
		l.state = 2
		return []byte("Password:"), false, nil
	case 1:
		l.username = string(response)
		l.state = 2
		return []byte("Password:"), false, nil
	case 2:
		l.state = 3
		return nil, true, l.authenticate(l.username, string(response))
	}
	return nil, true, errLoginState
}
