package smtpd

import (
	"bytes"
	"io"
	"net"
	netsmtp "net/smtp"
	"strings"
	"testing"

	"github.com/emersion/go-smtp"
)

// exactBackend is a go-smtp backend that, like the real session, widens
// go-smtp's DATA reader with allowTerminator and enforces the limit
// itself.
type exactBackend struct {
	max     int64
	widened chan bool
	got     chan int
}

func (b *exactBackend) NewSession(*smtp.Conn) (smtp.Session, error) { return &exactSession{b}, nil }

type exactSession struct{ b *exactBackend }

func (s *exactSession) Reset()                               {}
func (s *exactSession) Logout() error                        { return nil }
func (s *exactSession) Mail(string, *smtp.MailOptions) error { return nil }
func (s *exactSession) Rcpt(string, *smtp.RcptOptions) error { return nil }
func (s *exactSession) Data(r io.Reader) error {
	s.b.widened <- allowTerminator(r)
	data, err := io.ReadAll(io.LimitReader(r, s.b.max+1))
	if err != nil {
		return err
	}
	if int64(len(data)) > s.b.max {
		return &smtp.SMTPError{Code: 552, EnhancedCode: smtp.EnhancedCode{5, 3, 4}, Message: "too big"}
	}
	s.b.got <- len(data)
	return nil
}

// TestAllowTerminator checks, against go-smtp itself, that a DATA message
// of exactly MaxMessageBytes is accepted once the reader is widened, that
// one byte more is still refused, and that EHLO announces the exact
// limit. It fails when a go-smtp upgrade changes the reader's shape.
func TestAllowTerminator(t *testing.T) {
	const max = 100
	be := &exactBackend{max: max, widened: make(chan bool, 4), got: make(chan int, 4)}
	srv := smtp.NewServer(be)
	srv.Domain = "localhost"
	srv.MaxMessageBytes = max
	srv.AllowInsecureAuth = true
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	defer srv.Close()

	c, err := netsmtp.Dial(ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Hello("client.test"); err != nil {
		t.Fatal(err)
	}
	if ok, size := c.Extension("SIZE"); !ok || size != "100" {
		t.Fatalf("EHLO SIZE = %q, want 100", size)
	}
	send := func(body string) error {
		if err := c.Mail("a@example.org"); err != nil {
			return err
		}
		if err := c.Rcpt("b@example.org"); err != nil {
			return err
		}
		w, err := c.Data()
		if err != nil {
			return err
		}
		if _, err := io.Copy(w, strings.NewReader(body)); err != nil {
			return err
		}
		return w.Close()
	}
	exact := strings.Repeat("a", max-2) + "\r\n"
	if err := send(exact); err != nil {
		t.Fatalf("message of exactly the limit: %v", err)
	}
	if !<-be.widened {
		t.Fatal("allowTerminator did not recognise go-smtp's DATA reader")
	}
	if n := <-be.got; n != max {
		t.Fatalf("received %d bytes, want %d", n, max)
	}
	over := strings.Repeat("b", max-1) + "\r\n"
	err = send(over)
	if err == nil || !strings.HasPrefix(err.Error(), "552") {
		t.Fatalf("message one byte over: %v, want 552", err)
	}
	<-be.widened
	// The session goes on.
	if err := c.Noop(); err != nil {
		t.Fatalf("NOOP after the refusal: %v", err)
	}
	if allowTerminator(bytes.NewReader(nil)) {
		t.Fatal("a foreign reader was widened")
	}
}
