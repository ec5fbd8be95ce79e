package e2e

// pyUTF8Mail is python3 code the downgrade tests share. send_utf8(host,
// port, rcpt, to, text) sends, over SMTPUTF8 (exiting when the server
// does not offer it), a message with UTF-8 header fields, a UTF-8
// Message-ID and an attachment with a UTF-8 file name, and prints SENT.
// report_downgraded(body) prints what a client without UTF-8 support
// sees of that message: whether the header has 8-bit bytes, each
// address and subject field decoded, the attachment's name and bytes, the
// text (lines joined by "|") and whether Message-ID was downgraded.
// downgradedReport gives the lines it prints.
const pyUTF8Mail = `
import email, email.policy, smtplib, sys
from email.header import decode_header, make_header
from email.message import EmailMessage

def send_utf8(host, port, rcpt, to, text):
    msg = EmailMessage(policy=email.policy.SMTPUTF8)
    msg["From"] = "Dörte Müller <dörte@bücher.example>"
    msg["To"] = to
    msg["Subject"] = "Grüße aus Köln, schöne Stadt"
    msg["Message-ID"] = "<grüße.1@bücher.example>"
    msg.set_content(text)
    msg.add_attachment(b"\x00\x01data", maintype="application", subtype="octet-stream", filename="Übersicht 2024.bin")
    raw = msg.as_bytes(policy=email.policy.SMTPUTF8)
    assert b"Subject: Gr\xc3\xbc\xc3\x9fe" in raw
    with smtplib.SMTP(host, port) as s:
        s.ehlo("py.client")
        if not s.has_extn("smtputf8"):
            print("NO-SMTPUTF8"); sys.exit(1)
        s.sendmail("dörte@bücher.example", [rcpt], raw, mail_options=["SMTPUTF8", "BODY=8BITMIME"])
    print("SENT")

def report_downgraded(body):
    hdr = body.split(b"\r\n\r\n", 1)[0]
    print("HEADER8BIT", any(c >= 0x80 for c in hdr))
    parsed = email.message_from_bytes(body, policy=email.policy.compat32)
    for name in ("Subject", "From", "To"):
        print("DECODED", name, str(make_header(decode_header(parsed[name]))))
    for part in parsed.walk():
        if part.get_filename():
            print("FILENAME", part.get_filename())
            print("PAYLOAD", part.get_payload(decode=True))
        if part.get_content_type() == "text/plain":
            print("TEXT", "|".join(part.get_payload(decode=True).decode("utf-8").strip().splitlines()))
    print("DOWNGRADED-ID", parsed["Downgraded-Message-Id"] is not None, parsed["Message-ID"] is None)
`

// downgradedReport is what pyUTF8Mail's report_downgraded prints for the
// message send_utf8 sent with the To field to and the text whose lines,
// joined by "|", are text: 7-bit headers that decode to what was sent.
func downgradedReport(to, text string) []string {
	return []string{
		"SENT",
		"HEADER8BIT False",
		"DECODED Subject Grüße aus Köln, schöne Stadt",
		"DECODED From Dörte Müller", "<dörte@bücher.example>",
		"DECODED To " + to,
		"FILENAME Übersicht 2024.bin",
		`PAYLOAD b'\x00\x01data'`,
		"TEXT " + text,
		"DOWNGRADED-ID True True",
	}
}
