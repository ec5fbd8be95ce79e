package queue

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"strings"
	"sync"
	"testing"

	"github.com/emersion/go-msgauth/dkim"
	"github.com/emersion/go-smtp"

	"github.com/pochta-mail/pochta/internal/config"
	"github.com/pochta-mail/pochta/internal/delivery"
)

const eightBitMessage = "From: sender@local.example\r\n" +
	"To: a@old.example\r\n" +
	"Subject: =?utf-8?q?=D0=BF=D1=80=D0=B8=D0=B2=D0=B5=D1=82?=\r\n" +
	"MIME-Version: 1.0\r\n" +
	"Content-Type: multipart/mixed; boundary=\"outer\"\r\n" +
	"\r\n" +
	"preamble\r\n" +
	"--outer\r\n" +
	"Content-Type: text/plain; charset=utf-8\r\n" +
	"Content-Transfer-Encoding: 8bit\r\n" +
	"\r\n" +
	"Привет, мир! = equals\r\n" +
	"second line\r\n" +
	"--outer\r\n" +
	"Content-Type: application/octet-stream\r\n" +
	"Content-Transfer-Encoding: base64\r\n" +
	"\r\n" +
	"AAECAw==\r\n" +
	"--outer\r\n" +
	"Content-Type: message/rfc822\r\n" +
	"\r\n" +
	"Subject: inner\r\n" +
	"Content-Type: text/plain; charset=utf-8\r\n" +
	"\r\n" +
	"Вложенное письмо.\r\n" +
	"--outer--\r\n" +
	"epilogue\r\n"

// parts decodes every leaf text of a message (attached messages walked).
func leafTexts(t *testing.T, raw []byte) []string {
	t.Helper()
	m, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("%v\n%s", err, raw)
	}
	return entityTexts(t, m.Header.Get("Content-Type"), m.Header.Get("Content-Transfer-Encoding"), m.Body)
}

func entityTexts(t *testing.T, ct, cte string, body io.Reader) []string {
	mt, params, _ := mime.ParseMediaType(ct)
	switch {
	case strings.HasPrefix(mt, "multipart/"):
		var out []string
		mr := multipart.NewReader(body, params["boundary"])
		for {
			p, err := mr.NextRawPart()
			if err == io.EOF {
				return out
			}
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, entityTexts(t, p.Header.Get("Content-Type"), p.Header.Get("Content-Transfer-Encoding"), p)...)
		}
	case mt == "message/rfc822":
		b, _ := io.ReadAll(body)
		return leafTexts(t, b)
	}
	if strings.EqualFold(cte, "quoted-printable") {
		body = quotedprintable.NewReader(body)
	}
	b, _ := io.ReadAll(body)
	return []string{string(b)}
}

func TestDowngrade7bit(t *testing.T) {
	out, err := downgrade7bit([]byte(eightBitMessage))
	if err != nil {
		t.Fatal(err)
	}
	if has8bit(out) {
		t.Fatalf("8-bit bytes left:\n%s", out)
	}
	want := leafTexts(t, []byte(eightBitMessage))
	got := leafTexts(t, out)
	if len(got) != len(want) {
		t.Fatalf("parts: %q, want %q", got, want)
	}
	for i := range want {
		if strings.ReplaceAll(got[i], "\r\n", "\n") != strings.ReplaceAll(want[i], "\r\n", "\n") {
			t.Errorf("part %d: %q, want %q", i, got[i], want[i])
		}
	}
	for _, keep := range []string{"preamble\r\n", "epilogue\r\n", "AAECAw==", "Subject: inner"} {
		if !bytes.Contains(out, []byte(keep)) {
			t.Errorf("lost %q:\n%s", keep, out)
		}
	}
	// Plain 8-bit mail without MIME becomes MIME.
	out, err = downgrade7bit([]byte("Subject: x\r\n\r\nПривет\r\n"))
	if err != nil || has8bit(out) || !bytes.Contains(out, []byte("MIME-Version: 1.0\r\n")) || !bytes.Contains(out, []byte("charset=utf-8")) {
		t.Errorf("non-MIME message: %v\n%s", err, out)
	}
	if texts := leafTexts(t, out); len(texts) != 1 || texts[0] != "Привет\r\n" {
		t.Errorf("non-MIME message decodes to %q", texts)
	}
	// 7-bit messages are left alone.
	plain := "Subject: x\r\n\r\nplain\r\n"
	if out, err := downgrade7bit([]byte(plain)); err != nil || string(out) != plain {
		t.Errorf("7-bit message changed: %q %v", out, err)
	}
	for name, bad := range map[string]string{
		"utf-8 header":     "Subject: привет\r\n\r\nтело\r\n",
		"8-bit in base64":  "Content-Transfer-Encoding: base64\r\n\r\nтело\r\n",
		"message/global":   "Content-Type: message/global\r\n\r\nтело\r\n",
		"multipart no bnd": "Content-Type: multipart/mixed\r\n\r\nтело\r\n",
	} {
		if _, err := downgrade7bit([]byte(bad)); err == nil {
			t.Errorf("%s: converted", name)
		}
	}
}

func FuzzDowngrade7bit(f *testing.F) {
	f.Add([]byte(eightBitMessage))
	f.Add([]byte("Subject: x\r\n\r\nplain\r\n"))
	f.Add([]byte("Content-Type: text/plain\r\nContent-Transfer-Encoding: binary\r\n\r\n\xff\x00\xfe"))
	f.Fuzz(func(t *testing.T, msg []byte) {
		out, err := downgrade7bit(msg)
		if err != nil {
			return
		}
		if has8bit(out) {
			t.Fatalf("8-bit bytes left in %q", out)
		}
		if !has8bit(msg) && !bytes.Equal(out, msg) {
			t.Fatalf("7-bit message changed")
		}
	})
}

// oldMX is a minimal SMTP server without 8BITMIME or SMTPUTF8, as old
// servers are.
type oldMX struct {
	addr string
	mu   sync.Mutex
	msgs []string
	mail []string // MAIL FROM lines
}

func startOldMX(t *testing.T) *oldMX {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	o := &oldMX{addr: ln.Addr().String()}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go o.serve(c)
		}
	}()
	return o
}

func (o *oldMX) serve(c net.Conn) {
	defer c.Close()
	br := bufio.NewReader(c)
	io.WriteString(c, "220 old.test ESMTP\r\n")
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			return
		}
		cmd := strings.ToUpper(strings.TrimSpace(line))
		switch {
		case strings.HasPrefix(cmd, "EHLO"):
			io.WriteString(c, "250-old.test\r\n250 SIZE 10000000\r\n")
		case strings.HasPrefix(cmd, "MAIL"):
			o.mu.Lock()
			o.mail = append(o.mail, strings.TrimSpace(line))
			o.mu.Unlock()
			if strings.Contains(cmd, "BODY=") || strings.Contains(cmd, "SMTPUTF8") {
				io.WriteString(c, "555 5.5.4 unsupported parameter\r\n")
				continue
			}
			io.WriteString(c, "250 ok\r\n")
		case strings.HasPrefix(cmd, "DATA"):
			io.WriteString(c, "354 go on\r\n")
			var b strings.Builder
			for {
				l, err := br.ReadString('\n')
				if err != nil {
					return
				}
				if l == ".\r\n" {
					break
				}
				b.WriteString(strings.TrimPrefix(l, "."))
			}
			o.mu.Lock()
			o.msgs = append(o.msgs, b.String())
			o.mu.Unlock()
			io.WriteString(c, "250 queued\r\n")
		case strings.HasPrefix(cmd, "QUIT"):
			io.WriteString(c, "221 bye\r\n")
			return
		default:
			io.WriteString(c, "250 ok\r\n")
		}
	}
}

func (o *oldMX) received() []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]string(nil), o.msgs...)
}

func TestEightBitDowngradedAndSignedForOldServer(t *testing.T) {
	old := startOldMX(t)
	e := newTestEnv(t, "", 25, func(o *Options) { o.Routes = config.Routes{"*": {Host: old.addr}} })
	ctx := context.Background()
	env := delivery.QueueEnvelope{From: "sender@local.example", To: []string{"a@old.example"}, AccountID: e.sender.ID}
	if _, err := e.runner.Notify(e.q).Enqueue(ctx, env, strings.NewReader(eightBitMessage)); err != nil {
		t.Fatal(err)
	}
	// An 8-bit header without SMTPUTF8 cannot be converted.
	env.To = []string{"b@old.example"}
	if _, err := e.runner.Notify(e.q).Enqueue(ctx, env, strings.NewReader("From: sender@local.example\r\nSubject: привет\r\n\r\nтело\r\n")); err != nil {
		t.Fatal(err)
	}
	// SMTPUTF8 needed for an address, and not offered.
	env.To, env.UTF8 = []string{"почта@old.example"}, true
	if _, err := e.runner.Notify(e.q).Enqueue(ctx, env, strings.NewReader("From: sender@local.example\r\nSubject: x\r\n\r\nx\r\n")); err != nil {
		t.Fatal(err)
	}
	eventually(t, "an empty queue", func() bool { return e.queueLen(t) == 0 })
	got := old.received()
	if len(got) != 1 {
		t.Fatalf("%d messages received, want 1", len(got))
	}
	if has8bit([]byte(got[0])) {
		t.Errorf("8-bit data sent to a server without 8BITMIME:\n%s", got[0])
	}
	texts := leafTexts(t, []byte(got[0]))
	if len(texts) != 3 || !strings.Contains(texts[0], "Привет, мир! = equals") || !strings.Contains(texts[2], "Вложенное письмо.") {
		t.Errorf("converted parts: %q", texts)
	}
	// The signature covers what was sent.
	if d := e.verifyDKIM(t, got[0]); len(d) == 0 {
		t.Errorf("no valid signature after the conversion")
	}
	bounces := strings.Join(e.inbox(t), "\n")
	for _, want := range []string{"b@old.example", "cannot be converted", "needs SMTPUTF8", "5.6.3", "5.6.7"} {
		if !strings.Contains(bounces, want) {
			t.Errorf("bounces lack %q:\n%s", want, bounces)
		}
	}
}

// verifyDKIM checks the DKIM signatures of msg against the keys of
// local.example and returns the domains of the valid ones; a broken
// signature fails the test.
func (e *testEnv) verifyDKIM(t *testing.T, msg string) []string {
	t.Helper()
	keys, err := e.runner.opts.DKIM.Keys(t.Context(), "local.example")
	if err != nil {
		t.Fatal(err)
	}
	txt := map[string]string{}
	for _, k := range keys {
		rec, _ := k.Record()
		txt[k.RecordName()] = rec
	}
	vs, err := dkim.VerifyWithOptions(strings.NewReader(msg), &dkim.VerifyOptions{LookupTXT: func(name string) ([]string, error) {
		return []string{txt[strings.TrimSuffix(name, ".")]}, nil
	}})
	if err != nil {
		t.Fatalf("verify: %v", err)
	}
	var out []string
	for _, v := range vs {
		if v.Err != nil {
			t.Errorf("DKIM signature of %s does not verify: %v", v.Domain, v.Err)
			continue
		}
		out = append(out, v.Domain)
	}
	return out
}

func TestReportsAreSigned(t *testing.T) {
	mx := startFakeMX(t, "127.0.0.1:0", 0)
	mx.setRcpt(func(to string) error {
		if strings.HasPrefix(to, "gone@") {
			return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such user"}
		}
		return nil
	})
	e := newTestEnv(t, "", 25, func(o *Options) { o.Routes = config.Routes{"*": {Host: mx.addr}} })
	// A local sender: the bounce lands in the Inbox; a remote sender
	// (mail forwarded from outside): the bounce goes out.
	e.enqueue(t, "sender@local.example", "gone@remote.example")
	if _, err := e.runner.Notify(e.q).Enqueue(context.Background(), delivery.QueueEnvelope{From: "someone@remote.example", To: []string{"gone@remote.example"}},
		strings.NewReader("From: someone@remote.example\r\nSubject: fwd\r\n\r\nx\r\n")); err != nil {
		t.Fatal(err)
	}
	eventually(t, "an empty queue", func() bool { return e.queueLen(t) == 0 })
	eventually(t, "the outgoing bounce", func() bool { return len(mx.received()) == 1 })
	local := e.inbox(t)
	if len(local) != 1 {
		t.Fatalf("%d local bounces", len(local))
	}
	_, remote, _ := strings.Cut(mx.received()[0], "|")
	for name, m := range map[string]string{"local": local[0], "remote": remote} {
		if !strings.Contains(m, "<MAILER-DAEMON@mail.local.example>") {
			t.Errorf("%s bounce From:\n%s", name, m)
		}
		if d := e.verifyDKIM(t, m); len(d) != 2 || d[0] != "local.example" {
			t.Errorf("%s bounce signed by %v", name, d)
		}
	}
}
