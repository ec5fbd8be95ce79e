package queue

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/textproto"
	"os"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/pochta-mail/pochta/internal/delivery"
)

// poolIdle is how long an idle connection is kept for the next message to
// the same host.
const poolIdle = 10 * time.Second

// failure is why a recipient was not delivered.
type failure struct {
	// perm is set for permanent failures (5xx, no such domain).
	perm bool
	// reason explains it to the sender.
	reason reason
	// status is the enhanced status code ("5.1.1").
	status string
	// diag is the remote reply ("550 5.1.1 no such user"), if any.
	diag string
	// remote is the server that replied or failed.
	remote string
}

// outMsg is one queued message on its way out.
type outMsg struct {
	from     string
	utf8     bool
	eightBit bool
	// size is the size of prefix plus the body.
	size int64
	// prefix (DKIM signatures) goes before the body.
	prefix []byte
	open   func() (io.ReadCloser, error)
	// dsn are the sender's DSN requests, passed on to servers that
	// support DSN.
	dsn delivery.DSN
	// utf8Header is set when the header has 8-bit (UTF-8) text.
	utf8Header bool
	// signDomain is the domain that signed prefix, if any.
	signDomain string
	// seven is the message converted to 7-bit MIME, once made.
	seven *outMsg
}

// needsUTF8 says why delivering msg to rcpts needs SMTPUTF8, if it does.
func (m *outMsg) needsUTF8(rcpts []string) (why reason, needed bool) {
	for _, a := range append([]string{m.from}, rcpts...) {
		if has8bit([]byte(a)) {
			return reasonf("the address %s needs SMTPUTF8", "адрес %s требует SMTPUTF8", a), true
		}
	}
	if m.utf8Header {
		return reasonf("the header has UTF-8 text, which needs SMTPUTF8", "в заголовке письма есть текст в UTF-8, для которого нужен SMTPUTF8"), true
	}
	return reason{}, false
}

// conn is a connection to a remote server, reusable for further
// messages.
type conn struct {
	c    *smtp.Client
	raw  net.Conn
	host string
	key  string
	idle time.Time
}

// pool keeps idle connections by host.
type pool struct {
	mu   sync.Mutex
	idle map[string][]*conn
}

func (p *pool) get(key string) *conn {
	p.mu.Lock()
	defer p.mu.Unlock()
	l := p.idle[key]
	for len(l) > 0 {
		c := l[len(l)-1]
		l = l[:len(l)-1]
		p.idle[key] = l
		if time.Since(c.idle) < poolIdle {
			return c
		}
		go c.c.Close()
	}
	return nil
}

func (p *pool) put(c *conn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.idle == nil {
		p.idle = map[string][]*conn{}
	}
	c.idle = time.Now()
	p.idle[c.key] = append(p.idle[c.key], c)
}

// reap closes connections idle for too long; all of them when all is set.
func (p *pool) reap(all bool) {
	p.mu.Lock()
	var old []*conn
	for k, l := range p.idle {
		keep := l[:0]
		for _, c := range l {
			if all || time.Since(c.idle) >= poolIdle {
				old = append(old, c)
			} else {
				keep = append(keep, c)
			}
		}
		p.idle[k] = keep
	}
	p.mu.Unlock()
	for _, c := range old {
		c.raw.SetDeadline(time.Now().Add(5 * time.Second))
		c.c.Quit()
		c.c.Close()
	}
}

// connFailure describes a failure to connect or talk to a server.
func connFailure(h hop, err error) *failure {
	var r reason
	var ne net.Error
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		r = reasonf("connection refused by %s", "сервер %s отклонил соединение (connection refused)", h.addr)
	case errors.As(err, &ne) && ne.Timeout(), errors.Is(err, os.ErrDeadlineExceeded), errors.Is(err, context.DeadlineExceeded):
		r = reasonf("connection to %s timed out", "истекло время ожидания соединения с %s", h.addr)
	default:
		r = reasonf("could not talk to %s: %v", "не удалось связаться с %s: %v", h.addr, err)
	}
	return &failure{reason: r, status: "4.4.1", remote: h.name}
}

// replyFailure maps a remote SMTP error reply.
func replyFailure(h hop, stage string, err error) *failure {
	var se *smtp.SMTPError
	if !errors.As(err, &se) {
		return connFailure(h, err)
	}
	class := se.Code / 100
	status := fmt.Sprintf("%d.0.0", class)
	if se.EnhancedCode != (smtp.EnhancedCode{}) && se.EnhancedCode != smtp.NoEnhancedCode {
		status = fmt.Sprintf("%d.%d.%d", se.EnhancedCode[0], se.EnhancedCode[1], se.EnhancedCode[2])
	}
	diag := fmt.Sprintf("%d %s %s", se.Code, status, se.Message)
	return &failure{
		perm:   class == 5,
		reason: reasonf("the server %s answered %s: %s", "сервер %s ответил на %s: %s", h.name, stage, diag),
		status: status, diag: diag, remote: h.name,
	}
}

// dial connects to a hop, says EHLO, starts TLS when offered (required
// by a route that says so) and logs in for routes with credentials.
func (r *Runner) dial(ctx context.Context, h hop, noTLS bool) (*conn, *failure) {
	d := net.Dialer{Timeout: r.opts.ConnectTimeout, Resolver: r.opts.DNS}
	raw, err := d.DialContext(ctx, "tcp", h.addr)
	if err != nil {
		return nil, connFailure(h, err)
	}
	raw.SetDeadline(time.Now().Add(r.opts.ConnectTimeout))
	why, required := tlsRequirement(h)
	// The greeting, EHLO and STARTTLS are done here: go-smtp's client
	// has no exported STARTTLS that keeps our EHLO name. It then gets a
	// copy of the greeting and says EHLO again (over TLS, if any).
	greeting, starttls, err := preTLS(raw, r.opts.Hostname, !noTLS)
	if err != nil {
		raw.Close()
		return nil, replyFailure(h, "the greeting or EHLO", err)
	}
	secure := false
	var nc net.Conn = raw
	switch {
	case starttls:
		cfg := &tls.Config{ServerName: h.name, MinVersion: tls.VersionTLS12, RootCAs: r.opts.RootCAs,
			// Opportunistic TLS (RFC 3207 as practised): any
			// certificate is better than none, unless TLS is
			// required.
			InsecureSkipVerify: !required}
		if len(h.tlsa) > 0 {
			// DANE: the TLSA records, not the public CAs, say which
			// certificate is right.
			cfg.InsecureSkipVerify = true
			cfg.VerifyConnection = func(cs tls.ConnectionState) error {
				return verifyDANE(cs, h.tlsa, h.name, h.daneDomain)
			}
		} else if h.stsTesting && !required {
			cfg.VerifyConnection = func(cs tls.ConnectionState) error {
				if err := verifyPKIX(cs, h.name, r.opts.RootCAs); err != nil {
					r.log.Warn("MTA-STS (testing): the certificate would not pass", "host", h.name, "err", err)
				}
				return nil
			}
		}
		tc := tls.Client(raw, cfg)
		if err := tc.HandshakeContext(ctx); err != nil {
			raw.Close()
			if required {
				return nil, &failure{reason: reason{en: fmt.Sprintf("TLS with %s failed (%s): %v", h.name, why.en, err), ru: fmt.Sprintf("не удалось установить TLS-соединение с %s (%s): %v", h.name, why.ru, err)}, status: "4.7.5", remote: h.name}
			}
			r.log.Info("STARTTLS failed; trying without TLS", "host", h.addr, "err", err)
			return r.dial(ctx, h, true)
		}
		nc, secure = tc, true
	case required:
		raw.Close()
		return nil, &failure{reason: reason{en: fmt.Sprintf("%s does not offer STARTTLS, and %s", h.name, why.en), ru: fmt.Sprintf("сервер %s не поддерживает STARTTLS, а %s", h.name, why.ru)}, status: "4.7.5", remote: h.name}
	}
	c := smtp.NewClient(&greetConn{Conn: nc, greeting: greeting})
	fail := func(f *failure) (*conn, *failure) { c.Close(); return nil, f }
	if err := c.Hello(r.opts.Hostname); err != nil {
		return fail(replyFailure(h, "EHLO", err))
	}
	raw.SetDeadline(time.Time{})
	if h.route != nil && h.route.Username != "" {
		if !secure {
			return fail(&failure{reason: reasonf("not logging in to %s without TLS", "вход на %s без TLS не выполняется", h.name), status: "4.7.5", remote: h.name})
		}
		if err := c.Auth(sasl.NewPlainClient("", h.route.Username, h.route.Password)); err != nil {
			f := replyFailure(h, "AUTH", err)
			f.perm = false // the operator's credentials: retry once fixed
			return fail(f)
		}
	}
	return &conn{c: c, raw: raw, host: h.name, key: poolKey(h)}, nil
}

func poolKey(h hop) string {
	k := h.addr
	if h.route != nil {
		k += "|" + h.route.Username
	}
	if _, required := tlsRequirement(h); required {
		// Only a connection made under the same requirement is
		// reused.
		k += "|tls:" + h.name
	}
	return k
}

// tlsRequirement says why TLS with a verified certificate is required
// for h, if it is.
func tlsRequirement(h hop) (why reason, required bool) {
	switch {
	case h.route != nil && h.route.RequireTLS:
		return reasonf("the route requires TLS", "маршрут требует TLS"), true
	case len(h.tlsa) > 0:
		return reasonf("the DANE TLSA records of %s require TLS", "TLSA-записи DANE сервера %s требуют TLS", h.name), true
	case h.sts != "":
		return reasonf("the MTA-STS policy of %s requires TLS", "политика MTA-STS домена %s требует TLS", h.sts), true
	}
	return reason{}, false
}

// verifyPKIX checks the peer's chain against roots (nil: the system's)
// and its name.
func verifyPKIX(cs tls.ConnectionState, name string, roots *x509.CertPool) error {
	if len(cs.PeerCertificates) == 0 {
		return errors.New("no certificate")
	}
	inter := x509.NewCertPool()
	for _, c := range cs.PeerCertificates[1:] {
		inter.AddCert(c)
	}
	_, err := cs.PeerCertificates[0].Verify(x509.VerifyOptions{DNSName: name, Roots: roots, Intermediates: inter})
	return err
}

// send delivers msg to rcpts through h. It returns the failure of each
// recipient not delivered, or connErr when the server could not be used
// at all (try the next host); remoteDSN reports that the server took the
// DSN requests (and reports success itself).
func (r *Runner) send(ctx context.Context, h hop, msg *outMsg, rcpts []string) (failed map[string]*failure, connErr *failure, remoteDSN bool) {
	if h.daneErr != nil {
		return nil, h.daneErr, false
	}
	c := r.pool.get(poolKey(h))
	if c != nil {
		if err := c.c.Reset(); err != nil {
			c.c.Close()
			c = nil
		}
	}
	if c == nil {
		var f *failure
		if c, f = r.dial(ctx, h, false); f != nil {
			return nil, f, false
		}
	}
	stop := context.AfterFunc(ctx, func() { c.raw.Close() })
	defer stop()
	reuse := false
	defer func() {
		if reuse && ctx.Err() == nil {
			r.pool.put(c)
		} else {
			c.c.Close()
		}
	}()

	all := func(f *failure) map[string]*failure {
		m := make(map[string]*failure, len(rcpts))
		for _, rc := range rcpts {
			m[rc] = f
		}
		return m
	}
	if max, ok := c.c.MaxMessageSize(); ok && max > 0 && msg.size > int64(max) {
		reuse = true
		return all(&failure{perm: true, status: "5.3.4", remote: h.name,
			reason: reasonf("the message (%d bytes) is larger than %s accepts (%d bytes)", "письмо (%d байт) больше, чем принимает %s (%d байт)", msg.size, h.name, max)}), nil, false
	}
	remoteDSN, _ = c.c.Extension("DSN")
	opts := &smtp.MailOptions{Size: msg.size}
	if msg.dsn.Ret == "FULL" || msg.dsn.Ret == "HDRS" {
		opts.Return = smtp.DSNReturn(msg.dsn.Ret)
	}
	if printableASCII(msg.dsn.EnvID) {
		opts.EnvelopeID = msg.dsn.EnvID
	}
	if msg.utf8 {
		if ok, _ := c.c.Extension("SMTPUTF8"); ok {
			opts.UTF8 = true
		} else if why, needed := msg.needsUTF8(rcpts); needed {
			reuse = true
			return all(&failure{perm: true, status: "5.6.7", remote: h.name,
				reason: reason{en: fmt.Sprintf("%s, which %s does not support", why.en, h.name), ru: fmt.Sprintf("%s, а сервер %s его не поддерживает", why.ru, h.name)}}), nil, false
		}
	}
	if msg.eightBit {
		if ok, _ := c.c.Extension("8BITMIME"); ok {
			opts.Body = smtp.Body8BitMIME
		} else if !opts.UTF8 {
			// RFC 6152 §3: convert to 7-bit MIME, and sign what is
			// sent.
			seven, f := r.sevenBit(ctx, h, msg)
			if f != nil {
				reuse = true
				return all(f), nil, false
			}
			msg = seven
			opts.Size = msg.size
		}
	}
	if err := c.c.Mail(msg.from, opts); err != nil {
		var se *smtp.SMTPError
		if !errors.As(err, &se) {
			return nil, connFailure(h, err), false
		}
		reuse = true
		return all(replyFailure(h, "MAIL FROM", err)), nil, remoteDSN
	}
	failed = map[string]*failure{}
	var accepted []string
	for _, rc := range rcpts {
		if err := c.c.Rcpt(rc, rcptOptions(msg.dsn.Rcpt[rc])); err != nil {
			var se *smtp.SMTPError
			if !errors.As(err, &se) {
				return nil, connFailure(h, err), false
			}
			failed[rc] = replyFailure(h, "RCPT TO", err)
			continue
		}
		accepted = append(accepted, rc)
	}
	if len(accepted) == 0 {
		reuse = c.c.Reset() == nil
		return failed, nil, remoteDSN
	}
	w, err := c.c.Data()
	if err != nil {
		var se *smtp.SMTPError
		if !errors.As(err, &se) {
			return nil, connFailure(h, err), false
		}
		for _, rc := range accepted {
			failed[rc] = replyFailure(h, "DATA", err)
		}
		reuse = c.c.Reset() == nil
		return failed, nil, remoteDSN
	}
	body, err := msg.open()
	if err != nil {
		w.Close()
		f := &failure{reason: reasonf("local error reading the queued message: %v", "внутренняя ошибка чтения письма из очереди: %v", err), status: "4.3.0"}
		for _, rc := range accepted {
			failed[rc] = f
		}
		return failed, nil, remoteDSN
	}
	_, err = w.Write(msg.prefix)
	if err == nil {
		_, err = io.Copy(w, body)
	}
	body.Close()
	if err != nil {
		return nil, connFailure(h, err), false
	}
	if err := w.Close(); err != nil {
		var se *smtp.SMTPError
		if !errors.As(err, &se) {
			// The end of data may or may not have arrived: retry
			// (RFC 5321 §6.1 prefers a duplicate to a loss).
			return nil, connFailure(h, err), false
		}
		for _, rc := range accepted {
			failed[rc] = replyFailure(h, "end of DATA", err)
		}
		reuse = true
		return failed, nil, remoteDSN
	}
	reuse = true
	return failed, nil, remoteDSN
}

// rcptOptions passes a recipient's NOTIFY and ORCPT on; an ORCPT that
// go-smtp cannot encode is left out.
func rcptOptions(d delivery.RcptDSN) *smtp.RcptOptions {
	if len(d.Notify) == 0 && d.ORcpt == "" {
		return nil
	}
	o := &smtp.RcptOptions{}
	for _, n := range d.Notify {
		o.Notify = append(o.Notify, smtp.DSNNotify(strings.ToUpper(n)))
	}
	if typ, addr, ok := strings.Cut(d.ORcpt, ";"); ok && addr != "" {
		switch t := smtp.DSNAddressType(strings.ToUpper(typ)); {
		case t == smtp.DSNAddressTypeRFC822 && printableASCII(addr), t == smtp.DSNAddressTypeUTF8:
			o.OriginalRecipientType, o.OriginalRecipient = t, addr
		}
	}
	return o
}

func printableASCII(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range []byte(s) {
		if c <= ' ' || c > '~' {
			return false
		}
	}
	return true
}

// preTLS reads the greeting and says EHLO; when tryTLS is set and the
// server offers STARTTLS, it sends STARTTLS and reports starttls (the
// caller does the handshake). It returns the greeting line for go-smtp.
func preTLS(c net.Conn, hostname string, tryTLS bool) (greeting []byte, starttls bool, err error) {
	tp := textproto.NewReader(bufio.NewReader(&onlyReader{c}))
	code, msg, err := tp.ReadResponse(220)
	if err != nil {
		return nil, false, protoErr(code, msg, err)
	}
	greeting = []byte(fmt.Sprintf("220 %s\r\n", strings.ReplaceAll(msg, "\n", " ")))
	if !tryTLS {
		return greeting, false, nil
	}
	if _, err := fmt.Fprintf(c, "EHLO %s\r\n", hostname); err != nil {
		return nil, false, err
	}
	code, msg, err = tp.ReadResponse(250)
	if err != nil {
		if code >= 500 {
			return greeting, false, nil // no ESMTP: go-smtp falls back to HELO
		}
		return nil, false, protoErr(code, msg, err)
	}
	for _, l := range strings.Split(msg, "\n") {
		if strings.EqualFold(strings.TrimSpace(l), "STARTTLS") {
			starttls = true
		}
	}
	if !starttls {
		return greeting, false, nil
	}
	if _, err := io.WriteString(c, "STARTTLS\r\n"); err != nil {
		return nil, false, err
	}
	code, msg, err = tp.ReadResponse(220)
	if err != nil {
		if code >= 400 {
			return greeting, false, nil
		}
		return nil, false, protoErr(code, msg, err)
	}
	return greeting, true, nil
}

func protoErr(code int, msg string, err error) error {
	if code >= 400 {
		return &smtp.SMTPError{Code: code, EnhancedCode: smtp.NoEnhancedCode, Message: strings.ReplaceAll(msg, "\n", " ")}
	}
	return err
}

// onlyReader hides everything but Read, so bufio reads no further than
// needed... it still may buffer; servers send nothing unasked.
type onlyReader struct{ r io.Reader }

func (o *onlyReader) Read(p []byte) (int, error) { return o.r.Read(p) }

// greetConn replays the greeting to go-smtp before reading the
// connection.
type greetConn struct {
	net.Conn
	greeting []byte
}

func (g *greetConn) Read(p []byte) (int, error) {
	if len(g.greeting) > 0 {
		n := copy(p, g.greeting)
		g.greeting = g.greeting[n:]
		return n, nil
	}
	return g.Conn.Read(p)
}

// sevenBit returns msg converted to 7-bit MIME for a server without
// 8BITMIME, signed again; a message that cannot be converted fails.
func (r *Runner) sevenBit(ctx context.Context, h hop, msg *outMsg) (*outMsg, *failure) {
	if msg.seven != nil {
		return msg.seven, nil
	}
	body, err := msg.open()
	if err != nil {
		return nil, &failure{reason: reasonf("local error reading the queued message: %v", "внутренняя ошибка чтения письма из очереди: %v", err), status: "4.3.0"}
	}
	data, err := io.ReadAll(body)
	body.Close()
	if err != nil {
		return nil, &failure{reason: reasonf("local error reading the queued message: %v", "внутренняя ошибка чтения письма из очереди: %v", err), status: "4.3.0"}
	}
	conv, err := downgrade7bit(data)
	if err != nil {
		return nil, &failure{perm: true, status: "5.6.3", remote: h.name,
			reason: reasonf("%s does not accept 8-bit mail (no 8BITMIME), and the message cannot be converted: %v",
				"сервер %s не принимает 8-битные письма (нет 8BITMIME), а преобразовать письмо нельзя: %v", h.name, err)}
	}
	seven := &outMsg{from: msg.from, utf8: msg.utf8, dsn: msg.dsn, signDomain: msg.signDomain,
		open: func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(conv)), nil }}
	if msg.signDomain != "" {
		sig, err := r.opts.DKIM.Sign(ctx, msg.signDomain, bytes.NewReader(conv))
		if err != nil {
			return nil, &failure{reason: reasonf("local error signing the message: %v", "внутренняя ошибка подписи письма: %v", err), status: "4.3.0"}
		}
		seven.prefix = sig
	}
	seven.size = int64(len(conv) + len(seven.prefix))
	msg.seven = seven
	return seven, nil
}
