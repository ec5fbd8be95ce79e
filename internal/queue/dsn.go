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

// dsnKind is what a report tells.
type dsnKind string

const (
	dsnFailed  dsnKind = "failed"
	dsnDelayed dsnKind = "delayed"
	// dsnRelayed: delivered to a server that reports no further.
	dsnRelayed dsnKind = "relayed"
	// dsnDelivered: stored in a local mailbox.
	dsnDelivered dsnKind = "delivered"
)

// notify is the NOTIFY keyword that asks for the kind.
func (k dsnKind) notify() string {
	switch k {
	case dsnDelayed:
		return "DELAY"
	case dsnRelayed, dsnDelivered:
		return "SUCCESS"
	}
	return "FAILURE"
}

// dsnInput is what a report is made of.
type dsnInput struct {
	hostname string
	env      delivery.QueueEnvelope
	rcpts    []rcptFailure
	kind     dsnKind
	header   []byte
	// full is the whole message for RET=FULL; nil returns the header.
	full       []byte
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
	switch in.kind {
	case dsnDelayed:
		subjectEN, subjectRU = "Delivery delayed, still trying", "Доставка письма задерживается"
	case dsnRelayed:
		subjectEN, subjectRU = "Delivery report: relayed", "Отчёт о доставке: письмо передано"
	case dsnDelivered:
		subjectEN, subjectRU = "Delivery report: delivered", "Отчёт о доставке: письмо доставлено"
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
	reasonEN, reasonRU := "Reason", "Причина"
	switch in.kind {
	case dsnDelayed:
		fmt.Fprintf(&h, "Your message has not been delivered yet to the recipients below. The mail\nserver keeps trying until %s; you need not send it again.\n\n",
			in.retryUntil.UTC().Format("2006-01-02 15:04 MST"))
	case dsnRelayed:
		h.WriteString("As you asked, a report on your message: it was handed over to the mail\nservers of the recipients below. They do not send delivery reports, so\nthis is the last news of it.\n\n")
		reasonEN, reasonRU = "Status", "Состояние"
	case dsnDelivered:
		h.WriteString("As you asked, a report on your message: it was delivered to the mailboxes\nof the recipients below.\n\n")
		reasonEN, reasonRU = "Status", "Состояние"
	default:
		h.WriteString("Your message could not be delivered to the recipients below.\n\n")
	}
	for _, r := range in.rcpts {
		fmt.Fprintf(&h, "  <%s>\n    %s: %s\n", r.rcpt, reasonEN, r.f.reason.en)
	}
	h.WriteString("\n----------------------------------------------------------------\n\n")
	switch in.kind {
	case dsnDelayed:
		fmt.Fprintf(&h, "Ваше письмо пока не доставлено указанным ниже получателям. Почтовый\nсервер будет пытаться доставить его до %s; отправлять его повторно\nне нужно.\n\n",
			in.retryUntil.UTC().Format("2006-01-02 15:04 MST"))
	case dsnRelayed:
		h.WriteString("Вы просили сообщить о доставке письма: оно передано почтовым серверам\nуказанных ниже получателей. Эти серверы не присылают отчётов о доставке,\nпоэтому других известий о письме не будет.\n\n")
	case dsnDelivered:
		h.WriteString("Вы просили сообщить о доставке письма: оно доставлено в почтовые ящики\nуказанных ниже получателей.\n\n")
	default:
		h.WriteString("Ваше письмо не удалось доставить указанным ниже получателям.\n\n")
	}
	for _, r := range in.rcpts {
		fmt.Fprintf(&h, "  <%s>\n    %s: %s\n", r.rcpt, reasonRU, r.f.reason.ru)
	}
	if in.full != nil {
		h.WriteString("\nYour message is attached. / Ваше письмо приложено.\n")
	} else {
		h.WriteString("\nThe headers of your message are attached. / Заголовки вашего письма приложены.\n")
	}
	fmt.Fprintf(&b, "\r\n--%s\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n", boundary)
	qp := quotedprintable.NewWriter(&b)
	qp.Write([]byte(strings.ReplaceAll(h.String(), "\n", "\r\n")))
	qp.Close()
	b.WriteString("\r\n")

	// The machine-readable part.
	fmt.Fprintf(&b, "\r\n--%s\r\nContent-Type: message/delivery-status\r\n\r\n", boundary)
	fmt.Fprintf(&b, "Reporting-MTA: dns; %s\r\n", in.hostname)
	if in.env.DSN.EnvID != "" {
		fmt.Fprintf(&b, "Original-Envelope-Id: %s\r\n", oneLine(in.env.DSN.EnvID))
	}
	fmt.Fprintf(&b, "X-Queue-ID: %s\r\n", in.env.ID)
	fmt.Fprintf(&b, "Arrival-Date: %s\r\n", in.env.Created.Format(time.RFC1123Z))
	for _, r := range in.rcpts {
		action, status := string(in.kind), r.f.status
		class := map[dsnKind]string{dsnFailed: "5", dsnDelayed: "4", dsnRelayed: "2", dsnDelivered: "2"}[in.kind]
		if status == "" {
			status = class + ".0.0"
		}
		status = class + status[1:]
		b.WriteString("\r\n")
		if o := in.env.DSN.Rcpt[r.rcpt].ORcpt; o != "" {
			typ, addr, _ := strings.Cut(o, ";")
			fmt.Fprintf(&b, "Original-Recipient: %s;%s\r\n", strings.ToLower(oneLine(typ)), oneLine(addr))
		}
		fmt.Fprintf(&b, "Final-Recipient: rfc822; %s\r\nAction: %s\r\nStatus: %s\r\n", r.rcpt, action, status)
		if r.f.remote != "" {
			fmt.Fprintf(&b, "Remote-MTA: dns; %s\r\n", r.f.remote)
		}
		diag := r.f.diag
		if diag == "" && in.kind != dsnRelayed && in.kind != dsnDelivered {
			diag = r.f.reason.en
		}
		if diag != "" {
			fmt.Fprintf(&b, "Diagnostic-Code: smtp; %s\r\n", oneLine(diag))
		}
		fmt.Fprintf(&b, "Last-Attempt-Date: %s\r\n", in.now.Format(time.RFC1123Z))
		if in.kind == dsnDelayed {
			fmt.Fprintf(&b, "Will-Retry-Until: %s\r\n", in.retryUntil.Format(time.RFC1123Z))
		}
	}

	// The original message (RET=FULL) or its header.
	if in.full != nil {
		fmt.Fprintf(&b, "\r\n--%s\r\nContent-Type: message/rfc822\r\n\r\n", boundary)
		b.Write(in.full)
		if !bytes.HasSuffix(in.full, []byte("\r\n")) {
			b.WriteString("\r\n")
		}
	} else {
		fmt.Fprintf(&b, "\r\n--%s\r\nContent-Type: text/rfc822-headers\r\n\r\n", boundary)
		b.Write(bytes.ReplaceAll(bytes.ReplaceAll(in.header, []byte("\r\n"), []byte("\n")), []byte("\n"), []byte("\r\n")))
	}
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
