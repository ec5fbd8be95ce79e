package queue

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"mime"
	"mime/quotedprintable"
	"strings"
	"time"

	"github.com/pochta-mail/pochta/internal/delivery"
)

// rcptFailure is one recipient in a report.
type rcptFailure struct {
	rcpt string
	f    *failure
}

// dsnInput is what a report is made of.
type dsnInput struct {
	hostname   string
	env        delivery.QueueEnvelope
	rcpts      []rcptFailure
	delayed    bool
	header     []byte
	now        time.Time
	retryUntil time.Time
}

// buildDSN makes a multipart/report delivery status notification (RFC
// 3464): a human part in English and Russian that names the reason for
// every recipient, the machine-readable message/delivery-status part and
// the original header (text/rfc822-headers).
func buildDSN(in dsnInput) []byte {
	var rnd [8]byte
	rand.Read(rnd[:])
	boundary := "=_report_" + hex.EncodeToString(rnd[:])
	var b bytes.Buffer
	subjectEN, subjectRU := "Undelivered mail returned to sender", "Письмо не доставлено"
	if in.delayed {
		subjectEN, subjectRU = "Delivery delayed, still trying", "Доставка письма задерживается"
	}
	fmt.Fprintf(&b, "From: %s <MAILER-DAEMON@%s>\r\n", mime.QEncoding.Encode("utf-8", "Mail Delivery System"), in.hostname)
	fmt.Fprintf(&b, "To: <%s>\r\n", in.env.From)
	fmt.Fprintf(&b, "Subject: %s\r\n", mime.QEncoding.Encode("utf-8", subjectEN+" / "+subjectRU))
	fmt.Fprintf(&b, "Date: %s\r\n", in.now.Format(time.RFC1123Z))
	fmt.Fprintf(&b, "Message-ID: <%s.%s@%s>\r\n", in.env.ID, hex.EncodeToString(rnd[:4]), in.hostname)
	b.WriteString("Auto-Submitted: auto-replied\r\nMIME-Version: 1.0\r\n")
	fmt.Fprintf(&b, "Content-Type: multipart/report; report-type=delivery-status;\r\n\tboundary=\"%s\"\r\n\r\n", boundary)
	b.WriteString("This is a delivery status notification (RFC 3464).\r\n")

	// The human part.
	var h strings.Builder
	if in.delayed {
		fmt.Fprintf(&h, "Your message has not been delivered yet to the recipients below. The mail\nserver keeps trying until %s; you need not send it again.\n\n",
			in.retryUntil.UTC().Format("2006-01-02 15:04 MST"))
	} else {
		h.WriteString("Your message could not be delivered to the recipients below.\n\n")
	}
	for _, r := range in.rcpts {
		fmt.Fprintf(&h, "  <%s>\n    Reason: %s\n", r.rcpt, r.f.reason.en)
	}
	h.WriteString("\n----------------------------------------------------------------\n\n")
	if in.delayed {
		fmt.Fprintf(&h, "Ваше письмо пока не доставлено указанным ниже получателям. Почтовый\nсервер будет пытаться доставить его до %s; отправлять его повторно\nне нужно.\n\n",
			in.retryUntil.UTC().Format("2006-01-02 15:04 MST"))
	} else {
		h.WriteString("Ваше письмо не удалось доставить указанным ниже получателям.\n\n")
	}
	for _, r := range in.rcpts {
		fmt.Fprintf(&h, "  <%s>\n    Причина: %s\n", r.rcpt, r.f.reason.ru)
	}
	h.WriteString("\nThe headers of your message are attached. / Заголовки вашего письма приложены.\n")
	fmt.Fprintf(&b, "\r\n--%s\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n", boundary)
	qp := quotedprintable.NewWriter(&b)
	qp.Write([]byte(strings.ReplaceAll(h.String(), "\n", "\r\n")))
	qp.Close()
	b.WriteString("\r\n")

	// The machine-readable part.
	fmt.Fprintf(&b, "\r\n--%s\r\nContent-Type: message/delivery-status\r\n\r\n", boundary)
	fmt.Fprintf(&b, "Reporting-MTA: dns; %s\r\n", in.hostname)
	fmt.Fprintf(&b, "X-Queue-ID: %s\r\n", in.env.ID)
	fmt.Fprintf(&b, "Arrival-Date: %s\r\n", in.env.Created.Format(time.RFC1123Z))
	for _, r := range in.rcpts {
		action, status := "failed", r.f.status
		if in.delayed {
			action = "delayed"
		}
		if status == "" {
			status = "5.0.0"
			if in.delayed {
				status = "4.0.0"
			}
		}
		if in.delayed && strings.HasPrefix(status, "5") {
			status = "4" + status[1:]
		}
		if !in.delayed && strings.HasPrefix(status, "4") {
			status = "5" + status[1:]
		}
		fmt.Fprintf(&b, "\r\nFinal-Recipient: rfc822; %s\r\nAction: %s\r\nStatus: %s\r\n", r.rcpt, action, status)
		if r.f.remote != "" {
			fmt.Fprintf(&b, "Remote-MTA: dns; %s\r\n", r.f.remote)
		}
		diag := r.f.diag
		if diag == "" {
			diag = r.f.reason.en
		}
		fmt.Fprintf(&b, "Diagnostic-Code: smtp; %s\r\n", oneLine(diag))
		fmt.Fprintf(&b, "Last-Attempt-Date: %s\r\n", in.now.Format(time.RFC1123Z))
		if in.delayed {
			fmt.Fprintf(&b, "Will-Retry-Until: %s\r\n", in.retryUntil.Format(time.RFC1123Z))
		}
	}

	// The original header.
	fmt.Fprintf(&b, "\r\n--%s\r\nContent-Type: text/rfc822-headers\r\n\r\n", boundary)
	b.Write(bytes.ReplaceAll(bytes.ReplaceAll(in.header, []byte("\r\n"), []byte("\n")), []byte("\n"), []byte("\r\n")))
	fmt.Fprintf(&b, "\r\n--%s--\r\n", boundary)
	return b.Bytes()
}

// oneLine keeps a reply on one line of printable ASCII.
func oneLine(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r == '\r' || r == '\n' || r == '\t':
			b.WriteByte(' ')
		case r < ' ' || r > '~':
			b.WriteByte('?')
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}
